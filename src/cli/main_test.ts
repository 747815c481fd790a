// run() in-process against a fake client: exit codes, what goes to stdout
// and stderr, and the logs modes. No server is involved (the end-to-end
// tests are elsewhere).
import { assert, assertEquals, assertLess, assertMatch, assertStringIncludes } from "@std/assert";
import * as grpc from "@grpc/grpc-js";
import { ApiError } from "../api/client.ts";
import type { JobStatus } from "../job/mod.ts";
import type { ConnectionSettings } from "./args.ts";
import { type ByteWriter, type CliIo, run } from "./main.ts";
import {
  bytes,
  FakeClient,
  ID,
  jobStatus,
  runningStatus,
  Sink,
  sleep,
} from "../../tests/cli/_fixture.ts";

const ALICE = ["--user", "alice"];

interface CliOptions {
  client?: FakeClient;
  stdout?: Sink;
  env?: Record<string, string>;
  isTerminal?: boolean;
  /** Receives the interrupt handler `start -f` installs. */
  onInterrupt?: CliIo["onInterrupt"];
}

async function cli(args: string[], options: CliOptions = {}) {
  const client = options.client ?? new FakeClient();
  const stdout = options.stdout ?? new Sink();
  const stderr = new Sink();
  const connected: ConnectionSettings[] = [];
  const io: CliIo = {
    stdout,
    stderr,
    env: (name) => options.env?.[name],
    connect: (settings) => {
      connected.push(settings);
      return Promise.resolve(client);
    },
  };
  if (options.isTerminal !== undefined) {
    const isTerminal = options.isTerminal;
    io.isTerminal = () => isTerminal;
  }
  if (options.onInterrupt) io.onInterrupt = options.onInterrupt;
  const code = await run(args, io);
  return { code, out: stdout.text(), err: stderr.text(), client, connected, stdout };
}

Deno.test("start prints only the id, sends the spec, and closes the client", async () => {
  const r = await cli(["start", ...ALICE, "--memory", "64M", "--env", "A=1", "--", "sleep", "60"]);
  assertEquals([r.code, r.out, r.err], [0, `${ID}\n`, ""]);
  assertEquals(r.client.calls, [["start", {
    command: "sleep",
    args: ["60"],
    limits: { memoryBytes: 64 * 2 ** 20 },
    env: { A: "1" },
  }]]);
  assertEquals(r.connected, [{
    addr: "127.0.0.1:50051",
    tls: { ca: "certs/ca.pem", cert: "certs/alice.pem", key: "certs/alice-key.pem" },
  }]);
  assert(r.client.closed);
});

Deno.test("status, stop, list: table by default, JSON with --json", async () => {
  const table = await cli(["status", ID, ...ALICE]);
  assertEquals(table.code, 0);
  assert(table.out.startsWith(`ID:         ${ID}\n`));
  const json = await cli(["status", ID, "--json", ...ALICE]);
  assertEquals(JSON.parse(json.out).endedAt, "2024-05-01T12:00:01.000Z");
  const stop = await cli(["stop", ID, "--grace", "0.5", "--json", ...ALICE]);
  assertEquals(stop.client.calls, [["stop", ID, { graceSeconds: 0.5 }]]);
  assertEquals(JSON.parse(stop.out).signal, "SIGTERM");
  const list = await cli(["list", ...ALICE]);
  assert(list.out.startsWith("ID  "));
  assertEquals(list.out.split("\n").length, 3);
  const listJson = await cli(["list", "--json"], { env: { JOBWORKER_USER: "alice" } });
  assertEquals(JSON.parse(listJson.out).length, 1);
});

