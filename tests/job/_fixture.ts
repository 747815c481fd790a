/**
 * Shared fixtures of the job library's integration tests: a JobManager on a
 * temporary data directory with a unique cgroup parent that is always shut
 * down and removed, plus small helpers to look at what a job left on the
 * host (cgroups, processes, file descriptors). Helpers the other suites
 * use too live in tests/_support/; this module re-exports those its tests
 * use.
 *
 * Every test here needs root (namespaces and cgroups): register them with
 * {@linkcode rootTest}, which skips them, saying why, when not run as root.
 *
 * @module
 */
import { join } from "node:path";
import {
  DEFAULT_ENV,
  type Job,
  JobManager,
  type JobManagerOptions,
  type JobSpec,
} from "../../src/job/mod.ts";
import { withTimeout } from "../_support/async.ts";
import { decoder, readChunks } from "../_support/bytes.ts";
import { endTeardown, newTestCgroupParent, type TestCgroupParent } from "../_support/host.ts";
import { firstDirWith, readTrim } from "../_support/fs.ts";
import { childrenOf, mountinfo, wholeDiskOfDevice } from "../_support/proc.ts";

export { sleep, waitUntil, withTimeout } from "../_support/async.ts";
export { decoder } from "../_support/bytes.ts";
export { runCommand, which } from "../_support/commands.ts";
export { existing, exists } from "../_support/fs.ts";
export { rootTest } from "../_support/host.ts";
export {
  fdCount,
  fdsInto,
  inotifyWatchesOn,
  mountinfo,
  pgrep,
  wholeDiskOfDevice,
} from "../_support/proc.ts";

/** The default job environment as `env` prints it. */
export const DEFAULT_ENV_LINES: readonly string[] = Object.entries(DEFAULT_ENV).map(
  ([name, value]) => `${name}=${value}`,
);

/** What a test body gets from {@linkcode withManager}. */
export interface TestContext extends TestCgroupParent {
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
  const mounts = (await mountinfo()).map((m) => m.mountPoint)
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
  const reader = job.output({ offset });
  try {
    return await readChunks(reader);
  } finally {
    reader.close();
  }
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
  return await wholeDiskOfDevice(dev) ?? dev;
}

/** The first of `job.cgroupPaths` that holds control file `file` (e.g. memory.limit_in_bytes). */
export async function cgroupDirWith(job: Job, file: string): Promise<string> {
  const dir = await firstDirWith(job.cgroupPaths, file);
  if (dir !== null) return dir;
  throw new Error(`no cgroup of job ${job.id} has ${file}: ${job.cgroupPaths.join(", ")}`);
}

/** A cgroup control file's content, trimmed. */
export function readControl(dir: string, file: string): Promise<string> {
  return readTrim(join(dir, file));
}
