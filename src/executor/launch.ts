/**
 * The server's side of the executor protocol (see ./protocol.ts): start an
 * executor as PID 1 of a new PID namespace, or attach to one a previous
 * server started, then follow its reports and send it commands.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import {
  closeFd,
  O_NONBLOCK,
  O_WRONLY,
  openFd,
  openPidfd,
  signalPidfd,
  SIGNALS,
  spawnInNewPidNamespace,
  SyscallError,
  waitReadable,
  writeFd,
} from "../../ffi/mod.ts";
import { OutputFile } from "../output/mod.ts";
import {
  type ExecutorCommand,
  type ExecutorConfig,
  type ExecutorReport,
  type JobFiles,
  parseReport,
  type PrepareConfig,
} from "./protocol.ts";

/**
 * The argument that makes a compiled (`deno compile`) server binary run the
 * executor instead of the server: a single binary serves both roles.
 */
export const EXECUTOR_ARG = "--jobworker-executor";

/**
 * The program this process runs, as a path that can be executed. After the
 * file was replaced on disk (an upgrade: Deno then reports its path with
 * " (deleted)" appended) that is /proc/self/exe, which still names the
 * running program's file, so executors match the server that starts them.
 */
export function runningProgram(execPath: string = Deno.execPath()): string {
  return execPath.endsWith(" (deleted)") ? "/proc/self/exe" : execPath;
}

/**
 * The command line that runs the executor program. From source: this Deno
 * binary running ./main.ts with all permissions. In a compiled binary: the
 * binary itself with {@link EXECUTOR_ARG}.
 */
export function defaultExecutorCommand(): string[] {
  if (Deno.build.standalone) return [runningProgram(), EXECUTOR_ARG];
  return [
    runningProgram(),
    "run",
    "--allow-all",
    "--no-config",
    "--no-lock",
    "--quiet",
    "--no-prompt",
    fileURLToPath(new URL("./main.ts", import.meta.url)),
  ];
}

/**
 * The executor's environment: what Deno needs to find its cache, nothing
 * else, and V8 without its helper threads. An executor is mostly idle and
 * small; without the threads its PSS went from 15.08 to 14.96 MiB with 200
 * jobs running (`deno task bench --only scale`), below a sleeping
 * `deno eval` (15.1 MiB) measured beside it. The variable works for a
 * compiled binary too, where there is no command line to put flags on.
 */
function executorEnv(): Record<string, string> {
  const env: Record<string, string> = {
    DENO_NO_UPDATE_CHECK: "1",
    DENO_V8_FLAGS: "--single-threaded",
    PATH: "/usr/bin:/bin",
  };
  for (const name of ["DENO_DIR", "HOME", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Which process an executor is: its PID and start time survive a server restart. */
export interface ExecutorIdentity {
  /** PID in the host's (the server's) PID namespace. */
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22): tells a reused PID apart. */
  startTime: number;
}

/** The first report: `started` or `start-failed`. */
export type StartReport = Extract<ExecutorReport, { type: "started" | "start-failed" }>;
/** The last report: `exited`. */
export type ExitReport = Extract<ExecutorReport, { type: "exited" }>;
/** The state of the output, as last reported. */
export type OutputReport = Extract<ExecutorReport, { type: "output" }>;

/** A running executor, as the server sees it. */
export interface ExecutorProcess {
  /** Which process it is. */
  readonly identity: ExecutorIdentity;
  /** The first report (or a synthesized `start-failed` if it ended without one). */
  readonly startReport: Promise<StartReport>;
  /** The `exited` report, or null if the executor ended without one (e.g. SIGKILL). */
  readonly exitReport: Promise<ExitReport | null>;
  /** The latest `output` report, or null while there was none. */
  readonly outputState: OutputReport | null;
  /** Resolves once the executor process is gone and every report of it was read. */
  readonly ended: Promise<void>;
  /** The end of the executor's own log, for diagnostics. */
  logTail(): Promise<string>;
  /**
   * The signal that ended the executor process, once it has ended; null
   * when it exited, or when this server did not start it (then it cannot know).
   */
  exitSignal(): Promise<string | null>;
  /** Sends `stop` (see ./protocol.ts); ignored once the executor has ended. */
  stop(graceMs: number): void;
  /** Sends `signal` (see ./protocol.ts); ignored once the executor has ended. */
  signal(signal: number, options: { all: boolean }): void;
  /** SIGKILLs the executor, which takes the job's whole PID namespace along. */
  kill(): void;
}

/** Options of {@link launchExecutor}. */
export interface LaunchOptions {
  /** The executor's command line; default {@link defaultExecutorCommand}. */
  command?: readonly string[];
}

const LOG_TAIL_BYTES = 4096;

/**
 * The start time of process `pid` (/proc/PID/stat field 22), or null when
 * it is gone or a zombie (dead, only not yet reaped by its new parent).
 */
export function processStartTime(pid: number): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name in parentheses may hold spaces: count fields after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z" || fields[0] === "X") return null;
    const value = Number(fields[19]);
    return Number.isSafeInteger(value) ? value : null;
  } catch {
    return null;
  }
}