Deno.test("errors: one line on stderr, 1 for failures, 2 for usage", async () => {
  const notFound = new ApiError(grpc.status.NOT_FOUND, `Job "${ID}" not found`);
  const r = await cli(["status", ID, ...ALICE], { client: new FakeClient({ error: notFound }) });
  assertEquals([r.code, r.out, r.err], [1, "", `jobworker: job "${ID}" not found\n`]);
  assert(r.client.closed);

  const down = new ApiError(grpc.status.UNAVAILABLE, "No connection established");
  const d = await cli(["list", ...ALICE, "--addr", "h:9"], {
    client: new FakeClient({ error: down }),
  });
  assertEquals(d.err, "jobworker: cannot reach the server at h:9: no connection established\n");
  const refused = new ApiError(
    grpc.status.UNAVAILABLE,
    "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ",
  );
  const f = await cli(["list", ...ALICE], { client: new FakeClient({ error: refused }) });
  assertEquals(
    f.err,
    "jobworker: cannot reach the server at 127.0.0.1:50051: connect ECONNREFUSED 127.0.0.1:1\n",
  );

  const bad = new ApiError(grpc.status.INVALID_ARGUMENT, "Cannot start job: command is empty");
  const s = await cli(["start", ...ALICE, "--", " "], { client: new FakeClient({ error: bad }) });
  assertEquals([s.code, s.err], [1, "jobworker: cannot start job: command is empty\n"]);

  const usage = await cli(["start", "--user", "alice", "--memory", "lots", "--", "x"]);
  assertEquals([usage.code, usage.out], [2, ""]);
  assertEquals(usage.err, 'jobworker: --memory: "lots" is not a size (like 512K, 64M, 1G)\n');
  assertEquals(usage.connected, []);

  const noCert = await cli(["list"]);
  assertEquals(noCert.code, 2);
  assertEquals(noCert.err.split("\n").length, 2);
});

Deno.test("--help goes to stdout with status 0, without connecting", async () => {
  for (const args of [["--help"], ["-h"], ["logs", "--help"], ["start", "-h"]]) {
    const r = await cli(args);
    assertEquals([r.code, r.err, r.connected.length], [0, "", 0]);
    assert(r.out.startsWith("Usage: jobworker"));
  }
});

Deno.test("logs of an ended job: every byte, exactly, through partial writes", async () => {
  const binary = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
  const client = new FakeClient({ output: [binary.subarray(0, 5), binary.subarray(5)] });
  const stdout = new Sink(4096);
  const r = await cli(["logs", ID, ...ALICE, "--offset", "0"], { client, stdout });
  assertEquals([r.code, r.err], [0, ""]);
  assertEquals(stdout.bytes(), binary);
  // One call, the output as it is: no status call, nothing followed.
  assertEquals(client.calls, [["streamOutput", ID, 0, false]]);
});

Deno.test("logs --offset and -f follow until the stream ends", async () => {
  const client = new FakeClient({
    statuses: [runningStatus()],
    output: [bytes("0123456789a"), 300, bytes("b")],
  });
  const r = await cli(["logs", "-f", ID, "--offset", "10", ...ALICE], { client });
  assertEquals([r.code, r.out, r.err], [0, "ab", ""]);
  // Following needs no status call: the stream itself ends with the job.
  assertEquals(client.calls, [["streamOutput", ID, 10, true]]);
});

Deno.test("logs of a running job without -f: what exists now, at once, in one call", async () => {
  const client = new FakeClient({
    statuses: [runningStatus()],
    output: [bytes("first\n"), bytes("second\n"), 2000, bytes("later\n")],
    endless: true,
  });
  const started = performance.now();
  const r = await cli(["logs", ID, ...ALICE, "--since", "6"], { client });
  assertEquals([r.code, r.out, r.err], [0, "second\n", ""]);
  assertLess(performance.now() - started, 1000, "it did not wait for the pause");
  assertEquals(client.calls, [["streamOutput", ID, 6, false]]);
});

Deno.test("logs: a closed stdout (EPIPE) ends quietly with status 0", async () => {
  let writes = 0;
  const closing: ByteWriter = {
    write(data) {
      if (++writes > 1) return Promise.reject(new Deno.errors.BrokenPipe("broken pipe"));
      return Promise.resolve(data.length);
    },
  };
  const client = new FakeClient({ statuses: [runningStatus()], endless: true });
  const stderr = new Sink();
  const code = await run(["logs", "-f", ID, ...ALICE], {
    stdout: closing,
    stderr,
    env: () => undefined,
    connect: () => Promise.resolve(client),
  });
  assertEquals([code, stderr.text()], [0, ""]);
  assert(client.cancelled, "the stream is cancelled");
  assert(client.closed);
});

