// `events`: the lines and JSON lines, and resuming a lost watch after the
// last event seen (nothing missed, nothing repeated), giving up after a few
// attempts, never retrying what the server refused. Fake clients only; the
// end-to-end tests are in tests/server/cli_events_test.ts.
import { assert, assertEquals, assertLess, assertRejects, assertStringIncludes } from "@std/assert";
import * as grpc from "@grpc/grpc-js";
import { ApiError } from "../api/client.ts";
import type { JobEvent } from "../job/mod.ts";
import { EventsLostError, eventToJson, formatEventLine, watchEvents } from "./_events.ts";
import { run } from "./main.ts";
import {
  type EventScript,
  FakeClient,
  ID,
  jobEvent,
  Sink,
  sleep,
} from "../../tests/cli/_fixture.ts";

const ALICE = ["--user", "alice"];
const dropped = () => new ApiError(grpc.status.UNAVAILABLE, "Connection dropped");

/** `count` events numbered from `first`, alternately started and exited with code 0. */
function events(first: number, count: number): JobEvent[] {
  return Array.from({ length: count }, (_, i) =>
    jobEvent({
      seq: first + i,
      type: i % 2 === 0 ? "started" : "exited",
      exitCode: i % 2 === 0 ? null : 0,
    }));
}

Deno.test("formatEventLine: SEQ TIME TYPE ID, then what ended it, then the labels", () => {
  assertEquals(
    formatEventLine(jobEvent({ seq: 7, labels: { team: "infra", a: "b" } })),
    `7 2024-05-01T12:00:00Z started    ${ID} a=b,team=infra\n`,
  );
  assertEquals(
    formatEventLine(jobEvent({ seq: 8, type: "exited", exitCode: 3 })),
    `8 2024-05-01T12:00:00Z exited     ${ID} exit 3\n`,
  );
  assertEquals(
    formatEventLine(jobEvent({ seq: 9, type: "timed-out", signal: "SIGTERM" })),
    `9 2024-05-01T12:00:00Z timed-out  ${ID} signal SIGTERM\n`,
  );
  assertEquals(
    formatEventLine(jobEvent({ seq: 10, type: "oom-killed" })),
    `10 2024-05-01T12:00:00Z oom-killed ${ID}\n`,
  );
  // Text from the server cannot reach the terminal raw.
  assertEquals(
    formatEventLine(jobEvent({ seq: 11, type: "failed", error: 'it "died"\n\x1b[2J' })),
    `11 2024-05-01T12:00:00Z failed     ${ID} error "it \\"died\\"\\n\\u001b[2J"\n`,
  );
  assertEquals(eventToJson(jobEvent({ labels: { a: "1" } })), {
    seq: 1,
    time: "2024-05-01T12:00:00.000Z",
    id: ID,
    owner: "alice",
    type: "started",
    exitCode: null,
    signal: null,
    error: null,
    labels: { a: "1" },
  });
});

/** `events ARGS` in-process; `stopWhen` says when to interrupt it (as Ctrl-C would). */
async function events$(
  args: string[],
  client: FakeClient,
  stopWhen: (out: string, err: string) => boolean,
) {
  const stdout = new Sink();
  const stderr = new Sink();
  let interrupt: (() => void) | null = null;
  const running = run(["events", ...ALICE, ...args], {
    stdout,
    stderr,
    env: () => undefined,
    connect: () => Promise.resolve(client),
    onInterrupt: (handler) => {
      interrupt = handler;
      return () => (interrupt = null);
    },
  });
  let done = false;
  running.finally(() => (done = true));
  while (!done && !stopWhen(stdout.text(), stderr.text())) await sleep(5);
  (interrupt as (() => void) | null)?.();
  const code = await running;
  return { code, out: stdout.text(), err: stderr.text(), interrupted: interrupt === null };
}

