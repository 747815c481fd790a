/**
 * Interactive jobs in the library: stdin as a pipe with end-of-file, a
 * terminal of the job's own, one writer at a time, flow control, and an
 * interactive job adopted by the next manager.
 */
import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { JobManager, JobPreconditionError, JobSpecError } from "../../src/job/mod.ts";
import { outputText, rootTest, sh, waitForOutput, withManager } from "./_fixture.ts";

const encode = (text: string) => new TextEncoder().encode(text);

rootTest("stdin: what is written arrives in order; end() is end-of-file", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(
      sh('read first; echo "first: $first"; cat; echo end', { stdin: true }),
    );
    assertEquals((await job.status()).stdin, true);
    const input = job.attachInput();
    await input.write(encode("one\n"));
    await waitForOutput(job, "first: one");
    await input.write(encode("two\nthree"));
    await input.end();
    assertEquals((await job.wait()).exitCode, 0);
    assertEquals(await outputText(job), "first: one\ntwo\nthreeend\n");
    await assertRejects(() => input.write(encode("late")), JobPreconditionError);
  });
});

rootTest("a job without stdin reads end-of-file and cannot be attached to", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh("cat; echo done"));
    assertEquals((await job.wait()).exitCode, 0);
    assertEquals(await outputText(job), "done\n");
    assertThrows(() => job.attachInput(), JobPreconditionError, "started without stdin");
    await assertRejects(
      () => manager.start(sh("true", { ttySize: { rows: 10, cols: 10 } })),
      JobSpecError,
      "a terminal size needs tty",
    );
    await assertRejects(
      () => manager.start(sh("true", { tty: true, ttySize: { rows: 0, cols: 80 } })),
      JobSpecError,
      "terminal rows",
    );
  });
});

rootTest(
  "tty: the job's own terminal, its size and a resize; a new writer detaches the old",
  async () => {
    await withManager(async ({ manager }) => {
      const job = await manager.start({
        command: "sh",
        args: ["-c", 'tty; stty size; read x; stty size; echo "x=$x"'],
        tty: true,
        ttySize: { rows: 40, cols: 120 },
      });
      const status = await job.status();
      assertEquals([status.stdin, status.tty], [true, true]);
      await waitForOutput(job, "40 120");
      const first = job.attachInput();
      const second = job.attachInput();
      assertEquals(first.detached.aborted, true);
      assertEquals(first.detached.reason, "another client attached");
      await assertRejects(() => first.write(encode("x")), JobPreconditionError, "another client");
      await second.resize({ rows: 50, cols: 132 });
      await second.write(encode("hi\r"));
      await job.wait();
      assertEquals(await outputText(job), "/dev/pts/0\r\n40 120\r\nhi\r\n50 132\r\nx=hi\r\n");
      assertEquals(second.detached.aborted, true);
    });
  },
);

rootTest("stdin: a write waits while the job does not read; nothing is lost", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(
      sh("trap 'go=1' USR1; while [ -z \"$go\" ]; do sleep 0.05; done; exec wc -c", {
        stdin: true,
      }),
    );
    const input = job.attachInput();
    const chunk = new Uint8Array(64 * 1024).fill(0x62);
    let written = 0;
    const writing = (async () => {
      for (let i = 0; i < 64; i++) {
        await input.write(chunk);
        written += chunk.length;
      }
      await input.end();
    })();
    await new Promise((r) => setTimeout(r, 500));
    // The FIFO and the pipe hold 64 KiB each; the rest waits.
    assertEquals(written <= 4 * chunk.length, true, `${written} bytes went in`);
    await job.signal("USR1");
    await writing;
    await job.wait();
    assertEquals((await outputText(job)).trim(), String(64 * chunk.length));
  });
});

rootTest("an interactive job adopted by the next manager takes input again", async () => {
  await withManager(async ({ manager, dataDir, cgroupParent }) => {
    const job = await manager.start(
      sh('read a; echo "a=$a"; read b; echo "b=$b"', { stdin: true }),
    );
    const input = job.attachInput();
    await input.write(encode("1\n"));
    await waitForOutput(job, "a=1");
    await manager.close({ keepJobs: true });
    const next = await JobManager.create({ dataDir, cgroupParent });
    try {
      const adopted = next.get(job.id);
      await adopted.attachInput().write(encode("2\n"));
      assertEquals((await adopted.wait()).exitCode, 0);
      assertEquals(await outputText(adopted), "a=1\nb=2\n");
    } finally {
      await next.close({ graceMs: 0 });
    }
  });
});
