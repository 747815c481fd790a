/**
 * The job manager: starts jobs, keeps them, finds them, and shuts them all
 * down. One per server.
 *
 * @module
 */
import { join } from "node:path";
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
import type { ExecutorReport } from "../executor/protocol.ts";
import { OutputFile } from "../output/mod.ts";
import { JobNotFoundError, JobPreconditionError, JobSpecError } from "./errors.ts";
import { Job, type StopOptions } from "./job.ts";
import { type JobSpec, resolveSpec } from "./spec.ts";

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
}

/** Options of {@link JobManager.start}. */
export interface StartOptions {
  /** The job's owner; default `local`. */
  owner?: string;
}

async function resolveDevices(names: readonly string[]): Promise<DeviceNumber[]> {
  const found = await Promise.all(names.map((name) => deviceNumberOf(name)));
  return [...new Set(found.filter((d): d is DeviceNumber => d !== null))];
}

/** The whole disks behind `/` and `cwd` (the filesystems a job most likely uses). */
async function disksBehind(cwd: string): Promise<DeviceNumber[]> {
  const found = await Promise.all([wholeDiskOf("/"), wholeDiskOf(cwd)]);
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
        `Cannot start job: working directory ${JSON.stringify(spec.cwd)} does not exist`,
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
  #closed = false;

  private constructor(
    driver: CgroupDriver,
    options: {
      devices: DeviceNumber[] | null;
      dataDir: string;
      executorCommand?: readonly string[];
    },
  ) {
    this.#driver = driver;
    this.#devices = options.devices;
    this.#dataDir = options.dataDir;
    this.#executorCommand = options.executorCommand;
  }

  /** Detects the cgroup mode, prepares the parent cgroup and the data directory. */
  static async create(options: JobManagerOptions): Promise<JobManager> {
    const devices = options.ioDevices === undefined
      ? null
      : await resolveDevices(options.ioDevices);
    await Deno.mkdir(join(options.dataDir, "jobs"), { recursive: true, mode: 0o700 });
    const driver = options.cgroupDriver ??
      await detectCgroupDriver(
        options.cgroupParent === undefined ? {} : { parent: options.cgroupParent },
      );
    return new JobManager(driver, {
      devices,
      dataDir: options.dataDir,
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
    const cwdInfo = await Deno.stat(resolved.cwd).catch(() => null);
    if (cwdInfo === null || !cwdInfo.isDirectory) {
      const problem = cwdInfo === null ? "does not exist" : "is not a directory";
      throw new JobSpecError(
        `Cannot start job: working directory ${JSON.stringify(resolved.cwd)} ${problem}`,
      );
    }
    const wantsIoLimits = limits.ioReadBps !== null || limits.ioWriteBps !== null;
    const devices = wantsIoLimits ? this.#devices ?? await disksBehind(resolved.cwd) : [];
    if (wantsIoLimits && devices.length === 0) {
      throw new JobPreconditionError(
        "Cannot start job: IO limits need a block device, and none was found behind / or " +
          JSON.stringify(resolved.cwd),
      );
    }

    const id = crypto.randomUUID();
    const dir = join(this.#dataDir, "jobs", id);
    const undo: Array<() => Promise<unknown>> = [];
    try {
      await Deno.mkdir(dir, { mode: 0o700 });
      undo.push(() => Deno.remove(dir, { recursive: true }));
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
        version: 1,
        command: resolved.command,
        args: resolved.args,
        env: resolved.env,
        cwd: resolved.cwd,
        hostname: `job-${id.slice(0, 8)}`,
        outputPath: output.path,
        cgroup: {
          join: [...cgroup.procsFiles],
          home: [...this.#driver.homeProcsFiles],
          afterSpawn,
        },
      }, this.#executorCommand ? { command: this.#executorCommand } : {});
      undo.push(async () => {
        executor.signal("SIGKILL");
        await executor.status;
      });
      const first = await executor.startReport;
      if (first.type !== "started") throw startFailure(first, resolved);

      const job = new Job({
        id,
        owner: options.owner ?? "local",
        spec: resolved,
        executor,
        cgroup,
        output,
        startedAt,
      });
      this.#jobs.set(id, job);
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