Deno.test("logs: a stream broken midway says where to resume", async () => {
  const client = new FakeClient({
    output: [bytes("0112345")],
    streamError: new ApiError(grpc.status.UNAVAILABLE, "Connection dropped"),
  });
  const r = await cli(["logs", "-f", ID, "--offset", "2", ...ALICE], { client });
  assertEquals([r.code, r.out], [1, "12345"]);
  assertEquals(
    r.err,
    "jobworker: connection dropped (output written up to offset 7; resume with --offset 7)\n",
  );
});

/** `count` numbered lines, `line 1\n` on; the last one without its newline when `open`. */
function numbered(count: number, options: { open?: boolean } = {}): string {
  const text = Array.from({ length: count }, (_, i) => `line ${i + 1}\n`).join("");
  return options.open ? text.slice(0, -1) : text;
}

Deno.test("logs --tail N: the last N lines, from a status and one small read", async () => {
  const text = numbered(10);
  const size = text.length;
  const client = new FakeClient({
    statuses: [
      runningStatus({ output: { bytes: size, maxBytes: 2 ** 30, truncated: false, error: null } }),
    ],
    output: [bytes(text), 1000, bytes("after the size\n")],
  });
  const r = await cli(["logs", ID, "--tail", "3", ...ALICE], { client });
  assertEquals([r.code, r.out, r.err], [0, numbered(10).split("\n").slice(7).join("\n"), ""]);
  // The status gives the size; one window holds the lines; they are written from memory.
  assertEquals(client.calls, [["status", ID], ["streamOutput", ID, 0, false]]);

  const open = numbered(10, { open: true });
  const openClient = new FakeClient({
    statuses: [
      jobStatus({
        output: { bytes: open.length, maxBytes: 2 ** 30, truncated: false, error: null },
      }),
    ],
    output: [bytes(open)],
  });
  const last = await cli(["logs", ID, "--tail", "2", ...ALICE], { client: openClient });
  assertEquals(last.out, "line 9\nline 10", "a last line without a newline counts");
  const none = await cli(["logs", ID, "--tail", "0", ...ALICE], { client: openClient });
  assertEquals([none.code, none.out], [0, ""]);
  const all = await cli(["logs", ID, "--tail", "99", ...ALICE], { client: openClient });
  assertEquals(all.out, open);
  const since = await cli(["logs", ID, "--tail", "99", "--since", "7", ...ALICE], {
    client: openClient,
  });
  assertEquals(since.out, open.slice(7), "--since bounds --tail");
});

Deno.test("logs --tail of a big output reads a little of its end", async () => {
  const text = numbered(400_000); // about 4.6 MB
  const client = new FakeClient({
    statuses: [
      jobStatus({
        output: { bytes: text.length, maxBytes: 2 ** 30, truncated: false, error: null },
      }),
    ],
    output: [bytes(text)],
  });
  const r = await cli(["logs", ID, "--tail", "5", ...ALICE], { client });
  assertEquals(r.out, numbered(400_000).split("\n").slice(-6).join("\n"));
  assertLess(client.sent, 100 * 1024, `sent ${client.sent} bytes`);
});

Deno.test("logs --tail -f: the last lines so far, then everything after them", async () => {
  const text = numbered(5);
  const client = new FakeClient({
    statuses: [
      runningStatus({
        output: { bytes: text.length, maxBytes: 2 ** 30, truncated: false, error: null },
      }),
    ],
    output: [bytes(text), 50, bytes("line 6\n"), 50, bytes("line 7\n")],
  });
  const r = await cli(["logs", ID, "--tail", "2", "-f", ...ALICE], { client });
  assertEquals([r.code, r.out], [0, "line 4\nline 5\nline 6\nline 7\n"]);
  assertEquals(client.calls, [
    ["status", ID],
    ["streamOutput", ID, 0, false],
    ["streamOutput", ID, text.length, true],
  ]);
});

Deno.test("logs --tail when the server knows no size: read forwards, keep the last lines", async () => {
  const text = numbered(50_000);
  const client = new FakeClient({
    statuses: [
      jobStatus({ output: { bytes: null, maxBytes: 2 ** 30, truncated: false, error: null } }),
    ],
    output: [bytes(text)],
  });
  const r = await cli(["logs", ID, "--tail", "2", ...ALICE], { client });
  assertEquals(r.out, "line 49999\nline 50000\n");
});

