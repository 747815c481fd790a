/**
 * Job control in the library: deadlines (timeoutMs, the manager's default
 * and maximum, kept by a manager that adopts the job), signals to the main
 * process or every process, labels and the list filter, and the event log
 * (one event per state change, numbered, resumable across managers).
 */
import {
  assert,
  assertEquals,
  assertGreaterOrEqual,
  assertLess,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  type Job,
  type JobEvent,
  JobEventsGoneError,
  JobManager,
  JobPreconditionError,
  JobSpecError,
} from "../../src/job/mod.ts";
import { JobArgumentError } from "../../src/job/mod.ts";
import { outputText, rootTest, sh, waitForOutput, waitUntil, withManager } from "./_fixture.ts";

/** Collects events from `since` on; `stop()` ends the watch. */
function collect(manager: JobManager, since?: number) {
  const events: JobEvent[] = [];
  const stop = manager.watchEvents(
    (e) => events.push(e),
    since === undefined ? {} : { since },
  );
  return { events, stop };
}

/** The output written so far (outputText follows until the job ends). */
async function outputSoFar(job: Job): Promise<string> {
  const reader = job.output({ follow: false });
  let text = "";
  try {
    for await (const chunk of reader) text += new TextDecoder().decode(chunk.data);
  } finally {
    reader.close();
  }
  return text;
}

function summary(events: JobEvent[], id: string): string[] {
  return events.filter((e) => e.id === id).map((e) =>
    [e.type, e.exitCode ?? "", e.signal ?? ""].filter((x) => x !== "").join(" ")
  );
}

rootTest(
  "timeout: the job is stopped at its deadline and its status says it timed out",
  async () => {
    await withManager(async ({ manager }) => {
      const watch = collect(manager);
      const t0 = performance.now();
      const job = await manager.start(
        sh(`trap 'echo term; exit 3' TERM; echo ready; while :; do sleep 0.05; done`, {
          timeoutMs: 700,
        }),
      );
      await waitForOutput(job, "ready");
      const status = await job.wait();
      const elapsed = performance.now() - t0;
      assertGreaterOrEqual(elapsed, 650);
      assertLess(elapsed, 5000);
      assertEquals(
        [status.state, status.timedOut, status.timeoutMs, status.exitCode],
        ["stopped", true, 700, 3],
      );
      // dash reports the sleep that SIGTERM ended as "Terminated".
      assertEquals((await outputText(job)).replace("Terminated\n", ""), "ready\nterm\n");
      await waitUntil(() => summary(watch.events, job.id).length === 2, "the end event");
      assertEquals(summary(watch.events, job.id), ["started", "timed-out 3"]);
      watch.stop();

      // A job that ends before its deadline is not touched by it.
      const quick = await manager.start(sh("exit 0", { timeoutMs: 60_000 }));
      const ended = await quick.wait();
      assertEquals([ended.state, ended.timedOut, ended.timeoutMs], ["exited", false, 60_000]);
    });
  },
);

rootTest("timeout: a job that ignores SIGTERM is killed after the grace", async () => {
  await withManager(async ({ manager }) => {
    // The grace of a deadline is the default one (10 s); close() with graceMs 0 is not involved.
    const job = await manager.start(sh(`trap '' TERM; echo ready; sleep 30`, { timeoutMs: 300 }));
    await waitForOutput(job, "ready");
    const status = await job.wait();
    assertEquals([status.state, status.timedOut, status.signal], ["stopped", true, "SIGKILL"]);
  }, { timeoutMs: 30_000 });
});

rootTest("timeout: the manager's default applies, its maximum refuses longer ones", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh("sleep 30"));
    assertEquals((await job.status()).timeoutMs, 400);
    assertEquals((await job.wait()).timedOut, true);
    const err = await assertRejects(
      () => manager.start(sh("true", { timeoutMs: 3 * 3600_000 })),
      JobSpecError,
    );
    assertEquals(
      err.message,
      "Cannot start job: timeout 3h is more than this server allows (--max-timeout 2h)",
    );
    await assertRejects(() => manager.start(sh("true", { timeoutMs: 0 })), JobSpecError);
    await assertRejects(() => manager.start(sh("true", { timeoutMs: NaN })), JobSpecError);
    assertEquals(manager.list().length, 1, "a refused start left a job behind");
  }, { manager: { defaultTimeoutMs: 400, maxTimeoutMs: 2 * 3600_000 } });
});

rootTest("timeout: a manager that adopts a running job keeps its deadline", async () => {
  await withManager(async ({ manager, dataDir, cgroupParent }) => {
    const job = await manager.start(sh("echo ready; sleep 30", { timeoutMs: 1500 }));
    await waitForOutput(job, "ready");
    await manager.close({ keepJobs: true });
    const next = await JobManager.create({ dataDir, cgroupParent });
    try {
      const adopted = next.get(job.id);
      assertEquals(adopted.state, "running");
      const status = await adopted.wait();
      assertEquals([status.state, status.timedOut], ["stopped", true]);
    } finally {
      await next.close({ graceMs: 0 });
    }
  });
});

