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
