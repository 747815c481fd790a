/**
 * Job cgroups: create one per job below this process's own cgroup, apply
 * CPU, memory, IO and task limits, read usage, kill everything inside and
 * remove it again. Works on cgroup v1 (legacy hierarchies) and v2 (unified
 * hierarchy); {@link detectCgroupDriver} picks the right driver for the host.
 *
 * The module is the one place that knows cgroup files. A job's first
 * process is started in its cgroup by a {@link SpawnPlan}: the job cgroup
 * makes it ({@link JobCgroup.prepareSpawn}), the spawning process carries
 * it out ({@link openSpawnPlan}, {@link spawnInCgroup}).
 *
 * @example
 * ```ts
 * import { detectCgroupDriver, openSpawnPlan, spawnInCgroup, wholeDiskOf } from "./mod.ts";
 *
 * const driver = await detectCgroupDriver({ parent: "jobworker" });
 * const disk = await wholeDiskOf("/");
 * const job = await driver.create("job-42");
 * const plan = await job.prepareSpawn(
 *   { cpu: 0.5, memoryBytes: 256 * 2 ** 20, ioReadBps: 2 ** 20, ioWriteBps: null, pids: 64 },
 *   disk === null ? [] : [disk],
 * );
 * // In the spawning process (the executor gets the plan as JSON):
 * const pid = spawnInCgroup(openSpawnPlan(plan), () => spawnTheJob());
 * // ... later:
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
  SpawnPlan,
} from "./types.ts";
export { detectCgroupDriver, type DetectCgroupOptions } from "./detect.ts";
export { deviceNumberOf, wholeDiskOf } from "./devices.ts";
export { type OpenSpawnPlan, openSpawnPlan, spawnInCgroup } from "./hop.ts";
export { enterSupervisorLeaf } from "./leaf.ts";
