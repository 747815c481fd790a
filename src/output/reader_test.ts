import {
  assert,
  assertEquals,
  assertLess,
  assertRejects,
  assertStrictEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { readerToken } from "./_host.ts";
import {
  concat,
  fdsUnder,
  readAll,
  sh,
  ShellAppender,
  sleep,
  text,
  within,
  withOutput,
} from "../../tests/output/_fixture.ts";
import { MAX_STREAM_CHUNK_SIZE, type OutputChunk, OutputReader } from "./reader.ts";

Deno.test("reader reads from offset 0 and from a middle offset", async () => {
  await withOutput(async (output) => {
    await sh(`printf 'hello, ' >> "$1"; printf 'world' >> "$1"`, [output.path]);
    output.complete();
    assertEquals(text(await readAll(output.reader())), "hello, world");
    const middle = output.reader({ offset: 7 });
    assertEquals(middle.offset, 7);
    assertEquals(text(await readAll(middle)), "world");
    assertEquals(middle.offset, 12);
    assertEquals(output.readerCount, 0);
  });
});

Deno.test("reader returns at most p.length bytes and keeps its own offset", async () => {
  await withOutput(async (output) => {
    await sh(`printf 0123456789 >> "$1"`, [output.path]);
    const a = output.reader();
    const b = output.reader({ offset: 5 });
    const p = new Uint8Array(3);
    assertEquals(await a.read(p), 3);
    assertEquals(text(p), "012");
    assertEquals(await b.read(p), 3);
    assertEquals(text(p), "567");
    assertEquals(await a.read(p), 3);
    assertEquals(text(p), "345");
    assertEquals(await a.read(new Uint8Array(0)), 0);
    assertEquals([a.offset, b.offset], [6, 8]);
    a.close();
    b.close();
  });
});

Deno.test("binary bytes come back exactly, all 256 values", async () => {
  await withOutput(async (output, dir) => {
    const bytes = new Uint8Array(256 * 40).map((_, i) => (i * 7 + (i >> 8)) & 0xff);
    await Deno.writeFile(`${dir}/src.bin`, bytes);
    await sh(`cat "$1" >> "$2"; cat "$1" >> "$2"`, [`${dir}/src.bin`, output.path]);
    output.complete();
    assertEquals(await readAll(output.reader(), { bufferSize: 1000 }), concat([bytes, bytes]));
  });
});

Deno.test("a waiting reader gets a byte appended by the same process within 50 ms", async () => {
  await withOutput(async (output) => {
    const reader = output.reader();
    const writer = await Deno.open(output.path, { append: true });
    const latencies: number[] = [];
    try {
      const p = new Uint8Array(16);
      for (let i = 0; i < 25; i++) {
        const read = reader.read(p);
        // Let the reader reach its wait (watch armed) before writing.
        await sleep(10);
        const start = performance.now();
        writer.writeSync(new Uint8Array([i]));
        assertEquals(await read, 1);
        latencies.push(performance.now() - start);
        assertEquals(p[0], i);
      }
    } finally {
      writer.close();
      reader.close();
    }
    latencies.sort((a, b) => a - b);
    console.log(`in-process append -> read latency ms: ${fmt(latencies)}`);
    assertLess(latencies.at(-1)!, 50);
  });
});

Deno.test("a waiting reader gets a byte appended by another process within 50 ms", async () => {
  await withOutput(async (output) => {
    const reader = output.reader();
    const appender = new ShellAppender(output.path);
    const latencies: number[] = [];
    try {
      const p = new Uint8Array(16);
      for (let i = 0; i < 25; i++) {
        const read = reader.read(p);
        await sleep(10);
        // Measured from handing the line to the shell, so this includes the
        // pipe and the shell's open/write/close: an upper bound.
        const start = performance.now();
        await appender.append(String.fromCharCode(65 + i));
        assertEquals(await read, 1);
        latencies.push(performance.now() - start);
        assertEquals(p[0], 65 + i);
      }
    } finally {
      await appender.close();
      reader.close();
    }
    latencies.sort((a, b) => a - b);
    console.log(`external append -> read latency ms: ${fmt(latencies)}`);
    assertLess(latencies.at(-1)!, 50);
  });
});

Deno.test("end of stream comes only after complete() and after every byte was read", async () => {
  await withOutput(async (output) => {
    await sh(`printf 'abcdefghij' >> "$1"`, [output.path]);
    const reader = output.reader();
    const p = new Uint8Array(4);
    assertEquals(await reader.read(p), 4);
    // Completed while bytes are still unread: they must still be delivered.
    output.complete();
    assertEquals(await reader.read(p), 4);
    assertEquals(await reader.read(p), 2);
    assertEquals(text(p.subarray(0, 2)), "ij");
    assertEquals(await reader.read(p), null);
    assert(reader.closed, "reader closes itself at end of stream");
    assertEquals(output.readerCount, 0);
    assertEquals(await reader.read(p), null);
  });
});

Deno.test("a reader at the end waits while the job runs and ends promptly on complete()", async () => {
  await withOutput(async (output) => {
    await sh(`printf 'xyz' >> "$1"`, [output.path]);
    const reader = output.reader();
    assertEquals(text(await readAll_(reader, 3)), "xyz");
    const pending = reader.read(new Uint8Array(8));
    assertEquals(await within(pending, 150), "timeout", "no end of stream before complete()");
    const start = performance.now();
    output.complete();
    assertEquals(await pending, null);
    assertLess(performance.now() - start, 50);
    assertEquals(output.readerCount, 0);
  });
});

Deno.test("an offset beyond the end waits for the file to reach it", async () => {
  await withOutput(async (output) => {
    await sh(`printf '01234' >> "$1"`, [output.path]);
    const reader = output.reader({ offset: 8 });
    const p = new Uint8Array(16);
    const pending = reader.read(p);
    await sh(`printf '567' >> "$1"`, [output.path]);
    assertEquals(await within(pending, 100), "timeout", "file is still shorter than the offset");
    await sh(`printf '89' >> "$1"`, [output.path]);
    assertEquals(await pending, 2);
    assertEquals(text(p.subarray(0, 2)), "89");
    assertEquals(reader.offset, 10);
    reader.close();
  });
});

Deno.test("an offset beyond the end of a file that completes shorter ends the stream", async () => {
  await withOutput(async (output) => {
    await sh(`printf '01234' >> "$1"`, [output.path]);
    const reader = output.reader({ offset: 100 });
    const pending = reader.read(new Uint8Array(16));
    await sleep(20);
    output.complete();
    assertEquals(await pending, null);
    assertEquals(output.readerCount, 0);
  });
});

Deno.test("close() resolves a pending read with null promptly and frees the handle", async () => {
  await withOutput(async (output, dir) => {
    const reader = output.reader();
    const pending = reader.read(new Uint8Array(8));
    await sleep(20);
    assertEquals(fdsUnder(dir), 1, "a lone reader holds one handle while it waits");
    const start = performance.now();
    reader.close();
    assertEquals(await pending, null);
    assertLess(performance.now() - start, 50);
    assertEquals(fdsUnder(dir), 0);
    assertEquals(output.readerCount, 0);
    reader.close();
    assertEquals(await reader.read(new Uint8Array(8)), null);
  });
});

Deno.test("abort rejects a pending read with the reason and closes the reader", async () => {
  await withOutput(async (output, dir) => {
    const controller = new AbortController();
    const reader = output.reader({ signal: controller.signal });
    const pending = reader.read(new Uint8Array(8));
    await sleep(20);
    assertEquals(fdsUnder(dir), 1);
    const reason = new Error("client went away");
    const start = performance.now();
    controller.abort(reason);
    const err = await assertRejects(() => pending, Error, "client went away");
    assertStrictEquals(err, reason);
    assertLess(performance.now() - start, 50);
    assert(reader.closed);
    assertEquals(output.readerCount, 0);
    assertEquals(fdsUnder(dir), 0);
    assertStrictEquals(await assertRejects(() => reader.read(new Uint8Array(8))), reason);
    assertStrictEquals(await assertRejects(() => reader.readChunk()), reason);
  });
});

Deno.test("a reader with an already aborted signal is closed and rejects reads", async () => {
  await withOutput(async (output) => {
    const reason = new Error("too late");
    const reader = output.reader({ signal: AbortSignal.abort(reason) });
    assert(reader.closed);
    assertEquals(output.readerCount, 0);
    assertStrictEquals(await assertRejects(() => reader.read(new Uint8Array(1))), reason);
  });
});

Deno.test("a second concurrent read() of one reader is refused", async () => {
  await withOutput(async (output) => {
    const reader = output.reader();
    const first = reader.read(new Uint8Array(4));
    await assertRejects(() => reader.read(new Uint8Array(4)), Deno.errors.Busy, "pending");
    reader.close();
    assertEquals(await first, null);
  });
});

Deno.test("readChunk() reports offsets that let a new reader resume exactly", async () => {
  await withOutput(async (output) => {
    await sh(`head -c 300000 /dev/urandom >> "$1"`, [output.path]);
    output.complete();
    const all = await readAll(output.reader());
    const first = output.reader();
    const a = await first.readChunk(1000);
    const b = await first.readChunk(1000);
    assert(a !== null && b !== null);
    assertEquals([a.offset, a.data.length, b.offset, b.data.length], [0, 1000, 1000, 1000]);
    first.close();
    const resumed = output.reader({ offset: b.offset + b.data.length });
    const rest: Uint8Array[] = [];
    let expected = 2000;
    for await (const chunk of resumed) {
      assertEquals(chunk.offset, expected);
      expected += chunk.data.length;
      rest.push(chunk.data);
    }
    assertEquals(concat([a.data, b.data, ...rest]), all);
    await assertRejects(
      () => first.readChunk(0),
      RangeError,
      "maxBytes must be a safe integer >= 1",
    );
    await assertRejects(() => first.readChunk(1.5), RangeError, "got 1.5");
  });
});

Deno.test("async iterator and readable stream yield the same bytes as the file", async () => {
  await withOutput(async (output) => {
    const iterated: OutputChunk[] = [];
    const viaIterator = (async () => {
      for await (const chunk of output.reader({ chunkSize: 10_000 })) iterated.push(chunk);
    })();
    const viaStream = new Response(output.reader().readable).bytes();
    // Written while both consume, so both wait for growth as well.
    await sh(
      `for i in 1 2 3 4 5; do head -c 40000 /dev/urandom >> "$1"; sleep 0.01; done`,
      [output.path],
    );
    output.complete();
    await viaIterator;
    const streamed = await viaStream;
    const file = await Deno.readFile(output.path);
    assertEquals(file.length, 200_000);
    assertEquals(concat(iterated.map((c) => c.data)), file);
    assertEquals(streamed, file);
    let offset = 0;
    for (const chunk of iterated) {
      assertEquals(chunk.offset, offset);
      assert(chunk.data.length > 0 && chunk.data.length <= MAX_STREAM_CHUNK_SIZE);
      offset += chunk.data.length;
    }
    assertEquals(output.readerCount, 0);
  });
});

Deno.test("iterator chunks grow while the reader is behind and shrink once it caught up", async () => {
  await withOutput(async (output) => {
    await sh(`head -c 3000000 /dev/urandom >> "$1"`, [output.path]);
    const sizes: number[] = [];
    const reader = output.reader({ chunkSize: 100_000 });
    const appender = new ShellAppender(output.path);
    try {
      for await (const chunk of reader) {
        sizes.push(chunk.data.length);
        // Caught up: from now on the writer trickles, one short chunk at a time.
        if (chunk.offset + chunk.data.length === 3_000_000) await appender.append("tail");
        if (chunk.offset + chunk.data.length === 3_000_004) await appender.append("more");
        if (chunk.offset + chunk.data.length === 3_000_008) break;
      }
    } finally {
      await appender.close();
    }
    assertEquals(sizes.slice(0, 5), [100_000, 200_000, 400_000, 800_000, 1_048_576]);
    assertEquals(sizes.slice(-2), [4, 4]);
    assertEquals(sizes.reduce((a, b) => a + b, 0), 3_000_008);
  });
});

Deno.test("cancelling the readable stream closes the reader", async () => {
  await withOutput(async (output, dir) => {
    const reader = output.reader();
    const streamReader = reader.readable.getReader();
    const pending = streamReader.read();
    await sleep(20);
    assertEquals(fdsUnder(dir), 1);
    await streamReader.cancel();
    assertEquals((await pending).done, true);
    assert(reader.closed);
    assertEquals(output.readerCount, 0);
    assertEquals(fdsUnder(dir), 0);
  });
});

Deno.test("an abort errors the readable stream with the reason", async () => {
  await withOutput(async (output) => {
    const controller = new AbortController();
    const streamReader = output.reader({ signal: controller.signal }).readable.getReader();
    const pending = streamReader.read();
    const reason = new Error("stop streaming");
    controller.abort(reason);
    assertStrictEquals(await assertRejects(() => pending), reason);
    assertEquals(output.readerCount, 0);
  });
});

Deno.test("leaving the async iterator early closes the reader", async () => {
  await withOutput(async (output) => {
    await sh(`printf 'abc' >> "$1"`, [output.path]);
    const reader = output.reader({ chunkSize: 1 });
    for await (const chunk of reader) {
      assertEquals(text(chunk.data), "a");
      break;
    }
    assert(reader.closed);
    assertEquals(reader.offset, 1);
    assertEquals(output.readerCount, 0);
  });
});

Deno.test("a reader whose file vanished before its first read names the file", async () => {
  await withOutput(async (output) => {
    await Deno.remove(output.path);
    const reader = output.reader();
    const err = await assertRejects(() => reader.read(new Uint8Array(4)), Error, "cannot open");
    assertStringIncludes(err.message, output.path);
    reader.close();
    assertEquals(output.readerCount, 0);
  });
});

Deno.test("OutputReader cannot be constructed directly", () => {
  const construct = OutputReader as unknown as new (token: unknown, init: unknown) => unknown;
  assertThrows(() => new construct(Symbol("forged"), {}), TypeError, "OutputFile.reader()");
  assert(typeof readerToken === "symbol");
});

/** Reads exactly `n` bytes with read(). */
async function readAll_(reader: OutputReader, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const got = await reader.read(out.subarray(at));
    assert(got !== null, "unexpected end of stream");
    at += got;
  }
  return out;
}

