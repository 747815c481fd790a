/**
 * Finds out how cgroups are set up on this host (legacy v1 hierarchies or
 * the unified v2 hierarchy) and where this process's own cgroup lives, and
 * opens the matching driver. Parsing is split into pure functions over the
 * texts of `/proc/self/mountinfo` and `/proc/self/cgroup` so it can be
 * tested with fixtures.
 *
 * @module
 */
import type { CgroupDriver } from "./types.ts";
import { CgroupFs, joinPath, parseParent } from "./_fs.ts";
import { openV1Driver, type V1OwnDirs } from "./v1.ts";
import { openV2Driver } from "./v2.ts";

/**
 * Side effects of cgroupfs that a plain directory tree lacks. Unit tests pass
 * these to run the real drivers against a temporary directory: the kernel
 * creates control files on mkdir, removes them on rmdir, and reacts to
 * writes (a PID written to `cgroup.procs` joins the cgroup); the hooks
 * emulate exactly that. Production code passes no hooks.
 */
export interface CgroupFsHooks {
  /** Called after the driver created cgroup directory `dir`. */
  afterMkdir?(dir: string): Promise<void> | void;
  /** Called before each attempt to remove cgroup directory `dir`. */
  beforeRmdir?(dir: string): Promise<void> | void;
  /** Called before the driver reads control file `file`. */
  beforeRead?(file: string): Promise<void> | void;
  /** Called after the driver wrote `value` to control file `file`; may throw like the kernel. */
  afterWrite?(file: string, value: string): Promise<void> | void;
  /**
   * Called INSTEAD of attaching the device program to cgroup v2 directory
   * `dir` (a plain directory cannot hold one).
   */
  attachDeviceProgram?(dir: string): Promise<void> | void;
}

/** One line of `/proc/self/mountinfo`. */
export interface MountInfo {
  /** Mount ID (field 1). */
  id: number;
  /** ID of the parent mount (field 2). */
  parentId: number;
  /** Major device number of the file system (field 3, before ":"). */
  major: number;
  /** Minor device number of the file system (field 3, after ":"). */
  minor: number;
  /** The directory of the file system that is mounted (field 4), e.g. "/" or a cgroup path. */
  root: string;
  /** Where it is mounted (field 5), octal escapes decoded. */
  mountPoint: string;
  /** Per-mount options (field 6). */
  options: string[];
  /** File-system type after the " - " separator, e.g. "ext4", "cgroup", "cgroup2". */
  fsType: string;
  /** Mount source, e.g. "/dev/vda" or "cgroup". */
  source: string;
  /** Per-superblock options; for cgroup v1 these name the hierarchy's controllers. */
  superOptions: string[];
}

function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * Parses the text of `/proc/self/mountinfo` (see proc(5)); malformed lines are skipped.
 *
 * @example
 * ```ts
 * const [m] = parseMountinfo("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n");
 * // m.mountPoint === "/", m.major === 254, m.fsType === "ext4"
 * ```
 */
export function parseMountinfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const head = line.slice(0, sep).split(" ");
    const tail = line.slice(sep + 3).split(" ");
    const [id, parentId, devNo, root, mountPoint, options] = head;
    const [fsType, source, superOptions] = tail;
    const dev = /^(\d+):(\d+)$/.exec(devNo ?? "");
    if (
      id === undefined || parentId === undefined || dev === null || root === undefined ||
      mountPoint === undefined || options === undefined || fsType === undefined
    ) continue;
    mounts.push({
      id: Number(id),
      parentId: Number(parentId),
      major: Number(dev[1]),
      minor: Number(dev[2]),
      root: unescapeMountField(root),
      mountPoint: unescapeMountField(mountPoint),
      options: options.split(","),
      fsType,
      source: unescapeMountField(source ?? ""),
      superOptions: (superOptions ?? "").split(",").filter((o) => o !== ""),
    });
  }
  return mounts;
}

/** One line of `/proc/self/cgroup`: `hierarchy-ID:controller-list:cgroup-path`. */
export interface ProcCgroupEntry {
  /** 0 for the unified (v2) hierarchy. */
  hierarchyId: number;
  /** Controllers bound to the hierarchy (empty for v2; may include "name=systemd"). */
  controllers: string[];
  /** The process's cgroup, relative to the hierarchy root as this process sees it. */
  path: string;
}

/**
 * Parses the text of `/proc/self/cgroup` (see cgroups(7)).
 *
 * @example
 * ```ts
 * parseProcCgroup("4:memory:/process_api/x\n0::/\n");
 * // [{ hierarchyId: 4, controllers: ["memory"], path: "/process_api/x" },
 * //  { hierarchyId: 0, controllers: [], path: "/" }]
 * ```
 */
export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const entries: ProcCgroupEntry[] = [];
  for (const line of text.split("\n")) {
    // The path may itself contain ":", so split only at the first two.
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const id = Number(line.slice(0, first));
    if (!Number.isInteger(id)) continue;
    entries.push({
      hierarchyId: id,
      controllers: line.slice(first + 1, second).split(",").filter((c) => c !== ""),
      path: line.slice(second + 1),
    });
  }
  return entries;
}

