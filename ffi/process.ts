/**
 * Processes: posix_spawn with file actions, waitpid, kill, and decoding of
 * wait statuses and signal names.
 *
 * @module
 */
import { cstr, cstrArray, libc, syscallNumber } from "./_libc.ts";
import { check, checkReturned, SyscallError } from "./errors.ts";
import { O_APPEND, O_RDONLY, O_RDWR, O_WRONLY } from "./files.ts";
import { SIGNALS } from "../src/signals/mod.ts";

/** Linux signal numbers by name: kept in src/signals/, which has no FFI, so the CLI shares it. */
export { SIGNALS };

/** The name of a signal number, e.g. `SIGKILL`, or `SIG<n>` for real-time signals. */
export function signalName(signal: number): string {
  for (const [name, num] of Object.entries(SIGNALS)) if (num === signal) return name;
  return `SIG${signal}`;
}

/** The number of a signal name such as `SIGTERM` (or `TERM`). */
export function signalNumber(name: string): number {
  const upper = name.toUpperCase();
  const num = SIGNALS[upper.startsWith("SIG") ? upper : `SIG${upper}`];
  if (num === undefined) throw new RangeError(`Unknown signal: ${name}`);
  return num;
}

/**
 * kill(2). Returns false when the process does not exist (ESRCH), so a
 * caller racing with the process's exit need not catch.
 *
 * @example
 * ```ts
 * kill(-1, SIGNALS.SIGTERM!); // from a namespace's PID 1: every other process in it
 * ```
 */
export function kill(pid: number, signal: number): boolean {
  try {
    check(libc().kill(pid, signal), `kill(${pid}, ${signalName(signal)})`);
    return true;
  } catch (err) {
    if (err instanceof SyscallError && err.code === "ESRCH") return false;
    throw err;
  }
}

/** The calling process's PID, as seen from its own PID namespace. */
export function getpid(): number {
  return libc().getpid();
}

/** How a process ended: exactly one of `exitCode` and `signal` is set. */
export type ExitStatus =
  | { exitCode: number; signal: null }
  | { exitCode: null; signal: string };

/** Decodes a waitpid(2) status word. Returns null for stop/continue reports. */
export function decodeWaitStatus(status: number): ExitStatus | null {
  const low = status & 0x7f;
  if (low === 0) return { exitCode: (status >> 8) & 0xff, signal: null };
  if (low !== 0x7f) return { exitCode: null, signal: signalName(low) };
  return null;
}

const WNOHANG = 1;

/** One reaped child and how it ended. */
export interface Reaped {
  pid: number;
  status: ExitStatus;
}

/**
 * waitpid(2) for `pid` (-1: any child). With `block: false` (the default) it
 * returns null when no child has ended yet; with `block: true` it waits for
 * one. Either way it returns null when there is no child left (ECHILD).
 * Stop and continue reports are skipped.
 */
export function waitChild(pid = -1, options: { block?: boolean } = {}): Reaped | null {
  const statusBuf = new Int32Array(1);
  const flags = options.block ? 0 : WNOHANG;
  for (;;) {
    let got: number;
    try {
      got = check(libc().waitpid(pid, statusBuf, flags), `waitpid(${pid})`);
    } catch (err) {
      if (err instanceof SyscallError && err.code === "ECHILD") return null;
      if (err instanceof SyscallError && err.code === "EINTR") continue;
      throw err;
    }
    if (got === 0) return null;
    const status = decodeWaitStatus(statusBuf[0] ?? 0);
    if (status === null) continue;
    return { pid: got, status };
  }
}

/** What {@link spawn} runs and how. */
export interface SpawnOptions {
  /** Arguments after the command (argv[1..]). */
  args?: readonly string[];
  /** argv[0] as the program sees it; default the command itself. */
  argv0?: string;
  /** The complete environment, as `NAME=value` pairs. */
  env?: Readonly<Record<string, string>>;
  /** Working directory of the new process. */
  cwd?: string;
  /** File that stdout and stderr are opened on (O_WRONLY|O_APPEND). */
  outputPath?: string;
  /**
   * An open file descriptor of the caller that becomes the child's stdout
   * and stderr (instead of `outputPath`): the child never needs to reach the
   * file by path.
   */
  outputFd?: number;
  /** File opened as stdin (default /dev/null). */
  stdinPath?: string;
  /** An open file descriptor of the caller that becomes the child's stdin (instead of `stdinPath`). */
  stdinFd?: number;
  /**
   * A terminal (e.g. `/dev/pts/0`) opened as stdin, stdout and stderr.
   * With `newSession`, it becomes the child's controlling terminal: the
   * child opens it as a session leader without one.
   */
  ttyPath?: string;
  /** Start the process in a new session (setsid), detached from any terminal. */
  newSession?: boolean;
}

const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
// Generous sizes: glibc x86-64 uses 80, 336 and 128 bytes.
const FILE_ACTIONS_SIZE = 256;
const SPAWNATTR_SIZE = 512;
const SIGSET_SIZE = 128;

/**
 * Starts `command` with posix_spawnp(3) (PATH lookup like a shell) from the
 * calling thread, so the child inherits that thread's namespaces and cgroup.
 * The child gets default signal dispositions and an empty signal mask (Deno
 * ignores SIGPIPE; a job must not inherit that), stdin from /dev/null (or
 * `stdinPath`), stdout+stderr appended to `outputPath` (or `outputFd`), and
 * no other file descriptor: everything from 3 up is closed in the child.
 *
 * Throws a {@link SyscallError} whose `code` says why the program could not
 * be started: `ENOENT` (not found), `EACCES` (not executable), `ENOEXEC`
 * (not a program), `ENOTDIR`/`ENOENT` for a bad `cwd`.
 *
 * @returns the child's PID in the caller's PID namespace.
 */
