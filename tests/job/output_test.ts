/**
 * A job's output: complete from the first byte, at any offset, byte-exact
 * for large binary output, stdout and stderr together, many readers at once,
 * low latency for followers, and prompt, leak-free cancellation.
 */
import {
  assert,
  assertEquals,
  assertGreater,
  assertLess,
  assertLessOrEqual,
  assertRejects,
} from "@std/assert";
import { join } from "node:path";
import {
  decoder,
  fdsInto,
  inotifyWatchesOn,
  outputText,
  readAll,
  rootTest,
  sh,
  sleep,
  waitForOutput,
  waitUntil,
  withManager,
  withTimeout,
} from "./_fixture.ts";

const LINES = Array.from({ length: 200 }, (_, i) => `line ${i + 1}`).join("\n") + "\n";

rootTest("output read from offset 0 after the job ended starts at the first byte", async () => {
  await withManager(async ({ manager, dataDir }) => {
    const job = await manager.start(sh("seq 200 | sed 's/^/line /'"));
    await job.wait();
    const reader = job.output({ offset: 0 });
    const first = await reader.readChunk();
    reader.close();
    assertEquals(first?.offset, 0);
    assert(decoder.decode(first!.data).startsWith("line 1\nline 2\n"));
    assertEquals(await outputText(job), LINES);
    // Exactly what is in the job's output file.
    const file = await Deno.readTextFile(join(dataDir, "jobs", job.id, "output"));
    assertEquals(file, LINES);
  });
});

rootTest("a reader from a middle offset gets exactly the rest", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh("seq 200 | sed 's/^/line /'"));
    await job.wait();
    const bytes = new TextEncoder().encode(LINES);
    for (const offset of [1, 7, 1000, bytes.length - 1]) {
      const reader = job.output({ offset });
      const first = await reader.readChunk();
      reader.close();
      assertEquals(first?.offset, offset);
      assertEquals(await readAll(job, offset), bytes.subarray(offset));
    }
    // At and past the end of an ended job: end of stream, at once.
    for (const offset of [bytes.length, bytes.length + 100]) {
      const reader = job.output({ offset });
      assertEquals(await withTimeout(reader.readChunk(), 1_000, "read at the end"), null);
      reader.close();
    }
  });
});

rootTest("50 MB of random bytes arrive byte-exact (SHA-256) while the job runs", async () => {
  await withManager(async ({ manager, scratch }) => {
    const copy = join(scratch, "copy");
    const size = 50_000_000;
    const job = await manager.start(sh(`head -c ${size} /dev/urandom | tee ${copy}`));
    const all = new Uint8Array(size);
    let length = 0;
    let chunksWhileRunning = 0;
    const reader = job.output();
    try {
      for await (const { offset, data } of reader) {
        assertEquals(offset, length, "chunks must be contiguous");
        assertLessOrEqual(length + data.length, size, "more output than written");
        all.set(data, length);
        length += data.length;
        if (job.state === "running") chunksWhileRunning++;
      }
    } finally {
      reader.close();
    }
    const status = await job.wait();
    assertEquals(status.exitCode, 0);
    assertEquals(length, size);
    assertGreater(chunksWhileRunning, 0, "the reader got nothing while the job ran");
    const hex = async (bytes: Uint8Array<ArrayBuffer>) =>
      Array.from(
        new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("");
    const copied = await Deno.readFile(copy);
    assertEquals(copied.length, size);
    assertEquals(await hex(all), await hex(copied));
  }, { timeoutMs: 60_000 });
});

rootTest("stdout and stderr both land in the output, in write order", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh("echo out1; echo err1 >&2; echo out2; echo err2 1>&2"));
    assertEquals((await job.wait()).exitCode, 0);
    assertEquals(await outputText(job), "out1\nerr1\nout2\nerr2\n");
    // Also for a program writing to both fds itself.
    const py = await manager.start({
      command: "python3",
      args: ["-c", "import os; os.write(1, b'A'); os.write(2, b'B'); os.write(1, b'C')"],
    });
    await py.wait();
    assertEquals(await outputText(py), "ABC");
  });
});

rootTest(
  "50 concurrent readers of a running job all get the identical complete output",
  async () => {
    await withManager(async ({ manager }) => {
      const job = await manager.start(
        sh('for i in $(seq 100); do echo "line $i"; sleep 0.01; done'),
      );
      const outputs = await Promise.all(
        Array.from({ length: 50 }, () => outputText(job)),
      );
      const expected = Array.from({ length: 100 }, (_, i) => `line ${i + 1}\n`).join("");
      for (const out of outputs) assertEquals(out, expected);
      assertEquals((await job.wait()).exitCode, 0);
    });
  },
);

rootTest("a reader waiting on a running job receives a new byte within 50 ms", async () => {
  await withManager(async ({ manager, scratch }) => {
    // The job polls (every 0.5 ms, without forking) for go<i> files and
    // prints one byte each time one appears.
    const rounds = 5;
    const script = [
      "import os, sys, time",
      "print('ready', flush=True)",
      `for i in range(${rounds}):`,
      `    while not os.path.exists('${scratch}/go%d' % i): time.sleep(0.0005)`,
      "    sys.stdout.write(str(i)); sys.stdout.flush()",
    ].join("\n");
    const job = await manager.start({ command: "python3", args: ["-c", script] });
    await waitForOutput(job, "ready");
    const reader = job.output({ offset: "ready\n".length });
    const latencies: number[] = [];
    try {
      for (let i = 0; i < rounds; i++) {
        const pending = reader.readChunk();
        await sleep(30); // the reader is waiting now
        const t0 = performance.now();
        await Deno.writeTextFile(join(scratch, `go${i}`), "");
        const chunk = await withTimeout(pending, 2_000, "the byte");
        latencies.push(performance.now() - t0);
        assertEquals(decoder.decode(chunk!.data), String(i));
      }
    } finally {
      reader.close();
    }
    console.log(`  follower latency (ms): ${latencies.map((l) => l.toFixed(1)).join(", ")}`);
    for (const latency of latencies) assertLess(latency, 50);
    assertEquals((await job.wait()).exitCode, 0);
  });
});

