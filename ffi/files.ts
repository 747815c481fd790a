/**
 * Raw file descriptors, for the few places that need a descriptor number
 * rather than a Deno.FsFile: handing a file to a spawned process, and
 * writing to a file opened before the opener's view of the file system
 * changed (cgroup control files opened before pivot_root).
 *
 * @module
 */
import { cstr, libc } from "./_libc.ts";
import { check, SyscallError } from "./errors.ts";

/** open(2) flags. */
export const O_RDONLY = 0;
/** Open for writing only. */
export const O_WRONLY = 1;
/** Writes always go to the end of the file. */
export const O_APPEND = 0o2000;
/** Closed on execve. */
export const O_CLOEXEC = 0o2000000;
/** Fail unless the path is a directory. */
export const O_DIRECTORY = 0o200000;

/**
 * open(2); returns the file descriptor. Always adds O_CLOEXEC: a
 * descriptor reaches a child only through an explicit dup2 (see spawn's
 * `outputFd`).
 *
 * @example
 * ```ts
 * const fd = openFd("/sys/fs/cgroup/job/cgroup.procs", O_WRONLY);
 * writeFd(fd, "0");
 * closeFd(fd);
 * ```
 */
export function openFd(path: string, flags: number): number {
  return check(libc().open(cstr(path), flags | O_CLOEXEC, 0), `open(${path})`);
}

/**
 * Writes all of `data` to `fd` in one write(2) call, as control files of
 * cgroupfs and procfs want; a short write is an error.
 */
export function writeFd(fd: number, data: string | Uint8Array, what = `fd ${fd}`): void {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const buf = new Uint8Array(bytes); // a copy the call can point at
  for (;;) {
    const n = Number(libc().write(fd, buf, BigInt(buf.length)));
    if (n === buf.length) return;
    if (n >= 0) throw new Error(`write(${what}) wrote ${n} of ${buf.length} bytes`);
    try {
      check(n, `write(${what})`);
    } catch (err) {
      if (err instanceof SyscallError && err.code === "EINTR") continue;
      throw err;
    }
  }
}

/** close(2) of a descriptor from {@link openFd} or `openNamespace`. */
export function closeFd(fd: number): void {
  check(libc().close(fd), `close(${fd})`);
}
