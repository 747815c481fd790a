/**
 * The real CLI's `signal` against the real server: a signal the job traps
 * shows in its output, `--all` reaches a child process too (and without it
 * only the main process is signalled), names, SIG names and numbers work,
 * and what the server refuses (a signal it does not accept, an ended job,
 * someone else's job) is one line on stderr and exit 1.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  type CliResult,
  decoder,
  ok,
  rootTest,
  type ServerContext,
  sleep,
  startedId,
  waitEnded,
  waitUntil,
  withServer,
} from "./_fixture.ts";

/** The job's output so far, through the CLI. */
async function output(ctx: ServerContext, id: string): Promise<string> {
  return decoder.decode(ok(await ctx.cli("alice", ["logs", id]), "logs").stdout);
}

/** Waits until the job's output contains `text`. */
async function waitForOutput(ctx: ServerContext, id: string, text: string): Promise<string> {
  let last = "";
  await waitUntil(
    async () => (last = await output(ctx, id)).includes(text),
    `${JSON.stringify(text)} in the output of ${id} (so far ${JSON.stringify(last)})`,
    15_000,
    100,
  );
  return last;
}

/** `signal` succeeded silently. */
function sent(result: CliResult, what: string): void {
  assertEquals([result.code, result.out, result.stderr], [0, "", ""], what);
}

const count = (text: string, word: string) => text.split(word).length - 1;

rootTest(
  "CLI signal: HUP to a job that traps it shows in its output; numbers and SIG names work",
  async () => {
    await withServer(async (ctx) => {
      const id = startedId(
        await ctx.cli("alice", [
          "start",
          "--",
          "sh",
          "-c",
          `trap 'echo got HUP' HUP; trap 'echo got USR1' USR1; echo ready; while :; do sleep 0.1; done`,
        ]),
      );
      await waitForOutput(ctx, id, "ready\n");
      sent(await ctx.cli("alice", ["signal", id, "HUP"]), "signal HUP");
      await waitForOutput(ctx, id, "got HUP\n");
      sent(await ctx.cli("alice", ["signal", id, "sigusr1"]), "signal sigusr1");
      await waitForOutput(ctx, id, "got USR1\n");
      sent(await ctx.cli("alice", ["signal", id, "1"]), "signal 1");
      const text = await waitUntilCount(ctx, id, "got HUP", 2);
      assertEquals(count(text, "got USR1"), 1);
      // Trapped: it runs on.
      assertEquals((await (await ctx.client("alice")).status(id)).state, "running");
    });
  },
);

/** Waits until `word` occurs `n` times in the job's output. */
async function waitUntilCount(
  ctx: ServerContext,
  id: string,
  word: string,
  n: number,
): Promise<string> {
  let last = "";
  await waitUntil(
    async () => count(last = await output(ctx, id), word) >= n,
    `${n} × ${JSON.stringify(word)} in ${JSON.stringify(last)}`,
    15_000,
    100,
  );
  return last;
}

rootTest(
  "CLI signal --all reaches a child process; without it, only the main process",
  async () => {
    await withServer(async (ctx) => {
      // The main shell and a child shell, each trapping USR1 (their sleeps die of it, harmlessly).
      const child =
        `trap 'echo child got USR1' USR1; echo child ready; while :; do sleep 0.1; done`;
      const id = startedId(
        await ctx.cli("alice", [
          "start",
          "--",
          "sh",
          "-c",
          `sh -c "${child}" & trap 'echo main got USR1' USR1; while :; do sleep 0.1; done`,
        ]),
      );
      await waitForOutput(ctx, id, "child ready\n");
      sent(await ctx.cli("alice", ["signal", id, "USR1"]), "signal USR1");
      await waitForOutput(ctx, id, "main got USR1\n");
      // Give a child that would have got it the time to say so.
      await sleep(500);
      assertEquals(
        count(await output(ctx, id), "child got USR1"),
        0,
        "the child was not signalled",
      );

      sent(await ctx.cli("alice", ["signal", "--all", id, "USR1"]), "signal --all USR1");
      const text = await waitForOutput(ctx, id, "child got USR1\n");
      await waitUntilCount(ctx, id, "main got USR1", 2);
      assertEquals((await (await ctx.client("alice")).status(id)).state, "running", text);

      // --all TERM ends every process: the job ends (by the signal, not as a stop).
      sent(await ctx.cli("alice", ["signal", id, "TERM", "--all"]), "signal --all TERM");
      const final = await waitEnded(await ctx.client("alice"), id);
      assertEquals([final.state, final.signal], ["exited", "SIGTERM"]);
    });
  },
);

rootTest("CLI signal: refused signals, ended jobs and other owners' jobs exit 1", async () => {
  await withServer(async (ctx) => {
    const id = startedId(await ctx.cli("alice", ["start", "--", "sleep", "600"]));
    for (const signal of ["SEGV", "11", "CHLD", "NOPE", "99"]) {
      const r = await ctx.cli("alice", ["signal", id, signal]);
      assertEquals([r.code, r.out], [1, ""], signal);
      assertEquals(
        r.stderr,
        `jobworker: cannot signal job: ${JSON.stringify(signal)} is not a signal a job may be ` +
          "sent; one of HUP INT QUIT ABRT KILL USR1 USR2 ALRM TERM CONT STOP TSTP TTIN TTOU " +
          "WINCH (name or number)\n",
        signal,
      );
    }
    // Nothing reached the job.
    const api = await ctx.client("alice");
    assertEquals((await api.status(id)).state, "running");

    // Bob cannot tell alice's job from one that does not exist.
    const bob = await ctx.cli("bob", ["signal", id, "KILL"]);
    assertEquals([bob.code, bob.stderr], [1, `jobworker: job "${id}" not found\n`]);
    assertEquals((await api.status(id)).state, "running");

    sent(await ctx.cli("alice", ["signal", id, "KILL"]), "signal KILL");
    const final = await waitEnded(api, id);
    assertEquals([final.state, final.signal], ["exited", "SIGKILL"]);
    const late = await ctx.cli("alice", ["signal", id, "HUP"]);
    assertEquals([late.code, late.out], [1, ""]);
    assertStringIncludes(late.stderr, `jobworker: cannot signal job ${id}: it has ended`);
    assert(late.stderr.endsWith("\n") && late.stderr.split("\n").length === 2, late.stderr);

    // A usage error is told before anything is asked.
    const usage = await ctx.cli("alice", ["signal", id]);
    assertEquals([usage.code, usage.out], [2, ""]);
  });
});
