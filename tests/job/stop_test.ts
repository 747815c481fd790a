/**
 * Stopping jobs: SIGTERM to every process, SIGKILL after the grace period,
 * idempotence, concurrent stops, and bad grace periods.
 */
import {
  assert,
  assertEquals,
  assertGreaterOrEqual,
  assertLess,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { join } from "node:path";
import { JobArgumentError } from "../../src/job/mod.ts";
import {
  cgroupChildren,
  childExecutors,
  existing,
  marker,
  outputText,
  pgrep,
  rootTest,
  sh,
  sleep,
  waitForOutput,
  withManager,
} from "./_fixture.ts";

/** The output without the "Terminated" lines dash prints when a child dies of SIGTERM. */
function withoutTerminated(text: string): string {
  return text.split("\n").filter((line) => line !== "Terminated").join("\n");
}

rootTest("stop(): a job that traps SIGTERM exits gracefully, well before the grace", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh(
      `trap 'echo graceful; exit 0' TERM; echo ready; while :; do sleep 0.1; done`,
    ));
    await waitForOutput(job, "ready");
    const t0 = performance.now();
    const status = await job.stop({ graceMs: 10_000 });
    const elapsed = performance.now() - t0;
    console.log(`  graceful stop took ${elapsed.toFixed(0)} ms`);
    assertEquals(
      { state: status.state, exitCode: status.exitCode, signal: status.signal },
      { state: "stopped", exitCode: 0, signal: null },
    );
    assertLess(elapsed, 2_000);
    // (dash reports its sleep child's death by SIGTERM as "Terminated".)
    assertEquals(withoutTerminated(await outputText(job)), "ready\ngraceful\n");
    assert(status.endedAt !== null);
  });
});

rootTest("stop(): SIGTERM reaches every process, children and grandchildren too", async () => {
  await withManager(async ({ manager, scratch }) => {
    const childDone = join(scratch, "child-done");
    const grandchildDone = join(scratch, "grandchild-done");
    // A child (background shell) and a grandchild (a shell inside a
    // subshell, in its own session) each trap TERM. The main process, on
    // TERM, waits (up to 2 s) for both to have handled theirs.
    const waitLoop = "while :; do sleep 0.05; done";
    const job = await manager.start(sh(`
      trap 'i=0; while [ ! -e ${childDone} -o ! -e ${grandchildDone} ] && [ $i -lt 200 ]; do
              sleep 0.01; i=$((i+1)); done; echo main-graceful; exit 0' TERM
      sh -c 'trap "echo child-graceful; touch ${childDone}; exit 0" TERM
             echo child-ready; ${waitLoop}' &
      ( setsid sh -c 'trap "echo grandchild-graceful; touch ${grandchildDone}; exit 0" TERM
                      echo grandchild-ready; ${waitLoop}'; true ) &
      ${waitLoop}
    `));
    await waitForOutput(job, "child-ready");
    await waitForOutput(job, "grandchild-ready");
    const t0 = performance.now();
    const status = await job.stop({ graceMs: 10_000 });
    const elapsed = performance.now() - t0;
    assertEquals([status.state, status.exitCode, status.signal], ["stopped", 0, null]);
    assertLess(elapsed, 3_000);
    const out = await outputText(job);
    for (const line of ["child-graceful", "grandchild-graceful", "main-graceful"]) {
      assertStringIncludes(out, line + "\n");
    }
    assert(out.endsWith("main-graceful\n"), out);
  });
});

rootTest("stop(): processes ignoring SIGTERM are SIGKILLed after the grace period", async () => {
  await withManager(async ({ manager, parentDirs }) => {
    const mark = marker();
    const sleepMark = `1000.${Math.floor(Math.random() * 1e9)}`;
    // SIG_IGN is inherited: the background shell and every sleep ignore TERM too.
    const job = await manager.start(sh(`
      trap '' TERM; : ${mark}
      sh -c 'sleep ${sleepMark}; : ${mark}' &
      echo ready; while :; do sleep 0.05; done
    `));
    await waitForOutput(job, "ready");
    assertEquals((await pgrep(mark)).length >= 2, true, "the job's processes are not running");
    const t0 = performance.now();
    const stopping = job.stop({ graceMs: 500 });
    await sleep(250);
    // Mid-grace: still running, and status() does not wait for the stop.
    assertEquals(job.state, "running");
    assertEquals((await job.status()).state, "running");
    const status = await stopping;
    const elapsed = performance.now() - t0;
    console.log(`  stop with graceMs 500 of a TERM-ignoring job took ${elapsed.toFixed(0)} ms`);
    assertGreaterOrEqual(elapsed, 500);
    assertLess(elapsed, 3_000);
    assertEquals(
      { state: status.state, exitCode: status.exitCode, signal: status.signal },
      { state: "stopped", exitCode: null, signal: "SIGKILL" },
    );
    assertEquals(status.error, null);
    assertEquals(await existing(job.cgroupPaths), []);
    assertEquals(await cgroupChildren(parentDirs), []);
    assertEquals(await pgrep(mark), [], "a process of the job survived");
    assertEquals(await pgrep(sleepMark), [], "the job's sleep survived");
    assertEquals(await outputText(job), "ready\n");
  });
});

