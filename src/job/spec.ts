/**
 * What a user asks to run, and its validation. A {@link JobSpec} is the
 * input; {@link resolveSpec} checks it and fills in defaults, producing a
 * {@link ResolvedSpec} or throwing a {@link JobSpecError}.
 *
 * @module
 */
import type { ResourceLimits } from "../cgroup/mod.ts";
import { JOB_WORK_DIR } from "../executor/protocol.ts";
import { JobSpecError } from "./errors.ts";
import type { RunAs } from "./identity.ts";
import { checkLabels } from "./labels.ts";

/** Resource limits as a user gives them; omitted ones get {@link DEFAULT_LIMITS}. */
export interface LimitsInput {
  /** CPU cores, fractional (0.5 = half a core). At least {@link MIN_CPU}. */
  cpu?: number;
  /** Memory in bytes. At least {@link MIN_MEMORY_BYTES}. */
  memoryBytes?: number;
  /** Disk read bandwidth, bytes per second, per disk. Default: unlimited. */
  ioReadBps?: number;
  /** Disk write bandwidth, bytes per second, per disk. Default: unlimited. */
  ioWriteBps?: number;
  /** Maximum number of processes and threads. At least 1. */
  pids?: number;
}

/** A job to run. */
export interface JobSpec {
  /** Program to run: a path, or a name looked up in the job's PATH. */
  command: string;
  /** Arguments after the program name. */
  args?: readonly string[];
  /**
   * Environment variables, added to (and overriding) {@link DEFAULT_ENV}.
   * The server's own environment is never passed to jobs.
   */
  env?: Readonly<Record<string, string>>;
  /**
   * Absolute working directory in the job's view. Default
   * {@link JOB_WORK_DIR}, the job's private writable directory.
   */
  cwd?: string;
  /** Resource limits. */
  limits?: LimitsInput;
  /**
   * Run as these ids instead of a fresh uid of the job's own; only where the
   * server's policy allows it (see ./identity.ts).
   */
  runAs?: RunAs;
  /**
   * Most bytes of output to store; what follows is discarded (and the
   * status says so). Default and maximum: the manager's `maxOutputBytes`.
   */
  maxOutputBytes?: number;
  /**
   * Milliseconds after the start at which the job is stopped as
   * {@link Job.stop} does with the default grace; its status then says it
   * timed out. Default: the manager's `defaultTimeoutMs` (none unless set);
   * at most its `maxTimeoutMs`.
   */
  timeoutMs?: number;
  /** Labels (see ./labels.ts): shown in status, used to filter lists and events. */
  labels?: Readonly<Record<string, string>>;
  /**
   * Keep the job's standard input open for {@link Job.attachInput} (a
   * pipe; end-of-file when the writer ends it). Default false: /dev/null.
   */
  stdin?: boolean;
  /**
   * Give the job a pseudo-terminal of its own as stdin, stdout, stderr and
   * controlling terminal (implies `stdin`). Default false.
   */
  tty?: boolean;
  /** The terminal's first size; default 24 rows, 80 columns. Only with `tty`. */
  ttySize?: TerminalSize;
}

/** A terminal's size in character cells, 1 to 65535 each. */
export interface TerminalSize {
  rows: number;
  cols: number;
}

/** The size of a job's terminal when the spec gives none. */
export const DEFAULT_TERMINAL_SIZE: Readonly<TerminalSize> = { rows: 24, cols: 80 };

/** A validated spec with every default filled in. */
export interface ResolvedSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  limits: ResourceLimits;
  /** The ids asked for, or null for a uid of the job's own. */
  runAs: RunAs | null;
  /** The output cap asked for, or null for the manager's. */
  maxOutputBytes: number | null;
  /** The deadline asked for, ms after the start, or null for the manager's default. */
  timeoutMs: number | null;
  /** The labels, keys sorted. */
  labels: Record<string, string>;
  /** Its stdin is open for input (always with a terminal). */
  stdin: boolean;
  /** Its terminal's first size, or null without a terminal. */
  tty: TerminalSize | null;
}

/**
 * Limits applied when a spec omits them: one CPU core, 512 MiB of memory,
 * 1024 tasks, unlimited disk bandwidth. A job runner's default should keep
 * one runaway job from taking the host down, yet let ordinary programs run.
 */
export const DEFAULT_LIMITS: Readonly<ResourceLimits> = {
  cpu: 1,
  memoryBytes: 512 * 1024 * 1024,
  ioReadBps: null,
  ioWriteBps: null,
  pids: 1024,
};

