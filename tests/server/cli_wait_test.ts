/**
 * The real CLI waiting for real jobs: `status -w` and `start -f` exit with
 * the job's own exit status (its code, 128 + a signal, 143 for a stop,
 * 125 for jobworker's own failures); `start -f` streams the output, puts
 * the id on stderr, and stops the job on Ctrl-C or a closed stdout.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import {
  cliCommand,
  decoder,
  rootTest,
  sleep,
  startedId,
  UUID_RE,
  waitEnded,
  waitUntil,
  watchCli,
  withServer,
} from "./_fixture.ts";

/** The job id `start -f` printed on stderr. */
function idFromStderr(stderr: string): string {
  const id = /^jobworker: started job (\S+)$/m.exec(stderr)?.[1];
  assert(id !== undefined && UUID_RE.test(id), `no job id in ${JSON.stringify(stderr)}`);
  return id;
}

rootTest("CLI status -w: waits for the end, prints it, exits with the job's status", async () => {
  await withServer(async (ctx) => {
    const api = await ctx.client("alice");
    const id = startedId(await ctx.cli("alice", ["start", "--", "sh", "-c", "sleep 1; exit 3"]));
    const waited = await ctx.cli("alice", ["status", "-w", id]);
    assertEquals([waited.code, waited.stderr], [3, ""]);
    assertMatch(waited.out, /^State: +exited$/m);
    assertMatch(waited.out, /^Exit: +3$/m);
    // It returned because the job ended, not before.
    assertEquals((await api.status(id)).state, "exited");
    // Ended already: the same answer at once, in any format.
    const json = await ctx.cli("alice", ["status", "--wait", id, "--output", "json"]);
    assertEquals([json.code, JSON.parse(json.out).exitCode], [3, 3]);

    const killed = startedId(await ctx.cli("alice", ["start", "--", "sh", "-c", "kill -KILL $$"]));
    const k = await ctx.cli("alice", ["status", "-w", killed, "-o", "wide"]);
    assertEquals(k.code, 137);
    assertMatch(k.out.split("\n")[1]!, new RegExp(`^${killed} +alice +exited +SIGKILL `));

    const ok = startedId(await ctx.cli("alice", ["start", "--", "true"]));
    assertEquals((await ctx.cli("alice", ["status", "-w", ok])).code, 0);
  });
});

rootTest("CLI status -w: a job stopped while waiting gives 143; errors give 125", async () => {
  await withServer(async (ctx) => {
    const api = await ctx.client("alice");
    const id = startedId(await ctx.cli("alice", ["start", "--", "sleep", "600"]));
    const waiter = ctx.spawnCli("alice", ["status", "-w", id, "--json"]);
    // The waiter is waiting (it has not exited) while the job runs.
    await sleep(1500);
    assertEquals((await api.status(id)).state, "running");
    await api.stop(id, { graceSeconds: 5 });
    const r = await waiter.result;
    assertEquals([r.code, JSON.parse(r.out).state, JSON.parse(r.out).signal], [
      143,
      "stopped",
      "SIGTERM",
    ]);

    // Someone else's job is not found: jobworker's failure, 125, not the job's 1.
    const bob = await ctx.cli("bob", ["status", "-w", id]);
    assertEquals([bob.code, bob.out], [125, ""]);
    assertEquals(bob.stderr, `jobworker: job "${id}" not found\n`);
  });
});

