/**
 * Isolation between users: another user's job is answered exactly like a
 * job that does not exist; admins see and control every job.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { status as grpcStatus } from "@grpc/grpc-js";
import { ApiError, type JobWorkerClient } from "../../src/api/client.ts";
import { apiFailure, rootTest, streamChunks, withServer } from "./_fixture.ts";

/** The message with the id replaced, so answers for different ids can be compared. */
function shape(err: ApiError, id: string): string {
  return err.message.replaceAll(id, "<ID>");
}

type Probe = (client: JobWorkerClient, id: string) => Promise<unknown>;

const PROBES: Record<string, Probe> = {
  status: (c, id) => c.status(id),
  stop: (c, id) => c.stop(id, { graceSeconds: 0 }),
  logs: (c, id) => streamChunks(c, id),
  "logs from offset": (c, id) => streamChunks(c, id, { offset: 3 }),
  signal: (c, id) => c.signal(id, "HUP"),
  "signal all": (c, id) => c.signal(id, "KILL", { all: true }),
};

rootTest(
  "isolation: bob gets the same NOT_FOUND for alice's job as for no job at all",
  async () => {
    await withServer(async (ctx) => {
      const alice = await ctx.client("alice");
      const bob = await ctx.client("bob");
      const { id } = await alice.start({ command: "sh", args: ["-c", "echo secret; sleep 600"] });
      const bobsJob = (await bob.start({ command: "sleep", args: ["600"] })).id;
      const missing = crypto.randomUUID();

      for (const [name, probe] of Object.entries(PROBES)) {
        const forAlices = await apiFailure(() => probe(bob, id));
        const forMissing = await apiFailure(() => probe(bob, missing));
        assertEquals(forAlices.code, grpcStatus.NOT_FOUND, `${name} of alice's job`);
        assertEquals(forMissing.code, grpcStatus.NOT_FOUND, `${name} of a missing job`);
        assertMatch(forAlices.message, /^Job "[0-9a-f-]{36}" not found$/, name);
        assertEquals(shape(forAlices, id), shape(forMissing, missing), name);
      }
      // The same through the CLI: identical stderr (but for the id) and exit status.
      for (const args of [["status"], ["stop", "--grace", "0"], ["logs"]]) {
        const [command, ...rest] = args;
        const a = await ctx.cli("bob", [command!, id, ...rest]);
        const m = await ctx.cli("bob", [command!, missing, ...rest]);
        assertEquals(a.code, 1, `${command}: ${a.stderr}`);
        assertEquals(m.code, 1);
        assertEquals(a.stdout.length, 0);
        assertEquals(a.stderr.replaceAll(id, "<ID>"), m.stderr.replaceAll(missing, "<ID>"));
        assertMatch(a.stderr, /^jobworker: job "[0-9a-f-]{36}" not found\n$/i);
      }

      // Bob's attempts changed nothing: alice's job still runs.
      assertEquals((await alice.status(id)).state, "running");

      // Bob's list holds only bob's job, alice's only hers.
      assertEquals((await bob.list()).map((j) => j.id), [bobsJob]);
      assertEquals((await alice.list()).map((j) => j.id), [id]);

      // The admin lists both users' jobs, and reads, stops alice's.
      const admin = await ctx.client("admin");
      const all = await admin.list();
      assertEquals(all.map((j) => j.id), [id, bobsJob]);
      assertEquals(all.map((j) => j.owner), ["alice", "bob"]);
      const seen = await admin.status(id);
      assertEquals(seen.owner, "alice");
      assertEquals(seen.state, "running");
      const firstChunk = await (async () => {
        for await (const chunk of admin.streamOutput(id)) return chunk;
      })();
      assert(firstChunk !== undefined);
      assertEquals(new TextDecoder().decode(firstChunk.data), "secret\n");
      const stopped = await admin.stop(id, { graceSeconds: 0.5 });
      assertEquals(stopped.state, "stopped");
      assertEquals(stopped.owner, "alice");
      assertEquals((await alice.status(id)).state, "stopped");

      // The admin through the CLI sees both owners.
      const listed = await ctx.cli("admin", ["list", "--json"]);
      assertEquals(listed.code, 0, listed.stderr);
      assertEquals(
        JSON.parse(listed.out).map((j: { owner: string }) => j.owner),
        ["alice", "bob"],
      );
    });
  },
);

rootTest(
  "an allow-list refuses other users with PERMISSION_DENIED; admins still pass",
  async () => {
    await withServer(async (ctx) => {
      const alice = await ctx.client("alice");
      const bob = await ctx.client("bob");
      const admin = await ctx.client("admin");
      const { id } = await alice.start({ command: "true" });
      for (const call of [() => bob.list(), () => bob.start({ command: "true" })]) {
        const err = await apiFailure(call);
        assertEquals(err.code, grpcStatus.PERMISSION_DENIED);
        assertEquals(err.message, 'user "bob" may not call');
      }
      assertEquals((await alice.list()).map((j) => j.id), [id]);
      assertEquals((await admin.list()).map((j) => j.id), [id]);
      const cli = await ctx.cli("bob", ["list"]);
      assertEquals(cli.code, 1);
      assertEquals(cli.stderr, 'jobworker: user "bob" may not call\n');
    }, { allowedUsers: ["alice"] });
  },
);