/** The test hook shared by the readers: a prefix for every file-system path. */
export interface RootOption {
  /** Prefix of all file-system paths (default ""), for tests that lay out a fake tree. */
  root?: string;
}

function rootOf(options: RootOption): string {
  return (options.root ?? "").replace(/\/+$/, "");
}

/** Reads `/proc/self/mountinfo` (below `options.root`). */
export function readMountinfo(options: RootOption = {}): Promise<string> {
  return Deno.readTextFile(`${rootOf(options)}/proc/self/mountinfo`);
}

/** Reads `/proc/self/cgroup` (below `options.root`). */
export function readSelfCgroup(options: RootOption = {}): Promise<string> {
  return Deno.readTextFile(`${rootOf(options)}/proc/self/cgroup`);
}

/** Controllers a v1 setup must have, each in some hierarchy. */
const V1_REQUIRED = ["cpu", "cpuacct", "memory", "pids"] as const;
/** Controllers a v2 setup must offer. */
const V2_REQUIRED = ["cpu", "memory", "pids"] as const;

/** Where this process's cgroups are and which version drives them; paths include the root prefix. */
export type CgroupLayout =
  | {
    version: 1;
    /** This process's own cgroup directory in each controller's hierarchy (null: not mounted). */
    ownDirs: V1OwnDirs;
  }
  | {
    version: 2;
    /** The cgroup2 mount point (root prefix included). */
    mountPoint: string;
    /** This process's own cgroup directory. */
    ownDir: string;
    /** Controllers the cgroup2 hierarchy offers (its root's cgroup.controllers). */
    controllers: string[];
  };

/** What {@link resolveCgroupLayout} decides from. */
export interface LayoutInput {
  /** Parsed `/proc/self/mountinfo`. */
  mounts: readonly MountInfo[];
  /** Parsed `/proc/self/cgroup`. */
  selfCgroup: readonly ProcCgroupEntry[];
  /** The cgroup2 root's `cgroup.controllers` words, or null when no cgroup2 is mounted. */
  v2Controllers: readonly string[] | null;
}

/**
 * The directory of cgroup `cgroupPath` inside mount `mount`. A mount may
 * show a sub-tree (its root field); paths outside it cannot be reached.
 */
function dirInMount(
  mount: MountInfo,
  cgroupPath: string,
  options: { root: string },
): string | null {
  const { root } = options;
  let rel: string;
  if (mount.root === "/") rel = cgroupPath;
  else if (cgroupPath === mount.root) rel = "/";
  else if (cgroupPath.startsWith(`${mount.root}/`)) rel = cgroupPath.slice(mount.root.length);
  else return null;
  if (!rel.startsWith("/") || rel.split("/").includes("..")) return null;
  return joinPath(root + mount.mountPoint, rel).replace(/\/$/, "") || "/";
}

/** The first cgroup2 mount, or null. */
export function findCgroup2Mount(mounts: readonly MountInfo[]): MountInfo | null {
  return mounts.find((m) => m.fsType === "cgroup2") ?? null;
}

/**
 * Decides between v1 and v2 and locates this process's own cgroup(s).
 * v2 wins when cgroup2 offers cpu, memory and pids and none of them is
 * bound to a v1 hierarchy; otherwise v1 needs cpu, cpuacct, memory and pids
 * hierarchies (blkio, freezer and devices are used when present). Pure.
 *
 * @throws Error naming what is missing when neither version is usable.
 */
