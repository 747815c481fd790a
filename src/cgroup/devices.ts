/**
 * Block-device numbers for IO limits: the whole disk behind a path, or
 * behind a user-named device. The kernel throttles whole disks only, and a
 * file system without a real disk (overlay, tmpfs, ...) cannot be
 * throttled: then the lookups answer null. See ./_devices.ts for how.
 *
 * @module
 */
import type { DeviceNumber } from "./types.ts";
import * as lookup from "./_devices.ts";

/**
 * The whole disk that holds the file system `path` lives on, as found in
 * `/proc/self/mountinfo`, or null when that file system has no real disk
 * (overlay, tmpfs, ...: IO limits cannot apply to it).
 *
 * @example
 * ```ts
 * const disk = await wholeDiskOf("/var/lib/jobworker"); // e.g. "254:0", or null
 * ```
 */
export function wholeDiskOf(path: string): Promise<DeviceNumber | null> {
  return lookup.wholeDiskOf(path);
}

/**
 * The whole disk for a user-named device: "MAJ:MIN" (validated) or a path
 * to a block device node such as "/dev/vda1" or "/dev/disk/by-uuid/…"
 * (symlinks followed). A partition maps to its disk; an anonymous device
 * (`0:NN`) gives null.
 *
 * @example
 * ```ts
 * await deviceNumberOf("254:0");     // "254:0"
 * await deviceNumberOf("/dev/sda1"); // "8:0"
 * ```
 *
 * @throws TypeError when `nameOrPath` is neither "MAJ:MIN" nor a block device.
 */
export function deviceNumberOf(nameOrPath: string): Promise<DeviceNumber | null> {
  return lookup.deviceNumberOf(nameOrPath);
}
