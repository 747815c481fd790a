/**
 * The executor: PID 1 of every job. See ./protocol.ts for what the server
 * tells it and what it reports.
 *
 * Only synchronous file APIs are used after `isolate()`: Deno runs async
 * file operations on helper threads, which stay in the host's mount
 * namespace; the main thread is the one that was moved.
 *
 * @module
 */
import { kill, SIGNALS, spawn, SyscallError, waitChild } from "../../ffi/mod.ts";
import type { ExitStatus } from "../../ffi/mod.ts";
import { isolate } from "./_isolate.ts";
import { resolveCommand } from "./_resolve.ts";
import { spawnInCgroup } from "./_cgroup_hop.ts";
import {
  type ExecutorConfig,
  type ExecutorReport,
  parseConfig,
  type StartFailureReason,
} from "./protocol.ts";

const encoder = new TextEncoder();

function report(message: ExecutorReport): void {
  const bytes = encoder.encode(JSON.stringify(message) + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

/** Reads the first line of stdin synchronously; the rest stays unread. */
function readConfigLine(): string {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(1);
  // One byte at a time, so nothing after the newline is consumed: the
  // server keeps stdin open and its end-of-file carries meaning.
  for (;;) {
    const n = Deno.stdin.readSync(buf);
    if (n === null || n === 0) throw new Error("stdin closed before the config line");
    if (buf[0] === 0x0a) break;
    chunks.push(buf.slice(0, 1));
  }
  const all = new Uint8Array(chunks.length);
  chunks.forEach((c, i) => (all[i] = c[0] ?? 0));
  return new TextDecoder().decode(all);
}

function failureReason(err: unknown, config: ExecutorConfig): StartFailureReason {
  if (!(err instanceof SyscallError)) return "setup";
  switch (err.code) {
    case "ENOENT":
      return isDirectory(config.cwd) ? "not-found" : "bad-cwd";
    case "ENOTDIR":
      return isDirectory(config.cwd) ? "not-found" : "bad-cwd";
    case "EACCES":
    case "EISDIR":
      return "not-executable";
    case "ENOEXEC":
      return "bad-format";
    default:
      return "setup";
  }
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Kills every process of the job but the executor and reaps them all. */
function killAndReapAll(): void {
  kill(-1, SIGNALS.SIGKILL!);
  while (waitChild(-1, { block: true }) !== null) {
    // Every remaining child was SIGKILLed; reap until none is left.
  }
}

async function watchServer(onGone: () => void): Promise<void> {
  const buf = new Uint8Array(64);
  try {
    while ((await Deno.stdin.read(buf)) !== null) {
      // The server sends nothing after the config line; only EOF matters.
    }
  } catch {
    // A broken pipe means the same as EOF.
  }
  onGone();
}

/** Runs the executor; never returns. */
export async function main(): Promise<never> {
  let config: ExecutorConfig;
  try {
    config = parseConfig(readConfigLine());
  } catch (err) {
    report({ type: "start-failed", reason: "setup", message: (err as Error).message });
    Deno.exit(2);
  }

  try {
    isolate(config.hostname);
  } catch (err) {
    report({ type: "start-failed", reason: "setup", message: (err as Error).message });
    Deno.exit(1);
  }

  const program = resolveCommand(config.command, {
    searchPath: config.env.PATH,
    cwd: config.cwd,
  });
  if (program === "not-found" || program === "not-executable") {
    report({
      type: "start-failed",
      reason: program,
      message: `${config.command}: ${
        program === "not-found" ? "not found" : "not executable"
      } in PATH`,
    });
    Deno.exit(1);
  }

  let mainPid = 0;
  let mainStatus: ExitStatus | null = null;
  let termBeforeExit = false;
  const ended = Promise.withResolvers<void>();
  const onChild = () => {
    for (let r = waitChild(); r !== null; r = waitChild()) {
      if (r.pid === mainPid) {
        mainStatus = r.status;
        ended.resolve();
      }
      // Anything else is an orphan reparented to us: reaping it is all we owe.
    }
  };
  const onTerm = () => {
    if (mainStatus === null) termBeforeExit = true;
    kill(-1, SIGNALS.SIGTERM!);
  };
  Deno.addSignalListener("SIGCHLD", onChild);
  Deno.addSignalListener("SIGTERM", onTerm);

  try {
    mainPid = spawnInCgroup(config.cgroup, () =>
      spawn(program, {
        argv0: config.command,
        args: config.args,
        env: config.env,
        cwd: config.cwd,
        outputPath: config.outputPath,
        newSession: true,
      }));
  } catch (err) {
    // A failure after the spawn (limits not written) leaves a child behind.
    killAndReapAll();
    report({
      type: "start-failed",
      reason: mainPid === 0 ? failureReason(err, config) : "setup",
      message: (err as Error).message,
    });
    Deno.exit(1);
  }
  report({ type: "started", pid: mainPid });
  onChild(); // The main process may have ended before the listener ran.

  void watchServer(() => {
    killAndReapAll();
    Deno.exit(1);
  });

  await ended.promise;
  // The job ends with its main process: nothing it left behind survives.
  killAndReapAll();
  const status = mainStatus as ExitStatus | null;
  report({
    type: "exited",
    exitCode: status?.exitCode ?? null,
    signal: status?.signal ?? null,
    terminated: termBeforeExit,
  });
  Deno.exit(0);
}

if (import.meta.main) await main();
