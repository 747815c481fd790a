/**
 * {@linkcode OutputFile}: the server's view of one job's append-only output file.
 *
 * @module
 */
import { checkByteCount, type ReaderHost, readerToken } from "./_host.ts";
import { SharedTail } from "./_tail.ts";
import { ChangeNotifier, settledWaiter } from "./_waiters.ts";
import { DEFAULT_CHUNK_SIZE, OutputReader } from "./reader.ts";

/** Options of {@linkcode OutputFile.reader}. */
export interface OutputReaderOptions {
  /** Offset of the first byte to read; default 0. May lie beyond the current end. */
  offset?: number | undefined;
  /** Aborting rejects a pending read with the signal's reason and closes the reader. */
  signal?: AbortSignal | undefined;
  /**
   * Read only what the file holds now: the reader's end of stream is the
   * file's size when the reader is made, whether or not the job still runs.
   * Default false: follow the file until the job has ended.
   */
  snapshot?: boolean | undefined;
  /**
   * Default `maxBytes` of the reader's `readChunk()`, and the size its
   * iterator and stream start at; default {@linkcode DEFAULT_CHUNK_SIZE}.
   */
  chunkSize?: number | undefined;
}

/** Options of {@linkcode OutputFile.open}. */
export interface OutputFileOpenOptions {
  /** The job has already ended (e.g. found so after a restart); same as calling `complete()`. */
  completed?: boolean | undefined;
}

/**
 * One job's output file: created empty here, appended to directly by the
 * job's processes (which open it `O_WRONLY|O_APPEND`), and served from here
 * to any number of {@linkcode OutputReader}s, each at its own offset.
 *
 * The server never copies bytes into the file; it only learns that the job
 * ended and calls {@linkcode OutputFile.complete}.
 *
 * @example
 * ```ts ignore
 * const output = await OutputFile.create("/var/lib/jobworker/jobs/42.out");
 * // ...start the job with stdout and stderr opened O_WRONLY|O_APPEND on output.path...
 * const reader = output.reader({ offset: 0, signal: request.signal });
 * for await (const chunk of reader) send(chunk);
 * // ...when the job has exited:
 * output.complete();
 * ```
 */
export class OutputFile {
  /** Path of the output file. */
  readonly path: string;
  readonly #notifier: ChangeNotifier;
  readonly #tail: SharedTail;
  readonly #readers = new Set<OutputReader>();
  readonly #host: ReaderHost;
  #completed = false;
  #closed = false;

  private constructor(path: string) {
    this.path = path;
    this.#notifier = new ChangeNotifier(path);
    this.#tail = new SharedTail(path);
    this.#host = {
      path,
      isCompleted: () => this.#completed,
      wait: () => this.#completed ? settledWaiter : this.#notifier.wait(),
      tail: this.#tail,
      release: (reader) => {
        if (reader instanceof OutputReader) this.#readers.delete(reader);
        // Fewer than two followers: the shared bytes and their handle go.
        if (this.#readers.size < 2) this.#tail.activate(false);
      },
    };
  }

  /**
   * Creates an empty output file (mode 0600) for a new job.
   *
   * @throws {Deno.errors.AlreadyExists} when something exists at `path`:
   *   output of another job is never reused or truncated.
   */
  static async create(path: string): Promise<OutputFile> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { createNew: true, write: true, mode: 0o600 });
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) {
        throw new Deno.errors.AlreadyExists(
          `OutputFile.create: output file "${path}" already exists`,
          { cause: err },
        );
      }
      throw new Error(
        `OutputFile.create: cannot create output file "${path}": ${
          err instanceof Error ? err.message : String(err)
        }`,
        { cause: err },
      );
    }
    file.close();
    // The umask may have cleared bits of 0600 (it never adds any); make the
    // mode exact so the owner can always read the output back.
    await Deno.chmod(path, 0o600);
    return new OutputFile(path);
  }

  /**
   * Attaches to an existing output file, e.g. after a server restart.
   *
   * @throws {Deno.errors.NotFound} when `path` does not exist.
   * @throws {TypeError} when `path` is not a regular file.
   */
  static async open(path: string, options: OutputFileOpenOptions = {}): Promise<OutputFile> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(`OutputFile.open: output file "${path}" does not exist`, {
          cause: err,
        });
      }
      throw err;
    }
    if (!info.isFile) {
      throw new TypeError(`OutputFile.open: "${path}" is not a regular file`);
    }
    const output = new OutputFile(path);
    if (options.completed) output.complete();
    return output;
  }

  /** True once {@linkcode OutputFile.complete} was called: the file will not grow anymore. */
  get completed(): boolean {
    return this.#completed;
  }

  /** Number of open readers. */
  get readerCount(): number {
    return this.#readers.size;
  }

  /** Current size of the file in bytes. */
  async size(): Promise<number> {
    return (await Deno.stat(this.path)).size;
  }

  /**
   * Marks that no byte will ever be appended again. Call it only after every
   * writer of the job is gone (the job's processes exited), since readers
   * report end of stream at the first empty read that follows. Waiting
   * readers wake, drain what is left and then see end of stream. Idempotent.
   */
  complete(): void {
    if (this.#completed) return;
    this.#completed = true;
    this.#notifier.wakeAll();
  }

  /**
   * Creates a reader at `options.offset` (default 0). An offset beyond the
   * current end is allowed: the reader waits until the file reaches it, or
   * reports end of stream if the file completes shorter.
   *
   * @throws {RangeError} when the offset or chunk size is not a safe integer
   *   in range.
   * @throws {Error} when this file was closed.
   */
  reader(options: OutputReaderOptions = {}): OutputReader {
    if (this.#closed) {
      throw new Error(`OutputFile "${this.path}" is closed; cannot create a reader`);
    }
    const offset = checkByteCount("OutputFile.reader: offset", options.offset ?? 0, { min: 0 });
    const chunkSize = checkByteCount(
      "OutputFile.reader: chunkSize",
      options.chunkSize ?? DEFAULT_CHUNK_SIZE,
      { min: 1 },
    );
    const reader = new OutputReader(readerToken, {
      host: this.#host,
      offset,
      end: options.snapshot ? Deno.statSync(this.path).size : null,
      chunkSize,
      signal: options.signal ?? null,
    });
    // A reader whose signal had already aborted closed itself at once.
    if (!reader.closed) this.#readers.add(reader);
    if (this.#readers.size >= 2) this.#tail.activate(true);
    return reader;
  }

  /**
   * Closes every open reader (their pending reads resolve `null`) and stops
   * watching the file. The file itself stays; see {@linkcode OutputFile.remove}.
   * Idempotent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const reader of [...this.#readers]) reader.close();
    this.#tail.close();
    await this.#notifier.close();
  }

  /** Closes (see {@linkcode OutputFile.close}) and deletes the file; a missing file is fine. */
  async remove(): Promise<void> {
    await this.close();
    try {
      await Deno.remove(this.path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
}
