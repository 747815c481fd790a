/**
 * Linux namespaces: unshare, setns, and the "spawn into a fresh PID
 * namespace" pattern that Deno's threading requires.
 *
 * @module
 */
import { cstr, libc } from "./_libc.ts";
import { check } from "./errors.ts";

/** Namespace flags of unshare(2) and setns(2). */
export const CLONE_NEWNS = 0x00020000;
/** New cgroup namespace. */
export const CLONE_NEWCGROUP = 0x02000000;
/** New UTS (hostname) namespace. */
export const CLONE_NEWUTS = 0x04000000;
/** New System V IPC namespace. */
export const CLONE_NEWIPC = 0x08000000;
/** New PID namespace (affects children created afterwards). */
export const CLONE_NEWPID = 0x20000000;
/** New network namespace. */
export const CLONE_NEWNET = 0x40000000;

const FLAG_NAMES: Array<[number, string]> = [
  [CLONE_NEWNS, "CLONE_NEWNS"],
  [CLONE_NEWCGROUP, "CLONE_NEWCGROUP"],
  [CLONE_NEWUTS, "CLONE_NEWUTS"],
  [CLONE_NEWIPC, "CLONE_NEWIPC"],
  [CLONE_NEWPID, "CLONE_NEWPID"],
  [CLONE_NEWNET, "CLONE_NEWNET"],
];

/** `CLONE_NEWNS|CLONE_NEWNET` style rendering of a flag set, for messages. */
export function namespaceFlagNames(flags: number): string {
  const names = FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
  return names.length > 0 ? names.join("|") : String(flags);
}

/**
 * Moves the CALLING THREAD into new namespaces. In Deno that is the JS main
 * thread; processes it spawns afterwards inherit them, Deno's other threads
 * do not.
 *
 * @example
 * ```ts
 * unshare(CLONE_NEWNS | CLONE_NEWUTS);
 * ```
 */
export function unshare(flags: number): void {
  check(libc().unshare(flags), `unshare(${namespaceFlagNames(flags)})`);
}

/**
 * Opens a namespace file such as `/proc/self/ns/pid` and returns its file
 * descriptor (close-on-exec), for {@link setns}.
 */
export function openNamespace(path: string): number {
  const O_RDONLY_CLOEXEC = 0o2000000;
  return check(libc().open(cstr(path), O_RDONLY_CLOEXEC, 0), `open(${path})`);
}

/** Moves the calling thread into the namespace `fd` refers to. */
export function setns(fd: number, nstype: number): void {
  check(libc().setns(fd, nstype), `setns(${fd}, ${namespaceFlagNames(nstype)})`);
}

let savedPidNs: number | undefined;

/**
 * Runs `spawn` so that the process it creates is PID 1 of a brand-new PID
 * namespace, and restores the calling thread's PID namespace afterwards, so
 * later spawns are unaffected. `spawn` must create exactly one process
 * synchronously (e.g. `new Deno.Command(...).spawn()`); it must not await.
 *
 * Why this dance: unshare(CLONE_NEWPID) affects only the next child of the
 * calling thread, and once that child exits every further spawn from the
 * thread fails with ENOMEM; setns back to the saved namespace avoids that.
 */
export function spawnInNewPidNamespace<T>(spawn: () => T): T {
  savedPidNs ??= openNamespace("/proc/self/ns/pid");
  unshare(CLONE_NEWPID);
  try {
    return spawn();
  } finally {
    setns(savedPidNs, CLONE_NEWPID);
  }
}
