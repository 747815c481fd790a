/**
 * The server's side of the executor protocol (see ./protocol.ts): start an
 * executor as PID 1 of a new PID namespace, hand it its config, and follow
 * its reports.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { spawnInNewPidNamespace } from "../../ffi/mod.ts";
import {
  type ExecutorCommand,
  type ExecutorConfig,
  type ExecutorReport,
  parseReport,
} from "./protocol.ts";

/**
 * The argument that makes a compiled (`deno compile`) server binary run the
 * executor instead of the server: a single binary serves both roles.
 */
export const EXECUTOR_ARG = "--jobworker-executor";

/**
 * The command line that runs the executor program. From source: this Deno
 * binary running ./main.ts with all permissions. In a compiled binary: the
 * binary itself with {@link EXECUTOR_ARG}.
 */
export function defaultExecutorCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath(), EXECUTOR_ARG];
  return [
    Deno.execPath(),
    "run",
    "--allow-all",
    "--no-config",
    "--no-lock",
    "--quiet",
    "--no-prompt",
    fileURLToPath(new URL("./main.ts", import.meta.url)),
  ];
}

/** The executor's environment: what Deno needs to find its cache, nothing else. */
function executorEnv(): Record<string, string> {
  const env: Record<string, string> = { DENO_NO_UPDATE_CHECK: "1", PATH: "/usr/bin:/bin" };
  for (const name of ["DENO_DIR", "HOME", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Options of {@link launchExecutor}. */
export interface LaunchOptions {
  /** The executor's command line; default {@link defaultExecutorCommand}. */
  command?: readonly string[];
}

/** A running executor, as the server sees it. */
export interface ExecutorProcess {
  /** The executor's PID in the server's PID namespace. */
  readonly pid: number;
  /** The first report: `started` or `start-failed` (or a synthesized `start-failed` if it died). */
  readonly startReport: Promise<ExecutorReport>;
  /** The `exited` report, or null if the executor ended without one (e.g. SIGKILL). */
  readonly exitReport: Promise<Extract<ExecutorReport, { type: "exited" }> | null>;
  /** The executor process's own status, once it has ended and its pipes are drained. */
  readonly status: Promise<Deno.CommandStatus>;
  /** The last bytes the executor wrote to stderr (for diagnostics). */
  stderrTail(): string;
  /**
   * Asks the executor to stop the job: SIGTERM to every process of it (see
   * the `stop` command in ./protocol.ts). Ignored once the executor has ended.
   */
  stop(): void;
  /** SIGKILLs the executor, which takes the job's whole PID namespace along. */
  kill(): void;
  /** Closes the executor's stdin: it then kills the job and exits. */
  disconnect(): Promise<void>;
}

const STDERR_TAIL_BYTES = 4096;

/** Splits a byte stream into text lines. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, nl);
      pending = pending.slice(nl + 1);
    }
  }
  if (pending.length > 0) yield pending;
}

/**
 * Starts an executor for `config` and returns a handle to it.
 *
 * @example
 * ```ts
 * const executor = launchExecutor(config);
 * const first = await executor.startReport; // { type: "started", pid: 8 }
 * const exit = await executor.exitReport;  // { type: "exited", exitCode: 0, signal: null }
 * ```
 */
export function launchExecutor(
  config: ExecutorConfig,
  options: LaunchOptions = {},
): ExecutorProcess {
  const [program, ...args] = options.command ?? defaultExecutorCommand();
  if (program === undefined) throw new TypeError("Executor command is empty");
  const child = spawnInNewPidNamespace(() =>
    new Deno.Command(program, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      // The server's environment is not the job's business; Deno needs only its cache dir.
      clearEnv: true,
      env: executorEnv(),
    }).spawn()
  );

  const writer = child.stdin.getWriter();
  let writerClosed = false;
  const closeWriter = async () => {
    if (writerClosed) return;
    writerClosed = true;
    await writer.close().catch(() => {});
  };
  // A failed write means the executor already died; its status says why.
  const send = (message: ExecutorConfig | ExecutorCommand) => {
    if (writerClosed) return;
    writer.write(new TextEncoder().encode(JSON.stringify(message) + "\n")).catch(() => {});
  };
  send(config);

  let tail = new Uint8Array(0);
  const stderrDone = (async () => {
    for await (const chunk of child.stderr) {
      const joined = new Uint8Array(tail.length + chunk.length);
      joined.set(tail);
      joined.set(chunk, tail.length);
      tail = joined.slice(Math.max(0, joined.length - STDERR_TAIL_BYTES));
    }
  })();
  const stderrTail = () => new TextDecoder().decode(tail).trim();

  const start = Promise.withResolvers<ExecutorReport>();
  const exit = Promise.withResolvers<Extract<ExecutorReport, { type: "exited" }> | null>();
  const reportsDone = (async () => {
    let seenFirst = false;
    for await (const line of lines(child.stdout)) {
      if (line.trim() === "") continue;
      let message: ExecutorReport;
      try {
        message = parseReport(line);
      } catch {
        continue; // Not a report (the protocol has nothing else on stdout).
      }
      if (!seenFirst) {
        seenFirst = true;
        start.resolve(message);
      } else if (message.type === "exited") {
        exit.resolve(message);
      }
    }
  })();

  const status = (async () => {
    const s = await child.status;
    await Promise.all([reportsDone, stderrDone]);
    await closeWriter();
    const detail = stderrTail() || (s.signal ? `killed by ${s.signal}` : `exit code ${s.code}`);
    start.resolve({
      type: "start-failed",
      reason: "setup",
      message: `the executor ended before reporting: ${detail}`,
    });
    exit.resolve(null);
    return s;
  })();

  let ended = false;
  status.then(() => (ended = true));
  return {
    pid: child.pid,
    startReport: start.promise,
    exitReport: exit.promise,
    status,
    stderrTail,
    stop() {
      if (!ended) send({ type: "stop" });
    },
    kill() {
      if (ended) return;
      try {
        child.kill("SIGKILL");
      } catch {
        // It ended between the check and the kill.
      }
    },
    disconnect: closeWriter,
  };
}
