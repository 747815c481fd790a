/**
 * What both drivers' `JobCgroup.prepareSpawn` do: decide which limits wait
 * until after the spawn, write the others, and assemble the
 * {@link SpawnPlan} from the job's and the driver's spawn files.
 *
 * @module
 */
import type { DeviceNumber, JobCgroup, ResourceLimits, SpawnPlan } from "./types.ts";

/** Options of {@link planSpawn}. */
export interface PlanSpawnOptions {
  /** The job's limits (only the keys present are applied). */
  limits: Partial<ResourceLimits>;
  /** Block devices the IO limits apply to. */
  devices: readonly DeviceNumber[];
  /** The driver's `homeSpawnFiles`: where the spawner returns. */
  home: readonly string[];
}

/** See `JobCgroup.prepareSpawn` in ./types.ts; `job` is the cgroup it is called on. */
export async function planSpawn(job: JobCgroup, options: PlanSpawnOptions): Promise<SpawnPlan> {
  const { limits, devices } = options;
  // The spawner is inside while the job's first process starts: memory and
  // pids limits would count its allocations and tasks, so they wait.
  const { memoryBytes, pids, ...now } = limits;
  await job.setLimits(now, devices);
  const later: Partial<ResourceLimits> = {};
  if (memoryBytes !== undefined) later.memoryBytes = memoryBytes;
  if (pids !== undefined) later.pids = pids;
  return {
    join: [...job.spawnFiles],
    home: [...options.home],
    afterSpawn: job.limitWrites(later, devices),
  };
}
