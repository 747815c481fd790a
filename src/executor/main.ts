/**
 * The executor: PID 1 of every job. See ./protocol.ts for what the server
 * tells it and what it reports, ./_sandbox.ts for the job's view of the
 * system and ./_identity.ts for the job's credentials.
 *
 * Only synchronous file APIs are used after `enterSandbox()`: Deno runs
 * async file operations on helper threads, which stay in the host's mount
 * namespace; the main thread is the one that was moved.
 *
 * @module
 */
import {
  closeFd,
  kill,
  lastCapability,
  O_APPEND,
  O_WRONLY,
  openFd,
  setNotDumpable,
  SIGNALS,
  spawn,
  SyscallError,
  waitChild,
} from "../../ffi/mod.ts";
import type { ExitStatus } from "../../ffi/mod.ts";
import { enterSandbox } from "./_sandbox.ts";
import { lockDown, spawnAs } from "./_identity.ts";
import { directoryProblem, resolveCommand } from "./_resolve.ts";
import { type CgroupFiles, openCgroupFiles, spawnInCgroup } from "./_cgroup_hop.ts";
import {
  type ExecutorConfig,
  type ExecutorReport,
  parseCommand,
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

/** Why posix_spawn failed (the working directory was checked before). */
function failureReason(err: unknown): StartFailureReason {
  if (!(err instanceof SyscallError)) return "setup";
  switch (err.code) {
    case "ENOENT":
    case "ENOTDIR":
      return "not-found";
    case "EACCES":
    case "EISDIR":
      return "not-executable";
    case "ENOEXEC":
      return "bad-format";
    default:
      return "setup";
  }
}

/** Kills every process of the job but the executor and reaps them all. */
function killAndReapAll(): void {
  kill(-1, SIGNALS.SIGKILL!);
  while (waitChild(-1, { block: true }) !== null) {
    // Every remaining child was SIGKILLed; reap until none is left.
  }
}

/**
 * Reads command lines from the server until end-of-file, which means the
 * server is gone.
 */
async function watchServer(
  handlers: { onStop: () => void; onGone: () => void },
): Promise<void> {
  const decoder = new TextDecoder();
  const buf = new Uint8Array(4096);
  let pending = "";
  try {
    for (let n = await Deno.stdin.read(buf); n !== null; n = await Deno.stdin.read(buf)) {
      pending += decoder.decode(buf.subarray(0, n), { stream: true });
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim() === "") continue;
        try {
          if (parseCommand(line).type === "stop") handlers.onStop();
        } catch (err) {
          console.error(`executor: ignoring a command: ${(err as Error).message}`);
        }
      }
    }
  } catch {
    // A broken pipe means the same as EOF.
  }
  handlers.onGone();
}

function failStart(reason: StartFailureReason, message: string, code: number): never {
  report({ type: "start-failed", reason, message });
  Deno.exit(code);
}

/** Runs the executor; never returns. */
export async function main(): Promise<never> {
  // Nothing may read this process's memory or descriptors through /proc.
  setNotDumpable();
  let config: ExecutorConfig;
  try {
    config = parseConfig(readConfigLine());
  } catch (err) {
    failStart("setup", (err as Error).message, 2);
  }

  // Everything from the host's view is opened now: the sandbox hides it.
  let outputFd: number;
  let cgroupFiles: CgroupFiles;
  let lastCap: number;
  try {
    outputFd = openFd(config.outputPath, O_WRONLY | O_APPEND);
    cgroupFiles = openCgroupFiles(config.cgroup);
    lastCap = lastCapability();
    enterSandbox(config);
  } catch (err) {
    failStart("setup", (err as Error).message, 1);
  }

  const program = resolveCommand(config.command, {
    searchPath: config.env.PATH,
    cwd: config.cwd,
  });
  const cwdProblem = directoryProblem(config.cwd, config.identity);
  if (cwdProblem !== null) failStart("bad-cwd", cwdProblem, 1);
  if (program === "not-found" || program === "not-executable") {
    failStart(
      program,
      `${config.command}: ${program === "not-found" ? "not found" : "not executable"} in PATH`,
      1,
    );
  }

  let mainPid = 0;
  let mainStatus: ExitStatus | null = null;
  let stopBeforeExit = false;
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
  Deno.addSignalListener("SIGCHLD", onChild);

  try {
    mainPid = spawnInCgroup(cgroupFiles, () => {
      lockDown(lastCap);
      return spawnAs(config.identity, () =>
        spawn(program, {
          argv0: config.command,
          args: config.args,
          env: config.env,
          cwd: config.cwd,
          outputFd,
          newSession: true,
        }));
    });
  } catch (err) {
    // A failure after the spawn (limits not written) leaves a child behind.
    killAndReapAll();
    failStart(mainPid === 0 ? failureReason(err) : "setup", (err as Error).message, 1);
  }
  closeFd(outputFd);
  report({ type: "started", pid: mainPid });
  onChild(); // The main process may have ended before the listener ran.

  void watchServer({
    onStop: () => {
      if (mainStatus === null) stopBeforeExit = true;
      kill(-1, SIGNALS.SIGTERM!);
    },
    onGone: () => {
      killAndReapAll();
      Deno.exit(1);
    },
  });

  await ended.promise;
  // The job ends with its main process: nothing it left behind survives.
  killAndReapAll();
  const status = mainStatus as ExitStatus | null;
  report({
    type: "exited",
    exitCode: status?.exitCode ?? null,
    signal: status?.signal ?? null,
    terminated: stopBeforeExit,
  });
  Deno.exit(0);
}

if (import.meta.main) await main();
