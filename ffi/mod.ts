/**
 * Bindings to the Linux system calls jobworker needs that Deno does not
 * offer: namespaces, mounts and pivot_root, hostname, the loopback
 * interface, posix_spawn, waitpid and kill, per-thread credentials and
 * capabilities, seccomp filters, and cgroup device programs. This folder is the only place that calls `Deno.dlopen`
 * or touches pointers; everything here takes and returns plain values, and
 * a failing call throws a {@link SyscallError} such as
 * `unshare(CLONE_NEWNS) failed: EPERM`.
 *
 * @example
 * ```ts
 * import { CLONE_NEWNS, CLONE_NEWUTS, sethostname, unshare } from "../ffi/mod.ts";
 * unshare(CLONE_NEWNS | CLONE_NEWUTS);
 * sethostname("job-1");
 * ```
 *
 * @module
 */
export { check, errnoName, SyscallError } from "./errors.ts";
export * from "./namespace.ts";
export * from "./mount.ts";
export * from "./system.ts";
export * from "./process.ts";
export * from "./files.ts";
export * from "./pty.ts";
export * from "./credentials.ts";
export * from "./seccomp.ts";
export * from "./bpf.ts";
