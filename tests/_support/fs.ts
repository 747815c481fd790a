/**
 * Files in tests: whether paths exist, temporary directories that are
 * always removed, and small reads.
 *
 * @module
 */

/** Whether `path` exists (as anything, a dangling link included). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Which of `paths` still exist. */
export async function existing(paths: readonly string[]): Promise<string[]> {
  const left: string[] = [];
  for (const p of paths) if (await exists(p)) left.push(p);
  return left;
}

/** Options of {@linkcode withTempDir}. */
export interface TempDirOptions {
  /** The start of the directory's name, saying which test made it should it be left behind. */
  prefix: string;
}

/** Runs `fn` with a new temporary directory; removes it afterwards, also when `fn` throws. */
export async function withTempDir<T>(
  fn: (dir: string) => Promise<T> | T,
  options: TempDirOptions,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: options.prefix });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Entries of a directory, sorted (empty when it does not exist). */
export async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return names.sort();
}

/** A (control) file's content without the surrounding white space. */
export async function readTrim(path: string): Promise<string> {
  return (await Deno.readTextFile(path)).trim();
}

/** The first of `dirs` that holds `file`, or null. */
export async function firstDirWith(dirs: readonly string[], file: string): Promise<string | null> {
  for (const dir of dirs) if (await exists(`${dir}/${file}`)) return dir;
  return null;
}
