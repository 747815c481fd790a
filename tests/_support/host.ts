/**
 * Host helpers shared by the job library's and the server's integration
 * tests (tests/job/_fixture.ts and tests/server/_fixture.ts re-export what
 * their tests use): registering root-only tests, timeouts and polling, and
 * looking at what the tests left on the host (files, cgroups, processes,
 * file descriptors), all computed from /proc and /sys independently of src/
 * so that a bug there cannot hide itself.
 *
 * Private to tests/: nothing outside it should import this.
 *
 * @module
 */
import { join } from "node:path";

/** A shared UTF-8 decoder (only ever used without `stream`, so it keeps no state). */
export const decoder = new TextDecoder();
/** A shared UTF-8 encoder. */
export const encoder = new TextEncoder();

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

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Rejects with a clear message if `promise` has not settled after `ms`.
 * (Three positional parameters, unlike the usual style, because many test
 * assertions call it this way.)
 */
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

/**
 * Polls `check` every `stepMs` until it returns true; fails after `timeoutMs`.
 * (Positional, unlike the usual style, because the tests call it this way.)
 */
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

/** Whether `path` exists (as anything, a dangling link included). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Which of `paths` still exist. */
export async function existing(paths: readonly string[]): Promise<string[]> {
  const left: string[] = [];
  for (const p of paths) if (await exists(p)) left.push(p);
  return left;
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
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

/** One line of /proc/self/mountinfo, the fields the tests look at. */
export interface MountLine {
  /** The mount's root within its filesystem (a cgroup path for cgroup mounts). */
  root: string;
  /** Where it is mounted, with the kernel's octal escapes (`\040`…) decoded. */
  mountPoint: string;
  /** The device, `MAJ:MIN`. */
  dev: string;
  fsType: string;
  /** Per-superblock options (for cgroup v1: the controllers of the hierarchy). */
  superOptions: string[];
}

/** This process's mounts, in /proc/self/mountinfo order (later mounts on a path last). */
export async function mountinfo(): Promise<MountLine[]> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  const mounts: MountLine[] = [];
  for (const line of text.split("\n")) {
    // Optional fields make the head's length vary; " - " separates it from the tail.
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
    // In a cgroup namespace or a bind mount of a subtree, the mount's root
    // is a prefix of the path that the mount point already stands for.
    const rel = mount.root !== "/" && path.startsWith(mount.root)
      ? path.slice(mount.root.length)
      : path;
    dirs.push(join(mount.mountPoint, rel));
  }
  return dirs;
}

/** A test's own cgroup parent: its name, and its directory in every hierarchy. */
export interface TestCgroupParent {
  /** `jobworker-test-<random>`, relative to this process's own cgroups. */
  cgroupParent: string;
  /** The parent's directory in every hierarchy (not created here). */
  parentDirs: string[];
}

/**
 * Picks a unique cgroup parent for one test, so that tests never see each
 * other's jobs and a leftover is attributable; creates nothing.
 */
export async function newTestCgroupParent(): Promise<TestCgroupParent> {
  const cgroupParent = `jobworker-test-${crypto.randomUUID().slice(0, 8)}`;
  const parentDirs = (await ownCgroupDirs()).map((dir) => join(dir, cgroupParent));
  return { cgroupParent, parentDirs };
}

/**
 * Ends a fixture's teardown, once the manager is closed: a cgroup left in
 * `parentDirs` is one more error; every error but the first is logged, and
 * the first is thrown (the body's own failure, when there is one, is the
 * one to see).
 */
export async function endTeardown(
  errors: readonly unknown[],
  parentDirs: readonly string[],
): Promise<void> {
  const left = await existing(parentDirs);
  const all = left.length === 0
    ? errors
    : [...errors, new Error(`cgroups left behind after manager.close(): ${left.join(", ")}`)];
  for (const err of all.slice(1)) console.log(`also failed during teardown: ${err}`);
  if (all.length > 0) throw all[0];
}

/** PIDs of the direct children of `pid` (from /proc/<n>/stat), in /proc order. */
export async function childrenOf(pid: number): Promise<number[]> {
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      // The command name in parentheses may hold spaces; fields follow the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) found.push(Number(entry.name));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}
