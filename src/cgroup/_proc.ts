/**
 * This process's view of its mounts and cgroups: the texts of
 * `/proc/self/mountinfo` and `/proc/self/cgroup`, read and parsed. Parsing
 * is pure so it can be tested with fixtures; the readers take a root
 * prefix (and ready-made texts) so tests can point them at a fake tree.
 * Both the layout detection (./_detect.ts) and the device lookups
 * (./_devices.ts) read mounts through here.
 *
 * @module
 */

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

/** The test hooks of the readers: a root prefix, and texts to use instead of the /proc files. */
export interface ProcOptions extends RootOption {
  /** Text to use instead of reading `/proc/self/mountinfo`. */
  mountinfo?: string;
  /** Text to use instead of reading `/proc/self/cgroup`. */
  selfCgroup?: string;
}

/** `options.root` without trailing slashes ("" when absent), ready to prefix absolute paths. */
export function rootOf(options: RootOption): string {
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

/** This process's mounts: `options.mountinfo` when given, else `/proc/self/mountinfo`, parsed. */
export async function selfMounts(options: ProcOptions = {}): Promise<MountInfo[]> {
  return parseMountinfo(options.mountinfo ?? await readMountinfo(options));
}