Deno.test("events: lines until Ctrl-C (exit 0), with the labels and --since asked for", async () => {
  const client = new FakeClient({ eventStreams: [{ events: events(1, 4), end: "open" }] });
  const r = await events$(
    ["--since", "2", "--label", "team=infra"],
    client,
    (out) => out.split("\n").length > 2,
  );
  assertEquals(r.code, 0);
  assertEquals(r.out.split("\n").map((l) => l.split(" ")[0]), ["3", "4", ""]);
  assertEquals(r.err, "");
  assertEquals(client.calls, [["watchEvents", { labels: { team: "infra" }, since: 2 }]]);
  assert(client.closed);

  const json = await events$(
    ["--json"],
    new FakeClient({
      eventStreams: [{ events: events(1, 2), end: "open" }],
    }),
    (out) => out.split("\n").length > 2,
  );
  const lines = json.out.trimEnd().split("\n").map((l) => JSON.parse(l));
  assertEquals(lines.map((l) => [l.seq, l.type, l.exitCode]), [[1, "started", null], [
    2,
    "exited",
    0,
  ]]);
});

Deno.test("events: a lost watch resumes after the last event: none missed, none repeated", async () => {
  const client = new FakeClient({
    eventStreams: [
      { events: events(1, 2), end: dropped() },
      // The server replays what came after `since` (the fake filters by it, as the server does).
      { events: [...events(1, 5), 20], end: dropped() },
      { events: events(1, 6), end: "open" },
    ],
  });
  const r = await events$([], client, (out) => out.split("\n").length > 6);
  assertEquals(r.code, 0, r.err);
  assertEquals(r.out.split("\n").slice(0, -1).map((l) => Number(l.split(" ")[0])), [
    1,
    2,
    3,
    4,
    5,
    6,
  ]);
  assertEquals(client.calls, [
    ["watchEvents", { labels: {} }],
    ["watchEvents", { labels: {}, since: 2 }],
    ["watchEvents", { labels: {}, since: 5 }],
  ]);
  assertEquals(
    r.err,
    "jobworker: lost the event stream (connection dropped); resuming after event 2 in 0.5 s " +
      "(attempt 1 of 5)\n" +
      // An event came in between: the count starts again.
      "jobworker: lost the event stream (connection dropped); resuming after event 5 in 0.5 s " +
      "(attempt 1 of 5)\n",
  );
});

/** watchEvents() on `scripts` with quick retries; resolves with what it wrote and said. */
function watch(scripts: EventScript[], options: { retries: number; since?: number }) {
  const client = new FakeClient({ eventStreams: scripts });
  const written: number[] = [];
  const said: string[] = [];
  const abort = new AbortController();
  let reconnects = 0;
  const result = watchEvents({
    labels: {},
    since: options.since ?? null,
    write: (event) => Promise.resolve(void written.push(event.seq)),
    say: (line) => Promise.resolve(void said.push(line)),
    client,
    reconnect: () => Promise.resolve((reconnects++, client)),
    signal: abort.signal,
    retries: options.retries,
    firstRetryMs: 10,
  });
  return { result, client, written, said, abort, reconnects: () => reconnects };
}

Deno.test("events: gives up after the attempts in a row, saying where to resume", async () => {
  const w = watch(
    [{ events: events(1, 3), end: dropped() }, { events: [], end: dropped() }],
    {
      retries: 3,
    },
  );
  const err = await assertRejects(() => w.result, EventsLostError);
  assertEquals(
    err.message,
    "lost the event stream (connection dropped); gave up after 3 attempts " +
      "(to resume: jobworker events --since 3)",
  );
  assertEquals(w.written, [1, 2, 3]);
  assertEquals(w.reconnects(), 3);
  // Backing off: 10, 20, 40 ms.
  assertEquals(w.said.map((l) => /in ([\d.]+) s/.exec(l)?.[1]), ["0.01", "0.02", "0.04"]);

  // A server that ends the stream (it is shutting down) is resumed just the same.
  const ended = watch([{ events: [], end: "end" }], { retries: 1, since: 7 });
  const e = await assertRejects(() => ended.result, EventsLostError);
  assertStringIncludes(e.message, "(the server ended the stream)");
  assertStringIncludes(e.message, "--since 7");
  assertEquals(ended.client.calls.at(-1), ["watchEvents", { labels: {}, since: 7 }]);
});

