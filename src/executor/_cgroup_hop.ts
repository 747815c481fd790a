/**
 * The executor's brief stay in the job's cgroup: it joins, spawns the main
 * process (which inherits the cgroup at fork), and returns home, so the job
 * is limited from its first instruction while the executor's own memory is
 * never charged to the job.
 *
 * Every control file is opened BEFORE the executor enters the job's
 * sandbox, where no cgroupfs is mounted; the writes go through those
 * descriptors.
 *
 * @module
 */
import { CLONE_NEWCGROUP, closeFd, O_WRONLY, openFd, unshare, writeFd } from "../../ffi/mod.ts";
import type { ExecutorConfig } from "./protocol.ts";

interface OpenFile {
  path: string;
  fd: number;
}

/** The job's and the executor's cgroup files, open for writing. */
export interface CgroupFiles {
  join: OpenFile[];
  home: OpenFile[];
  afterSpawn: Array<OpenFile & { value: string }>;
}

function open(path: string): OpenFile {
  return { path, fd: openFd(path, O_WRONLY) };
}

/** Opens every file of `cgroup` for writing; throws naming the first that cannot be opened. */
export function openCgroupFiles(cgroup: ExecutorConfig["cgroup"]): CgroupFiles {
  return {
    join: cgroup.join.map(open),
    home: cgroup.home.map(open),
    afterSpawn: cgroup.afterSpawn.map((w) => ({ ...open(w.path), value: w.value })),
  };
}

/** Writes `0` ("the writing process") to each `cgroup.procs` file. */
function moveSelf(files: readonly OpenFile[]): void {
  for (const file of files) {
    try {
      writeFd(file.fd, "0", file.path);
    } catch (err) {
      throw new Error(`Cannot move the executor to ${file.path}: ${(err as Error).message}`);
    }
  }
}

/**
 * Runs `spawn` inside the job's cgroup, in a new cgroup namespace rooted
 * there (the job sees its cgroup as "/"), and returns its result. The
 * executor is back home (and the after-spawn limits written) when this
 * returns or throws. The files are closed afterwards.
 */
export function spawnInCgroup<T>(files: CgroupFiles, spawn: () => T): T {
  try {
    moveSelf(files.join);
    try {
      unshare(CLONE_NEWCGROUP);
      const result = spawn();
      // Written at once, before going home: the main process runs already,
      // and moving a threaded process between cgroups can take long (on v2
      // under emulation a fork bomb reached pids.current 28 with pids.max 20
      // while the executor moved home first). The executor only writes files
      // until it is home, so these limits cannot hurt it.
      for (const write of files.afterSpawn) {
        try {
          writeFd(write.fd, write.value, write.path);
        } catch (err) {
          throw new Error(
            `Cannot write "${write.value}" to ${write.path}: ${(err as Error).message}`,
          );
        }
      }
      return result;
    } finally {
      moveSelf(files.home);
    }
  } finally {
    for (const file of [...files.join, ...files.home, ...files.afterSpawn]) closeFd(file.fd);
  }
}
