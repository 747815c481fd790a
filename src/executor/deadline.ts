/**
 * A deadline that only moves earlier: `atMost(ms)` arms it, or brings it
 * forward, never back. It fires its callback once. Any finite delay works:
 * setTimeout alone fires at once for delays above 2^31 - 1 ms (about 24.8
 * days), so long delays are waited out in steps.
 *
 * Used for stops: the executor's SIGKILL after a grace period, and the
 * server's backstop behind it.
 *
 * @module
 */

/** The longest single setTimeout the runtime honours. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * @example
 * ```ts
 * const deadline = new Deadline(() => console.log("grace is over"));
 * deadline.atMost(10_000);
 * deadline.atMost(2_000); // earlier: fires after 2 s
 * deadline.atMost(60_000); // later: ignored
 * ```
 */
export class Deadline {
  readonly #fire: () => void;
  #at = Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #done = false;

  /** `fire` runs once, when the deadline passes. */
  constructor(fire: () => void) {
    this.#fire = fire;
  }

  /** Milliseconds until the deadline; Infinity when unarmed. */
  get remainingMs(): number {
    return this.#at === Infinity ? Infinity : Math.max(0, this.#at - performance.now());
  }

  /** Arms the deadline `ms` from now unless it is already earlier. */
  atMost(ms: number): void {
    if (this.#done) return;
    if (!(ms >= 0)) throw new RangeError(`A deadline must be 0 ms or more away, got ${ms}`);
    const at = performance.now() + ms;
    if (at >= this.#at) return;
    this.#at = at;
    this.#schedule();
  }

  /** Disarms it for good. */
  cancel(): void {
    this.#done = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    const left = this.#at - performance.now();
    if (left <= 0) {
      this.#done = true;
      this.#fire();
      return;
    }
    this.#timer = setTimeout(() => this.#schedule(), Math.min(left, MAX_TIMEOUT_MS));
  }
}
