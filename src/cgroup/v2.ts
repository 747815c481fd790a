/**
 * The cgroup v2 driver: one directory per job in the unified hierarchy,
 * below `<own cgroup>/<parent>`, with the cpu, memory, pids (and io, when
 * offered) controllers enabled on every level down to the parent.
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
  isBusy,
  joinPath,
  keyedValue,
  parseNumber,
  parseParent,
  parsePids,
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
import { BaseJobCgroup, killFrozen, killUntilEmpty, pidsMaxText, pidsOrNone } from "./_job.ts";
import { parseIoStat } from "./_io_stat.ts";

/** Controllers the driver must be able to enable. */
const REQUIRED = ["cpu", "memory", "pids"] as const;

/** Options of {@link openV2Driver}. */
export interface V2DriverOptions {
  /** Validated relative parent path, e.g. "jobworker". */
  parent: string;
  /** File access (with test hooks when running against a fake tree). */
  fs: CgroupFs;
}

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== "");
}

/** The directory name of the leaf this process moves into when its own cgroup must delegate. */
export function supervisorLeafName(parent: string): string {
  return `${parseParent(parent)[0]}-supervisor`;
}

/**
 * Opens a v2 driver for this process, which runs in cgroup `currentDir`.
 * Normally that is its own cgroup; when it is the supervisor leaf an earlier
 * driver with the same parent moved it into, the cgroup above is.
 *
 * cgroup v2 forbids a non-root cgroup to both hold processes and hand
 * controllers to its children ("no internal processes"), so enabling
 * controllers in `ownDir/cgroup.subtree_control` fails with EBUSY while this
 * process lives in `ownDir`. The driver then moves this process (only this
 * one: other processes are not ours to move) into the leaf
 * `<own>/<first parent component>-supervisor` and retries. If other
 * processes still keep `ownDir` busy, it moves back and throws: the server
 * must then run in a cgroup of its own, e.g. a systemd unit with
 * `Delegate=yes`. `homeProcsFiles` names the supervisor leaf after a move,
 * and close() moves the process back when it can.
 */
export async function openV2Driver(
  currentDir: string,
  options: V2DriverOptions,
): Promise<CgroupDriver> {
  const { fs } = options;
  const parts = parseParent(options.parent);
  const leafName = supervisorLeafName(options.parent);
  let ownDir = currentDir;
  let supervisor: Supervisor | null = null;
  // An earlier driver (same parent) already moved us into its leaf: the cgroup above is ours.
  if (currentDir.endsWith(`/${leafName}`)) {
    ownDir = currentDir.slice(0, currentDir.lastIndexOf("/"));
    supervisor = { dir: currentDir, created: false, moved: false };
  }
  const offered = words(await fs.read(joinPath(ownDir, "cgroup.controllers")));
  const missing = REQUIRED.filter((c) => !offered.includes(c));
  if (missing.length > 0) {
    throw new Error(
      `Cannot use cgroup v2 below ${ownDir}: controllers ${missing.join(", ")} are not in ` +
        `its cgroup.controllers (not delegated to this cgroup)`,
    );
  }
  const wanted = offered.includes("io") ? [...REQUIRED, "io"] : [...REQUIRED];

  let enabledAtOwn: string[];
  try {
    enabledAtOwn = await enableControllers(ownDir, { wanted, fs });
  } catch (e) {
    // The true root never answers EBUSY here; the root of a cgroup namespace (a container) does.
    if (!isBusy(e) || supervisor !== null) throw e;
    supervisor = await moveIntoSupervisor(ownDir, { leaf: leafName, fs });
    try {
      enabledAtOwn = await enableControllers(ownDir, { wanted, fs });
    } catch (e2) {
      await leaveSupervisor(ownDir, { supervisor, fs });
      if (!isBusy(e2)) throw e2;
      const others = parsePids(await fs.read(joinPath(ownDir, "cgroup.procs")))
        .filter((p) => p !== Deno.pid);
      throw new Error(
        `Cannot enable controllers ${wanted.join(" ")} in ${ownDir}: other processes ` +
          `(${others.slice(0, 10).join(", ")}) live in that cgroup too, and cgroup v2 forbids ` +
          `a cgroup that hands controllers to children to hold processes. Run the server in a ` +
          `cgroup of its own (e.g. a systemd unit with Delegate=yes)`,
        { cause: e2 },
      );
    }
  }

  let created: string[];
  try {
    created = await createParentDirs(ownDir, {
      parts,
      fs,
      afterLevel: async (dir) => {
        await enableControllers(dir, { wanted, fs });
      },
    });
  } catch (e) {
    if (supervisor?.moved) {
      await disableControllers(ownDir, { controllers: enabledAtOwn, fs }).catch(() => {});
      await leaveSupervisor(ownDir, { supervisor, fs }).catch(() => {});
    }
    throw e;
  }
  return new V2Driver(ownDir, {
    fs,
    parent: options.parent,
    wanted,
    // The parent itself is ours to remove when empty, also if an earlier driver
    // (a server before a restart) made it; levels above it only if we made them.
    created: [...new Set([...created, parentChain(ownDir, parts).at(-1)!])],
    supervisor,
    enabledAtOwn,
  });
}

