/**
 * Carrying out a {@link SpawnPlan}: the spawner's brief stay in a job's
 * cgroup. It joins, spawns the job's first process (which inherits the
 * cgroup at fork), writes the after-spawn limits and returns home, so the
 * job is limited from its first instruction while the spawner's own memory
 * is never charged to it.
 *
 * Opening and writing are separate steps because the executor opens every
 * file BEFORE it enters the job's sandbox, where no cgroupfs is mounted;
 * the writes go through those descriptors. Which files the plan names
 * decides what moves: v1 `tasks` move only the writing thread (the one
 * that spawns), v2 `cgroup.procs` the whole process.
 *
 * This file stays small and imports no driver: the executor, one process
 * per job, loads it on its own (see ../executor/main.ts).
 *
 * @module
 */
import { CLONE_NEWCGROUP, closeFd, O_WRONLY, openFd, unshare, writeFd } from "../../ffi/mod.ts";
import type { FileWrite, SpawnPlan } from "./types.ts";

/** A control file open for writing. */
interface OpenFile {
  path: string;
  fd: number;
}

/** The files of a {@link SpawnPlan}, open for writing; made by {@link openSpawnPlan}. */
export interface OpenSpawnPlan {
  /** The plan's `join` files. */
  readonly join: readonly OpenFile[];
  /** The plan's `home` files. */
  readonly home: readonly OpenFile[];
  /** The plan's `afterSpawn` files, each with its value. */
  readonly afterSpawn: readonly (OpenFile & FileWrite)[];
}

/**
 * Opens every file of `plan` for writing; throws naming the first that
 * cannot be opened (closing those already open).
 */
export function openSpawnPlan(plan: SpawnPlan): OpenSpawnPlan {
  const opened: OpenFile[] = [];
  const open = (path: string): OpenFile => {
    const file = { path, fd: openFd(path, O_WRONLY) };
    opened.push(file);
    return file;
  };
  try {
    return {
      join: plan.join.map(open),
      home: plan.home.map(open),
      afterSpawn: plan.afterSpawn.map((w) => ({ ...open(w.path), value: w.value })),
    };
  } catch (err) {
    for (const file of opened) closeFd(file.fd);
    throw err;
  }
}

/** Writes `0` ("the writer") to each file: moves this thread (v1) or process (v2) there. */
function moveSelf(files: readonly OpenFile[]): void {
  for (const file of files) {
    try {
      writeFd(file.fd, "0", file.path);
    } catch (err) {
      throw new Error(`Cannot move the spawner to ${file.path}: ${(err as Error).message}`);
    }
  }
}

/**
 * Runs `spawn` inside the job's cgroup, in a new cgroup namespace rooted
 * there (the job sees its cgroup as "/"), and returns its result. The
 * caller is back home (and the after-spawn limits written) when this
 * returns or throws. The files are closed afterwards: a plan is used once.
 *
 * @example
 * ```ts
 * const open = openSpawnPlan(config.cgroup); // before entering the sandbox
 * // ... enter the sandbox ...
 * const pid = spawnInCgroup(open, () => spawn(program, { args }));
 * ```
 */
export function spawnInCgroup<T>(open: OpenSpawnPlan, spawn: () => T): T {
  try {
    moveSelf(open.join);
    try {
      unshare(CLONE_NEWCGROUP);
      const result = spawn();
      // Written at once, before going home: the main process runs already,
      // and moving a threaded process between cgroups can take long (on v2
      // under emulation a fork bomb reached pids.current 28 with pids.max 20
      // while the executor moved home first). The spawner only writes files
      // until it is home, so these limits cannot hurt it.
      for (const write of open.afterSpawn) {
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
      moveSelf(open.home);
    }
  } finally {
    for (const file of [...open.join, ...open.home, ...open.afterSpawn]) closeFd(file.fd);
  }
}
