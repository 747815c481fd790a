/**
 * What the cgroup checks decide from, gathered from /proc and /sys: the
 * hierarchies (v1) or the unified hierarchy (v2), this process's cgroups
 * in them, and, as root, a throwaway test cgroup made below this process's
 * own cgroup in each hierarchy, where every limit the server sets is
 * written once. The test cgroup never holds a process and is removed at
 * once; nothing else is written (not even cgroup.subtree_control, which
 * the server changes itself when it starts).
 *
 * @module
 */
import { messageOf } from "./_check.ts";
import { cgroupDirIn, type CgroupEntry, type MountEntry } from "./_proc.ts";

/** The v1 controllers the server uses: the first four it needs, the rest when mounted. */
export const V1_CONTROLLERS = [
  "cpu",
  "cpuacct",
  "memory",
  "pids",
  "blkio",
  "devices",
  "freezer",
] as const;

/** One of {@link V1_CONTROLLERS}. */
export type V1Controller = (typeof V1_CONTROLLERS)[number];

/** What happened in a test cgroup. */
export interface Trial {
  /** The test cgroup's directory. */
  dir: string;
  /** Why it could not be made, or null. */
  createError: string | null;
  /** Its files. */
  files: string[];
  /**
   * v2: its cgroup.controllers, the controllers enabled for it (its parent's
   * subtree_control); null on v1. File names cannot tell: cpu.stat and the
   * *.pressure files are there whether a controller is enabled or not.
   */
  controllers: string[] | null;
  /** Each file written, with null when the kernel took the value, or the error. */
  writes: Record<string, string | null>;
  /** Files read back, with their text, or null when unreadable. */
  reads: Record<string, string | null>;
  /** Why it could not be removed again, or null. */
  removeError: string | null;
}

/** A v1 hierarchy that holds a controller the server uses. */
export interface V1Hierarchy {
  mountPoint: string;
  /** Mounted read-only. */
  readOnly: boolean;
  /** This process's cgroup directory in it, or null when the mount does not show it. */
  ownDir: string | null;
  /** The files of that directory, or null when unreadable. */
  ownFiles: string[] | null;
  /** The test cgroup (root only), or null. */
  trial: Trial | null;
}

/** The unified (cgroup2) hierarchy. */
export interface V2Facts {
  mountPoint: string;
  readOnly: boolean;
  /** The root's cgroup.controllers: what the hierarchy offers at all. */
  rootControllers: string[];
  /** This process's cgroup directory, or null when the mount does not show it. */
  ownDir: string | null;
  /** Its cgroup.controllers: what its parent hands down to it. */
  ownControllers: string[] | null;
  /** Its cgroup.subtree_control: what it hands down to its children now. */
  ownSubtree: string[] | null;
  /** Its cgroup.type (null at the root, which has none). */
  ownType: string | null;
  /** How many processes it holds. */
  ownProcs: number | null;
  /** It is the root of the hierarchy (exempt from "no internal processes"). */
  isRoot: boolean;
  trial: Trial | null;
}

/** Everything the cgroup checks look at. */
export interface CgroupFacts {
  /** Controllers bound to some v1 hierarchy (any controller, not only the server's). */
  v1Bound: string[];
  /** The hierarchy of each controller the server uses, where mounted. */
  v1: Partial<Record<V1Controller, V1Hierarchy>>;
  /** The first cgroup2 mount, or null. */
  v2: V2Facts | null;
  /** Swap is on (a line in /proc/swaps). */
  swapActive: boolean;
  /** The kernel's build configuration (/proc/config.gz), or null when not offered. */
  kernelConfig: Map<string, string> | null;
}

