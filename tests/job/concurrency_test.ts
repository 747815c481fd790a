/**
 * Many jobs at once, and many concurrent calls on one job.
 */
import { assert, assertEquals, assertGreaterOrEqual, assertLessOrEqual } from "@std/assert";
import { join } from "node:path";
import type { JobStatus } from "../../src/job/mod.ts";
import {
  cgroupChildren,
  childExecutors,
  fdCount,
  outputText,
  rootTest,
  runCommand,
  sh,
  waitForOutput,
  withManager,
} from "./_fixture.ts";

rootTest(
  "100 concurrent jobs all start, run at once and exit 0 with their own output",
  async () => {
    await withManager(async ({ manager, scratch, parentDirs }) => {
      const count = 100;
      // A barrier without polling: each job blocks reading one byte from a
      // FIFO (opened read-write, so the open never blocks) to which the test
      // writes one byte per job only once every job runs.
      const fifo = join(scratch, "barrier");
      assertEquals((await runCommand("mkfifo", ["-m", "666", fifo])).code, 0); // jobs are other users
      const fdsBefore = fdCount();
      const script = `echo "start $1"; exec 3<>${fifo}; read -N 1 -t 20 -u 3 go; ` +
        `sleep 1; echo "end $1 $go"`;
      const t0 = performance.now();
      const jobs = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          manager.start({
            command: "bash",
            args: ["-c", script, "job", `j${i}`],
            limits: { cpu: 0.1, memoryBytes: 32 * 1024 * 1024, pids: 8 },
          })),
      );
      const startedMs = performance.now() - t0;
      // All of them run at this moment.
      for (const job of jobs) assertEquals(job.state, "running");
      assertEquals((await childExecutors()).length, count);
      assertEquals(new Set(jobs.map((job) => job.id)).size, count);
      assertEquals(manager.list().length, count);
      const statuses = await Promise.all(jobs.map((job) => job.status()));
      for (const status of statuses) assertEquals(status.state, "running");
      // Every job's cgroups exist (one directory per hierarchy each).
      assertEquals(
        (await cgroupChildren(parentDirs)).length,
        count * jobs[0]!.cgroupPaths.length,
      );
      await Promise.all(jobs.map((job) => waitForOutput(job, "start")));
      const writer = await Deno.open(fifo, { write: true });
      await writer.write(new TextEncoder().encode("x".repeat(count)));
      writer.close();
      const t1 = performance.now();
      const ended = await Promise.all(jobs.map((job) => job.wait()));
      const runMs = performance.now() - t1;
      console.log(
        `  100 jobs: all started in ${startedMs.toFixed(0)} ms, ` +
          `all ended ${runMs.toFixed(0)} ms after the barrier`,
      );
      for (const [i, status] of ended.entries()) {
        assertEquals([status.state, status.exitCode], ["exited", 0], `job ${i}`);
        assertEquals(await outputText(jobs[i]!), `start j${i}\nend j${i} x\n`);
      }
      assertGreaterOrEqual(runMs, 1_000);
      assertEquals(await cgroupChildren(parentDirs), []);
      assertEquals(await childExecutors(), []);
      // No descriptor per job is kept (pipes to executors, output handles);
      // a few process-wide ones (e.g. the inotify instance) may appear once.
      const fdsAfter = fdCount();
      console.log(`  open fds of the test process: ${fdsBefore} before, ${fdsAfter} after`);
      assertLessOrEqual(fdsAfter, fdsBefore + 5);
    }, { timeoutMs: 60_000 });
  },
);

rootTest("many concurrent status(), output(), get() and stop() calls on one job", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh(
      "trap 'echo term; exit 5' TERM; for i in $(seq 50); do echo \"line $i\"; done; " +
        "echo ready; while :; do sleep 0.05; done",
    ));
    await waitForOutput(job, "ready");
    const statusCalls = Array.from({ length: 100 }, () => job.status());
    const readers = Array.from({ length: 30 }, () => outputText(job));
    const gets = Array.from({ length: 20 }, () => manager.get(job.id));
    const stops = Array.from({ length: 20 }, (_, i) => job.stop({ graceMs: 2_000 + i }));
    const moreStatus = Array.from({ length: 100 }, () => job.status());
    const [statuses, outputs, stopped, later] = await Promise.all([
      Promise.all(statusCalls),
      Promise.all(readers),
      Promise.all(stops),
      Promise.all(moreStatus),
    ]);
    for (const got of gets) assert(got === job);
    for (const status of [...statuses, ...later]) {
      assert(["running", "stopped"].includes(status.state), status.state);
      assertEquals(status.id, job.id);
    }
    for (const status of stopped) assertEquals(status, stopped[0]);
    const final: JobStatus = stopped[0]!;
    assertEquals([final.state, final.exitCode, final.signal], ["stopped", 5, null]);
    const expected = outputs[0]!;
    assert(expected.includes("line 50\nready\n") && expected.endsWith("term\n"), expected);
    for (const out of outputs) assertEquals(out, expected);
    assertEquals(await job.status(), final);
  });
});
