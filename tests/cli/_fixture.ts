/**
 * Test doubles for the CLI's unit tests (src/cli/*_test.ts): a job status,
 * a byte sink, and a fake API client whose output behaves like the
 * server's (offsets, the `follow: false` snapshot, following to the end,
 * stopping). The helpers other suites use too live in tests/_support/;
 * this module re-exports those the CLI tests use.
 *
 * @module
 */
import type { JobSpec, JobStatus } from "../../src/job/mod.ts";
import type { ByteWriter, CliClient } from "../../src/cli/main.ts";
import { pause } from "../../src/cli/_wait.ts";
import { concat, text } from "../_support/bytes.ts";

export { sleep } from "../_support/async.ts";
export { bytes } from "../_support/bytes.ts";
export { runCommand, type RunResult, which } from "../_support/commands.ts";
export { withTempDir } from "../_support/fs.ts";

/** The id every fake job has. */
export const ID = "0b5e8f1c-1111-4a2b-8c3d-000000000001";

/** A status of an ended job (exit 0) with `overrides`. */
export function jobStatus(overrides: Partial<JobStatus> = {}): JobStatus {
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

/** A running job's status. */
export function runningStatus(overrides: Partial<JobStatus> = {}): JobStatus {
  return jobStatus({ state: "running", exitCode: null, endedAt: null, ...overrides });
}

/** Collects what is written; `maxWrite` makes writes partial, like a pipe may. */
export class Sink implements ByteWriter {
  /** What was written, one entry a write. */
  readonly chunks: Uint8Array[] = [];
  /** `maxWrite`: the most bytes one write takes (default: all). */
  constructor(readonly maxWrite = Infinity) {}
  /** Takes up to `maxWrite` bytes of `data`; resolves with how many it took. */
  write(data: Uint8Array): Promise<number> {
    const n = Math.min(data.length, this.maxWrite);
    this.chunks.push(data.slice(0, n));
    return Promise.resolve(n);
  }
  /** Everything written so far. */
  bytes(): Uint8Array {
    return concat(this.chunks);
  }
  /** Everything written so far, decoded as UTF-8. */
  text(): string {
    return text(this.bytes());
  }
}

/** A step of a fake output stream: bytes the job writes, or a pause in milliseconds. */
export type Step = Uint8Array | number;

/** How a {@link FakeClient} behaves. */
export interface FakeOptions {
  /** Successive answers of `status` (the last one repeats); default one ended job. */
  statuses?: JobStatus[];
  /** Every call fails with this. */
  error?: Error;
  /**
   * The job's output over time. The bytes before the first pause exist
   * already: a `follow: false` stream ends there. A follower gets every
   * step, then the stream completes (the job has ended), unless `endless`.
   */
  output?: Step[];
  /** After `output`, a follower gets one byte every 10 ms until the job is stopped or the call cancelled. */
  endless?: boolean;
  /** A following StreamOutput fails with this after `output`. */
  streamError?: Error;
  /** What `stop` answers; it also ends an endless output and becomes what `status` answers. */
  stopped?: JobStatus;
  /** Most bytes in one chunk, like the server's stream messages; default 32 KiB. */
  chunkSize?: number;
}

/** A {@link CliClient} with canned answers, recording its calls. */
export class FakeClient implements CliClient {
  readonly calls: unknown[][] = [];
  closed = false;
  /** The last stream was left before it ended by itself (aborted, or its loop broken). */
  cancelled = false;
  /** Output bytes sent, over all streams. */
  sent = 0;
  #statusCalls = 0;
  #stopped: JobStatus | null = null;
  constructor(readonly options: FakeOptions = {}) {}
  #answer<T>(value: T): Promise<T> {
    return this.options.error ? Promise.reject(this.options.error) : Promise.resolve(value);
  }
  start(spec: JobSpec) {
    this.calls.push(["start", spec]);
    return this.#answer({ id: ID, status: runningStatus() });
  }
  stop(id: string, options: { graceSeconds?: number } = {}) {
    this.calls.push(["stop", id, options]);
    this.#stopped = this.options.stopped ??
      jobStatus({ state: "stopped", exitCode: null, signal: "SIGTERM" });
    return this.#answer(this.#stopped);
  }
  status(id: string) {
    this.calls.push(["status", id]);
    const statuses = this.options.statuses ?? [jobStatus()];
    const answer = this.#stopped ??
      statuses[Math.min(this.#statusCalls++, statuses.length - 1)] ?? jobStatus();
    return this.#answer(answer);
  }
  list() {
    this.calls.push(["list"]);
    return this.#answer(this.options.statuses ?? [jobStatus()]);
  }
  async *streamOutput(
    id: string,
    options: { offset?: number; follow?: boolean; signal?: AbortSignal } = {},
  ) {
    const follow = options.follow ?? true;
    this.calls.push(["streamOutput", id, options.offset, follow]);
    if (this.options.error) throw this.options.error;
    const signal = options.signal;
    const chunkSize = this.options.chunkSize ?? 32 * 1024;
    const from = options.offset ?? 0;
    let position = 0;
    // Set when the stream ends by itself; a stream left before is cancelled.
    let finished = false;
    /** The chunks of `data` (written at `position`) at or past `from`. */
    const pieces = (data: Uint8Array) => {
      const chunks: { offset: number; data: Uint8Array }[] = [];
      const start = Math.max(position, from);
      const end = position + data.length;
      for (let at = start; at < end; at += chunkSize) {
        chunks.push({
          offset: at,
          data: data.subarray(at - position, Math.min(end, at + chunkSize) - position),
        });
      }
      position = end;
      return chunks;
    };
    try {
      for (const step of this.options.output ?? []) {
        if (signal?.aborted) return;
        if (typeof step === "number") {
          if (!follow) return void (finished = true);
          // Like the real client: an abort ends a pending wait and the stream, quietly.
          await pause(step, signal);
          continue;
        }
        for (const piece of pieces(step)) {
          if (signal?.aborted) return;
          this.sent += piece.data.length;
          yield piece;
        }
      }
      if (!follow) return void (finished = true);
      while (this.options.endless && !signal?.aborted && this.#stopped === null) {
        for (const piece of pieces(new Uint8Array([0x2e]))) {
          this.sent += piece.data.length;
          yield piece;
        }
        await pause(10, signal);
      }
      if (signal?.aborted) return;
      finished = true;
      if (this.options.streamError) throw this.options.streamError;
    } finally {
      this.cancelled = (signal?.aborted ?? false) || !finished;
    }
  }
  close() {
    this.closed = true;
  }
}
