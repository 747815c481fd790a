/**
 * Exact exit codes and signals of a job's main process, and the job ending
 * with its main process.
 */
import { assertEquals, assertLess } from "@std/assert";
import {
  cgroupChildren,
  existing,
  marker,
  outputText,
  pgrep,
  rootTest,
  sh,
  withManager,
} from "./_fixture.ts";

rootTest("exit 0: state exited, exitCode 0, no signal", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh("echo hi; exit 0"));
    const status = await job.wait();
    assertEquals(
      { state: status.state, exitCode: status.exitCode, signal: status.signal },
      { state: "exited", exitCode: 0, signal: null },
    );
    assertEquals(status.oomKilled, false);
    assertEquals(status.error, null);
    assertEquals(await outputText(job), "hi\n");
  });
});

rootTest("exit 42 and other codes are reported exactly", async () => {
  await withManager(async ({ manager }) => {
    const codes = [42, 1, 255, 137];
    const jobs = await Promise.all(codes.map((code) => manager.start(sh(`exit ${code}`))));
    const statuses = await Promise.all(jobs.map((job) => job.wait()));
    for (const [i, status] of statuses.entries()) {
      assertEquals(
        { state: status.state, exitCode: status.exitCode, signal: status.signal },
        { state: "exited", exitCode: codes[i], signal: null },
      );
      // 137 is an exit code here, not a SIGKILL, and certainly not an OOM kill.
      assertEquals(status.oomKilled, false);
    }
    // A direct (non-shell) command too.
    const falseJob = await manager.start({ command: "false" });
    const status = await falseJob.wait();
    assertEquals([status.state, status.exitCode, status.signal], ["exited", 1, null]);
  });
});

rootTest("kill -SEGV $$: signal SIGSEGV, exitCode null", async () => {
  await withManager(async ({ manager, scratch }) => {
    // cwd in the scratch dir, core dumps off: a core file must not land in /.
    const job = await manager.start(sh("ulimit -c 0; kill -SEGV $$; echo not reached", {
      cwd: scratch,
    }));
    const status = await job.wait();
    assertEquals(
      { state: status.state, exitCode: status.exitCode, signal: status.signal },
      { state: "exited", exitCode: null, signal: "SIGSEGV" },
    );
    assertEquals(await outputText(job), "");
  });
});

rootTest("kill -TERM $$ without stop(): state exited (not stopped), signal SIGTERM", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh("kill -TERM $$; sleep 5"));
    const status = await job.wait();
    assertEquals(
      { state: status.state, exitCode: status.exitCode, signal: status.signal },
      { state: "exited", exitCode: null, signal: "SIGTERM" },
    );
  });
});

rootTest("the job ends with its main process; a background sleep is killed", async () => {
  await withManager(async ({ manager, parentDirs, scratch }) => {
    const mark = marker();
    // `sleep 100` in the background, under a shell whose command line carries
    // the marker; the main process exits only once it is surely running.
    const t0 = performance.now();
    const job = await manager.start(sh(
      `sh -c 'touch ${scratch}/bg; sleep 100; : ${mark}' &
       while [ ! -e ${scratch}/bg ]; do sleep 0.01; done; echo started; exit 3`,
    ));
    const status = await job.wait();
    const elapsed = performance.now() - t0;
    assertEquals([status.state, status.exitCode, status.signal], ["exited", 3, null]);
    assertLess(elapsed, 3_000, `the job took ${elapsed} ms to end`);
    assertEquals(await outputText(job), "started\n");
    assertEquals(await pgrep(mark), [], "the background process outlived the job");
    assertEquals(await existing(job.cgroupPaths), []);
    assertEquals(await cgroupChildren(parentDirs), []);
  });
});