rootTest("stop() on an ended job returns its status unchanged", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh("echo done; exit 7"));
    const ended = await job.wait();
    assertEquals([ended.state, ended.exitCode], ["exited", 7]);
    assertEquals(await job.stop(), ended);
    assertEquals(await job.stop({ graceMs: 0 }), ended);
    assertEquals(await job.status(), ended);
    assertEquals(await outputText(job), "done\n");
  });
});

rootTest("concurrent stop() calls all resolve with the same final status", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start({ command: "sleep", args: ["30"] });
    const graces = [10_000, 5_000, 1_000, 100, 0, 2_000, 50, 10_000, 300, 1];
    const statuses = await Promise.all(graces.map((graceMs) => job.stop({ graceMs })));
    assertEquals(statuses[0]!.state, "stopped");
    for (const status of statuses) assertEquals(status, statuses[0]);
    assertEquals(await job.status(), statuses[0]);
  });
});

rootTest("of concurrent stops, the earliest deadline wins", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh("trap '' TERM; echo ready; while :; do sleep 0.05; done"));
    await waitForOutput(job, "ready");
    const t0 = performance.now();
    const long = job.stop({ graceMs: 20_000 });
    const short = job.stop({ graceMs: 300 });
    const later = job.stop({ graceMs: 20_000 }); // must not push the deadline back
    const statuses = await Promise.all([long, short, later]);
    const elapsed = performance.now() - t0;
    assertGreaterOrEqual(elapsed, 300);
    assertLess(elapsed, 3_000);
    for (const status of statuses) {
      assertEquals([status.state, status.signal], ["stopped", "SIGKILL"]);
      assertEquals(status, statuses[0]);
    }
  });
});

rootTest(
  "stop() with a negative or non-finite grace is a JobArgumentError; the job runs on",
  async () => {
    await withManager(async ({ manager }) => {
      const job = await manager.start(sh(
        "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
      ));
      await waitForOutput(job, "ready");
      for (const graceMs of [-1, -0.5, NaN, Infinity]) {
        await assertRejects(() => job.stop({ graceMs }), JobArgumentError, "grace period");
      }
      await sleep(200);
      assertEquals(job.state, "running");
      assertEquals((await job.status()).state, "running");
      assertEquals(await waitForOutput(job, "ready"), "ready\n", "the job got a SIGTERM");
      // A valid stop still works afterwards.
      const status = await job.stop({ graceMs: 5_000 });
      assertEquals([status.state, status.exitCode], ["stopped", 0]);
      assertEquals(withoutTerminated(await outputText(job)), "ready\ngot-term\n");
    });
  },
);

rootTest("stop() of a SIGSTOPped job kills it after the grace period", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh("echo ready; kill -STOP $$; echo continued"));
    await waitForOutput(job, "ready");
    const t0 = performance.now();
    const status = await job.stop({ graceMs: 300 });
    assertGreaterOrEqual(performance.now() - t0, 300);
    assertEquals([status.state, status.signal], ["stopped", "SIGKILL"]);
    assertEquals(await existing(job.cgroupPaths), []);
  });
});

/** Whether process `pid` (of this PID namespace) has exited: gone or a zombie. */
function exitedSync(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

rootTest("stop() racing a job that already exited by itself keeps state exited", async () => {
  // The main process exits with 3 and the executor reports it and exits;
  // stop() comes after that but before the library has processed the
  // report (the event loop is blocked while we wait). The job ended by
  // itself, so it is "exited" (README: stopped = "it ended after stop()").
  await withManager(async ({ manager }) => {
    // 1 s: long enough that the executor is surely still there when looked
    // for, also under software emulation (the VM), where starting is slow.
    const job = await manager.start(sh("sleep 1; exit 3"));
    const [executor] = await childExecutors();
    assert(executor !== undefined);
    const deadline = performance.now() + 5_000;
    while (!exitedSync(executor) && performance.now() < deadline) {
      // Busy-wait on purpose: the job's supervision must not run meanwhile.
    }
    assertEquals(job.state, "running", "the library noticed the exit already");
    const status = await job.stop({ graceMs: 1_000 });
    assertEquals(
      { state: status.state, exitCode: status.exitCode, signal: status.signal },
      { state: "exited", exitCode: 3, signal: null },
    );
  });
});
