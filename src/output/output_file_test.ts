import {
  assert,
  assertEquals,
  assertGreater,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  fdsUnder,
  readAll,
  sh,
  sha256Hex,
  sha256sumFile,
  sleep,
  TEMP_PREFIX,
  withOutput,
  withTempDir,
} from "../../tests/output/_fixture.ts";
import { OutputFile } from "./output_file.ts";

Deno.test("create() makes an empty file with mode 0600", async () => {
  await withOutput(async (output) => {
    const info = await Deno.stat(output.path);
    assert(info.isFile);
    assertEquals(info.mode! & 0o777, 0o600);
    assertEquals(await output.size(), 0);
    assertEquals(output.completed, false);
    assertEquals(output.readerCount, 0);
  });
});

Deno.test("create() on an existing path fails and leaves the file alone", async () => {
  await withOutput(async (output) => {
    await sh(`printf 'keep me' >> "$1"`, [output.path]);
    const err = await assertRejects(
      () => OutputFile.create(output.path),
      Deno.errors.AlreadyExists,
      "already exists",
    );
    assertStringIncludes(err.message, output.path);
    assertEquals(await Deno.readTextFile(output.path), "keep me");
  });
});

Deno.test("create() in a missing directory names the path", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/missing/job.out`;
    const err = await assertRejects(() => OutputFile.create(path), Error, "cannot create");
    assertStringIncludes(err.message, path);
  }, { prefix: TEMP_PREFIX });
});

Deno.test("open() attaches to an existing file, completed or not", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/job.out`;
    await sh(`printf 'from before the restart' > "$1"`, [path]);
    const done = await OutputFile.open(path, { completed: true });
    assert(done.completed);
    assertEquals(await done.size(), 23);
    assertEquals(new TextDecoder().decode(await readAll(done.reader())), "from before the restart");
    await done.close();

    const running = await OutputFile.open(path);
    assertEquals(running.completed, false);
    const reader = running.reader({ offset: 23 });
    const pending = reader.read(new Uint8Array(8));
    await sh(`printf '!' >> "$1"`, [path]);
    assertEquals(await pending, 1);
    await running.close();
    assertEquals(running.readerCount, 0);
  }, { prefix: TEMP_PREFIX });
});

Deno.test("open() of a missing path or a directory fails clearly", async () => {
  await withTempDir(async (dir) => {
    const err = await assertRejects(
      () => OutputFile.open(`${dir}/nope.out`),
      Deno.errors.NotFound,
      "does not exist",
    );
    assertStringIncludes(err.message, `${dir}/nope.out`);
    await assertRejects(() => OutputFile.open(dir), TypeError, "not a regular file");
  }, { prefix: TEMP_PREFIX });
});

Deno.test("reader() rejects invalid offsets and chunk sizes with RangeError", async () => {
  await withOutput((output) => {
    for (const offset of [-1, 1.5, NaN, Infinity, 2 ** 53, "3" as unknown as number]) {
      assertThrows(() => output.reader({ offset }), RangeError, "offset");
    }
    assertThrows(() => output.reader({ chunkSize: 0 }), RangeError, "chunkSize");
    assertEquals(output.readerCount, 0);
    return Promise.resolve();
  });
});

Deno.test("readerCount follows readers; close() ends pending reads and forbids new readers", async () => {
  await withOutput(async (output, dir) => {
    const readers = [output.reader(), output.reader({ offset: 5 }), output.reader()];
    assertEquals(output.readerCount, 3);
    readers[2]!.close();
    assertEquals(output.readerCount, 2);
    const pending = readers.slice(0, 2).map((r) => r.read(new Uint8Array(4)));
    await sleep(20);
    assertEquals(fdsUnder(dir), 3, "a handle per waiting reader, one shared (the tail)");
    await output.close();
    assertEquals(await Promise.all(pending), [null, null]);
    assertEquals(output.readerCount, 0);
    assertEquals(fdsUnder(dir), 0);
    assertThrows(() => output.reader(), Error, "is closed");
    await output.close();
  });
});