/** The smallest CPU limit: 1 ms of CPU per 100 ms period. */
export const MIN_CPU = 0.01;
/** The smallest memory limit: below this even a shell cannot start. */
export const MIN_MEMORY_BYTES = 4 * 1024 * 1024;
/** The smallest IO limit, bytes per second. */
export const MIN_IO_BPS = 1024;
/** The largest process limit: the kernel's PID_MAX_LIMIT; pids.max refuses more. */
export const MAX_PIDS = 4_194_304;

/**
 * The most bytes one argument or one `NAME=value` environment entry may
 * have: the kernel's MAX_ARG_STRLEN (32 pages) less the terminating NUL.
 */
export const MAX_ARG_BYTES = 131_071;
/**
 * The most bytes the command, arguments and environment may take together,
 * counted as execve(2) does (each string with its NUL, plus a pointer each):
 * 2 MiB, the kernel's limit (a quarter of the default 8 MiB stack).
 */
export const MAX_EXEC_BYTES = 2 * 1024 * 1024;
/** The longest working directory or command path: PATH_MAX less the NUL. */
export const MAX_PATH_BYTES = 4095;

/** The environment every job starts from. */
export const DEFAULT_ENV: Readonly<Record<string, string>> = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: JOB_WORK_DIR,
  LANG: "C.UTF-8",
};

function fail(problem: string): never {
  throw new JobSpecError(`Cannot start job: ${problem}`);
}

function checkString(value: unknown, what: string): string {
  if (typeof value !== "string") fail(`${what} must be a string`);
  if (value.includes("\0")) fail(`${what} contains a NUL byte`);
  return value;
}

function checkLimit(
  value: unknown,
  what: string,
  options: { min: number; max?: number; integer: boolean; unit?: string },
): number {
  if (typeof value !== "number" || !Number.isFinite(value)) fail(`${what} must be a number`);
  if (value < options.min) {
    fail(`${what} must be at least ${options.min}${options.unit ?? ""}, got ${value}`);
  }
  const max = options.max ?? (options.integer ? Number.MAX_SAFE_INTEGER : Infinity);
  if (value > max) fail(`${what} must be at most ${max}${options.unit ?? ""}, got ${value}`);
  if (options.integer && !Number.isInteger(value)) fail(`${what} must be a whole number`);
  return value;
}

/** A terminal size of 1 to 65535 rows and columns. */
export function checkTerminalSize(size: unknown): TerminalSize {
  const s = size as Partial<TerminalSize> | null;
  if (typeof s !== "object" || s === null) fail("the terminal size must be {rows, cols}");
  const rows = checkLimit(s.rows, "terminal rows", { min: 1, max: 65535, integer: true });
  const cols = checkLimit(s.cols, "terminal columns", { min: 1, max: 65535, integer: true });
  return { rows, cols };
}

function resolveLimits(input: LimitsInput | undefined, hostCpus: number): ResourceLimits {
  if (input !== undefined && (typeof input !== "object" || input === null)) {
    fail("limits must be an object");
  }
  const limits: ResourceLimits = { ...DEFAULT_LIMITS };
  if (input?.cpu !== undefined) {
    limits.cpu = checkLimit(input.cpu, "cpu limit", { min: MIN_CPU, integer: false });
    if (limits.cpu > hostCpus) {
      fail(`cpu limit ${limits.cpu} exceeds the host's ${hostCpus} CPUs`);
    }
  }
  if (input?.memoryBytes !== undefined) {
    limits.memoryBytes = checkLimit(input.memoryBytes, "memory limit", {
      min: MIN_MEMORY_BYTES,
      integer: true,
      unit: " bytes",
    });
  }
  if (input?.ioReadBps !== undefined) {
    limits.ioReadBps = checkLimit(input.ioReadBps, "io read limit", {
      min: MIN_IO_BPS,
      integer: true,
      unit: " bytes/s",
    });
  }
  if (input?.ioWriteBps !== undefined) {
    limits.ioWriteBps = checkLimit(input.ioWriteBps, "io write limit", {
      min: MIN_IO_BPS,
      integer: true,
      unit: " bytes/s",
    });
  }
  if (input?.pids !== undefined) {
    limits.pids = checkLimit(input.pids, "process limit", {
      min: 1,
      max: MAX_PIDS,
      integer: true,
    });
  }
  return limits;
}

const utf8 = new TextEncoder();

