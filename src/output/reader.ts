/**
 * {@linkcode OutputReader}: one consumer's cursor into a job's output file.
 *
 * @module
 */
import { checkByteCount, type ReaderHost, type ReaderInit, readerToken } from "./_host.ts";
import type { Waiter } from "./_waiters.ts";

/** Default chunk size of {@linkcode OutputReader.readChunk}; where the iterator and stream start. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;

/**
 * Largest chunk the iterator and stream grow to while the reader is behind
 * the writer (unless the reader's chunk size is larger). Each read costs a
 * fixed ~25-30 us in Deno (a hop to the blocking thread pool), so draining
 * 1 GiB from the page cache went from ~1.9 GB/s with fixed 64 KiB chunks to
 * ~6 GB/s when growing to 1 MiB (output_bench.ts); a reader that keeps up
 * with the writer stays at the small size.
 */
export const MAX_STREAM_CHUNK_SIZE = 1024 * 1024;

/** A run of output bytes and where it starts in the file. */
export interface OutputChunk {
  /** Offset of `data[0]` in the output file; resume at `offset + data.length`. */
  offset: number;
  /** The bytes; never empty. */
  data: Uint8Array;
}

interface PendingRead {
  resolve(n: number | null): void;
  reject(reason: unknown): void;
}

/**
 * Reads a job's output file from its own offset, waiting for new bytes while
 * the job runs and reporting end of stream once the job has ended and every
 * byte was read.
 *
 * Created by `OutputFile.reader()`. Each reader opens its own read-only file
 * handle on first read, so readers never disturb one another. A reader closes
 * itself at end of stream, on abort, and when its iterator or stream is
 * abandoned; otherwise call {@linkcode OutputReader.close}.
 *
 * @example Follow a job's output from the start
 * ```ts ignore
 * const reader = output.reader();
 * for await (const { offset, data } of reader) {
 *   await send(offset, data); // the client resumes at offset + data.length
 * }
 * ```
 */
export class OutputReader {
  readonly #host: ReaderHost;
  readonly #signal: AbortSignal | null;
  readonly #chunkSize: number;
  readonly #maxStreamChunkSize: number;
  readonly #onAbort = () => this.#abort();
  #offset: number;
  #handle: Deno.FsFile | null = null;
  #waiter: Waiter | null = null;
  #pending: PendingRead | null = null;
  #closed = false;
  /** The offset lies beyond the largest file the file system allows: no byte will ever come. */
  #unreachable = false;
  #abortReason: { reason: unknown } | null = null;
  #readable: ReadableStream<Uint8Array> | null = null;
  #streamChunkSize: number;

