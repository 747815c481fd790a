/**
 * The small interface every cgroup driver implements, and the value types it
 * speaks in. A driver manages the cgroups of jobs below one parent cgroup.
 *
 * @module
 */

/**
 * Resource limits of one job, resolved (defaults applied, validated).
 * `null` means "no limit" for that resource.
 */
export interface ResourceLimits {
  /** CPU bandwidth in cores, fractional (0.5 = half of one CPU). */
  cpu: number | null;
  /** Memory limit in bytes (swap is disabled where the kernel has the knob). */
  memoryBytes: number | null;
  /** Read bandwidth limit in bytes per second, per block device. */
  ioReadBps: number | null;
  /** Write bandwidth limit in bytes per second, per block device. */
  ioWriteBps: number | null;
  /** Maximum number of tasks (processes and threads). */
  pids: number | null;
}

/** A block device as `major:minor`, e.g. `254:0`. */
export type DeviceNumber = `${number}:${number}`;

/** One write of `value` to a cgroup control file at absolute `path`. */
export interface FileWrite {
  /** Absolute path of the control file. */
  path: string;
  /** The value to write. */
  value: string;
}

/**
 * How to start a job's first process in its cgroup without leaving the
 * spawner there: the spawning thread writes `0` to each of `join`, spawns
 * (the child inherits the cgroup at fork, so it is limited from its first
 * instruction), makes the `afterSpawn` writes, and writes `0` to each of
 * `home`. Plain data, so that it can travel as JSON to the process that
 * spawns (the executor: see ../executor/protocol.ts); ./hop.ts carries it
 * out. Made by {@link JobCgroup.prepareSpawn}.
 */
export interface SpawnPlan {
  /**
   * The files that move the spawner into the job's cgroup: on v1 the
   * `tasks` files (only the writing thread moves), on v2 `cgroup.procs`
   * (the whole process moves).
   */
  join: string[];
  /** The files of the same kind that move it back into its own cgroup. */
  home: string[];
  /** Limit writes to make right after the spawn, before going home, in this order. */
  afterSpawn: FileWrite[];
}

/** Usage figures of a job cgroup; a figure the kernel does not offer is null. */
export interface CgroupStats {
  /** Total CPU time consumed, in nanoseconds. */
  cpuUsageNs: number | null;
  /** Memory in use now, in bytes. */
  memoryCurrentBytes: number | null;
  /** Highest memory use seen, in bytes. */
  memoryPeakBytes: number | null;
  /** Number of processes the kernel's OOM killer killed in this cgroup. */
  oomKills: number;
  /** Tasks in the cgroup now. */
  pidsCurrent: number | null;
  /**
   * Bytes the cgroup's processes read from block devices, summed over
   * devices: IO that reached a disk, not reads served from the page cache.
   * Null where the kernel gives no figure (v1 without the blkio hierarchy,
   * v2 without the io controller). On v1, recent kernels count only on
   * disks that some cgroup has had an IO limit for since boot (see
   * ./v1.ts); elsewhere the figure stays 0.
   */
  ioReadBytes: number | null;
  /**
   * Bytes the cgroup's processes wrote to block devices, summed over
   * devices. Writes into the page cache count when the kernel writes them
   * back on v2 (cgroup writeback), and not at all on v1, which charges
   * writeback to the root cgroup: there this is mostly direct and
   * synchronous IO. Null, and 0 on v1, as for {@link ioReadBytes}.
   */
  ioWriteBytes: number | null;
}

/** The cgroup (one directory per hierarchy on v1, one directory on v2) of one job. */
export interface JobCgroup {
  /** The job cgroup's name (its last path component). */
  readonly name: string;
  /** The directories of this cgroup: one on v2, one per used hierarchy on v1. */
  readonly paths: readonly string[];
  /**
   * The `cgroup.procs` files a process writes `0` to in order to join this
   * cgroup (one per hierarchy on v1).
   */
  readonly procsFiles: readonly string[];
  /**
   * The files a spawning process writes `0` to in order to start a child in
   * this cgroup: on v1 the `tasks` files, which move only the calling
   * thread (fast, and all a child spawned from that thread needs); on v2
   * `cgroup.procs` (v2 moves whole processes).
   */
  readonly spawnFiles: readonly string[];
  /**
   * The control-file writes that apply `limits` (only the keys present) to
   * this cgroup, in the order they must be made. IO limits apply to each of
   * `devices`. Pure: touches nothing.
   */
  limitWrites(limits: Partial<ResourceLimits>, devices: readonly DeviceNumber[]): FileWrite[];
  /** Applies `limits` (only the keys present) now. */
  setLimits(limits: Partial<ResourceLimits>, devices: readonly DeviceNumber[]): Promise<void>;
  /**
   * Applies `limits` (only the keys present) for a job whose first process
   * is about to be spawned into this cgroup, and returns the plan for that
   * spawn. CPU and IO limits are written now. Memory and pids limits would
   * also bind the spawner during its stay (what it allocates and the tasks
   * it moves in count against them), so they become the plan's
   * `afterSpawn` writes.
   */
  prepareSpawn(
    limits: Partial<ResourceLimits>,
    devices: readonly DeviceNumber[],
  ): Promise<SpawnPlan>;
  /** Moves process `pid` (and its threads) into this cgroup. */
  addProcess(pid: number): Promise<void>;
  /** PIDs in the cgroup now. */
  pids(): Promise<number[]>;
  /** Current usage figures. */
  stats(): Promise<CgroupStats>;
  /**
   * SIGKILLs every process in the cgroup and waits until it is empty
   * (cgroup.kill on v2 where present; otherwise freeze where possible and
   * kill every listed PID until none is left).
   */
  kill(): Promise<void>;
  /**
   * Removes the cgroup directories, retrying while the kernel answers EBUSY
   * (processes still exiting). Idempotent; succeeds when already gone.
   */
  destroy(): Promise<void>;
}

/** Creates job cgroups below one parent; one implementation per cgroup version. */
export interface CgroupDriver {
  /** 1 for the legacy hierarchies, 2 for the unified hierarchy. */
  readonly version: 1 | 2;
  /** The parent directories job cgroups are created in (one per hierarchy on v1). */
  readonly parentPaths: readonly string[];
  /**
   * The `cgroup.procs` files of the cgroup(s) this process lives in: where
   * the executor returns after it has spawned the job's first process.
   */
  readonly homeProcsFiles: readonly string[];
  /** The files a spawning thread writes `0` to in order to return home (see JobCgroup.spawnFiles). */
  readonly homeSpawnFiles: readonly string[];
  /** Creates the cgroup `name` (a fresh, unique name) below the parent. */
  create(name: string): Promise<JobCgroup>;
  /**
   * The existing cgroup `name` below the parent (made by this or an earlier
   * driver, e.g. before a server restart); throws NotFound when it is gone.
   */
  open(name: string): Promise<JobCgroup>;
  /** Names of the job cgroups below the parent now. */
  list(): Promise<string[]>;
  /**
   * Removes the parent directory when empty, whoever made it (a server
   * before a restart, say), and the levels above it this driver made. Those
   * still holding job cgroups stay; a later close() retries.
   */
  close(): Promise<void>;
}