/** What execve(2) would refuse with E2BIG, refused here with the kernel's limit named. */
function checkExecSize(parts: {
  command: string;
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  cwd: string;
}): void {
  for (const [what, text] of [["command", parts.command], ["working directory", parts.cwd]]) {
    const bytes = utf8.encode(text!).length;
    if (bytes > MAX_PATH_BYTES) {
      fail(`${what} is ${bytes} bytes; the kernel takes at most ${MAX_PATH_BYTES} (PATH_MAX)`);
    }
  }
  let total = 0;
  const count = (what: string, text: string) => {
    const bytes = utf8.encode(text).length;
    if (bytes > MAX_ARG_BYTES) {
      fail(
        `${what} is ${bytes} bytes; the kernel takes at most ${MAX_ARG_BYTES} per string ` +
          `(MAX_ARG_STRLEN)`,
      );
    }
    total += bytes + 1 + 8;
  };
  count("the command", parts.command);
  parts.args.forEach((a, i) => count(`argument ${i + 1}`, a));
  for (const [name, value] of Object.entries(parts.env)) {
    count(`environment variable ${name.slice(0, 64)}`, `${name}=${value}`);
  }
  if (total > MAX_EXEC_BYTES) {
    fail(
      `the arguments and environment take ${total} bytes; the kernel takes at most ` +
        `${MAX_EXEC_BYTES} (ARG_MAX)`,
    );
  }
}

function resolveRunAs(runAs: RunAs): RunAs {
  if (typeof runAs !== "object" || runAs === null) fail("runAs must be an object {uid, gid}");
  const whole = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  if (!whole(runAs.uid)) fail("runAs uid must be a whole number, 0 or more");
  if (runAs.gid !== undefined && !whole(runAs.gid)) {
    fail("runAs gid must be a whole number, 0 or more");
  }
  return runAs.gid === undefined ? { uid: runAs.uid } : { uid: runAs.uid, gid: runAs.gid };
}

/**
 * Validates `spec` and fills in defaults. Throws a {@link JobSpecError}
 * naming the first problem, e.g. `Cannot start job: command is empty`.
 * Checks only what can be checked without the filesystem; whether the
 * command exists is found out when it is spawned.
 *
 * @example
 * ```ts
 * resolveSpec({ command: "sleep", args: ["1"], limits: { cpu: 0.5 } }).limits.cpu; // 0.5
 * ```
 */
export function resolveSpec(
  spec: JobSpec,
  options: { hostCpus?: number } = {},
): ResolvedSpec {
  if (typeof spec !== "object" || spec === null) fail("the spec must be an object");
  const command = checkString(spec.command, "command");
  if (command.trim() === "") fail("command is empty");
  const rawArgs: unknown = spec.args ?? [];
  if (!Array.isArray(rawArgs)) fail("args must be a list of strings");
  const args = rawArgs.map((a, i) => checkString(a, `argument ${i + 1}`));
  const env: Record<string, string> = { ...DEFAULT_ENV };
  for (const [name, value] of Object.entries(spec.env ?? {})) {
    if (name === "" || name.includes("=") || name.includes("\0")) {
      fail(`environment variable name ${JSON.stringify(name)} is invalid`);
    }
    env[name] = checkString(value, `environment variable ${name}`);
  }
  const cwd = checkString(spec.cwd ?? JOB_WORK_DIR, "working directory");
  if (!cwd.startsWith("/")) fail(`working directory ${JSON.stringify(cwd)} is not absolute`);
  const hostCpus = options.hostCpus ?? navigator.hardwareConcurrency;
  const runAs = spec.runAs === undefined ? null : resolveRunAs(spec.runAs);
  checkExecSize({ command, args, env, cwd });
  const maxOutputBytes = spec.maxOutputBytes === undefined
    ? null
    : checkLimit(spec.maxOutputBytes, "output cap", { min: 0, integer: true, unit: " bytes" });
  const timeoutMs = spec.timeoutMs === undefined
    ? null
    : checkLimit(spec.timeoutMs, "timeout", { min: 1, integer: false, unit: " ms" });
  let labels: Record<string, string>;
  try {
    labels = checkLabels(spec.labels);
  } catch (err) {
    fail((err as Error).message);
  }
  const tty = spec.tty === true ? checkTerminalSize(spec.ttySize ?? DEFAULT_TERMINAL_SIZE) : null;
  if (spec.tty !== undefined && typeof spec.tty !== "boolean") fail("tty must be true or false");
  if (spec.stdin !== undefined && typeof spec.stdin !== "boolean") {
    fail("stdin must be true or false");
  }
  if (spec.ttySize !== undefined && tty === null) fail("a terminal size needs tty");
  return {
    command,
    args,
    env,
    cwd,
    limits: resolveLimits(spec.limits, hostCpus),
    runAs,
    maxOutputBytes,
    timeoutMs,
    labels,
    stdin: spec.stdin === true || tty !== null,
    tty,
  };
}
