/**
 * Parsers for the /proc and /etc texts the checks read. Pure: each takes
 * the text, so the tests feed them made-up hosts. Written apart from
 * src/cgroup's own parsers on purpose: the doctor must be able to catch
 * what those get wrong.
 *
 * @module
 */

/** The `Name:\tvalue` lines of /proc/PID/status, by name. */
export function parseStatus(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

/** A capability mask as /proc/PID/status prints it (hex, e.g. `000001ffffffffff`). */
export function parseCapMask(hex: string | undefined): bigint | null {
  if (hex === undefined || !/^[0-9a-fA-F]{1,16}$/.test(hex)) return null;
  return BigInt(`0x${hex}`);
}

/** Whether capability number `cap` is in `mask`. */
export function hasCap(mask: bigint, cap: number): boolean {
  return ((mask >> BigInt(cap)) & 1n) === 1n;
}

/** One line of /proc/PID/mountinfo. */
export interface MountEntry {
  /** The `MAJ:MIN` of the file system. */
  dev: string;
  /** The mount's root inside its file system (a cgroup path for cgroup mounts). */
  root: string;
  /** Where it is mounted, with the kernel's octal escapes decoded. */
  mountPoint: string;
  /** Per-mount options, e.g. `rw`, `nosuid`. */
  mountOptions: string[];
  /** The file system type, e.g. `ext4`, `cgroup2`, `fuse.sshfs`. */
  fsType: string;
  source: string;
  /** Per-superblock options (cgroup v1: the hierarchy's controllers). */
  superOptions: string[];
}

const unescapeOctal = (text: string) =>
  text.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/**
 * Parses /proc/PID/mountinfo. The optional fields make the number of
 * fields before " - " vary, so the line is split there first.
 */
export function parseMountinfo(text: string): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const head = line.slice(0, sep).split(" ");
    const tail = line.slice(sep + 3).split(" ");
    if (head.length < 6 || tail.length < 3) continue;
    mounts.push({
      dev: head[2]!,
      root: unescapeOctal(head[3]!),
      mountPoint: unescapeOctal(head[4]!),
      mountOptions: head[5]!.split(","),
      fsType: tail[0]!,
      source: unescapeOctal(tail[1]!),
      superOptions: tail[2]!.split(","),
    });
  }
  return mounts;
}

/**
 * The mount that holds absolute path `path`: the one with the longest
 * mount point that is `path` or a parent of it; of several on the same
 * point, the last (it hides the others).
 */
export function mountOf(path: string, mounts: readonly MountEntry[]): MountEntry | null {
  let best: MountEntry | null = null;
  for (const m of mounts) {
    const point = m.mountPoint;
    const holds = point === "/" || path === point || path.startsWith(`${point}/`);
    if (holds && (best === null || point.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** One line of /proc/PID/cgroup: `ID:CONTROLLERS:PATH`. */
export interface CgroupEntry {
  /** The hierarchy id; 0 is the cgroup2 (unified) hierarchy. */
  id: number;
  /** The v1 controllers of the hierarchy (`name=systemd` included); empty for cgroup2. */
  controllers: string[];
  /** The process's cgroup in that hierarchy, e.g. `/system.slice/jobworker.service`. */
  path: string;
}

/** Parses /proc/PID/cgroup. */
export function parseProcCgroup(text: string): CgroupEntry[] {
  const entries: CgroupEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (m === null) continue;
    entries.push({
      id: Number(m[1]),
      controllers: m[2]!.split(",").filter((c) => c !== ""),
      path: m[3]!,
    });
  }
  return entries;
}

/**
 * The directory of cgroup `path` in a cgroup mount, or null when the mount
 * does not show it (a mount of a subtree, as in a cgroup namespace).
 */
export function cgroupDirIn(mount: MountEntry, path: string): string | null {
  let rel: string;
  if (mount.root === "/") rel = path;
  else if (path === mount.root) rel = "/";
  else if (path.startsWith(`${mount.root}/`)) rel = path.slice(mount.root.length);
  else return null;
  if (rel.split("/").includes("..")) return null;
  const base = mount.mountPoint.replace(/\/$/, "");
  return rel === "/" ? (base || "/") : `${base}${rel}`;
}

/** A kernel release such as `6.1.0-56-cloud-amd64` as numbers; null when it is not one. */
export function parseKernelRelease(
  release: string,
): { major: number; minor: number; patch: number } | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release.trim());
  if (m === null) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

/** Whether `release` is at least `major.minor`. */
export function kernelAtLeast(
  release: { major: number; minor: number },
  wanted: { major: number; minor: number },
): boolean {
  return release.major > wanted.major ||
    (release.major === wanted.major && release.minor >= wanted.minor);
}

/** An entry of /etc/passwd or /etc/group: its name and numeric id. */
export interface IdEntry {
  name: string;
  id: number;
}

/** The names and ids (third field) of /etc/passwd or /etc/group; comments and junk skipped. */
export function parseIdFile(text: string): IdEntry[] {
  const entries: IdEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const fields = line.split(":");
    if (fields.length < 3 || !/^\d+$/.test(fields[2]!)) continue;
    entries.push({ name: fields[0]!, id: Number(fields[2]) });
  }
  return entries;
}

/** The parent PID and command name from /proc/PID/stat; null for a text that is not one. */
export function parseStat(text: string): { ppid: number; comm: string } | null {
  // The name in parentheses may hold spaces and parentheses: fields follow the LAST ")".
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const fields = text.slice(close + 2).split(" ");
  const ppid = Number(fields[1]);
  if (!Number.isInteger(ppid)) return null;
  return { ppid, comm: text.slice(open + 1, close) };
}

/** The real, effective, saved and file-system ids of a `Uid:` or `Gid:` status line. */
export function parseIds(value: string | undefined): number[] {
  if (value === undefined) return [];
  return value.split(/\s+/).filter((v) => /^\d+$/.test(v)).map(Number);
}