rootTest("abort() of a pending read rejects promptly; no reader or fd is left", async () => {
  await withManager(async ({ manager, dataDir }) => {
    const job = await manager.start(sh("echo hello; sleep 30"));
    await waitForOutput(job, "hello");
    const before = await fdsInto(dataDir);
    const controller = new AbortController();
    const reader = job.output({ offset: 6, signal: controller.signal });
    const pending = reader.read(new Uint8Array(16));
    const outputPath = join(dataDir, "jobs", job.id, "output");
    await sleep(50);
    assertEquals(job.state, "running");
    assertEquals((await fdsInto(dataDir)).sort(), [...before, outputPath].sort());
    assertEquals(await inotifyWatchesOn(outputPath), 1, "the waiting reader's watch");
    const reason = new Error("client went away");
    const t0 = performance.now();
    controller.abort(reason);
    const err = await assertRejects(() => pending);
    const elapsed = performance.now() - t0;
    assertEquals(err, reason);
    assertLess(elapsed, 50);
    assert(reader.closed);
    await waitUntil(
      async () => (await fdsInto(dataDir)).length === before.length,
      "fd closed",
      1_000,
    );
    assertEquals((await fdsInto(dataDir)).sort(), before.sort());
    await waitUntil(async () => await inotifyWatchesOn(outputPath) === 0, "watch removed", 1_000);
    // Later reads keep failing with the reason; the job is unaffected.
    await assertRejects(() => reader.read(new Uint8Array(1)));
    assertEquals(job.state, "running");
    assertEquals(await job.stop({ graceMs: 0 }).then((s) => s.state), "stopped");
  });
});

rootTest(
  "close() of a reader with a pending read resolves it promptly; nothing leaks",
  async () => {
    await withManager(async ({ manager, dataDir }) => {
      const job = await manager.start(sh("echo hello; sleep 30"));
      await waitForOutput(job, "hello");
      const before = await fdsInto(dataDir);
      const readers = Array.from({ length: 10 }, () => job.output({ offset: 6 }));
      const pendings = readers.map((reader) => reader.read(new Uint8Array(16)));
      const outputPath = join(dataDir, "jobs", job.id, "output");
      await sleep(50);
      assertEquals(
        (await fdsInto(dataDir)).length,
        before.length + 11,
        "a handle per waiting reader, and one the readers share (the tail)",
      );
      assertEquals(await inotifyWatchesOn(outputPath), 1, "one shared watch for all waiters");
      const t0 = performance.now();
      for (const reader of readers) reader.close();
      const results = await Promise.all(pendings);
      const elapsed = performance.now() - t0;
      assertEquals(results, Array(10).fill(null));
      assertLess(elapsed, 50);
      await waitUntil(
        async () => (await fdsInto(dataDir)).length === before.length,
        "fds closed",
        1_000,
      );
      assertEquals(await fdsInto(dataDir), before);
      await waitUntil(async () => await inotifyWatchesOn(outputPath) === 0, "watch removed", 1_000);
      assertEquals(job.state, "running");
    });
  },
);

rootTest("a reader closes itself on abort, on close and at end of stream", async () => {
  // The job API does not expose OutputFile.readerCount; what a registered
  // reader holds (its fd into the data dir, the file's inotify watch while
  // it waits) is checked instead.
  await withManager(async ({ manager, dataDir }) => {
    const job = await manager.start(sh("echo hello; sleep 30"));
    await waitForOutput(job, "hello");
    const outputPath = join(dataDir, "jobs", job.id, "output");
    // Only the output file's: the manager itself follows the executor's reports file.
    const outputFds = async () => (await fdsInto(dataDir)).filter((f) => f === outputPath);
    const before = await outputFds();
    const controller = new AbortController();
    const aborted = job.output({ offset: 6, signal: controller.signal });
    const closed = job.output({ offset: 6 });
    const pendingAbort = aborted.read(new Uint8Array(4)).catch((e) => e);
    const pendingClose = closed.read(new Uint8Array(4));
    await sleep(20);
    // A handle each, and one the two share (the tail).
    assertEquals((await outputFds()).length, before.length + 3);
    controller.abort(new Error("bye"));
    closed.close();
    assertEquals((await pendingAbort as Error).message, "bye");
    assertEquals(await pendingClose, null);
    assert(aborted.closed && closed.closed);
    // A reader whose signal had already aborted never opens anything.
    const pre = new AbortController();
    pre.abort(new Error("early"));
    const never = job.output({ signal: pre.signal });
    assert(never.closed);
    await assertRejects(() => never.read(new Uint8Array(1)));
    // A reader left open while the job ends closes itself at end of stream.
    const follower = job.output();
    const first = await follower.readChunk();
    assertEquals(decoder.decode(first!.data), "hello\n");
    const end = follower.readChunk();
    await job.stop({ graceMs: 0 });
    assertEquals(await withTimeout(end, 2_000, "end of stream"), null);
    assert(follower.closed);
    await waitUntil(async () => (await outputFds()).length === before.length, "fds", 1_000);
    assertEquals(await outputFds(), before);
    assertEquals(await inotifyWatchesOn(outputPath), 0);
  });
});
