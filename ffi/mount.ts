/**
 * mount(2) and the mount flags the executor needs.
 *
 * @module
 */
import { cstr, libc } from "./_libc.ts";
import { check } from "./errors.ts";

/** Ignore set-user-ID bits. */
export const MS_NOSUID = 2;
/** Ignore device files. */
export const MS_NODEV = 4;
/** Disallow execution. */
export const MS_NOEXEC = 8;
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
