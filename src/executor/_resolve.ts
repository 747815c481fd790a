/**
 * Finding the program a job names, in the JOB's PATH. posix_spawnp would
 * search the executor's own PATH (the server's), which is not what the job
 * asked for.
 *
 * @module
 */

/** The search path used when the job's environment has no PATH (confstr _CS_PATH). */
const FALLBACK_PATH = "/bin:/usr/bin";

/** Why a program name could not be resolved. */
export type ResolveFailure = "not-found" | "not-executable";

/**
 * The path to execute for `command`: itself when it contains a slash,
 * otherwise the first executable regular file named `command` in the
 * directories of `searchPath` (an empty entry means the current directory,
 * as in a shell). Returns the failure when nothing fits: `not-executable`
 * when only files without execute permission were found.
 *
 * @example
 * ```ts
 * resolveCommand("sh", { searchPath: "/usr/bin:/bin" }); // "/usr/bin/sh"
 * ```
 */
export function resolveCommand(
  command: string,
  options: { searchPath?: string | undefined; cwd?: string } = {},
): string | ResolveFailure {
  if (command.includes("/")) return command;
  let sawNonExecutable = false;
  for (const entry of (options.searchPath ?? FALLBACK_PATH).split(":")) {
    const dir = entry === "" ? (options.cwd ?? ".") : entry;
    const candidate = `${dir.replace(/\/+$/, "")}/${command}`;
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(candidate);
    } catch {
      continue;
    }
    if (!info.isFile) continue;
    if (((info.mode ?? 0) & 0o111) === 0) {
      sawNonExecutable = true;
      continue;
    }
    return candidate;
  }
  return sawNonExecutable ? "not-executable" : "not-found";
}

/** What the permission bits of `info` grant `identity` (a user without capabilities). */
function granted(info: Deno.FileInfo, identity: { uid: number; gid: number }): number {
  const mode = info.mode ?? 0;
  if (info.uid === identity.uid) return (mode >> 6) & 7;
  if (info.gid === identity.gid) return (mode >> 3) & 7;
  return mode & 7;
}

/**
 * Why `identity` cannot make `dir` its working directory, as a phrase for
 * "working directory X ...", or null when it can: every directory on the
 * way must grant it search (x) permission.
 *
 * @example
 * ```ts
 * directoryProblem("/root", { uid: 61184, gid: 61184 }); // "is not accessible to uid 61184"
 * ```
 */
export function directoryProblem(
  dir: string,
  identity: { uid: number; gid: number },
): string | null {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(dir);
  } catch {
    return "does not exist";
  }
  if (!info.isDirectory) return "is not a directory";
  const parts = dir.split("/").filter((p) => p !== "");
  for (let i = 0; i <= parts.length; i++) {
    const path = "/" + parts.slice(0, i).join("/");
    let step: Deno.FileInfo;
    try {
      step = Deno.statSync(path);
    } catch {
      return "does not exist";
    }
    if ((granted(step, identity) & 1) === 0) return `is not accessible to uid ${identity.uid}`;
  }
  return null;
}
