/**
 * Credentials of the CALLING THREAD: user and group ids, supplementary
 * groups, capabilities, no_new_privs, dumpable.
 *
 * Linux keeps credentials per thread; POSIX wants them per process, so
 * glibc's setresuid() & co. change every thread (the "setxid broadcast").
 * These bindings use the raw system calls instead: only the calling thread
 * (in Deno, the JS main thread) changes, and a process it spawns inherits
 * that thread's credentials. Deno's other threads keep theirs.
 *
 * @module
 */
import { libc, syscallNumber } from "./_libc.ts";
import { check } from "./errors.ts";

function checkLong(result: number | bigint, call: string): number {
  return check(Number(result), call);
}

/**
 * setresuid(2) for the calling thread only.
 *
 * @example
 * ```ts
 * setThreadUids(61184, 61184, 0); // unprivileged now, root kept as saved uid
 * setThreadUids(0, 0, 0);         // allowed because the saved uid is 0
 * ```
 */
export function setThreadUids(real: number, effective: number, saved: number): void {
  checkLong(
    libc().syscall3(syscallNumber("setresuid"), BigInt(real), BigInt(effective), BigInt(saved)),
    `setresuid(${real}, ${effective}, ${saved})`,
  );
}

/** setresgid(2) for the calling thread only. */
export function setThreadGids(real: number, effective: number, saved: number): void {
  checkLong(
    libc().syscall3(syscallNumber("setresgid"), BigInt(real), BigInt(effective), BigInt(saved)),
    `setresgid(${real}, ${effective}, ${saved})`,
  );
}

/** setgroups(2) for the calling thread only; `[]` clears the supplementary groups. */
export function setThreadGroups(gids: readonly number[]): void {
  const list = new Uint32Array(Math.max(1, gids.length));
  list.set(gids);
  checkLong(
    libc().syscall_setgroups(syscallNumber("setgroups"), BigInt(gids.length), list),
    `setgroups([${gids.join(", ")}])`,
  );
}

const PR_SET_DUMPABLE = 4;
const PR_CAPBSET_DROP = 24;
const PR_SET_NO_NEW_PRIVS = 38;
const PR_CAP_AMBIENT = 47;
const PR_CAP_AMBIENT_CLEAR_ALL = 4;

function prctl(option: number, arg2: number, call: string): void {
  check(libc().prctl(option, BigInt(arg2), 0n, 0n, 0n), call);
}

/**
 * Sets no_new_privs on the calling thread (irreversible; inherited by what
 * it spawns): execve can no longer grant privileges (setuid bits and file
 * capabilities are ignored), and a seccomp filter may be installed.
 */
export function setNoNewPrivs(): void {
  prctl(PR_SET_NO_NEW_PRIVS, 1, "prctl(PR_SET_NO_NEW_PRIVS)");
}

/**
 * Marks the whole process not dumpable: no core dumps, and /proc/PID files
 * such as mem, fd and environ need CAP_SYS_PTRACE.
 */
export function setNotDumpable(): void {
  prctl(PR_SET_DUMPABLE, 0, "prctl(PR_SET_DUMPABLE, 0)");
}

/** The highest capability number this kernel knows (from /proc/sys/kernel/cap_last_cap). */
export function lastCapability(): number {
  const text = Deno.readTextFileSync("/proc/sys/kernel/cap_last_cap").trim();
  const last = Number(text);
  if (!Number.isInteger(last) || last < 0) {
    throw new Error(`Unexpected /proc/sys/kernel/cap_last_cap: ${JSON.stringify(text)}`);
  }
  return last;
}

/**
 * Empties the calling thread's capability bounding set (capabilities
 * `0..last`) and its ambient set, so nothing it spawns can ever gain a
 * capability. The thread keeps its own permitted and effective sets.
 */
export function dropBoundingAndAmbient(last: number): void {
  for (let cap = 0; cap <= last; cap++) {
    prctl(PR_CAPBSET_DROP, cap, `prctl(PR_CAPBSET_DROP, ${cap})`);
  }
  check(
    libc().prctl(PR_CAP_AMBIENT, BigInt(PR_CAP_AMBIENT_CLEAR_ALL), 0n, 0n, 0n),
    "prctl(PR_CAP_AMBIENT_CLEAR_ALL)",
  );
}

const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

/** The three capability sets of a thread, as 64-bit masks. */
export interface CapabilitySets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

function capHeader(): Uint32Array {
  return new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0]); // pid 0: the calling thread
}

/** capget(2) of the calling thread. */
export function getCapabilities(): CapabilitySets {
  const data = new Uint32Array(6); // two struct __user_cap_data_struct {effective, permitted, inheritable}
  check(libc().capget(capHeader(), data), "capget");
  const join = (lo: number, hi: number) => BigInt(data[lo] ?? 0) | (BigInt(data[hi] ?? 0) << 32n);
  return { effective: join(0, 3), permitted: join(1, 4), inheritable: join(2, 5) };
}

/** capset(2) of the calling thread. */
export function setCapabilities(sets: CapabilitySets): void {
  const lo = (v: bigint) => Number(v & 0xffffffffn);
  const hi = (v: bigint) => Number((v >> 32n) & 0xffffffffn);
  const data = new Uint32Array([
    lo(sets.effective),
    lo(sets.permitted),
    lo(sets.inheritable),
    hi(sets.effective),
    hi(sets.permitted),
    hi(sets.inheritable),
  ]);
  check(libc().capset(capHeader(), data), "capset");
}
