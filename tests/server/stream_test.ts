/**
 * StreamOutput end to end: offsets and resuming, many concurrent
 * followers, and readers freed as soon as their client goes away.
 */
import {
  assert,
  assertEquals,
  assertGreater,
  assertGreaterOrEqual,
  assertLessOrEqual,
} from "@std/assert";
import type { JobWorkerClient } from "../../src/api/client.ts";
import type { OutputChunk } from "../../src/job/mod.ts";
import {
  concat,
  decoder,
  fdsInto,
  RawCaller,
  rootTest,
  sleep,
  streamAll,
  streamChunks,
  waitEnded,
  waitUntil,
  withServer,
  withTimeout,
} from "./_fixture.ts";

/** Chunks are contiguous from `offset` and together equal `expected`. */
function assertContiguous(
  chunks: OutputChunk[],
  offset: number,
  expected: Uint8Array,
  what: string,
) {
  let at = offset;
  for (const chunk of chunks) {
    assertEquals(chunk.offset, at, `${what}: chunk offset`);
    assertGreater(chunk.data.length, 0, `${what}: empty chunk`);
    at += chunk.data.length;
  }
  if (chunks.length > 0) assertEquals(chunks[0]!.offset, offset, `${what}: first chunk's offset`);
  assertEquals(concat(chunks.map((c) => c.data)), expected, `${what}: bytes`);
}

rootTest(
  "streams: from any offset exactly the bytes from there, also while the job runs",
  async () => {
    await withServer(async (ctx) => {
      const alice = await ctx.client("alice");
      // An ended job: ~9 KB of numbers, then a few raw bytes.
      const { id } = await alice.start({
        command: "sh",
        args: ["-c", String.raw`seq 1 2000; printf '\000\377end'`],
      });
      await waitEnded(alice, id);
      const fullChunks = await streamChunks(alice, id);
      const full = concat(fullChunks.map((c) => c.data));
      const expectedText = Array.from({ length: 2000 }, (_, i) => `${i + 1}\n`).join("");
      assertEquals(full.length, expectedText.length + 5);
      assertEquals(decoder.decode(full.slice(0, expectedText.length)), expectedText);
      assertEquals([...full.slice(-5)], [0, 0xff, ...new TextEncoder().encode("end")]);
      assertContiguous(fullChunks, 0, full, "offset 0");

      for (const offset of [1, 7, 1000, 4096, full.length - 5, full.length - 1]) {
        const chunks = await streamChunks(alice, id, { offset });
        assertGreater(chunks.length, 0, `offset ${offset}`);
        assertContiguous(chunks, offset, full.slice(offset), `offset ${offset}`);
      }
      // At or past the end of an ended job: completes (OK) with nothing.
      assertEquals(await streamChunks(alice, id, { offset: full.length }), []);
      assertEquals(await streamChunks(alice, id, { offset: full.length + 1000 }), []);

      // A running job: read a little, drop the call, resume where it stopped.
      const running = (await alice.start({
        command: "sh",
        args: ["-c", "i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo tick $i; sleep 0.02; done"],
      })).id;
      const head: OutputChunk[] = [];
      for await (const chunk of alice.streamOutput(running)) {
        head.push(chunk);
        if (head.length === 3) break; // cancels the call
      }
      assertEquals(
        (await alice.status(running)).state,
        "running",
        "the job outlives the first call",
      );
      const last = head.at(-1)!;
      const resumeAt = last.offset + last.data.length;
      const rest = await streamChunks(alice, running, { offset: resumeAt });
      assertEquals(rest[0]?.offset, resumeAt);
      const whole = await streamAll(alice, running);
      assertContiguous([...head, ...rest], 0, whole, "resumed");
      assertEquals(
        decoder.decode(whole),
        Array.from({ length: 40 }, (_, i) => `tick ${i + 1}\n`).join(""),
      );
    });
  },
);

rootTest("streams: 100 concurrent followers of a running job each get every byte", async () => {
  await withServer(async (ctx) => {
    const alice = await ctx.client("alice");
    // 200 numbered lines over ~2 s.
    const { id } = await alice.start({
      command: "sh",
      args: [
        "-c",
        'i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo "line $i of 200"; sleep 0.01; done',
      ],
    });
    // 10 connections with 10 streams each.
    const clients: JobWorkerClient[] = [];
    for (let i = 0; i < 10; i++) clients.push(await ctx.client("alice"));
    const firstChunk: Array<PromiseWithResolvers<void>> = [];
    const followers = Array.from({ length: 100 }, (_, i) => {
      const first = Promise.withResolvers<void>();
      firstChunk.push(first);
      return (async () => {
        const chunks: OutputChunk[] = [];
        for await (const chunk of clients[i % 10]!.streamOutput(id)) {
          chunks.push(chunk);
          first.resolve();
        }
        return chunks;
      })();
    });
    // Every follower is attached (has bytes) while the job still runs.
    await withTimeout(
      Promise.all(firstChunk.map((f) => f.promise)),
      10_000,
      "every follower's first chunk",
    );
    assertEquals((await alice.status(id)).state, "running", "followers attached while running");

    const results = await withTimeout(Promise.all(followers), 20_000, "100 followers");
    const status = await alice.status(id);
    assertEquals(status.state, "exited");
    assertEquals(status.exitCode, 0);
    const full = await streamAll(alice, id);
    const expected = Array.from({ length: 200 }, (_, i) => `line ${i + 1} of 200\n`).join("");
    assertEquals(decoder.decode(full), expected);
    results.forEach((chunks, i) => assertContiguous(chunks, 0, full, `follower ${i}`));
  });
});

