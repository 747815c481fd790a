/**
 * What both drivers' job cgroups do the same way: {@link BaseJobCgroup}
 * (joining, listing and removing the job's directories, applying limits,
 * preparing a spawn), the text of a pids limit, and the two halves of
 * `kill()` (SIGKILL under a freeze, then SIGKILL until the cgroup is
 * empty). What differs between v1 and v2 (which files, what "frozen" and
 * "empty" look like, the words of the errors) is passed in or left to the
 * subclass.
 *
 * @module
 */
import {
  type CgroupFs,
  integerText,
  isNotFound,
  joinPath,
  killAll,
  parsePids,
  sleep,
  validatePid,
  waitUntil,
} from "./_fs.ts";
import { planSpawn } from "./_plan.ts";
import type {
  CgroupStats,
  DeviceNumber,
  FileWrite,
  JobCgroup,
  ResourceLimits,
  SpawnPlan,
} from "./types.ts";

/** What a {@link BaseJobCgroup} is made from. */
export interface BaseJobOptions {
  fs: CgroupFs;
  /** The job's directories: one per used hierarchy on v1, one on v2. */
  paths: readonly string[];
  /** The file in each directory a spawning thread joins by (see `JobCgroup.spawnFiles`). */
  spawnFile: "tasks" | "cgroup.procs";
  /** The driver's homeSpawnFiles, for the spawn plan. */
  home: readonly string[];
}

/**
 * The part of a job cgroup that is the same on v1 and v2, written for any
 * number of directories (v2 has one): a subclass adds the limit files, the
 * usage figures and the kill.
 */
export abstract class BaseJobCgroup implements JobCgroup {
  readonly name: string;
  readonly paths: readonly string[];
  readonly procsFiles: readonly string[];
  readonly spawnFiles: readonly string[];
  /** Control-file access, for the subclass too. */
  protected readonly fs: CgroupFs;
  readonly #home: readonly string[];

  /** A job cgroup `name` over existing directories `options.paths`. */
  constructor(name: string, options: BaseJobOptions) {
    this.name = name;
    this.fs = options.fs;
    this.#home = options.home;
    this.paths = Object.freeze([...options.paths]);
    this.procsFiles = Object.freeze(options.paths.map((d) => joinPath(d, "cgroup.procs")));
    this.spawnFiles = options.spawnFile === "cgroup.procs"
      ? this.procsFiles
      : Object.freeze(options.paths.map((d) => joinPath(d, options.spawnFile)));
  }

  abstract limitWrites(
    limits: Partial<ResourceLimits>,
    devices: readonly DeviceNumber[],
  ): FileWrite[];

  abstract stats(): Promise<CgroupStats>;

  abstract kill(): Promise<void>;

  async setLimits(
    limits: Partial<ResourceLimits>,
    devices: readonly DeviceNumber[],
  ): Promise<void> {
    await performWrites(this.fs, this.limitWrites(limits, devices));
  }

  prepareSpawn(
    limits: Partial<ResourceLimits>,
    devices: readonly DeviceNumber[],
  ): Promise<SpawnPlan> {
    return planSpawn(this, { limits, devices, home: this.#home });
  }

  async addProcess(pid: number): Promise<void> {
    validatePid(pid);
    for (const file of this.procsFiles) {
      try {
        await this.fs.write(file, String(pid));
      } catch (e) {
        throw new Error(
          `Cannot add process ${pid} to cgroup "${this.name}": ${
            e instanceof Error ? e.message : e
          }`,
          { cause: e },
        );
      }
    }
  }

  /** The union over all directories, so a process that joined only some is not missed. */
  async pids(): Promise<number[]> {
    const all = new Set<number>();
    for (const file of this.procsFiles) {
      for (const pid of parsePids(await this.fs.read(file))) all.add(pid);
    }
    return [...all].sort((a, b) => a - b);
  }

  async destroy(): Promise<void> {
    for (const dir of [...this.paths].reverse()) await this.fs.rmdir(dir);
  }
}

/** The cgroup's PIDs, or none when its directory is gone (a kill racing with a destroy). */
export async function pidsOrNone(cgroup: Pick<JobCgroup, "pids">): Promise<number[]> {
  try {
    return await cgroup.pids();
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
}

/** Performs `writes` one after the other, in order (the order is part of a plan). */
export async function performWrites(fs: CgroupFs, writes: readonly FileWrite[]): Promise<void> {
  for (const w of writes) await fs.write(w.path, w.value);
}

/** The text of `pids.max` for `limit` (both versions spell "no limit" as "max"). */
export function pidsMaxText(limit: number | null): string {
  return limit === null ? "max" : integerText("pids limit", limit, { min: 0 });
}

/** How one cgroup version freezes a cgroup, tells that it is frozen, and thaws it. */
export interface Freezer {
  /** Asks the kernel to freeze the cgroup. */
  freeze(): Promise<void>;
  /** Whether the freeze has taken hold. */
  isFrozen(): Promise<boolean>;
  /** Thaws the cgroup. */
  thaw(): Promise<void>;
}

/** Options of {@link killFrozen}. */
export interface KillFrozenOptions {
  freezer: Freezer;
  /** Epoch ms after which the caller gives up on the kill altogether. */
  deadline: number;
}

/**
 * Freezes the cgroup so that nothing in it can fork, SIGKILLs every PID it
 * lists, and thaws it so that the signals are delivered. A task stuck in
 * the kernel can keep a cgroup freezing: after a second (or at the
 * deadline) the PIDs are killed anyway.
 */
export async function killFrozen(
  cgroup: Pick<JobCgroup, "pids">,
  options: KillFrozenOptions,
): Promise<void> {
  const { freezer, deadline } = options;
  await freezer.freeze();
  try {
    await waitUntil(() => freezer.isFrozen(), Math.min(deadline, Date.now() + 1_000));
    killAll(await pidsOrNone(cgroup));
  } finally {
    await freezer.thaw();
  }
}

/** Options of {@link killUntilEmpty}. */
export interface KillUntilEmptyOptions {
  /** Epoch ms after which the cgroup counts as unkillable. */
  deadline: number;
  /** The error to throw at the deadline, given the PIDs still listed. */
  timeoutError: (pids: readonly number[]) => Error;
}

/**
 * SIGKILLs the PIDs `remaining` lists until it answers null (the cgroup is
 * empty), waiting 2 ms after the first round and doubling up to 50 ms (a
 * fork race only costs another round); throws at the deadline.
 */
export async function killUntilEmpty(
  remaining: () => Promise<number[] | null>,
  options: KillUntilEmptyOptions,
): Promise<void> {
  for (let delay = 2;; delay = Math.min(delay * 2, 50)) {
    const pids = await remaining();
    if (pids === null) return;
    if (Date.now() >= options.deadline) throw options.timeoutError(pids);
    killAll(pids);
    await sleep(delay);
  }
}
