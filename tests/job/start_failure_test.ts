/**
 * Start failures: every invalid spec or unstartable command makes
 * manager.start reject with a JobSpecError naming the problem, and leaves
 * nothing behind (no job directory, no cgroup, no list entry, no executor).
 */
import { assert, assertEquals, assertGreater, assertRejects } from "@std/assert";
import { join } from "node:path";
import { type JobSpec, JobSpecError, type LimitsInput } from "../../src/job/mod.ts";
import {
  cgroupChildren,
  childExecutors,
  existing,
  outputText,
  rootTest,
  type TestContext,
  withManager,
} from "./_fixture.ts";

/** Everything a start could leave behind. */
async function leftovers({ manager, dataDir, parentDirs }: TestContext) {
  return {
    jobDirs: (await Array.fromAsync(Deno.readDir(join(dataDir, "jobs")))).map((e) => e.name)
      .sort(),
    cgroups: await cgroupChildren(parentDirs),
    listed: manager.list().map((job) => job.id),
    executors: await childExecutors(),
  };
}

rootTest("invalid specs and unstartable commands: JobSpecError, nothing left", async () => {
  await withManager(async (ctx) => {
    const { manager, scratch } = ctx;
    const plain = join(scratch, "plain.txt");
    await Deno.writeTextFile(plain, "echo not executable\n", { mode: 0o644 });
    await Deno.chmod(plain, 0o644);
    const junk = join(scratch, "junk");
    await Deno.writeFile(junk, new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3, 0xff, 0xfe]));
    await Deno.chmod(junk, 0o755);
    const cpus = navigator.hardwareConcurrency;
    const limited = (limits: LimitsInput): JobSpec => ({ command: "true", limits });

    // A job that ran, so "nothing changed" is checked against a non-empty state.
    const ok = await manager.start({ command: "true" });
    await ok.wait();
    assertGreater((await existing(ctx.parentDirs)).length, 0, "no parent cgroup to check");
    const before = await leftovers(ctx);
    assertEquals(before.listed, [ok.id]);
    assertEquals(before.jobDirs, [ok.id]);

    const cases: Array<[string, JobSpec, string]> = [
      ["missing binary (path)", { command: "/nonexistent/jw-missing" }, "not found"],
      ["missing binary (PATH lookup)", { command: "jw-no-such-command-x" }, "not found"],
      ["non-executable file", { command: plain }, "not executable"],
      ["a directory as command", { command: scratch }, "not executable"],
      ["not a program", { command: junk }, "not a program this host can run"],
      ["empty command", { command: "" }, "command is empty"],
      ["blank command", { command: "  " }, "command is empty"],
      ["negative cpu", limited({ cpu: -1 }), "cpu limit must be at least 0.01, got -1"],
      ["zero cpu", limited({ cpu: 0 }), "cpu limit must be at least 0.01, got 0"],
      ["cpu above the host's", limited({ cpu: cpus + 1 }), `exceeds the host's ${cpus} CPUs`],
      ["negative memory", limited({ memoryBytes: -1 }), "memory limit must be at least"],
      [
        "memory below the minimum",
        limited({ memoryBytes: 1024 * 1024 }),
        "memory limit must be at least 4194304 bytes, got 1048576",
      ],
      ["NaN memory", limited({ memoryBytes: NaN }), "memory limit must be a number"],
      ["zero pids", limited({ pids: 0 }), "process limit must be at least 1, got 0"],
      ["negative pids", limited({ pids: -5 }), "process limit must be at least 1"],
      ["fractional pids", limited({ pids: 1.5 }), "process limit must be a whole number"],
      ["io read below the minimum", limited({ ioReadBps: 100 }), "io read limit must be at least"],
      ["negative io write", limited({ ioWriteBps: -1 }), "io write limit must be at least"],
      [
        "missing working directory",
        { command: "true", cwd: "/nonexistent/jw-dir" },
        `working directory "/nonexistent/jw-dir" does not exist`,
      ],
      ["a file as working directory", { command: "true", cwd: plain }, "is not a directory"],
      ["relative working directory", { command: "true", cwd: "tmp" }, "is not absolute"],
    ];
    for (const [what, spec, message] of cases) {
      const err = await assertRejects(() => manager.start(spec), JobSpecError, message);
      assert(err.message.startsWith("Cannot start job: "), `${what}: ${err.message}`);
      assertEquals(await leftovers(ctx), before, `${what} left something behind`);
    }

    // The manager is still fine.
    const after = await manager.start({ command: "echo", args: ["still works"] });
    assertEquals((await after.wait()).exitCode, 0);
    assertEquals(await outputText(after), "still works\n");
    assertEquals(manager.list().map((job) => job.id), [ok.id, after.id]);
  });
});

rootTest("concurrent failing starts leave nothing behind either", async () => {
  await withManager(async (ctx) => {
    const before = await leftovers(ctx);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        ctx.manager.start(
          i % 2 === 0 ? { command: `/nonexistent/cmd-${i}` } : { command: "true", cwd: "/nope" },
        )),
    );
    for (const result of results) {
      assertEquals(result.status, "rejected");
      assert((result as PromiseRejectedResult).reason instanceof JobSpecError);
    }
    assertEquals(await leftovers(ctx), before);
  });
});