Deno.test("logs --since TIME: refused with exit 2, saying why, before connecting", async () => {
  for (const time of ["10m", "1.5h", "2024-05-01T12:00:00Z", "2024-05-01"]) {
    const r = await cli(["logs", ID, "--since", time, ...ALICE]);
    assertEquals([r.code, r.out, r.connected.length], [2, "", 0]);
    assertStringIncludes(r.err, "the server does not record when output was written");
  }
});

Deno.test("list --state and --owner filter; --output wide and json; --json still works", async () => {
  const client = new FakeClient({
    statuses: [
      jobStatus({ id: "a", owner: "alice", state: "exited" }),
      runningStatus({ id: "b", owner: "bob" }),
      jobStatus({ id: "c", owner: "bob", state: "failed", exitCode: null, error: "x" }),
    ],
  });
  const ids = (text: string) => text.split("\n").slice(1, -1).map((line) => line.split(" ")[0]);
  assertEquals(ids((await cli(["list", "--state", "running,failed", ...ALICE], { client })).out), [
    "b",
    "c",
  ]);
  assertEquals(
    ids((await cli(["list", "--owner", "bob", "--state", "failed", ...ALICE], { client })).out),
    ["c"],
  );
  assertEquals(ids((await cli(["list", "--owner", "carol", ...ALICE], { client })).out), []);
  const wide = await cli(["list", "-o", "wide", ...ALICE], { client });
  assertMatch(
    wide.out,
    /^ID +OWNER +STATE +EXIT +STARTED +ENDED +DURATION +CPU +MEMORY +OUTPUT +COMMAND\n/,
  );
  const json = await cli(["list", "--output", "json", "--state", "exited", ...ALICE], { client });
  assertEquals(JSON.parse(json.out).map((j: { id: string }) => j.id), ["a"]);
  const alias = await cli(["list", "--json", "--state", "exited", ...ALICE], { client });
  assertEquals(alias.out, json.out);
  const status = await cli(["status", ID, "-o", "wide", ...ALICE]);
  assertEquals(status.out.split("\n").length, 3, "a header and one row");
});

Deno.test("colour: only for a terminal without NO_COLOR; never in JSON", async () => {
  const esc = "\x1b[";
  const colored = await cli(["list", ...ALICE], { isTerminal: true });
  assertStringIncludes(colored.out, `${esc}32mexited${esc}0m`);
  const status = await cli(["status", ID, ...ALICE], { isTerminal: true });
  assertStringIncludes(status.out, `State:      ${esc}32mexited${esc}0m\n`);
  for (
    const [what, options] of [
      ["not a terminal", { isTerminal: false }],
      ["NO_COLOR", { isTerminal: true, env: { NO_COLOR: "1" } }],
      ["TERM=dumb", { isTerminal: true, env: { TERM: "dumb" } }],
      ["an injected stdout, by default", {}],
    ] as const
  ) {
    const plain = await cli(["list", ...ALICE], options);
    assert(!plain.out.includes(esc), `${what}: ${JSON.stringify(plain.out)}`);
  }
  // NO_COLOR set but empty does not count (no-color.org).
  const empty = await cli(["list", ...ALICE], { isTerminal: true, env: { NO_COLOR: "" } });
  assertStringIncludes(empty.out, esc);
  const json = await cli(["list", "--json", ...ALICE], { isTerminal: true });
  assert(!json.out.includes(esc));
});

