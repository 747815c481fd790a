/**
 * Waiting for a job's end, for `status -w` and `start -f`. The end is
 * seen, not polled for: StreamOutput with `follow: true` completes once the
 * job has ended and every byte was sent. `status -w` follows from an
 * offset past any possible output (the stream then sends nothing and
 * completes at the end, as the API documents); `start -f` follows from 0
 * and prints what comes.
 *
 * A follower is also cut off when its server shuts down leaving jobs
 * running for the next one; then the job still runs, and this polls its
 * status (more and more slowly) and follows again once it answers.
 *
 * @module
 */
import type { JobStatus } from "../job/mod.ts";
import { copyOutput, type LogsClient } from "./_logs.ts";

/** An offset no output reaches (the API's largest): following from it waits for the end, silently. */
export const PAST_ANY_OUTPUT = Number.MAX_SAFE_INTEGER;

/** The first pause before following again a job that still runs; it doubles up to {@link MAX_PAUSE_MS}. */
export const FIRST_PAUSE_MS = 100;
/** The longest pause between two looks at a job whose stream ended early. */
export const MAX_PAUSE_MS = 2000;

/** Options of {@link followToEnd}. */
export interface FollowToEndOptions {
  /** Where to start; {@link PAST_ANY_OUTPUT} to copy nothing. */
  offset: number;
  /** Writes all of a chunk (or throws); not called when nothing is copied. */
  write: (data: Uint8Array) => Promise<void>;
  /** Stops waiting (the job runs on); {@link followToEnd} then resolves null. */
  signal?: AbortSignal;
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Copies the output from `options.offset` until the job has ended and
 * resolves with its final status; null when `options.signal` aborted first.
 *
 * @throws the client's errors, and whatever `write` throws
 */
export async function followToEnd(
  client: LogsClient,
  id: string,
  options: FollowToEndOptions,
): Promise<JobStatus | null> {
  let offset = options.offset;
  let pauseMs = FIRST_PAUSE_MS;
  const { signal } = options;
  for (;;) {
    const copied = await copyOutput(client, {
      id,
      offset,
      follow: true,
      write: options.write,
      ...(signal === undefined ? {} : { signal }),
    });
    if (signal?.aborted) return null;
    offset = copied.offset;
    const status = await client.status(id);
    if (status.state !== "running") return status;
    await pause(pauseMs, signal);
    if (signal?.aborted) return null;
    pauseMs = Math.min(pauseMs * 2, MAX_PAUSE_MS);
  }
}
