/**
 * The module's entry point for production: detect the host's cgroup setup
 * and open the matching driver. Detection itself (and the seams tests use
 * to run it against a fake tree) lives in ./_detect.ts.
 *
 * @module
 */
import type { CgroupDriver } from "./types.ts";
import { openCgroupDriver } from "./_detect.ts";

/** Options of {@link detectCgroupDriver}. */
export interface DetectCgroupOptions {
  /**
   * Where job cgroups go, relative to the cgroup this process runs in (per
   * hierarchy on v1), e.g. "jobworker" or "jobworker/prod". Default
   * "jobworker". Absolute paths, "." / ".." and empty components are
   * rejected with a TypeError, so jobs can never escape this process's own
   * subtree.
   */
  parent?: string;
}

/**
 * Detects the host's cgroup version (legacy v1 hierarchies or the unified
 * v2 hierarchy, from `/proc/self/mountinfo` and `/proc/self/cgroup`) and
 * opens the driver that creates job cgroups below `<own cgroup>/<parent>`,
 * creating the parent directories (and, on v2, enabling the controllers)
 * as needed. Call `close()` on the result at shutdown to remove the parent
 * directories it created.
 *
 * @example
 * ```ts
 * const driver = await detectCgroupDriver({ parent: "jobworker" });
 * const job = await driver.create("job-1");
 * await job.setLimits({ memoryBytes: 64 * 2 ** 20, pids: 100 }, []);
 * // ... spawn a process into job.procsFiles, then:
 * await job.kill();
 * await job.destroy();
 * await driver.close();
 * ```
 *
 * @throws TypeError for an invalid `parent`; Error when no usable cgroup setup exists or the
 *   parent cannot be created.
 */
export function detectCgroupDriver(options: DetectCgroupOptions = {}): Promise<CgroupDriver> {
  // Only `parent` is passed on: whatever else a caller's object holds, the
  // test seams of openCgroupDriver stay closed in production.
  const { parent } = options;
  return openCgroupDriver(parent === undefined ? {} : { parent });
}