export function resolveCgroupLayout(input: LayoutInput, options: RootOption = {}): CgroupLayout {
  const root = rootOf(options);
  const v1Mounts = input.mounts.filter((m) => m.fsType === "cgroup");
  const v1MountOf = (controller: string) =>
    v1Mounts.filter((m) => m.superOptions.includes(controller));
  const v2Mount = findCgroup2Mount(input.mounts);
  const v2Offers = input.v2Controllers ?? [];

  const v2Usable = v2Mount !== null && V2_REQUIRED.every((c) => v2Offers.includes(c)) &&
    V2_REQUIRED.every((c) => v1MountOf(c).length === 0);
  if (v2Usable) {
    const entry = input.selfCgroup.find((e) => e.hierarchyId === 0);
    if (entry === undefined) {
      throw new Error(
        "Cannot find this process's cgroup v2 path: /proc/self/cgroup has no 0:: line",
      );
    }
    const ownDir = dirInMount(v2Mount, entry.path, { root });
    if (ownDir === null) {
      throw new Error(
        `Cannot locate this process's cgroup ${entry.path} in the cgroup2 mount at ` +
          `${v2Mount.mountPoint} (it shows only ${v2Mount.root})`,
      );
    }
    return {
      version: 2,
      mountPoint: root + v2Mount.mountPoint,
      ownDir,
      controllers: [...v2Offers],
    };
  }

  const missing = V1_REQUIRED.filter((c) => v1MountOf(c).length === 0);
  if (missing.length > 0) {
    const v2Text = v2Mount === null
      ? "no cgroup2 is mounted"
      : `cgroup2 at ${v2Mount.mountPoint} offers [${v2Offers.join(" ")}], needs ${
        V2_REQUIRED.join(", ")
      }`;
    throw new Error(
      `No usable cgroup setup: cgroup v1 lacks hierarchies for ${
        missing.join(", ")
      }, and ${v2Text}`,
    );
  }

  const ownDirOf = (controller: string): string | null => {
    const candidates = v1MountOf(controller);
    if (candidates.length === 0) return null;
    const entry = input.selfCgroup.find((e) => e.controllers.includes(controller));
    if (entry === undefined) {
      throw new Error(
        `Cannot find this process's cgroup in the ${controller} hierarchy: ` +
          `/proc/self/cgroup has no line for it`,
      );
    }
    for (const mount of candidates) {
      const dir = dirInMount(mount, entry.path, { root });
      if (dir !== null) return dir;
    }
    throw new Error(
      `Cannot locate this process's cgroup ${entry.path} in the ${controller} hierarchy: ` +
        `no mount of it shows that path`,
    );
  };
  const need = (controller: string): string => {
    const dir = ownDirOf(controller);
    if (dir === null) throw new Error(`The ${controller} hierarchy is not mounted`);
    return dir;
  };
  return {
    version: 1,
    ownDirs: {
      cpu: need("cpu"),
      cpuacct: need("cpuacct"),
      memory: need("memory"),
      pids: need("pids"),
      blkio: ownDirOf("blkio"),
      freezer: ownDirOf("freezer"),
      devices: ownDirOf("devices"),
    },
  };
}

/** Options of {@link detectCgroupLayout}; the texts and root are test hooks. */
export interface DetectLayoutOptions extends RootOption {
  /** Text to use instead of reading `/proc/self/mountinfo`. */
  mountinfo?: string;
  /** Text to use instead of reading `/proc/self/cgroup`. */
  selfCgroup?: string;
}

/** Reads the host's mount table and cgroup membership and resolves the {@link CgroupLayout}. */
export async function detectCgroupLayout(options: DetectLayoutOptions = {}): Promise<CgroupLayout> {
  const root = rootOf(options);
  const mounts = parseMountinfo(options.mountinfo ?? await readMountinfo({ root }));
  const selfCgroup = parseProcCgroup(options.selfCgroup ?? await readSelfCgroup({ root }));
  const v2Mount = findCgroup2Mount(mounts);
  let v2Controllers: string[] | null = null;
  if (v2Mount !== null) {
    const file = `${root}${v2Mount.mountPoint}/cgroup.controllers`;
    try {
      v2Controllers = (await Deno.readTextFile(file)).split(/\s+/).filter((c) => c !== "");
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      v2Controllers = [];
    }
  }
  return resolveCgroupLayout({ mounts, selfCgroup, v2Controllers }, { root });
}

/** Options of {@link detectCgroupDriver}. */
export interface DetectCgroupOptions {
  /**
   * Where job cgroups go, relative to the cgroup this process runs in (per
   * hierarchy on v1), e.g. "jobworker" or "jobworker/prod". Default
   * "jobworker". Absolute paths, "." / ".." and empty components are
   * rejected with a TypeError, so jobs can never escape this process's own
   * subtree.
   */
  parent?: string;
  /** Test hook: prefix of all file-system paths (default ""), e.g. a fake cgroupfs tree. */
  root?: string;
  /** Test hook: text to use instead of reading `/proc/self/mountinfo`. */
  mountinfo?: string;
  /** Test hook: text to use instead of reading `/proc/self/cgroup`. */
  selfCgroup?: string;
  /** Test hook: emulates cgroupfs side effects when `root` points at a plain directory tree. */
  fsHooks?: CgroupFsHooks;
}

/**
 * Detects the host's cgroup version and opens the driver that creates job
 * cgroups below `<own cgroup>/<parent>`, creating the parent directories
 * (and, on v2, enabling the controllers) as needed. Call `close()` on the
 * result at shutdown to remove the parent directories it created.
 *
 * @example
 * ```ts
 * const driver = await detectCgroupDriver({ parent: "jobworker" });
 * const job = await driver.create("job-1");
 * await job.setLimits({ memoryBytes: 64 * 2 ** 20, pids: 100 }, []);
 * // ... spawn a process into job.procsFiles, then:
 * await job.kill();
 * await job.destroy();
 * await driver.close();
 * ```
 *
 * @throws TypeError for an invalid `parent`; Error when no usable cgroup setup exists or the
 *   parent cannot be created.
 */
export async function detectCgroupDriver(options: DetectCgroupOptions = {}): Promise<CgroupDriver> {
  const parent = options.parent ?? "jobworker";
  parseParent(parent);
  const layout = await detectCgroupLayout(options);
  const fs = new CgroupFs(options.fsHooks ?? {});
  if (layout.version === 1) return await openV1Driver(layout.ownDirs, { parent, fs });
  return await openV2Driver(layout.ownDir, { parent, fs });
}
