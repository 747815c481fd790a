/**
 * The private contract between an `OutputFile` and the readers it creates.
 *
 * @module
 */
import type { SharedTail } from "./_tail.ts";
import type { Waiter } from "./_waiters.ts";

/**
 * Passed to the `OutputReader` constructor so that only `OutputFile.reader()`
 * can create readers: a reader outside the file's bookkeeping would escape
 * `readerCount` and `close()`.
 */
export const readerToken: unique symbol = Symbol("OutputReader.token");

/** What a reader needs from the file it reads. */
export interface ReaderHost {
  /** Path of the output file. */
  readonly path: string;
  /** True once no byte will ever be appended again. */
  isCompleted(): boolean;
  /** Registers a waiter; the file is watched from the moment this returns. */
  wait(): Waiter;
  /** The file's newest bytes, shared by the readers that follow it live. */
  readonly tail: SharedTail;
  /** Forgets a closed reader. */
  release(reader: object): void;
}

/** Everything a reader is constructed from. */
export interface ReaderInit {
  host: ReaderHost;
  offset: number;
  /** Where the reader stops (end of stream there), or null to follow the file to its end. */
  end: number | null;
  chunkSize: number;
  signal: AbortSignal | null;
}

/** Validates a byte count or offset, naming `what` in the error. */
export function checkByteCount(what: string, value: unknown, options: { min: number }): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < options.min) {
    const kind = options.min === 0
      ? "a non-negative safe integer"
      : `a safe integer >= ${options.min}`;
    throw new RangeError(`${what} must be ${kind}, got ${String(value)}`);
  }
  return value;
}
