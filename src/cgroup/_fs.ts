/**
 * File-system helpers shared by the cgroup drivers: control-file reads and
 * writes with errors that name the file, rmdir with EBUSY retry, bounded
 * polling, and input validation; and the hooks through which tests stand
 * in for the kernel behind those files.
 *
 * @module
 */
import { attachDeviceProgram, loadDeviceProgram } from "../../ffi/mod.ts";
import { deviceProgram } from "./device_policy.ts";

/**
 * Side effects of cgroupfs that a plain directory tree lacks. Unit tests pass
 * these (see tests/cgroup/_fake_cgroupfs.ts and `openCgroupDriver` in ./_detect.ts) to
 * run the real drivers against a temporary directory: the kernel creates
 * control files on mkdir, removes them on rmdir, and reacts to writes (a PID
 * written to `cgroup.procs` joins the cgroup); the hooks emulate exactly
 * that. Production code passes no hooks.
 */
export interface CgroupFsHooks {
  /** Called after the driver created cgroup directory `dir`. */
  afterMkdir?(dir: string): Promise<void> | void;
  /** Called before each attempt to remove cgroup directory `dir`. */
  beforeRmdir?(dir: string): Promise<void> | void;
  /** Called before the driver reads control file `file`. */
  beforeRead?(file: string): Promise<void> | void;
  /** Called after the driver wrote `value` to control file `file`; may throw like the kernel. */
  afterWrite?(file: string, value: string): Promise<void> | void;
  /**
   * Called INSTEAD of attaching the device program to cgroup v2 directory
   * `dir` (a plain directory cannot hold one).
   */
  attachDeviceProgram?(dir: string): Promise<void> | void;
}

/** The loaded device program, shared by every job cgroup of this process. */
let deviceProgramFd: number | undefined;

/** How long kill() and destroy() wait for the kernel before giving up. */
export const WAIT_TIMEOUT_MS = 5_000;

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The errno name (`EBUSY`, ...) of `e` or of one of its causes, if any. */
export function errorCode(e: unknown): string | undefined {
  for (let cur = e, depth = 0; cur instanceof Error && depth < 5; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string") return code;
    cur = cur.cause;
  }
  return undefined;
}

/** True when `e` (or its cause) is the kernel's EBUSY. Deno maps EBUSY to a plain Error with `code`. */
export function isBusy(e: unknown): boolean {
  return e instanceof Deno.errors.Busy || hasCause(e, Deno.errors.Busy) || errorCode(e) === "EBUSY";
}

/** True when `e` (or its cause) says the file or process does not exist. */
export function isNotFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound || hasCause(e, Deno.errors.NotFound) ||
    errorCode(e) === "ENOENT" || errorCode(e) === "ESRCH";
}

