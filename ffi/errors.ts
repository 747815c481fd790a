/**
 * Turning a failed libc call into an error that names the call and errno.
 *
 * @module
 */
import { errno } from "./_libc.ts";

/** errno values (Linux, x86-64 and arm64) to their symbolic names. */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  8: "ENOEXEC",
  9: "EBADF",
  10: "ECHILD",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  24: "EMFILE",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  30: "EROFS",
  32: "EPIPE",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  40: "ELOOP",
  95: "EOPNOTSUPP",
  122: "EDQUOT",
};

/** The symbolic name of an errno value, e.g. `EPERM`, or `errno N` when unknown. */
export function errnoName(code: number): string {
  return ERRNO_NAMES[code] ?? `errno ${code}`;
}

/**
 * A failed system call. `code` is the symbolic errno (e.g. `ENOENT`), so
 * callers can branch on it; the message names the call and its arguments.
 */
export class SyscallError extends Error {
  /** Symbolic errno, e.g. `EPERM`. */
  readonly code: string;
  /** Numeric errno. */
  readonly errno: number;

  /**
   * @example
   * ```ts
   * new SyscallError("unshare(CLONE_NEWNS)", 1).message; // "unshare(CLONE_NEWNS) failed: EPERM"
   * ```
   */
  constructor(call: string, errnoValue: number) {
    super(`${call} failed: ${errnoName(errnoValue)}`);
    this.name = "SyscallError";
    this.code = errnoName(errnoValue);
    this.errno = errnoValue;
  }
}

/**
 * Checks the result of a libc call that returns -1 and sets errno on
 * failure; returns the result otherwise. `call` describes the call for the
 * error message, e.g. `unshare(CLONE_NEWNS)`.
 *
 * @example
 * ```ts
 * const fd = check(libc().open(cstr(path), O_RDONLY, 0), `open(${path})`);
 * ```
 */
export function check(result: number, call: string): number {
  if (result === -1) throw new SyscallError(call, errno());
  return result;
}

/**
 * Checks the result of a call that returns an errno value directly
 * (0 on success), as the posix_spawn family does.
 */
export function checkReturned(result: number, call: string): void {
  if (result !== 0) throw new SyscallError(call, result);
}
