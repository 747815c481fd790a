/**
 * One job: its state machine, stop with a grace period, status, output
 * readers, and its record on disk. Jobs are made by the {@link JobManager}
 * (see ./manager.ts), fresh or from a record after a restart.
 *
 * @module
 */
import type { CgroupStats, JobCgroup, ResourceLimits } from "../cgroup/mod.ts";
import { Deadline } from "../executor/deadline.ts";
import type { ExecutorProcess } from "../executor/launch.ts";
import type { OutputFile, OutputReader } from "../output/mod.ts";
import type { JobRecord } from "./_record.ts";
import type { ResolvedSpec } from "./spec.ts";
import { JobArgumentError, JobPreconditionError } from "./errors.ts";
import { parseJobSignal } from "./signals.ts";
import { InputChannel } from "../executor/input_channel.ts";
import { JobInputWriter } from "./input.ts";

/**
 * Where a job is in its life:
 * - `running`: its main process has not ended yet;
 * - `exited`: the main process ended by itself (see exitCode / signal);
 * - `stopped`: it ended after {@link Job.stop} was called;
 * - `failed`: supervision was lost (the executor died unexpectedly), so
 *   how the main process ended is unknown beyond `signal`, if set.
 */
export type JobState = "running" | "exited" | "stopped" | "failed";

/** Resource usage of a job, from its cgroup; null where the kernel has no figure. */
export interface ResourceUsage {
  /** CPU time used, nanoseconds. */
  cpuNs: number | null;
  /** Memory in use now (0 once ended), bytes. */
  memoryCurrentBytes: number | null;
  /** Highest memory use, bytes. */
  memoryPeakBytes: number | null;
  /** Processes and threads alive now. */
  tasks: number | null;
  /** Bytes read from block devices (not from the page cache). */
  ioReadBytes: number | null;
  /** Bytes written to block devices. */
  ioWriteBytes: number | null;
}

/** What became of a job's output. */
export interface OutputStatus {
  /** Bytes stored (null when unknown, e.g. the file is gone). */
  bytes: number | null;
  /** The cap in force, bytes. */
  maxBytes: number;
  /** Output beyond the cap was discarded. */
  truncated: boolean;
  /** Why output could not be stored (e.g. the disk was full), or null. */
  error: string | null;
}

/** A snapshot of a job's status. */
export interface JobStatus {
  id: string;
  /** Who started the job (the client certificate's CN on the server). */
  owner: string;
  /** The user id the job's processes run as. */
  uid: number;
  /** The group id the job's processes run as (they have no supplementary groups). */
  gid: number;
  command: string;
  args: string[];
  state: JobState;
  /** Exit code of the main process, when it exited normally. */
  exitCode: number | null;
  /** Signal that ended the main process (e.g. `SIGKILL`), when one did. */
  signal: string | null;
  /** True when the kernel's OOM killer killed a process of the job. */
  oomKilled: boolean;
  startedAt: Date;
  endedAt: Date | null;
  limits: ResourceLimits;
  usage: ResourceUsage;
  output: OutputStatus;
  /** Why the job failed, for state `failed`. */
  error: string | null;
  /** The job's deadline, ms after its start, or null without one. */
  timeoutMs: number | null;
  /** The deadline stopped the job (its state is then `stopped`). */
  timedOut: boolean;
  /** The labels it was started with. */
  labels: Record<string, string>;
  /** Its stdin is open for {@link Job.attachInput}. */
  stdin: boolean;
  /** It has a terminal of its own. */
  tty: boolean;
}

/** Options of {@link Job.signal}. */
export interface SignalOptions {
  /** Every process of the job, not only its main process. Default false. */
  all?: boolean;
}

/** Options of {@link Job.stop}. */
export interface StopOptions {
  /**
   * Milliseconds between SIGTERM to every process of the job and SIGKILL of
   * the whole job. Default {@link DEFAULT_GRACE_MS}. Any finite value works.
   */
  graceMs?: number;
}

/** Default grace period of {@link Job.stop}: 10 s. */
export const DEFAULT_GRACE_MS = 10_000;

/** How long after the grace the server SIGKILLs an executor that did not end the job itself. */
const BACKSTOP_MS = 5_000;

/** Options of {@link Job.output}. */
export interface OutputOptions {
  /** Byte offset to start at; default 0, the first byte. */
  offset?: number;
  /** Aborting it cancels pending reads and closes the reader. */
  signal?: AbortSignal;
  /**
   * False: only the bytes written so far (the reader ends at the output's
   * size when it is made, even while the job runs). True, the default:
   * follow the output until the job has ended.
   */
  follow?: boolean;
}