export function spawn(command: string, options: SpawnOptions = {}): number {
  const fileActions = new Uint8Array(FILE_ACTIONS_SIZE);
  const attr = new Uint8Array(SPAWNATTR_SIZE);
  const sigDefault = new Uint8Array(SIGSET_SIZE);
  const sigMask = new Uint8Array(SIGSET_SIZE);
  const lib = libc();
  checkReturned(lib.posix_spawn_file_actions_init(fileActions), "posix_spawn_file_actions_init");
  checkReturned(lib.posix_spawnattr_init(attr), "posix_spawnattr_init");
  try {
    // Kept alive until posix_spawnp has run: the file actions point into them.
    const stdinPath = cstr(options.ttyPath ?? options.stdinPath ?? "/dev/null");
    if (options.ttyPath !== undefined) {
      // glibc's child runs setsid() before the file actions, so this open makes it the session's terminal.
      checkReturned(
        lib.posix_spawn_file_actions_addopen(fileActions, 0, stdinPath, O_RDWR, 0),
        "posix_spawn_file_actions_addopen(tty)",
      );
      for (const target of [1, 2]) {
        checkReturned(
          lib.posix_spawn_file_actions_adddup2(fileActions, 0, target),
          `posix_spawn_file_actions_adddup2(0, ${target})`,
        );
      }
    } else if (options.stdinFd !== undefined) {
      checkReturned(
        lib.posix_spawn_file_actions_adddup2(fileActions, options.stdinFd, 0),
        `posix_spawn_file_actions_adddup2(${options.stdinFd}, 0)`,
      );
    } else {
      checkReturned(
        lib.posix_spawn_file_actions_addopen(fileActions, 0, stdinPath, O_RDONLY, 0),
        "posix_spawn_file_actions_addopen(stdin)",
      );
    }
    const outputPath = options.outputPath === undefined ? null : cstr(options.outputPath);
    if (outputPath !== null) {
      checkReturned(
        lib.posix_spawn_file_actions_addopen(fileActions, 1, outputPath, O_WRONLY | O_APPEND, 0),
        "posix_spawn_file_actions_addopen(stdout)",
      );
      checkReturned(
        lib.posix_spawn_file_actions_adddup2(fileActions, 1, 2),
        "posix_spawn_file_actions_adddup2(stderr)",
      );
    }
    if (options.outputFd !== undefined) {
      if (outputPath !== null) throw new TypeError("Give outputPath or outputFd, not both");
      if (options.ttyPath !== undefined) throw new TypeError("Give ttyPath or outputFd, not both");
      for (const target of [1, 2]) {
        checkReturned(
          lib.posix_spawn_file_actions_adddup2(fileActions, options.outputFd, target),
          `posix_spawn_file_actions_adddup2(${options.outputFd}, ${target})`,
        );
      }
    }
    checkReturned(
      lib.posix_spawn_file_actions_addclosefrom_np(fileActions, 3),
      "posix_spawn_file_actions_addclosefrom_np(3)",
    );
    const cwd = options.cwd === undefined ? null : cstr(options.cwd);
    if (cwd !== null) {
      checkReturned(
        lib.posix_spawn_file_actions_addchdir_np(fileActions, cwd),
        "posix_spawn_file_actions_addchdir_np",
      );
    }
    lib.sigfillset(sigDefault);
    lib.sigemptyset(sigMask);
    checkReturned(
      lib.posix_spawnattr_setsigdefault(attr, sigDefault),
      "posix_spawnattr_setsigdefault",
    );
    checkReturned(lib.posix_spawnattr_setsigmask(attr, sigMask), "posix_spawnattr_setsigmask");
    const flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
      (options.newSession ? POSIX_SPAWN_SETSID : 0);
    checkReturned(lib.posix_spawnattr_setflags(attr, flags), "posix_spawnattr_setflags");

    const argv = cstrArray([options.argv0 ?? command, ...(options.args ?? [])]);
    const envp = cstrArray(Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`));
    const pidBuf = new Int32Array(1);
    const file = cstr(command);
    checkReturned(
      lib.posix_spawnp(pidBuf, file, fileActions, attr, argv.array, envp.array),
      `posix_spawnp(${command})`,
    );
    // The buffers must outlive the call; referencing them here keeps them alive.
    void [argv.keep, envp.keep, stdinPath, outputPath, cwd, file];
    return pidBuf[0] ?? 0;
  } finally {
    lib.posix_spawnattr_destroy(attr);
    lib.posix_spawn_file_actions_destroy(fileActions);
  }
}

/**
 * pidfd_open(2): a descriptor that refers to process `pid` for as long as it
 * is open, even if the PID is reused after the process ends. Returns null
 * when no such process exists (ESRCH).
 */
export function openPidfd(pid: number): number | null {
  const fd = Number(libc().syscall4(syscallNumber("pidfd_open"), BigInt(pid), 0n, 0n, 0n));
  try {
    return check(fd, `pidfd_open(${pid})`);
  } catch (err) {
    if (err instanceof SyscallError && err.code === "ESRCH") return null;
    throw err;
  }
}

/** pidfd_send_signal(2); false when the process has already exited (ESRCH). */
export function signalPidfd(pidfd: number, signal: number): boolean {
  const result = Number(
    libc().syscall4(syscallNumber("pidfd_send_signal"), BigInt(pidfd), BigInt(signal), 0n, 0n),
  );
  try {
    check(result, `pidfd_send_signal(${signalName(signal)})`);
    return true;
  } catch (err) {
    if (err instanceof SyscallError && err.code === "ESRCH") return false;
    throw err;
  }
}