/** The values written into a test cgroup: what the server writes for a job, once each. */
const V1_WRITES: Partial<Record<V1Controller, Array<[string, string]>>> = {
  cpu: [["cpu.cfs_quota_us", "50000"]],
  memory: [["memory.limit_in_bytes", "67108864"]],
  pids: [["pids.max", "64"]],
  devices: [["devices.deny", "a"], ["devices.allow", "c 1:3 rw"]],
};
const V1_READS: Partial<Record<V1Controller, string[]>> = {
  memory: ["memory.oom_control"],
  devices: ["devices.list"],
};
const V2_WRITES: Record<string, Array<[string, string]>> = {
  cpu: [["cpu.max", "50000 100000"]],
  memory: [["memory.max", "67108864"]],
  pids: [["pids.max", "64"]],
};
const V2_READS: Record<string, string[]> = { memory: ["memory.events"] };

/** Words of a cgroup v1 mount's options that are not controllers. */
const NOT_CONTROLLERS = new Set([
  "rw",
  "ro",
  "xattr",
  "noprefix",
  "clone_children",
  "cpuset_v2_mode",
]);

async function readText(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

async function listFiles(dir: string): Promise<string[] | null> {
  try {
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir)) if (entry.isFile) names.push(entry.name);
    return names.sort();
  } catch {
    return null;
  }
}

const words = (text: string | null) =>
  text === null ? null : text.split(/\s+/).filter((w) => w !== "");

/**
 * Makes a test cgroup below `ownDir`, writes `writes` and reads `reads` in
 * it, and removes it. `writes` may depend on the files it has (a v2
 * cgroup's depend on what its parent hands down).
 */
async function tryCgroup(
  ownDir: string,
  plan: (controllers: string[] | null) => { writes: Array<[string, string]>; reads: string[] },
): Promise<Trial> {
  const dir = `${ownDir}/jobworker-doctor-${crypto.randomUUID().slice(0, 8)}`;
  const trial: Trial = {
    dir,
    createError: null,
    files: [],
    controllers: null,
    writes: {},
    reads: {},
    removeError: null,
  };
  try {
    await Deno.mkdir(dir);
  } catch (err) {
    trial.createError = messageOf(err);
    return trial;
  }
  try {
    trial.files = (await listFiles(dir)) ?? [];
    if (trial.files.includes("cgroup.controllers")) {
      trial.controllers = words(await readText(`${dir}/cgroup.controllers`));
    }
    const { writes, reads } = plan(trial.controllers);
    for (const [file, value] of writes) {
      try {
        await Deno.writeTextFile(`${dir}/${file}`, value, { create: false });
        trial.writes[file] = null;
      } catch (err) {
        trial.writes[file] = messageOf(err);
      }
    }
    for (const file of reads) trial.reads[file] = await readText(`${dir}/${file}`);
  } finally {
    try {
      await Deno.remove(dir);
    } catch (err) {
      trial.removeError = messageOf(err);
    }
  }
  return trial;
}

async function gatherV1(
  cgroupMounts: readonly MountEntry[],
  self: readonly CgroupEntry[],
  options: { root: boolean },
): Promise<Partial<Record<V1Controller, V1Hierarchy>>> {
  const result: Partial<Record<V1Controller, V1Hierarchy>> = {};
  // Co-mounted controllers (cpu,cpuacct) share one hierarchy: one test cgroup for them all.
  const byMount = new Map<string, V1Hierarchy>();
  for (const controller of V1_CONTROLLERS) {
    const mount = cgroupMounts.find((m) =>
      m.fsType === "cgroup" && m.superOptions.includes(controller)
    );
    if (mount === undefined) continue;
    let hierarchy = byMount.get(mount.mountPoint);
    if (hierarchy === undefined) {
      const entry = self.find((e) => e.controllers.includes(controller));
      const ownDir = entry === undefined ? null : cgroupDirIn(mount, entry.path);
      const together = V1_CONTROLLERS.filter((c) => mount.superOptions.includes(c));
      hierarchy = {
        mountPoint: mount.mountPoint,
        readOnly: mount.mountOptions.includes("ro") || mount.superOptions.includes("ro"),
        ownDir,
        ownFiles: ownDir === null ? null : await listFiles(ownDir),
        trial: ownDir === null || !options.root ? null : await tryCgroup(ownDir, () => ({
          writes: together.flatMap((c) => V1_WRITES[c] ?? []),
          reads: together.flatMap((c) => V1_READS[c] ?? []),
        })),
      };
      byMount.set(mount.mountPoint, hierarchy);
    }
    result[controller] = hierarchy;
  }
  return result;
}

