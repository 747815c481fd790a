/**
 * What the job library keeps and bounds: records that a new manager finds
 * again, the output cap, a full disk, retention, and admission limits.
 * (Crashes and restarts of the server process: tests/server/durability_test.ts.)
 */
import {
  assert,
  assertEquals,
  assertGreater,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { join } from "node:path";
import { JobExhaustedError, JobManager, JobNotFoundError } from "../../src/job/mod.ts";
import {
  exists,
  outputText,
  readAll,
  rootTest,
  runCommand,
  sh,
  sleep,
  waitForOutput,
  withManager,
} from "./_fixture.ts";

rootTest(
  "records: a new manager on the same data directory lists every ended job again",
  async () => {
    await withManager(async ({ manager, dataDir, cgroupParent }) => {
      const ok = await manager.start(sh("echo one; exit 3"));
      const stopped = await manager.start(sh("echo two; sleep 30"));
      await waitForOutput(stopped, "two");
      await stopped.stop({ graceMs: 0 });
      const before = await Promise.all([ok.wait(), stopped.status()]);
      for (const name of ["record.json", "reports", "output"]) {
        assert(await exists(join(dataDir, "jobs", ok.id, name)), name);
      }
      const again = await JobManager.create({ dataDir, cgroupParent: `${cgroupParent}-2` });
      try {
        const found = again.list();
        assertEquals(found.map((j) => j.id), [ok.id, stopped.id]);
        const after = await Promise.all(found.map((j) => j.status()));
        assertEquals(after, before);
        assertEquals(await outputText(again.get(ok.id)), "one\n");
        assertEquals(await outputText(again.get(stopped.id)), "two\n");
      } finally {
        await again.close();
      }
    });
  },
);

rootTest(
  "output beyond the cap is discarded, the job is not held up, the status says so",
  async () => {
    await withManager(async ({ manager }) => {
      // 200 KB through a 1000-byte cap, then a line: the job must get to its end.
      const job = await manager.start({
        ...sh("head -c 200000 /dev/zero | tr '\\0' x; echo; echo finished >&2; exit 4"),
        maxOutputBytes: 1000,
      });
      const status = await job.wait();
      const bytes = await readAll(job);
      assertEquals(status.exitCode, 4);
      assertEquals(bytes.length, 1000);
      assertEquals(status.output, { bytes: 1000, maxBytes: 1000, truncated: true, error: null });
      // Exactly at the cap is not a truncation.
      const exact = await manager.start({ ...sh("printf 12345"), maxOutputBytes: 5 });
      assertEquals((await exact.wait()).output.truncated, false);
      assertEquals((await exact.wait()).output.bytes, 5);
      // A job may not ask for more than the manager allows.
      await assertRejects(
        () => manager.start({ ...sh("true"), maxOutputBytes: 2 ** 40 }),
        Error,
        "--max-output",
      );
    }, { manager: { maxOutputBytes: 1024 ** 3 } });
  },
);

rootTest(
  "a full data directory: the job's status says so, other output stays, starts are refused",
  async () => {
    const mnt = await Deno.makeTempDir({ prefix: "jobworker-test-small-" });
    assertEquals(
      (await runCommand("mount", ["-t", "tmpfs", "-o", "size=16m", "none", mnt])).code,
      0,
    );
    try {
      await withManager(async ({ manager }) => {
        const earlier = await manager.start(sh("echo kept"));
        await earlier.wait();
        // 32 MiB into 16 MiB: the disk fills; the job itself does not notice.
        const filler = await manager.start(sh("head -c 33554432 /dev/zero; echo done >&2"));
        const status = await filler.wait();
        console.log(`  the filler's status: ${JSON.stringify(status.output)}`);
        assertEquals(status.exitCode, 0);
        assertStringIncludes(status.output.error ?? "", "disk is full (ENOSPC)");
        assertGreater(status.output.bytes ?? 0, 0);
        assertEquals(await outputText(earlier), "kept\n");
        const refused = await assertRejects(
          () => manager.start(sh("echo hello")),
          JobExhaustedError,
        );
        assertMatch(
          refused.message,
          /the data directory has .* free, less than the reserve .*--min-free/,
        );
      }, { manager: { dataDir: join(mnt, "data"), minFreeBytes: 4 * 1024 ** 2 } });
    } finally {
      await runCommand("umount", ["-l", mnt]);
      await Deno.remove(mnt, { recursive: true });
    }
  },
);

rootTest(
  "retention: the oldest ended jobs beyond the count, or older than the period, go",
  async () => {
    await withManager(async ({ manager, dataDir }) => {
      const jobs = [];
      for (const i of [1, 2, 3, 4]) {
        const job = await manager.start(sh(`echo ${i}`));
        await job.wait();
        jobs.push(job);
      }
      await sleep(100); // the sweep after the last end
      const kept = manager.list().map((j) => j.id);
      assertEquals(kept, [jobs[2]!.id, jobs[3]!.id]);
      assertEquals(await exists(join(dataDir, "jobs", jobs[0]!.id)), false);
      assert(await exists(join(dataDir, "jobs", jobs[3]!.id, "output")));
      let err: unknown;
      try {
        manager.get(jobs[0]!.id);
      } catch (e) {
        err = e;
      }
      assert(err instanceof JobNotFoundError);
    }, { manager: { retainCount: 2 } });

    await withManager(async ({ manager }) => {
      const old = await manager.start(sh("echo old"));
      await old.wait();
      await sleep(400);
      const fresh = await manager.start(sh("echo fresh"));
      await fresh.wait();
      await sleep(100);
      assertEquals(manager.list().map((j) => j.id), [fresh.id]);
    }, { manager: { retainMs: 300 } });
  },
);

rootTest("admission: total, per user and memory limits refuse with the limit named", async () => {
  const MiB = 1024 ** 2;
  const small = { limits: { memoryBytes: 16 * MiB } };
  await withManager(async ({ manager }) => {
    const a1 = await manager.start(sh("sleep 30", small), { owner: "alice" });
    const perUser = await assertRejects(
      () => manager.start(sh("true", small), { owner: "alice" }),
      JobExhaustedError,
    );
    assertStringIncludes(perUser.message, '"alice" has 1 running jobs');
    assertStringIncludes(perUser.message, "--max-jobs-per-user 1");
    const memory = await assertRejects(
      () => manager.start(sh("true", { limits: { memoryBytes: 64 * MiB } }), { owner: "carol" }),
      JobExhaustedError,
    );
    assertStringIncludes(memory.message, "--max-memory 48 MiB");
    const b1 = await manager.start(sh("sleep 30", small), { owner: "bob" });
    const total = await assertRejects(
      () => manager.start(sh("true", small), { owner: "carol" }),
      JobExhaustedError,
    );
    assertStringIncludes(
      total.message,
      "2 jobs are running, the most this server allows (--max-jobs 2)",
    );
    // Nothing was created by the refusals.
    assertEquals(manager.list().length, 2);
    await a1.stop({ graceMs: 0 });
    // A slot freed: a start succeeds again.
    const c1 = await manager.start(sh("true", small), { owner: "carol" });
    await c1.wait();
    await b1.stop({ graceMs: 0 });
  }, { manager: { maxJobs: 2, maxJobsPerUser: 1, maxMemoryBytes: 48 * MiB } });
});
