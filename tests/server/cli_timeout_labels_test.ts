/**
 * The real CLI's `start --timeout` and `--label` against the real server:
 * a job its deadline stopped says so in `status` (human, wide, JSON), the
 * server's maximum is named when exceeded, bad syntax is refused before
 * anything is sent; labels show in `status` and `list -o wide`, and
 * `list --label` filters on the server (several: all of them).
 */
import { assert, assertEquals, assertLess, assertMatch, assertStringIncludes } from "@std/assert";
import { ok, rootTest, startedId, waitEnded, withServer } from "./_fixture.ts";

rootTest(
  "CLI start --timeout: the deadline stops the job, and status says it timed out",
  async () => {
    await withServer(async (ctx) => {
      const began = performance.now();
      const id = startedId(
        await ctx.cli("alice", ["start", "--timeout", "1s", "--", "sleep", "600"]),
      );
      const running = ok(await ctx.cli("alice", ["status", id]), "status").out;
      assertMatch(running, /^State: +running$/m);
      assertMatch(running, /^Timeout: +1s$/m);

      const final = await waitEnded(await ctx.client("alice"), id, 20_000);
      assertLess(performance.now() - began, 15_000);
      assertEquals([final.state, final.timedOut, final.signal], ["stopped", true, "SIGTERM"]);

      const status = ok(await ctx.cli("alice", ["status", id]), "status").out;
      assertMatch(status, /^State: +stopped \(timed out\)$/m);
      assertMatch(status, /^Exit: +SIGTERM$/m);
      assertMatch(status, /^Timeout: +1s$/m);
      const json = JSON.parse(ok(await ctx.cli("alice", ["status", id, "--json"]), "").out);
      assertEquals([json.state, json.timeoutMs, json.timedOut, json.signal], [
        "stopped",
        1000,
        true,
        "SIGTERM",
      ]);
      // status -w exits as for any stop: 143.
      assertEquals((await ctx.cli("alice", ["status", "-w", id])).code, 143);

      // Without --timeout: no deadline, and the output has no Timeout line.
      const plain = startedId(await ctx.cli("alice", ["start", "--", "true"]));
      await waitEnded(await ctx.client("alice"), plain);
      const plainStatus = ok(await ctx.cli("alice", ["status", plain]), "").out;
      assert(!plainStatus.includes("Timeout:") && !plainStatus.includes("Labels:"), plainStatus);
      const plainJson = JSON.parse(
        ok(await ctx.cli("alice", ["status", plain, "-o", "json"]), "").out,
      );
      assertEquals([plainJson.timeoutMs, plainJson.timedOut, plainJson.labels], [null, false, {}]);

      // Bad syntax: exit 2, nothing started.
      for (const bad of ["soon", "0", "1h 30m", "-1s"]) {
        const r = await ctx.cli("alice", ["start", `--timeout=${bad}`, "--", "true"]);
        assertEquals([r.code, r.out], [2, ""], bad);
        assertStringIncludes(r.stderr, "jobworker: --timeout: ");
      }
      const listed = JSON.parse(ok(await ctx.cli("alice", ["list", "--json"]), "").out);
      assertEquals(listed.length, 2, "the refused starts made no job");
    });
  },
);

rootTest(
  "CLI start --timeout: above the server's --max-timeout it is refused, naming it",
  async () => {
    await withServer(async (ctx) => {
      const r = await ctx.cli("alice", ["start", "--timeout", "1h30m", "--", "true"]);
      assertEquals([r.code, r.out], [1, ""]);
      assertStringIncludes(r.stderr, "--max-timeout");
      assertEquals(r.stderr.split("\n").length, 2, r.stderr);
      const fine = startedId(await ctx.cli("alice", ["start", "--timeout", "10m", "--", "true"]));
      const json = JSON.parse(ok(await ctx.cli("alice", ["status", fine, "--json"]), "").out);
      assertEquals(json.timeoutMs, 600_000);
    }, { manager: { maxTimeoutMs: 3_600_000 } });
  },
);

rootTest("CLI labels: shown by status and list -o wide; list --label filters (AND)", async () => {
  await withServer(async (ctx) => {
    const start = async (...labels: string[]) =>
      startedId(
        await ctx.cli("alice", ["start", ...labels.flatMap((l) => ["--label", l]), "--", "true"]),
      );
    const both = await start("team=infra", "tier=batch");
    const infra = await start("team=infra");
    const batch = await start("tier=batch", "example.com/owner=ops");
    const none = await start();

    const status = ok(await ctx.cli("alice", ["status", both]), "status").out;
    assertMatch(status, /^Labels: +team=infra,tier=batch$/m);
    const json = JSON.parse(ok(await ctx.cli("alice", ["status", batch, "--json"]), "").out);
    assertEquals(json.labels, { "example.com/owner": "ops", tier: "batch" });

    const ids = async (...args: string[]) =>
      ok(await ctx.cli("alice", ["list", ...args]), `list ${args.join(" ")}`).out
        .split("\n").slice(1).filter((l) => l !== "").map((l) => l.split(" ")[0]);
    assertEquals(await ids(), [both, infra, batch, none]);
    assertEquals(await ids("--label", "team=infra"), [both, infra]);
    assertEquals(await ids("--label", "tier=batch"), [both, batch]);
    assertEquals(await ids("--label", "team=infra", "--label", "tier=batch"), [both]);
    assertEquals(await ids("--label", "team=ops"), []);
    assertEquals(await ids("--label", "example.com/owner=ops", "--state", "running"), []);
    const listJson = JSON.parse(
      ok(await ctx.cli("alice", ["list", "-o", "json", "--label", "tier=batch"]), "").out,
    );
    assertEquals(listJson.map((j: { id: string }) => j.id), [both, batch]);

    // The wide table: a LABELS column, "-" for a job without.
    const wide = ok(await ctx.cli("alice", ["list", "-o", "wide"]), "list -o wide").out.split("\n");
    assertMatch(wide[0]!, / OUTPUT +LABELS +COMMAND$/);
    assertMatch(wide.find((l) => l.startsWith(both))!, / team=infra,tier=batch +true$/);
    assertMatch(wide.find((l) => l.startsWith(none))!, / - +true$/);
    // Without labels among the jobs listed, the columns are those of before.
    const plain = ok(await ctx.cli("alice", ["status", none, "-o", "wide"]), "").out;
    assert(!plain.includes("LABELS"), plain);

    // Bad labels: exit 2, nothing sent.
    for (const bad of ["team", "a b=c", "k=no spaces", "=v"]) {
      const r = await ctx.cli("alice", ["start", "--label", bad, "--", "true"]);
      assertEquals([r.code, r.out], [2, ""], bad);
      assertStringIncludes(r.stderr, "jobworker: --label: ");
      const l = await ctx.cli("alice", ["list", "--label", bad]);
      assertEquals(l.code, 2, bad);
    }
    await waitEnded(await ctx.client("alice"), none);
    assertEquals((await ids()).length, 4);
  });
});