Deno.test("status -w: waits through the stream, then exits with the job's code", async () => {
  const cases: [Partial<JobStatus>, number][] = [
    [{ exitCode: 3 }, 3],
    [{ exitCode: 0 }, 0],
    [{ exitCode: null, signal: "SIGKILL", oomKilled: true }, 137],
    [{ state: "stopped", exitCode: null, signal: "SIGTERM" }, 143],
    [{ state: "stopped", exitCode: 0 }, 143],
    [{ state: "failed", exitCode: null, error: "executor died" }, 126],
  ];
  for (const [final, code] of cases) {
    const client = new FakeClient({ statuses: [runningStatus(), jobStatus(final)] });
    const r = await cli(["status", "-w", ID, "--json", ...ALICE], { client });
    assertEquals(r.code, code, JSON.stringify(final));
    assertEquals(JSON.parse(r.out).state, final.state ?? "exited");
    assertEquals(client.calls, [
      ["status", ID],
      ["streamOutput", ID, Number.MAX_SAFE_INTEGER, true],
      ["status", ID],
    ]);
  }
  // Ended already: no waiting at all.
  const ended = new FakeClient({ statuses: [jobStatus({ exitCode: 4 })] });
  const e = await cli(["status", "--wait", ID, ...ALICE], { client: ended });
  assertEquals([e.code, ended.calls.length], [4, 1]);
  assertMatch(e.out, /^Exit: +4$/m);
});

Deno.test("status -w: a stream that ends while the job runs is followed again", async () => {
  const client = new FakeClient({
    statuses: [runningStatus(), runningStatus(), runningStatus(), jobStatus({ exitCode: 5 })],
  });
  const r = await cli(["status", "-w", ID, ...ALICE], { client });
  assertEquals(r.code, 5);
  assertEquals(client.calls.filter((c) => c[0] === "streamOutput").length, 3);
});

Deno.test("status -w and start -f: jobworker's own failures exit 125, not the job's 1", async () => {
  const notFound = new ApiError(grpc.status.NOT_FOUND, `Job "${ID}" not found`);
  const s = await cli(["status", "-w", ID, ...ALICE], {
    client: new FakeClient({ error: notFound }),
  });
  assertEquals([s.code, s.err], [125, `jobworker: job "${ID}" not found\n`]);
  const bad = new ApiError(
    grpc.status.INVALID_ARGUMENT,
    'Cannot start job: command "nope" not found',
  );
  const f = await cli(["start", "-f", ...ALICE, "--", "nope"], {
    client: new FakeClient({ error: bad }),
  });
  assertEquals([f.code, f.out], [125, ""]);
  // Usage errors stay 2.
  assertEquals((await cli(["status", "-w", ID, "--output", "yaml", ...ALICE])).code, 2);
});

Deno.test("start -f: only the output on stdout, the id on stderr, the job's exit code", async () => {
  const client = new FakeClient({
    statuses: [jobStatus({ exitCode: 3 })],
    output: [bytes("hello\n"), 20, bytes("bye\n")],
  });
  const r = await cli(["start", "--follow", ...ALICE, "--", "sh", "-c", "x"], { client });
  assertEquals([r.code, r.out], [3, "hello\nbye\n"]);
  assertEquals(
    r.err,
    `jobworker: started job ${ID}\njobworker: job ${ID} exited with code 3\n`,
  );
  assertEquals(client.calls.map((c) => c[0]), ["start", "streamOutput", "status"]);
  assertEquals(client.calls[1], ["streamOutput", ID, 0, true]);
  const clean = await cli(["start", "-f", ...ALICE, "--", "true"]);
  assertEquals([clean.code, clean.err], [0, `jobworker: started job ${ID}\n`]);
});

