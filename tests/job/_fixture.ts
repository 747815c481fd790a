/**
 * Shared fixtures of the job library's integration tests: a JobManager on a
 * temporary data directory with a unique cgroup parent that is always shut
 * down and removed, plus small helpers to look at what a job left on the
 * host (cgroups, processes, file descriptors).
 *
 * Every test here needs root (namespaces and cgroups): register them with
 * {@linkcode rootTest}, which skips them, saying why, when not run as root.
 *
 * @module
 */
import { dirname, join } from "node:path";
import {
  DEFAULT_ENV,
  type Job,
  JobManager,
  type JobManagerOptions,
  type JobSpec,
} from "../../src/job/mod.ts";

export const decoder = new TextDecoder();
export const encoder = new TextEncoder();

/** The default job environment as `env` prints it. */
export const DEFAULT_ENV_LINES: readonly string[] = Object.entries(DEFAULT_ENV).map(
  ([name, value]) => `${name}=${value}`,
);

/** The reason printed for every skipped test. */
export const ROOT_REASON = "needs root (PID/mount/net namespaces and cgroups)";

/** Options of {@linkcode rootTest}. */
export interface RootTestOptions {
  /** Why this host cannot run the test (it is then ignored with the reason printed), or null. */
  skip?: string | null;
}

/**
 * Registers a test that needs root; when not root, or when `options.skip`
 * gives a reason, it is ignored and the reason is printed (a skipped test
 * must never look like a pass).
 */
export function rootTest(
  name: string,
  fn: () => Promise<void>,
  options: RootTestOptions = {},
): void {
  const reason = Deno.uid() !== 0 ? `${ROOT_REASON}; run the suite as root` : options.skip ?? null;
  if (reason !== null) console.log(`SKIPPED "${name}": ${reason}`);
  Deno.test({ name, ignore: reason !== null, fn });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What a test body gets from {@linkcode withManager}. */
export interface TestContext {
  manager: JobManager;
  /** The temporary root directory of this test (removed afterwards). */
  root: string;
  /** The manager's data directory (`<root>/data`). */
  dataDir: string;
  /** A scratch directory for files jobs and the test share (`<root>/scratch`). */
  scratch: string;
  /** The unique cgroup parent, relative to this process's own cgroups. */
  cgroupParent: string;
  /** The parent cgroup directories, one per hierarchy (computed independently of src/). */
  parentDirs: string[];
}

/** Options of {@linkcode withManager}. */
export interface WithManagerOptions {
  /** Extra JobManager options. */
  manager?: Partial<JobManagerOptions>;
  /** The body fails (and everything is torn down) after this long. Default 30 s. */
  timeoutMs?: number;
}

/**
 * Runs `fn` with a fresh JobManager (temp data dir, unique cgroup parent
 * `jobworker-test-<random>`). Always, also when `fn` fails or times out:
 * closes the manager with `graceMs: 0` (which stops every job), removes
 * the temp dir, and checks that no cgroup of the test parent is left.
 */
export async function withManager(
  fn: (ctx: TestContext) => Promise<void>,
  options: WithManagerOptions = {},
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "jobworker-test-" });
  const cgroupParent = `jobworker-test-${crypto.randomUUID().slice(0, 8)}`;
  const parentDirs = (await ownCgroupDirs()).map((dir) => join(dir, cgroupParent));
  let manager: JobManager | undefined;
  const errors: unknown[] = [];
  try {
    const dataDir = join(root, "data");
    const scratch = join(root, "scratch");
    await Deno.mkdir(scratch, { mode: 0o755 });
    manager = await JobManager.create({ dataDir, cgroupParent, ...options.manager });
    await withTimeout(
      fn({ manager, root, dataDir, scratch, cgroupParent, parentDirs }),
      options.timeoutMs ?? 30_000,
      "test body",
    );
  } catch (err) {
    errors.push(err);
  }
  // Teardown runs whatever happened above; the first error wins.
  try {
    await manager?.close({ graceMs: 0 });
  } catch (err) {
    errors.push(err);
  }
  try {
    await removeTempDir(root);
  } catch (err) {
    errors.push(err);
  }
  const left = await existing(parentDirs);
  if (left.length > 0) {
    errors.push(new Error(`cgroups left behind after manager.close(): ${left.join(", ")}`));
  }
  for (const err of errors.slice(1)) console.log(`also failed during teardown: ${err}`);
  if (errors.length > 0) throw errors[0];
}

