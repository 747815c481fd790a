/**
 * The job uids in use: each running job gets one of its own from the
 * dynamic range, handed out round-robin so a freed uid is reused as late as
 * possible.
 *
 * @module
 */
import type { IdRange } from "./identity.ts";

/** Hands out unique ids from one range. */
export class UidPool {
  readonly #range: IdRange;
  readonly #used = new Set<number>();
  #next: number;

  /** A pool over `range` (inclusive). */
  constructor(range: IdRange) {
    this.#range = range;
    this.#next = range.first;
  }

  /** How many ids are handed out now. */
  get inUse(): number {
    return this.#used.size;
  }

  /** A free id, now in use; null when every id of the range is. */
  acquire(): number | null {
    const size = this.#range.last - this.#range.first + 1;
    if (this.#used.size >= size) return null;
    for (let i = 0; i < size; i++) {
      const id = this.#next;
      this.#next = id >= this.#range.last ? this.#range.first : id + 1;
      if (!this.#used.has(id)) {
        this.#used.add(id);
        return id;
      }
    }
    return null;
  }

  /** Marks `id` in use (a job adopted after a restart holds it); ids outside the range are ignored. */
  claim(id: number): void {
    if (id >= this.#range.first && id <= this.#range.last) this.#used.add(id);
  }

  /** Returns `id` to the pool. */
  release(id: number): void {
    this.#used.delete(id);
  }
}
