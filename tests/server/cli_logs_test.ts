/**
 * The real CLI's `logs` against the real server: the snapshot of a running
 * job (StreamOutput with follow: false), `--tail N` with and without -f,
 * and `--since`.
 */
import { assert, assertEquals, assertLess, assertStringIncludes } from "@std/assert";
import {
  decoder,
  ok,
  rootTest,
  startedId,
  streamAll,
  streamChunks,
  waitEnded,
  waitUntil,
  watchCli,
  withServer,
} from "./_fixture.ts";
import { join } from "node:path";

/** The last `n` lines of `text` the way `tail -n` counts them. */
function tailLines(text: string, n: number): string {
  if (n === 0) return "";
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.slice(-n).join("\n") + (text.endsWith("\n") ? "\n" : "");
}

rootTest("CLI logs: without -f, a running job's output so far, at once", async () => {
  await withServer(async (ctx) => {
    const api = await ctx.client("alice");
    const id = startedId(
      await ctx.cli("alice", [
        "start",
        "--",
        "sh",
        "-c",
        "printf 'a\\nb\\n'; printf 'no newline'; exec sleep 600",
      ]),
    );
    await waitUntil(async () => {
      const chunks = await streamChunks(api, id, { follow: false });
      return decoder.decode(chunks.at(-1)?.data ?? new Uint8Array()).endsWith("no newline");
    }, "the job has written");
    const began = performance.now();
    const logs = ok(await ctx.cli("alice", ["logs", id]), "logs");
    assertEquals([logs.out, logs.stderr], ["a\nb\nno newline", ""]);
    // The process starts in about a second; the old quiet-period guess is gone.
    assertLess(performance.now() - began, 10_000);
    assertEquals((await api.status(id)).state, "running");
    const since = ok(await ctx.cli("alice", ["logs", id, "--since", "2"]), "logs --since");
    assertEquals(since.out, "b\nno newline");
    const tail = ok(await ctx.cli("alice", ["logs", id, "--tail", "1"]), "logs --tail");
    assertEquals(tail.out, "no newline", "a last line without a newline counts");
  });
});

rootTest("CLI logs --tail N: the last lines of a big output, exactly", async () => {
  await withServer(async (ctx) => {
    const api = await ctx.client("alice");
    // About 2 MB: many of the CLI's read windows.
    const id = startedId(await ctx.cli("alice", ["start", "--", "seq", "1", "300000"]));
    assertEquals((await waitEnded(api, id)).exitCode, 0);
    const all = decoder.decode(await streamAll(api, id));
    assert(all.endsWith("\n299999\n300000\n"), all.slice(-30));
    for (const n of [0, 1, 3, 1000, 100_000]) {
      const r = ok(await ctx.cli("alice", ["logs", id, "--tail", String(n)]), `--tail ${n}`);
      assertEquals(r.out, tailLines(all, n), `--tail ${n}`);
    }
    // More lines than there are: all of it. With --since: only from there.
    const every = ok(await ctx.cli("alice", ["logs", id, "--tail", "999999"]), "all");
    assertEquals(every.out.length, all.length);
    const since = ok(await ctx.cli("alice", ["logs", id, "--since", "1M", "--tail", "999999"]), "");
    assertEquals(since.out, all.slice(1024 * 1024));
  });
});

rootTest("CLI logs --tail N -f: the last lines so far, then what follows, to the end", async () => {
  await withServer(async (ctx) => {
    const gate = join(ctx.scratch, "go");
    const id = startedId(
      await ctx.cli("alice", [
        "start",
        "--",
        "sh",
        "-c",
        `for i in 1 2 3 4 5; do echo line $i; done; ` +
        `while [ ! -e ${gate} ]; do sleep 0.05; done; echo line 6; echo line 7`,
      ]),
    );
    const follower = watchCli(ctx, "alice", ["logs", id, "--tail", "2", "-f"]);
    await follower.waitForStdout("line 5\n");
    assertEquals(follower.stdout, "line 4\nline 5\n");
    await Deno.writeTextFile(gate, "");
    const status = await follower.status;
    assertEquals([status.code, follower.stderr], [0, ""]);
    assertEquals(follower.stdout, "line 4\nline 5\nline 6\nline 7\n");
  });
});

rootTest("CLI logs --since TIME: a usage error saying why; OFFSET works", async () => {
  await withServer(async (ctx) => {
    const id = startedId(await ctx.cli("alice", ["start", "--", "echo", "hello world"]));
    await waitEnded(await ctx.client("alice"), id);
    for (const time of ["10m", "2024-05-01T12:00:00Z"]) {
      const r = await ctx.cli("alice", ["logs", id, "--since", time]);
      assertEquals([r.code, r.out], [2, ""]);
      assertStringIncludes(r.stderr, "the server does not record when output was written");
    }
    const offset = ok(await ctx.cli("alice", ["logs", id, "--since", "6"]), "--since 6");
    assertEquals(offset.out, "world\n");
    const legacy = ok(await ctx.cli("alice", ["logs", id, "--offset", "6"]), "--offset 6");
    assertEquals(legacy.out, "world\n");
  });
});
