/**
 * Wake-up machinery for readers waiting on a growing output file.
 *
 * One {@linkcode ChangeNotifier} per output file owns at most one inotify
 * watch (`Deno.watchFs`), alive only while some reader waits. Waiters are
 * woken on every change event and re-check the file themselves, so an event
 * only needs to mean "something may have changed".
 *
 * @module
 */

/** A registration of one waiting reader. */
export interface Waiter {
  /** Resolves when the file may have changed, or when the waiter is cancelled. */
  readonly promise: Promise<void>;
  /** Unregisters the waiter and resolves its promise; idempotent. */
  cancel(): void;
}

/** Options of {@linkcode ChangeNotifier}; the defaults are for production. */
export interface ChangeNotifierOptions {
  /** Starts a watch on `path`; replaceable so tests can force the fallback. */
  watch?: (path: string) => Deno.FsWatcher;
  /**
   * Wake-up delay used only when no watch can be set up (e.g. the inotify
   * watch limit is exhausted, or the file was unlinked). Kept below the 50 ms
   * latency goal; it is a single timer per file that runs only while readers
   * wait, not a loop.
   */
  fallbackDelayMs?: number;
}

const DEFAULT_FALLBACK_DELAY_MS = 25;

/** A waiter that is already resolved; handed out once nothing can change anymore. */
export const settledWaiter: Waiter = { promise: Promise.resolve(), cancel() {} };

/**
 * Tracks waiting readers of one file and wakes them when it changes.
 *
 * The watch is set up synchronously inside {@linkcode ChangeNotifier.wait},
 * so a size check made after `wait()` returns cannot miss a write (the
 * lost-wakeup race between "check size" and "start waiting").
 */
export class ChangeNotifier {
  readonly #path: string;
  readonly #watch: (path: string) => Deno.FsWatcher;
  readonly #fallbackDelayMs: number;
  readonly #waiters = new Set<() => void>();
  readonly #pumps = new Set<Promise<void>>();
  #watcher: Deno.FsWatcher | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #watchBroken = false;
  #closed = false;

  /** Creates a notifier for the file at `path`; nothing is watched until someone waits. */
  constructor(path: string, options: ChangeNotifierOptions = {}) {
    this.#path = path;
    this.#watch = options.watch ?? ((p) => Deno.watchFs(p, { recursive: false }));
    this.#fallbackDelayMs = options.fallbackDelayMs ?? DEFAULT_FALLBACK_DELAY_MS;
  }

  /** Number of registered waiters. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Whether a watch or the fallback timer is active. */
  get watching(): boolean {
    return this.#watcher !== null || this.#timer !== null;
  }

  /**
   * Registers a waiter and makes sure the file is watched. After a close,
   * returns an already settled waiter.
   */
  wait(): Waiter {
    if (this.#closed) return settledWaiter;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => resolve = r);
    const wake = () => resolve();
    this.#waiters.add(wake);
    this.#ensureWatching();
    return {
      promise,
      cancel: () => {
        if (!this.#waiters.delete(wake)) return;
        resolve();
        if (this.#waiters.size === 0) this.#stopWatching();
      },
    };
  }

  /** Wakes every waiter and stops watching until someone waits again. */
  wakeAll(): void {
    const wakes = [...this.#waiters];
    this.#waiters.clear();
    this.#stopWatching();
    for (const wake of wakes) wake();
  }

  /** Wakes every waiter, stops watching for good and waits for the watch to wind down. */
  async close(): Promise<void> {
    this.#closed = true;
    this.wakeAll();
    await Promise.all(this.#pumps);
  }

  #ensureWatching(): void {
    if (this.watching) return;
    if (!this.#watchBroken) {
      try {
        const watcher = this.#watch(this.#path);
        this.#watcher = watcher;
        const pump = this.#pump(watcher).finally(() => this.#pumps.delete(pump));
        this.#pumps.add(pump);
        return;
      } catch {
        // No watch possible right now (e.g. ENOSPC from the inotify watch
        // limit, or the path is gone); fall through to the timer and try a
        // watch again on the next wait.
      }
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.wakeAll();
    }, this.#fallbackDelayMs);
  }

  async #pump(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) {
        // "access" is IN_CLOSE_WRITE/IN_OPEN and never means new bytes; a
        // "rescan" flag means the event queue overflowed and anything may
        // have happened.
        if (event.kind === "access" && event.flag !== "rescan") continue;
        if (this.#watcher === watcher) this.wakeAll();
      }
    } catch {
      // Handled below like an unexpected end.
    }
    if (this.#watcher === watcher) {
      // The watch ended without us closing it (e.g. the file was removed).
      // Re-watching could end the same way at once and spin, so this file
      // uses the fallback timer from now on.
      this.#watcher = null;
      this.#watchBroken = true;
      this.wakeAll();
    }
  }

  #stopWatching(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const watcher = this.#watcher;
    if (watcher === null) return;
    this.#watcher = null;
    try {
      watcher.close();
    } catch {
      // Already closed by the runtime; nothing left to free.
    }
  }
}