function hasCause(e: unknown, cls: new (...args: never[]) => Error): boolean {
  let cur: unknown = e;
  for (let depth = 0; depth < 5 && cur instanceof Error; depth++) {
    if (cur instanceof cls) return true;
    cur = (cur as Error).cause;
  }
  return false;
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Copies the errno code of `cause` onto `e` so callers can still test for EBUSY & co. */
function withCode<E extends Error>(e: E, cause: unknown): E {
  const code = errorCode(cause);
  if (code !== undefined) (e as E & { code?: string }).code = code;
  return e;
}

/** Joins `base` and `rel` with "/" (inputs are validated, so no other normalisation is needed). */
export function joinPath(base: string, rel: string): string {
  return `${base}/${rel}`.replace(/\/{2,}/g, "/");
}

/**
 * True when `path` exists (a symlink counts as itself, not followed). The
 * check is synchronous, like every file operation here (see {@link CgroupFs}).
 */
export function pathExists(path: string): Promise<boolean> {
  try {
    Deno.lstatSync(path);
    return Promise.resolve(true);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return Promise.resolve(false);
    return Promise.reject(e);
  }
}

/**
 * Reads and writes cgroup directories and control files, invoking the test
 * hooks. The file operations themselves are synchronous: cgroupfs lives in
 * memory, and a synchronous write takes microseconds where an async one
 * (a hop through Deno's blocking thread pool) takes a few hundred; starts
 * make a dozen of them.
 */
export class CgroupFs {
  readonly #hooks: CgroupFsHooks;

  /** `hooks` emulate cgroupfs side effects; omit them on a real cgroupfs. */
  constructor(hooks: CgroupFsHooks = {}) {
    this.#hooks = hooks;
  }

  /** The text of control file `file`; throws an Error naming the file on failure. */
  async read(file: string): Promise<string> {
    await this.#hooks.beforeRead?.(file);
    try {
      return Deno.readTextFileSync(file);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(`Cannot read ${file}: it does not exist`, { cause: e });
      }
      throw withCode(new Error(`Cannot read ${file}: ${reason(e)}`, { cause: e }), e);
    }
  }

  /** Like {@link read}, but null when the file does not exist (a knob this kernel lacks). */
  async readOptional(file: string): Promise<string | null> {
    try {
      return await this.read(file);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
  }

  /**
   * Writes `value` to control file `file`. Never creates the file: on
   * cgroupfs a missing file means a missing controller, which must surface.
   */
  async write(file: string, value: string): Promise<void> {
    try {
      Deno.writeTextFileSync(file, value, { create: false });
      await this.#hooks.afterWrite?.(file, value);
    } catch (e) {
      const msg = `Cannot write "${value}" to ${file}: ${reason(e)}`;
      if (e instanceof Deno.errors.NotFound) throw new Deno.errors.NotFound(msg, { cause: e });
      if (e instanceof Deno.errors.PermissionDenied) {
        throw new Deno.errors.PermissionDenied(msg, { cause: e });
      }
      throw withCode(new Error(msg, { cause: e }), e);
    }
  }

  /**
   * Attaches the job device program (see ./device_policy.ts) to cgroup v2
   * directory `dir`: from then on its processes may use only the job's
   * devices.
   */
  async attachDevicePolicy(dir: string): Promise<void> {
    if (this.#hooks.attachDeviceProgram !== undefined) {
      await this.#hooks.attachDeviceProgram(dir);
      return;
    }
    try {
      deviceProgramFd ??= loadDeviceProgram(deviceProgram());
      attachDeviceProgram(dir, deviceProgramFd);
    } catch (e) {
      throw withCode(
        new Error(`Cannot restrict the devices of cgroup ${dir}: ${reason(e)}`, { cause: e }),
        e,
      );
    }
  }

  /** True when `path` exists. (A promise, like the rest of the interface; the check is synchronous.) */
  exists(path: string): Promise<boolean> {
    return pathExists(path);
  }

  /** Creates directory `dir` (not its parents); raw Deno errors propagate for the caller to word. */
  async mkdir(dir: string): Promise<void> {
    Deno.mkdirSync(dir);
    await this.#hooks.afterMkdir?.(dir);
  }

  /** Names of the subdirectories (child cgroups) of `dir`. */
  async subdirs(dir: string): Promise<string[]> {
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) names.push(entry.name);
    }
    return names.sort();
  }

  /**
   * Removes cgroup directory `dir`. The kernel answers EBUSY while exiting
   * tasks still reference the cgroup, so this retries with backoff for up to
   * `timeoutMs`. A directory that is already gone counts as removed.
   */
  async rmdir(dir: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? WAIT_TIMEOUT_MS);
    for (let delay = 5;; delay = Math.min(delay * 2, 200)) {
      try {
        await this.#hooks.beforeRmdir?.(dir);
        Deno.removeSync(dir);
        return;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return;
        if (!isBusy(e)) {
          throw withCode(new Error(`Cannot remove cgroup ${dir}: ${reason(e)}`, { cause: e }), e);
        }
        if (Date.now() >= deadline) {
          throw withCode(
            new Error(
              `Cannot remove cgroup ${dir}: still busy after ${
                options.timeoutMs ?? WAIT_TIMEOUT_MS
              } ms (processes or child cgroups remain)`,
              { cause: e },
            ),
            e,
          );
        }
        await sleep(delay);
      }
    }
  }
}

/**
 * Polls `check` until it returns true or `deadline` (epoch ms) passes;
 * returns whether it became true.
 */