  /**
   * Not for direct use: call `OutputFile.reader()`.
   *
   * @throws {TypeError} when called with anything but the file's private token.
   */
  constructor(token: typeof readerToken, init: ReaderInit) {
    if (token !== readerToken) {
      throw new TypeError("OutputReader cannot be constructed directly; use OutputFile.reader()");
    }
    this.#host = init.host;
    this.#offset = init.offset;
    this.#chunkSize = init.chunkSize;
    this.#streamChunkSize = init.chunkSize;
    this.#maxStreamChunkSize = Math.max(init.chunkSize, MAX_STREAM_CHUNK_SIZE);
    this.#signal = init.signal;
    if (this.#signal?.aborted) {
      this.#abort();
    } else {
      this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /** Offset in the file of the next byte this reader returns. */
  get offset(): number {
    return this.#offset;
  }

  /** Whether the reader is closed (explicitly, by abort, or at end of stream). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reads up to `p.length` bytes at the reader's offset into `p`, like
   * `Deno.Reader`. Resolves as soon as any byte beyond the offset exists;
   * while the job runs and none does, waits for the file to grow (no polling).
   *
   * @returns the number of bytes read (> 0, or 0 only for an empty `p`), or
   *   `null` at end of stream (the file is complete and fully read) and after
   *   {@linkcode OutputReader.close}.
   * @throws the signal's reason once the reader's `AbortSignal` has aborted.
   * @throws {Deno.errors.Busy} when another `read()` of this reader is pending.
   */
  read(p: Uint8Array): Promise<number | null> {
    if (this.#abortReason !== null) return Promise.reject(this.#abortReason.reason);
    if (this.#closed) return Promise.resolve(null);
    if (this.#pending !== null) {
      return Promise.reject(
        new Deno.errors.Busy(
          `OutputReader of "${this.#host.path}": read() called while another read() is pending`,
        ),
      );
    }
    if (p.length === 0) return Promise.resolve(0);
    return new Promise((resolve, reject) => {
      const pending: PendingRead = { resolve, reject };
      this.#pending = pending;
      this.#fill(p).then(
        (n) => {
          // close() or an abort may have settled this read already.
          if (this.#pending !== pending) return;
          this.#pending = null;
          if (n === null) this.close();
          resolve(n);
        },
        (err: unknown) => {
          if (this.#pending !== pending) return;
          this.#pending = null;
          reject(err);
        },
      );
    });
  }

  /**
   * Reads the next chunk of at most `maxBytes` bytes, with its offset in the
   * file so a network client can resume exactly where it stopped.
   *
   * @returns the chunk, or `null` at end of stream and after close.
   * @throws {RangeError} when `maxBytes` is not a positive safe integer.
   */
  async readChunk(maxBytes: number = this.#chunkSize): Promise<OutputChunk | null> {
    checkByteCount("OutputReader.readChunk: maxBytes", maxBytes, { min: 1 });
    const offset = this.#offset;
    const buffer = new Uint8Array(maxBytes);
    const n = await this.read(buffer);
    if (n === null) return null;
    // A short read in a big buffer would pin the whole buffer while the
    // chunk lives (it may sit in a socket queue), so copy it out.
    const data = n * 2 < maxBytes ? buffer.slice(0, n) : buffer.subarray(0, n);
    return { offset, data };
  }

  /**
   * Yields chunks until end of stream. Chunks start at the reader's chunk
   * size and grow up to {@linkcode MAX_STREAM_CHUNK_SIZE} while the reader is
   * behind the writer. Leaving the loop early (break, throw) closes the
   * reader; use {@linkcode OutputReader.readChunk} to stop and go on later.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<OutputChunk, void, undefined> {
    try {
      while (true) {
        const chunk = await this.#readStreamChunk();
        if (chunk === null) return;
        yield chunk;
      }
    } finally {
      this.close();
    }
  }

  /**
   * The rest of the output as a byte stream (created on first access, then
   * the same stream), chunked like the async iterator. Cancelling the stream closes the reader; an abort
   * errors the stream with the signal's reason. Do not mix with direct reads.
   */
  get readable(): ReadableStream<Uint8Array> {
    if (this.#readable !== null) return this.#readable;
    let cancelled = false;
    this.#readable = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        let chunk: OutputChunk | null;
        try {
          chunk = await this.#readStreamChunk();
        } catch (err) {
          this.close();
          throw err;
        }
        if (cancelled) return;
        if (chunk === null) controller.close();
        else controller.enqueue(chunk.data);
      },
      cancel: () => {
        cancelled = true;
        this.close();
      },
      // Zero: pull only when the consumer asks, so merely touching
      // `readable` does not start a read.
    }, new CountQueuingStrategy({ highWaterMark: 0 }));
    return this.#readable;
  }

  /**
   * Closes the reader and frees its file handle, its waiter registration and
   * its abort listener. A pending read resolves `null`. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#waiter?.cancel();
    this.#waiter = null;
    const handle = this.#handle;
    this.#handle = null;
    try {
      handle?.close();
    } catch {
      // Already closed by the runtime; nothing left to free.
    }
    this.#host.release(this);
    const pending = this.#pending;
    this.#pending = null;
    pending?.resolve(null);
  }

  /** readChunk() with a size that doubles after each full chunk and resets after a short one. */
  async #readStreamChunk(): Promise<OutputChunk | null> {
    const size = this.#streamChunkSize;
    const chunk = await this.readChunk(size);
    if (chunk !== null) {
      this.#streamChunkSize = chunk.data.length === size
        ? Math.min(size * 2, this.#maxStreamChunkSize)
        : this.#chunkSize;
    }
    return chunk;
  }

  #abort(): void {
    if (this.#closed) return;
    this.#abortReason = { reason: this.#signal?.reason };
    const pending = this.#pending;
    this.#pending = null;
    this.close();
    pending?.reject(this.#abortReason.reason);
  }

  async #openHandle(): Promise<Deno.FsFile | null> {
    let handle: Deno.FsFile;
    try {
      handle = await Deno.open(this.#host.path, { read: true });
    } catch (err) {
      throw new Error(
        `OutputReader: cannot open output file "${this.#host.path}": ${
          err instanceof Error ? err.message : String(err)
        }`,
        { cause: err },
      );
    }
    if (this.#closed) {
      handle.close();
      return null;
    }
    this.#handle = handle;
    // Seeking past the end is fine: reads return nothing until the file
    // reaches the offset. Past the largest file the file system allows
    // (EINVAL), the file never gets there: the reader just waits for the end.
    if (this.#offset > 0) {
      try {
        await handle.seek(this.#offset, Deno.SeekMode.Start);
      } catch (err) {
        if (!(err instanceof TypeError && (err as { code?: string }).code === "EINVAL")) throw err;
        this.#unreachable = true;
      }
    }
    return this.#closed ? null : handle;
  }

  /** The read loop behind `read()`; returns null at end of stream or once closed. */
  async #fill(p: Uint8Array): Promise<number | null> {
    const handle = this.#handle ?? await this.#openHandle();
    if (handle === null) return null;
    try {
      while (this.#unreachable) {
        if (this.#host.isCompleted() || this.#closed) return null;
        this.#waiter = this.#host.wait();
        await this.#waiter.promise;
        this.#waiter = null;
      }
      while (true) {
        // Sampled before reading: the job's bytes are all in the file by the
        // time complete() runs, so an empty read after a completed sample
        // really is the end.
        const wasComplete = this.#host.isCompleted();
        const n = await handle.read(p);
        if (this.#closed) return null;
        if (n !== null && n > 0) {
          this.#offset += n;
          return n;
        }
        if (wasComplete) return null;
        if (this.#waiter === null) {
          // Register first, then read again above: a write that lands between
          // the empty read and the registration is caught by that re-read.
          this.#waiter = this.#host.wait();
          continue;
        }
        await this.#waiter.promise;
        this.#waiter = null;
        if (this.#closed) return null;
      }
    } finally {
      this.#waiter?.cancel();
      this.#waiter = null;
    }
  }
}
