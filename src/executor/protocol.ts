/**
 * The protocol between the server and the executor, the program that is PID
 * 1 of every job.
 *
 * The executor outlives the server that started it: nothing in the protocol
 * depends on the server staying up. Everything the server learns is in the
 * job's directory, where a restarted server finds it again.
 *
 * ## Files of a job (all in the job's directory on the host, made by the server)
 * - `output`: the job's output; the executor pumps the job's stdout and
 *   stderr (one pipe) into it, up to {@link ExecutorConfig.maxOutputBytes}.
 * - `reports`: {@link ExecutorReport} lines, appended by the executor; the
 *   server reads it from the start whenever it (re)attaches.
 * - `control`: a FIFO; the server writes {@link ExecutorCommand} lines to it.
 *   The executor holds it open for reading and writing, so it never sees
 *   end-of-file while no server is there.
 * - `executor.log`: the executor's own stdout and stderr (diagnostics).
 * - `input` (interactive jobs only, {@link ExecutorConfig.input}): a FIFO
 *   the server writes the job's input to, as frames (see ./input_frames.ts:
 *   data, end-of-file, window size), each in one write of at most 4096
 *   bytes, which pipes keep whole. Like `control`, the executor holds it
 *   open for reading and writing. It copies data to the job's stdin (a
 *   pipe) or terminal as fast as the job reads, no faster: a full pipe or
 *   terminal stops it reading the FIFO, a full FIFO stops the server.
 *
 * ## Lifecycle
 * 1. The server starts the executor as PID 1 of a new PID namespace, in the
 *    server's own cgroup, and writes a {@link PrepareConfig} line to its
 *    stdin: what every job's sandbox has in common.
 * 2. The executor prepares that part of the sandbox (see ./_sandbox.ts):
 *    new mount, network, UTS and IPC namespaces; a new root of its own (the
 *    host's file system read-only, masked paths, a private /tmp, /dev,
 *    /proc and /sys), `lo` up. Then it waits for the second line. An
 *    executor in the server's pool waits here, ready; end-of-file instead
 *    of a second line makes it exit.
 * 3. The server writes an {@link ExecutorConfig} line (the job) and closes
 *    stdin. The executor opens the job's files and the cgroup files it
 *    needs later (the sandbox hides them), finishes the sandbox (the job's
 *    /work, its identity in passwd, the size of /tmp), enters it with
 *    pivot_root, and sets the hostname.
 * 4. It carries out the config's `cgroup`, a `SpawnPlan` of the cgroup
 *    module (see ../cgroup/types.ts; ../cgroup/hop.ts does the writes): it
 *    writes `0` to each `cgroup.join` file (v1 `tasks`: this thread only;
 *    v2 `cgroup.procs`), enters a new cgroup namespace there, and spawns the
 *    job's main process as the job's user (see ./_identity.ts: no
 *    capabilities, no_new_privs, a seccomp filter) with /dev/null as stdin
 *    (an interactive job: a pipe the executor feeds from `input`) and a pipe
 *    as stdout and stderr, or, for a job with a terminal, a pty of the
 *    sandbox's devpts as all three and its controlling terminal, so it is
 *    limited from its first instruction. It then makes the `cgroup.afterSpawn` writes (`{path,
 *    value}`: limits that would otherwise also constrain the executor's
 *    spawn, memory and pids) and writes `0` to each `cgroup.home` file,
 *    back in its own cgroup (its memory is never the job's).
 * 5. Reports: first exactly one of `started` or `start-failed`; after
 *    `started`, any number of `output` (the output was cut at the cap, or
 *    the disk refused it), then exactly one `exited` once the job has
 *    ended, every process of it is gone and every byte of output is in the
 *    file. Then it exits with code 0.
 *
 * ## Commands (server to executor)
 * - `{"type":"stop","graceMs":N}`: SIGTERM to every process of the job
 *   (`kill(-1, SIGTERM)` from the namespace's PID 1), and SIGKILL to every
 *   one of them after N ms if the main process has not ended by then. The
 *   executor keeps the deadline itself, so a stop completes even if the
 *   server goes away meanwhile. A later stop with an earlier deadline wins.
 *
 * - `{"type":"signal","signal":N,"all":B}`: signal N to the main process
 *   (ignored once it has ended), or with `all` to every process of the job
 *   (`kill(-1, N)` from the namespace's PID 1). Which signals a user may
 *   send is the server's decision (src/job/signals.ts); the executor checks
 *   only that N is a signal number.
 *
 * Stops travel over the FIFO, not as signals: the executor installs no
 * SIGTERM handler, so as a PID 1 it cannot be signalled by anything in its
 * namespace, and a job cannot fake a stop. The server's last resort is
 * SIGKILL of the executor: the kernel then kills the whole PID namespace,
 * and no `exited` report is written.
 *
 * The executor reaps every process reparented to it while the job runs.
 * When the main process ends, every process left in the job is SIGKILLed
 * and reaped before `exited` is reported.
 *
 * @module
 */
