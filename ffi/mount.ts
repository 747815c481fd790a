/**
 * mount(2), mount_setattr(2), pivot_root(2), umount2(2), mknod(2), chdir(2)
 * and the flags the executor needs to build a job's file-system view.
 *
 * @module
 */
import { cstr, libc, syscallNumber } from "./_libc.ts";
import { check } from "./errors.ts";

/** Mount read-only. */
export const MS_RDONLY = 1;
/** Ignore set-user-ID bits. */
export const MS_NOSUID = 2;
/** Ignore device files. */
export const MS_NODEV = 4;
/** Disallow execution. */
export const MS_NOEXEC = 8;
/** Change the flags of an existing mount. */
export const MS_REMOUNT = 32;
/** Bind mount: make a file or directory visible at another place. */
export const MS_BIND = 4096;
/** Apply recursively to the whole subtree. */
export const MS_REC = 16384;
/** Make a mount private: events no longer propagate to or from peers. */
export const MS_PRIVATE = 1 << 18;

/** Arguments of {@link mount}; `source`, `fstype` and `data` may be omitted. */
export interface MountOptions {
  /** Source device or pseudo-filesystem name (e.g. `proc`). */
  source?: string;
  /** Filesystem type (e.g. `proc`); omit for propagation changes. */
  fstype?: string;
  /** MS_* flags. */
  flags?: number;
  /** Filesystem-specific data string. */
  data?: string;
}

/**
 * mount(2). Throws `mount(<target>) failed: <errno>` on failure.
 *
 * @example
 * ```ts
 * mount("/", { flags: MS_REC | MS_PRIVATE });   // make / private, recursively
 * mount("/proc", { source: "proc", fstype: "proc", flags: MS_NOSUID | MS_NODEV | MS_NOEXEC });
 * ```
 */
export function mount(target: string, options: MountOptions = {}): void {
  const source = options.source === undefined ? null : cstr(options.source);
  const fstype = options.fstype === undefined ? null : cstr(options.fstype);
  const data = options.data === undefined ? null : cstr(options.data);
  const result = libc().mount(source, cstr(target), fstype, BigInt(options.flags ?? 0), data);
  check(result, `mount(${target}${options.fstype ? `, ${options.fstype}` : ""})`);
}

/** `mount_setattr` attribute: read-only. */
export const MOUNT_ATTR_RDONLY = 0x1;
/** `mount_setattr` attribute: ignore set-user-ID bits and file capabilities. */
export const MOUNT_ATTR_NOSUID = 0x2;
/** `mount_setattr` attribute: no device files. */
export const MOUNT_ATTR_NODEV = 0x4;
/** `mount_setattr` attribute: no execution. */
export const MOUNT_ATTR_NOEXEC = 0x8;

const AT_FDCWD = -100n;
const AT_RECURSIVE = 0x8000n;

/**
 * mount_setattr(2) (Linux 5.12+): sets `attrs` (MOUNT_ATTR_* bits) on the
 * mount at `path`, and with `recursive` on every mount below it too, in one
 * call. Unlike a bind remount, it keeps each mount's other flags.
 *
 * @example
 * ```ts
 * mountSetattr("/newroot/usr", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, { recursive: true });
 * ```
 */
export function mountSetattr(
  path: string,
  attrs: number,
  options: { recursive?: boolean } = {},
): void {
  // struct mount_attr { __u64 attr_set, attr_clr, propagation, userns_fd; }
  const attr = new BigUint64Array([BigInt(attrs), 0n, 0n, 0n]);
  const result = libc().syscall_mount_setattr(
    syscallNumber("mount_setattr"),
    AT_FDCWD,
    cstr(path),
    options.recursive ? AT_RECURSIVE : 0n,
    new Uint8Array(attr.buffer),
    BigInt(attr.byteLength),
  );
  check(Number(result), `mount_setattr(${path})`);
}

/**
 * pivot_root(2): makes `newRoot` the root mount of the calling thread's
 * mount namespace and puts the old root at `putOld` (relative to the new
 * root). `pivotRoot(".", ".")` after a chdir into the new root stacks the
 * old root on top, ready for a lazy unmount of ".".
 */
export function pivotRoot(newRoot: string, putOld: string): void {
  const result = libc().syscall_pivot_root(
    syscallNumber("pivot_root"),
    cstr(newRoot),
    cstr(putOld),
  );
  check(Number(result), `pivot_root(${newRoot}, ${putOld})`);
}

/** umount2(2) flag: detach now, clean up once no longer busy. */
export const MNT_DETACH = 2;

/** umount2(2). */
export function umount(target: string, flags = 0): void {
  check(libc().umount2(cstr(target), flags), `umount2(${target})`);
}

/** File type bit of mknod(2): a character device. */
export const S_IFCHR = 0o020000;

/**
 * mknod(2) of a character device `major:minor` with permission bits `mode`.
 *
 * @example
 * ```ts
 * makeCharDevice("/newroot/dev/null", { major: 1, minor: 3, mode: 0o666 });
 * ```
 */
export function makeCharDevice(
  path: string,
  device: { major: number; minor: number; mode: number },
): void {
  // glibc's makedev(): the 64-bit dev_t layout of Linux.
  const major = BigInt(device.major);
  const minor = BigInt(device.minor);
  const dev = ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) |
    ((minor & ~0xffn) << 12n);
  check(libc().mknod(cstr(path), S_IFCHR | device.mode, dev), `mknod(${path})`);
}

/**
 * chdir(2) of the calling thread. (In a thread that unshared its mount
 * namespace, the working directory is its own; other threads keep theirs.)
 */
export function chdir(path: string): void {
  check(libc().chdir(cstr(path)), `chdir(${path})`);
}
