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
 * The lookups take test seams (a root prefix, a mountinfo text); the
 * public ./devices.ts offers them without.
 *
 * @module
 */
import type { DeviceNumber } from "./types.ts";
import { pathExists } from "./_fs.ts";
import { type MountInfo, type ProcOptions, rootOf, selfMounts } from "./_proc.ts";

/** Options of the device lookups; both are test hooks. */
export type DeviceOptions = Pick<ProcOptions, "root" | "mountinfo">;

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
  if (!(await pathExists(`${sysDir}/partition`))) return dev;
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
 * `wholeDiskOf` of ./devices.ts with its test seams: `options.root`
 * prefixes every path, `options.mountinfo` replaces `/proc/self/mountinfo`.
 *
 * @example
 * ```ts
 * await wholeDiskOf("/data", { root: fakeRoot }); // the disk of <fakeRoot>/data's mount
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
  const mount = mountOf(await selfMounts(options), resolved);
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
 * `deviceNumberOf` of ./devices.ts with its test seams: `options.root`
 * prefixes the device path and the sysfs lookups.
 *
 * @example
 * ```ts
 * await deviceNumberOf("/dev/sdz1", { root: fakeRoot }); // "8:0"
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
