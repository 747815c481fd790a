/**
 * Block-device numbers for IO limits. The kernel throttles IO per whole disk
 * (`blkio.throttle.*` on v1, `io.max` on v2 refuse partitions), so every
 * lookup here ends at the disk, not the partition.
 *
 * A file system with no real disk behind it (overlay, tmpfs, a FUSE or
 * network file system: anonymous device numbers `0:NN`) cannot be
 * throttled; the lookups then return null and the caller skips IO limits
 * with a warning.
 *
 * @module
 */
import type { DeviceNumber } from "./types.ts";
import { type MountInfo, parseMountinfo } from "./detect.ts";

/** Options of the device lookups; both are test hooks. */
export interface DeviceOptions {
  /** Prefix of all file-system paths (default ""), for tests that lay out a fake tree. */
  root?: string;
  /** Text to use instead of reading `/proc/self/mountinfo`. */
  mountinfo?: string;
}

function rootOf(options: { root?: string }): string {
  return (options.root ?? "").replace(/\/+$/, "");
}

/**
 * Splits a Linux `dev_t` (as in `Deno.FileInfo.rdev` / `dev`) into major and
 * minor numbers, like glibc's gnu_dev_major/minor. BigInt, because the high
 * bits sit above bit 32 where JavaScript's bitwise operators cannot reach.
 */
export function decodeDevT(devT: number): { major: number; minor: number } {
  const d = BigInt(devT);
  // The masks are 32-bit like glibc's; an unbounded BigInt `~0xff` would drag the major's
  // high bits into the minor.
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n);
  const minor = (d & 0xffn) | ((d >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

/**
 * Validates "MAJ:MIN" text (major below 2^12, minor below 2^20, the kernel's
 * ranges) and returns it typed.
 *
 * @throws TypeError for anything else.
 */
export function parseDeviceNumber(text: string): DeviceNumber {
  const m = /^(\d{1,10}):(\d{1,10})$/.exec(typeof text === "string" ? text.trim() : "");
  if (m === null || Number(m[1]) >= 2 ** 12 || Number(m[2]) >= 2 ** 20) {
    throw new TypeError(`Invalid block device number ${JSON.stringify(text)}: expected "MAJ:MIN"`);
  }
  return `${Number(m[1])}:${Number(m[2])}`;
}

/**
 * The mount that holds absolute path `path`: the longest mount point that is
 * a prefix of it on a component boundary; of equal ones the last, since
 * later mounts stack on top. Pure.
 */
export function mountOf(mounts: readonly MountInfo[], path: string): MountInfo | null {
  let best: MountInfo | null = null;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const covers = mp === "/" || path === mp || path.startsWith(mp.endsWith("/") ? mp : `${mp}/`);
    if (covers && (best === null || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Maps a block device to its whole disk via sysfs: a partition's directory
 * `/sys/dev/block/MAJ:MIN` (a symlink into /sys/devices) holds a
 * `partition` file, and its parent directory is the disk, whose `dev` file
 * holds the disk's number. Devices without a sysfs entry are returned as
 * they are; the kernel has the last word when the limit is written.
 */
async function wholeDisk(dev: DeviceNumber, root: string): Promise<DeviceNumber | null> {
  if (dev.startsWith("0:")) return null;
  const sysDir = `${root}/sys/dev/block/${dev}`;
  if (!(await exists(`${sysDir}/partition`))) return dev;
  const real = await Deno.realPath(sysDir);
  const diskDir = real.slice(0, real.lastIndexOf("/"));
  const text = await Deno.readTextFile(`${diskDir}/dev`).catch((e: unknown) => {
    throw new Error(
      `Cannot find the disk of partition ${dev}: ${diskDir}/dev is unreadable (${
        e instanceof Error ? e.message : e
      })`,
      { cause: e },
    );
  });
  return parseDeviceNumber(text);
}

/**
 * The whole disk that holds the file system `path` lives on, as found in
 * `/proc/self/mountinfo`, or null when that file system has no real disk
 * (overlay, tmpfs, ...: IO limits cannot apply to it).
 *
 * @example
 * ```ts
 * const disk = await wholeDiskOf("/var/lib/jobworker"); // e.g. "254:0", or null
 * ```
 */
export async function wholeDiskOf(
  path: string,
  options: DeviceOptions = {},
): Promise<DeviceNumber | null> {
  const root = rootOf(options);
  const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  let resolved: string;
  try {
    resolved = await Deno.realPath(root + absolute);
  } catch (e) {
    throw new Error(
      `Cannot find the disk of ${path}: ${e instanceof Error ? e.message : e}`,
      { cause: e },
    );
  }
  if (root !== "") {
    resolved = resolved === root
      ? "/"
      : resolved.startsWith(`${root}/`)
      ? resolved.slice(root.length)
      : resolved;
  }
  const mounts = parseMountinfo(
    options.mountinfo ?? await Deno.readTextFile(`${root}/proc/self/mountinfo`),
  );
  const mount = mountOf(mounts, resolved);
  if (mount === null) {
    throw new Error(`Cannot find the disk of ${path}: no mount in /proc/self/mountinfo holds it`);
  }
  if (mount.major === 0) {
    // btrfs and a few others report an anonymous device but name the real one as the source.
    if (mount.source.startsWith("/dev/")) {
      return await deviceNumberOf(mount.source, options).catch(() => null);
    }
    return null;
  }
  return await wholeDisk(`${mount.major}:${mount.minor}`, root);
}

/**
 * The whole disk for a user-named device: "MAJ:MIN" (validated) or a path
 * to a block device node such as "/dev/vda1" or "/dev/disk/by-uuid/…"
 * (symlinks followed). A partition maps to its disk; an anonymous device
 * (`0:NN`) gives null.
 *
 * @example
 * ```ts
 * await deviceNumberOf("254:0");     // "254:0"
 * await deviceNumberOf("/dev/sda1"); // "8:0"
 * ```
 *
 * @throws TypeError when `nameOrPath` is neither "MAJ:MIN" nor a block device.
 */
export async function deviceNumberOf(
  nameOrPath: string,
  options: DeviceOptions = {},
): Promise<DeviceNumber | null> {
  const root = rootOf(options);
  if (typeof nameOrPath === "string" && /^\s*\d+:\d+\s*$/.test(nameOrPath)) {
    return await wholeDisk(parseDeviceNumber(nameOrPath), root);
  }
  if (typeof nameOrPath !== "string" || !nameOrPath.startsWith("/")) {
    throw new TypeError(
      `Invalid block device ${JSON.stringify(nameOrPath)}: expected "MAJ:MIN" or a /dev/ path`,
    );
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(root + nameOrPath);
  } catch (e) {
    throw new TypeError(
      `Invalid block device ${nameOrPath}: ${e instanceof Error ? e.message : e}`,
      { cause: e },
    );
  }
  if (!info.isBlockDevice || info.rdev === null) {
    throw new TypeError(`Invalid block device ${nameOrPath}: it is not a block device`);
  }
  const { major, minor } = decodeDevT(info.rdev);
  return await wholeDisk(`${major}:${minor}`, root);
}
