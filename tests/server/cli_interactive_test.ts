/**
 * The real CLI's interactive commands against the real server: `start -i`
 * driving a REPL and a shell over a pipe with end-of-file delivered and the
 * job's exit code; `start -di` and `attach` with piped input; what the
 * server refuses. Then, on a pseudo-terminal (./_pty.ts), `start -it`: the
 * job's own terminal and its size, a resize, Ctrl-C reaching the job, the
 * detach keys leaving it running with the terminal's modes restored;
 * `attach` to it again with the local size, `exit 5` ending both, and
 * `logs` holding every byte of both sessions; custom detach keys, a
 * watcher (`--no-stdin`) beside the client typing, and a SIGTERM to the
 * CLI restoring the terminal too.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  cliCommand,
  decoder,
  ok,
  rootTest,
  type ServerContext,
  startedId,
  watchCli,
  withServer,
} from "./_fixture.ts";
import { PtyProcess, PYTHON } from "./_pty.ts";

const noPython = {
  skip: PYTHON === null ? "python3 (for a pseudo-terminal) is not installed" : null,
};

/** The CLI as `user` on a pty of its own of `rows` × `columns`, with `args`. */
function cliOnPty(
  ctx: ServerContext,
  args: string[],
  size: { rows: number; columns: number },
): PtyProcess {
  const pty = new PtyProcess(
    [Deno.execPath(), "run", "--allow-all", "--quiet", ...cliCommand(ctx, "alice"), ...args],
    { ...size, env: { TERM: "xterm", NO_COLOR: "1" }, cwd: ctx.root },
  );
  ctx.defer(() => pty.stop());
  return pty;
}

/** Waits until the pty's transcript (what the CLI wrote to the terminal) has `text` after `from`. */
async function shown(pty: PtyProcess, text: string, from = 0): Promise<number> {
  await pty.waitFor(
    () => pty.transcript.indexOf(text, from) >= 0,
    `showing ${JSON.stringify(text)}`,
  );
  return pty.transcript.indexOf(text, from) + text.length;
}

/** The job's output through `logs`. */
async function logs(ctx: ServerContext, id: string): Promise<string> {
  return decoder.decode(ok(await ctx.cli("alice", ["logs", id]), "logs").stdout);
}

/** `pieces` occur in `text` in this order. */
function inOrder(text: string, pieces: string[]): void {
  let at = 0;
  for (const piece of pieces) {
    const found = text.indexOf(piece, at);
    assert(found >= 0, `${JSON.stringify(piece)} after offset ${at} in ${JSON.stringify(text)}`);
    at = found + piece.length;
  }
}

