/**
 * The protocol between the server and the executor, the program that is PID
 * 1 of every job.
 *
 * ## Lifecycle
 * 1. The server starts the executor as PID 1 of a new PID namespace, in the
 *    server's own cgroup, with stdin and stdout as pipes.
 * 2. The server writes ONE line to the executor's stdin: an
 *    {@link ExecutorConfig} as JSON. It keeps stdin open for the job's
 *    lifetime; end-of-file on stdin means "the server is gone": the executor
 *    then kills the job and exits, so no job outlives its server.
 * 3. The executor isolates itself (new mount, network, UTS and IPC
 *    namespaces; `/` made private; a fresh /proc; hostname; `lo` up), joins
 *    the job's cgroup, spawns the job's main process (which therefore is in
 *    the cgroup from its first instruction), applies the `cgroup.afterSpawn`
 *    writes at once (limits that would otherwise also constrain the
 *    executor's spawn: memory and pids) and returns to its own cgroup (so
 *    its memory is never charged to the job).
 * 4. The executor writes {@link ExecutorReport} lines to stdout, as JSON:
 *    first exactly one of `started` or `start-failed`; after `started`,
 *    exactly one `exited` once the job has ended and every process of it is
 *    gone. Then it exits with code 0.
 *
 * ## Signals the executor handles
 * - SIGTERM: forwarded to every process of the job (`kill(-1, SIGTERM)` from
 *   the namespace's PID 1), not only the main process. The executor itself
 *   keeps running until the main process has ended.
 * - SIGKILL (sent by the server after the grace period): the kernel kills
 *   the whole PID namespace with it; no `exited` report is written.
 *
 * The executor reaps every process reparented to it while the job runs.
 * When the main process ends, every process left in the job is SIGKILLed
 * and reaped before `exited` is reported.
 *
 * @module
 */

/** A write to a cgroup control file. */
export interface ControlWrite {
  /** Absolute path of the control file. */
  path: string;
  /** The value to write. */
  value: string;
}

/** What the server tells the executor: the first and only line on stdin. */
export interface ExecutorConfig {
  /** Protocol version; currently 1. */
  version: 1;
  /** Program to run; looked up in `env.PATH` when it has no slash. */
  command: string;
  /** Arguments after the program name. */
  args: string[];
  /** The job's complete environment. */
  env: Record<string, string>;
  /** Working directory of the main process. */
  cwd: string;
  /** Hostname inside the job's UTS namespace. */
  hostname: string;
  /** The job's output file; stdout and stderr are opened on it with O_APPEND. */
  outputPath: string;
  /** Cgroup placement of the main process. */
  cgroup: {
    /** `cgroup.procs` files of the job's cgroup: joined before spawning. */
    join: string[];
    /** `cgroup.procs` files of the executor's own cgroup: returned to after spawning. */
    home: string[];
    /** Control writes made right after the spawn, before returning home. */
    afterSpawn: ControlWrite[];
  };
}

/** Why the main process could not be started. */
export type StartFailureReason =
  | "not-found"
  | "not-executable"
  | "bad-format"
  | "bad-cwd"
  | "setup";

/** What the executor reports: one JSON object per line on stdout. */
export type ExecutorReport =
  | {
    type: "started";
    /** The main process's PID inside the job's PID namespace. */
    pid: number;
  }
  | {
    type: "start-failed";
    reason: StartFailureReason;
    /** Human-readable detail, e.g. `posix_spawnp(foo) failed: ENOENT`. */
    message: string;
  }
  | {
    type: "exited";
    /** Exit code of the main process, or null when a signal ended it. */
    exitCode: number | null;
    /** Name of the signal that ended the main process, e.g. `SIGKILL`. */
    signal: string | null;
    /**
     * True when the executor received SIGTERM (a stop) before the main
     * process ended, so the server can tell "stopped" from "exited by
     * itself" even when a stop races the job's own exit.
     */
    terminated: boolean;
  };

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return typeof v === "object" && v !== null && !Array.isArray(v) &&
    Object.values(v).every((x) => typeof x === "string");
}

/**
 * Parses and validates the config line; throws a TypeError naming the first
 * field that is wrong.
 */
export function parseConfig(line: string): ExecutorConfig {
  const v: unknown = JSON.parse(line);
  if (typeof v !== "object" || v === null) throw new TypeError("Executor config: not an object");
  const c = v as Record<string, unknown>;
  if (c.version !== 1) throw new TypeError(`Executor config: unsupported version ${c.version}`);
  for (const key of ["command", "cwd", "hostname", "outputPath"] as const) {
    if (typeof c[key] !== "string") throw new TypeError(`Executor config: ${key} must be a string`);
  }
  if (!isStringArray(c.args)) throw new TypeError("Executor config: args must be strings");
  if (!isStringRecord(c.env)) throw new TypeError("Executor config: env must map strings");
  const cg = c.cgroup as Record<string, unknown> | undefined;
  if (typeof cg !== "object" || cg === null) {
    throw new TypeError("Executor config: cgroup is missing");
  }
  if (!isStringArray(cg.join) || !isStringArray(cg.home)) {
    throw new TypeError("Executor config: cgroup.join and cgroup.home must be strings");
  }
  const writes = cg.afterSpawn;
  if (
    !Array.isArray(writes) ||
    !writes.every((w) => typeof w?.path === "string" && typeof w?.value === "string")
  ) {
    throw new TypeError("Executor config: cgroup.afterSpawn must be {path, value} objects");
  }
  return v as ExecutorConfig;
}

/** Parses one report line; throws a TypeError for anything else. */
export function parseReport(line: string): ExecutorReport {
  const v: unknown = JSON.parse(line);
  if (typeof v !== "object" || v === null) throw new TypeError("Executor report: not an object");
  const r = v as Record<string, unknown>;
  switch (r.type) {
    case "started":
      if (typeof r.pid === "number") return { type: "started", pid: r.pid };
      break;
    case "start-failed":
      if (typeof r.reason === "string" && typeof r.message === "string") {
        return {
          type: "start-failed",
          reason: r.reason as StartFailureReason,
          message: r.message,
        };
      }
      break;
    case "exited": {
      const code = r.exitCode;
      const signal = r.signal;
      const terminated = r.terminated;
      if (typeof terminated !== "boolean") break;
      if (typeof code === "number" && signal === null) {
        return { type: "exited", exitCode: code, signal: null, terminated };
      }
      if (code === null && typeof signal === "string") {
        return { type: "exited", exitCode: null, signal, terminated };
      }
      break;
    }
  }
  throw new TypeError(`Executor report: unexpected ${JSON.stringify(line).slice(0, 200)}`);
}
