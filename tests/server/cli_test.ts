/**
 * The real CLI, as a subprocess, against the real server: start, status
 * (table and JSON), logs (snapshot and follow), stop, list, limits.
 */
import {
  assert,
  assertEquals,
  assertGreaterOrEqual,
  assertLess,
  assertMatch,
  assertStringIncludes,
} from "@std/assert";
import {
  type CliResult,
  decoder,
  ok,
  rootTest,
  streamAll,
  UUID_RE,
  waitEnded,
  waitUntil,
  withServer,
} from "./_fixture.ts";

/** `start` prints exactly the id and a newline; returns the id. */
function startedId(result: CliResult): string {
  ok(result, "start");
  assertMatch(result.out, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$/);
  assertEquals(result.stderr, "");
  return result.out.trimEnd();
}

// Bytes a job prints with printf: NUL, 0xff, a CR, no trailing newline at the end.
const SCRIPT_BYTES = String.raw`printf 'first\n\000\377\r\nlast'`;
const EXPECTED_BYTES = new Uint8Array([
  ...new TextEncoder().encode("first\n"),
  0x00,
  0xff,
  0x0d,
  0x0a,
  ...new TextEncoder().encode("last"),
]);

rootTest(
  "CLI: start prints only the id; status, status --json, logs give exact answers",
  async () => {
    await withServer(async (ctx) => {
      const id = startedId(await ctx.cli("alice", ["start", "--", "sh", "-c", SCRIPT_BYTES]));
      assertMatch(id, UUID_RE);

      const api = await ctx.client("alice");
      const final = await waitEnded(api, id);
      assertEquals(final.state, "exited");
      assertEquals(final.exitCode, 0);

      // status: a table of key/value lines.
      const table = ok(await ctx.cli("alice", ["status", id]), "status").out;
      assertMatch(table, new RegExp(`^ID: +${id}$`, "m"));
      assertMatch(table, /^Owner: +alice$/m);
      assertMatch(table, /^State: +exited$/m);
      assertMatch(table, /^Exit: +0$/m);
      assertMatch(table, /^Command: +sh -c /m);

      // status --json: every documented field, with the right values.
      const json = JSON.parse(ok(await ctx.cli("alice", ["status", id, "--json"]), "status").out);
      assertEquals(json.id, id);
      assertEquals(json.owner, "alice");
      assertEquals(json.command, "sh");
      assertEquals(json.args, ["-c", SCRIPT_BYTES]);
      assertEquals(json.state, "exited");
      assertEquals(json.exitCode, 0);
      assertEquals(json.signal, null);
      assertEquals(json.oomKilled, false);
      assert(!Number.isNaN(Date.parse(json.startedAt)), `startedAt ${json.startedAt}`);
      assert(!Number.isNaN(Date.parse(json.endedAt)), `endedAt ${json.endedAt}`);
      assert(Date.parse(json.endedAt) >= Date.parse(json.startedAt));
      assertLess(Math.abs(Date.now() - Date.parse(json.startedAt)), 60_000);
      // Defaults filled in: 1 core, 512 MiB, 1024 pids, IO unlimited.
      assertEquals(json.limits, {
        cpu: 1,
        memoryBytes: 512 * 1024 * 1024,
        ioReadBps: null,
        ioWriteBps: null,
        pids: 1024,
      });

      // logs: byte for byte, including NUL, 0xff and no final newline.
      const logs = ok(await ctx.cli("alice", ["logs", id]), "logs");
      assertEquals(logs.stdout, EXPECTED_BYTES);
      assertEquals(logs.stderr, "");
      // logs --offset: the suffix.
      const tail = ok(await ctx.cli("alice", ["logs", id, "--offset", "6"]), "logs --offset");
      assertEquals(tail.stdout, EXPECTED_BYTES.slice(6));

      // The same through --user/--certs-dir.
      const byUser = ok(await ctx.cli("alice", ["logs", id], { byUser: true }), "logs --user");
      assertEquals(byUser.stdout, EXPECTED_BYTES);
    });
  },
);