/** Writes the missing `wanted` controllers to `dir/cgroup.subtree_control`; returns those it added. */
async function enableControllers(
  dir: string,
  options: { wanted: readonly string[]; fs: CgroupFs },
): Promise<string[]> {
  const file = joinPath(dir, "cgroup.subtree_control");
  const enabled = words(await options.fs.read(file));
  const add = options.wanted.filter((c) => !enabled.includes(c));
  if (add.length > 0) await options.fs.write(file, add.map((c) => `+${c}`).join(" "));
  return add;
}

async function disableControllers(
  dir: string,
  options: { controllers: readonly string[]; fs: CgroupFs },
): Promise<void> {
  if (options.controllers.length === 0) return;
  await options.fs.write(
    joinPath(dir, "cgroup.subtree_control"),
    options.controllers.map((c) => `-${c}`).join(" "),
  );
}

/** The leaf this process lives in while its own cgroup delegates controllers. */
interface Supervisor {
  dir: string;
  /** This driver made the directory (so it removes it again). */
  created: boolean;
  /** This driver moved the process there (so it moves it back). */
  moved: boolean;
}

async function moveIntoSupervisor(
  ownDir: string,
  options: { leaf: string; fs: CgroupFs },
): Promise<Supervisor> {
  const dir = joinPath(ownDir, options.leaf);
  let created = false;
  try {
    await options.fs.mkdir(dir);
    created = true;
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) {
      throw new Error(
        `Cannot create supervisor cgroup ${dir}: ${e instanceof Error ? e.message : e}`,
        {
          cause: e,
        },
      );
    }
  }
  try {
    await options.fs.write(joinPath(dir, "cgroup.procs"), String(Deno.pid));
  } catch (e) {
    if (created) await options.fs.rmdir(dir).catch(() => {});
    throw e;
  }
  return { dir, created, moved: true };
}

async function leaveSupervisor(
  ownDir: string,
  options: { supervisor: Supervisor; fs: CgroupFs },
): Promise<void> {
  await options.fs.write(joinPath(ownDir, "cgroup.procs"), String(Deno.pid));
  if (options.supervisor.created) await options.fs.rmdir(options.supervisor.dir);
}

interface V2DriverState {
  fs: CgroupFs;
  parent: string;
  wanted: string[];
  created: string[];
  supervisor: Supervisor | null;
  enabledAtOwn: string[];
}

class V2Driver implements CgroupDriver {
  readonly version = 2 as const;
  readonly parentPaths: readonly string[];
  readonly homeProcsFiles: readonly string[];
  readonly homeSpawnFiles: readonly string[];
  readonly #ownDir: string;
  readonly #parentDir: string;
  readonly #state: V2DriverState;
  #closed = false;