async function readTail(path: string, bytes: number): Promise<string> {
  try {
    const data = await Deno.readFile(path);
    return new TextDecoder().decode(data.subarray(Math.max(0, data.length - bytes))).trim();
  } catch {
    return "";
  }
}

/**
 * Follows the reports file from its first byte until `processGone`
 * resolves and everything written before is read; the file outlives
 * servers, so a restarted server reads the same history.
 */
class ReportFollower {
  readonly startReport: Promise<StartReport>;
  readonly exitReport: Promise<ExitReport | null>;
  readonly done: Promise<void>;
  outputState: OutputReport | null = null;

  constructor(
    files: JobFiles,
    options: { processGone: Promise<void>; describeDeath: () => Promise<string> },
  ) {
    const start = Promise.withResolvers<StartReport>();
    const exit = Promise.withResolvers<ExitReport | null>();
    this.startReport = start.promise;
    this.exitReport = exit.promise;
    this.done = (async () => {
      const file = await OutputFile.open(files.reports);
      void options.processGone.then(() => file.complete());
      const reader = file.reader();
      const decoder = new TextDecoder();
      let pending = "";
      try {
        for await (const { data } of reader) {
          pending += decoder.decode(data, { stream: true });
          let nl: number;
          while ((nl = pending.indexOf("\n")) >= 0) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            let report: ExecutorReport;
            try {
              report = parseReport(line);
            } catch {
              continue; // A torn last line of a crashed executor, or garbage: not a report.
            }
            if (report.type === "started" || report.type === "start-failed") start.resolve(report);
            else if (report.type === "output") this.outputState = report;
            else if (report.type === "exited") exit.resolve(report);
          }
        }
      } finally {
        reader.close();
        await file.close();
      }
      start.resolve({
        type: "start-failed",
        reason: "setup",
        message: `the executor ended before reporting: ${await options.describeDeath()}`,
      });
      exit.resolve(null);
    })();
    // Nobody may be waiting on these yet; a rejection must not go unhandled.
    this.done.catch(() => {});
  }
}

function sendCommand(controlPath: string, command: ExecutorCommand): void {
  let fd: number;
  try {
    // Non-blocking: with no executor holding the FIFO, open fails (ENXIO) instead of waiting.
    fd = openFd(controlPath, O_WRONLY | O_NONBLOCK);
  } catch (err) {
    if (err instanceof SyscallError && (err.code === "ENXIO" || err.code === "ENOENT")) return;
    throw err;
  }
  try {
    writeFd(fd, JSON.stringify(command) + "\n", controlPath);
  } catch (err) {
    if (!(err instanceof SyscallError && err.code === "EPIPE")) throw err;
  } finally {
    closeFd(fd);
  }
}

/**
 * An executor that has been started and told what every job's sandbox has
 * in common, and waits for its job (see ./protocol.ts, lifecycle steps 1–3).
 */
export interface PreparedExecutor {
  /** Which process it is. */
  readonly identity: ExecutorIdentity;
  /** Resolves once the process has ended: after its job, or if it died (or was retired) idle. */
  readonly gone: Promise<Deno.CommandStatus>;
  /** What it printed before it got a job (why it died, when it did). */
  earlyOutput(): string;
  /**
   * Hands it its job; returns the handle to follow it. Once only. The job's
   * files must exist: `files.reports` (empty) and `files.control` (a FIFO).
   */
  assign(config: ExecutorConfig): ExecutorProcess;
  /** Ends it without a job (closes its stdin); resolves when it has exited. */
  retire(): Promise<void>;
}

/**
 * Starts an executor and sends it `prepare`. Give it its job with
 * `assign()` at once, or keep it ready in a pool.
 *
 * @example
 * ```ts
 * const executor = prepareExecutor({ version: PROTOCOL_VERSION, sandbox: plan }).assign(config);
 * const first = await executor.startReport; // { type: "started", pid: 8 }
 * const exit = await executor.exitReport;  // { type: "exited", exitCode: 0, ... }
 * ```
 */
