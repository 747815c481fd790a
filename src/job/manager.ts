/**
 * The job manager: starts jobs, keeps them (and their records on disk),
 * finds them, admits or refuses new ones, removes old ones, and shuts them
 * all down. One per server and data directory.
 *
 * @module
 */
import { join } from "node:path";
import { freeBytes } from "../../ffi/mod.ts";
import {
  type CgroupDriver,
  detectCgroupDriver,
  type DeviceNumber,
  deviceNumberOf,
  type JobCgroup,
  wholeDiskOf,
} from "../cgroup/mod.ts";
import type { ExecutorProcess } from "../executor/launch.ts";
import { type BindMount, type ExecutorReport, PROTOCOL_VERSION } from "../executor/protocol.ts";
import { OutputFile } from "../output/mod.ts";
import {
  JobArgumentError,
  JobExhaustedError,
  JobNotFoundError,
  JobPreconditionError,
  JobSpecError,
} from "./errors.ts";
import { checkRunAs, type IdRange } from "./identity.ts";
import { Job, type JobStatus, type StopOptions } from "./job.ts";
import { type JobEvent, JobEventLog, type JobEventType } from "./events.ts";
import { checkLabels, matchesLabels } from "./labels.ts";
import { type JobSpec, resolveSpec } from "./spec.ts";
import { type JobPaths, jobPaths, makeJobDir } from "./_files.ts";
import { type JobRecord, RECORD_VERSION, saveRecord } from "./_record.ts";
import { ExecutorPool } from "./_pool.ts";
import { recoverJobs } from "./_recovery.ts";
import { type SandboxSettings, sandboxSettings } from "./_sandbox_settings.ts";

/** Default cap on one job's stored output: 1 GiB. */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 ** 3;
/** Default free space the data directory keeps: new starts are refused below it. */
export const DEFAULT_MIN_FREE_BYTES = 256 * 1024 ** 2;

/** Options of {@link JobManager.create}. */
export interface JobManagerOptions {
  /** Directory for job records and output (created if missing). */
  dataDir: string;
  /**
   * Cgroup path, relative to the cgroup this process runs in, under which
   * job cgroups are made. Default `jobworker`.
   */
  cgroupParent?: string;
  /**
   * Block devices IO limits apply to (`/dev/vda`, `254:0`); partitions map
   * to their disk. Default: the disks behind `/` and behind the data
   * directory (where the job's working directory lives).
   */
  ioDevices?: readonly string[];
  /** The executor's command line (see src/executor/launch.ts). */
  executorCommand?: readonly string[];
  /** A ready cgroup driver, instead of detecting one. */
  cgroupDriver?: CgroupDriver;
  /**
   * Each running job gets a uid (and gid of the same number) of its own
   * from this range. Default 61184–65519 (see ./identity.ts).
   */
  jobUidRange?: IdRange;
  /** Ids a Start may ask for with `runAs` (default: none). Must not overlap `jobUidRange`. */
  allowRunAs?: readonly IdRange[];
  /**
   * Lets `runAs` ask for uid or gid 0, where the allowed ranges include it.
   * Such a job still has no capabilities, but owns every root-owned file it
   * can see. Default false.
   */
  allowRootJobs?: boolean;
  /**
   * Host paths hidden from every job, besides those always hidden (the data
   * directory, /root, /home, /run).
   */
  masks?: readonly string[];
  /** Host paths bound into every job's view (`readOnly: false` only by explicit choice). */
  binds?: readonly BindMount[];
  /** Cap on each job's stored output, and the most a job may ask for. Default 1 GiB. */
  maxOutputBytes?: number;
  /** Starts are refused while the data directory has less free space. Default 256 MiB. */
  minFreeBytes?: number;
  /** Most jobs running at once (starting ones count). Default: no limit. */
  maxJobs?: number;
  /** Most jobs running at once per owner. Default: no limit. */
  maxJobsPerUser?: number;
  /** Most memory the running jobs' memory limits may add up to, bytes. Default: no limit. */
  maxMemoryBytes?: number;
  /** Ended jobs older than this (ms since they ended) are removed. Default: kept. */
  retainMs?: number;
  /** At most this many ended jobs are kept; the oldest go first. Default: all. */
  retainCount?: number;
  /**
   * Executors kept started and prepared, so that a start only hands over
   * the job (see ./_pool.ts). Default 0: every start launches one.
   */
  poolSize?: number;
  /** Where recovery notes and background errors go; default console.error. */
  log?: (message: string) => void;
  /** The most a job's `timeoutMs` may be; a start asking for more is refused. Default: no maximum. */
  maxTimeoutMs?: number;
  /** The deadline of a job that asks for none. Default: none. At most `maxTimeoutMs`. */
  defaultTimeoutMs?: number;
  /** Events retained in `<dataDir>/events.jsonl` (see ./events.ts). Default 10000. */
  keepEvents?: number;
}

