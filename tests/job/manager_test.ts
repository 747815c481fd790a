/**
 * The manager's bookkeeping and shutdown, and a job whose executor dies.
 */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { JobNotFoundError } from "../../src/job/mod.ts";
import {
  cgroupChildren,
  childExecutors,
  existing,
  marker,
  pgrep,
  rootTest,
  sh,
  waitForOutput,
  withManager,
} from "./_fixture.ts";

rootTest("list() and get() find jobs; an unknown id is JobNotFoundError", async () => {
  await withManager(async ({ manager }) => {
    assertEquals(manager.list(), []);
    const a = await manager.start({ command: "true" }, { owner: "alice" });
    const b = await manager.start({ command: "sleep", args: ["30"] });
    assertEquals(manager.list(), [a, b]);
    assert(manager.get(a.id) === a && manager.get(b.id) === b);
    assertEquals(a.owner, "alice");
    assertEquals(b.owner, "local");
    assertEquals((await a.wait()).owner, "alice");
    assertThrows(() => manager.get("no-such-id"), JobNotFoundError, "no-such-id");
    // Ended jobs stay listed.
    await b.stop({ graceMs: 0 });
    assertEquals(manager.list(), [a, b]);
    const status = await b.status();
    assertEquals([status.command, status.args], ["sleep", ["30"]]);
  });
});

rootTest("close() stops every running job, removes the cgroups, refuses new starts", async () => {
  await withManager(async ({ manager, parentDirs }) => {
    const mark = marker();
    const jobs = await Promise.all(
      Array.from({ length: 5 }, () => manager.start(sh(`trap '' TERM; sleep 30; : ${mark}`))),
    );
    // Starts still in flight when close() is called are stopped too.
    const inFlight = Array.from({ length: 3 }, () => manager.start(sh(`sleep 30; : ${mark}`)));
    const t0 = performance.now();
    await manager.close({ graceMs: 200 });
    const elapsed = performance.now() - t0;
    assert(elapsed < 5_000, `close took ${elapsed} ms`);
    for (const job of jobs) {
      const status = await job.status();
      assertEquals([status.state, status.signal], ["stopped", "SIGKILL"]);
    }
    for (const result of await Promise.allSettled(inFlight)) {
      if (result.status === "fulfilled") assert(result.value.state !== "running");
    }
    assertEquals(await pgrep(mark), []);
    assertEquals(await childExecutors(), []);
    assertEquals(await existing(parentDirs), [], "the parent cgroups were not removed");
    await assertRejects(() => manager.start({ command: "true" }), Error, "shut down");
  });
});

rootTest(
  "a job whose executor is killed from outside ends as failed; nothing survives",
  async () => {
    await withManager(async ({ manager, parentDirs }) => {
      const mark = marker();
      const job = await manager.start(sh(`echo ready; sleep 30; : ${mark}`));
      await waitForOutput(job, "ready");
      const executors = await childExecutors();
      assertEquals(executors.length, 1);
      Deno.kill(executors[0]!, "SIGKILL");
      const status = await job.wait();
      assertEquals([status.state, status.exitCode, status.signal], ["failed", null, "SIGKILL"]);
      assertStringIncludes(status.error ?? "", "executor ended unexpectedly");
      assertEquals(await pgrep(mark), []);
      assertEquals(await existing(job.cgroupPaths), []);
      assertEquals(await cgroupChildren(parentDirs), []);
      // stop() on it changes nothing.
      assertEquals(await job.stop(), status);
    });
  },
);
