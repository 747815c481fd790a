/**
 * Interactive jobs through the real server: stdin driven over Attach with
 * end-of-file when the client closes its half, a terminal of the job's own
 * (its name, size and a resize), detach and re-attach with no output lost,
 * one writer at a time, who may attach, flow control for a job that does
 * not read, and TIOCSTI refused inside the terminal.
 */
import { assert, assertEquals, assertLess, assertMatch, assertStringIncludes } from "@std/assert";
import { status as grpcStatus } from "@grpc/grpc-js";
import type { AttachSession } from "../../src/api/mod.ts";
import { apiFailure, rootTest, streamAll, waitUntil, withServer } from "./_fixture.ts";
import { exitOf, serverWithClient, withProcesses } from "./_processes.ts";

const encode = (text: string) => new TextEncoder().encode(text);

/** Reads a session's output in the background; `text()` is what came so far. */
function collect(session: AttachSession) {
  let text = "";
  const done = (async () => {
    for await (const chunk of session.output()) text += new TextDecoder().decode(chunk.data);
  })();
  // A test that fails before awaiting it must still report its own failure.
  done.catch(() => {});
  return { text: () => text, done };
}

rootTest("attach: a shell driven over stdin; closing the input half is end-of-file", async () => {
  await withServer(async (ctx) => {
    const alice = await ctx.client("alice");
    const { id, status } = await alice.start({ command: "sh", stdin: true });
    assertEquals([status.stdin, status.tty], [true, false]);
    const session = alice.attach(id, { offset: 0 });
    const out = collect(session);
    await session.write(encode("echo $((6*7))\n"));
    await waitUntil(() => out.text() === "42\n", "the shell's answer");
    await session.write(encode('read line; echo "read: $line"; cat; echo eof seen; exit 3\n'));
    await session.write(encode("a line\nfor cat\n"));
    session.end();
    await out.done;
    assertEquals(out.text(), "42\nread: a line\nfor cat\neof seen\n");
    assertEquals([session.status?.state, session.status?.exitCode], ["exited", 3]);
    // The same bytes are the job's output for everyone.
    assertEquals(new TextDecoder().decode(await streamAll(alice, id)), out.text());
  });
});

rootTest(
  "attach: a terminal of the job's own, its size, a resize, colours kept byte-exact",
  async () => {
    await withServer(async (ctx) => {
      const alice = await ctx.client("alice");
      const { id, status } = await alice.start({
        command: "sh",
        args: [
          "-c",
          "tty; stty size; [ -t 0 ] && [ -t 1 ] && echo terminal; read x; stty size; " +
          "printf '\\033[31mred\\033[0m\\n'",
        ],
        tty: true,
        ttySize: { rows: 30, cols: 100 },
      });
      assertEquals([status.stdin, status.tty], [true, true]);
      const session = alice.attach(id, { offset: 0 });
      const out = collect(session);
      await waitUntil(() => out.text().includes("terminal"), "the first lines");
      await session.resize({ rows: 50, cols: 132 });
      await session.write(encode("typed\r"));
      await out.done;
      assertEquals(
        out.text(),
        "/dev/pts/0\r\n30 100\r\nterminal\r\ntyped\r\n50 132\r\n\x1b[31mred\x1b[0m\r\n",
      );
      assertEquals(session.status?.exitCode, 0);
    });
  },
);

rootTest(
  "attach: detach leaves the job running; re-attach, nothing lost; one writer at a time",
  async () => {
    await withServer(async (ctx) => {
      const alice = await ctx.client("alice");
      const { id } = await alice.start({ command: "cat", tty: true });
      const first = alice.attach(id, { offset: 0 });
      const firstOut = collect(first);
      await first.write(encode("one\r"));
      await waitUntil(() => firstOut.text() === "one\r\none\r\n", "the echo of one");
      first.detach();
      await firstOut.done.catch(() => {});
      assertEquals((await alice.status(id)).state, "running");

      // Attached from now on: only what comes next.
      const second = alice.attach(id);
      const secondOut = collect(second);
      await second.write(encode("two\r"));
      await waitUntil(() => secondOut.text() === "two\r\ntwo\r\n", "the echo of two");

      // A third client takes over writing; the second is told why.
      const third = alice.attach(id, { offset: 0 });
      const thirdOut = collect(third);
      const err = await apiFailure(() => secondOut.done);
      assertEquals(err.code, grpcStatus.ABORTED);
      assertStringIncludes(err.message, "another client attached");
      await third.write(encode("three\r\x04"));
      await thirdOut.done;
      assertEquals(thirdOut.text(), "one\r\none\r\ntwo\r\ntwo\r\nthree\r\nthree\r\n");
      assertEquals(third.status?.exitCode, 0);
    });
  },
);

