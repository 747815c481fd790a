// `top`'s numbers and table: rates from two samples, sort orders, the
// columns that give way on a narrow terminal, and the screen's lines.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type { JobStatus } from "../job/mod.ts";
import { sortTopRows, type TopRow, topRows, topSample, topTable } from "./_top.ts";
import { topScreen } from "./_top_screen.ts";
import { jobStatus, runningStatus } from "../../tests/cli/_fixture.ts";

const STARTED = new Date("2024-05-01T12:00:00Z");
const NOW = new Date("2024-05-01T12:05:07Z");

/** A running job `n` (id `0000000n-...`) with this usage. */
function job(n: number, usage: Partial<JobStatus["usage"]>, more: Partial<JobStatus> = {}) {
  return runningStatus({
    id: `0000000${n}-1111-4a2b-8c3d-00000000000${n}`,
    startedAt: STARTED,
    command: "sh",
    args: ["-c", `job ${n}`],
    usage: {
      cpuNs: 0,
      memoryCurrentBytes: 0,
      memoryPeakBytes: 0,
      tasks: 1,
      ioReadBytes: 0,
      ioWriteBytes: 0,
      ...usage,
    },
    ...more,
  });
}

Deno.test("topRows: CPU % and IO rates from two samples; memory against the limit", () => {
  const before = topSample([
    job(1, { cpuNs: 1e9, ioReadBytes: 0, ioWriteBytes: 4096 }),
    job(2, { cpuNs: 5e9 }),
    jobStatus(), // ended: not in the table
  ], 10_000);
  const after = topSample([
    job(1, {
      cpuNs: 1.5e9,
      ioReadBytes: 2 * 2 ** 20,
      ioWriteBytes: 4096,
      memoryCurrentBytes: 128 * 2 ** 20,
      memoryPeakBytes: 200 * 2 ** 20,
      tasks: 3,
    }),
    job(2, { cpuNs: 7e9, ioReadBytes: null, ioWriteBytes: null }),
    job(3, { cpuNs: 9e9 }), // new: no rates yet
  ], 12_000);
  const rows = topRows(before, after, NOW);
  const byId = (n: number) => rows.find((r) => r.id.startsWith(`0000000${n}`))!;
  assertEquals(rows.length, 3);
  // 0.5 s of CPU in 2 s: 25 %; 2 s in 2 s: a whole core.
  assertEquals(byId(1).cpuPercent, 25);
  assertEquals(byId(2).cpuPercent, 100);
  assertEquals(byId(3).cpuPercent, null);
  assertEquals([byId(1).readRate, byId(1).writeRate], [2 ** 20, 0]);
  assertEquals([byId(2).readRate, byId(2).writeRate], [null, null]);
  // The fixture's limit is 512 MiB.
  assertEquals(byId(1).memoryPercent, 25);
  assertEquals([byId(1).peakBytes, byId(1).limitBytes, byId(1).tasks], [
    200 * 2 ** 20,
    2 ** 29,
    3,
  ]);
  assertEquals(byId(1).ageMs, 307_000);
  assertEquals(byId(1).command, "sh -c 'job 1'");
  // One sample alone: no rates at all.
  assert(topRows(null, after, NOW).every((r) => r.cpuPercent === null && r.readRate === null));
  // A counter that went back (a job adopted by a restarted server?) gives no rate, not a negative one.
  const back = topRows(after, topSample([job(1, { cpuNs: 1 })], 13_000), NOW);
  assertEquals(back[0]!.cpuPercent, null);
});

Deno.test("sortTopRows: biggest first, missing figures last, ties by id", () => {
  const row = (id: string, fields: Partial<TopRow>): TopRow => ({
    id,
    owner: "alice",
    command: "x",
    cpuPercent: null,
    memoryBytes: null,
    memoryPercent: null,
    peakBytes: null,
    limitBytes: null,
    readRate: null,
    writeRate: null,
    tasks: null,
    ageMs: 0,
    ...fields,
  });
  const rows = [
    row("b", { cpuPercent: 10, memoryBytes: 5, readRate: 1, ageMs: 3 }),
    row("a", { cpuPercent: null, memoryBytes: 50, writeRate: 9, ageMs: 1 }),
    row("c", { cpuPercent: 90, memoryBytes: 5, ageMs: 2 }),
    row("d", { cpuPercent: 10, memoryBytes: null, readRate: 3, writeRate: 3, ageMs: 4 }),
  ];
  const ids = (key: Parameters<typeof sortTopRows>[1]) => sortTopRows(rows, key).map((r) => r.id);
  assertEquals(ids("cpu"), ["c", "b", "d", "a"]);
  assertEquals(ids("memory"), ["a", "b", "c", "d"]);
  assertEquals(ids("io"), ["a", "d", "b", "c"]);
  assertEquals(ids("age"), ["d", "b", "c", "a"]);
  assertEquals(ids("id"), ["a", "b", "c", "d"]);
});

