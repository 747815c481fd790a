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
 * ~6 GB/s when growing to 1 MiB (tests/output/output_bench.ts); a reader that keeps up
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
  resolve(data: Uint8Array | null): void;
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
  /** A snapshot's end (see OutputReaderOptions.snapshot), or null. */
  readonly #end: number | null;
  #handle: Deno.FsFile | null = null;
  /** Where the own handle's file position is (the tail may move the offset on without it). */
  #handlePosition = 0;
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
    this.#end = init.end;
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
    if (p.length === 0 && this.#abortReason === null && !this.#closed && this.#pending === null) {
      return Promise.resolve(0);
    }
    return this.#pend(() => this.#fill(p.length, p)).then((data) => {
      if (data === null) return null;
      // Bytes of the shared tail come as a view of it: copy them into p.
      if (data.buffer !== p.buffer || data.byteOffset !== p.byteOffset) p.set(data);
      return data.length;
    });
  }

  /** Runs one read as the reader's pending read, which close() and abort() settle early. */
  #pend(fill: () => Promise<Uint8Array | null>): Promise<Uint8Array | null> {
    if (this.#abortReason !== null) return Promise.reject(this.#abortReason.reason);
    if (this.#closed) return Promise.resolve(null);
    if (this.#pending !== null) {
      return Promise.reject(
        new Deno.errors.Busy(
          `OutputReader of "${this.#host.path}": read() called while another read() is pending`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const pending: PendingRead = { resolve, reject };
      this.#pending = pending;
      fill().then(
        (data) => {
          // close() or an abort may have settled this read already.
          if (this.#pending !== pending) return;
          this.#pending = null;
          if (data === null) this.close();
          resolve(data);
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
    const data = await this.#pend(() => this.#fill(maxBytes, null));
    return data === null ? null : { offset, data };
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
        this.#handlePosition = this.#offset;
      } catch (err) {
        if (!(err instanceof TypeError && (err as { code?: string }).code === "EINVAL")) throw err;
        this.#unreachable = true;
      }
    }
    return this.#closed ? null : handle;
  }

  /**
   * The read loop behind `read()` and `readChunk()`: up to `maxBytes` bytes
   * (read into `into` when given, else into a new buffer, or a view of the
   * shared tail), or null at end of stream or once closed.
   */
  async #fill(maxBytes: number, into: Uint8Array | null): Promise<Uint8Array | null> {
    if (this.#end !== null) {
      // A snapshot: nothing past its end, and no waiting for it.
      if (this.#offset >= this.#end) return null;
      maxBytes = Math.min(maxBytes, this.#end - this.#offset);
      into = into?.subarray(0, maxBytes) ?? null;
    }
    const handle = this.#handle ?? await this.#openHandle();
    if (handle === null) return null;
    try {
      while (this.#unreachable) {
        if (this.#host.isCompleted() || this.#closed) return null;
        this.#waiter = this.#host.wait();
        await this.#waiter.promise;
        this.#waiter = null;
      }
      // Set when a waiter was just registered without an active tail to
      // re-read the file: the next round reads it itself.
      let recheck = false;
      while (true) {
        // Sampled before reading: the job's bytes are all in the file by the
        // time complete() runs, so an empty read after a completed sample
        // really is the end.
        const wasComplete = this.#host.isCompleted();
        const cached = this.#host.tail.at(this.#offset, maxBytes);
        if (cached instanceof Uint8Array) {
          this.#offset += cached.length;
          return cached;
        }
        if (cached === "behind" || wasComplete || recheck) {
          recheck = false;
          const data = await this.#readOwn(handle, { into, maxBytes });
          if (this.#closed) return null;
          if (data !== null) return data;
          if (wasComplete) return null;
        }
        // At the newest byte of a live file. Register first, then read the
        // file again (through the shared tail when it is active): a write
        // that lands before the registration is caught by that read, one
        // after it by the wake-up.
        if (this.#waiter === null) {
          this.#waiter = this.#host.wait();
          if (this.#host.tail.active) await this.#host.tail.refresh();
          else recheck = true;
        } else {
          await this.#waiter.promise;
          this.#waiter = null;
          if (this.#closed) return null;
          if (this.#host.tail.active) await this.#host.tail.refresh();
        }
        if (this.#closed) return null;
      }
    } finally {
      this.#waiter?.cancel();
      this.#waiter = null;
    }
  }

  /** Reads from the reader's own handle at its offset; null when nothing is there yet. */
  async #readOwn(
    handle: Deno.FsFile,
    options: { into: Uint8Array | null; maxBytes: number },
  ): Promise<Uint8Array | null> {
    const buffer = options.into ?? new Uint8Array(options.maxBytes);
    // The shared tail may have moved the offset on since the last own read.
    if (this.#handlePosition !== this.#offset) {
      await handle.seek(this.#offset, Deno.SeekMode.Start);
      this.#handlePosition = this.#offset;
    }
    const n = await handle.read(buffer);
    if (n === null || n === 0) return null;
    this.#offset += n;
    this.#handlePosition += n;
    // A short read in a big buffer of our own would pin the whole buffer
    // while the chunk lives (it may sit in a socket queue), so copy it out.
    if (options.into === null && n * 2 < buffer.length) return buffer.slice(0, n);
    return buffer.subarray(0, n);
  }
}