/** Rejects with a clear message if `promise` has not settled after `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function removeTempDir(root: string): Promise<void> {
  try {
    await Deno.remove(root, { recursive: true });
    return;
  } catch (err) {
    // A mount made by a job that leaked to the host (a bug) would make this
    // fail with EBUSY: detach it so the next run starts clean.
    console.log(`cannot remove ${root} (${(err as Error).message}); detaching mounts below it`);
  }
  const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((mp) => mp.startsWith(root + "/"));
  for (const mp of mounts.reverse()) {
    await new Deno.Command("umount", { args: ["-l", mp] }).output();
  }
  await Deno.remove(root, { recursive: true });
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** `sh -c script` as a spec, with optional extra fields. */
export function sh(script: string, extra: Omit<JobSpec, "command" | "args"> = {}): JobSpec {
  return { command: "sh", args: ["-c", script], ...extra };
}

/** Reads a job's whole output (following it until it ends). */
export async function readAll(job: Job, offset = 0): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  const reader = job.output({ offset });
  try {
    for await (const { data } of reader) {
      parts.push(data);
      length += data.length;
    }
  } finally {
    reader.close();
  }
  const all = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
}

/** A job's whole output as text. */
export async function outputText(job: Job, offset = 0): Promise<string> {
  return decoder.decode(await readAll(job, offset));
}

/**
 * Follows a job's output until it contains `needle`; returns the output so
 * far. Fails after `timeoutMs`, or if the job ends without printing it.
 */
export async function waitForOutput(job: Job, needle: string, timeoutMs = 10_000): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("timeout")), timeoutMs);
  const reader = job.output({ signal: controller.signal });
  const textDecoder = new TextDecoder();
  let text = "";
  try {
    for await (const { data } of reader) {
      text += textDecoder.decode(data, { stream: true });
      if (text.includes(needle)) return text;
    }
  } catch (err) {
    throw new Error(
      `no ${JSON.stringify(needle)} in the job's output after ${timeoutMs} ms ` +
        `(${(err as Error).message}); output so far: ${JSON.stringify(text)}`,
    );
  } finally {
    clearTimeout(timer);
    reader.close();
  }
  throw new Error(
    `the job ended without printing ${JSON.stringify(needle)}; output: ${JSON.stringify(text)}`,
  );
}

/** Polls `check` every `stepMs` until it returns true; fails after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5_000,
  stepMs = 10,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(stepMs);
  }
}

/** Runs a host command; returns its exit code and stdout. */
export async function run(command: string, args: string[]): Promise<{ code: number; out: string }> {
  const result = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
    .output();
  return { code: result.code, out: decoder.decode(result.stdout) };
}

/** Whether `name` is an executable file in one of this process's PATH directories. */
export async function hasCommand(name: string): Promise<boolean> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const info = await Deno.stat(join(dir, name));
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return true;
    } catch {
      // Not in this directory.
    }
  }
  return false;
}

/**
 * PIDs of processes whose command line matches `pattern`, like `pgrep -f`
 * but read from /proc directly: the VM's busybox has no pgrep.
 */
export async function pgrep(pattern: string): Promise<number[]> {
  const re = new RegExp(pattern);
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (re.test(cmdline.replaceAll("\0", " ").trimEnd())) found.push(Number(entry.name));
    } catch {
      // The process ended while we looked.
    }
  }
  return found.sort((a, b) => a - b);
}

