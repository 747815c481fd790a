/**
 * The executor's brief stay in the job's cgroup: it joins, spawns the main
 * process (which inherits the cgroup at fork), and returns home, so the job
 * is limited from its first instruction while the executor's own memory is
 * never charged to the job.
 *
 * @module
 */
import type { ExecutorConfig } from "./protocol.ts";

/** Writes `0` ("the writing process") to each `cgroup.procs` file. */
function moveSelf(procsFiles: readonly string[]): void {
  for (const file of procsFiles) {
    try {
      Deno.writeTextFileSync(file, "0");
    } catch (err) {
      throw new Error(`Cannot move the executor to ${file}: ${(err as Error).message}`);
    }
  }
}

/**
 * Runs `spawn` inside the job's cgroup and returns its result. The
 * executor is back home (and the after-spawn limits written) when this
 * returns or throws.
 */
export function spawnInCgroup<T>(cgroup: ExecutorConfig["cgroup"], spawn: () => T): T {
  moveSelf(cgroup.join);
  try {
    const result = spawn();
    // Written at once, before going home: the main process runs already,
    // and moving a threaded process between cgroups can take long (on v2
    // under emulation a fork bomb reached pids.current 28 with pids.max 20
    // while the executor moved home first). The executor only writes files
    // until it is home, so these limits cannot hurt it.
    for (const write of cgroup.afterSpawn) {
      try {
        Deno.writeTextFileSync(write.path, write.value);
      } catch (err) {
        throw new Error(
          `Cannot write "${write.value}" to ${write.path}: ${(err as Error).message}`,
        );
      }
    }
    return result;
  } finally {
    moveSelf(cgroup.home);
  }
}
