/**
 * Job control through the API: Start's timeout (and the server's maximum),
 * Signal (authorization as Stop, bad signals, ended jobs), labels on Start
 * and the List filter, and WatchEvents (own events only, an admin's all,
 * label filter, resuming with since, OUT_OF_RANGE beyond retention).
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { status as grpcStatus } from "@grpc/grpc-js";
import type { JobWorkerClient } from "../../src/api/client.ts";
import type { JobEvent } from "../../src/job/mod.ts";
import { apiFailure, rootTest, waitEnded, waitUntil, withServer } from "./_fixture.ts";

/** Events of `client`'s stream, collected until `stop()`. */
function watch(
  client: JobWorkerClient,
  options: { labels?: Record<string, string>; since?: number } = {},
) {
  const events: JobEvent[] = [];
  const abort = new AbortController();
  const done = (async () => {
    for await (const e of client.watchEvents({ ...options, signal: abort.signal })) events.push(e);
  })();
  return {
    events,
    async stop() {
      abort.abort();
      await done;
    },
    done,
  };
}

const brief = (e: JobEvent) => `${e.type}${e.exitCode === null ? "" : ` ${e.exitCode}`}`;

rootTest(
  "API: timeout_seconds stops the job at its deadline; above --max-timeout is refused",
  async () => {
    await withServer(async (ctx) => {
      const alice = await ctx.client("alice");
      const { id, status } = await alice.start({
        command: "sh",
        args: ["-c", "echo ready; sleep 30"],
        timeoutMs: 500,
      });
      assertEquals(status.timeoutMs, 500);
      const ended = await waitEnded(alice, id);
      assertEquals([ended.state, ended.timedOut], ["stopped", true]);
      const err = await apiFailure(() => alice.start({ command: "true", timeoutMs: 2 * 3600_000 }));
      assertEquals(err.code, grpcStatus.INVALID_ARGUMENT);
      assertEquals(
        err.message,
        "Cannot start job: timeout 2h is more than this server allows (--max-timeout 1h)",
      );
      assertEquals((await alice.list()).length, 1);
    }, { manager: { maxTimeoutMs: 3600_000 } });
  },
);

rootTest(
  "API: Signal reaches the job; others' jobs are NOT_FOUND, admins may; bad input changes nothing",
  async () => {
    await withServer(async (ctx) => {
      const alice = await ctx.client("alice");
      const bob = await ctx.client("bob");
      const admin = await ctx.client("admin");
      const { id } = await alice.start({
        command: "sh",
        args: ["-c", "trap 'echo got USR1' USR1; echo ready; while :; do sleep 0.05; done"],
      });
      await waitUntil(async () => (await ctx.manager.get(id).status()).output.bytes! > 0, "ready");
      const read = async () => {
        const reader = ctx.manager.get(id).output({ follow: false });
        let text = "";
        for await (const c of reader) text += new TextDecoder().decode(c.data);
        return text;
      };
      const status = await alice.signal(id, "usr1");
      assertEquals(status.state, "running");
      await waitUntil(async () => (await read()).split("got USR1").length === 2, "USR1 of alice");
      // One at a time: a second USR1 before the trap ran would merge with the first.
      await admin.signal(id, "SIGUSR1");
      await waitUntil(async () => (await read()).split("got USR1").length === 3, "USR1 of admin");

      assertEquals((await apiFailure(() => bob.signal(id, "USR1"))).code, grpcStatus.NOT_FOUND);
      const bad = await apiFailure(() => alice.signal(id, "SEGV"));
      assertEquals(bad.code, grpcStatus.INVALID_ARGUMENT);
      assertStringIncludes(bad.message, "is not a signal a job may be sent");
      assertEquals(
        (await apiFailure(() => alice.signal("nope", "HUP"))).code,
        grpcStatus.INVALID_ARGUMENT,
      );

      await alice.signal(id, "TERM", { all: true });
      const ended = await waitEnded(alice, id);
      assertEquals([ended.state, ended.signal], ["exited", "SIGTERM"]);
      const late = await apiFailure(() => alice.signal(id, "HUP"));
      assertEquals(late.code, grpcStatus.FAILED_PRECONDITION);
      assertMatch(late.message, /^Cannot signal job [0-9a-f-]{36}: it has ended \(exited\)$/);
    });
  },
);

