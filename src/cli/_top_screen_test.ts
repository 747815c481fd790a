// `top` on a (fake) terminal: the screen, sort keys, resizes, failed
// refreshes, and the terminal given back on every way out. The real
// terminal (a pty) is in tests/server/cli_top_test.ts.
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import * as grpc from "@grpc/grpc-js";
import { ApiError } from "../api/client.ts";
import type { JobStatus } from "../job/mod.ts";
import { ENTER_SCREEN, LEAVE_SCREEN, runTopScreen, type TopClient } from "./_top_screen.ts";
import { FakeTerminal, runningStatus, sleep } from "../../tests/cli/_fixture.ts";

/** Two running jobs: "busy" uses CPU, "fat" memory; each list call is a second later for them. */
class UsageClient implements TopClient {
  calls: unknown[] = [];
  failing: Error | null = null;
  #n = 0;
  list(options?: { labels?: Record<string, string> }): Promise<JobStatus[]> {
    this.calls.push(options);
    if (this.failing !== null) return Promise.reject(this.failing);
    const n = ++this.#n;
    const job = (id: string, cpuNs: number, memory: number) =>
      runningStatus({
        id,
        command: id,
        args: [],
        usage: {
          cpuNs,
          memoryCurrentBytes: memory,
          memoryPeakBytes: memory,
          tasks: 1,
          ioReadBytes: 0,
          ioWriteBytes: 0,
        },
      });
    return Promise.resolve([
      job("aaaa-busy", n * 1e8, 2 ** 20),
      job("bbbb-fat", n * 1e6, 300 * 2 ** 20),
    ]);
  }
}

const OPTIONS = {
  labels: {},
  sort: "cpu" as const,
  refreshMs: 30,
  describeError: (err: unknown) => (err as Error).message,
};

/** Waits until the fake screen shows `text`. */
async function until(terminal: FakeTerminal, check: (text: string) => boolean, what: string) {
  for (let i = 0; i < 400; i++) {
    if (check(terminal.screen.text())) return;
    await sleep(5);
  }
  throw new Error(`${what}; the screen: ${terminal.screen.text()}`);
}

/** The job ids in the table, top to bottom. */
function order(terminal: FakeTerminal): string[] {
  return terminal.screen.lines().slice(4).filter((l) => l !== "").map((l) => l.split(" ")[0]!);
}

function restored(terminal: FakeTerminal): void {
  assertEquals(terminal.rawCalls, [true, false], "raw mode on, then off");
  assertEquals(terminal.written[0], ENTER_SCREEN);
  assertEquals(terminal.written.at(-1), LEAVE_SCREEN);
  assert(!terminal.screen.alternate && terminal.screen.cursorVisible);
  assert(!terminal.listening, "the resize and signal handlers are removed");
}

Deno.test("top screen: refreshes, sorts by the key pressed, quits with q", async () => {
  const client = new UsageClient();
  const terminal = new FakeTerminal(20, 100);
  const running = runTopScreen(client, terminal, OPTIONS);
  // CPU % from the second refresh on: 0.1 s of CPU between two of them, 30 ms apart.
  await until(terminal, (t) => /aaaa-busy +alice +\d+\.\d/.test(t), "a CPU % for the busy job");
  const text = terminal.screen.text();
  assertStringIncludes(text, "jobworker top  2 running jobs, sorted by CPU");
  assertStringIncludes(text, "c CPU  m memory  i IO  a age  n id  q quit");
  assertEquals(order(terminal), ["aaaa-busy", "bbbb-fat"]);
  terminal.type("m");
  await until(terminal, (t) => t.includes("sorted by memory"), "sorted by memory");
  assertEquals(order(terminal), ["bbbb-fat", "aaaa-busy"]);
  terminal.type("n");
  await until(terminal, (t) => t.includes("sorted by id"), "sorted by id");
  assertEquals(order(terminal), ["aaaa-busy", "bbbb-fat"]);
  // Arrow keys (escape sequences) do nothing; a resize redraws to the new width.
  terminal.type("\x1b[A");
  terminal.resize(10, 40);
  await until(terminal, (t) => t.split("\n").some((l) => l.startsWith("ID ")), "a redraw");
  assert(terminal.screen.lines().every((l) => l.length <= 40));
  terminal.type("q");
  await running;
  restored(terminal);
  assert(client.calls.length >= 2);
  assertEquals(client.calls[0], undefined, "no labels: a plain list call");
});

Deno.test("top screen: Ctrl-C, the end of input and a signal all give the terminal back", async () => {
  for (const how of ["ctrl-c", "eof", "signal", "Q"] as const) {
    const terminal = new FakeTerminal();
    const running = runTopScreen(new UsageClient(), terminal, { ...OPTIONS, refreshMs: 60_000 });
    await until(terminal, (t) => t.includes("CPU%"), "the first frame");
    if (how === "ctrl-c") terminal.type("\x03");
    else if (how === "eof") terminal.type(null);
    else if (how === "signal") terminal.kill();
    else terminal.type("Q");
    await running;
    restored(terminal);
  }
});

Deno.test("top screen: a failed refresh is shown and retried; labels are passed", async () => {
  const client = new UsageClient();
  const terminal = new FakeTerminal();
  const running = runTopScreen(client, terminal, { ...OPTIONS, labels: { team: "infra" } });
  await until(terminal, (t) => t.includes("CPU%"), "the first frame");
  client.failing = new ApiError(grpc.status.UNAVAILABLE, "server gone");
  await until(terminal, (t) => t.includes("jobworker: server gone (retrying)"), "the error");
  // The last figures stay.
  assertEquals(order(terminal), ["aaaa-busy", "bbbb-fat"]);
  client.failing = null;
  await until(terminal, (t) => t.includes("q quit"), "the keys again");
  terminal.type("q");
  await running;
  restored(terminal);
  assertEquals(client.calls[0], { labels: { team: "infra" } });
});

Deno.test("top screen: the first refresh failing leaves the terminal alone; a broken terminal still is restored", async () => {
  const client = new UsageClient();
  client.failing = new ApiError(grpc.status.PERMISSION_DENIED, "not allowed");
  const untouched = new FakeTerminal();
  await assertRejects(() => runTopScreen(client, untouched, OPTIONS), ApiError, "not allowed");
  assertEquals([untouched.rawCalls, untouched.written], [[], []]);

  const broken = new FakeTerminal();
  broken.failWritesFrom = 3;
  await assertRejects(
    () => runTopScreen(new UsageClient(), broken, OPTIONS),
    Error,
    "terminal gone",
  );
  assertEquals(broken.rawCalls, [true, false]);
  assert(!broken.listening);
});