rootTest("streams: a client that goes away frees its reader at once", async () => {
  await withServer(async (ctx) => {
    const alice = await ctx.client("alice");
    const { id } = await alice.start({
      command: "sh",
      args: ["-c", "echo started; sleep 600"],
    });
    // Wait until the output exists, then measure with no reader attached.
    await waitUntil(async () => {
      for await (const _ of alice.streamOutput(id)) return true;
      return false;
    }, "the job prints");
    await sleep(100);
    const baseline = (await fdsInto(ctx.dataDir)).length;

    const controllers: AbortController[] = [];
    const attached: Array<PromiseWithResolvers<void>> = [];
    const followers: Promise<number>[] = [];
    for (let i = 0; i < 10; i++) {
      const client = await ctx.client("alice");
      const controller = new AbortController();
      const first = Promise.withResolvers<void>();
      controllers.push(controller);
      attached.push(first);
      followers.push((async () => {
        let bytes = 0;
        for await (const chunk of client.streamOutput(id, { signal: controller.signal })) {
          bytes += chunk.data.length;
          first.resolve();
        }
        return bytes;
      })());
    }
    await withTimeout(Promise.all(attached.map((a) => a.promise)), 10_000, "followers attach");
    // Each follower now waits at the end of the output with an open reader.
    const during = (await fdsInto(ctx.dataDir)).length;
    assertGreaterOrEqual(
      during,
      baseline + 10,
      `fds: baseline ${baseline}, with 10 followers ${during}`,
    );

    for (const controller of controllers) controller.abort();
    const got = await withTimeout(Promise.all(followers), 5_000, "cancelled followers return");
    assertEquals(got, Array(10).fill("started\n".length));
    const cancelledAt = performance.now();
    await waitUntil(
      async () => (await fdsInto(ctx.dataDir)).length <= baseline,
      `the server closes the readers' fds (baseline ${baseline})`,
      1_000,
      10,
    );
    assertLessOrEqual(performance.now() - cancelledAt, 1_000);
    assertEquals((await fdsInto(ctx.dataDir)).length, baseline);
    // The job was not disturbed.
    const status = await alice.status(id);
    assertEquals(status.state, "running");
    assert(status.endedAt === null);
  });
});

/** StreamOutputRequest on the wire: id = 1, offset = 2, follow = 3 (absent when undefined). */
function streamRequestBytes(id: string, options: { offset?: number; follow?: boolean } = {}) {
  const idBytes = new TextEncoder().encode(id);
  const bytes = [0x0a, idBytes.length, ...idBytes];
  if (options.offset !== undefined) bytes.push(0x10, options.offset); // small offsets: one byte
  if (options.follow !== undefined) bytes.push(0x18, options.follow ? 1 : 0);
  return new Uint8Array(bytes);
}

rootTest(
  "streams: follow=false returns the bytes written so far and completes; an old request follows",
  async () => {
    await withServer(async (ctx) => {
      const alice = await ctx.client("alice");
      const marker = `${ctx.scratch}/go`;
      const { id } = await alice.start({
        command: "sh",
        args: [
          "-c",
          `printf 'first\\n'; while [ ! -e ${marker} ]; do sleep 0.05; done; printf 'second\\n'`,
        ],
      });
      await waitUntil(async () => {
        const chunks = await streamChunks(alice, id, { follow: false });
        return chunks.length > 0;
      }, "the first line");
      // A snapshot of a running job: exactly what is there, then the end.
      const snapshot = await withTimeout(
        streamChunks(alice, id, { follow: false }),
        5_000,
        "a snapshot of a running job",
      );
      assertEquals(decoder.decode(concat(snapshot.map((c) => c.data))), "first\n");
      const fromThree = await streamChunks(alice, id, { offset: 3, follow: false });
      assertEquals(decoder.decode(concat(fromThree.map((c) => c.data))), "st\n");
      assertEquals(await streamChunks(alice, id, { offset: 100, follow: false }), []);

      // Raw requests: field 3 false is a snapshot; no field 3 (an older
      // client) and field 3 true follow until the job ends.
      const raw = await RawCaller.connect(ctx, "alice");
      ctx.defer(() => raw.close());
      const rawSnapshot = await raw.call("StreamOutput", streamRequestBytes(id, { follow: false }));
      assertEquals(rawSnapshot.code, 0, rawSnapshot.details);
      assertEquals(rawSnapshot.messages.length, 1);
      const oldStyle = raw.call("StreamOutput", streamRequestBytes(id));
      const explicit = raw.call("StreamOutput", streamRequestBytes(id, { follow: true }));
      const viaClient = streamAll(alice, id);
      await sleep(300);
      await Deno.writeTextFile(marker, "");
      for (const reply of await Promise.all([oldStyle, explicit])) {
        assertEquals(reply.code, 0, reply.details);
        const text = reply.messages.map((m) => decoder.decode(m)).join("");
        assert(text.includes("first\n") && text.includes("second\n"), `followed: ${text}`);
      }
      const client = await viaClient;
      assertEquals(decoder.decode(client), "first\nsecond\n");
      // Ended: a snapshot is the whole output.
      await waitEnded(alice, id);
      const whole = await streamChunks(alice, id, { follow: false });
      assertEquals(decoder.decode(concat(whole.map((c) => c.data))), "first\nsecond\n");
    });
  },
);
