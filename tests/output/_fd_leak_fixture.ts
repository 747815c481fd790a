/**
 * Run by src/output/output_file_test.ts in a process of its own, so that the count of
 * every open fd in /proc/self/fd is not disturbed by other tests running in
 * parallel: creates readers that wait, aborts or closes them, and prints the
 * fd counts as JSON.
 *
 * Usage: `deno run --allow-all tests/output/_fd_leak_fixture.ts <empty temp dir>`
 *
 * @module
 */
import { OutputFile } from "../../src/output/output_file.ts";
import { sleep } from "../_support/async.ts";
import { fdCount } from "../_support/proc.ts";

const dir = Deno.args[0];
if (dir === undefined) throw new Error("_fd_leak_fixture.ts: missing temp dir argument");
// Deno keeps one process-wide inotify instance (with its epoll and eventfd)
// once any watch was made; make it before the baseline so it is not counted.
Deno.watchFs(dir).close();
const output = await OutputFile.create(`${dir}/job.out`);
await sleep(20);
const baseline = fdCount();

const controller = new AbortController();
const readers = Array.from(
  { length: 20 },
  (_, i) => output.reader(i % 2 === 0 ? { signal: controller.signal } : {}),
);
const reads = readers.map((reader) => reader.read(new Uint8Array(16)).catch((err) => err));
await sleep(50);
const waiting = fdCount();
const readersWhileWaiting = output.readerCount;

controller.abort(new Error("fixture abort"));
for (const reader of readers) reader.close();
const results = await Promise.all(reads);
const after = fdCount();

console.log(JSON.stringify({
  baseline,
  waiting,
  after,
  readersWhileWaiting,
  readersAfter: output.readerCount,
  aborted: results.filter((r) => r instanceof Error).length,
  nulls: results.filter((r) => r === null).length,
}));
await output.remove();