export async function waitUntil(
  check: () => Promise<boolean>,
  deadline: number,
): Promise<boolean> {
  for (let delay = 2;; delay = Math.min(delay * 2, 50)) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(delay);
  }
}

/** Parses the PID list of a `cgroup.procs` file. */
export function parsePids(text: string): number[] {
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "").map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** The number after `key` in "key value" lines (cpu.stat, memory.events, memory.oom_control). */
export function keyedValue(text: string, key: string): number | null {
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === key && v !== undefined) {
      const n = Number(v);
      return Number.isFinite(n) ? n : null;
    }
  }
  return null;
}

/** A single-number control file's value, null when missing or not a number. */
export function parseNumber(text: string | null): number | null {
  if (text === null) return null;
  const n = Number(text.trim());
  return text.trim() !== "" && Number.isFinite(n) ? n : null;
}

/** SIGKILLs `pids`, ignoring processes that are already gone. */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    // Never signal ourselves: a stray own PID in a job cgroup is a bug, not a job.
    if (pid === Deno.pid) continue;
    try {
      Deno.kill(pid, "SIGKILL");
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}

/** Throws a TypeError unless `name` is usable as one cgroup directory name. */
export function validateName(name: string): void {
  if (
    typeof name !== "string" || name === "" || name === "." || name === ".." || /[/\0\n]/.test(name)
  ) {
    throw new TypeError(
      `Invalid cgroup name ${JSON.stringify(name)}: it must be one non-empty path component ` +
        `(no "/", not "." or "..")`,
    );
  }
}

/**
 * Throws a TypeError unless `parent` is a relative path of valid components
 * (e.g. "jobworker" or "jobworker/prod"); returns its components.
 */
export function parseParent(parent: string): string[] {
  if (typeof parent !== "string" || parent === "") {
    throw new TypeError(`Invalid cgroup parent ${JSON.stringify(parent)}: it must not be empty`);
  }
  if (parent.startsWith("/")) {
    throw new TypeError(
      `Invalid cgroup parent ${
        JSON.stringify(parent)
      }: it must be relative to this process's own cgroup, not absolute`,
    );
  }
  const parts = parent.split("/");
  for (const part of parts) {
    if (part === "" || part === "." || part === "..") {
      throw new TypeError(
        `Invalid cgroup parent ${
          JSON.stringify(parent)
        }: empty, "." and ".." components are not allowed`,
      );
    }
    validateName(part);
  }
  return parts;
}

/** Throws a RangeError unless `value` is an integer ≥ `options.min`; returns it as decimal text. */
export function integerText(what: string, value: number, options: { min: number }): string {
  const { min } = options;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Invalid ${what} ${value}: expected an integer >= ${min}`);
  }
  return String(value);
}

/** The CFS period both drivers use: 100 ms, the kernel default. */
export const CPU_PERIOD_US = 100_000;

/**
 * The CFS quota in microseconds per {@link CPU_PERIOD_US} for `cpu` cores.
 * The kernel refuses quotas below 1 ms, so fewer than 0.01 cores is a RangeError.
 */
export function cpuQuotaUs(cpu: number): number {
  if (typeof cpu !== "number" || !Number.isFinite(cpu) || cpu <= 0) {
    throw new RangeError(`Invalid cpu limit ${cpu}: expected a positive number of cores`);
  }
  const quota = Math.round(cpu * CPU_PERIOD_US);
  if (quota < 1_000) {
    throw new RangeError(`Invalid cpu limit ${cpu}: the kernel's minimum is 0.01 cores`);
  }
  return quota;
}

/** Throws a TypeError unless `device` looks like `MAJ:MIN`. */
export function validateDevice(device: string): void {
  if (typeof device !== "string" || !/^\d+:\d+$/.test(device)) {
    throw new TypeError(`Invalid block device ${JSON.stringify(device)}: expected "MAJ:MIN"`);
  }
}

/** Throws a RangeError unless `pid` is a positive integer. */
export function validatePid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new RangeError(`Invalid pid ${pid}: expected a positive integer`);
  }
}