function fmt(sorted: readonly number[]): string {
  const pick = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `min ${pick(0).toFixed(2)} median ${pick(0.5).toFixed(2)} p90 ${
    pick(0.9).toFixed(2)
  } max ${sorted.at(-1)!.toFixed(2)} (n=${sorted.length})`;
}

Deno.test("an offset past the largest possible file waits for the end, then ends cleanly", async () => {
  await withOutput(async (output) => {
    await sh(`printf 'hello' >> "$1"`, [output.path]);
    const far = output.reader({ offset: Number.MAX_SAFE_INTEGER });
    const pending = far.readChunk();
    const early = await Promise.race([pending, sleep(50).then(() => "waiting")]);
    assertEquals(early, "waiting");
    output.complete();
    assertEquals(await pending, null);
    assertEquals(far.closed, true);
  });
});

Deno.test("two hundred live followers get every byte, in order, from one shared tail", async () => {
  await withOutput(async (output, dir) => {
    const followers = Array.from({ length: 200 }, () => output.reader());
    const got = followers.map(async (reader) => {
      const parts: Uint8Array[] = [];
      for await (const chunk of reader) parts.push(chunk.data);
      return concat(parts);
    });
    const expected: Uint8Array[] = [];
    await sleep(20);
    // Every waiting follower holds its own handle; the tail adds one.
    assertEquals(fdsUnder(dir), 201);
    const file = await Deno.open(output.path, { write: true, append: true });
    try {
      for (let i = 0; i < 50; i++) {
        const line = new TextEncoder().encode(`line ${i} ${"x".repeat(i * 97)}\n`);
        expected.push(line);
        await file.write(line);
        if (i % 5 === 0) await sleep(5);
      }
    } finally {
      file.close();
    }
    output.complete();
    const want = concat(expected);
    for (const data of await Promise.all(got)) assertEquals(data, want);
    assertEquals(output.readerCount, 0);
    assertEquals(fdsUnder(dir), 0, "the tail's handle goes with the last reader");
  });
});