import type { SpawnPlan } from "../cgroup/mod.ts";

/** The protocol version this file describes. */
export const PROTOCOL_VERSION = 4;

/** Where the job's private working directory appears in its own view. */
export const JOB_WORK_DIR = "/work";

/** The user and group a job runs as; never 0 unless the server allows root jobs. */
export interface JobIdentity {
  /** User id of the job's processes (real, effective, saved, file system). */
  uid: number;
  /** Group id; the job has no supplementary groups. */
  gid: number;
}

/** A bind mount of a host path into the job's view. */
export interface BindMount {
  /** Absolute host path (file or directory). */
  source: string;
  /** Absolute path in the job's view. */
  target: string;
  /** Mounted read-only when true. */
  readOnly: boolean;
}

/** What every job's file-system view has in common; see ./_sandbox.ts. */
export interface SandboxPlan {
  /**
   * An empty host directory the executor mounts the job's root on, inside
   * its own mount namespace (so every executor can use the same one).
   */
  rootDir: string;
  /** Absolute host paths (symlinks resolved) hidden from the job: empty and unreadable. */
  masks: string[];
  /** Extra bind mounts from the server's configuration. */
  binds: BindMount[];
}

/** The first line: what the executor prepares before it knows its job. */
export interface PrepareConfig {
  /** Protocol version; {@link PROTOCOL_VERSION}. */
  version: typeof PROTOCOL_VERSION;
  /** The common part of the sandbox. */
  sandbox: SandboxPlan;
}

/** The job's own part of its file-system view. */
export interface JobSandbox {
  /** Host directory mounted read-write at {@link JOB_WORK_DIR}. */
  workDir: string;
  /** Size limit of /tmp, /var/tmp and /dev/shm, each, in bytes. */
  tmpSizeBytes: number;
}

/** The job's files the executor uses (host paths; see the module doc). */
export interface JobFiles {
  /** The job's output file. */
  output: string;
  /** The reports file (appended). */
  reports: string;
  /** The command FIFO. */
  control: string;
  /** The executor's own log. */
  log: string;
  /** The input FIFO of an interactive job. */
  input?: string;
}

/** How an interactive job gets its input. */
export interface JobInput {
  /**
   * A pseudo-terminal of this size as the job's stdin, stdout, stderr and
   * controlling terminal (allocated in the sandbox's own devpts); null: a
   * pipe as stdin, the output pipe as stdout and stderr.
   */
  tty: { rows: number; cols: number } | null;
}