Deno.test("start -f: Ctrl-C stops the job and shows its end; a second one detaches", async () => {
  let interrupt: (() => void) | null = null;
  let unlistened = false;
  const onInterrupt = (handler: () => void) => {
    interrupt = handler;
    return () => (unlistened = true);
  };
  const client = new FakeClient({
    statuses: [runningStatus()],
    output: [bytes("ready\n")],
    endless: true,
  });
  const stdout = new Sink();
  const running = cli(["start", "-f", ...ALICE, "--", "sleep", "1d"], {
    client,
    stdout,
    onInterrupt,
  });
  while (!stdout.text().includes(".")) await sleep(5);
  interrupt!();
  const r = await running;
  assertEquals(r.code, 143);
  assertEquals(client.calls.filter((c) => c[0] === "stop"), [["stop", ID, {}]]);
  assertStringIncludes(
    r.err,
    `jobworker: stopping the job ${ID} (Ctrl-C again to stop waiting for it)\n`,
  );
  assertStringIncludes(r.err, `jobworker: job ${ID} was stopped by SIGTERM\n`);
  assert(unlistened, "the interrupt handler is removed");
  assert(/^ready\n\.+$/.test(r.out), `nothing but the output: ${JSON.stringify(r.out)}`);

  // A job that ignores the stop: the second Ctrl-C stops waiting.
  const stubborn = new FakeClient({ statuses: [runningStatus()], output: [bytes("x"), 60_000] });
  stubborn.stop = (id: string) => {
    stubborn.calls.push(["stop", id]);
    return new Promise(() => {}); // ends when the job does: never, here
  };
  const out2 = new Sink();
  const detaching = cli(["start", "-f", ...ALICE, "--", "x"], {
    client: stubborn,
    stdout: out2,
    onInterrupt,
    isTerminal: true,
  });
  while (out2.text() === "") await sleep(5);
  interrupt!();
  interrupt!();
  const d = await detaching;
  assertEquals(d.code, 130);
  // On a terminal, colours the job may have left on are reset.
  assertEquals(d.out, "x\x1b[0m");
  assertStringIncludes(d.err, `jobworker: stopped waiting; job ${ID} is ending on its own`);
  assert(stubborn.cancelled, "the stream was cancelled");
});

Deno.test("start -f: a closed stdout stops the job (exit 141, like SIGPIPE)", async () => {
  let writes = 0;
  const closing: ByteWriter = {
    write(data) {
      if (++writes > 2) return Promise.reject(new Deno.errors.BrokenPipe("broken pipe"));
      return Promise.resolve(data.length);
    },
  };
  const client = new FakeClient({ statuses: [runningStatus()], endless: true });
  const code = await run(["start", "-f", ...ALICE, "--", "yes"], {
    stdout: closing,
    stderr: new Sink(),
    env: () => undefined,
    connect: () => Promise.resolve(client),
    onInterrupt: () => () => {},
  });
  assertEquals(code, 141);
  assertEquals(client.calls.filter((c) => c[0] === "stop").length, 1);
});

Deno.test("completion: a script on stdout without connecting; a bad shell is a usage error", async () => {
  const r = await cli(["completion", "bash"]);
  assertEquals([r.code, r.err, r.connected.length], [0, "", 0]);
  assertStringIncludes(r.out, "complete -o default -F _jobworker jobworker");
  const bad = await cli(["completion", "tcsh"]);
  assertEquals([bad.code, bad.out], [2, ""]);
  assertEquals(
    bad.err,
    'jobworker: completion: "tcsh" is not a supported shell (bash, zsh, fish)\n',
  );
});

Deno.test("signal: silent on success; the server's refusals exit 1 with its words", async () => {
  const r = await cli(["signal", ID, "hup", ...ALICE]);
  assertEquals([r.code, r.out, r.err], [0, "", ""]);
  assertEquals(r.client.calls, [["signal", ID, "hup", {}]]);
  const all = await cli(["signal", "--all", ID, "USR1", ...ALICE]);
  assertEquals(all.client.calls, [["signal", ID, "USR1", { all: true }]]);

  const invalid = new ApiError(
    grpc.status.INVALID_ARGUMENT,
    'Cannot signal job: "SEGV" is not a signal a job may be sent; one of HUP INT',
  );
  const bad = await cli(["signal", ID, "SEGV", ...ALICE], {
    client: new FakeClient({ signalError: invalid }),
  });
  assertEquals([bad.code, bad.out], [1, ""]);
  assertEquals(
    bad.err,
    'jobworker: cannot signal job: "SEGV" is not a signal a job may be sent; one of HUP INT\n',
  );
  const ended = new ApiError(
    grpc.status.FAILED_PRECONDITION,
    `Cannot signal job ${ID}: it has ended (exited)`,
  );
  const late = await cli(["signal", ID, "HUP", ...ALICE], {
    client: new FakeClient({ signalError: ended }),
  });
  assertEquals([late.code, late.err], [
    1,
    `jobworker: cannot signal job ${ID}: it has ended (exited)\n`,
  ]);
  const usage = await cli(["signal", ID, ...ALICE]);
  assertEquals([usage.code, usage.connected.length], [2, 0]);
});

