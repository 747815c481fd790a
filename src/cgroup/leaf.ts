/**
 * The supervisor leaf for a process that starts servers and outlives them.
 *
 * On cgroup v2 a cgroup that hands controllers to children may hold no
 * process itself, so a job-cgroup driver whose own cgroup holds it moves
 * its process into the leaf `<own>/<first parent component>-supervisor`
 * (see ./v2.ts). A supervisor that keeps restarting the server from that
 * same cgroup must live in the leaf too: otherwise it keeps the own cgroup
 * busy and the server cannot enable controllers. Under systemd
 * (`Delegate=yes`) this is also what lets a crashed server be restarted at
 * all while jobs run: the supervisor stays, so systemd never has to put a
 * new main process into the unit's cgroup, which the kernel refuses while
 * it hands controllers to job cgroups.
 *
 * @module
 */
import { CgroupFs, joinPath } from "./_fs.ts";
import { detectCgroupLayout } from "./_detect.ts";
import { supervisorLeafName } from "./v2.ts";

/**
 * Moves this process into the supervisor leaf of `parent` on cgroup v2
 * (making the leaf when missing); does nothing on v1, at the root of the
 * hierarchy, or when the process is there already. The leaf stays when the
 * process ends (the next start reuses it; systemd removes it with the
 * unit's cgroup). Returns the leaf's directory, or null when nothing moved.
 *
 * @example
 * ```ts ignore
 * await enterSupervisorLeaf({ parent: "jobworker" });
 * // children started from here begin in <own>/jobworker-supervisor
 * ```
 */
export async function enterSupervisorLeaf(options: { parent: string }): Promise<string | null> {
  const layout = await detectCgroupLayout();
  if (layout.version !== 2) return null;
  const leaf = supervisorLeafName(options.parent);
  const own = layout.ownDir;
  if (own.endsWith(`/${leaf}`) || own === layout.mountPoint) return null;
  const fs = new CgroupFs({});
  const dir = joinPath(own, leaf);
  try {
    await fs.mkdir(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) {
      throw new Error(`Cannot create supervisor cgroup ${dir}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
  try {
    await fs.write(joinPath(dir, "cgroup.procs"), String(Deno.pid));
  } catch (e) {
    throw new Error(`Cannot move the supervisor into ${dir}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return dir;
}
