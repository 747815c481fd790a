/**
 * Who a job runs as, through the real server: a fresh uid of its own by
 * default; `runAs` only within what the server allows the caller; root only
 * with --allow-root-jobs, and even then without any capability.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { status as grpcStatus } from "@grpc/grpc-js";
import type { JobWorkerClient } from "../../src/api/client.ts";
import { parseIdRanges } from "../../src/job/mod.ts";
import { apiFailure, rootTest, streamAll, withServer } from "./_fixture.ts";

const SCRIPT = "id -u; id -g; id -G; grep CapEff /proc/self/status";

async function runAs(client: JobWorkerClient, runAs?: { uid: number; gid?: number }) {
  const { id } = await client.start({
    command: "sh",
    args: ["-c", SCRIPT],
    ...(runAs === undefined ? {} : { runAs }),
  });
  const out = new TextDecoder().decode(await streamAll(client, id));
  return { id, lines: out.trim().split("\n"), status: await client.status(id) };
}

rootTest(
  "runAs: refused unless allowed; admins may be allowed more; root never by default",
  async () => {
    await withServer(async (ctx) => {
      const alice = await ctx.client("alice");
      const admin = await ctx.client("admin");
      const own = await runAs(alice);
      assert(own.status.uid >= 61184 && own.status.uid <= 65519, `uid ${own.status.uid}`);
      assertEquals(own.lines, [
        String(own.status.uid),
        String(own.status.uid),
        String(own.status.uid),
        "CapEff:\t0000000000000000",
      ]);
      assertEquals(own.status.gid, own.status.uid);

      const asked = await runAs(alice, { uid: 1500, gid: 1600 });
      assertEquals(asked.lines.slice(0, 3), ["1500", "1600", "1600"]);
      assertEquals([asked.status.uid, asked.status.gid], [1500, 1600]);

      const jobsBefore = (await alice.list()).length;
      for (
        const [who, client, ids, pattern] of [
          ["alice", alice, { uid: 2500 }, /uid 2500 is not allowed \(allowed: 1000-1999\)/],
          ["alice", alice, { uid: 0 }, /uid 0 \(root\) is not allowed on this server/],
          ["alice", alice, { uid: 1500, gid: 0 }, /gid 0 \(root\) is not allowed/],
          ["alice", alice, { uid: 61190 }, /reserved for jobs' own users/],
          ["admin", admin, { uid: 0 }, /uid 0 \(root\) is not allowed on this server/],
        ] as const
      ) {
        const err = await apiFailure(() => runAs(client, ids));
        assertEquals(err.code, grpcStatus.PERMISSION_DENIED, `${who} ${JSON.stringify(ids)}`);
        assertMatch(err.message, pattern);
      }
      assertEquals((await alice.list()).length, jobsBefore, "a refused start left a job behind");
      const adminWider = await runAs(admin, { uid: 2500 });
      assertEquals(adminWider.lines[0], "2500");

      // The CLI's --run-as.
      const cli = await ctx.cli("alice", ["start", "--run-as", "1234:1235", "--", "id", "-u"]);
      assertEquals(cli.code, 0, cli.stderr);
      const shown = await ctx.cli("alice", [
        "status",
        new TextDecoder().decode(cli.stdout).trim(),
        "--json",
      ]);
      const json = JSON.parse(new TextDecoder().decode(shown.stdout));
      assertEquals([json.uid, json.gid], [1234, 1235]);
      const denied = await ctx.cli("alice", ["start", "--run-as", "0", "--", "id"]);
      assertEquals(denied.code, 1);
      assertMatch(
        denied.stderr,
        /^jobworker: cannot start job: running as uid 0 \(root\) is not allowed/,
      );
    }, {
      manager: { allowRunAs: parseIdRanges("1000-1999") },
      adminRunAs: parseIdRanges("0-2999"),
    });
  },
);

rootTest("runAs root with --allow-root-jobs: uid 0, still no capability", async () => {
  await withServer(async (ctx) => {
    const admin = await ctx.client("admin");
    const root = await runAs(admin, { uid: 0 });
    assertEquals(root.lines, ["0", "0", "0", "CapEff:\t0000000000000000"]);
    // Without caps, root cannot leave its root-owned, read-only view: writes still fail.
    const { id } = await admin.start({
      command: "sh",
      args: ["-c", "touch /etc/jw-root-attack 2>&1; mount -t tmpfs none /mnt 2>&1; echo done"],
      runAs: { uid: 0 },
    });
    const out = new TextDecoder().decode(await streamAll(admin, id));
    assertMatch(out, /Read-only file system/);
    assertMatch(out, /(permission denied|Operation not permitted|must be superuser)/i);
  }, {
    manager: { allowRootJobs: true },
    adminRunAs: parseIdRanges("0"),
  });
});
