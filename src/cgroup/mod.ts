/**
 * Job cgroups: create one per job below this process's own cgroup, apply
 * CPU, memory, IO and task limits, read usage, kill everything inside and
 * remove it again. Works on cgroup v1 (legacy hierarchies) and v2 (unified
 * hierarchy); {@link detectCgroupDriver} picks the right driver for the host.
 *
 * @example
 * ```ts
 * import { detectCgroupDriver, wholeDiskOf } from "./mod.ts";
 *
 * const driver = await detectCgroupDriver({ parent: "jobworker" });
 * const disk = await wholeDiskOf("/");
 * const job = await driver.create("job-42");
 * await job.setLimits(
 *   { cpu: 0.5, memoryBytes: 256 * 2 ** 20, ioReadBps: 2 ** 20, ioWriteBps: null, pids: 64 },
 *   disk === null ? [] : [disk],
 * );
 * // Spawn the job's first process so that it writes "0" to each of job.procsFiles.
 * await job.kill();
 * await job.destroy();
 * await driver.close();
 * ```
 *
 * @module
 */
export type {
  CgroupDriver,
  CgroupStats,
  DeviceNumber,
  FileWrite,
  JobCgroup,
  ResourceLimits,
} from "./types.ts";
export { type CgroupFsHooks, detectCgroupDriver, type DetectCgroupOptions } from "./detect.ts";
export { deviceNumberOf, type DeviceOptions, wholeDiskOf } from "./devices.ts";