Deno.test("topTable: every column without a width; narrower terminals drop columns in order", () => {
  const before = topSample([job(1, { cpuNs: 0 })], 0);
  const after = topSample(
    [job(1, { cpuNs: 0.123e9, memoryCurrentBytes: 2 ** 20, memoryPeakBytes: 2 ** 21 })],
    1000,
  );
  const rows = topRows(before, after, NOW);
  const [header, line] = topTable(rows, { width: null });
  assertEquals(
    header,
    "ID                                    OWNER    CPU%        MEM   MEM%       PEAK      LIMIT" +
      "     READ/s    WRITE/s  TASKS     AGE  COMMAND",
  );
  assertEquals(
    line,
    "00000001-1111-4a2b-8c3d-000000000001  alice    12.3       1MiB    0.2       2MiB     512MiB" +
      "         0B         0B      1   5m07s  sh -c 'job 1'",
  );
  const headers = (width: number) => topTable(rows, { width })[0]!.split(/ +/);
  assertEquals(headers(120), [
    "ID",
    "OWNER",
    "CPU%",
    "MEM",
    "MEM%",
    "READ/s",
    "WRITE/s",
    "TASKS",
    "AGE",
    "COMMAND",
  ]);
  assertEquals(headers(80), ["ID", "CPU%", "MEM", "MEM%", "READ/s", "WRITE/s", "AGE", "COMMAND"]);
  assertEquals(topTable(rows, { width: 80 })[1]!.split(/ +/)[0], "00000001", "short ids");
  assertEquals(headers(64), ["ID", "CPU%", "MEM", "READ/s", "WRITE/s", "COMMAND"]);
  assertEquals(headers(60), ["ID", "CPU%", "MEM", "READ/s", "COMMAND"]);
  assertEquals(headers(42), ["ID", "CPU%", "MEM", "COMMAND"]);
  assertEquals(headers(40), ["ID", "CPU%", "COMMAND"]);
  for (const width of [200, 120, 100, 80, 60, 50, 40, 30]) {
    for (const text of topTable(rows, { width })) {
      assert([...text].length <= width, `${width}: ${JSON.stringify(text)}`);
    }
  }
  // A long command is cut, marked.
  const long = topRows(null, topSample([job(1, {}, { args: ["-c", "x".repeat(300)] })], 0), NOW);
  assert(topTable(long, { width: 100 })[1]!.endsWith("x…"));
  // No jobs: the header alone.
  assertEquals(topTable([], { width: 100 }).length, 1);
});

Deno.test("topScreen: title, keys, the table; cut to the terminal's height", () => {
  const jobs = [1, 2, 3, 4, 5].map((n) => job(n, { cpuNs: n * 1e8 }));
  const before = topSample(jobs.map((j) => ({ ...j, usage: { ...j.usage, cpuNs: 0 } })), 0);
  const after = topSample(jobs, 1000);
  const screen = topScreen(before, after, {
    sort: "cpu",
    now: NOW,
    columns: 100,
    rows: 7,
    message: null,
  });
  assertEquals(screen.length, 7);
  assertEquals(screen[0], "jobworker top  5 running jobs, sorted by CPU  12:05:07 UTC");
  assertEquals(screen[1], "c CPU  m memory  i IO  a age  n id  q quit");
  assertEquals(screen[2], "");
  assertStringIncludes(screen[3]!, "CPU%");
  // The busiest first; what does not fit is counted.
  assert(screen[4]!.startsWith("00000005"), screen[4]);
  assert(screen[5]!.startsWith("00000004"), screen[5]);
  assertEquals(screen[6], "… 3 more");
  const byId = topScreen(before, after, {
    sort: "id",
    now: NOW,
    columns: 30,
    rows: 40,
    message: "jobworker: cannot reach the server (retrying)",
  });
  assertEquals(byId.length, 4 + 5);
  assertEquals(byId[1], "jobworker: cannot reach the se");
  assert(byId[4]!.startsWith("00000001"));
  assert(byId.every((line) => [...line].length <= 30));
});