Deno.test("start --timeout/--label and list --label reach the client; status shows them", async () => {
  const r = await cli([
    "start",
    ...ALICE,
    "--timeout",
    "90s",
    "--label",
    "team=infra",
    "--",
    "sleep",
    "1d",
  ]);
  assertEquals(r.client.calls, [["start", {
    command: "sleep",
    args: ["1d"],
    limits: {},
    timeoutMs: 90_000,
    labels: { team: "infra" },
  }]]);
  const bad = await cli(["start", ...ALICE, "--timeout", "soon", "--", "true"]);
  assertEquals([bad.code, bad.connected.length], [2, 0]);
  assertEquals(bad.err, 'jobworker: --timeout: "soon" is not a duration (like 90s, 10m, 2h, 7d)\n');

  const list = await cli(["list", "--label", "a=1", "--label", "b=2", ...ALICE]);
  assertEquals(list.client.calls, [["list", { labels: { a: "1", b: "2" } }]]);

  const timedOut = jobStatus({
    state: "stopped",
    exitCode: null,
    signal: "SIGTERM",
    timeoutMs: 2000,
    timedOut: true,
    labels: { team: "infra" },
  });
  const client = new FakeClient({ statuses: [timedOut] });
  const status = await cli(["status", ID, ...ALICE], { client });
  assertMatch(status.out, /^State: +stopped \(timed out\)$/m);
  assertMatch(status.out, /^Timeout: +2s$/m);
  assertMatch(status.out, /^Labels: +team=infra$/m);
  const json = JSON.parse((await cli(["status", ID, "--json", ...ALICE], { client })).out);
  assertEquals([json.timeoutMs, json.timedOut, json.labels], [2000, true, { team: "infra" }]);
});

Deno.test("top: without a terminal it says to use --once (exit 2, nothing asked)", async () => {
  const r = await cli(["top", ...ALICE]);
  assertEquals([r.code, r.out, r.connected.length], [2, "", 0]);
  assertEquals(
    r.err,
    "jobworker: top needs a terminal (stdin and stdout); for scripts, top --once prints one " +
      "snapshot\n",
  );
});

Deno.test("top --once: one table from two samples, no terminal control", async () => {
  let n = 0;
  const client = new FakeClient();
  client.list = (options?: { labels?: Record<string, string> }) => {
    client.calls.push(["list", options]);
    n++;
    return Promise.resolve([
      runningStatus({
        usage: {
          cpuNs: n * 5e7,
          memoryCurrentBytes: 2 ** 20,
          memoryPeakBytes: 2 ** 21,
          tasks: 2,
          ioReadBytes: 0,
          ioWriteBytes: n * 10_000,
        },
      }),
      jobStatus({ id: "ended" }),
    ]);
  };
  const stdout = new Sink();
  const stderr = new Sink();
  const started = performance.now();
  const code = await run(["top", "--once", "--label", "a=1", ...ALICE], {
    stdout,
    stderr,
    env: () => undefined,
    connect: () => Promise.resolve(client),
    refreshMs: 100,
  });
  const elapsed = performance.now() - started;
  assertEquals([code, stderr.text()], [0, ""]);
  assert(elapsed >= 100, `the two samples were ${elapsed} ms apart`);
  const [header, row, end] = stdout.text().split("\n");
  assertMatch(
    header!,
    /^ID +OWNER +CPU% +MEM +MEM% +PEAK +LIMIT +READ\/s +WRITE\/s +TASKS +AGE +COMMAND$/,
  );
  // 0.05 s of CPU in about 0.1 s: about 50 %.
  const cpu = Number(row!.split(/ +/)[2]);
  assert(cpu > 10 && cpu <= 50, row);
  assertStringIncludes(row!, `${ID}  alice`);
  assertEquals(end, "");
  assert(!stdout.text().includes("\x1b"), "no escape sequences");
  assertEquals(client.calls, [["list", { labels: { a: "1" } }], ["list", { labels: { a: "1" } }]]);

  // Nothing running: the header at once, one call.
  const idle = new FakeClient();
  const r = await cli(["top", "--once", ...ALICE], { client: idle });
  assertEquals([r.code, r.out.split("\n").length, idle.calls], [0, 2, [["list"]]]);
});
