/**
 * A small pool of executors that have already started and prepared the
 * part of the sandbox every job shares (see src/executor/protocol.ts), so
 * that a start only hands over the job: no Deno start-up, no namespace or
 * root building on the start's path. Refilled in the background, one
 * executor at a time; size 0 disables it.
 *
 * Idle executors count as jobs for `--max-jobs`: the pool never grows past
 * what the limit leaves free.
 *
 * @module
 */
import { type LaunchOptions, type PreparedExecutor, prepareExecutor } from "../executor/launch.ts";
import type { PrepareConfig } from "../executor/protocol.ts";

/** Options of {@link ExecutorPool}. */
export interface PoolOptions {
  /** How many prepared executors to keep waiting. */
  size: number;
  /** What they prepare. */
  prepare: PrepareConfig;
  /** How they are started. */
  launch: LaunchOptions;
  /** How many more executors may exist now (running jobs count against the limit). */
  room: () => number;
  /** Where a pooled executor's unexpected death is reported. */
  log: (message: string) => void;
}

/** After this many idle executors died in a row, refilling pauses for a while. */
const MAX_DEATHS_IN_A_ROW = 3;
const REFILL_PAUSE_MS = 10_000;

/** Prepared executors waiting for jobs; see the module doc. */
export class ExecutorPool {
  readonly #options: PoolOptions;
  readonly #idle = new Set<PreparedExecutor>();
  #refilling: Promise<void> | null = null;
  #deathsInARow = 0;
  #pausedUntil = 0;
  #closed = false;

  /** A pool; it fills itself in the background. */
  constructor(options: PoolOptions) {
    this.#options = options;
    this.refill();
  }

  /** Idle executors now. */
  get idle(): number {
    return this.#idle.size;
  }

  /** The PIDs of the idle executors (for memory figures). */
  idlePids(): number[] {
    return [...this.#idle].map((e) => e.identity.pid);
  }

  /** A prepared executor: an idle one if there is one, else a fresh one. Refills behind it. */
  take(): PreparedExecutor {
    const [first] = this.#idle;
    let executor: PreparedExecutor;
    if (first !== undefined) {
      this.#idle.delete(first);
      executor = first;
    } else {
      executor = prepareExecutor(this.#options.prepare, this.#options.launch);
    }
    // After this start has gone on its way: a spawn takes milliseconds.
    setTimeout(() => this.refill(), 0);
    return executor;
  }

  /** Starts filling the pool up to its size (or the room left), unless already filling. */
  refill(): void {
    if (this.#refilling !== null || this.#closed) return;
    this.#refilling = this.#fill().finally(() => (this.#refilling = null));
  }

  async #fill(): Promise<void> {
    while (
      !this.#closed && this.#idle.size < this.#options.size &&
      this.#options.room() > this.#idle.size && Date.now() >= this.#pausedUntil
    ) {
      const executor = prepareExecutor(this.#options.prepare, this.#options.launch);
      this.#idle.add(executor);
      void executor.gone.then((status) => {
        if (!this.#idle.delete(executor)) return; // it had been taken: its job's business
        if (this.#closed) return;
        this.#deathsInARow++;
        this.#options.log(
          `a pooled executor (pid ${executor.identity.pid}) ended while idle ` +
            `(${status.signal ?? `exit code ${status.code}`}): ${
              executor.earlyOutput() || "no output"
            }`,
        );
        if (this.#deathsInARow >= MAX_DEATHS_IN_A_ROW) {
          this.#pausedUntil = Date.now() + REFILL_PAUSE_MS;
          this.#options.log(`pool: ${MAX_DEATHS_IN_A_ROW} idle executors died in a row; pausing`);
          const timer = setTimeout(() => this.refill(), REFILL_PAUSE_MS);
          Deno.unrefTimer(timer);
        }
        this.refill();
      });
      // One at a time: a burst of Deno start-ups would slow the jobs that run.
      await Promise.race([executor.gone, new Promise((r) => setTimeout(r, 50))]);
      if (this.#idle.has(executor)) this.#deathsInARow = 0;
    }
  }

  /** Ends every idle executor; later takes still work (fresh executors), refills stop. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#refilling;
    const idle = [...this.#idle];
    this.#idle.clear();
    await Promise.all(idle.map((e) => e.retire()));
  }
}
