/**
 * `logs`: copying a job's output from the server to a byte sink: what was
 * written so far (StreamOutput with `follow: false`, which ends at the
 * output's size when the call arrives, even while the job runs), or
 * following it to the job's end, optionally only the last lines.
 *
 * @module
 */
import type { JobStatus, OutputChunk } from "../job/mod.ts";
import { findTail, tailOfSnapshot } from "./_tail.ts";

/** What `logs` needs of the API client. */
export interface LogsClient {
  /** The job's status (its output's size, for `--tail`). */
  status(id: string): Promise<JobStatus>;
  /**
   * The output from `offset`: following the job until it ends, or (`follow:
   * false`) only what exists; `signal` cancels.
   */
  streamOutput(
    id: string,
    options: { offset?: number; follow?: boolean; signal?: AbortSignal },
  ): AsyncGenerator<OutputChunk>;
}

/** Options of {@link copyOutput}. */
export interface CopyOutputOptions {
  id: string;
  /** First byte to copy. */
  offset: number;
  /** Follow the job until it ends, rather than copy what exists now. */
  follow: boolean;
  /** Writes all of a chunk (or throws). */
  write: (data: Uint8Array) => Promise<void>;
  /** Copy nothing at or past this offset (a size the caller saw); default: all there is. */
  end?: number;
  /** Stops the copy early, quietly (the result says how far it got). */
  signal?: AbortSignal;
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

/**
 * Copies the job's output from `options.offset` to `options.write` and
 * resolves with the offset after the last byte written.
 *
 * @throws the client's error (e.g. ApiError NOT_FOUND) when nothing was
 * written yet, {@link StreamInterruptedError} when the stream fails later,
 * and whatever `write` throws (the call is cancelled first).
 */
export async function copyOutput(
  client: LogsClient,
  options: CopyOutputOptions,
): Promise<{ offset: number }> {
  const end = options.end ?? Infinity;
  let offset = options.offset;
  if (offset >= end || options.signal?.aborted) return { offset };
  const abort = new AbortController();
  const signal = options.signal === undefined
    ? abort.signal
    : AbortSignal.any([abort.signal, options.signal]);
  const chunks = client.streamOutput(options.id, {
    offset,
    follow: options.follow,
    signal,
  });
  try {
    for (;;) {
      let result: IteratorResult<OutputChunk>;
      try {
        result = await chunks.next();
      } catch (err) {
        throw offset === options.offset ? err : new StreamInterruptedError(err, offset);
      }
      if (result.done) return { offset };
      const { data } = result.value;
      const wanted = data.subarray(0, Math.max(0, end - result.value.offset));
      if (wanted.length > 0) {
        await options.write(wanted);
        offset = result.value.offset + wanted.length;
      }
      if (offset >= end) return { offset };
    }
  } finally {
    // Cancels the call when leaving early (the end reached, or a write failed).
    abort.abort();
    await chunks.return(undefined).catch(() => {});
  }
}

/** Options of {@link printLogs}. */
export interface PrintLogsOptions {
  id: string;
  /** First byte to consider. */
  offset: number;
  /** Follow the job until it ends. */
  follow: boolean;
  /** Only the last this many lines (of the output from `offset` on); null: all of it. */
  tail: number | null;
  /** Writes all of a chunk (or throws). */
  write: (data: Uint8Array) => Promise<void>;
}

/**
 * `logs`: the output from `offset` (or its last `tail` lines) as it is now,
 * then, when following, everything the job writes until it ends.
 *
 * For `tail`, the end is the output's size in the job's status, and the
 * lines are found by reading backwards from there (./_tail.ts), so a big
 * output is not downloaded; the last lines are exactly those up to that
 * size, and a follower goes on from it without a gap.
 *
 * @throws as {@link copyOutput}, and the client's errors
 */
export async function printLogs(client: LogsClient, options: PrintLogsOptions): Promise<void> {
  const { id, follow, write } = options;
  if (options.tail === null) {
    await copyOutput(client, { id, offset: options.offset, follow, write });
    return;
  }
  const size = (await client.status(id)).output.bytes;
  const range = { lines: options.tail, from: options.offset };
  // The server reports no size when it cannot tell (its file is unreadable):
  // then read forwards, keeping only the last lines.
  const tail = size === null
    ? await tailOfSnapshot(client, id, range)
    : await findTail(client, id, { ...range, end: size });
  let offset = tail.start;
  if (tail.held !== null) {
    if (tail.held.length > 0) await write(tail.held);
    offset += tail.held.length;
  } else if (!follow) {
    await copyOutput(client, { id, offset, follow: false, write, end: size ?? Infinity });
    return;
  }
  if (follow) await copyOutput(client, { id, offset, follow: true, write });
}
