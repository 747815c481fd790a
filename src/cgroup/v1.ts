/**
 * The cgroup v1 driver: one directory per hierarchy (cpu, cpuacct, memory,
 * pids, and blkio / freezer when mounted) for every job, each nested below
 * this process's own cgroup in that hierarchy.
 *
 * @module
 */
import type {
  CgroupDriver,
  CgroupStats,
  DeviceNumber,
  FileWrite,
  JobCgroup,
  ResourceLimits,
} from "./types.ts";
import {
  CgroupFs,
  CPU_PERIOD_US,
  cpuQuotaUs,
  integerText,
  joinPath,
  keyedValue,
  parseNumber,
  parseParent,
  validateDevice,
  validateName,
  WAIT_TIMEOUT_MS,
} from "./_fs.ts";
import {
  childNames,
  createParentDirs,
  mkdirJob,
  parentChain,
  removeCreatedParents,
} from "./_tree.ts";
import {
  BaseJobCgroup,
  type BaseJobOptions,
  killFrozen,
  killUntilEmpty,
  pidsMaxText,
  pidsOrNone,
} from "./_job.ts";
import { deviceAllowLines } from "./device_policy.ts";
import { parseBlkioServiceBytes } from "./_io_stat.ts";

/** The v1 controllers the driver uses. */
export type V1Controller =
  | "cpu"
  | "cpuacct"
  | "memory"
  | "pids"
  | "blkio"
  | "freezer"
  | "devices";

/**
 * This process's own cgroup directory in each used hierarchy; blkio,
 * freezer and devices are optional (null when not mounted). Controllers mounted together
 * (e.g. "cpu,cpuacct") share one directory.
 */
export interface V1OwnDirs {
  /** In the hierarchy with the cpu controller (CFS bandwidth). */
  cpu: string;
  /** In the hierarchy with the cpuacct controller (CPU usage). */
  cpuacct: string;
  /** In the memory hierarchy. */
  memory: string;
  /** In the pids hierarchy. */
  pids: string;
  /** In the blkio hierarchy (IO throttling), null when not mounted. */
  blkio: string | null;
  /** In the freezer hierarchy (race-free kill), null when not mounted. */
  freezer: string | null;
  /** In the devices hierarchy (device access control), null when not mounted. */
  devices: string | null;
}

/** Options of {@link openV1Driver}. */
export interface V1DriverOptions {
  /** Validated relative parent path, e.g. "jobworker". */
  parent: string;
  /** File access (with test hooks when running against a fake tree). */
  fs: CgroupFs;
}

const CONTROLLERS: readonly V1Controller[] = [
  "cpu",
  "cpuacct",
  "memory",
  "pids",
  "blkio",
  "freezer",
  "devices",
];

/** Distinct directories of `dirs`, in controller order (co-mounted controllers share one). */
function distinctDirs(dirs: Record<V1Controller, string | null>): string[] {
  const seen: string[] = [];
  for (const c of CONTROLLERS) {
    const d = dirs[c];
    if (d !== null && !seen.includes(d)) seen.push(d);
  }
  return seen;
}

/**
 * Opens a v1 driver: creates `<own dir>/<parent>` in every used hierarchy
 * (remembering which directories it created, for close()).
 */
export async function openV1Driver(
  ownDirs: V1OwnDirs,
  options: V1DriverOptions,
): Promise<CgroupDriver> {
  const parts = parseParent(options.parent);
  const homes = distinctDirs(ownDirs);
  const created: string[] = [];
  try {
    for (const home of homes) {
      created.push(...await createParentDirs(home, { parts, fs: options.fs }));
    }
  } catch (e) {
    await removeCreatedParents(created, { fs: options.fs });
    throw e;
  }
  // The parent itself is ours to remove when empty, also if an earlier driver
  // (a server before a restart) made it; levels above it only if we made them.
  const parents = homes.map((home) => parentChain(home, parts).at(-1)!);
  return new V1Driver(ownDirs, { ...options, created: [...new Set([...created, ...parents])] });
}

class V1Driver implements CgroupDriver {
  readonly version = 1 as const;
  readonly parentPaths: readonly string[];
  readonly homeProcsFiles: readonly string[];
  readonly homeSpawnFiles: readonly string[];
  readonly #parentDirs: Record<V1Controller, string | null>;
  readonly #fs: CgroupFs;
  readonly #created: string[];
  #closed = false;

