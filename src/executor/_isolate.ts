/**
 * Puts the executor's main thread into the job's own namespaces. Processes
 * spawned from the main thread afterwards inherit them.
 *
 * @module
 */
import {
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWUTS,
  interfaceUp,
  mount,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_REC,
  sethostname,
  unshare,
} from "../../ffi/mod.ts";

/**
 * New mount, network, UTS and IPC namespaces (the PID namespace was made by
 * the server, as this process is its PID 1); `/` made private recursively
 * BEFORE anything is mounted, so no mount made in the job propagates to the
 * host; a fresh /proc that shows only the job's processes; the hostname;
 * and `lo` UP so 127.0.0.1 works inside while nothing else is reachable.
 *
 * Must run on the main thread, before any process is spawned. Throws a
 * SyscallError naming the call that failed.
 */
export function isolate(hostname: string): void {
  unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC);
  mount("/", { flags: MS_REC | MS_PRIVATE });
  mount("/proc", { source: "proc", fstype: "proc", flags: MS_NOSUID | MS_NODEV | MS_NOEXEC });
  sethostname(hostname);
  interfaceUp("lo");
}