rootTest("CLI: logs -f follows a running job to its end; stop --grace ends a sleep", async () => {
  await withServer(async (ctx) => {
    const api = await ctx.client("alice");
    // ~2 s of numbered lines.
    const id = startedId(
      await ctx.cli("alice", [
        "start",
        "--",
        "sh",
        "-c",
        "i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo line $i; sleep 0.05; done",
      ]),
    );
    const follower = ctx.spawnCli("alice", ["logs", id, "-f"]);
    // The follower was started while the job runs.
    assertEquals((await api.status(id)).state, "running");
    const followed = ok(await follower.result, "logs -f");
    assertEquals((await api.status(id)).state, "exited");
    const expected = Array.from({ length: 40 }, (_, i) => `line ${i + 1}\n`).join("");
    assertEquals(followed.out, expected);
    assertEquals(followed.stdout, await streamAll(api, id));

    // stop --grace 1 of a sleep 600: stopped by SIGTERM (sleep does not trap it).
    const sleeper = startedId(await ctx.cli("alice", ["start", "--", "sleep", "600"]));
    assertEquals((await api.status(sleeper)).state, "running");
    const began = performance.now();
    const stop = ok(await ctx.cli("alice", ["stop", sleeper, "--grace", "1", "--json"]), "stop");
    assertLess(performance.now() - began, 10_000);
    const stopped = JSON.parse(stop.out);
    assertEquals(stopped.id, sleeper);
    assertEquals(stopped.state, "stopped");
    assertEquals(stopped.signal, "SIGTERM");
    assertEquals(stopped.exitCode, null);
    assert(stopped.endedAt !== null);
    const status = ok(await ctx.cli("alice", ["status", sleeper]), "status").out;
    assertMatch(status, /^State: +stopped$/m);
    assertMatch(status, /^Exit: +SIGTERM$/m);

    // stop (table) of a job that traps TERM: SIGKILL after the grace period.
    const stubborn = startedId(
      await ctx.cli("alice", ["start", "--", "sh", "-c", "trap '' TERM; echo ready; sleep 600"]),
    );
    await waitUntil(
      async () => decoder.decode(await streamAllSoFar(ctx, stubborn)).includes("ready"),
      "the stubborn job traps TERM",
    );
    const t0 = performance.now();
    const killed = ok(await ctx.cli("alice", ["stop", stubborn, "--grace", "0.5"]), "stop").out;
    const took = performance.now() - t0;
    assertGreaterOrEqual(took, 500, `stop returned after ${took} ms, before the grace period`);
    assertMatch(killed, /^State: +stopped$/m);
    assertMatch(killed, /^Exit: +SIGKILL$/m);
  });
});

/** The output of a job so far (a snapshot through the CLI's logs). */
async function streamAllSoFar(
  ctx: Parameters<Parameters<typeof withServer>[0]>[0],
  id: string,
): Promise<Uint8Array> {
  return ok(await ctx.cli("alice", ["logs", id]), "logs").stdout;
}

rootTest("CLI: list and list --json show the job; start limits show in status --json", async () => {
  await withServer(async (ctx) => {
    const id = startedId(
      await ctx.cli("alice", [
        "start",
        "--cpu",
        "0.5",
        "--memory",
        "64M",
        "--pids",
        "20",
        "--",
        "true",
      ]),
    );
    const json = JSON.parse(ok(await ctx.cli("alice", ["status", id, "--json"]), "status").out);
    assertEquals(json.limits, {
      cpu: 0.5,
      memoryBytes: 67108864,
      ioReadBps: null,
      ioWriteBps: null,
      pids: 20,
    });
    assertEquals(json.command, "true");
    assertEquals(json.args, []);

    const other = startedId(await ctx.cli("alice", ["start", "--", "echo", "hi"]));
    const table = ok(await ctx.cli("alice", ["list"]), "list").out.split("\n");
    assertMatch(table[0]!, /^ID +OWNER +STATE +EXIT +STARTED +COMMAND$/);
    const row = table.find((line) => line.startsWith(id));
    assert(row !== undefined, `no row for ${id} in ${JSON.stringify(table)}`);
    assertMatch(row, new RegExp(`^${id} +alice +(running|exited) +(-|0) +\\S+ +true$`));
    assert(table.some((line) => line.startsWith(other)), "the second job is listed");
    // Oldest first.
    assertLess(
      table.findIndex((l) => l.startsWith(id)),
      table.findIndex((l) => l.startsWith(other)),
    );

    const list = JSON.parse(ok(await ctx.cli("alice", ["list", "--json"]), "list").out);
    assert(Array.isArray(list));
    assertEquals(list.map((j: { id: string }) => j.id), [id, other]);
    assertEquals(list[0].owner, "alice");
    assertEquals(list[0].limits.memoryBytes, 67108864);
    assertStringIncludes(JSON.stringify(list[1].args), "hi");
  });
});
