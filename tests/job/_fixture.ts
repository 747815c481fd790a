/**
 * Shared fixtures of the job library's integration tests: a JobManager on a
 * temporary data directory with a unique cgroup parent that is always shut
 * down and removed, plus small helpers to look at what a job left on the
 * host (cgroups, processes, file descriptors). Helpers the server's tests
 * use too live in tests/_support/host.ts; this module re-exports them.
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
import {
  childrenOf,
  concat,
  decoder,
  endTeardown,
  exists,
  mountinfo,
  newTestCgroupParent,
  withTimeout,
} from "../_support/host.ts";

export {
  decoder,
  encoder,
  existing,
  exists,
  fdsInto,
  mountinfo,
  ownCgroupDirs,
  ROOT_REASON,
  rootTest,
  type RootTestOptions,
  sleep,
  waitUntil,
  withTimeout,
} from "../_support/host.ts";

/** The default job environment as `env` prints it. */
export const DEFAULT_ENV_LINES: readonly string[] = Object.entries(DEFAULT_ENV).map(
  ([name, value]) => `${name}=${value}`,
);

/** What a test body gets from {@linkcode withManager}. */
export interface TestContext {
  manager: JobManager;
  /** The temporary root directory of this test (removed afterwards). */
  root: string;
  /** The manager's data directory (`<root>/data`). */
  dataDir: string;
  /**
   * A scratch directory for files jobs and the test share (`<root>/scratch`,
   * mode 0777, bound into every job at the same path).
   */
  scratch: string;
  /** The unique cgroup parent, relative to this process's own cgroups. */
  cgroupParent: string;
  /** The parent cgroup directories, one per hierarchy (computed independently of src/). */
  parentDirs: string[];
}

/** Options of {@linkcode withManager}. */
export interface WithManagerOptions {
  /** Extra JobManager options, or a function of the test's root directory giving them. */
  manager?: Partial<JobManagerOptions> | ((root: string) => Partial<JobManagerOptions>);
  /** Where the test's root directory is made (default: the system's temp dir). */
  rootParent?: string;
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
  if (options.rootParent !== undefined) await Deno.mkdir(options.rootParent, { recursive: true });
  const root = await Deno.makeTempDir({
    prefix: "jobworker-test-",
    ...(options.rootParent === undefined ? {} : { dir: options.rootParent }),
  });
  const { cgroupParent, parentDirs } = await newTestCgroupParent();
  let manager: JobManager | undefined;
  const errors: unknown[] = [];
  try {
    const dataDir = join(root, "data");
    const scratch = join(root, "scratch");
    await Deno.mkdir(scratch);
    // Jobs run as users of their own: the scratch dir is theirs to write too.
    await Deno.chmod(scratch, 0o777);
    const extra = typeof options.manager === "function"
      ? options.manager(root)
      : options.manager ?? {};
    manager = await JobManager.create({
      dataDir,
      cgroupParent,
      ...extra,
      // Jobs see the scratch dir at the same path as the test (their /tmp is their own).
      binds: [
        { source: scratch, target: scratch, readOnly: false },
        ...extra.binds ?? [],
      ],
    });
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
  await endTeardown(errors, parentDirs);
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

/** `sh -c script` as a spec, with optional extra fields. */
export function sh(script: string, extra: Omit<JobSpec, "command" | "args"> = {}): JobSpec {
  return { command: "sh", args: ["-c", script], ...extra };
}

/** Reads a job's whole output (following it until it ends). */
export async function readAll(job: Job, offset = 0): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = job.output({ offset });
  try {
    for await (const { data } of reader) parts.push(data);
  } finally {
    reader.close();
  }
  return concat(parts);
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
  for (const pid of await childrenOf(Deno.pid)) {
    try {
      const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
      if (cmdline.includes("executor/main.ts")) found.push(pid);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
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