rootTest(
  "CLI start -i: a REPL and a shell driven over stdin; end-of-file; exit codes",
  async () => {
    await withServer(async (ctx) => {
      const python = await ctx.cli("alice", ["start", "-i", "--", "python3"], {
        stdin: "print(6*7)\n",
      });
      assertEquals([python.code, python.out], [0, "42\n"], python.stderr);
      assertStringIncludes(python.stderr, "jobworker: started job ");

      const shell = await ctx.cli("alice", ["start", "-i", "--", "sh"], {
        stdin: "echo $((6*7))\nexit 3\n",
      });
      assertEquals([shell.code, shell.out], [3, "42\n"], shell.stderr);
      assertStringIncludes(shell.stderr, "exited with code 3");

      // cat ends only when its input does; the last line has no newline.
      const cat = await ctx.cli("alice", ["start", "-i", "--", "cat"], { stdin: "a\nb" });
      assertEquals([cat.code, cat.out], [0, "a\nb"], cat.stderr);

      // 6 MiB, more than the client sends ahead of what the job took: every byte, in order.
      const big = new Uint8Array(6 * 2 ** 20).map((_, i) => (i * 7 + (i >> 12)) & 0xff);
      const digest = Array.from(
        new Uint8Array(await crypto.subtle.digest("SHA-256", big)),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("");
      const sum = await ctx.cli("alice", ["start", "-i", "--", "sha256sum"], { stdin: big });
      assertEquals([sum.code, sum.out], [0, `${digest}  -\n`], sum.stderr);
    });
  },
);

rootTest("CLI start -di and attach: stdin piped; an ended job; refusals", async () => {
  await withServer(async (ctx) => {
    const id = startedId(
      await ctx.cli("alice", [
        "start",
        "-di",
        "--",
        "sh",
        "-c",
        'echo ready; read x; echo "got $x"; exit 6',
      ]),
    );
    const attached = await ctx.cli("alice", ["attach", id], { stdin: "hello\n" });
    assertEquals([attached.code, attached.out], [6, "got hello\n"], attached.stderr);
    assertEquals(await logs(ctx, id), "ready\ngot hello\n");
    // Ended: nothing from now on, and its exit code.
    const late = await ctx.cli("alice", ["attach", id]);
    assertEquals([late.code, late.out], [6, ""], late.stderr);

    const plain = startedId(await ctx.cli("alice", ["start", "--", "sleep", "60"]));
    const refused = await ctx.cli("alice", ["attach", plain]);
    assertEquals(
      [refused.code, refused.out, refused.stderr],
      [
        1,
        "",
        `jobworker: cannot attach to job ${plain}: it was started without stdin or a terminal\n`,
      ],
    );
    const bob = await ctx.cli("bob", ["attach", id]);
    assertEquals([bob.code, bob.stderr], [1, `jobworker: job "${id}" not found\n`]);

    // -t needs a terminal on stdin: nothing is started.
    const before = (await (await ctx.client("alice")).list()).length;
    const noTty = await ctx.cli("alice", ["start", "-it", "--", "sh"]);
    assertEquals(noTty.code, 2);
    assertStringIncludes(noTty.stderr, "the input device is not a TTY");
    assertEquals((await (await ctx.client("alice")).list()).length, before);
  });
});

rootTest(
  "CLI start -it on a terminal: its size, a resize, Ctrl-C to the job, detach; attach; logs",
  async () => {
    await withServer(async (ctx) => {
      const alice = await ctx.client("alice");
      const first = cliOnPty(ctx, ["start", "-it", "--env", "PS1=job$ ", "--", "sh"], {
        rows: 30,
        columns: 100,
      });
      let at = await shown(first, "job$ ");
      const id = /started job (\S+) \(Ctrl-P Ctrl-Q detaches\)\r\n/.exec(first.transcript)![1]!;
      await first.type("tty; stty size\r");
      at = await shown(first, "/dev/pts/0\r\n30 100\r\njob$ ", at);
      // Raw mode: the outer terminal echoed nothing; the job's terminal echoed the line once.
      assertEquals(first.transcript.split("tty; stty size").length, 2, first.transcript);

      // A resize reaches the job's terminal (SIGWINCH to the CLI, a resize to the job).
      await first.resize(40, 120);
      for (let attempt = 0; !first.transcript.includes("40 120\r\n", at); attempt++) {
        assert(attempt < 20, `no resize: ${JSON.stringify(first.transcript.slice(at))}`);
        await first.type("stty size\r");
        await new Promise((r) => setTimeout(r, 250));
      }
      at = await shown(first, "40 120\r\njob$ ", at);

      // Ctrl-C is a key for the job: its sleep is interrupted, the CLI runs on.
      await first.type("sleep 30\r");
      at = await shown(first, "sleep 30\r\n", at);
      await first.type("\x03");
      await first.type("echo alive\r");
      at = await shown(first, "alive\r\njob$ ", at);

      // Ctrl-P then a key that is not Ctrl-Q goes to the job: "\x10" and "x" in the line.
      await first.type("echo \x10x | od -An -c\r");
      at = await shown(first, "020   x  \\n\r\njob$ ", at);

      await first.type("\x10\x11");
      const detached = await first.exited;
      assertEquals(detached.code, 0, first.transcript);
      assertEquals(detached.after, detached.before, "the terminal's modes are restored");
      assertStringIncludes(
        first.transcript,
        `jobworker: detached from job ${id} (jobworker attach ${id} to attach again)\r\n`,
      );
      assertEquals((await alice.status(id)).state, "running");

      // Attached again on a smaller terminal: its size is the job's at once.
      const second = cliOnPty(ctx, ["attach", id], { rows: 25, columns: 90 });
      await second.waitForRaw();
      await second.type("stty size; echo again\r");
      await shown(second, "25 90\r\nagain\r\njob$ ");
      await second.type("exit 5\r");
      const ended = await second.exited;
      assertEquals(ended.code, 5, second.transcript);
      assertEquals(ended.after, ended.before, "the terminal's modes are restored");
      assertEquals((await alice.status(id)).exitCode, 5);

      // One stream, byte for byte: what each session showed of the job, and nothing lost between.
      const output = await logs(ctx, id);
      const startNote = `jobworker: started job ${id} (Ctrl-P Ctrl-Q detaches)\r\n`;
      // The first session: the note, the job's output, the reset and new line, the note.
      const from = first.transcript.indexOf(startNote);
      const to = first.transcript.indexOf("\x1b[0m\x1b[?25h\r\njobworker: detached");
      assert(from >= 0 && to > from, JSON.stringify(first.transcript));
      const shownFirst = first.transcript.slice(from + startNote.length, to);
      assertStringIncludes(shownFirst, "alive\r\n");
      const attachNote = `jobworker: attached to job ${id} (Ctrl-P Ctrl-Q detaches)\r\n`;
      assert(second.transcript.startsWith(attachNote), JSON.stringify(second.transcript));
      const shownSecond = second.transcript.slice(
        attachNote.length,
        second.transcript.indexOf("jobworker: job"),
      );
      assertStringIncludes(shownSecond, "again\r\n");
      // The job wrote nothing while detached: the two sessions showed all of it, byte for byte.
      assertEquals(output, shownFirst + shownSecond);
      inOrder(output, [
        "job$ ",
        "/dev/pts/0\r\n30 100\r\n",
        "40 120\r\n",
        "alive\r\n",
        "stty size; echo again\r\n25 90\r\nagain\r\n",
        "exit 5\r\n",
      ]);
    });
  },
  noPython,
);

rootTest(
  "CLI attach --detach-keys on a terminal; SIGTERM to the CLI leaves the job and the terminal",
  async () => {
    await withServer(async (ctx) => {
      const alice = await ctx.client("alice");
      const id = startedId(
        await ctx.cli("alice", ["start", "-dit", "--env", "PS1=job$ ", "--", "sh"]),
      );
      const keyed = cliOnPty(ctx, ["attach", "--detach-keys", "ctrl-a,d", id], {
        rows: 24,
        columns: 80,
      });
      await keyed.waitForRaw();
      assertStringIncludes(keyed.transcript, `attached to job ${id} (Ctrl-A d detaches)`);
      // Ctrl-P Ctrl-Q are plain keys now (the job's terminal lets Ctrl-Q through without
      // flow control); Ctrl-A then d detaches.
      await keyed.type("stty -ixon\r");
      const at = await shown(keyed, "stty -ixon\r\njob$ ");
      await keyed.type("echo one\x10\x11 | od -An -c\r");
      await shown(keyed, "020 021  \\n\r\njob$ ", at);
      await keyed.type("\x01d");
      const detached = await keyed.exited;
      assertEquals([detached.code, detached.after], [0, detached.before], keyed.transcript);
      assertEquals((await alice.status(id)).state, "running");

      const signalled = cliOnPty(ctx, ["attach", id], { rows: 24, columns: 80 });
      await signalled.waitForRaw();
      await signalled.type("echo two\r");
      await shown(signalled, "two\r\njob$ ");

      // A watcher (--no-stdin) sees what follows, and does not take the input over.
      const watcher = watchCli(ctx, "alice", ["attach", "--no-stdin", id]);
      for (let tick = 0; !watcher.stdout.includes("tick"); tick++) {
        assert(tick < 50, `the watcher shows nothing: ${watcher.stderr}`);
        await signalled.type("echo tick\r");
        await new Promise((r) => setTimeout(r, 200));
      }
      await signalled.type("echo three\r");
      await shown(signalled, "three\r\njob$ ");
      await watcher.waitForStdout("three\r\njob$ ");

      await signalled.signal("TERM");
      const left = await signalled.exited;
      assertEquals([left.code, left.after], [143, left.before], signalled.transcript);
      assertStringIncludes(signalled.transcript, `detached from job ${id} on SIGTERM; it runs on`);
      assertEquals((await alice.status(id)).state, "running");
      inOrder(await logs(ctx, id), ["one", "two\r\n", "three\r\n"]);
      // The watcher ends with the job, with its status (an interactive sh ignores SIGTERM).
      await alice.stop(id, { graceSeconds: 0 });
      assertEquals((await watcher.status).code, 137, watcher.stderr);
    });
  },
  noPython,
);
