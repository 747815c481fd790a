import { assertEquals, assertThrows } from "@std/assert";
import { encodeFrames, FrameDecoder, type InputFrame, MAX_FRAME_DATA } from "./input_frames.ts";

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

Deno.test("input frames: what is encoded decodes the same, in chunks of any size", () => {
  const big = new Uint8Array(MAX_FRAME_DATA * 2 + 5).map((_, i) => i % 251);
  const inputs: InputFrame[] = [
    { type: "data", data: new TextEncoder().encode("print(6*7)\n") },
    { type: "resize", rows: 50, cols: 132 },
    { type: "data", data: big },
    { type: "eof" },
  ];
  const frames = inputs.flatMap(encodeFrames);
  assertEquals(frames.length, 6);
  for (const f of frames) assertEquals(f.length <= 4096, true);
  const bytes = concat(frames);
  for (const size of [1, 3, 4, 7, 4096, bytes.length]) {
    const decoder = new FrameDecoder();
    const out: InputFrame[] = [];
    for (let at = 0; at < bytes.length; at += size) {
      out.push(...decoder.push(bytes.subarray(at, at + size)));
    }
    const data = concat(out.filter((f) => f.type === "data").map((f) => f.data));
    assertEquals(data.length, 11 + big.length);
    assertEquals(data.subarray(11), big);
    assertEquals(out.filter((f) => f.type !== "data"), [
      { type: "resize", rows: 50, cols: 132 },
      { type: "eof" },
    ]);
  }
  assertEquals(encodeFrames({ type: "data", data: new Uint8Array() }), []);
});

Deno.test("input frames: frames no writer makes are refused", () => {
  assertThrows(() => new FrameDecoder().push(new Uint8Array([9, 0, 0, 0])), TypeError);
  assertThrows(() => new FrameDecoder().push(new Uint8Array([1, 0, 0, 1, 0])), TypeError);
  assertThrows(() => new FrameDecoder().push(new Uint8Array([0, 1, 0, 0])), TypeError);
});