Deno.test("remove() closes readers and deletes the file; a second remove() is fine", async () => {
  await withTempDir(async (dir) => {
    const output = await OutputFile.create(`${dir}/job.out`);
    const pending = output.reader().read(new Uint8Array(4));
    await sleep(10);
    await output.remove();
    assertEquals(await pending, null);
    assertEquals(output.readerCount, 0);
    await assertRejects(() => Deno.stat(output.path), Deno.errors.NotFound);
    await output.remove();
  }, { prefix: TEMP_PREFIX });
});

Deno.test("complete() wakes every waiting reader", async () => {
  await withOutput(async (output) => {
    const readers = Array.from({ length: 10 }, () => output.reader());
    const pending = readers.map((r) => r.read(new Uint8Array(4)));
    await sleep(20);
    output.complete();
    output.complete();
    assertEquals(await Promise.all(pending), Array(10).fill(null));
    assertEquals(output.readerCount, 0);
  });
});

Deno.test("100 concurrent readers each receive every byte", async () => {
  await withOutput(async (output) => {
    const reads = Array.from({ length: 100 }, (_, i) =>
      // Odd sizes so readers fall out of step with each other and the writer.
      readAll(output.reader(), { bufferSize: 1000 + 37 * i }));
    await sh(
      `i=0; while [ $i -lt 100 ]; do head -c 10000 /dev/urandom >> "$1"; i=$((i+1)); done`,
      [output.path],
    );
    output.complete();
    const results = await Promise.all(reads);
    const expected = await sha256sumFile(output.path);
    assertEquals(await output.size(), 1_000_000);
    for (const bytes of results) {
      assertEquals(bytes.length, 1_000_000);
      assertEquals(await sha256Hex(bytes), expected);
    }
    assertEquals(output.readerCount, 0);
  });
});

Deno.test("50 MB written by another process while readers read come back exactly", async () => {
  await withOutput(async (output) => {
    const started = performance.now();
    const reads = [
      readAll(output.reader()),
      readAll(output.reader(), { bufferSize: 4096 }),
      (async () => {
        const chunks: Uint8Array[] = [];
        for await (const chunk of output.reader()) chunks.push(chunk.data);
        return chunks;
      })(),
    ];
    await sh(`head -c 50000000 /dev/urandom >> "$1"`, [output.path]);
    output.complete();
    const [a, b, chunks] = await Promise.all(reads);
    const elapsed = performance.now() - started;
    const expected = await sha256sumFile(output.path);
    assertEquals(await output.size(), 50_000_000);
    assertEquals(await sha256Hex(a as Uint8Array<ArrayBuffer>), expected);
    assertEquals(await sha256Hex(b as Uint8Array<ArrayBuffer>), expected);
    const c = new Blob(chunks as Uint8Array<ArrayBuffer>[]);
    assertEquals(await sha256Hex(await c.bytes()), expected);
    console.log(`50 MB written and read by 3 readers in ${elapsed.toFixed(0)} ms`);
    assertEquals(output.readerCount, 0);
  });
});

Deno.test("closing and aborting waiting readers returns /proc/self/fd to its baseline", async () => {
  // In a process of its own: `deno test --parallel` runs other test modules in
  // this very process, which would make a process-wide fd count flaky.
  await withTempDir(async (dir) => {
    const fixture = new URL("../../tests/output/_fd_leak_fixture.ts", import.meta.url).pathname;
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--quiet", fixture, dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(result.stderr);
    assert(result.success, `fd fixture failed: ${stderr}`);
    const counts = JSON.parse(new TextDecoder().decode(result.stdout));
    assertEquals(
      counts.waiting - counts.baseline,
      21,
      "each waiting reader holds one fd, and the readers share one (the tail)",
    );
    assertEquals(counts.after, counts.baseline, "fds back to baseline after close/abort");
    assertEquals([counts.readersWhileWaiting, counts.readersAfter], [20, 0]);
    assertEquals([counts.aborted, counts.nulls], [10, 10]);
    assertGreater(counts.baseline, 0);
  }, { prefix: TEMP_PREFIX });
});
