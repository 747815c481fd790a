// run() in-process against a fake client: exit codes, what goes to stdout
// and stderr, and the logs modes. No server is involved (the end-to-end
// tests are elsewhere).
import { assert, assertEquals, assertGreaterOrEqual, assertLess } from "@std/assert";
import * as grpc from "@grpc/grpc-js";
import { ApiError } from "../api/client.ts";
import type { JobSpec, JobStatus } from "../job/mod.ts";
import type { ConnectionSettings } from "./args.ts";
import { type ByteWriter, type CliClient, type CliIo, run } from "./main.ts";

const ID = "0b5e8f1c-1111-4a2b-8c3d-000000000001";
const ALICE = ["--user", "alice"];

function jobStatus(overrides: Partial<JobStatus> = {}): JobStatus {
  return {
    id: ID,
    owner: "alice",
    uid: 61184,
    gid: 61184,
    command: "echo",
    args: ["hi"],
    state: "exited",
    exitCode: 0,
    signal: null,
    oomKilled: false,
    startedAt: new Date("2024-05-01T12:00:00Z"),
    endedAt: new Date("2024-05-01T12:00:01Z"),
    limits: { cpu: 1, memoryBytes: 2 ** 29, ioReadBps: null, ioWriteBps: null, pids: 1024 },
    usage: { cpuNs: 1, memoryCurrentBytes: 0, memoryPeakBytes: 1, tasks: 0 },
    output: { bytes: 1234, maxBytes: 1073741824, truncated: false, error: null },
    error: null,
    ...overrides,
  };
}

/** Collects what is written; `maxWrite` makes writes partial, like a pipe may. */
class Sink implements ByteWriter {
  readonly chunks: Uint8Array[] = [];
  constructor(readonly maxWrite = Infinity) {}
  write(data: Uint8Array): Promise<number> {
    const n = Math.min(data.length, this.maxWrite);
    this.chunks.push(data.slice(0, n));
    return Promise.resolve(n);
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
  text(): string {
    return new TextDecoder().decode(this.bytes());
  }
}

/** A step of a fake output stream: bytes, or a pause in milliseconds. */
type Step = Uint8Array | number;

interface FakeOptions {
  status?: JobStatus;
  error?: Error;
  /** What StreamOutput sends; then it completes, unless `endless`. */
  output?: Step[];
  /** After `output`, keep sending one byte every 10 ms until cancelled. */
  endless?: boolean;
  /** StreamOutput fails with this after `output`. */
  streamError?: Error;
}

class FakeClient implements CliClient {
  readonly calls: unknown[][] = [];
  closed = false;
  cancelled = false;
  constructor(readonly options: FakeOptions = {}) {}
  #answer<T>(value: T): Promise<T> {
    return this.options.error ? Promise.reject(this.options.error) : Promise.resolve(value);
  }
  start(spec: JobSpec) {
    this.calls.push(["start", spec]);
    return this.#answer({ id: ID, status: jobStatus({ state: "running" }) });
  }
  stop(id: string, options: { graceSeconds?: number } = {}) {
    this.calls.push(["stop", id, options]);
    return this.#answer(jobStatus({ state: "stopped", exitCode: null, signal: "SIGTERM" }));
  }
  status(id: string) {
    this.calls.push(["status", id]);
    return this.#answer(this.options.status ?? jobStatus());
  }
  list() {
    this.calls.push(["list"]);
    return this.#answer([jobStatus()]);
  }
  async *streamOutput(id: string, options: { offset?: number; signal?: AbortSignal } = {}) {
    this.calls.push(["streamOutput", id, options.offset]);
    if (this.options.error) throw this.options.error;
    const signal = options.signal;
    // Like the real client: an abort ends a pending wait and the stream, quietly.
    const pause = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        }
        signal?.addEventListener("abort", done);
      });
    let offset = options.offset ?? 0;
    try {
      for (const step of this.options.output ?? []) {
        if (signal?.aborted) return;
        if (typeof step === "number") {
          await pause(step);
          continue;
        }
        yield { offset, data: step };
        offset += step.length;
      }
      while (this.options.endless && !signal?.aborted) {
        yield { offset, data: new Uint8Array([0x2e]) };
        offset += 1;
        await pause(10);
      }
      if (signal?.aborted) return;
      if (this.options.streamError) throw this.options.streamError;
    } finally {
      this.cancelled = signal?.aborted ?? false;
    }
  }
  close() {
    this.closed = true;
  }
}

async function cli(
  args: string[],
  options:
    & { client?: FakeClient; stdout?: Sink; env?: Record<string, string> }
    & Pick<
      CliIo,
      "logs"
    > = {},
) {
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
  if (options.logs) io.logs = options.logs;
  const code = await run(args, io);
  return { code, out: stdout.text(), err: stderr.text(), client, connected, stdout };
}

const bytes = (text: string) => new TextEncoder().encode(text);

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
  assertEquals(client.calls, [["status", ID], ["streamOutput", ID, 0]]);
});

Deno.test("logs --offset and -f follow until the stream ends", async () => {
  const client = new FakeClient({
    status: jobStatus({ state: "running" }),
    output: [bytes("a"), 300, bytes("b")],
  });
  const r = await cli(["logs", "-f", ID, "--offset", "10", ...ALICE], { client });
  assertEquals([r.code, r.out, r.err], [0, "ab", ""]);
  // Following needs no status call: the stream itself ends with the job.
  assertEquals(client.calls, [["streamOutput", ID, 10]]);
});

Deno.test("logs of a running job without -f: stops once the stream is quiet", async () => {
  const client = new FakeClient({
    status: jobStatus({ state: "running", exitCode: null, endedAt: null }),
    output: [bytes("first\n"), 20, bytes("second\n"), 2000, bytes("later\n")],
  });
  const started = performance.now();
  const r = await cli(["logs", ID, ...ALICE], { client, logs: { minQuietMs: 100 } });
  const took = performance.now() - started;
  assertEquals([r.code, r.out, r.err], [0, "first\nsecond\n", ""]);
  assertGreaterOrEqual(took, 100);
  assertLess(took, 1500);
  assert(client.cancelled, "the call is cancelled");
});

Deno.test("logs of a job that never pauses: cut off, with a note saying where", async () => {
  const client = new FakeClient({ status: jobStatus({ state: "running" }), endless: true });
  const r = await cli(["logs", ID, ...ALICE], {
    client,
    logs: { minQuietMs: 100, snapshotLimitMs: 200 },
  });
  assertEquals(r.code, 0);
  assert(r.out.length > 0 && /^\.+$/.test(r.out));
  assertEquals(
    r.err,
    `jobworker: note: the job is still writing; stopped at offset ${r.out.length} ` +
      `(continue with --offset ${r.out.length}, or follow with -f)\n`,
  );
  assert(client.cancelled);
});

Deno.test("logs: a closed stdout (EPIPE) ends quietly with status 0", async () => {
  let writes = 0;
  const closing: ByteWriter = {
    write(data) {
      if (++writes > 1) return Promise.reject(new Deno.errors.BrokenPipe("broken pipe"));
      return Promise.resolve(data.length);
    },
  };
  const client = new FakeClient({ status: jobStatus({ state: "running" }), endless: true });
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
    output: [bytes("12345")],
    streamError: new ApiError(grpc.status.UNAVAILABLE, "Connection dropped"),
  });
  const r = await cli(["logs", "-f", ID, "--offset", "2", ...ALICE], { client });
  assertEquals([r.code, r.out], [1, "12345"]);
  assertEquals(
    r.err,
    "jobworker: connection dropped (output written up to offset 7; resume with --offset 7)\n",
  );
});
