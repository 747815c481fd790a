/**
 * The job manager: starts jobs, keeps them, finds them, and shuts them all
 * down. One per server.
 *
 * @module
 */
import { join, resolve } from "node:path";
import {
  type CgroupDriver,
  detectCgroupDriver,
  type DeviceNumber,
  deviceNumberOf,
  type JobCgroup,
  wholeDiskOf,
} from "../cgroup/mod.ts";
import { launchExecutor } from "../executor/launch.ts";
import type { ExecutorProcess } from "../executor/launch.ts";
import { type BindMount, type ExecutorReport, PROTOCOL_VERSION } from "../executor/protocol.ts";
import { OutputFile } from "../output/mod.ts";
import { JobNotFoundError, JobPreconditionError, JobSpecError } from "./errors.ts";
import { checkRunAs, DEFAULT_JOB_UID_RANGE, type IdRange, rangesOverlap } from "./identity.ts";
import { Job, type StopOptions } from "./job.ts";
import { type JobSpec, resolveSpec } from "./spec.ts";
import { UidPool } from "./_uid_pool.ts";

/** Options of {@link JobManager.create}. */
export interface JobManagerOptions {
  /** Directory for job output files (created if missing). */
  dataDir: string;
  /**
   * Cgroup path, relative to the cgroup this process runs in, under which
   * job cgroups are made. Default `jobworker`.
   */
  cgroupParent?: string;
  /**
   * Block devices IO limits apply to (`/dev/vda`, `254:0`); partitions map
   * to their disk. Default: the disks behind `/` and behind the job's
   * working directory.
   */
  ioDevices?: readonly string[];
  /** The executor's command line (see src/executor/launch.ts). */
  executorCommand?: readonly string[];
  /** A ready cgroup driver, instead of detecting one. */
  cgroupDriver?: CgroupDriver;
  /**
   * Each running job gets a uid (and gid of the same number) of its own
   * from this range. Default {@link DEFAULT_JOB_UID_RANGE}, 61184–65519.
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

/** The sandbox settings every job shares. */
interface SandboxSettings {
  rootDir: string;
  masks: string[];
  binds: BindMount[];
  uidPool: UidPool;
  uidRange: IdRange;
  allowRunAs: readonly IdRange[];
  allowRootJobs: boolean;
}

/** The absolute, symlink-free form of `path` when it exists; else `path` made absolute. */
async function realOrAbsolute(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    return resolve(path);
  }
}

async function checkBinds(binds: readonly BindMount[]): Promise<BindMount[]> {
  const checked: BindMount[] = [];
  for (const b of binds) {
    if (!b.target.startsWith("/") || b.target === "/" || b.target.split("/").includes("..")) {
      throw new TypeError(
        `Invalid bind target ${JSON.stringify(b.target)}: an absolute path other than /, no ".."`,
      );
    }
    let source: string;
    try {
      source = await Deno.realPath(b.source);
    } catch (err) {
      throw new TypeError(
        `Invalid bind source ${JSON.stringify(b.source)}: ${(err as Error).message}`,
      );
    }
    checked.push({ source, target: b.target.replace(/\/+$/, ""), readOnly: b.readOnly });
  }
  return checked;
}

async function sandboxSettings(options: JobManagerOptions): Promise<SandboxSettings> {
  const uidRange = options.jobUidRange ?? DEFAULT_JOB_UID_RANGE;
  if (uidRange.first < 1 || uidRange.first > uidRange.last) {
    throw new RangeError(
      `Invalid job uid range ${uidRange.first}-${uidRange.last}: it must not include 0`,
    );
  }
  const allowRunAs = [...(options.allowRunAs ?? [])];
  if (rangesOverlap(allowRunAs, [uidRange])) {
    throw new RangeError("The runAs ranges must not overlap the range of job uids");
  }
  const dataDir = await Deno.realPath(options.dataDir);
  const rootDir = join(dataDir, "sandbox-root");
  await Deno.mkdir(rootDir, { recursive: true, mode: 0o700 });
  const masks = [dataDir, ...await Promise.all((options.masks ?? []).map(realOrAbsolute))];
  return {
    rootDir,
    masks: [...new Set(masks)],
    binds: await checkBinds(options.binds ?? []),
    uidPool: new UidPool(uidRange),
    uidRange,
    allowRunAs,
    allowRootJobs: options.allowRootJobs ?? false,
  };
}