  constructor(ownDirs: V1OwnDirs, options: V1DriverOptions & { created: string[] }) {
    this.#fs = options.fs;
    this.#created = options.created;
    const under = (d: string | null) => d === null ? null : joinPath(d, options.parent);
    this.#parentDirs = {
      cpu: under(ownDirs.cpu),
      cpuacct: under(ownDirs.cpuacct),
      memory: under(ownDirs.memory),
      pids: under(ownDirs.pids),
      blkio: under(ownDirs.blkio),
      freezer: under(ownDirs.freezer),
      devices: under(ownDirs.devices),
    };
    this.parentPaths = Object.freeze(distinctDirs(this.#parentDirs));
    this.homeProcsFiles = Object.freeze(
      distinctDirs(ownDirs).map((d) => joinPath(d, "cgroup.procs")),
    );
    this.homeSpawnFiles = Object.freeze(distinctDirs(ownDirs).map((d) => joinPath(d, "tasks")));
  }

  async create(name: string): Promise<JobCgroup> {
    validateName(name);
    if (this.#closed) throw new Error(`Cannot create cgroup "${name}": the driver is closed`);
    const dirs = await mkdirJob(name, { parents: this.parentPaths, fs: this.#fs });
    const devices = this.#dirOf("devices", name);
    if (devices !== null) {
      try {
        // "a" on deny empties the allow list; then only the job's own devices.
        await this.#fs.write(joinPath(devices, "devices.deny"), "a");
        for (const line of deviceAllowLines()) {
          await this.#fs.write(joinPath(devices, "devices.allow"), line);
        }
      } catch (e) {
        for (const dir of [...dirs].reverse()) await this.#fs.rmdir(dir).catch(() => {});
        throw e;
      }
    }
    return await this.#jobCgroup(name, dirs);
  }

  async open(name: string): Promise<JobCgroup> {
    validateName(name);
    const dirs = this.parentPaths.map((parent) => joinPath(parent, name));
    for (const dir of dirs) {
      if (!(await this.#fs.exists(dir))) {
        throw new Deno.errors.NotFound(`Cannot open cgroup "${name}": ${dir} does not exist`);
      }
    }
    return await this.#jobCgroup(name, dirs);
  }

  list(): Promise<string[]> {
    return childNames(this.parentPaths, { fs: this.#fs });
  }

  #dirOf(c: V1Controller, name: string): string | null {
    const parent = this.#parentDirs[c];
    return parent === null ? null : joinPath(parent, name);
  }

  async #jobCgroup(name: string, dirs: string[]): Promise<JobCgroup> {
    const dirOf = (c: V1Controller) => this.#dirOf(c, name);
    const memory = dirOf("memory") as string;
    const devices = dirOf("devices");
    return new V1JobCgroup(name, {
      fs: this.#fs,
      paths: dirs,
      dirs: {
        cpu: dirOf("cpu") as string,
        cpuacct: dirOf("cpuacct") as string,
        memory,
        pids: dirOf("pids") as string,
        blkio: dirOf("blkio"),
        freezer: dirOf("freezer"),
        devices,
      },
      hasMemsw: await this.#fs.exists(joinPath(memory, "memory.memsw.limit_in_bytes")),
      home: this.homeSpawnFiles,
    });
  }

  /**
   * Removes the parent directories when empty (and the levels above that this
   * driver created); those still holding job cgroups stay, and a later
   * close() retries.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const remaining = await removeCreatedParents(this.#created, { fs: this.#fs });
    this.#created.splice(0, this.#created.length, ...remaining);
  }
}

interface V1JobOptions extends Omit<BaseJobOptions, "spawnFile"> {
  dirs: V1OwnDirs;
  /** memory.memsw.* exists (kernel built with swap accounting). */
  hasMemsw: boolean;
}

/** "-1" is v1's word for "no limit" in the *_in_bytes and cfs_quota_us files. */
const UNLIMITED = "-1";

class V1JobCgroup extends BaseJobCgroup {
  readonly #dirs: V1OwnDirs;
  readonly #hasMemsw: boolean;

  constructor(name: string, options: V1JobOptions) {
    // One thread moves by `tasks` without the process-wide lock a cgroup.procs move takes (~10 ms).
    super(name, { ...options, spawnFile: "tasks" });
    this.#dirs = options.dirs;
    this.#hasMemsw = options.hasMemsw;
  }

  /**
   * The writes, in order. Memory with swap accounting is the subtle one: the
   * kernel insists on limit_in_bytes <= memsw.limit_in_bytes at every step,
   * so raising needs memsw first and lowering needs it last. Without reading
   * the current values (this method is pure) the order that works both ways
   * is memsw=-1, limit=N, memsw=N; swap is unlimited only between two writes.
   */
  limitWrites(limits: Partial<ResourceLimits>, devices: readonly DeviceNumber[]): FileWrite[] {
    const d = this.#dirs;
    const writes: FileWrite[] = [];
    const add = (path: string, value: string) => writes.push({ path, value });

    if (limits.cpu !== undefined) {
      const quota = limits.cpu === null ? UNLIMITED : String(cpuQuotaUs(limits.cpu));
      add(joinPath(d.cpu, "cpu.cfs_period_us"), String(CPU_PERIOD_US));
      add(joinPath(d.cpu, "cpu.cfs_quota_us"), quota);
    }
    if (limits.memoryBytes !== undefined) {
      const value = limits.memoryBytes === null
        ? UNLIMITED
        : integerText("memory limit (bytes)", limits.memoryBytes, { min: 0 });
      if (this.#hasMemsw) add(joinPath(d.memory, "memory.memsw.limit_in_bytes"), UNLIMITED);
      add(joinPath(d.memory, "memory.limit_in_bytes"), value);
      if (this.#hasMemsw && value !== UNLIMITED) {
        add(joinPath(d.memory, "memory.memsw.limit_in_bytes"), value);
      }
    }
    const io: [keyof ResourceLimits, string][] = [
      ["ioReadBps", "blkio.throttle.read_bps_device"],
      ["ioWriteBps", "blkio.throttle.write_bps_device"],
    ];
    for (const [key, file] of io) {
      const limit = limits[key];
      if (limit === undefined) continue;
      // "0" removes the device's rule, so a real limit must be at least 1 B/s.
      const value = limit === null ? "0" : integerText(`${key} limit`, limit, { min: 1 });
      for (const dev of devices) validateDevice(dev);
      if (d.blkio === null) {
        if (limit !== null && devices.length > 0) {
          throw new Error(
            `Cannot limit IO of cgroup "${this.name}": the blkio hierarchy is not mounted`,
          );
        }
        continue;
      }
      for (const dev of devices) add(joinPath(d.blkio, file), `${dev} ${value}`);
    }
    if (limits.pids !== undefined) add(joinPath(d.pids, "pids.max"), pidsMaxText(limits.pids));
    return writes;
  }

  async stats(): Promise<CgroupStats> {
    const d = this.#dirs;
    const read = (dir: string, file: string) => this.fs.readOptional(joinPath(dir, file));
    const [usage, current, peak, oom, pids, blkio] = await Promise.all([
      read(d.cpuacct, "cpuacct.usage"),
      read(d.memory, "memory.usage_in_bytes"),
      read(d.memory, "memory.max_usage_in_bytes"),
      read(d.memory, "memory.oom_control"),
      read(d.pids, "pids.current"),
      this.#ioServiceBytes(),
    ]);
    const io = blkio === null ? null : parseBlkioServiceBytes(blkio);
    return {
      cpuUsageNs: parseNumber(usage),
      memoryCurrentBytes: parseNumber(current),
      memoryPeakBytes: parseNumber(peak),
      oomKills: oom === null ? 0 : keyedValue(oom, "oom_kill") ?? 0,
      pidsCurrent: parseNumber(pids),
      ioReadBytes: io?.readBytes ?? null,
      ioWriteBytes: io?.writeBytes ?? null,
    };
  }

  /**
   * The text of the blkio byte counters, null without the blkio hierarchy
   * or the file. The recursive file first: it also holds what child cgroups
   * did (exited ones included), which is what v2's io.stat reports; kernels
   * without it have only the cgroup's own figures. These are the throttle
   * layer's counters: present wherever the IO limits work, whatever the IO
   * scheduler (the BFQ ones exist only under BFQ). Recent kernels set blk-throttle up lazily and count only on
   * disks some cgroup has had a throttle rule for since boot (see
   * blk_should_throtl() in the kernel's block/blk-throttle.h): on others
   * the figures stay 0.
   */
  async #ioServiceBytes(): Promise<string | null> {
    const dir = this.#dirs.blkio;
    if (dir === null) return null;
    return await this.fs.readOptional(
      joinPath(dir, "blkio.throttle.io_service_bytes_recursive"),
    ) ?? await this.fs.readOptional(joinPath(dir, "blkio.throttle.io_service_bytes"));
  }

  /**
   * v1 has no cgroup.kill. With the freezer hierarchy the cgroup is frozen
   * first so nothing can fork while the listed PIDs are killed; the
   * SIGKILLs take effect on thaw. Without it, kill every listed PID until
   * none is left (a fork race only costs another round).
   */
  async kill(): Promise<void> {
    const deadline = Date.now() + WAIT_TIMEOUT_MS;
    const freezer = this.#dirs.freezer;
    if (freezer !== null && (await pidsOrNone(this)).length > 0) {
      const state = joinPath(freezer, "freezer.state");
      await killFrozen(this, {
        deadline,
        freezer: {
          freeze: () => this.fs.write(state, "FROZEN"),
          // FREEZING until every task is stopped.
          isFrozen: async () => (await this.fs.read(state)).trim() === "FROZEN",
          thaw: () => this.fs.write(state, "THAWED"),
        },
      });
    }
    await killUntilEmpty(async () => {
      const pids = await pidsOrNone(this);
      return pids.length === 0 ? null : pids;
    }, {
      deadline,
      timeoutError: (pids) =>
        new Error(
          `Cannot kill cgroup "${this.name}" (${this.paths[0]}): processes ${
            pids.slice(0, 10).join(", ")
          } still present after ${WAIT_TIMEOUT_MS} ms`,
        ),
    });
  }
}
