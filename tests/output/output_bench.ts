/**
 * Throughput of one reader draining a large, complete output file, next to
 * `cat file > /dev/null` as the baseline.
 *
 * ```sh
 * deno bench --allow-all tests/output/
 * # A 1 GiB file instead of the default 64 MiB one:
 * OUTPUT_BENCH_BYTES=1073741824 deno bench --allow-all tests/output/
 * # An existing file (left in place):
 * OUTPUT_BENCH_FILE=/tmp/big.out deno bench --allow-all tests/output/
 * ```
 *
 * MB/s = file size / time per iteration. The file is read once before the
 * benches, so every variant reads from the page cache.
 *
 * @module
 */
import { OutputFile } from "../../src/output/output_file.ts";

const MiB = 1024 * 1024;
const givenFile = Deno.env.get("OUTPUT_BENCH_FILE");
const bytes = Number(Deno.env.get("OUTPUT_BENCH_BYTES") ?? 64 * MiB);
if (!Number.isSafeInteger(bytes) || bytes <= 0) {
  throw new RangeError(`OUTPUT_BENCH_BYTES must be a positive integer, got ${bytes}`);
}

let tempDir: string | null = null;
let path: string;
if (givenFile !== undefined) {
  path = givenFile;
} else {
  tempDir = await Deno.makeTempDir({ prefix: "jobworker-output-bench-" });
  path = `${tempDir}/job.out`;
  const made = await new Deno.Command("sh", {
    args: ["-c", `head -c "$1" /dev/urandom > "$2"`, "sh", String(bytes), path],
  }).output();
  if (!made.success) throw new Error(`output_bench: could not write ${bytes} bytes to ${path}`);
  // deno bench has no teardown hook; unload runs once every bench is done.
  const dir = tempDir;
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
}
const size = (await Deno.stat(path)).size;
const output = await OutputFile.open(path, { completed: true });
// Warm the page cache so the first bench does not pay for the disk.
await new Deno.Command("cat", { args: [path], stdout: "null" }).output();

const group = `drain ${(size / MiB).toFixed(0)} MiB`;
const iterations = size >= 512 * MiB ? { n: 5, warmup: 1 } : {};

function check(n: number): void {
  if (n !== size) throw new Error(`output_bench: read ${n} bytes, file has ${size}`);
}

Deno.bench({
  name: "cat file > /dev/null",
  group,
  baseline: true,
  ...iterations,
  async fn() {
    const status = await new Deno.Command("cat", { args: [path], stdout: "null" }).output();
    if (!status.success) throw new Error("output_bench: cat failed");
  },
});

for (const bufferKiB of [64, 256, 1024, 4096]) {
  const buffer = new Uint8Array(bufferKiB * 1024);
  Deno.bench({
    name: `reader.read(), ${bufferKiB} KiB buffer`,
    group,
    ...iterations,
    async fn() {
      const reader = output.reader();
      let total = 0;
      for (let n = await reader.read(buffer); n !== null; n = await reader.read(buffer)) {
        total += n;
      }
      check(total);
    },
  });
}

Deno.bench({
  name: "reader.readChunk() loop, 64 KiB default",
  group,
  ...iterations,
  async fn() {
    const reader = output.reader();
    let total = 0;
    for (let c = await reader.readChunk(); c !== null; c = await reader.readChunk()) {
      total += c.data.length;
    }
    check(total);
  },
});

Deno.bench({
  name: "for await (chunk of reader), 64 KiB growing to 1 MiB",
  group,
  ...iterations,
  async fn() {
    let total = 0;
    for await (const chunk of output.reader()) total += chunk.data.length;
    check(total);
  },
});

Deno.bench({
  name: "reader.readable, 64 KiB growing to 1 MiB",
  group,
  ...iterations,
  async fn() {
    let total = 0;
    for await (const data of output.reader().readable) total += data.length;
    check(total);
  },
});