Deno.test("a follower far behind reads the file, then joins the tail without a gap", async () => {
  await withOutput(async (output) => {
    // A live follower keeps the tail moving while a late one starts at 0.
    const live = output.reader();
    const liveDone = (async () => {
      let n = 0;
      for await (const chunk of live) n += chunk.data.length;
      return n;
    })();
    const file = await Deno.open(output.path, { write: true, append: true });
    const pattern = (i: number) => new Uint8Array(4096).map((_, k) => (i * 31 + k) & 0xff);
    const written: Uint8Array[] = [];
    try {
      for (let i = 0; i < 200; i++) {
        written.push(pattern(i));
        await file.write(written.at(-1)!);
      }
      const late = output.reader({ offset: 0 });
      const lateDone = readAll(late, { bufferSize: 3000 });
      for (let i = 200; i < 400; i++) {
        written.push(pattern(i));
        await file.write(written.at(-1)!);
        if (i % 50 === 0) await sleep(5);
      }
      output.complete();
      assertEquals(await lateDone, concat(written));
      assertEquals(await liveDone, 400 * 4096);
    } finally {
      file.close();
    }
  });
});

Deno.test("a follower misses nothing while other readers come and go (the tail on and off)", async () => {
  await withOutput(async (output) => {
    const follower = output.reader();
    const got = (async () => {
      const parts: Uint8Array[] = [];
      for await (const chunk of follower) parts.push(chunk.data);
      return concat(parts);
    })();
    const file = await Deno.open(output.path, { write: true, append: true });
    const expected: Uint8Array[] = [];
    try {
      for (let i = 0; i < 60; i++) {
        // Every third round a second reader joins (tail on) or leaves (off).
        const visitor = i % 3 === 0 ? output.reader({ offset: 0 }) : null;
        const line = new TextEncoder().encode(`round ${i}\n`);
        expected.push(line);
        await file.write(line);
        await sleep(i % 2);
        visitor?.close();
      }
    } finally {
      file.close();
    }
    output.complete();
    assertEquals(await got, concat(expected));
  });
});
