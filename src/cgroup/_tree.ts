/**
 * Creating and removing the cgroup directories both drivers need: parent
 * directories (remembering which ones this process created) and job
 * directories (all-or-nothing across hierarchies).
 *
 * @module
 */
import { type CgroupFs, joinPath } from "./_fs.ts";

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Creates `<home>/<parts...>` one level at a time and returns the
 * directories it created (outermost first). `afterLevel` runs on every level
 * (existing or new) in order, e.g. to enable v2 controllers before the next
 * level is made.
 */
export async function createParentDirs(
  home: string,
  options: {
    parts: readonly string[];
    fs: CgroupFs;
    afterLevel?: (dir: string) => Promise<void>;
  },
): Promise<string[]> {
  const created: string[] = [];
  let dir = home;
  try {
    for (const part of options.parts) {
      const above = dir;
      dir = joinPath(dir, part);
      try {
        await options.fs.mkdir(dir);
        created.push(dir);
      } catch (e) {
        if (e instanceof Deno.errors.AlreadyExists) {
          // A plain file in the way would make every later create fail obscurely.
          if (!(await Deno.stat(dir)).isDirectory) {
            throw new Error(`Cannot create cgroup parent ${dir}: a non-directory is in the way`);
          }
        } else if (e instanceof Deno.errors.PermissionDenied) {
          throw new Deno.errors.PermissionDenied(
            `Cannot create cgroup parent ${dir}: ${above} is not writable`,
            { cause: e },
          );
        } else {
          throw new Error(`Cannot create cgroup parent ${dir}: ${describe(e)}`, { cause: e });
        }
      }
      await options.afterLevel?.(dir);
    }
  } catch (e) {
    await removeCreatedParents(created, { fs: options.fs }).catch(() => {});
    throw e;
  }
  return created;
}

/**
 * Creates `<parent>/<name>` in each of `parents`, all or nothing: on any
 * failure the directories already made are removed again.
 *
 * @throws Deno.errors.AlreadyExists when the name is taken in any hierarchy.
 */
export async function mkdirJob(
  name: string,
  options: { parents: readonly string[]; fs: CgroupFs },
): Promise<string[]> {
  const made: string[] = [];
  try {
    for (const parent of options.parents) {
      const dir = joinPath(parent, name);
      try {
        await options.fs.mkdir(dir);
      } catch (e) {
        if (e instanceof Deno.errors.AlreadyExists) {
          throw new Deno.errors.AlreadyExists(
            `Cannot create cgroup "${name}": ${dir} already exists`,
            { cause: e },
          );
        }
        if (e instanceof Deno.errors.PermissionDenied) {
          throw new Deno.errors.PermissionDenied(
            `Cannot create cgroup "${name}": parent ${parent} is not writable`,
            { cause: e },
          );
        }
        if (e instanceof Deno.errors.NotFound) {
          throw new Deno.errors.NotFound(
            `Cannot create cgroup "${name}": parent ${parent} does not exist (driver closed?)`,
            { cause: e },
          );
        }
        throw new Error(`Cannot create cgroup "${name}" at ${dir}: ${describe(e)}`, { cause: e });
      }
      made.push(dir);
    }
  } catch (e) {
    for (const dir of made.reverse()) await options.fs.rmdir(dir).catch(() => {});
    throw e;
  }
  return made;
}

/**
 * Removes the directories in `created`, deepest first, skipping any that
 * still hold child cgroups (jobs not yet destroyed) and those already gone.
 * Returns the directories that remain (so a later close() can retry);
 * throws the first failure after trying them all.
 */
export async function removeCreatedParents(
  created: readonly string[],
  options: { fs: CgroupFs },
): Promise<string[]> {
  const byDepth = [...created].sort((a, b) => b.split("/").length - a.split("/").length);
  const remaining: string[] = [];
  let failure: unknown = undefined;
  for (const dir of byDepth) {
    try {
      if (!(await options.fs.exists(dir))) continue;
      if ((await options.fs.subdirs(dir)).length > 0) {
        remaining.push(dir);
        continue;
      }
      await options.fs.rmdir(dir);
    } catch (e) {
      remaining.push(dir);
      failure ??= e;
    }
  }
  if (failure !== undefined) throw failure;
  return remaining.reverse();
}

/** `<home>/<parts[0]>`, `<home>/<parts[0]>/<parts[1]>`, ...: every level of a parent path. */
export function parentChain(home: string, parts: readonly string[]): string[] {
  const chain: string[] = [];
  let dir = home;
  for (const part of parts) {
    dir = joinPath(dir, part);
    chain.push(dir);
  }
  return chain;
}

/** The names of the subdirectories of every parent, deduplicated and sorted. */
export async function childNames(
  parents: readonly string[],
  options: { fs: CgroupFs },
): Promise<string[]> {
  const names = new Set<string>();
  for (const parent of parents) {
    try {
      for (const name of await options.fs.subdirs(parent)) names.add(name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return [...names].sort();
}
