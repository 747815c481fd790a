/**
 * `logs`: copying a job's output from the server to a byte sink, following
 * it or taking a snapshot.
 *
 * The API's StreamOutput follows a running job until it ends and has no
 * "current size", so a snapshot of a running job's output cannot be cut at
 * an exact byte. The server sends what exists back to back, and then waits
 * for more; so the snapshot ends when the stream has been quiet for a while
 * (the backlog is caught up). A job writing without pause would keep the
 * stream busy forever, so a snapshot also ends at a time limit, reported to
 * the caller so it can say where to continue.
 *
 * @module
 */
import type { JobStatus } from "../job/mod.ts";

/** One chunk of output and the offset of its first byte. */
export interface Chunk {
  offset: number;
  data: Uint8Array;
}

/** What `logs` needs of the API client. */
export interface LogsClient {
  /** The job's status (state decides follow-until-end vs snapshot). */
  status(id: string): Promise<JobStatus>;
  /** The output from `offset`, following the job until it ends; `signal` cancels. */
  streamOutput(
    id: string,
    options: { offset?: number; signal?: AbortSignal },
  ): AsyncGenerator<Chunk>;
}

/** Options of {@link copyOutput}. */
export interface CopyOutputOptions {
  id: string;
  /** First byte to copy. */
  offset: number;
  /** Follow the job until it ends, rather than take a snapshot. */
  follow: boolean;
  /** Writes all of a chunk (or throws). */
  write: (data: Uint8Array) => Promise<void>;
  /** Shortest quiet time that ends a snapshot; default {@link MIN_QUIET_MS}. */
  minQuietMs?: number;
  /** Longest a snapshot of a busy stream may take; default {@link SNAPSHOT_LIMIT_MS}. */
  snapshotLimitMs?: number;
}

/** How the copy ended. */
export interface CopyOutputResult {
  /** The offset after the last byte written. */
  offset: number;
  /** True when the snapshot was cut at the time limit while output was still arriving. */
  cutOff: boolean;
}

/** The stream failed after some output was written; says where to resume. */
export class StreamInterruptedError extends Error {
  /** Offset after the last byte written. */
  readonly offset: number;
  /** @param cause the stream's error; @param offset the offset after the last byte written */
  constructor(cause: unknown, offset: number) {
    const message = cause instanceof Error ? cause.message : String(cause);
    super(`${message} (output written up to offset ${offset}; resume with --offset ${offset})`, {
      cause,
    });
    this.name = "StreamInterruptedError";
    this.offset = offset;
  }
}

/** A snapshot ends after this much silence at least: well above the gap between chunks in flight. */
export const MIN_QUIET_MS = 100;
/** Nor more than this: a slow first handshake must not make every snapshot slow. */
const MAX_QUIET_MS = 1000;
/** A snapshot of output that never pauses is cut off after this long. */
export const SNAPSHOT_LIMIT_MS = 5000;

const QUIET = Symbol("quiet");

async function orQuiet<T>(promise: Promise<T>, ms: number): Promise<T | typeof QUIET> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const quiet = new Promise<typeof QUIET>((resolve) => {
    timer = setTimeout(() => resolve(QUIET), ms);
  });
  try {
    return await Promise.race([promise, quiet]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Copies the job's output to `options.write`. Following: until the job
 * ends. Otherwise: all of it if the job has ended; if it runs, until the
 * stream is quiet for max(minQuietMs, 2 × the round trip of the status
 * call), or until the first chunk after `snapshotLimitMs` (`cutOff`).
 *
 * @throws the client's error (e.g. ApiError NOT_FOUND) when nothing was
 * written yet, {@link StreamInterruptedError} when the stream fails later,
 * and whatever `write` throws (the call is cancelled first).
 */
export async function copyOutput(
  client: LogsClient,
  options: CopyOutputOptions,
): Promise<CopyOutputResult> {
  let quietMs: number | null = null;
  if (!options.follow) {
    const asked = performance.now();
    const status = await client.status(options.id);
    const roundTrip = performance.now() - asked;
    // An ended job's stream completes by itself once everything was sent.
    if (status.state === "running") {
      const minQuietMs = options.minQuietMs ?? MIN_QUIET_MS;
      quietMs = Math.max(minQuietMs, Math.min(2 * roundTrip, MAX_QUIET_MS));
    }
  }
  const deadline = performance.now() + (options.snapshotLimitMs ?? SNAPSHOT_LIMIT_MS);
  const abort = new AbortController();
  const chunks = client.streamOutput(options.id, { offset: options.offset, signal: abort.signal });
  let offset = options.offset;
  const write = async (chunk: Chunk) => {
    await options.write(chunk.data);
    offset = chunk.offset + chunk.data.length;
  };
  const streamFailed = (err: unknown) =>
    offset === options.offset ? err : new StreamInterruptedError(err, offset);

  try {
    for (;;) {
      const next = chunks.next();
      let result: IteratorResult<Chunk>;
      try {
        const raced = quietMs === null ? await next : await orQuiet(next, quietMs);
        if (raced === QUIET) {
          abort.abort();
          // A chunk may have been under way when the call was cancelled; it is
          // the next bytes, so it is still written.
          const last = await next.catch(() => ({ done: true, value: undefined } as const));
          if (!last.done) await write(last.value);
          return { offset, cutOff: false };
        }
        result = raced;
      } catch (err) {
        throw streamFailed(err);
      }
      if (result.done) return { offset, cutOff: false };
      await write(result.value);
      if (quietMs !== null && performance.now() >= deadline) return { offset, cutOff: true };
    }
  } finally {
    // Cancels the call when leaving early (snapshot done, or write failed).
    abort.abort();
    await chunks.return(undefined).catch(() => {});
  }
}