  constructor(ownDir: string, state: V2DriverState) {
    this.#ownDir = ownDir;
    this.#state = state;
    this.#parentDir = joinPath(ownDir, state.parent);
    this.parentPaths = Object.freeze([this.#parentDir]);
    this.homeProcsFiles = Object.freeze([
      joinPath(state.supervisor?.dir ?? ownDir, "cgroup.procs"),
    ]);
    this.homeSpawnFiles = this.homeProcsFiles;
  }

  async create(name: string): Promise<JobCgroup> {
    validateName(name);
    if (this.#closed) throw new Error(`Cannot create cgroup "${name}": the driver is closed`);
    const { fs } = this.#state;
    const [dir] = await mkdirJob(name, { parents: this.parentPaths, fs });
    if (dir === undefined) throw new Error(`Cannot create cgroup "${name}": no parent directory`);
    try {
      await fs.attachDevicePolicy(dir);
    } catch (e) {
      await fs.rmdir(dir).catch(() => {});
      throw e;
    }
    return await this.#jobCgroup(name, dir);
  }

  async open(name: string): Promise<JobCgroup> {
    validateName(name);
    const dir = joinPath(this.#parentDir, name);
    if (!(await this.#state.fs.exists(dir))) {
      throw new Deno.errors.NotFound(`Cannot open cgroup "${name}": ${dir} does not exist`);
    }
    return await this.#jobCgroup(name, dir);
  }

  list(): Promise<string[]> {
    return childNames([this.#parentDir], { fs: this.#state.fs });
  }

  async #jobCgroup(name: string, dir: string): Promise<JobCgroup> {
    return new V2JobCgroup(name, {
      fs: this.#state.fs,
      dir,
      hasIo: this.#state.wanted.includes("io"),
      hasSwapMax: await this.#state.fs.exists(joinPath(dir, "memory.swap.max")),
      home: this.homeSpawnFiles,
    });
  }

  /**
   * Removes the parent directory when empty (and the levels above that this
   * driver created; those still holding job cgroups stay, and a later
   * close() retries) and, if it moved this
   * process into a supervisor leaf and nothing else needs the controllers
   * any more, disables the controllers it enabled on the own cgroup and
   * moves the process back.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const { fs } = this.#state;
    const remaining = await removeCreatedParents(this.#state.created, { fs });
    this.#state.created.splice(0, this.#state.created.length, ...remaining);
    const supervisor = this.#state.supervisor;
    if (supervisor === null || !supervisor.moved) return;
    const leaf = supervisor.dir.slice(supervisor.dir.lastIndexOf("/") + 1);
    // Other children (our leftover jobs, another driver) still need the controllers.
    if ((await fs.subdirs(this.#ownDir)).some((d) => d !== leaf)) return;
    await disableControllers(this.#ownDir, { controllers: this.#state.enabledAtOwn, fs });
    this.#state.enabledAtOwn = [];
    await leaveSupervisor(this.#ownDir, { supervisor, fs });
    supervisor.moved = false;
  }
}

interface V2JobOptions {
  fs: CgroupFs;
  dir: string;
  /** The io controller is enabled for jobs. */
  hasIo: boolean;
  /** memory.swap.max exists (kernel with swap accounting). */
  hasSwapMax: boolean;
  /** The driver's homeSpawnFiles, for the spawn plan. */
  home: readonly string[];
}

class V2JobCgroup extends BaseJobCgroup {
  readonly #dir: string;
  readonly #hasIo: boolean;
  readonly #hasSwapMax: boolean;

  constructor(name: string, options: V2JobOptions) {
    // v2 moves whole processes: a spawner joins by cgroup.procs too.
    super(name, {
      fs: options.fs,
      paths: [options.dir],
      spawnFile: "cgroup.procs",
      home: options.home,
    });
    this.#dir = options.dir;
    this.#hasIo = options.hasIo;
    this.#hasSwapMax = options.hasSwapMax;
  }

  /**
   * The writes, in order. IO: one io.max line per device carrying only the
   * directions present in `limits` (null → "max"), so an absent direction
   * keeps its current limit. A memory limit also sets memory.swap.max to 0
   * (where the kernel has it) so the limit cannot be dodged by swapping.
   */
  limitWrites(limits: Partial<ResourceLimits>, devices: readonly DeviceNumber[]): FileWrite[] {
    const writes: FileWrite[] = [];
    const add = (file: string, value: string) =>
      writes.push({ path: joinPath(this.#dir, file), value });

    if (limits.cpu !== undefined) {
      const quota = limits.cpu === null ? "max" : String(cpuQuotaUs(limits.cpu));
      add("cpu.max", `${quota} ${CPU_PERIOD_US}`);
    }
    if (limits.memoryBytes !== undefined) {
      const value = limits.memoryBytes === null
        ? "max"
        : integerText("memory limit (bytes)", limits.memoryBytes, { min: 0 });
      add("memory.max", value);
      if (this.#hasSwapMax) add("memory.swap.max", value === "max" ? "max" : "0");
    }
    const io: string[] = [];
    let anyIoLimit = false;
    for (const [key, word] of [["ioReadBps", "rbps"], ["ioWriteBps", "wbps"]] as const) {
      const limit = limits[key];
      if (limit === undefined) continue;
      anyIoLimit ||= limit !== null;
      // v1 reads 0 as "remove the rule"; requiring >= 1 keeps both versions meaning the same.
      io.push(`${word}=${limit === null ? "max" : integerText(`${key} limit`, limit, { min: 1 })}`);
    }
    if (io.length > 0) {
      for (const dev of devices) validateDevice(dev);
      if (!this.#hasIo) {
        if (anyIoLimit && devices.length > 0) {
          throw new Error(
            `Cannot limit IO of cgroup "${this.name}": the io controller is not available`,
          );
        }
      } else {
        for (const dev of devices) add("io.max", `${dev} ${io.join(" ")}`);
      }
    }
    if (limits.pids !== undefined) add("pids.max", pidsMaxText(limits.pids));
    return writes;
  }

  async stats(): Promise<CgroupStats> {
    const read = (file: string) => this.fs.readOptional(joinPath(this.#dir, file));
    const [cpu, current, peak, events, pids, ioStat] = await Promise.all([
      read("cpu.stat"),
      read("memory.current"),
      read("memory.peak"),
      read("memory.events"),
      read("pids.current"),
      // Missing when the io controller is not enabled for the job: then null figures.
      read("io.stat"),
    ]);
    const usageUsec = cpu === null ? null : keyedValue(cpu, "usage_usec");
    const io = ioStat === null ? null : parseIoStat(ioStat);
    return {
      cpuUsageNs: usageUsec === null ? null : usageUsec * 1000,
      memoryCurrentBytes: parseNumber(current),
      memoryPeakBytes: parseNumber(peak),
      oomKills: events === null ? 0 : keyedValue(events, "oom_kill") ?? 0,
      pidsCurrent: parseNumber(pids),
      ioReadBytes: io?.readBytes ?? null,
      ioWriteBytes: io?.writeBytes ?? null,
    };
  }

  /** `populated` from cgroup.events (which also counts child cgroups), else a non-empty procs list. */
  async #populated(): Promise<boolean> {
    const events = await this.fs.readOptional(joinPath(this.#dir, "cgroup.events"));
    const populated = events === null ? null : keyedValue(events, "populated");
    if (populated !== null) return populated !== 0;
    return (await pidsOrNone(this)).length > 0;
  }

  /**
   * cgroup.kill (Linux 5.14+) kills the whole subtree atomically, forks
   * included. Older kernels: freeze so nothing forks, SIGKILL every listed
   * PID, thaw so the signals are delivered. Either way, wait for
   * `populated 0`.
   */
  async kill(): Promise<void> {
    const deadline = Date.now() + WAIT_TIMEOUT_MS;
    const killFile = joinPath(this.#dir, "cgroup.kill");
    if (await this.fs.exists(killFile)) {
      await this.fs.write(killFile, "1");
    } else if ((await pidsOrNone(this)).length > 0) {
      const freeze = joinPath(this.#dir, "cgroup.freeze");
      const events = joinPath(this.#dir, "cgroup.events");
      await killFrozen(this, {
        deadline,
        freezer: {
          freeze: () => this.fs.write(freeze, "1"),
          isFrozen: async () => keyedValue(await this.fs.read(events), "frozen") === 1,
          thaw: () => this.fs.write(freeze, "0"),
        },
      });
    }
    // Empty means `populated 0`, which also waits for child cgroups and dying tasks.
    await killUntilEmpty(async () => (await this.#populated()) ? await pidsOrNone(this) : null, {
      deadline,
      timeoutError: (pids) =>
        new Error(
          `Cannot kill cgroup "${this.name}" (${this.#dir}): still populated after ` +
            `${WAIT_TIMEOUT_MS} ms (processes ${pids.slice(0, 10).join(", ")})`,
        ),
    });
  }
}
