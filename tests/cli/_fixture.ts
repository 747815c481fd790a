/**
 * Test doubles for the CLI's unit tests (src/cli/*_test.ts): a job status,
 * a byte sink, and a fake API client whose output behaves like the
 * server's (offsets, the `follow: false` snapshot, following to the end,
 * stopping). The helpers other suites use too live in tests/_support/;
 * this module re-exports those the CLI tests use.
 *
 * @module
 */
import type { JobEvent, JobSpec, JobStatus, OutputChunk, TerminalSize } from "../../src/job/mod.ts";
import type { ByteWriter, CliClient } from "../../src/cli/main.ts";
import type { TopTerminal } from "../../src/cli/_top_screen.ts";
import type { InteractiveSession } from "../../src/cli/_attach.ts";
import type { LocalInput } from "../../src/cli/_local_input.ts";
import { Screen } from "../_support/screen.ts";
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
    usage: {
      cpuNs: 1,
      memoryCurrentBytes: 0,
      memoryPeakBytes: 1,
      tasks: 0,
      ioReadBytes: null,
      ioWriteBytes: null,
    },
    output: { bytes: 1234, maxBytes: 1073741824, truncated: false, error: null },
    error: null,
    timeoutMs: null,
    timedOut: false,
    labels: {},
    stdin: false,
    tty: false,
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

/** An event of a job with `overrides` (seq 1, `started`, of the fake job). */
export function jobEvent(overrides: Partial<JobEvent> = {}): JobEvent {
  return {
    seq: 1,
    time: new Date("2024-05-01T12:00:00Z"),
    id: ID,
    owner: "alice",
    type: "started",
    exitCode: null,
    signal: null,
    error: null,
    labels: {},
    ...overrides,
  };
}

/**
 * One WatchEvents stream of a {@link FakeClient}: events it sends (a number:
 * a pause in ms), then how it ends: `"open"` stays open until cancelled,
 * `"end"` completes, an Error fails it.
 */
export interface EventScript {
  events: (JobEvent | number)[];
  end: "open" | "end" | Error;
  /** The newest event's number when the watch began (given to `onWatching` first); default none. */
  lastSeq?: number;
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
  /**
   * WatchEvents streams, one per call (the last repeats); each replays only
   * events after its call's `since`, as the server does. Default: one that
   * stays open and sends nothing.
   */
  eventStreams?: EventScript[];
  /** What `signal` answers with: this error (default: the running job's status). */
  signalError?: Error;
  /** How the sessions `attach` makes behave; default {@link AttachScript}'s defaults. */
  attach?: AttachScript;
}

/** How a {@link FakeSession} behaves. */
export interface AttachScript {
  /** Output sent as soon as the session is read. */
  output?: string[];
  /** Input comes back as output (a job running `cat`); default true. */
  echo?: boolean;
  /**
   * When the job ends (and the output ends with `final`): at its input's
   * end-of-file (the default), at once after `output`, or never.
   */
  endsOn?: "eof" | "now" | "never";
  /** The final status; default an exit with 0. */
  final?: JobStatus;
  /** The call fails with this after `output` (before the job ends). */
  error?: Error;
}

/** An Attach call of a {@link FakeClient}: records input, resizes and the end of input. */
export class FakeSession implements InteractiveSession {
  /** Every input write, in order. */
  readonly written: Uint8Array[] = [];
  readonly resizes: TerminalSize[] = [];
  /** Order of what the CLI did: "write", "resize", "end". */
  readonly actions: string[] = [];
  ended = false;
  status: JobStatus | null = null;
  #pending: Uint8Array[] = [];
  #wake = Promise.withResolvers<void>();
  constructor(readonly script: AttachScript = {}) {}
  #poke() {
    this.#wake.resolve();
    this.#wake = Promise.withResolvers<void>();
  }
  /** Everything written, decoded. */
  input(): string {
    return text(concat(this.written));
  }
  async *output(): AsyncGenerator<OutputChunk> {
    let offset = 0;
    const chunk = (data: Uint8Array) => {
      const out = { offset, data };
      offset += data.length;
      return out;
    };
    for (const piece of this.script.output ?? []) yield chunk(new TextEncoder().encode(piece));
    if (this.script.error) throw this.script.error;
    const endsOn = this.script.endsOn ?? "eof";
    for (;;) {
      if (this.#pending.length > 0) {
        yield chunk(this.#pending.shift()!);
        continue;
      }
      if (endsOn === "now" || (endsOn === "eof" && this.ended)) {
        this.status = this.script.final ?? jobStatus({ stdin: true });
        return;
      }
      await this.#wake.promise;
    }
  }
  write(data: Uint8Array): Promise<void> {
    this.actions.push("write");
    this.written.push(data.slice());
    if (this.script.echo ?? true) this.#pending.push(data.slice());
    this.#poke();
    return Promise.resolve();
  }
  resize(size: TerminalSize): Promise<void> {
    this.actions.push("resize");
    this.resizes.push(size);
    return Promise.resolve();
  }
  end(): void {
    this.actions.push("end");
    this.ended = true;
    this.#poke();
  }
}

/**
 * The CLI's stdin for the interactive commands' tests: text typed (or
 * piped) by the test, end-of-file, a terminal or not, its size and
 * resizes, and the raw mode asked for.
 */
