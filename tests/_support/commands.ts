/**
 * Host programs in tests: finding them on PATH and running them.
 *
 * @module
 */
import { join } from "node:path";
import { decoder, encoder } from "./bytes.ts";

/** The absolute path of the executable file `name` in one of PATH's directories, or null. */
export function which(name: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const info = Deno.statSync(join(dir, name));
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return join(dir, name);
    } catch {
      // Not in this directory.
    }
  }
  return null;
}

/**
 * Whether `command args...` runs and exits with 0; false also when it
 * cannot start at all (not installed): for skipping tests that need it.
 */
export async function succeeds(command: string, args: readonly string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(command, { args: [...args], stdout: "null", stderr: "null" })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

/** Options of {@linkcode runCommand}. */
export interface RunOptions {
  /** Text written to the command's stdin (default: no stdin). */
  stdin?: string;
  /** The command is killed with SIGKILL after this long; default 15 s. */
  timeoutMs?: number;
  /** More environment variables for the command (it inherits this process's too). */
  env?: Record<string, string>;
}

/** What a command run by {@linkcode runCommand} did. */
export interface RunResult {
  /** The exit code. */
  code: number;
  /** stdout, decoded as UTF-8. */
  out: string;
  /** stderr, decoded as UTF-8. */
  err: string;
}

/** Runs a host command to its end; returns exit code, stdout and stderr. */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const child = new Deno.Command(command, {
    args: [...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    ...(options.env === undefined ? {} : { env: options.env }),
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(encoder.encode(options.stdin));
    await writer.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Gone.
    }
  }, options.timeoutMs ?? 15_000);
  try {
    const result = await child.output();
    return {
      code: result.code,
      out: decoder.decode(result.stdout),
      err: decoder.decode(result.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}