/** Options of {@link JobManager.list}. */
export interface ListOptions {
  /** Only jobs with every one of these labels (same key and value). */
  labels?: Readonly<Record<string, string>>;
}

/** Options of {@link JobManager.watchEvents}. */
export interface WatchEventsOptions {
  /**
   * Replay the retained events after this sequence number first; default:
   * only events from now on.
   */
  since?: number;
}

/** Options of {@link JobManager.start}. */
export interface StartOptions {
  /** The job's owner; default `local`. */
  owner?: string;
  /**
   * The ids this caller may ask for with `runAs`; default the manager's
   * `allowRunAs` (a server passes wider ranges for its admins).
   */
  allowRunAs?: readonly IdRange[];
}

/** Options of {@link JobManager.close}. */
export interface CloseOptions extends StopOptions {
  /**
   * Leave running jobs running (for an upgrade): their executors go on,
   * and the next manager on this data directory adopts them. Default false:
   * every job is stopped.
   */
  keepJobs?: boolean;
}

/** Size of /tmp, /var/tmp and /dev/shm of a job without a memory limit. */
const DEFAULT_TMP_SIZE_BYTES = 512 * 1024 * 1024;
/** How often retention runs besides after each job's end. */
const RETENTION_INTERVAL_MS = 60_000;

async function resolveDevices(names: readonly string[]): Promise<DeviceNumber[]> {
  const found = await Promise.all(names.map((name) => deviceNumberOf(name)));
  return [...new Set(found.filter((d): d is DeviceNumber => d !== null))];
}

/**
 * The whole disks behind `/` and the data directory (where the job's
 * working directory lives): the file systems a job writes to.
 */
async function disksBehind(dataDir: string): Promise<DeviceNumber[]> {
  const found = await Promise.all([wholeDiskOf("/"), wholeDiskOf(dataDir)]);
  return [...new Set(found.filter((d): d is DeviceNumber => d !== null))];
}

function startFailure(report: Exclude<ExecutorReport, { type: "started" }>, spec: {
  command: string;
  cwd: string;
}): Error {
  if (report.type !== "start-failed") {
    return new Error(`Cannot start job: the executor reported ${report.type} before the start`);
  }
  const command = JSON.stringify(spec.command);
  switch (report.reason) {
    case "not-found":
      return new JobSpecError(`Cannot start job: command ${command} not found`);
    case "not-executable":
      return new JobSpecError(`Cannot start job: command ${command} is not executable`);
    case "bad-format":
      return new JobSpecError(
        `Cannot start job: command ${command} is not a program this host can run`,
      );
    case "bad-cwd":
      return new JobSpecError(
        `Cannot start job: working directory ${JSON.stringify(spec.cwd)} ${report.message}`,
      );
    case "too-big":
      return new JobSpecError(
        "Cannot start job: the arguments and environment are larger than the kernel takes (E2BIG)",
      );
    default:
      return new Error(`Cannot start job: ${report.message}`);
  }
}