rootTest(
  "attach: who may, only interactive jobs; an ended one gives its output and status",
  async () => {
    await withServer(async (ctx) => {
      const alice = await ctx.client("alice");
      const bob = await ctx.client("bob");
      const admin = await ctx.client("admin");
      const plain = (await alice.start({ command: "sleep", args: ["30"] })).id;
      const notInteractive = await apiFailure(() => collect(alice.attach(plain)).done);
      assertEquals(notInteractive.code, grpcStatus.FAILED_PRECONDITION);
      assertMatch(notInteractive.message, /it was started without stdin or a terminal$/);
      const { id } = await alice.start({ command: "cat", stdin: true });
      assertEquals(
        (await apiFailure(() => collect(bob.attach(id)).done)).code,
        grpcStatus.NOT_FOUND,
      );
      const bad = await apiFailure(() => collect(alice.attach("not-an-id")).done);
      assertEquals(bad.code, grpcStatus.INVALID_ARGUMENT);
      const session = admin.attach(id, { offset: 0 });
      const out = collect(session);
      await session.write(encode("from admin\n"));
      session.end();
      await out.done;
      assertEquals(out.text(), "from admin\n");
      // Attaching to an interactive job that has ended gives its output and status.
      const late = alice.attach(id, { offset: 0 });
      const lateOut = collect(late);
      await late.write(encode("goes nowhere\n"));
      await lateOut.done;
      assertEquals(lateOut.text(), "from admin\n");
      assertEquals(late.status?.state, "exited");
    });
  },
);

rootTest("attach: a job that does not read cannot make the server buffer its input", async () => {
  await withProcesses(async (ctx) => {
    const { server, api: alice } = await serverWithClient(ctx);
    // It reads nothing until told to (USR1), then counts what it gets.
    const { id } = await alice.start({
      command: "sh",
      args: ["-c", "trap 'go=1' USR1; while [ -z \"$go\" ]; do sleep 0.05; done; exec wc -c"],
      stdin: true,
    });
    const session = alice.attach(id, { offset: 0 });
    const out = collect(session);
    const before = rssOf(server.pid);
    const chunk = new Uint8Array(1024 * 1024).fill(0x61);
    const total = 256 * chunk.length;
    let written = 0;
    const writing = (async () => {
      for (let i = 0; i < 256; i++) {
        await session.write(chunk);
        written += chunk.length;
      }
    })();
    await new Promise((r) => setTimeout(r, 3000));
    const grown = rssOf(server.pid) - before;
    console.log(
      `  after 3 s: the client got ${written / 2 ** 20} of 256 MiB out; ` +
        `the server's RSS grew by ${(grown / 2 ** 20).toFixed(1)} MiB`,
    );
    // The session waits for the server's word that the job took its input.
    assertLess(written, 16 * 2 ** 20, "the client was not held back");
    assertLess(grown, 64 * 2 ** 20, "the server buffered what the job did not read");
    await alice.signal(id, "USR1");
    await writing;
    session.end();
    await out.done;
    assertEquals(out.text().trim(), String(total));
    alice.close();
    server.kill("SIGTERM");
    await exitOf(server, 15_000);
  });
});

rootTest("attach: a cancelled call (a detach) is no end-of-file; a server process", async () => {
  await withProcesses(async (ctx) => {
    const { server, api: alice } = await serverWithClient(ctx);
    const { id } = await alice.start({ command: "sh", args: ["-c", "cat; echo eof"], stdin: true });
    for (let round = 0; round < 3; round++) {
      const session = alice.attach(id, { offset: 0 });
      const out = collect(session);
      await session.write(encode(`line ${round}\n`));
      await waitUntil(() => out.text().includes(`line ${round}\n`), `line ${round}`);
      session.detach();
      await out.done.catch(() => {});
      await new Promise((r) => setTimeout(r, 300));
      assertEquals((await alice.status(id)).state, "running", `after detach ${round}`);
    }
    const last = alice.attach(id, { offset: 0 });
    const out = collect(last);
    last.end();
    await out.done;
    assertEquals(out.text(), "line 0\nline 1\nline 2\neof\n");
    alice.close();
    server.kill("SIGTERM");
    await exitOf(server, 15_000);
  });
});

/** Resident memory of process `pid`, bytes. */
function rssOf(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
}

rootTest("attach: TIOCSTI in the job's terminal is refused (no input injection)", async () => {
  await withServer(async (ctx) => {
    const alice = await ctx.client("alice");
    const { id } = await alice.start({
      command: "python3",
      args: [
        "-c",
        "import fcntl, termios\n" +
        "try:\n    fcntl.ioctl(0, termios.TIOCSTI, b'x')\n    print('injected')\n" +
        "except OSError as e:\n    print('refused', e.errno)",
      ],
      tty: true,
    });
    const session = alice.attach(id, { offset: 0 });
    const out = collect(session);
    await out.done;
    assertEquals(out.text(), "refused 1\r\n");
    assert(!out.text().includes("injected"));
  });
});
