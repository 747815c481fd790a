/**
 * Job events: one per state change of a job (started, exited, OOM-killed,
 * stopped, timed out, failed), each with a sequence number, kept in
 * `<data dir>/events.jsonl` so a client that reconnects, even to a server
 * restarted meanwhile, resumes after the last number it saw without
 * missing or repeating an event, for as long as the event is retained (the
 * newest {@link DEFAULT_KEEP_EVENTS}).
 *
 * @module
 */

/** What happened to a job. */
export type JobEventType = "started" | "exited" | "oom-killed" | "stopped" | "timed-out" | "failed";

/** One event. */
export interface JobEvent {
  /** 1, 2, 3, ... in the order the server recorded them; never reused. */
  seq: number;
  time: Date;
  /** The job. */
  id: string;
  owner: string;
  type: JobEventType;
  /** `exited`: the main process's exit code, when it exited by itself. */
  exitCode: number | null;
  /** `exited`, `stopped`, `timed-out`: the signal that ended the main process, if one did. */
  signal: string | null;
  /** `failed`: why. */
  error: string | null;
  labels: Record<string, string>;
}

/** What a caller records; the log numbers and stamps it. */
export type NewJobEvent = Omit<JobEvent, "seq" | "time">;

/** Events retained by default. */
export const DEFAULT_KEEP_EVENTS = 10_000;

/** A watcher asked to resume after an event the log no longer holds (or never held). */
export class JobEventsGoneError extends Error {
  /** @param message says which numbers are retained */
  constructor(message: string) {
    super(message);
    this.name = "JobEventsGoneError";
  }
}

const encoder = new TextEncoder();

function toLine(event: JobEvent): string {
  return JSON.stringify({ ...event, time: event.time.toISOString() }) + "\n";
}

function fromLine(line: string): JobEvent | null {
  try {
    const raw = JSON.parse(line) as JobEvent & { time: string };
    if (!Number.isSafeInteger(raw.seq) || typeof raw.id !== "string") return null;
    return { ...raw, time: new Date(raw.time) };
  } catch {
    // A line cut short by a crash mid-write.
    return null;
  }
}

/**
 * The event log of one job manager: appends, retains, replays and
 * notifies. Appends are synchronous, so events are numbered and seen by
 * watchers in the order they were recorded.
 */
export class JobEventLog {
  readonly #path: string;
  readonly #keep: number;
  #events: JobEvent[];
  #nextSeq: number;
  #file: Deno.FsFile;
  #linesInFile: number;
  readonly #listeners = new Set<(event: JobEvent) => void>();
  #closed = false;

  private constructor(path: string, state: { keep: number; events: JobEvent[]; lines: number }) {
    this.#path = path;
    this.#keep = state.keep;
    this.#events = state.events;
    this.#nextSeq = (state.events.at(-1)?.seq ?? 0) + 1;
    this.#linesInFile = state.lines;
    this.#file = Deno.openSync(path, { create: true, append: true, mode: 0o600 });
  }

  /** Opens (creating) the log at `path`, reading back what it retains. */
  static open(path: string, options: { keep?: number } = {}): JobEventLog {
    const keep = options.keep ?? DEFAULT_KEEP_EVENTS;
    let text = "";
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const lines = text.split("\n").filter((line) => line !== "");
    const events = lines.map(fromLine).filter((e): e is JobEvent => e !== null);
    return new JobEventLog(path, { keep, events: events.slice(-keep), lines: lines.length });
  }

  /** The number of the newest event (0 when there is none yet). */
  get lastSeq(): number {
    return this.#nextSeq - 1;
  }

  /** Jobs whose `started` event is retained but no event that ends them. */
  unfinished(): Set<string> {
    const ids = new Set<string>();
    for (const e of this.#events) {
      if (e.type === "started") ids.add(e.id);
      else if (e.type !== "oom-killed") ids.delete(e.id);
    }
    return ids;
  }

  /** Records an event: numbers it, appends it to the file, tells the watchers. */
  record(event: NewJobEvent, time: Date = new Date()): JobEvent {
    if (this.#closed) throw new Error("Cannot record a job event: the event log is closed");
    const full: JobEvent = { seq: this.#nextSeq++, time, ...event };
    const bytes = encoder.encode(toLine(full));
    for (let written = 0; written < bytes.length;) {
      written += this.#file.writeSync(bytes.subarray(written));
    }
    this.#linesInFile++;
    this.#events.push(full);
    if (this.#events.length > this.#keep) this.#events.splice(0, this.#events.length - this.#keep);
    // The file is rewritten with only what is retained once it holds twice that.
    if (this.#linesInFile > 2 * this.#keep) this.#compact();
    for (const listener of this.#listeners) listener(full);
    return full;
  }

  /**
   * Replays the retained events after `since` (when given) to `listener`,
   * then every new one as it is recorded, until the returned function is
   * called. Nothing is missed or repeated between the replay and the live
   * events.
   *
   * @throws {JobEventsGoneError} when events after `since` are no longer
   *   retained, or `since` is beyond the newest event.
   */
  watch(listener: (event: JobEvent) => void, options: { since?: number } = {}): () => void {
    const since = options.since;
    if (since !== undefined) {
      const oldest = this.#events[0]?.seq ?? this.#nextSeq;
      if (since < oldest - 1) {
        throw new JobEventsGoneError(
          `Cannot replay events after ${since}: the oldest retained is ${oldest}`,
        );
      }
      if (since > this.lastSeq) {
        throw new JobEventsGoneError(
          `Cannot replay events after ${since}: the newest is ${this.lastSeq}`,
        );
      }
      for (const event of this.#events) if (event.seq > since) listener(event);
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Closes the file; watchers get nothing more. */
  close(): void {
    this.#listeners.clear();
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
  }

  #compact(): void {
    const temp = `${this.#path}.tmp`;
    Deno.writeTextFileSync(temp, this.#events.map(toLine).join(""), { mode: 0o600 });
    Deno.renameSync(temp, this.#path);
    this.#file.close();
    this.#file = Deno.openSync(this.#path, { append: true });
    this.#linesInFile = this.#events.length;
  }
}