export function prepareExecutor(
  prepare: PrepareConfig,
  options: LaunchOptions = {},
): PreparedExecutor {
  const [program, ...args] = options.command ?? defaultExecutorCommand();
  if (program === undefined) throw new TypeError("Executor command is empty");
  const child = spawnInNewPidNamespace(() =>
    new Deno.Command(program, {
      args,
      stdin: "piped",
      stdout: "null",
      // Only until the executor has its job: then it writes to executor.log.
      stderr: "piped",
      // The server's environment is not the job's business; Deno needs only its cache dir.
      clearEnv: true,
      env: executorEnv(),
    }).spawn()
  );
  const identity = { pid: child.pid, startTime: processStartTime(child.pid) ?? 0 };
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  // A failed write means the executor already died; its status says why.
  writer.write(encoder.encode(JSON.stringify(prepare) + "\n")).catch(() => {});
  let early = "";
  const earlyDone = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) early += decoder.decode(chunk, { stream: true });
  })().catch(() => {});
  const gone = child.status.then(async (status) => {
    await earlyDone;
    return status;
  });
  let assigned = false;
  return {
    identity,
    gone,
    earlyOutput: () => early.trim(),
    retire: async () => {
      await writer.close().catch(() => {});
      await gone;
    },
    assign(config) {
      if (assigned) throw new Error("This executor has its job already");
      assigned = true;
      writer.write(encoder.encode(JSON.stringify(config) + "\n"))
        .then(() => writer.close()).catch(() => {});
      return followExecutor(identity, {
        files: config.files,
        gone,
        describeDeath: async () => {
          const s = await gone;
          const tail = (await readTail(config.files.log, LOG_TAIL_BYTES)) || early.trim();
          return tail || (s.signal ? `killed by ${s.signal}` : `exit code ${s.code}`);
        },
        logTail: async () => (await readTail(config.files.log, LOG_TAIL_BYTES)) || early.trim(),
        exitSignal: async () => (await gone).signal,
        kill() {
          try {
            child.kill("SIGKILL");
          } catch {
            // It ended between the check and the kill.
          }
        },
      });
    },
  };
}

/**
 * Attaches to an executor a previous server started (after a restart).
 * Returns null when that process is gone, or its PID now belongs to
 * another process (the start time differs).
 */
export function adoptExecutor(identity: ExecutorIdentity, files: JobFiles): ExecutorProcess | null {
  const pidfd = openPidfd(identity.pid);
  if (pidfd === null) return null;
  // The pidfd pins the process: if the start time matches now, it is ours for good.
  if (processStartTime(identity.pid) !== identity.startTime) {
    closeFd(pidfd);
    return null;
  }
  return followExecutor(identity, {
    files,
    gone: waitReadable(pidfd),
    // Closed in the same step that marks the process ended, so kill() never signals a closed fd.
    afterGone: () => closeFd(pidfd),
    describeDeath: async () =>
      (await readTail(files.log, LOG_TAIL_BYTES)) || "it ended while no server was watching",
    logTail: () => readTail(files.log, LOG_TAIL_BYTES),
    exitSignal: () => Promise.resolve(null),
    kill: () => signalPidfd(pidfd, SIGNALS.SIGKILL!),
  });
}

/** How a started and an adopted executor differ, for {@link followExecutor}. */
interface FollowOptions {
  /** The job's files: the reports are read from them, `stop` is written to one. */
  files: JobFiles;
  /** Resolves once the executor process is gone. */
  gone: Promise<unknown>;
  /** Runs once the process is gone, in the same step that marks it ended. */
  afterGone?: () => void;
  /** Why the executor ended without an exit report. */
  describeDeath: () => Promise<string>;
  /** See {@link ExecutorProcess.logTail}. */
  logTail: () => Promise<string>;
  /** See {@link ExecutorProcess.exitSignal}. */
  exitSignal: () => Promise<string | null>;
  /** SIGKILLs the process; called only while it has not ended. */
  kill: () => void;
}

/**
 * The {@link ExecutorProcess} of executor `identity`, whichever server
 * started it: its reports, and `stop` and `kill`, which do nothing once the
 * process is gone.
 */
function followExecutor(identity: ExecutorIdentity, options: FollowOptions): ExecutorProcess {
  let ended = false;
  const processGone = options.gone.then(() => {
    ended = true;
    options.afterGone?.();
  });
  const follower = new ReportFollower(options.files, {
    processGone,
    describeDeath: options.describeDeath,
  });
  return {
    identity,
    startReport: follower.startReport,
    exitReport: follower.exitReport,
    get outputState() {
      return follower.outputState;
    },
    ended: follower.done,
    logTail: options.logTail,
    exitSignal: options.exitSignal,
    stop(graceMs) {
      if (!ended) sendCommand(options.files.control, { type: "stop", graceMs });
    },
    signal(signal, { all }) {
      if (!ended) sendCommand(options.files.control, { type: "signal", signal, all });
    },
    kill() {
      if (!ended) options.kill();
    },
  };
}