/** A unique marker for command lines, findable with `pgrep -f`. */
export function marker(): string {
  return `jwmark${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

/**
 * Executor processes started by THIS test process (its children running
 * executor/main.ts); other sessions' executors are not counted.
 */
export async function childExecutors(): Promise<number[]> {
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== Deno.pid) continue;
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes("executor/main.ts")) found.push(Number(entry.name));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** This process's open file descriptors that point into `dir`. */
export async function fdsInto(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir("/proc/self/fd")) {
    try {
      const target = await Deno.readLink(`/proc/self/fd/${entry.name}`);
      if (target.startsWith(dir + "/")) found.push(target);
    } catch {
      // Closed meanwhile (e.g. the fd of the directory listing itself).
    }
  }
  return found;
}

interface MountLine {
  root: string;
  mountPoint: string;
  dev: string;
  fsType: string;
  superOptions: string[];
}

export async function mountinfo(): Promise<MountLine[]> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  const mounts: MountLine[] = [];
  for (const line of text.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const head = line.slice(0, sep).split(" ");
    const tail = line.slice(sep + 3).split(" ");
    mounts.push({
      dev: head[2] ?? "",
      root: head[3] ?? "",
      mountPoint: (head[4] ?? "").replace(
        /\\([0-7]{3})/g,
        (_, o: string) => String.fromCharCode(parseInt(o, 8)),
      ),
      fsType: tail[0] ?? "",
      superOptions: (tail[2] ?? "").split(","),
    });
  }
  return mounts;
}

/**
 * This process's own cgroup directory in every mounted hierarchy (v1 and
 * v2), from /proc/self/cgroup and /proc/self/mountinfo.
 */
export async function ownCgroupDirs(): Promise<string[]> {
  const mounts = (await mountinfo()).filter((m) => m.fsType === "cgroup" || m.fsType === "cgroup2");
  const dirs: string[] = [];
  for (const line of (await Deno.readTextFile("/proc/self/cgroup")).split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m === null) continue;
    const controllers = m[1]!.split(",").filter((c) => c !== "");
    const path = m[2]!;
    const mount = controllers.length === 0
      ? mounts.find((x) => x.fsType === "cgroup2")
      : mounts.find((x) =>
        x.fsType === "cgroup" && controllers.every((c) => x.superOptions.includes(c))
      );
    if (mount === undefined) continue;
    const rel = mount.root !== "/" && path.startsWith(mount.root)
      ? path.slice(mount.root.length)
      : path;
    dirs.push(join(mount.mountPoint, rel));
  }
  return dirs;
}

/** Job cgroup directories (children) below the test's parent cgroups. */
export async function cgroupChildren(parentDirs: readonly string[]): Promise<string[]> {
  const children: string[] = [];
  for (const dir of parentDirs) {
    try {
      for await (const e of Deno.readDir(dir)) if (e.isDirectory) children.push(join(dir, e.name));
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return children.sort();
}

/** The whole disk ("MAJ:MIN") behind `/`, from /proc/self/mountinfo and /sys/dev/block. */
export async function rootDisk(): Promise<string> {
  const roots = (await mountinfo()).filter((m) => m.mountPoint === "/");
  const dev = roots.at(-1)?.dev;
  if (dev === undefined) throw new Error("no mount for / in /proc/self/mountinfo");
  const sys = `/sys/dev/block/${dev}`;
  if (await exists(join(sys, "partition"))) {
    const disk = dirname(await Deno.realPath(sys));
    return (await Deno.readTextFile(join(disk, "dev"))).trim();
  }
  return dev;
}

/** The first of `job.cgroupPaths` that holds control file `file` (e.g. memory.limit_in_bytes). */
export async function cgroupDirWith(job: Job, file: string): Promise<string> {
  for (const dir of job.cgroupPaths) if (await exists(join(dir, file))) return dir;
  throw new Error(`no cgroup of job ${job.id} has ${file}: ${job.cgroupPaths.join(", ")}`);
}

/** A cgroup control file's content, trimmed. */
export async function readControl(dir: string, file: string): Promise<string> {
  return (await Deno.readTextFile(join(dir, file))).trim();
}

/** Which of `paths` still exist. */
export async function existing(paths: readonly string[]): Promise<string[]> {
  const left: string[] = [];
  for (const p of paths) if (await exists(p)) left.push(p);
  return left;
}

/**
 * Inotify watches this process holds on the file at `path` (from
 * /proc/self/fdinfo): a waiting output reader keeps one on the job's output
 * file; none must be left once no reader waits.
 */
export async function inotifyWatchesOn(path: string): Promise<number> {
  const ino = (await Deno.stat(path)).ino!.toString(16);
  let count = 0;
  for await (const entry of Deno.readDir("/proc/self/fd")) {
    try {
      if (await Deno.readLink(`/proc/self/fd/${entry.name}`) !== "anon_inode:inotify") continue;
      const info = await Deno.readTextFile(`/proc/self/fdinfo/${entry.name}`);
      count += info.split("\n").filter((l) =>
        l.startsWith("inotify ") && l.includes(` ino:${ino} `)
      )
        .length;
    } catch {
      // Closed meanwhile.
    }
  }
  return count;
}