function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${Number.isInteger(n) ? n : n.toFixed(1)} ${units[i]}`;
}

/** The admission limits, checked (all of them) when options are given. */
interface Limits {
  maxOutputBytes: number;
  minFreeBytes: number;
  maxJobs: number;
  maxJobsPerUser: number;
  maxMemoryBytes: number;
  retainMs: number;
  retainCount: number;
  maxTimeoutMs: number;
  defaultTimeoutMs: number | null;
}

function checkCount(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 0)) {
    throw new RangeError(`${name} must be a whole number of at least 0, got ${value}`);
  }
  return value;
}

function checkLimits(options: JobManagerOptions): Limits {
  const whole = (name: string, value: number | undefined, fallback: number, min = 0) => {
    if (value === undefined) return fallback;
    if (!(Number.isSafeInteger(value) && value >= min)) {
      throw new RangeError(`${name} must be a whole number of at least ${min}, got ${value}`);
    }
    return value;
  };
  return {
    maxOutputBytes: whole("maxOutputBytes", options.maxOutputBytes, DEFAULT_MAX_OUTPUT_BYTES),
    minFreeBytes: whole("minFreeBytes", options.minFreeBytes, DEFAULT_MIN_FREE_BYTES),
    maxJobs: whole("maxJobs", options.maxJobs, Infinity, 1),
    maxJobsPerUser: whole("maxJobsPerUser", options.maxJobsPerUser, Infinity, 1),
    maxMemoryBytes: whole("maxMemoryBytes", options.maxMemoryBytes, Infinity, 1),
    retainMs: whole("retainMs", options.retainMs, Infinity),
    retainCount: whole("retainCount", options.retainCount, Infinity),
    ...checkTimeouts(options),
  };
}

function checkTimeouts(
  options: JobManagerOptions,
): { maxTimeoutMs: number; defaultTimeoutMs: number | null } {
  const positive = (name: string, value: number | undefined) => {
    if (value !== undefined && !(typeof value === "number" && value > 0 && value < Infinity)) {
      throw new RangeError(`${name} must be a number of milliseconds above 0, got ${value}`);
    }
    return value;
  };
  const maxTimeoutMs = positive("maxTimeoutMs", options.maxTimeoutMs) ?? Infinity;
  const defaultTimeoutMs = positive("defaultTimeoutMs", options.defaultTimeoutMs) ?? null;
  if (defaultTimeoutMs !== null && defaultTimeoutMs > maxTimeoutMs) {
    throw new RangeError(
      `defaultTimeoutMs (${defaultTimeoutMs}) must not be above maxTimeoutMs (${maxTimeoutMs})`,
    );
  }
  return { maxTimeoutMs, defaultTimeoutMs };
}

/** A duration in ms as the flags take it: `90s`, `10m`, `2h`. */
function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600}h`;
  if (s >= 60 && s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** The event a job's end makes, from its final status. */
function endEventType(status: JobStatus): JobEventType {
  if (status.state === "failed") return "failed";
  if (status.state === "stopped") return status.timedOut ? "timed-out" : "stopped";
  return "exited";
}

/** A Start being made: counted by admission until it runs or fails. */
interface Pending {
  owner: string;
  memoryBytes: number;
}

/**
 * Starts and keeps jobs. All methods are safe to call concurrently.
 *
 * @example
 * ```ts
 * const manager = await JobManager.create({ dataDir: "/var/lib/jobworker" });
 * const job = await manager.start({ command: "echo", args: ["hello"] });
 * for await (const chunk of job.output()) console.log(chunk.data);
 * await manager.close();
 * ```
 */
export class JobManager {
  readonly #jobs = new Map<string, Job>();
  readonly #starting = new Set<Promise<unknown>>();
  readonly #pending = new Set<Pending>();
  readonly #saving = new Map<string, Promise<void>>();
  readonly #driver: CgroupDriver;
  /** Named IO devices, or null to use the disks behind each job's filesystems. */
  readonly #devices: DeviceNumber[] | null;
  readonly #dataDir: string;
  readonly #executorCommand: readonly string[] | undefined;
  readonly #sandbox: SandboxSettings;
  readonly #limits: Limits;
  readonly #log: (message: string) => void;
  readonly #pool: ExecutorPool;
  readonly #events: JobEventLog;
  /** Ends of jobs being turned into events; close() waits for them. */
  readonly #recordingEnds = new Set<Promise<void>>();
  #retentionTimer: ReturnType<typeof setInterval> | undefined;
  #sweeping: Promise<void> = Promise.resolve();
  #closed = false;
  /** Closed with keepJobs: the jobs still running belong to the next manager. */
  #released = false;

  private constructor(
    driver: CgroupDriver,
    options: {
      devices: DeviceNumber[] | null;
      dataDir: string;
      executorCommand?: readonly string[] | undefined;
      sandbox: SandboxSettings;
      limits: Limits;
      log: (message: string) => void;
      poolSize: number;
      events: JobEventLog;
    },
  ) {
    this.#events = options.events;
    this.#driver = driver;
    this.#devices = options.devices;
    this.#dataDir = options.dataDir;
    this.#executorCommand = options.executorCommand;
    this.#sandbox = options.sandbox;
    this.#limits = options.limits;
    this.#log = options.log;
    this.#pool = new ExecutorPool({
      size: options.poolSize,
      prepare: {
        version: PROTOCOL_VERSION,
        sandbox: {
          rootDir: options.sandbox.rootDir,
          masks: options.sandbox.masks,
          binds: options.sandbox.binds,
        },
      },
      launch: options.executorCommand ? { command: options.executorCommand } : {},
      room: () => this.#limits.maxJobs - this.#runningCount() - this.#pending.size,
      log: this.#log,
    });
  }

  #runningCount(): number {
    let n = 0;
    for (const job of this.#jobs.values()) if (job.state === "running") n++;
    return n;
  }

  /** Free bytes in the file system of the data directory (statvfs, for an unprivileged user). */
  freeBytes(): number {
    return freeBytes(this.#dataDir);
  }

  /** PIDs of the executors waiting in the pool (for memory figures). */
  poolPids(): number[] {
    return this.#pool.idlePids();
  }

  /**
   * Detects the cgroup mode, prepares the parent cgroup and the data
   * directory, and recovers the jobs recorded there (see ./_recovery.ts):
   * ended jobs are listed again, running ones adopted.
   */
  static async create(options: JobManagerOptions): Promise<JobManager> {
    const limits = checkLimits(options);
    const devices = options.ioDevices === undefined
      ? null
      : await resolveDevices(options.ioDevices);
    await Deno.mkdir(join(options.dataDir, "jobs"), { recursive: true, mode: 0o700 });
    const dataDir = await Deno.realPath(options.dataDir);
    const sandbox = await sandboxSettings({ ...options, dataDir });
    const driver = options.cgroupDriver ??
      await detectCgroupDriver(
        options.cgroupParent === undefined ? {} : { parent: options.cgroupParent },
      );
    const manager = new JobManager(driver, {
      devices,
      sandbox,
      dataDir,
      executorCommand: options.executorCommand,
      limits,
      log: options.log ?? ((message) => console.error(`jobworker: ${message}`)),
      poolSize: checkCount("poolSize", options.poolSize ?? 0),
      events: JobEventLog.open(
        join(dataDir, "events.jsonl"),
        options.keepEvents === undefined ? {} : { keep: options.keepEvents },
      ),
    });
    await manager.#recover();
    const timer = setInterval(() => manager.#sweep(), RETENTION_INTERVAL_MS);
    Deno.unrefTimer(timer);
    manager.#retentionTimer = timer;
    await manager.#sweep();
    return manager;
  }

  /** The cgroup version jobs run under. */
  get cgroupVersion(): 1 | 2 {
    return this.#driver.version;
  }

  async #recover(): Promise<void> {
    const recovery = await recoverJobs({ dataDir: this.#dataDir, driver: this.#driver });
    for (const note of recovery.notes) this.#log(note);
    const unfinished = this.#events.unfinished();
    for (const found of recovery.jobs) {
      const { record, paths } = found;
      if (found.changed) await this.#save(paths, record);
      if (found.running !== null && record.dynamicIdentity) {
        this.#sandbox.uidPool.claim(record.identity.uid);
      }
      const output = await OutputFile.open(paths.output, { completed: found.running === null })
        .catch(async () => {
          // The output file is gone (removed by hand): serve an empty one.
          await Deno.writeFile(paths.output, new Uint8Array(), { mode: 0o600 });
          return await OutputFile.open(paths.output, { completed: found.running === null });
        });
      const job = this.#job(record, { paths, output, running: found.running });
      this.#add(job);
      // Jobs that ended while no manager watched (or whose end the last one
      // could not record before it went away): their end is news.
      if (job.state !== "running" && unfinished.has(job.id)) await this.#recordEnd(job);
    }
  }

  /** Saves `record`, one write at a time per job (the last one wins). */
  #save(paths: JobPaths, record: JobRecord): Promise<void> {
    const text = structuredClone(record);
    const previous = this.#saving.get(record.id) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(() => saveRecord(paths.dir, text));
    this.#saving.set(record.id, next);
    return next;
  }

  #job(
    record: JobRecord,
    parts: {
      paths: JobPaths;
      output: OutputFile;
      running: { executor: ExecutorProcess; cgroup: JobCgroup } | null;
    },
  ): Job {
    return new Job({
      record,
      output: parts.output,
      running: parts.running,
      save: (r) => this.#save(parts.paths, r),
      ...(record.spec.stdin ? { inputPath: parts.paths.input } : {}),
    });
  }

  #add(job: Job): void {
    this.#jobs.set(job.id, job);
    if (job.state !== "running") return;
    const ended = job.wait();
    // First: the uid is free for the next start as soon as the job has ended.
    void ended.finally(() => {
      const { uid, dynamic } = job.identity;
      // Free for another job once every process of this one is gone.
      if (dynamic) this.#sandbox.uidPool.release(uid);
      void this.#sweep();
    });
    const recording = ended.then((status) => this.#recordEnd(job, status)).catch(
      (err: unknown) => this.#log(`cannot record the end of job ${job.id}: ${err}`),
    );
    this.#recordingEnds.add(recording);
    void recording.finally(() => this.#recordingEnds.delete(recording));
  }

  /** The events of a job's end: `oom-killed` first when it applies, then how it ended. */
  async #recordEnd(job: Job, status?: JobStatus): Promise<void> {
    if (this.#released) return;
    status ??= await job.status();
    const base = { id: job.id, owner: job.owner, labels: status.labels };
    const none = { exitCode: null, signal: null, error: null };
    if (status.oomKilled) this.#events.record({ ...base, ...none, type: "oom-killed" });
    this.#events.record({
      ...base,
      type: endEventType(status),
      exitCode: status.exitCode,
      signal: status.signal,
      error: status.error,
    });
  }

  /**
   * Starts a job and resolves once its main process runs (in its cgroup and
   * namespaces). Throws a {@link JobSpecError} for an invalid spec or a
   * command that cannot be started, a JobPermissionError for a `runAs` the
   * policy refuses, and a {@link JobExhaustedError} when a limit of the
   * manager is reached; nothing is left behind then.
   */
  start(spec: JobSpec, options: StartOptions = {}): Promise<Job> {
    const starting = this.#start(spec, options);
    this.#starting.add(starting);
    const forget = () => this.#starting.delete(starting);
    starting.then(forget, forget);
    return starting;
  }

  /** Refuses a start that a limit forbids; otherwise counts it as pending. */
  #admit(owner: string, memoryBytes: number): Pending {
    const limits = this.#limits;
    const running = this.list().filter((j) => j.state === "running");
    const all = [
      ...running.map((j) => ({ owner: j.owner, memoryBytes: j.spec.limits.memoryBytes ?? 0 })),
      ...this.#pending,
    ];
    if (all.length >= limits.maxJobs) {
      throw new JobExhaustedError(
        `Cannot start job: ${all.length} jobs are running, the most this server allows ` +
          `(--max-jobs ${limits.maxJobs})`,
      );
    }
    const mine = all.filter((j) => j.owner === owner).length;
    if (mine >= limits.maxJobsPerUser) {
      throw new JobExhaustedError(
        `Cannot start job: ${JSON.stringify(owner)} has ${mine} running jobs, the most this ` +
          `server allows one user (--max-jobs-per-user ${limits.maxJobsPerUser})`,
      );
    }
    const memory = all.reduce((sum, j) => sum + j.memoryBytes, 0);
    if (memory + memoryBytes > limits.maxMemoryBytes) {
      throw new JobExhaustedError(
        `Cannot start job: its memory limit of ${formatBytes(memoryBytes)} would bring the ` +
          `running jobs' limits to ${formatBytes(memory + memoryBytes)}, more than this server ` +
          `allows (--max-memory ${formatBytes(limits.maxMemoryBytes)})`,
      );
    }
    if (limits.minFreeBytes > 0) {
      const free = freeBytes(this.#dataDir);
      if (free < limits.minFreeBytes) {
        throw new JobExhaustedError(
          `Cannot start job: the data directory has ${formatBytes(free)} free, less than the ` +
            `reserve of ${formatBytes(limits.minFreeBytes)} (--min-free)`,
        );
      }
    }
    const pending = { owner, memoryBytes };
    this.#pending.add(pending);
    return pending;
  }

  async #start(spec: JobSpec, options: StartOptions): Promise<Job> {
    if (this.#closed) {
      throw new JobPreconditionError("Cannot start job: the job manager is shut down");
    }
    const resolved = resolveSpec(spec);
    const limits = resolved.limits;
    const sandbox = this.#sandbox;
    const owner = options.owner ?? "local";
    const timeoutMs = resolved.timeoutMs ?? this.#limits.defaultTimeoutMs;
    if (timeoutMs !== null && timeoutMs > this.#limits.maxTimeoutMs) {
      throw new JobSpecError(
        `Cannot start job: timeout ${formatDuration(timeoutMs)} is more than this server allows ` +
          `(--max-timeout ${formatDuration(this.#limits.maxTimeoutMs)})`,
      );
    }
    const maxOutputBytes = resolved.maxOutputBytes ?? this.#limits.maxOutputBytes;
    if (maxOutputBytes > this.#limits.maxOutputBytes) {
      throw new JobSpecError(
        `Cannot start job: output cap ${maxOutputBytes} bytes is more than this server allows ` +
          `(${this.#limits.maxOutputBytes}, --max-output)`,
      );
    }
    const requested = resolved.runAs === null ? null : checkRunAs(resolved.runAs, {
      allowed: options.allowRunAs ?? sandbox.allowRunAs,
      allowRoot: sandbox.allowRootJobs,
      dynamic: sandbox.uidRange,
    });
    const wantsIoLimits = limits.ioReadBps !== null || limits.ioWriteBps !== null;
    const devices = wantsIoLimits ? this.#devices ?? await disksBehind(this.#dataDir) : [];
    if (wantsIoLimits && devices.length === 0) {
      throw new JobPreconditionError(
        "Cannot start job: IO limits need a block device, and none was found behind / or " +
          JSON.stringify(this.#dataDir),
      );
    }
    const pending = this.#admit(owner, limits.memoryBytes ?? 0);

    const id = crypto.randomUUID();
    const paths = jobPaths(this.#dataDir, id);
    const undo: Array<() => Promise<unknown>> = [];
    try {
      let identity = requested;
      if (identity === null) {
        const uid = sandbox.uidPool.acquire();
        if (uid === null) {
          throw new JobExhaustedError(
            "Cannot start job: every uid of the job range is in use by a running job " +
              "(--job-uid-range)",
          );
        }
        undo.push(() => Promise.resolve(sandbox.uidPool.release(uid)));
        identity = { uid, gid: uid };
      }
      await makeJobDir(paths, identity, { interactive: resolved.stdin });
      undo.push(() => Deno.remove(paths.dir, { recursive: true }));
      const output = await OutputFile.create(paths.output);
      undo.push(() => output.close());
      const record: JobRecord = {
        version: RECORD_VERSION,
        id,
        owner,
        spec: resolved,
        identity,
        dynamicIdentity: requested === null,
        maxOutputBytes,
        state: "starting",
        createdAt: new Date().toISOString(),
        startedAt: null,
        endedAt: null,
        exitCode: null,
        signal: null,
        oomKilled: false,
        error: null,
        stopRequested: false,
        timeoutMs,
        timedOut: false,
        usage: null,
        output: { bytes: null, truncated: false, error: null },
        executor: null,
      };
      // On disk before anything runs: a crash from here on is found at the next start.
      await this.#save(paths, record);
      const cgroup: JobCgroup = await this.#driver.create(id);
      undo.push(() => cgroup.destroy());
      const cgroupPlan = await cgroup.prepareSpawn(limits, devices);

      const executor = this.#pool.take().assign({
        command: resolved.command,
        args: resolved.args,
        env: resolved.env,
        cwd: resolved.cwd,
        hostname: `job-${id.slice(0, 8)}`,
        files: paths,
        maxOutputBytes,
        identity,
        sandbox: {
          workDir: paths.work,
          tmpSizeBytes: limits.memoryBytes ?? DEFAULT_TMP_SIZE_BYTES,
        },
        cgroup: cgroupPlan,
        input: resolved.stdin ? { tty: resolved.tty } : null,
      });
      undo.push(async () => {
        executor.kill();
        await executor.ended;
      });
      const first = await executor.startReport;
      if (first.type !== "started") throw startFailure(first, resolved);

      record.state = "running";
      record.startedAt = new Date().toISOString();
      record.executor = executor.identity;
      await this.#save(paths, record);
      const job = this.#job(record, { paths, output, running: { executor, cgroup } });
      this.#events.record({
        id,
        owner,
        type: "started",
        exitCode: null,
        signal: null,
        error: null,
        labels: resolved.labels,
      });
      this.#add(job);
      return job;
    } catch (err) {
      for (const step of undo.reverse()) await step().catch(() => {});
      throw err;
    } finally {
      this.#pending.delete(pending);
    }
  }

  /** The job with `id`; throws {@link JobNotFoundError} when there is none. */
  get(id: string): Job {
    const job = this.#jobs.get(id);
    if (job === undefined) throw new JobNotFoundError(id);
    return job;
  }

  /**
   * Every job, running and ended, oldest first; with `labels`, only those
   * that have all of them.
   *
   * @throws {JobArgumentError} for a label selector that is not valid labels
   */
  list(options: ListOptions = {}): Job[] {
    const jobs = [...this.#jobs.values()];
    if (options.labels === undefined || Object.keys(options.labels).length === 0) return jobs;
    let selector: Record<string, string>;
    try {
      selector = checkLabels(options.labels);
    } catch (err) {
      throw new JobArgumentError(`Cannot list jobs: ${(err as Error).message}`);
    }
    return jobs.filter((job) => matchesLabels(job.spec.labels ?? {}, selector));
  }

  /** The number of the newest event (0 when there is none yet). */
  get lastEventSeq(): number {
    return this.#events.lastSeq;
  }

  /**
   * Calls `listener` with every job event from now on (see ./events.ts),
   * after replaying the retained ones after `since` when given, until the
   * returned function is called or the manager closes. Filtering by owner
   * and labels is the caller's.
   *
   * @throws {JobEventsGoneError} when `since` is older than what is retained
   *   or newer than the newest event
   * @example
   * ```ts
   * const unwatch = manager.watchEvents((e) => console.log(e.seq, e.type, e.id), { since: 0 });
   * ```
   */
  watchEvents(listener: (event: JobEvent) => void, options: WatchEventsOptions = {}): () => void {
    if (
      options.since !== undefined && !(Number.isSafeInteger(options.since) && options.since >= 0)
    ) {
      throw new JobArgumentError(
        `Cannot watch events: since must be a whole number of at least 0, got ${options.since}`,
      );
    }
    return this.#events.watch(
      listener,
      options.since === undefined ? {} : { since: options.since },
    );
  }

  /** Removes ended jobs beyond the retention period or count, oldest first. */
  #sweep(): Promise<void> {
    this.#sweeping = this.#sweeping.then(async () => {
      const { retainMs, retainCount } = this.#limits;
      if (retainMs === Infinity && retainCount === Infinity) return;
      const ended = this.list().filter((j) => j.state !== "running" && j.endedAt !== null)
        .sort((a, b) => a.endedAt!.getTime() - b.endedAt!.getTime());
      const now = Date.now();
      const excess = ended.length - retainCount;
      for (const [i, job] of ended.entries()) {
        if (i >= excess && now - job.endedAt!.getTime() < retainMs) continue;
        this.#jobs.delete(job.id);
        await job.closeOutput();
        await this.#saving.get(job.id)?.catch(() => {});
        this.#saving.delete(job.id);
        await Deno.remove(jobPaths(this.#dataDir, job.id).dir, { recursive: true })
          .catch((err) => this.#log(`cannot remove job ${job.id}: ${err}`));
      }
    }).catch((err) => this.#log(`retention failed: ${err}`));
    return this.#sweeping;
  }

  /**
   * Stops every running job (SIGTERM, then SIGKILL after the grace period),
   * waits for all of them to end, and removes the parent cgroup; with
   * `keepJobs`, leaves them running for the next manager to adopt. Records
   * and output stay in the data directory. Later starts are refused.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    this.#closed = true;
    clearInterval(this.#retentionTimer);
    await Promise.allSettled([...this.#starting]);
    await this.#pool.close();
    if (options.keepJobs) {
      // Their ends are the next manager's to record.
      this.#released = true;
      for (const job of this.list()) job.release();
    } else {
      await Promise.all(this.list().map((job) => job.stop(options)));
    }
    await this.#sweeping;
    await Promise.allSettled([...this.#saving.values()]);
    // After the jobs ended, so their end events are in the log.
    if (!options.keepJobs) await Promise.allSettled([...this.#recordingEnds]);
    this.#events.close();
    await this.#driver.close();
  }
}