rootTest("signal: to the main process only, or with all to every process", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh(
      `trap 'echo main got HUP' HUP
       sh -c "trap 'echo child got HUP' HUP; echo child ready; while :; do sleep 0.05; done" &
       echo ready; while :; do sleep 0.05; done`,
    ));
    await waitForOutput(job, "child ready");
    await waitForOutput(job, "ready\n");
    await job.signal("hup");
    await waitForOutput(job, "main got HUP");
    await job.signal("SIGHUP", { all: true });
    await waitUntil(
      async () =>
        (await outputSoFar(job)).split("\n").filter((l) => l.endsWith("got HUP")).length === 3,
      "HUP at both processes",
    );
    const text = await outputSoFar(job);
    assertEquals(text.match(/child got HUP/g)?.length, 1, text);
    assertEquals(text.match(/main got HUP/g)?.length, 2, text);
    // A stopped job does not run; CONT lets it go on.
    await job.signal("STOP", { all: true });
    await job.signal("18", { all: true });
    // KILL as a signal, not a stop: the job exits by that signal.
    await job.signal("KILL");
    const status = await job.wait();
    assertEquals([status.state, status.signal], ["exited", "SIGKILL"]);
    await assertRejects(() => job.signal("HUP"), JobPreconditionError, "it has ended");
  });
});

rootTest("signal: refused signals change nothing", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh("echo ready; sleep 30"));
    await waitForOutput(job, "ready");
    for (const bad of ["SEGV", "11", "CHLD", "nope"]) {
      await assertRejects(() => job.signal(bad), JobArgumentError, "is not a signal a job");
    }
    assertEquals(job.state, "running");
  });
});

rootTest("labels: shown in status, filter the list (all must match), checked", async () => {
  await withManager(async ({ manager }) => {
    const a = await manager.start(sh("true", { labels: { team: "infra", tier: "batch" } }));
    const b = await manager.start(sh("true", { labels: { team: "infra" } }));
    const c = await manager.start(sh("true"));
    await Promise.all([a.wait(), b.wait(), c.wait()]);
    assertEquals((await a.status()).labels, { team: "infra", tier: "batch" });
    assertEquals((await c.status()).labels, {});
    const ids = (labels: Record<string, string>) => manager.list({ labels }).map((j) => j.id);
    assertEquals(ids({ team: "infra" }), [a.id, b.id]);
    assertEquals(ids({ team: "infra", tier: "batch" }), [a.id]);
    assertEquals(ids({ team: "web" }), []);
    assertEquals(ids({}), [a.id, b.id, c.id]);
    await assertRejects(
      () => manager.start(sh("true", { labels: { "-bad": "x" } })),
      JobSpecError,
      'label key "-bad" is invalid',
    );
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"]));
    await assertRejects(() => manager.start(sh("true", { labels: many })), JobSpecError, "32");
    assertThrows(() => manager.list({ labels: { "a b": "c" } }), JobArgumentError);
    assertEquals(manager.list().length, 3);
  });
});

rootTest(
  "events: one per state change, numbered, replayed after since, kept across managers",
  async () => {
    await withManager(async ({ manager, dataDir, cgroupParent }) => {
      const first = manager.lastEventSeq;
      const watch = collect(manager);
      const exited = await manager.start(sh("exit 4", { labels: { k: "v" } }));
      await exited.wait();
      const stopped = await manager.start(sh("echo ready; sleep 30"));
      await waitForOutput(stopped, "ready");
      await stopped.stop({ graceMs: 1000 });
      const oom = await manager.start(
        sh("head -c 200000000 /dev/zero | tail > /dev/null", { limits: { memoryBytes: 32 << 20 } }),
      );
      await oom.wait();
      await waitUntil(() => watch.events.length === 7, "7 events", 10_000);
      watch.stop();
      assertEquals(summary(watch.events, exited.id), ["started", "exited 4"]);
      assertEquals(summary(watch.events, stopped.id), ["started", "stopped SIGTERM"]);
      assertEquals(summary(watch.events, oom.id).slice(0, 2), ["started", "oom-killed"]);
      assertEquals(watch.events.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7].map((n) => first + n));
      assertEquals(watch.events[0]!.labels, { k: "v" });

      // A job left running ends while no manager runs: the next one reports its end.
      const orphan = await manager.start(sh("echo ready; sleep 0.5"));
      await waitForOutput(orphan, "ready");
      await manager.close({ keepJobs: true });
      await waitUntil(async () => {
        const text = await Deno.readTextFile(`${dataDir}/jobs/${orphan.id}/reports`).catch(() =>
          ""
        );
        return text.includes('"exited"');
      }, "the orphan's end");
      const next = await JobManager.create({ dataDir, cgroupParent });
      try {
        const replay = collect(next, first + 3);
        replay.stop();
        assertEquals(replay.events.map((e) => e.seq)[0], first + 4);
        assertEquals(summary(replay.events, orphan.id), ["started", "exited 0"]);
        assertEquals(replay.events.at(-1)!.seq, next.lastEventSeq);
        assertEquals(
          new Set(replay.events.map((e) => e.seq)).size,
          replay.events.length,
          "an event repeated",
        );
        assertThrows(
          () => next.watchEvents(() => {}, { since: next.lastEventSeq + 1 }),
          JobEventsGoneError,
        );
        assertThrows(() => next.watchEvents(() => {}, { since: -1 }), JobArgumentError);
      } finally {
        await next.close({ graceMs: 0 });
      }
    });
  },
);

rootTest(
  "events: the oldest are dropped beyond keepEvents; resuming before them fails",
  async () => {
    await withManager(async ({ manager }) => {
      for (let i = 0; i < 3; i++) await (await manager.start(sh("true"))).wait();
      await waitUntil(() => manager.lastEventSeq === 6, "6 events");
      const err = assertThrows(
        () => manager.watchEvents(() => {}, { since: 0 }),
        JobEventsGoneError,
      );
      assertStringIncludes(err.message, "the oldest retained is 3");
      const kept = collect(manager, 2);
      kept.stop();
      assertEquals(kept.events.map((e) => e.seq), [3, 4, 5, 6]);
      assert(true);
    }, { manager: { keepEvents: 4 } });
  },
);