/** What a running {@link Job} is made of; built by the manager. */
export interface RunningParts {
  executor: ExecutorProcess;
  cgroup: JobCgroup;
  output: OutputFile;
}

/** What a {@link Job} needs; built by the manager. */
export interface JobParts {
  /** The record, as last saved (it must already be on disk). */
  record: JobRecord;
  /** Saves a changed record (the manager serializes writes per job). */
  save: (record: JobRecord) => Promise<void>;
  /** The output file (completed for an ended job). */
  output: OutputFile;
  /** The executor and cgroup of a running job; null for an ended one. */
  running: Omit<RunningParts, "output"> | null;
  /** The input FIFO of an interactive job. */
  inputPath?: string;
}

/** A job's usage figures from its cgroup's stats (all null without stats). */
export function usageOf(stats: CgroupStats | null): ResourceUsage {
  return {
    cpuNs: stats?.cpuUsageNs ?? null,
    memoryCurrentBytes: stats?.memoryCurrentBytes ?? null,
    memoryPeakBytes: stats?.memoryPeakBytes ?? null,
    tasks: stats?.pidsCurrent ?? null,
    ioReadBytes: stats?.ioReadBytes ?? null,
    ioWriteBytes: stats?.ioWriteBytes ?? null,
  };
}

const NO_USAGE: ResourceUsage = {
  cpuNs: null,
  memoryCurrentBytes: null,
  memoryPeakBytes: null,
  tasks: null,
  ioReadBytes: null,
  ioWriteBytes: null,
};

/**
 * A running or ended job. Safe to use from many concurrent callers: stop()
 * calls share one shutdown (the earliest deadline wins), status() never
 * blocks on a stop, and readers are independent of each other.
 */
export class Job {
  /** The job's id (a UUID). */
  readonly id: string;
  /** The job's owner. */
  readonly owner: string;
  /** The validated spec it runs. */
  readonly spec: ResolvedSpec;
  readonly #record: JobRecord;
  readonly #save: (record: JobRecord) => Promise<void>;
  readonly #output: OutputFile;
  readonly #running: Omit<RunningParts, "output"> | null;
  readonly #ended: Promise<void>;
  #finalStats: CgroupStats | null = null;
  #backstop: Deadline | undefined;
  #deadline: Deadline | undefined;
  #released = false;
  readonly #inputPath: string | null;
  #writer: JobInputWriter | null = null;
  #killing: Promise<void> | undefined;
  #forceKilled = false;

  /** Made by the manager (see {@link JobParts}). */
  constructor(parts: JobParts) {
    this.#record = parts.record;
    this.id = parts.record.id;
    this.owner = parts.record.owner;
    this.spec = parts.record.spec;
    this.#save = parts.save;
    this.#output = parts.output;
    this.#running = parts.running;
    this.#inputPath = parts.inputPath ?? null;
    this.#ended = this.#running === null ? Promise.resolve() : this.#supervise(this.#running);
    const timeoutMs = this.#record.timeoutMs ?? null;
    if (this.#running !== null && timeoutMs !== null) {
      // From the recorded start, so a server that adopts the job keeps its deadline.
      const startedAt = Date.parse(this.#record.startedAt ?? this.#record.createdAt);
      this.#deadline = new Deadline(() => this.#timeOut());
      this.#deadline.atMost(Math.max(0, startedAt + timeoutMs - Date.now()));
    }
  }

  #timeOut(): void {
    if (this.state !== "running") return;
    this.#record.timedOut = true;
    // Saved now: a server that restarts during the grace still knows why the job ends.
    this.#save(this.#record).catch(() => {});
    this.stop().catch((err: unknown) => {
      console.error(`jobworker: cannot stop job ${this.id} at its deadline: ${err}`);
    });
  }

  /**
   * The job's cgroup directories (one on v2, one per hierarchy on v1);
   * they are removed once the job has ended. Empty for an ended job.
   */
  get cgroupPaths(): readonly string[] {
    return this.#running?.cgroup.paths ?? [];
  }

  /** PID of the job's executor while the job runs (for memory figures); null once it ended. */
  get executorPid(): number | null {
    return this.state === "running" ? this.#running?.executor.identity.pid ?? null : null;
  }

  /** The state now, without reading usage figures. */
  get state(): JobState {
    return this.#record.state === "starting" ? "running" : this.#record.state;
  }

  /** When the job ended, or null while it runs. */
  get endedAt(): Date | null {
    return this.#record.endedAt === null ? null : new Date(this.#record.endedAt);
  }

