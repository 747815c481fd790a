/**
 * The server process may die at any moment: SIGKILL it while jobs run,
 * while a client follows output, while a stop is under way; or let it exit
 * for an upgrade. A new server on the same data directory must find every
 * job, adopt the running ones (status, stop with grace, following output
 * byte-exact), and nothing of either server may be left afterwards.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import type { JobWorkerClient } from "../../src/api/client.ts";
import { findCgroupDirs, rootTest, streamAll, waitUntil } from "./_fixture.ts";
import {
  exitOf,
  firstOutput,
  type ProcessContext,
  processesUsing,
  serverWithClient,
  withProcesses,
} from "./_processes.ts";

const TICKS = 40;
const TICKER = `for i in $(seq 1 ${TICKS}); do echo "tick $i"; sleep 0.05; done`;
const EXPECTED_TICKS = Array.from({ length: TICKS }, (_, i) => `tick ${i + 1}\n`).join("");

/** A server on the test's data directory, its client as alice, and a way to kill it. */
function serverOn(ctx: ProcessContext, extra: string[] = []) {
  return serverWithClient(ctx, ["--shutdown-grace", "1", ...extra]);
}

async function sigkill(
  server: { server: { kill(s: Deno.Signal): void; status: Promise<Deno.CommandStatus> } },
) {
  server.server.kill("SIGKILL");
  const status = await server.server.status;
  assertEquals(status.signal, "SIGKILL");
}

/** After a clean exit: no process holds the data directory, no cgroup of the test is left. */
async function assertNothingLeft(ctx: ProcessContext, dataDir: string): Promise<void> {
  assertEquals(await processesUsing(dataDir), [], "processes of the server or its jobs remain");
  assertEquals(await findCgroupDirs(ctx.cgroupParent), [], "cgroups remain");
  const mounts = await Deno.readTextFile("/proc/self/mountinfo");
  assert(!mounts.includes(ctx.root), "a mount below the test's directory remains");
}

async function waitState(api: JobWorkerClient, id: string, state: string): Promise<void> {
  await waitUntil(async () => (await api.status(id)).state === state, `job ${id} ${state}`, 15_000);
}

rootTest(
  "crash: after SIGKILL of the server, jobs run on; a new server has every record, adopts, stops, follows byte-exact",
  async () => {
    await withProcesses(async (ctx) => {
      const first = await serverOn(ctx);
      const ticker = (await first.api.start({ command: "sh", args: ["-c", TICKER] })).id;
      const sleeper = (await first.api.start({
        command: "sh",
        args: ["-c", "trap 'echo graceful; exit 0' TERM; echo ready; while :; do sleep 0.05; done"],
      })).id;
      const ended = (await first.api.start({ command: "sh", args: ["-c", "echo early; exit 7"] }))
        .id;
      await waitState(first.api, ended, "exited");
      assertMatch(await firstOutput(first.api, ticker), /^tick 1\n/);
      assertEquals(await firstOutput(first.api, sleeper), "ready\n");
      first.api.close();
      await sigkill(first);

      // The jobs did not notice: their processes still hold their files.
      assert((await processesUsing(first.dataDir)).length >= 2, "the jobs died with the server");
      const second = await serverOn(ctx);
      assertStringIncludes(second.server.stdout, `adopted: job ${ticker}`);
      const jobs = await second.api.list();
      assertEquals(jobs.map((j) => j.id).sort(), [ticker, sleeper, ended].sort());
      const early = await second.api.status(ended);
      assertEquals([early.state, early.exitCode], ["exited", 7]);
      assertEquals(new TextDecoder().decode(await streamAll(second.api, ended)), "early\n");
      // Following the ticker from its first byte to its end: every byte once.
      assertEquals(new TextDecoder().decode(await streamAll(second.api, ticker)), EXPECTED_TICKS);
      assertEquals((await second.api.status(ticker)).state, "exited");
      // The sleeper is stopped with a grace period: its TERM handler runs.
      const stopped = await second.api.stop(sleeper, { graceSeconds: 5 });
      assertEquals([stopped.state, stopped.exitCode], ["stopped", 0]);
      assertMatch(
        new TextDecoder().decode(await streamAll(second.api, sleeper)),
        /^ready\n(.*\n)?graceful\n$/s,
      );

      second.api.close();
      second.server.kill("SIGTERM");
      await exitOf(second.server, 15_000);
      await assertNothingLeft(ctx, second.dataDir);
    });
  },
);