async function gatherV2(
  mount: MountEntry,
  self: readonly CgroupEntry[],
  options: { root: boolean },
): Promise<V2Facts> {
  const entry = self.find((e) => e.id === 0);
  const ownDir = entry === undefined ? null : cgroupDirIn(mount, entry.path);
  const rootControllers = words(await readText(`${mount.mountPoint}/cgroup.controllers`)) ?? [];
  const isRoot = ownDir !== null && ownDir === mount.mountPoint.replace(/\/$/, "");
  const procs = ownDir === null ? null : await readText(`${ownDir}/cgroup.procs`);
  return {
    mountPoint: mount.mountPoint,
    readOnly: mount.mountOptions.includes("ro"),
    rootControllers,
    ownDir,
    ownControllers: ownDir === null ? null : words(await readText(`${ownDir}/cgroup.controllers`)),
    ownSubtree: ownDir === null ? null : words(await readText(`${ownDir}/cgroup.subtree_control`)),
    ownType: ownDir === null || isRoot ? null : (await readText(`${ownDir}/cgroup.type`))?.trim() ??
      null,
    ownProcs: procs === null ? null : procs.split("\n").filter((l) => l !== "").length,
    isRoot,
    // Where cgroup2 offers nothing (a hybrid host), the server does not use it: no test cgroup.
    trial: ownDir === null || !options.root || rootControllers.length === 0
      ? null
      : await tryCgroup(ownDir, (controllers) => {
        // Only controllers this cgroup hands down have their limit files in the test cgroup.
        const enabled = Object.keys(V2_WRITES).filter((c) => controllers?.includes(c));
        return {
          writes: enabled.flatMap((c) => V2_WRITES[c] ?? []),
          reads: enabled.flatMap((c) => V2_READS[c] ?? []),
        };
      }),
  };
}

/** The kernel's configuration from /proc/config.gz, or null when the kernel does not offer it. */
async function kernelConfig(): Promise<Map<string, string> | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open("/proc/config.gz");
  } catch {
    return null;
  }
  try {
    const text = await new Response(
      file.readable.pipeThrough(new DecompressionStream("gzip")),
    ).text();
    const config = new Map<string, string>();
    for (const line of text.split("\n")) {
      const m = /^(CONFIG_\w+)=(.*)$/.exec(line);
      if (m !== null) config.set(m[1]!, m[2]!);
    }
    return config;
  } catch {
    return null;
  }
}

/**
 * Gathers the {@link CgroupFacts} from this process's mount table and
 * cgroup membership; as `root`, with a test cgroup in each hierarchy.
 */
export async function gatherCgroupFacts(
  mounts: readonly MountEntry[],
  self: readonly CgroupEntry[],
  options: { root: boolean },
): Promise<CgroupFacts> {
  const cgroupMounts = mounts.filter((m) => m.fsType === "cgroup" || m.fsType === "cgroup2");
  const v1Bound = new Set<string>();
  for (const m of cgroupMounts) {
    if (m.fsType !== "cgroup") continue;
    for (const word of m.superOptions) {
      if (!NOT_CONTROLLERS.has(word) && !word.includes("=")) v1Bound.add(word);
    }
  }
  const v2Mount = cgroupMounts.find((m) => m.fsType === "cgroup2");
  const swaps = await readText("/proc/swaps");
  return {
    v1Bound: [...v1Bound].sort(),
    v1: await gatherV1(cgroupMounts, self, options),
    v2: v2Mount === undefined ? null : await gatherV2(v2Mount, self, options),
    swapActive: swaps !== null && swaps.split("\n").slice(1).some((l) => l.trim() !== ""),
    kernelConfig: await kernelConfig(),
  };
}