  /** The user and group the job runs as, and whether they came from the dynamic range. */
  get identity(): { uid: number; gid: number; dynamic: boolean } {
    return { ...this.#record.identity, dynamic: this.#record.dynamicIdentity };
  }

  /**
   * The job's status. For a running job, usage is read from its cgroup now;
   * for an ended job it is the final figures.
   */
  async status(): Promise<JobStatus> {
    const r = this.#record;
    let usage = r.usage ?? NO_USAGE;
    let outputBytes = r.output.bytes;
    let truncated = r.output.truncated;
    let outputError = r.output.error;
    if (this.state === "running" && this.#running !== null) {
      const stats = await this.#running.cgroup.stats().catch(() => null);
      // The job may have ended (and its cgroup gone) while we read.
      usage = this.state === "running" ? usageOf(stats) : r.usage ?? NO_USAGE;
      const live = this.#running.executor.outputState;
      if (live !== null && this.state === "running") {
        truncated = live.truncated;
        outputError = live.error;
      }
      if (this.state === "running") outputBytes = await this.#output.size().catch(() => null);
    }
    return {
      id: this.id,
      owner: this.owner,
      uid: r.identity.uid,
      gid: r.identity.gid,
      command: this.spec.command,
      args: [...this.spec.args],
      state: this.state,
      exitCode: r.exitCode,
      signal: r.signal,
      oomKilled: r.oomKilled || (this.state === "running" && await this.#oomKilledNow()),
      startedAt: new Date(r.startedAt ?? r.createdAt),
      endedAt: this.endedAt,
      limits: { ...this.spec.limits },
      usage,
      output: { bytes: outputBytes, maxBytes: r.maxOutputBytes, truncated, error: outputError },
      error: r.error,
      timeoutMs: r.timeoutMs ?? null,
      timedOut: r.timedOut ?? false,
      labels: { ...(this.spec.labels ?? {}) },
      stdin: this.spec.stdin ?? false,
      tty: (this.spec.tty ?? null) !== null,
    };
  }

  async #oomKilledNow(): Promise<boolean> {
    const stats = await this.#running?.cgroup.stats().catch(() => null);
    return (stats?.oomKills ?? 0) > 0;
  }

  /** Resolves with the final status once the job has ended. */
  async wait(): Promise<JobStatus> {
    await this.#ended;
    return this.status();
  }

  /**
   * Stops the job: SIGTERM to every process of the job, then, if it is
   * still running after the grace period, SIGKILL of the whole job.
   * Resolves with the final status once the job has ended. Stopping an
   * ended job just returns its status. The executor keeps the deadline, so
   * a stop completes even if the server goes away meanwhile.
   *
   * @example
   * ```ts
   * const status = await job.stop({ graceMs: 2000 });
   * status.state; // "stopped"
   * ```
   */
  async stop(options: StopOptions = {}): Promise<JobStatus> {
    const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    // Any finite grace works: deadlines beyond setTimeout's range are waited out in steps.
    if (typeof graceMs !== "number" || !Number.isFinite(graceMs) || graceMs < 0) {
      throw new JobArgumentError(
        `Cannot stop job: the grace period must be 0 or more and finite, got ${graceMs / 1000} s`,
      );
    }
    const running = this.#running;
    if (this.state === "running" && running !== null) {
      this.#record.stopRequested = true;
      running.executor.stop(graceMs);
      this.#backstop ??= new Deadline(() => this.#forceKill(running));
      this.#backstop.atMost(graceMs + BACKSTOP_MS);
    }
    return await this.wait();
  }

  /**
   * Sends a signal to the job's main process, or with `all` to every
   * process of the job, and resolves with its status. Accepts what
   * {@link parseJobSignal} does (`HUP`, `sigusr1`, `10`). The executor
   * delivers it from inside the job's PID namespace, where the main process
   * cannot have been replaced by another under the same PID.
   *
   * @throws {JobArgumentError} for a signal that is not accepted
   * @throws {JobPreconditionError} when the job has ended
   * @example
   * ```ts
   * await job.signal("HUP"); // e.g. a daemon rereads its configuration
   * await job.signal("STOP", { all: true }); // pauses every process of the job
   * ```
   */
  async signal(signal: string, options: SignalOptions = {}): Promise<JobStatus> {
    const parsed = parseJobSignal(signal);
    const running = this.#running;
    if (this.state !== "running" || running === null) {
      throw new JobPreconditionError(
        `Cannot signal job ${this.id}: it has ended (${this.state})`,
      );
    }
    running.executor.signal(parsed.number, { all: options.all ?? false });
    return await this.status();
  }

  /**
   * The writer of an interactive job's input (see ./input.ts). One writer
   * at a time: the one handed out before is detached. Readers of the
   * output are not affected; what a terminal job prints is in its output.
   *
   * @throws {JobPreconditionError} for a job started without `stdin` or
   *   `tty`, or one that has ended
   * @example
   * ```ts
   * const input = job.attachInput();
   * await input.write(new TextEncoder().encode("print(6*7)\n"));
   * await input.end();
   * ```
   */
  attachInput(): JobInputWriter {
    if (!this.spec.stdin || this.#inputPath === null) {
      throw new JobPreconditionError(
        `Cannot attach to job ${this.id}: it was started without stdin or a terminal`,
      );
    }
    const channel = this.state === "running" ? InputChannel.open(this.#inputPath) : null;
    if (channel === null) {
      throw new JobPreconditionError(`Cannot attach to job ${this.id}: it has ended`);
    }
    this.#writer?.detach("another client attached");
    const writer = new JobInputWriter(this.id, channel);
    this.#writer = writer;
    return writer;
  }

  /**
   * A reader of the job's output (stdout and stderr interleaved as
   * written), from `offset` (default 0). It follows the job while it runs
   * and ends once the job has ended and every byte was read. Close it (or
   * abort its signal) when done.
   */
  output(options: OutputOptions = {}): OutputReader {
    const offset = options.offset ?? 0;
    if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) {
      throw new JobArgumentError(
        `Cannot read output: offset must be from 0 to ${Number.MAX_SAFE_INTEGER}, got ${offset}`,
      );
    }
    return this.#output.reader({
      offset,
      signal: options.signal,
      snapshot: options.follow === false,
    });
  }

  /**
   * Lets go of a running job that the next manager will adopt: its
   * deadline and its end are no longer this manager's to keep (the next one
   * re-arms the deadline from the record, and records the end).
   */
  release(): void {
    this.#released = true;
    this.#deadline?.cancel();
  }

  /** Closes every reader of the job's output (the job is being removed). */
  async closeOutput(): Promise<void> {
    await this.#output.close();
  }

  #forceKill(running: Omit<RunningParts, "output">): void {
    this.#forceKilled = true;
    running.executor.kill();
    // The executor's death takes its PID namespace along; a cgroup kill also
    // catches anything that might be mid-fork.
    this.#killing = running.cgroup.kill().catch(() => {});
  }

  async #supervise(running: Omit<RunningParts, "output">): Promise<void> {
    const { executor, cgroup } = running;
    const [exitReport] = await Promise.all([executor.exitReport, executor.ended]);
    this.#backstop?.cancel();
    this.#deadline?.cancel();
    this.#writer?.detach("the job has ended");
    // Released to the next manager, which records the end itself.
    if (this.#released) return;
    await this.#killing;
    if (exitReport === null) {
      // Without the executor, nothing guarantees the job's processes died.
      await cgroup.kill().catch(() => {});
    }
    const stats = await cgroup.stats().catch(() => null);
    // No process is left; what the cgroup still counts is page cache (e.g. of
    // the output file), which is no longer the job's.
    this.#finalStats = stats && { ...stats, memoryCurrentBytes: 0, pidsCurrent: 0 };
    let cleanupError: string | null = null;
    await cgroup.destroy().catch((err: unknown) => {
      cleanupError = `cannot remove the job's cgroup: ${(err as Error).message}`;
    });

    const r = this.#record;
    const live = executor.outputState;
    if (live !== null) r.output = { ...r.output, truncated: live.truncated, error: live.error };
    if (exitReport !== null) {
      r.exitCode = exitReport.exitCode;
      r.signal = exitReport.signal;
      r.output.bytes = exitReport.outputBytes;
      // `terminated`: a stop reached the executor before the main process ended
      // (one that came later changed nothing). Only a server sends stops.
      r.state = exitReport.terminated ? "stopped" : "exited";
    } else if (r.stopRequested && this.#forceKilled) {
      // Killed after the grace period: SIGKILL took the whole namespace.
      r.signal = "SIGKILL";
      r.state = "stopped";
    } else {
      const signal = await executor.exitSignal();
      r.state = "failed";
      r.signal = signal;
      r.error = `the job's executor ended unexpectedly: ${
        await executor.logTail() || (signal === null ? "no report" : `killed by ${signal}`)
      }`;
    }
    if (r.output.bytes === null || exitReport === null) {
      r.output.bytes = await this.#output.size().catch(() => null);
    }
    if (cleanupError !== null && r.error === null) r.error = cleanupError;
    r.oomKilled = (this.#finalStats?.oomKills ?? 0) > 0;
    r.usage = usageOf(this.#finalStats);
    r.endedAt = new Date().toISOString();
    r.executor = null;
    // Saved before anyone learns the job ended: a crash now cannot lose the end.
    await this.#save(r).catch((err: unknown) => {
      console.error(`jobworker: cannot save the record of job ${this.id}: ${err}`);
    });
    this.#output.complete();
  }
}
