/**
 * The host side of the integration tests: registering root-only tests, a
 * cgroup parent of each test's own, and a teardown that checks (and, where
 * a crash may have left them, removes) what the test left there. Shared by
 * tests/job/_fixture.ts, tests/server/_fixture.ts and
 * tests/server/_processes.ts, which re-export what their tests use.
 *
 * Private to tests/: nothing outside it should import this.
 *
 * @module
 */
import { join } from "node:path";
import { sleep } from "./async.ts";
import { existing, exists } from "./fs.ts";
import { ownCgroupDirs, parsePidList } from "./proc.ts";

// Here before bytes.ts existed; tests outside the fixtures still import it from here.
export { decoder } from "./bytes.ts";

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

/** A test's own cgroup parent: its name, and its directory in every hierarchy. */
export interface TestCgroupParent {
  /** `jobworker-test-<random>`, relative to this process's own cgroups. */
  cgroupParent: string;
  /** The parent's directory in every hierarchy (computed independently of src/; not created here). */
  parentDirs: string[];
}

/** A unique name for a test's cgroup parent: `jobworker-test-<random>`. */
export function testCgroupName(): string {
  return `jobworker-test-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Picks a unique cgroup parent for one test, so that tests never see each
 * other's jobs and a leftover is attributable; creates nothing.
 */
export async function newTestCgroupParent(): Promise<TestCgroupParent> {
  const cgroupParent = testCgroupName();
  const parentDirs = (await ownCgroupDirs()).map((dir) => join(dir, cgroupParent));
  return { cgroupParent, parentDirs };
}

/**
 * Ends a teardown: every error but the first is logged, and the first is
 * thrown (the body's own failure, when there is one, is the one to see).
 */
export function throwFirst(errors: readonly unknown[]): void {
  for (const err of errors.slice(1)) console.log(`also failed during teardown: ${err}`);
  if (errors.length > 0) throw errors[0];
}

/**
 * Ends a fixture's teardown, once the manager is closed: a cgroup left in
 * `parentDirs` is one more error; then {@linkcode throwFirst}.
 */
export async function endTeardown(
  errors: readonly unknown[],
  parentDirs: readonly string[],
): Promise<void> {
  const left = await existing(parentDirs);
  throwFirst(
    left.length === 0
      ? errors
      : [...errors, new Error(`cgroups left behind after manager.close(): ${left.join(", ")}`)],
  );
}

/**
 * Teardown after something that may not have cleaned up (a killed server, a
 * test that failed mid-kill): SIGKILLs every process in each of `tops` and
 * every cgroup below, thaws a frozen v1 cgroup, and removes them all,
 * deepest first, retrying while the kernel still holds one. Returns the
 * directories there were, tops first (none when nothing was left).
 */
export async function removeCgroupTree(tops: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const top of tops) {
    if (!(await exists(top))) continue;
    const deepestFirst: string[] = [];
    const walk = async (dir: string) => {
      for await (const entry of Deno.readDir(dir)) {
        if (entry.isDirectory) await walk(join(dir, entry.name));
      }
      deepestFirst.push(dir);
    };
    await walk(top);
    found.push(...deepestFirst.toReversed());
    for (const dir of deepestFirst) await killAndRemoveCgroup(dir);
  }
  return found;
}

async function killAndRemoveCgroup(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const procs = await Deno.readTextFile(join(dir, "cgroup.procs")).catch(() => "");
    for (const pid of parsePidList(procs)) {
      // Never this process: a job cgroup holding it would be a bug, not a leftover.
      if (pid === Deno.pid) continue;
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone.
      }
    }
    // A test that failed mid-kill may have left the cgroup frozen.
    await Deno.writeTextFile(join(dir, "freezer.state"), "THAWED", { create: false })
      .catch(() => {});
    try {
      await Deno.remove(dir);
      return;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      await sleep(50);
    }
  }
}