/** The second line: the job. */
export interface ExecutorConfig {
  /** Program to run; looked up in `env.PATH` (in the job's view) when it has no slash. */
  command: string;
  /** Arguments after the program name. */
  args: string[];
  /** The job's complete environment. */
  env: Record<string, string>;
  /** Working directory of the main process, in the job's view. */
  cwd: string;
  /** Hostname inside the job's UTS namespace. */
  hostname: string;
  /** The job's files. */
  files: JobFiles;
  /** Output beyond this many bytes is discarded (and reported). */
  maxOutputBytes: number;
  /** Who the job runs as. */
  identity: JobIdentity;
  /** The job's own part of its file-system view. */
  sandbox: JobSandbox;
  /**
   * Cgroup placement of the main process, as the job's cgroup planned it
   * (`JobCgroup.prepareSpawn`): the files to join before spawning, the
   * limit writes to make right after, the files to return home to.
   */
  cgroup: SpawnPlan;
  /** Input from `files.input` (see the module doc); absent or null: stdin is /dev/null. */
  input?: JobInput | null;
}

/** What the server may tell a running executor: one JSON object per line on the FIFO. */
export type ExecutorCommand = {
  type: "stop";
  /** Milliseconds between SIGTERM and SIGKILL. */
  graceMs: number;
} | {
  type: "signal";
  /** The signal's number. */
  signal: number;
  /** Every process of the job, not only the main process. */
  all: boolean;
};

/** Why the main process could not be started. */
export type StartFailureReason =
  | "not-found"
  | "not-executable"
  | "bad-format"
  | "bad-cwd"
  | "too-big"
  | "setup";

/** What the executor reports: one JSON object per line in the reports file. */
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
    type: "output";
    /** Output was cut at `maxOutputBytes`; what followed is discarded. */
    truncated: boolean;
    /** Why writing the output file failed (e.g. the disk is full), or null. */
    error: string | null;
  }
  | {
    type: "exited";
    /** Exit code of the main process, or null when a signal ended it. */
    exitCode: number | null;
    /** Name of the signal that ended the main process, e.g. `SIGKILL`. */
    signal: string | null;
    /**
     * True when the executor received a `stop` command before the main
     * process ended, so the server can tell "stopped" from "exited by
     * itself" even when a stop races the job's own exit.
     */
    terminated: boolean;
    /** Bytes written to the output file. */
    outputBytes: number;
  };

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return typeof v === "object" && v !== null && !Array.isArray(v) &&
    Object.values(v).every((x) => typeof x === "string");
}

function isIdentity(v: unknown): v is JobIdentity {
  const id = v as Record<string, unknown> | null;
  return typeof id === "object" && id !== null &&
    [id.uid, id.gid].every((n) => Number.isInteger(n) && (n as number) >= 0);
}

function isBindMount(v: unknown): v is BindMount {
  const b = v as Record<string, unknown> | null;
  return typeof b === "object" && b !== null && typeof b.source === "string" &&
    typeof b.target === "string" && typeof b.readOnly === "boolean";
}

function checkAbsolute(value: unknown, what: string): void {
  if (typeof value !== "string" || !value.startsWith("/")) {
    throw new TypeError(`Executor config: ${what} must be an absolute path`);
  }
}

function checkPlan(v: unknown): void {
  const sb = v as Record<string, unknown> | null;
  if (typeof sb !== "object" || sb === null) {
    throw new TypeError("Prepare config: sandbox is missing");
  }
  checkAbsolute(sb.rootDir, "sandbox.rootDir");
  if (!isStringArray(sb.masks)) {
    throw new TypeError("Prepare config: sandbox.masks must be strings");
  }
  if (!Array.isArray(sb.binds) || !sb.binds.every(isBindMount)) {
    throw new TypeError("Prepare config: sandbox.binds must be {source, target, readOnly} objects");
  }
}

function checkJobSandbox(v: unknown): void {
  const sb = v as Record<string, unknown> | null;
  if (typeof sb !== "object" || sb === null) {
    throw new TypeError("Executor config: sandbox is missing");
  }
  checkAbsolute(sb.workDir, "sandbox.workDir");
  if (!Number.isSafeInteger(sb.tmpSizeBytes) || (sb.tmpSizeBytes as number) <= 0) {
    throw new TypeError("Executor config: sandbox.tmpSizeBytes must be a positive integer");
  }
}

