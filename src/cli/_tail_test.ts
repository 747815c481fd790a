// Where the last lines begin: against a plain "split into lines" model, on
// outputs around the window sizes, with and without a final newline.
import { assert, assertEquals, assertLess, assertRejects } from "@std/assert";
import {
  findTail,
  FIRST_WINDOW,
  HOLD_LIMIT,
  lastLinesStart,
  MAX_WINDOW,
  readRange,
  tailOfSnapshot,
} from "./_tail.ts";
import { bytes, FakeClient, ID } from "../../tests/cli/_fixture.ts";

/** The offset where the last `lines` lines of `text` begin, the obvious way. */
function modelStart(text: string, lines: number): number {
  if (lines === 0 || text === "") return text.length;
  const parts = text.split("\n");
  // "a\nb\n" splits into ["a", "b", ""]: the empty last part is no line.
  if (parts.at(-1) === "") parts.pop();
  const kept = parts.slice(Math.max(0, parts.length - lines));
  const tail = kept.join("\n") + (text.endsWith("\n") ? "\n" : "");
  return text.length - tail.length;
}

Deno.test("lastLinesStart: like tail -n, a last line without a newline counts", () => {
  const cases: [string, number, string][] = [
    ["a\nb\nc\n", 1, "c\n"],
    ["a\nb\nc\n", 2, "b\nc\n"],
    ["a\nb\nc", 1, "c"],
    ["a\nb\nc", 2, "b\nc"],
    ["a\nb\nc", 9, "a\nb\nc"],
    ["\n\n\n", 2, "\n\n"],
    ["x", 1, "x"],
    ["\n", 1, "\n"],
    ["", 3, ""],
    ["a\nb\n", 0, ""],
  ];
  for (const [text, lines, tail] of cases) {
    const data = bytes(text);
    assertEquals(text.slice(lastLinesStart(data, lines)), tail, JSON.stringify([text, lines]));
    assertEquals(lastLinesStart(data, lines), modelStart(text, lines));
  }
});

/** An output of `count` lines of pseudo-random lengths up to `maxLine`, ending open or not. */
function output(count: number, options: { maxLine: number; open: boolean; seed: number }): string {
  let seed = options.seed;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(`${i}:${"x".repeat(Math.floor(random() * options.maxLine))}`);
  }
  return lines.join("\n") + (options.open ? "" : "\n");
}

Deno.test("findTail agrees with the model across window boundaries, from any lower bound", async () => {
  const texts = [
    output(40, { maxLine: 20, open: false, seed: 1 }),
    output(40, { maxLine: 20, open: true, seed: 2 }),
    output(3000, { maxLine: 200, open: false, seed: 3 }), // around the first window
    output(200, { maxLine: 40_000, open: true, seed: 4 }), // lines longer than half a window
    "no newline at all, " + "y".repeat(FIRST_WINDOW * 3),
    "\n".repeat(FIRST_WINDOW + 10),
  ];
  for (const text of texts) {
    const data = bytes(text);
    const client = new FakeClient({ output: [data], chunkSize: 7000 });
    for (const lines of [0, 1, 2, 7, 100, 1000, 10_000]) {
      for (const from of [0, 5, Math.floor(text.length / 2)]) {
        const found = await findTail(client, ID, { lines, from, end: data.length });
        const expected = from + modelStart(text.slice(from), lines);
        const what = `${text.length} bytes, ${lines} lines from ${from}`;
        assertEquals(found.start, expected, what);
        if (found.held !== null) assertEquals(found.held, data.subarray(expected), what);
        // The bytes the model wants are read from the end, and little more.
        assertLess(
          client.sent,
          2 * (data.length - expected) + FIRST_WINDOW + 1,
          `${what}: ${client.sent} bytes read`,
        );
        client.sent = 0;
      }
    }
  }
});

Deno.test("findTail: only up to the size it was given; nothing past it is read or held", async () => {
  const client = new FakeClient({ output: [bytes("a\nb\nc\nlater\n")] });
  const found = await findTail(client, ID, { lines: 2, from: 0, end: 6 });
  assertEquals(found, { start: 2, held: bytes("b\nc\n") });
  assertEquals(await findTail(client, ID, { lines: 2, from: 9, end: 6 }), {
    start: 9,
    held: new Uint8Array(0),
  });
});

Deno.test("findTail: a tail too big to hold is found all the same, to be read again", async () => {
  // One line bigger than what is held: windows grow to MAX_WINDOW and stop holding.
  const big = new Uint8Array(HOLD_LIMIT + MAX_WINDOW).fill(0x61);
  big[0] = 0x0a;
  const client = new FakeClient({ output: [big] });
  const found = await findTail(client, ID, { lines: 1, from: 0, end: big.length });
  assertEquals(found, { start: 1, held: null });
});

Deno.test("readRange: exact bytes, and a clear error when the output is shorter", async () => {
  const client = new FakeClient({ output: [bytes("0123456789")], chunkSize: 3 });
  assertEquals(await readRange(client, ID, { from: 2, to: 8 }), bytes("234567"));
  assertEquals(await readRange(client, ID, { from: 4, to: 4 }), new Uint8Array(0));
  assert(client.cancelled, "the call is cancelled once the range is read");
  await assertRejects(
    () => readRange(client, ID, { from: 8, to: 20 }),
    Error,
    "the output ends at offset 10, short of the range 8 to 20",
  );
});

Deno.test("tailOfSnapshot: forwards, keeping only the last lines", async () => {
  const text = output(20_000, { maxLine: 30, open: true, seed: 5 });
  const client = new FakeClient({ output: [bytes(text)], chunkSize: 1000 });
  for (const lines of [0, 1, 3, 19_999, 20_000, 30_000]) {
    const found = await tailOfSnapshot(client, ID, { lines, from: 0 });
    assertEquals(found.start, modelStart(text, lines), `${lines} lines`);
    assertEquals(found.held, bytes(text.slice(found.start)));
  }
});