rootTest("CLI start -f: the output on stdout, the id on stderr, the job's exit code", async () => {
  await withServer(async (ctx) => {
    const api = await ctx.client("alice");
    const r = await ctx.cli("alice", [
      "start",
      "-f",
      "--",
      "sh",
      "-c",
      "echo out; sleep 0.5; echo err >&2; printf 'no newline'; exit 7",
    ]);
    assertEquals([r.code, r.out], [7, "out\nerr\nno newline"]);
    const id = idFromStderr(r.stderr);
    assertStringIncludes(r.stderr, `jobworker: job ${id} exited with code 7\n`);
    const status = await api.status(id);
    assertEquals([status.state, status.exitCode], ["exited", 7]);

    const clean = await ctx.cli("alice", ["start", "--follow", "--", "echo", "hi"]);
    assertEquals([clean.code, clean.out], [0, "hi\n"]);
    assertEquals(clean.stderr, `jobworker: started job ${idFromStderr(clean.stderr)}\n`);

    const missing = await ctx.cli("alice", ["start", "-f", "--", "no-such-command-here"]);
    assertEquals([missing.code, missing.out], [125, ""]);
    assertStringIncludes(missing.stderr, "no-such-command-here");
  });
});

rootTest("CLI start -f: Ctrl-C stops the job and shows its last words (exit 143)", async () => {
  await withServer(async (ctx) => {
    const api = await ctx.client("alice");
    const cli = watchCli(ctx, "alice", [
      "start",
      "-f",
      "--",
      "sh",
      "-c",
      `trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.1; done`,
    ]);
    await cli.waitForStdout("ready\n");
    const id = idFromStderr(cli.stderr);
    assertEquals((await api.status(id)).state, "running");
    cli.kill("SIGINT");
    const status = await cli.status;
    assertEquals(status.code, 143, `stderr ${cli.stderr}`);
    // sh may also report its sleep's end ("Terminated"): the output is the job's, as written.
    assert(cli.stdout.startsWith("ready\n") && cli.stdout.endsWith("bye\n"), cli.stdout);
    assertStringIncludes(cli.stderr, `jobworker: stopping the job ${id} (Ctrl-C again`);
    assertStringIncludes(cli.stderr, `jobworker: job ${id} was stopped (it exited with 0)\n`);
    assertEquals((await api.status(id)).state, "stopped");
  });
});

rootTest("CLI start -f: a second Ctrl-C stops waiting; the stop goes on (exit 130)", async () => {
  await withServer(async (ctx) => {
    const api = await ctx.client("alice");
    // Ignores SIGTERM: only the SIGKILL after the server's default grace (10 s) ends it.
    const cli = watchCli(ctx, "alice", [
      "start",
      "-f",
      "--",
      "sh",
      "-c",
      `trap '' TERM; echo ready; while :; do sleep 0.1; done`,
    ]);
    await cli.waitForStdout("ready\n");
    const id = idFromStderr(cli.stderr);
    cli.kill("SIGINT");
    await waitUntil(() => cli.stderr.includes("stopping the job"), "the first Ctrl-C is seen");
    cli.kill("SIGINT");
    const status = await cli.status;
    assertEquals(status.code, 130, `stderr ${cli.stderr}`);
    assertStringIncludes(cli.stderr, `jobworker: stopped waiting; job ${id} is ending on its own`);
    // The stop was sent: the job ends (SIGKILL after the grace period) without the CLI.
    const final = await waitEnded(api, id, 20_000);
    assertEquals([final.state, final.signal], ["stopped", "SIGKILL"]);
  }, { timeoutMs: 60_000 });
});

rootTest("CLI start -f: a closed stdout stops the job (exit 141, as SIGPIPE)", async () => {
  await withServer(async (ctx) => {
    const api = await ctx.client("alice");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--quiet",
        ...cliCommand(ctx, "alice"),
        "start",
        "-f",
        "--",
        "sh",
        "-c",
        "while :; do echo y; sleep 0.01; done",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    ctx.defer(async () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited already.
      }
      await child.status;
    });
    const stderr = new Response(child.stderr).text();
    // Like "| head -1": read a little, then close the pipe.
    const reader = child.stdout.getReader();
    const first = await reader.read();
    assertEquals(decoder.decode(first.value).startsWith("y\n"), true);
    await reader.cancel();
    const status = await child.status;
    assertEquals(status.code, 141, await stderr);
    const id = idFromStderr(await stderr);
    assertEquals((await api.status(id)).state, "stopped");
  });
});