export class FakeInput implements LocalInput {
  /** Every setRaw call, in order. */
  readonly rawCalls: boolean[] = [];
  #queue: (Uint8Array | null)[] = [];
  #reader: ((data: Uint8Array | null) => void) | null = null;
  #resize: (() => void) | null = null;
  constructor(
    readonly terminal: boolean,
    public terminalSize: TerminalSize | null = terminal ? { rows: 24, cols: 80 } : null,
  ) {}
  isTerminal(): boolean {
    return this.terminal;
  }
  read(): Promise<Uint8Array | null> {
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift()!);
    return new Promise((resolve) => (this.#reader = resolve));
  }
  /** Types (or pipes) `keys`; null: end-of-file. */
  type(keys: string | null): void {
    const data = keys === null ? null : new TextEncoder().encode(keys);
    if (this.#reader !== null) {
      const reader = this.#reader;
      this.#reader = null;
      reader(data);
    } else {
      this.#queue.push(data);
    }
  }
  setRaw(raw: boolean): Promise<void> {
    this.rawCalls.push(raw);
    return Promise.resolve();
  }
  size(): TerminalSize | null {
    return this.terminalSize;
  }
  onResize(handler: () => void): () => void {
    this.#resize = handler;
    return () => (this.#resize = null);
  }
  /** Changes the size, as resizing the window would (SIGWINCH). */
  resize(rows: number, cols: number): void {
    this.terminalSize = { rows, cols };
    this.#resize?.();
  }
  /** Whether a resize handler is installed. */
  get listening(): boolean {
    return this.#resize !== null;
  }
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
  list(options?: { labels?: Record<string, string> }) {
    this.calls.push(options === undefined ? ["list"] : ["list", options]);
    return this.#answer(this.options.statuses ?? [jobStatus()]);
  }
  signal(id: string, signal: string, options: { all?: boolean } = {}) {
    this.calls.push(["signal", id, signal, options]);
    if (this.options.signalError) return Promise.reject(this.options.signalError);
    return this.#answer(runningStatus());
  }
  #eventCalls = 0;
  async *watchEvents(
    options: {
      labels?: Record<string, string>;
      since?: number;
      signal?: AbortSignal;
      onWatching?: (lastSeq: number) => void;
    } = {},
  ): AsyncGenerator<JobEvent> {
    const { signal, onWatching, ...request } = options;
    this.calls.push(["watchEvents", request]);
    if (this.options.error) throw this.options.error;
    const scripts = this.options.eventStreams ?? [{ events: [], end: "open" }];
    const script = scripts[Math.min(this.#eventCalls++, scripts.length - 1)]!;
    if (script.lastSeq !== undefined) onWatching?.(script.lastSeq);
    for (const step of script.events) {
      if (signal?.aborted) return;
      if (typeof step === "number") {
        await pause(step, signal);
        continue;
      }
      if (options.since === undefined || step.seq > options.since) yield step;
    }
    if (script.end === "open") {
      while (!signal?.aborted) await pause(60_000, signal);
      return;
    }
    if (script.end instanceof Error) throw script.end;
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
  /** The sessions `attach` made, in order. */
  readonly sessions: FakeSession[] = [];
  attach(id: string, options: { offset?: number } = {}): FakeSession {
    this.calls.push(["attach", id, options]);
    const session = new FakeSession(this.options.attach);
    this.sessions.push(session);
    return session;
  }
  close() {
    this.closed = true;
  }
}

/**
 * A {@link TopTerminal} for `top`'s tests: what is written goes to a
 * {@link Screen}; keys are typed with {@link FakeTerminal.type}; the size,
 * a resize and the signals are the test's to give.
 */
export class FakeTerminal implements TopTerminal {
  /** What the program wrote, one entry a write. */
  readonly written: string[] = [];
  /** Every setRaw call, in order. */
  readonly rawCalls: boolean[] = [];
  screen: Screen;
  #keys: (Uint8Array | null)[] = [];
  #reader: ((data: Uint8Array | null) => void) | null = null;
  #resize: (() => void) | null = null;
  #signal: (() => void) | null = null;
  /** Makes `write` fail from this write on (1 = the first); default never. */
  failWritesFrom = Infinity;

  constructor(public rows = 24, public columns = 100) {
    this.screen = new Screen(rows, columns);
  }
  write(text: string): Promise<void> {
    if (this.written.length + 1 >= this.failWritesFrom) {
      this.written.push("");
      return Promise.reject(new Error("terminal gone"));
    }
    this.written.push(text);
    this.screen.write(text);
    return Promise.resolve();
  }
  setRaw(raw: boolean): void {
    this.rawCalls.push(raw);
  }
  size() {
    return { columns: this.columns, rows: this.rows };
  }
  read(): Promise<Uint8Array | null> {
    const next = this.#keys.shift();
    if (next !== undefined) return Promise.resolve(next);
    return new Promise((resolve) => (this.#reader = resolve));
  }
  /** Types `keys` (null: the input ends). */
  type(keys: string | null): void {
    const data = keys === null ? null : new TextEncoder().encode(keys);
    if (this.#reader !== null) {
      const reader = this.#reader;
      this.#reader = null;
      reader(data);
    } else {
      this.#keys.push(data);
    }
  }
  onResize(handler: () => void) {
    this.#resize = handler;
    return () => (this.#resize = null);
  }
  /** Changes the size, as the user resizing the window would. */
  resize(rows: number, columns: number): void {
    this.rows = rows;
    this.columns = columns;
    // A new screen of the new size, still on the alternate screen: the next frame fills it.
    this.screen = new Screen(rows, columns);
    this.screen.write("\x1b[?1049h");
    this.#resize?.();
  }
  onSignal(handler: () => void) {
    this.#signal = handler;
    return () => (this.#signal = null);
  }
  /** Delivers SIGTERM (or SIGINT, SIGHUP: all the same to top). */
  kill(): void {
    this.#signal?.();
  }
  /** Whether a resize and a signal handler are installed. */
  get listening(): boolean {
    return this.#resize !== null && this.#signal !== null;
  }
}