/** Parses and validates the first line; throws a TypeError naming the first wrong field. */
export function parsePrepare(line: string): PrepareConfig {
  const v: unknown = JSON.parse(line);
  if (typeof v !== "object" || v === null) throw new TypeError("Prepare config: not an object");
  const c = v as Record<string, unknown>;
  if (c.version !== PROTOCOL_VERSION) {
    throw new TypeError(`Prepare config: unsupported version ${c.version}`);
  }
  checkPlan(c.sandbox);
  return v as PrepareConfig;
}

/**
 * Parses and validates the config line; throws a TypeError naming the first
 * field that is wrong.
 */
export function parseConfig(line: string): ExecutorConfig {
  const v: unknown = JSON.parse(line);
  if (typeof v !== "object" || v === null) throw new TypeError("Executor config: not an object");
  const c = v as Record<string, unknown>;
  for (const key of ["command", "cwd", "hostname"] as const) {
    if (typeof c[key] !== "string") throw new TypeError(`Executor config: ${key} must be a string`);
  }
  if (!isStringArray(c.args)) throw new TypeError("Executor config: args must be strings");
  if (!isStringRecord(c.env)) throw new TypeError("Executor config: env must map strings");
  const files = c.files as Record<string, unknown> | null | undefined;
  if (typeof files !== "object" || files === null) {
    throw new TypeError("Executor config: files is missing");
  }
  for (const key of ["output", "reports", "control", "log"] as const) {
    checkAbsolute(files[key], `files.${key}`);
  }
  if (c.input !== undefined && c.input !== null) {
    checkAbsolute(files.input, "files.input");
    const tty = (c.input as Record<string, unknown>).tty;
    if (tty !== null) {
      const t = tty as Record<string, unknown> | undefined;
      const cells = (n: unknown) =>
        Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;
      if (typeof t !== "object" || !cells(t.rows) || !cells(t.cols)) {
        throw new TypeError(
          "Executor config: input.tty must be null or {rows, cols} of 1 to 65535",
        );
      }
    }
  }
  if (!Number.isSafeInteger(c.maxOutputBytes) || (c.maxOutputBytes as number) < 0) {
    throw new TypeError("Executor config: maxOutputBytes must be a whole number >= 0");
  }
  if (!isIdentity(c.identity)) {
    throw new TypeError("Executor config: identity must be {uid, gid}, whole numbers >= 0");
  }
  checkJobSandbox(c.sandbox);
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

/** Parses one command line; throws a TypeError for anything else. */
export function parseCommand(line: string): ExecutorCommand {
  const v: unknown = JSON.parse(line);
  const c = v as Record<string, unknown> | null;
  if (
    typeof c === "object" && c !== null && c.type === "stop" && typeof c.graceMs === "number" &&
    c.graceMs >= 0
  ) {
    return { type: "stop", graceMs: c.graceMs };
  }
  if (
    typeof c === "object" && c !== null && c.type === "signal" && Number.isInteger(c.signal) &&
    (c.signal as number) >= 1 && (c.signal as number) <= 64 && typeof c.all === "boolean"
  ) {
    return { type: "signal", signal: c.signal as number, all: c.all };
  }
  throw new TypeError(`Executor command: unexpected ${JSON.stringify(line).slice(0, 200)}`);
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
    case "output":
      if (typeof r.truncated === "boolean" && (r.error === null || typeof r.error === "string")) {
        return { type: "output", truncated: r.truncated, error: r.error };
      }
      break;
    case "exited": {
      const code = r.exitCode;
      const signal = r.signal;
      const terminated = r.terminated;
      const outputBytes = r.outputBytes;
      if (typeof terminated !== "boolean" || typeof outputBytes !== "number") break;
      if (typeof code === "number" && signal === null) {
        return { type: "exited", exitCode: code, signal: null, terminated, outputBytes };
      }
      if (code === null && typeof signal === "string") {
        return { type: "exited", exitCode: null, signal, terminated, outputBytes };
      }
      break;
    }
  }
  throw new TypeError(`Executor report: unexpected ${JSON.stringify(line).slice(0, 200)}`);
}