rootTest("API: labels on Start, in status, List filtered by every label given", async () => {
  await withServer(async (ctx) => {
    const alice = await ctx.client("alice");
    const a = (await alice.start({ command: "true", labels: { team: "infra", tier: "batch" } })).id;
    const b = (await alice.start({ command: "true", labels: { team: "infra" } })).id;
    await alice.start({ command: "true" });
    assertEquals((await alice.status(a)).labels, { team: "infra", tier: "batch" });
    assertEquals((await alice.list({ labels: { team: "infra" } })).map((j) => j.id), [a, b]);
    assertEquals(
      (await alice.list({ labels: { team: "infra", tier: "batch" } })).map((j) => j.id),
      [a],
    );
    const bad = await apiFailure(() => alice.start({ command: "true", labels: { "a b": "c" } }));
    assertEquals(bad.code, grpcStatus.INVALID_ARGUMENT);
    assertStringIncludes(bad.message, 'label key "a b" is invalid');
    const badFilter = await apiFailure(() => alice.list({ labels: { "": "x" } }));
    assertEquals(badFilter.code, grpcStatus.INVALID_ARGUMENT);
    assertEquals((await alice.list()).length, 3);
  });
});

rootTest(
  "API: WatchEvents: own events live, an admin's all, label filter, resume with since",
  async () => {
    await withServer(async (ctx) => {
      const alice = await ctx.client("alice");
      const bob = await ctx.client("bob");
      const admin = await ctx.client("admin");
      const aliceWatch = watch(alice);
      const adminWatch = watch(admin);
      const labelled = watch(alice, { labels: { team: "infra" } });
      // A stream is live once the server holds it; give the three a moment.
      await new Promise((r) => setTimeout(r, 300));
      const a1 =
        (await alice.start({ command: "sh", args: ["-c", "exit 3"], labels: { team: "infra" } }))
          .id;
      await waitEnded(alice, a1);
      const b1 = (await bob.start({ command: "true" })).id;
      await waitEnded(bob, b1);
      const a2 = (await alice.start({ command: "sleep", args: ["30"] })).id;
      await alice.stop(a2, { graceSeconds: 0 });
      await waitUntil(() => adminWatch.events.length === 6, "six events for the admin");
      await waitUntil(() => aliceWatch.events.length === 4, "four events for alice");
      await aliceWatch.stop();
      await adminWatch.stop();
      await labelled.stop();
      assertEquals(aliceWatch.events.map((e) => `${e.id === a1 ? "a1" : "a2"} ${brief(e)}`), [
        "a1 started",
        "a1 exited 3",
        "a2 started",
        "a2 stopped",
      ]);
      assert(aliceWatch.events.every((e) => e.owner === "alice"));
      assertEquals(adminWatch.events.filter((e) => e.id === b1).map(brief), [
        "started",
        "exited 0",
      ]);
      assertEquals(labelled.events.map(brief), ["started", "exited 3"]);
      assertEquals(labelled.events[0]!.labels, { team: "infra" });
      const seqs = adminWatch.events.map((e) => e.seq);
      assertEquals(seqs, seqs.map((_, i) => seqs[0]! + i), "numbers without gaps");

      // Resuming after the second of alice's events gives exactly the rest.
      const since = aliceWatch.events[1]!.seq;
      const resumed = watch(alice, { since });
      await waitUntil(() => resumed.events.length === 2, "the two later events");
      await new Promise((r) => setTimeout(r, 200));
      await resumed.stop();
      assertEquals(resumed.events.map((e) => e.seq), aliceWatch.events.slice(2).map((e) => e.seq));

      // The header says where "from now on" began: the newest number then.
      let lastSeq = -1;
      const abort = new AbortController();
      const headed = (async () => {
        for await (
          const _ of alice.watchEvents({ signal: abort.signal, onWatching: (n) => (lastSeq = n) })
        ) {
          // No events come: nothing is started meanwhile.
        }
      })();
      await waitUntil(() => lastSeq !== -1, "the jobworker-last-seq header");
      assertEquals(lastSeq, ctx.manager.lastEventSeq);
      abort.abort();
      await headed;

      const gone = watch(alice, { since: seqs.at(-1)! + 5 });
      const err = await apiFailure(() => gone.done);
      assertEquals(err.code, grpcStatus.OUT_OF_RANGE);
      assertStringIncludes(err.message, "Cannot replay events after");
    });
  },
);
