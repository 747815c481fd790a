/**
 * Finds out how cgroups are set up on this host (legacy v1 hierarchies or
 * the unified v2 hierarchy) and where this process's own cgroup lives, and
 * opens the matching driver. The internal entry of the module: every test
 * seam (a root prefix for a fake tree, ready-made /proc texts, the fake
 * kernel's hooks) is an option here. Production code goes through
 * `detectCgroupDriver` (./detect.ts, re-exported by ./mod.ts), which
 * passes none; tests import this file directly.
 *
 * @module
 */
import type { CgroupDriver } from "./types.ts";
import { CgroupFs, type CgroupFsHooks, joinPath, parseParent } from "./_fs.ts";
import {
  type MountInfo,
  parseProcCgroup,
  type ProcCgroupEntry,
  type ProcOptions,
  readSelfCgroup,
  rootOf,
  type RootOption,
  selfMounts,
} from "./_proc.ts";
import { openV1Driver, type V1OwnDirs } from "./v1.ts";
import { openV2Driver } from "./v2.ts";

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

/**
 * Reads the host's mount table and cgroup membership and resolves the
 * {@link CgroupLayout}. The options (root prefix, ready-made texts) are test hooks.
 */
export async function detectCgroupLayout(options: ProcOptions = {}): Promise<CgroupLayout> {
  const root = rootOf(options);
  const mounts = await selfMounts(options);
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

/** Options of {@link openCgroupDriver}: `parent` and, for tests, every seam. */
export interface OpenCgroupOptions extends ProcOptions {
  /** See `DetectCgroupOptions.parent` in ./detect.ts; default "jobworker". */
  parent?: string;
  /** Test hook: emulates cgroupfs side effects when `root` points at a plain directory tree. */
  fsHooks?: CgroupFsHooks;
}

/**
 * Detects the cgroup version (below `options.root`) and opens the driver
 * that creates job cgroups below `<own cgroup>/<parent>`: what
 * `detectCgroupDriver` does, with the test seams open.
 *
 * @example
 * ```ts
 * const fake = await FakeCgroupTree.create({ version: 2 });
 * const driver = await openCgroupDriver({ parent: "jobworker", root: fake.root, fsHooks: fake.hooks });
 * ```
 *
 * @throws TypeError for an invalid `parent` (before anything is read); Error when no usable
 *   cgroup setup exists or the parent cannot be created.
 */
export async function openCgroupDriver(options: OpenCgroupOptions = {}): Promise<CgroupDriver> {
  const parent = options.parent ?? "jobworker";
  parseParent(parent);
  const layout = await detectCgroupLayout(options);
  const fs = new CgroupFs(options.fsHooks ?? {});
  if (layout.version === 1) return await openV1Driver(layout.ownDirs, { parent, fs });
  return await openV2Driver(layout.ownDir, { parent, fs });
}
