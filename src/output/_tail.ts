/**
 * The newest bytes of a growing output file, read once and shared by every
 * reader that follows the file live.
 *
 * Without it each follower reads the file itself on every change: with a
 * thousand followers of a job printing a line every 10 ms that is some
 * 300,000 file reads a second (a read with the bytes, an empty one, the
 * re-read after registering to wait), each a hop to Deno's blocking thread
 * pool, and the server falls seconds behind. With it a change costs one or
 * two reads in all, and each follower takes a view of the shared bytes.
 *
 * @module
 */

/** What {@linkcode SharedTail.at} found at an offset. */
export type TailLookup =
  /** The bytes from the offset on (a view; never changed afterwards). */
  | Uint8Array
  /** The offset lies before what the tail holds: read the file. */
  | "behind"
  /** Nothing at the offset yet (or the tail has not been read): refresh, wait. */
  | "ahead";

/** Options of {@linkcode SharedTail}; the defaults are for production. */
export interface SharedTailOptions {
  /** Bytes kept; older ones are dropped first. */
  keepBytes?: number;
  /** Bytes read per read call. */
  readBytes?: number;
}

interface Piece {
  offset: number;
  data: Uint8Array;
}

/**
 * A window onto the end of an append-only file. The window starts where
 * the file ended at the first {@linkcode SharedTail.refresh} and moves
 * forward as the file grows, keeping at most `keepBytes`. Off until
 * {@linkcode SharedTail.activate}.
 */
export class SharedTail {
  readonly #path: string;
  readonly #keepBytes: number;
  readonly #readBytes: number;
  #handle: Deno.FsFile | null = null;
  /** Offset of the first byte held, or -1 before the first refresh. */
  #start = -1;
  /** Offset just past the last byte held. */
  #end = -1;
  #pieces: Piece[] = [];
  #running: Promise<void> | null = null;
  #queued: Promise<void> | null = null;
  #closed = false;
  /** A read failed: every reader reads the file itself from now on. */
  #broken = false;
  /**
   * Whether readers use the tail. One follower gains nothing from it (it
   * would only cost a second handle), so the file turns it on from two.
   */
  #active = false;

  /** A tail of the file at `path`; nothing is opened before the first refresh. */
  constructor(path: string, options: SharedTailOptions = {}) {
    this.#path = path;
    this.#keepBytes = options.keepBytes ?? 256 * 1024;
    this.#readBytes = options.readBytes ?? 64 * 1024;
  }

  /** Up to `maxBytes` bytes at `offset`, or where the offset lies instead. */
  at(offset: number, maxBytes: number): TailLookup {
    if (this.#broken || !this.#active) return "behind";
    if (this.#start < 0 || offset >= this.#end) return "ahead";
    if (offset < this.#start) return "behind";
    // Followers ask for the newest bytes: search from the end.
    for (let i = this.#pieces.length - 1; i >= 0; i--) {
      const piece = this.#pieces[i]!;
      if (offset >= piece.offset) {
        const from = offset - piece.offset;
        return piece.data.subarray(from, from + Math.min(maxBytes, piece.data.length - from));
      }
    }
    return "behind";
  }

  /**
   * Reads what the file gained. The read starts after this call (a caller
   * that just registered to wait relies on that to miss no write); callers
   * that come while one runs share the next one.
   */
  refresh(): Promise<void> {
    if (this.#running === null) {
      this.#running = this.#read().finally(() => this.#running = null);
      return this.#running;
    }
    this.#queued ??= this.#running.then(() => {
      this.#queued = null;
      return this.refresh();
    });
    return this.#queued;
  }

  /** Whether readers use the tail (see {@linkcode SharedTail.activate}). */
  get active(): boolean {
    return this.#active && !this.#broken;
  }

  /**
   * Turns the tail on or off. Off, {@linkcode SharedTail.at} answers
   * "behind" (read the file yourself) and the bytes and handle are dropped.
   */
  activate(on: boolean): void {
    if (on === this.#active) return;
    this.#active = on;
    if (!on) this.reset();
  }

  /** Drops the bytes and the file handle; a later refresh starts afresh. */
  reset(): void {
    this.#pieces = [];
    this.#start = -1;
    this.#end = -1;
    const handle = this.#handle;
    this.#handle = null;
    // A read may be running on the handle; it notices the reset and stops.
    if (this.#running === null) handle?.close();
    else void this.#running.finally(() => handle?.close());
  }

  /** Like reset, and refreshes do nothing from now on. */
  close(): void {
    this.#closed = true;
    this.reset();
  }

  async #read(): Promise<void> {
    try {
      await this.#readNew();
    } catch {
      // E.g. the file was removed. Readers fall back to their own reads,
      // which report the problem to whoever reads.
      this.#broken = true;
      this.reset();
    }
  }

  async #readNew(): Promise<void> {
    if (this.#closed || this.#broken || !this.#active) return;
    let handle = this.#handle;
    if (handle === null) {
      handle = await Deno.open(this.#path, { read: true });
      if (this.#closed || this.#handle !== null) {
        handle.close();
        return;
      }
      this.#handle = handle;
      this.#start = this.#end = await handle.seek(0, Deno.SeekMode.End);
    }
    // At most keepBytes a refresh: a reader further behind reads the file.
    for (let total = 0; total < this.#keepBytes;) {
      const buffer = new Uint8Array(this.#readBytes);
      const n = await handle.read(buffer);
      if (this.#handle !== handle) return; // reset meanwhile
      if (n === null || n === 0) return;
      // A short read would pin the whole buffer in the window.
      const data = n * 2 < buffer.length ? buffer.slice(0, n) : buffer.subarray(0, n);
      this.#pieces.push({ offset: this.#end, data });
      this.#end += n;
      total += n;
      this.#trim();
      if (n < buffer.length) return;
    }
  }

  #trim(): void {
    let held = this.#end - this.#start;
    while (held > this.#keepBytes && this.#pieces.length > 1) {
      const first = this.#pieces.shift()!;
      held -= first.data.length;
      this.#start = first.offset + first.data.length;
    }
  }
}