/** Size of /tmp, /var/tmp and /dev/shm of a job without a memory limit. */
const DEFAULT_TMP_SIZE_BYTES = 512 * 1024 * 1024;

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
  if (report.type === "exited") {
    return new Error("Cannot start job: the executor reported an exit before the start");
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
    default:
      return new Error(`Cannot start job: ${report.message}`);
  }
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
  readonly #driver: CgroupDriver;
  /** Named IO devices, or null to use the disks behind each job's filesystems. */
  readonly #devices: DeviceNumber[] | null;
  readonly #dataDir: string;
  readonly #executorCommand: readonly string[] | undefined;
  readonly #sandbox: SandboxSettings;
  #closed = false;

  private constructor(
    driver: CgroupDriver,
    options: {
      devices: DeviceNumber[] | null;
      dataDir: string;
      executorCommand?: readonly string[];
      sandbox: SandboxSettings;
    },
  ) {
    this.#driver = driver;
    this.#devices = options.devices;
    this.#dataDir = options.dataDir;
    this.#executorCommand = options.executorCommand;
    this.#sandbox = options.sandbox;
  }

  /** Detects the cgroup mode, prepares the parent cgroup and the data directory. */
  static async create(options: JobManagerOptions): Promise<JobManager> {
    const devices = options.ioDevices === undefined
      ? null
      : await resolveDevices(options.ioDevices);
    await Deno.mkdir(join(options.dataDir, "jobs"), { recursive: true, mode: 0o700 });
    const sandbox = await sandboxSettings(options);
    const driver = options.cgroupDriver ??
      await detectCgroupDriver(
        options.cgroupParent === undefined ? {} : { parent: options.cgroupParent },
      );
    return new JobManager(driver, {
      devices,
      sandbox,
      // Absolute: the executor gets paths below it and runs elsewhere.
      dataDir: await Deno.realPath(options.dataDir),
      ...(options.executorCommand ? { executorCommand: options.executorCommand } : {}),
    });
  }

  /** The cgroup version jobs run under. */
  get cgroupVersion(): 1 | 2 {
    return this.#driver.version;
  }

  /**
   * Starts a job and resolves once its main process runs (in its cgroup and
   * namespaces). Throws a {@link JobSpecError} for an invalid spec or a
   * command that cannot be started; nothing is left behind then.
   */
  start(spec: JobSpec, options: StartOptions = {}): Promise<Job> {
    const starting = this.#start(spec, options);
    this.#starting.add(starting);
    const forget = () => this.#starting.delete(starting);
    starting.then(forget, forget);
    return starting;
  }

  async #start(spec: JobSpec, options: StartOptions): Promise<Job> {
    if (this.#closed) {
      throw new JobPreconditionError("Cannot start job: the job manager is shut down");
    }
    const resolved = resolveSpec(spec);
    const limits = resolved.limits;
    const sandbox = this.#sandbox;
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

    const id = crypto.randomUUID();
    const dir = join(this.#dataDir, "jobs", id);
    const undo: Array<() => Promise<unknown>> = [];
    try {
      let identity = requested;
      if (identity === null) {
        const uid = sandbox.uidPool.acquire();
        if (uid === null) {
          throw new JobPreconditionError(
            "Cannot start job: every uid of the job range is in use by a running job",
          );
        }
        undo.push(() => Promise.resolve(sandbox.uidPool.release(uid)));
        identity = { uid, gid: uid };
      }
      await Deno.mkdir(dir, { mode: 0o700 });
      undo.push(() => Deno.remove(dir, { recursive: true }));
      const workDir = join(dir, "work");
      await Deno.mkdir(workDir, { mode: 0o700 });
      await Deno.chown(workDir, identity.uid, identity.gid);
      const output = await OutputFile.create(join(dir, "output"));
      undo.push(() => output.close());
      const cgroup: JobCgroup = await this.#driver.create(id);
      undo.push(() => cgroup.destroy());
      await cgroup.setLimits({
        cpu: limits.cpu,
        ioReadBps: limits.ioReadBps,
        ioWriteBps: limits.ioWriteBps,
      }, devices);
      const afterSpawn = cgroup.limitWrites({
        memoryBytes: limits.memoryBytes,
        pids: limits.pids,
      }, devices);

      const startedAt = new Date();
      const executor: ExecutorProcess = launchExecutor({
        version: PROTOCOL_VERSION,
        command: resolved.command,
        args: resolved.args,
        env: resolved.env,
        cwd: resolved.cwd,
        hostname: `job-${id.slice(0, 8)}`,
        outputPath: output.path,
        identity,
        sandbox: {
          rootDir: sandbox.rootDir,
          workDir,
          masks: sandbox.masks,
          binds: sandbox.binds,
          tmpSizeBytes: limits.memoryBytes ?? DEFAULT_TMP_SIZE_BYTES,
        },
        cgroup: {
          join: [...cgroup.procsFiles],
          home: [...this.#driver.homeProcsFiles],
          afterSpawn,
        },
      }, this.#executorCommand ? { command: this.#executorCommand } : {});
      undo.push(async () => {
        executor.kill();
        await executor.status;
      });
      const first = await executor.startReport;
      if (first.type !== "started") throw startFailure(first, resolved);

      const job = new Job({
        id,
        owner: options.owner ?? "local",
        spec: resolved,
        identity,
        executor,
        cgroup,
        output,
        startedAt,
      });
      this.#jobs.set(id, job);
      if (requested === null) {
        const uid = identity.uid;
        // Free for another job once every process of this one is gone.
        void job.wait().finally(() => sandbox.uidPool.release(uid));
      }
      return job;
    } catch (err) {
      for (const step of undo.reverse()) await step().catch(() => {});
      throw err;
    }
  }

  /** The job with `id`; throws {@link JobNotFoundError} when there is none. */
  get(id: string): Job {
    const job = this.#jobs.get(id);
    if (job === undefined) throw new JobNotFoundError(id);
    return job;
  }

  /** Every job, running and ended, oldest first. */
  list(): Job[] {
    return [...this.#jobs.values()];
  }

  /**
   * Stops every running job (SIGTERM, then SIGKILL after the grace period),
   * waits for all of them to end, and removes the parent cgroup. Output
   * files stay in the data directory. Later starts are refused.
   */
  async close(options: StopOptions = {}): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#starting]);
    await Promise.all(this.list().map((job) => job.stop(options)));
    await this.#driver.close();
  }
}
