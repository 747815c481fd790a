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
/** Open for reading and writing. */
export const O_RDWR = 2;
/** Never the caller's controlling terminal. */
export const O_NOCTTY = 0o400;
/** Reads and writes return EAGAIN instead of waiting. */
export const O_NONBLOCK = 0o4000;
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

const F_SETPIPE_SZ = 1031;

/**
 * A pipe (both ends close-on-exec): `[readFd, writeFd]`. With `size`, the
 * kernel's buffer is set to that many bytes (F_SETPIPE_SZ; up to
 * /proc/sys/fs/pipe-max-size unless privileged).
 */
export function makePipe(options: { size?: number } = {}): [number, number] {
  const fds = new Int32Array(2);
  check(libc().pipe2(fds, O_CLOEXEC), "pipe2");
  const [readFd, writeFd] = [fds[0]!, fds[1]!];
  if (options.size !== undefined) {
    check(libc().fcntl(readFd, F_SETPIPE_SZ, options.size), `fcntl(F_SETPIPE_SZ, ${options.size})`);
  }
  return [readFd, writeFd];
}

/** dup2(2): makes `target` a copy of `fd` (without close-on-exec). */
export function dupTo(fd: number, target: number): void {
  check(libc().dup2(fd, target), `dup2(${fd}, ${target})`);
}

/** mkfifo(2) with permission bits `mode` (the umask applies). */
export function makeFifo(path: string, mode: number): void {
  check(libc().mkfifo(cstr(path), mode), `mkfifo(${path})`);
}

const SPLICE_F_MOVE = 1;
const SPLICE_F_NONBLOCK = 2;

/**
 * One splice(2) of up to `length` bytes from pipe `fromFd` to `toFd`,
 * without waiting for the pipe: the number of bytes moved, 0 at end of
 * file, or null when the pipe is empty for now (EAGAIN). Other failures
 * throw (e.g. `splice failed: ENOSPC` when the target's disk is full).
 */
export function spliceOnce(fromFd: number, toFd: number, length: number): number | null {
  const n = Number(
    libc().splice(fromFd, null, toFd, null, BigInt(length), SPLICE_F_MOVE | SPLICE_F_NONBLOCK),
  );
  if (n >= 0) return n;
  try {
    check(n, "splice");
  } catch (err) {
    if (err instanceof SyscallError && (err.code === "EAGAIN" || err.code === "EINTR")) {
      return null;
    }
    throw err;
  }
  return null;
}

const F_GETFL = 3;
const F_SETFL = 4;
/** Makes reads and writes of `fd` return EAGAIN instead of waiting (O_NONBLOCK). */
export function setNonBlocking(fd: number): void {
  const flags = check(libc().fcntl(fd, F_GETFL, 0), `fcntl(${fd}, F_GETFL)`);
  check(libc().fcntl(fd, F_SETFL, flags | O_NONBLOCK), `fcntl(${fd}, F_SETFL)`);
}

/** `n` when it is 0 or more; null for EAGAIN and EINTR; otherwise throws the call's error. */
function unlessAgain(n: number, call: string): number | null {
  if (n >= 0) return n;
  try {
    check(n, call);
  } catch (err) {
    if (err instanceof SyscallError && (err.code === "EAGAIN" || err.code === "EINTR")) {
      return null;
    }
    throw err;
  }
  return null;
}

/**
 * One read(2) into `buf` of a non-blocking `fd`: the bytes read, 0 at end
 * of file, or null when nothing is there for now (EAGAIN, EINTR). Other
 * failures throw (a terminal's master answers EIO once no process holds
 * the terminal any more: callers of ptys treat that as the end).
 */
export function readSome(fd: number, buf: Uint8Array): number | null {
  return unlessAgain(Number(libc().read(fd, buf, BigInt(buf.length))), `read(fd ${fd})`);
}

/**
 * One write(2) of `data` to a non-blocking `fd`: the bytes written (maybe
 * fewer than given), or null when there is no room for now (EAGAIN, EINTR).
 * Other failures throw (EPIPE: nobody reads any more).
 */
export function writeSome(fd: number, data: Uint8Array): number | null {
  return unlessAgain(Number(libc().write(fd, data, BigInt(data.length))), `write(fd ${fd})`);
}

const POLLIN = 0x1;
const POLLOUT = 0x4;

/** poll(2) on a worker thread until `fd` has one of `events` (or has hung up or failed). */
async function pollFor(fd: number, events: number): Promise<void> {
  // struct pollfd { int fd; short events; short revents; }
  const pollfd = new Int32Array(2);
  pollfd[0] = fd;
  pollfd[1] = events; // events in the low half, revents (0) in the high half
  for (;;) {
    const ready = await libc().poll_blocking(new Uint8Array(pollfd.buffer), 1n, -1);
    if (ready > 0) return;
    // -1 is EINTR here in practice (errno is another thread's to read); wait again.
  }
}

/** Resolves once `fd` has room to write (or has failed), waiting on a worker thread. */
export function waitWritable(fd: number): Promise<void> {
  return pollFor(fd, POLLOUT);
}

/**
 * Resolves once `fd` is readable (or has hung up or failed), waiting on a
 * worker thread so the event loop stays free. A pidfd becomes readable when
 * its process has exited; a pipe when data or end-of-file arrives.
 */
export function waitReadable(fd: number): Promise<void> {
  return pollFor(fd, POLLIN);
}

/** Bytes available to an unprivileged user on the file system holding `path` (statvfs f_bavail). */
export function freeBytes(path: string): number {
  // struct statvfs (x86-64 and arm64): f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, ... (u64 each)
  const buf = new BigUint64Array(14);
  check(libc().statvfs(cstr(path), new Uint8Array(buf.buffer)), `statvfs(${path})`);
  return Number(buf[4]! * buf[1]!);
}

const FALLOC_FL_KEEP_SIZE = 1;

/**
 * Reserves `bytes` of disk space for the file at `path` without changing
 * its size (fallocate with FALLOC_FL_KEEP_SIZE): later writes into that
 * space succeed even when the disk has filled up meanwhile.
 */
export function reserveSpace(path: string, bytes: number): void {
  const fd = openFd(path, O_WRONLY);
  try {
    check(libc().fallocate(fd, FALLOC_FL_KEEP_SIZE, 0n, BigInt(bytes)), `fallocate(${path})`);
  } finally {
    closeFd(fd);
  }
}