Deno.test("events: what the server refused, and a server never reached, are not retried", async () => {
  const gone = new ApiError(
    grpc.status.OUT_OF_RANGE,
    "Cannot replay events after 3: the oldest retained is 40",
  );
  const refused = watch([{ events: [], end: gone }], { retries: 5, since: 3 });
  assertEquals(await assertRejects(() => refused.result), gone);
  assertEquals(refused.reconnects(), 0);

  const client = new FakeClient({
    eventStreams: [{
      events: [],
      end: new ApiError(
        grpc.status.UNAVAILABLE,
        "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. " +
          "Resolution note: ",
      ),
    }],
  });
  const started = performance.now();
  const r = await events$([], client, () => false);
  assertEquals([r.code, r.out], [1, ""]);
  assertEquals(
    r.err,
    "jobworker: cannot reach the server at 127.0.0.1:50051: connect ECONNREFUSED 127.0.0.1:1\n",
  );
  assertLess(performance.now() - started, 400, "no retry");

  const late = await events$(
    ["--since", "3"],
    new FakeClient({
      eventStreams: [{ events: [], end: gone }],
    }),
    () => false,
  );
  assertEquals(late.code, 1);
  assertEquals(late.err, "jobworker: cannot replay events after 3: the oldest retained is 40\n");
});

Deno.test("events: Ctrl-C while waiting to resume ends at once, with 0", async () => {
  const client = new FakeClient({ eventStreams: [{ events: events(1, 1), end: dropped() }] });
  const started = performance.now();
  const r = await events$([], client, (_, err) => err.includes("resuming"));
  assertEquals(r.code, 0);
  assertLess(performance.now() - started, 400, "it did not wait out the pause");
  assertEquals(client.calls.length, 1);
});

Deno.test("events: a closed stdout ends quietly with 0", async () => {
  let writes = 0;
  const client = new FakeClient({ eventStreams: [{ events: events(1, 5), end: "open" }] });
  const stderr = new Sink();
  const code = await run(["events", ...ALICE], {
    stdout: {
      write(data) {
        if (++writes > 1) return Promise.reject(new Deno.errors.BrokenPipe("broken pipe"));
        return Promise.resolve(data.length);
      },
    },
    stderr,
    env: () => undefined,
    connect: () => Promise.resolve(client),
    onInterrupt: () => () => {},
  });
  assertEquals([code, stderr.text()], [0, ""]);
});

Deno.test("events: a watch lost before its first event resumes after the server's newest then", async () => {
  // The server had event 41 when the watch began; 42 and 43 came while it was lost.
  const w = watch(
    [
      { events: [], end: dropped(), lastSeq: 41 },
      { events: events(40, 4), end: dropped(), lastSeq: 43 },
    ],
    { retries: 1 },
  );
  const err = await assertRejects(() => w.result, EventsLostError);
  assertEquals(w.client.calls, [
    ["watchEvents", { labels: {} }],
    ["watchEvents", { labels: {}, since: 41 }],
    // Events came: the attempts start again, after the last one written.
    ["watchEvents", { labels: {}, since: 43 }],
  ]);
  assertEquals(w.written, [42, 43]);
  assertStringIncludes(err.message, "--since 43");
  assertStringIncludes(w.said[0]!, "resuming after event 41");

  // With --since, the server's number changes nothing.
  const given = watch([{ events: [], end: dropped(), lastSeq: 99 }], { retries: 1, since: 5 });
  await assertRejects(() => given.result, EventsLostError);
  assertEquals(given.client.calls.at(-1), ["watchEvents", { labels: {}, since: 5 }]);
});
