/**
 * Who the job's processes are: an unprivileged user and group of their
 * own, no supplementary groups, no capabilities in any set, no_new_privs,
 * and the job seccomp filter.
 *
 * glibc's posix_spawn cannot change credentials, and the executor (a
 * multi-threaded Deno process) must not change its own for good. Linux keeps
 * credentials per thread, so the executor changes those of its MAIN THREAD
 * only, with the raw system calls (ffi/credentials.ts), spawns, and changes
 * them back: the child starts with the job's ids, and execve makes them
 * final (the saved uid follows the effective one). Deno's other threads
 * stay root throughout.
 *
 * What the main thread keeps for good after {@link lockDown}: an empty
 * bounding and ambient set, no_new_privs and the seccomp filter. None of it
 * matters to the executor, which never executes a program itself and has
 * mounted everything it needs by then; it stays root with its permitted
 * capabilities for signalling and reaping the job.
 *
 * @module
 */
import {
  dropBoundingAndAmbient,
  getCapabilities,
  installSeccompFilter,
  setCapabilities,
  setNoNewPrivs,
  setThreadGids,
  setThreadGroups,
  setThreadUids,
} from "../../ffi/mod.ts";
import { jobSeccompFilter } from "./_seccomp.ts";
import type { JobIdentity } from "./protocol.ts";

/**
 * Makes everything the main thread spawns from now on unable to gain any
 * privilege: empty capability bounding, ambient and inheritable sets,
 * no_new_privs, the job seccomp filter. `lastCap` is the kernel's highest
 * capability number (read it before the root changes).
 */
export function lockDown(lastCap: number): void {
  const filter = jobSeccompFilter(); // throws on an unknown architecture before anything changes
  dropBoundingAndAmbient(lastCap);
  setCapabilities({ ...getCapabilities(), inheritable: 0n });
  setNoNewPrivs();
  installSeccompFilter(filter);
}

/**
 * Runs `spawn` (which must create its process synchronously) with the main
 * thread's credentials switched to `identity`, and switches them back to
 * root before returning or throwing.
 *
 * @example
 * ```ts
 * const pid = spawnAs({ uid: 61184, gid: 61184 }, () => spawn("/bin/sh", options));
 * ```
 */
export function spawnAs<T>(identity: JobIdentity, spawn: () => T): T {
  setThreadGroups([]);
  setThreadGids(identity.gid, identity.gid, identity.gid);
  try {
    // The saved uid stays 0: that is what lets this thread return below.
    setThreadUids(identity.uid, identity.uid, 0);
    try {
      return spawn();
    } finally {
      setThreadUids(0, 0, 0);
    }
  } finally {
    setThreadGids(0, 0, 0);
  }
}
