/**
 * One job: its state machine, stop with a grace period, status, and output
 * readers. Jobs are made by the {@link JobManager}; see ./manager.ts.
 *
 * @module
 */
import type { CgroupStats, JobCgroup, ResourceLimits } from "../cgroup/mod.ts";
import type { ExecutorProcess } from "../executor/launch.ts";
import type { JobIdentity } from "../executor/protocol.ts";
import type { OutputFile, OutputReader } from "../output/mod.ts";
import type { ResolvedSpec } from "./spec.ts";

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
  /** Why the job failed, for state `failed`. */
  error: string | null;
}

/** Options of {@link Job.stop}. */
export interface StopOptions {
  /**
   * Milliseconds between SIGTERM to every process of the job and SIGKILL of
   * the whole job. Default {@link DEFAULT_GRACE_MS}.
   */
  graceMs?: number;
}

/** Default grace period of {@link Job.stop}: 10 s. */
export const DEFAULT_GRACE_MS = 10_000;

/** Options of {@link Job.output}. */
export interface OutputOptions {
  /** Byte offset to start at; default 0, the first byte. */
  offset?: number;
  /** Aborting it cancels pending reads and closes the reader. */
  signal?: AbortSignal;
}

/** What a {@link Job} needs to run; built by the manager. */
export interface JobParts {
  id: string;
  owner: string;
  spec: ResolvedSpec;
  identity: JobIdentity;
  executor: ExecutorProcess;
  cgroup: JobCgroup;
  output: OutputFile;
  startedAt: Date;
}

function usageOf(stats: CgroupStats | null): ResourceUsage {
  return {
    cpuNs: stats?.cpuUsageNs ?? null,
    memoryCurrentBytes: stats?.memoryCurrentBytes ?? null,
    memoryPeakBytes: stats?.memoryPeakBytes ?? null,
    tasks: stats?.pidsCurrent ?? null,
  };
}

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
  readonly #parts: JobParts;
  readonly #ended: Promise<void>;
  #state: JobState = "running";
  #exitCode: number | null = null;
  #signal: string | null = null;
  #error: string | null = null;
  #endedAt: Date | null = null;
  #finalStats: CgroupStats | null = null;
  #stopRequested = false;
  #killTimer: ReturnType<typeof setTimeout> | undefined;
  #killDeadline = Infinity;
  #killing: Promise<void> | undefined;

  /** Made by the manager once the executor has reported `started`. */
  constructor(parts: JobParts) {
    this.id = parts.id;
    this.owner = parts.owner;
    this.spec = parts.spec;
    this.#parts = parts;
    this.#ended = this.#supervise();
  }

  /**
   * The job's cgroup directories (one on v2, one per hierarchy on v1);
   * they are removed once the job has ended.
   */
  get cgroupPaths(): readonly string[] {
    return this.#parts.cgroup.paths;
  }

  /** The state now, without reading usage figures. */
  get state(): JobState {
    return this.#state;
  }

  /**
   * The job's status. For a running job, usage is read from its cgroup now;
   * for an ended job it is the final figures.
   */
  async status(): Promise<JobStatus> {
    let stats = this.#finalStats;
    if (this.#state === "running") {
      stats = await this.#parts.cgroup.stats().catch(() => null);
      // The job may have ended (and its cgroup gone) while we read.
      if (this.#state !== "running") stats = this.#finalStats;
    }
    return {
      id: this.id,
      owner: this.owner,
      uid: this.#parts.identity.uid,
      gid: this.#parts.identity.gid,
      command: this.spec.command,
      args: [...this.spec.args],
      state: this.#state,
      exitCode: this.#exitCode,
      signal: this.#signal,
      oomKilled: (stats?.oomKills ?? 0) > 0,
      startedAt: this.#parts.startedAt,
      endedAt: this.#endedAt,
      limits: { ...this.spec.limits },
      usage: usageOf(stats),
      error: this.#error,
    };
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
   * ended job just returns its status.
   *
   * @example
   * ```ts
   * const status = await job.stop({ graceMs: 2000 });
   * status.state; // "stopped"
   * ```
   */
  async stop(options: StopOptions = {}): Promise<JobStatus> {
    const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    if (!Number.isFinite(graceMs) || graceMs < 0) {
      throw new RangeError(`Cannot stop job: grace period must be 0 ms or more, got ${graceMs}`);
    }
    if (this.#state === "running") {
      this.#stopRequested = true;
      this.#parts.executor.stop();
      const deadline = performance.now() + graceMs;
      if (deadline < this.#killDeadline) {
        this.#killDeadline = deadline;
        clearTimeout(this.#killTimer);
        this.#killTimer = setTimeout(() => this.#forceKill(), graceMs);
      }
    }
    return await this.wait();
  }

  /**
   * A reader of the job's output (stdout and stderr interleaved as
   * written), from `offset` (default 0). It follows the job while it runs
   * and ends once the job has ended and every byte was read. Close it (or
   * abort its signal) when done.
   */
  output(options: OutputOptions = {}): OutputReader {
    return this.#parts.output.reader(options);
  }

  #forceKill(): void {
    this.#killTimer = undefined;
    this.#parts.executor.kill();
    // The executor's death takes its PID namespace along; cgroup.kill (v2)
    // or a sweep (v1) also catches anything that might be mid-fork.
    this.#killing = this.#parts.cgroup.kill().catch(() => {});
  }

  async #supervise(): Promise<void> {
    const { executor, cgroup, output } = this.#parts;
    const [exitReport, executorStatus] = await Promise.all([
      executor.exitReport,
      executor.status,
    ]);
    clearTimeout(this.#killTimer);
    this.#killTimer = undefined;
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
    output.complete();

    if (exitReport !== null) {
      this.#exitCode = exitReport.exitCode;
      this.#signal = exitReport.signal;
      // A stop that arrived after the main process had ended changed nothing.
      this.#state = this.#stopRequested && exitReport.terminated ? "stopped" : "exited";
    } else if (this.#stopRequested && executorStatus.signal === "SIGKILL") {
      // Killed after the grace period: SIGKILL took the whole namespace.
      this.#signal = "SIGKILL";
      this.#state = "stopped";
    } else {
      const detail = executor.stderrTail() ||
        (executorStatus.signal
          ? `killed by ${executorStatus.signal}`
          : `exit code ${executorStatus.code}`);
      this.#signal = executorStatus.signal;
      this.#state = "failed";
      this.#error = `the job's executor ended unexpectedly: ${detail}`;
    }
    if (cleanupError !== null && this.#error === null) this.#error = cleanupError;
    this.#endedAt = new Date();
  }
}