rootTest(
  "crash during a stream: the follower resumes at its offset against the new server, byte-exact",
  async () => {
    await withProcesses(async (ctx) => {
      const first = await serverOn(ctx);
      const ticker = (await first.api.start({ command: "sh", args: ["-c", TICKER] })).id;
      const received: Uint8Array[] = [];
      let offset = 0;
      const streaming = (async () => {
        try {
          for await (const chunk of first.api.streamOutput(ticker)) {
            received.push(chunk.data);
            offset = chunk.offset + chunk.data.length;
          }
          return "ended";
        } catch (err) {
          return `broke: ${(err as Error).message}`;
        }
      })();
      await waitUntil(() => offset >= "tick 1\ntick 2\n".length, "a few ticks followed");
      await sigkill(first);
      assertMatch(await streaming, /^broke/);
      const second = await serverOn(ctx);
      for await (const chunk of second.api.streamOutput(ticker, { offset })) {
        assertEquals(chunk.offset, offset, "no gap, no repeat");
        received.push(chunk.data);
        offset += chunk.data.length;
      }
      const all = new TextDecoder().decode(new Uint8Array(received.flatMap((c) => [...c])));
      assertEquals(all, EXPECTED_TICKS);
      second.api.close();
      second.server.kill("SIGTERM");
      await exitOf(second.server, 15_000);
      await assertNothingLeft(ctx, second.dataDir);
    });
  },
);

rootTest(
  "crash during a stop: the executor keeps the grace period and kills the job on time",
  async () => {
    await withProcesses(async (ctx) => {
      const first = await serverOn(ctx);
      const stubborn = (await first.api.start({
        command: "sh",
        args: ["-c", "trap 'echo got TERM' TERM; echo ready; while :; do sleep 0.05; done"],
      })).id;
      assertEquals(await firstOutput(first.api, stubborn), "ready\n");
      void first.api.stop(stubborn, { graceSeconds: 1.5 }).catch(() => {});
      await waitUntil(async () => {
        const out = await Deno.readTextFile(join(first.dataDir, "jobs", stubborn, "output"));
        return out.includes("got TERM");
      }, "TERM delivered");
      await sigkill(first);
      const t0 = performance.now();
      const second = await serverOn(ctx);
      await waitState(second.api, stubborn, "stopped");
      const took = performance.now() - t0;
      const status = await second.api.status(stubborn);
      assertEquals([status.state, status.signal], ["stopped", "SIGKILL"]);
      assert(took < 6_000, `the stop took ${took} ms after the crash`);
      second.api.close();
      second.server.kill("SIGTERM");
      await exitOf(second.server, 15_000);
      await assertNothingLeft(ctx, second.dataDir);
    });
  },
);

rootTest("upgrade: SIGUSR2 exits leaving jobs running; the next server adopts them", async () => {
  await withProcesses(async (ctx) => {
    const first = await serverOn(ctx);
    const ticker = (await first.api.start({ command: "sh", args: ["-c", TICKER] })).id;
    assertMatch(await firstOutput(first.api, ticker), /^tick 1\n/);
    first.api.close();
    first.server.kill("SIGUSR2");
    await exitOf(first.server, 10_000);
    assertStringIncludes(first.server.stdout, "leaving every job running for the next server");
    assert((await processesUsing(first.dataDir)).length >= 1, "the job did not outlive its server");
    const second = await serverOn(ctx);
    assertEquals(new TextDecoder().decode(await streamAll(second.api, ticker)), EXPECTED_TICKS);
    const status = await second.api.status(ticker);
    assertEquals([status.state, status.exitCode], ["exited", 0]);
    second.api.close();
    second.server.kill("SIGTERM");
    await exitOf(second.server, 15_000);
    await assertNothingLeft(ctx, second.dataDir);
  });
});

rootTest(
  "an executor that died while no server ran: its job is failed with the reason, cleaned up",
  async () => {
    await withProcesses(async (ctx) => {
      const first = await serverOn(ctx);
      const sleeper = (await first.api.start({
        command: "sh",
        args: ["-c", "echo ready; while :; do sleep 0.05; done"],
      })).id;
      assertEquals(await firstOutput(first.api, sleeper), "ready\n");
      first.api.close();
      await sigkill(first);
      // Kill what holds the job's files: its executor (and with it the job's namespace).
      for (const pid of await processesUsing(join(first.dataDir, "jobs", sleeper))) {
        Deno.kill(pid, "SIGKILL");
      }
      await waitUntil(
        async () => (await processesUsing(first.dataDir)).length === 0,
        "executor gone",
      );
      const second = await serverOn(ctx);
      const status = await second.api.status(sleeper);
      assertEquals(status.state, "failed");
      assertStringIncludes(status.error ?? "", "ended while no server was running");
      assertEquals(new TextDecoder().decode(await streamAll(second.api, sleeper)), "ready\n");
      second.api.close();
      second.server.kill("SIGTERM");
      await exitOf(second.server, 15_000);
      await assertNothingLeft(ctx, second.dataDir);
    });
  },
);
