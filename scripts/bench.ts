/**
 * Benchmark of the job library, on this host, as root:
 *
 * 1. **Start latency**, over `--starts` sequential starts of `/bin/date +%s%N`:
 *    (a) `manager.start()` called → its promise resolved (the executor has
 *    reported the main process spawned), and (b) `manager.start()` called →
 *    the job's first instruction observed: `date` prints CLOCK_REALTIME in ns
 *    as the first thing it does, which is compared with the bench's own
 *    CLOCK_REALTIME reading taken just before `start()`. One extra cold start
 *    first is reported on its own and left out of the figures.
 * 2. **Memory per executor**, with `--jobs` jobs running `sleep`: each
 *    executor's VmRSS (/proc/<pid>/status), PSS and private (clean + dirty)
 *    memory (/proc/<pid>/smaps_rollup). RSS counts the Deno binary's shared
 *    pages in full for every executor; PSS splits them among the sharers;
 *    private is what one more executor really costs. Also the drop in the
 *    host's MemAvailable while the jobs run, divided by the job count (this
 *    includes the `sleep` processes and the kernel's per-job objects).
 * 3. **Reader throughput**: a job writes `--output-bytes` zero bytes to its
 *    output; once it has ended, one reader drains the file with
 *    `for await (chunk of job.output())` and with `read()` into a 1 MiB
 *    buffer, next to `cat <file> > /dev/null`. The page cache is warmed
 *    first, so all three read from memory. Each is run 3 times, interleaved;
 *    the median is reported.
 *
 * Prints a table per section, then one JSON line with every figure.
 *
 * ```sh
 * ./scripts/deno task bench                          # everything, defaults
 * ./scripts/deno task bench --starts 100 --jobs 50 --output-bytes 268435456
 * ./scripts/deno task bench --only memory --jobs 50  # sections: start,memory,reader
 * ```
 *
 * Everything lives in a temporary data directory under /tmp and a cgroup
 * parent `jobworker-bench-<random>`; both are removed at the end, also on
 * Ctrl-C.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { JobManager } from "../src/job/mod.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const SECTIONS = ["start", "memory", "reader"] as const;
type Section = typeof SECTIONS[number];
/** Reads per method in the reader section; the median damps one-off stalls. */
const READ_ROUNDS = 3;

interface Options {
  starts: number;
  outputBytes: number;
  jobs: number;
  only: Set<Section>;
}

const USAGE = `Usage: ./scripts/deno task bench [options]
  --starts N        sequential starts for the start latency (default 50)
  --jobs N          jobs running at once for the memory figures (default 10)
  --output-bytes N  bytes the reader section's job writes (default ${GiB}, 1 GiB)
  --only LIST       sections to run, comma-separated: ${SECTIONS.join(",")} (default all)`;

function positiveInt(flag: string, value: string | undefined, options: { fallback: number }) {
  if (value === undefined) return options.fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new RangeError(`${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      starts: { type: "string" },
      "output-bytes": { type: "string" },
      jobs: { type: "string" },
      only: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return null;
  const only = new Set<Section>();
  for (const name of (values.only ?? SECTIONS.join(",")).split(",")) {
    const section = SECTIONS.find((s) => s === name.trim());
    if (section === undefined) {
      throw new RangeError(`--only: unknown section ${JSON.stringify(name)}`);
    }
    only.add(section);
  }
  return {
    starts: positiveInt("--starts", values.starts, { fallback: 50 }),
    outputBytes: positiveInt("--output-bytes", values["output-bytes"], { fallback: GiB }),
    jobs: positiveInt("--jobs", values.jobs, { fallback: 10 }),
    only,
  };
}

// ---------------------------------------------------------------- figures

interface Summary {
  median: number;
  p90: number;
  min: number;
  max: number;
}

/** Median (mean of the middle two for an even count), nearest-rank p90, min, max. */
function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new RangeError("summarize: no values");
  const s = [...values].sort((a, b) => a - b);
  const at = (i: number) => s[Math.min(s.length - 1, Math.max(0, i))]!;
  const mid = Math.floor(s.length / 2);
  return {
    median: s.length % 2 === 1 ? at(mid) : (at(mid - 1) + at(mid)) / 2,
    p90: at(Math.ceil(0.9 * s.length) - 1),
    min: at(0),
    max: at(s.length - 1),
  };
}

function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function roundSummary(s: Summary, digits = 2): Summary {
  return {
    median: round(s.median, digits),
    p90: round(s.p90, digits),
    min: round(s.min, digits),
    max: round(s.max, digits),
  };
}

function printTable(title: string, rows: readonly (readonly (string | number)[])[]): void {
  const cells = rows.map((row) => row.map(String));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => row[i]?.length ?? 0)));
  console.log(`\n${title}`);
  cells.forEach((row, r) => {
    // Left-align the label column, right-align figures so digits line up.
    const line = row.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!));
    console.log(`  ${line.join("   ")}`);
    if (r === 0) console.log(`  ${widths.map((w) => "-".repeat(w)).join("   ")}`);
  });
}

// ---------------------------------------------------------------- clocks

/**
 * The offset, in ms, that turns performance.now() into CLOCK_REALTIME, to a
 * few µs. Date.now() is CLOCK_REALTIME floored to the ms, and
 * timeOrigin + now() differed from it by ~0.9 ms here, so neither alone
 * times a ~30 ms start to the µs; the instant Date.now() ticks over is known
 * to the µs, though. Spins for up to 1 ms.
 */
function realtimeOffsetMs(): number {
  const first = Date.now();
  let mono: number;
  let wall: number;
  do {
    mono = performance.now();
    wall = Date.now();
  } while (wall === first);
  return wall - mono;
}

// ---------------------------------------------------------------- 1. start latency

interface StartResult {
  /** start() called → start() resolved, ms. */
  resolvedMs: number;
  /** start() called → `date` read the clock inside the job, ms. */
  runningMs: number;
}

async function readAll(manager: JobManager, jobId: string): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const { data } of manager.get(jobId).output()) parts.push(data);
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  return new TextDecoder().decode(joined);
}

async function timeOneStart(manager: JobManager): Promise<StartResult> {
  // Calibrated per start, so the monotonic and realtime clocks cannot drift apart in between.
  const offsetMs = realtimeOffsetMs();
  const t0 = performance.now();
  // `date` directly, not through sh: its clock_gettime() comes right after
  // exec and dynamic linking, with no shell fork in between.
  const job = await manager.start({ command: "/bin/date", args: ["+%s%N"] });
  const resolvedMs = performance.now() - t0;
  const status = await job.wait();
  if (status.state !== "exited" || status.exitCode !== 0) {
    throw new Error(`start bench: date job ended ${JSON.stringify(status)}`);
  }
  const printed = (await readAll(manager, job.id)).trim();
  if (!/^\d+$/.test(printed)) {
    throw new Error(`start bench: date printed ${JSON.stringify(printed)}`);
  }
  // In BigInt: ns since 1970 need 61 bits, more than a double holds exactly.
  const startNs = BigInt(Math.round((offsetMs + t0) * 1e6));
  const runningMs = Number(BigInt(printed) - startNs) / 1e6;
  return { resolvedMs, runningMs };
}

interface StartFigures {
  starts: number;
  coldFirst: StartResult;
  resolvedMs: Summary;
  runningMs: Summary;
}

async function benchStarts(manager: JobManager, options: { starts: number }) {
  // The first executor run fills Deno's transpile cache and the OS caches;
  // steady state is what a server sees.
  const coldFirst = await timeOneStart(manager);
  const results: StartResult[] = [];
  for (let i = 0; i < options.starts; i++) results.push(await timeOneStart(manager));
  const figures: StartFigures = {
    starts: options.starts,
    coldFirst: { resolvedMs: round(coldFirst.resolvedMs), runningMs: round(coldFirst.runningMs) },
    resolvedMs: roundSummary(summarize(results.map((r) => r.resolvedMs))),
    runningMs: roundSummary(summarize(results.map((r) => r.runningMs))),
  };
  const row = (label: string, s: Summary) => [label, s.median, s.p90, s.min, s.max];
  printTable(`1. Start latency, ms, over ${options.starts} sequential starts of /bin/date`, [
    ["", "median", "p90", "min", "max"],
    row("start() → start() resolved", figures.resolvedMs),
    row("start() → job's first instruction", figures.runningMs),
  ]);
  console.log(
    `  cold first start (not counted): resolved ${figures.coldFirst.resolvedMs} ms, ` +
      `running ${figures.coldFirst.runningMs} ms`,
  );
  return figures;
}

// ---------------------------------------------------------------- 2. memory

/** Values, in KiB, of `key:  N kB` lines of a /proc file. */
function kbFields(text: string, keys: readonly string[]): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (m && keys.includes(m[1]!)) found.set(m[1]!, Number(m[2]));
  }
  for (const key of keys) {
    if (!found.has(key)) throw new Error(`no ${key} line in a /proc file`);
  }
  return found;
}

/**
 * PIDs of this process's executor children. The executor is not in the
 * job's cgroup (it returns to its own after spawning), so it is found as a
 * child of this process running executor/main.ts.
 */
async function executorPids(): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      // The command name in parentheses may hold spaces; fields follow the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== Deno.pid) continue;
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes("executor/main.ts")) pids.push(Number(entry.name));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

async function memAvailableKiB(): Promise<number> {
  return kbFields(await Deno.readTextFile("/proc/meminfo"), ["MemAvailable"]).get("MemAvailable")!;
}

interface ExecutorMemory {
  rssKiB: number;
  pssKiB: number;
  privateKiB: number;
}

async function executorMemory(pid: number): Promise<ExecutorMemory> {
  const status = kbFields(await Deno.readTextFile(`/proc/${pid}/status`), ["VmRSS"]);
  const rollup = kbFields(await Deno.readTextFile(`/proc/${pid}/smaps_rollup`), [
    "Pss",
    "Private_Clean",
    "Private_Dirty",
  ]);
  return {
    rssKiB: status.get("VmRSS")!,
    pssKiB: rollup.get("Pss")!,
    privateKiB: rollup.get("Private_Clean")! + rollup.get("Private_Dirty")!,
  };
}

interface MemoryFigures {
  jobs: number;
  /** Per executor, MiB. */
  rssMiB: Summary;
  pssMiB: Summary;
  privateMiB: Summary;
  /** Sum over executors, MiB. */
  totalPssMiB: number;
  /**
   * (MemAvailable without the jobs − with them running) / jobs, MiB; the
   * baseline is interpolated between readings before and after the jobs.
   */
  memAvailableDropPerJobMiB: number;
}

async function benchMemory(manager: JobManager, options: { jobs: number }) {
  const before = { t: performance.now(), kib: await memAvailableKiB() };
  const jobs = [];
  // Long enough to outlast the measurement however slow the starts are;
  // the jobs are stopped right after.
  for (let i = 0; i < options.jobs; i++) {
    jobs.push(await manager.start({ command: "sleep", args: ["3600"] }));
  }
  // Let the executors finish their start-up work (and the GC settle).
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const pids = await executorPids();
  if (pids.length !== options.jobs) {
    throw new Error(`memory bench: found ${pids.length} executors for ${options.jobs} jobs`);
  }
  const samples = await Promise.all(pids.map((pid) => executorMemory(pid)));
  const during = { t: performance.now(), kib: await memAvailableKiB() };
  await Promise.all(jobs.map((job) => job.stop({ graceMs: 0 })));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = { t: performance.now(), kib: await memAvailableKiB() };
  // MemAvailable drifts by tens of MiB a second when anything else runs on
  // the host; the baseline at `during` is interpolated between the readings
  // before and after the jobs, which cancels a steady drift.
  const baseline = before.kib +
    (after.kib - before.kib) * (during.t - before.t) / (after.t - before.t);

  const mib = (kib: readonly number[]) => roundSummary(summarize(kib.map((k) => k / 1024)));
  const figures: MemoryFigures = {
    jobs: options.jobs,
    rssMiB: mib(samples.map((s) => s.rssKiB)),
    pssMiB: mib(samples.map((s) => s.pssKiB)),
    privateMiB: mib(samples.map((s) => s.privateKiB)),
    totalPssMiB: round(samples.reduce((n, s) => n + s.pssKiB, 0) / 1024),
    memAvailableDropPerJobMiB: round((baseline - during.kib) / 1024 / options.jobs),
  };
  const row = (label: string, s: Summary) => [label, s.median, s.p90, s.min, s.max];
  printTable(`2. Memory per executor, MiB, with ${options.jobs} jobs running sleep`, [
    ["", "median", "p90", "min", "max"],
    row("VmRSS", figures.rssMiB),
    row("PSS", figures.pssMiB),
    row("private (clean + dirty)", figures.privateMiB),
  ]);
  console.log(
    `  PSS of all executors: ${figures.totalPssMiB} MiB; host MemAvailable drop per job: ` +
      `${figures.memAvailableDropPerJobMiB} MiB (host-wide, noisy if anything else runs)`,
  );
  return figures;
}

// ---------------------------------------------------------------- 3. reader throughput

interface ReaderFigures {
  bytes: number;
  rounds: number;
  /** Median over the rounds, MB/s (10^6 bytes). */
  catMBps: number;
  iteratorMBps: number;
  read1MiBMBps: number;
}

async function timeIt(fn: () => Promise<number>, options: { bytes: number }): Promise<number> {
  const t0 = performance.now();
  const n = await fn();
  const seconds = (performance.now() - t0) / 1000;
  if (n !== options.bytes) throw new Error(`reader bench: read ${n} bytes of ${options.bytes}`);
  return options.bytes / 1e6 / seconds;
}

async function cat(path: string): Promise<void> {
  const status = await new Deno.Command("cat", { args: [path], stdout: "null" }).output();
  if (!status.success) throw new Error(`reader bench: cat ${path} failed`);
}

async function benchReader(manager: JobManager, options: { dataDir: string; bytes: number }) {
  const { bytes } = options;
  const job = await manager.start({
    // /dev/zero: /dev/urandom would make the writer, not the reader, the bottleneck.
    command: "dd",
    args: ["if=/dev/zero", `bs=${MiB}`, `count=${bytes}`, "iflag=count_bytes", "status=none"],
    // The page cache of the written file is charged to the job; room for all
    // of it keeps the file cached. IO is unlimited by default.
    limits: { memoryBytes: Math.max(2 * GiB, bytes + 512 * MiB) },
  });
  const status = await job.wait();
  if (status.state !== "exited" || status.exitCode !== 0) {
    throw new Error(`reader bench: writer job ended ${JSON.stringify(status)}`);
  }
  const path = join(options.dataDir, "jobs", job.id, "output");
  const size = (await Deno.stat(path)).size;
  if (size !== bytes) throw new Error(`reader bench: output has ${size} bytes, not ${bytes}`);
  await cat(path); // Warm the page cache so every method reads from memory.

  const buffer = new Uint8Array(MiB);
  const methods = {
    cat: async () => {
      await cat(path);
      return bytes;
    },
    iterator: async () => {
      let n = 0;
      for await (const { data } of job.output()) n += data.length;
      return n;
    },
    read1MiB: async () => {
      const reader = job.output();
      let n = 0;
      for (let r = await reader.read(buffer); r !== null; r = await reader.read(buffer)) n += r;
      return n;
    },
  };
  const rates = { cat: [] as number[], iterator: [] as number[], read1MiB: [] as number[] };
  // Interleaved so a slow moment of the host hits every method alike.
  for (let round = 0; round < READ_ROUNDS; round++) {
    for (const [name, fn] of Object.entries(methods)) {
      rates[name as keyof typeof methods].push(await timeIt(fn, { bytes }));
    }
  }
  const median = (values: number[]) => Math.round(summarize(values).median);
  const figures: ReaderFigures = {
    bytes,
    rounds: READ_ROUNDS,
    catMBps: median(rates.cat),
    iteratorMBps: median(rates.iterator),
    read1MiBMBps: median(rates.read1MiB),
  };
  const range = (values: number[]) => {
    const s = summarize(values);
    return `${Math.round(s.min)}–${Math.round(s.max)}`;
  };
  printTable(
    `3. Reader throughput, MB/s, draining a complete ${round(bytes / MiB, 1)} MiB output ` +
      `(page cache warm; median of ${READ_ROUNDS})`,
    [
      ["", "MB/s", "range", "vs cat"],
      ["cat <output> > /dev/null", figures.catMBps, range(rates.cat), "1.00"],
      [
        "for await (chunk of job.output())",
        figures.iteratorMBps,
        range(rates.iterator),
        (figures.iteratorMBps / figures.catMBps).toFixed(2),
      ],
      [
        "job.output().read(1 MiB buffer)",
        figures.read1MiBMBps,
        range(rates.read1MiB),
        (figures.read1MiBMBps / figures.catMBps).toFixed(2),
      ],
    ],
  );
  return figures;
}

// ---------------------------------------------------------------- main

async function hostInfo() {
  const text = (path: string) => Deno.readTextFile(path).then((t) => t.trim()).catch(() => "?");
  return {
    deno: Deno.version.deno,
    kernel: await text("/proc/sys/kernel/osrelease"),
    cpus: navigator.hardwareConcurrency,
    memTotalKiB: kbFields(await Deno.readTextFile("/proc/meminfo"), ["MemTotal"]).get("MemTotal"),
  };
}

async function main(): Promise<number> {
  let options: Options | null;
  try {
    options = parseOptions(Deno.args);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options === null) {
    console.log(USAGE);
    return 0;
  }
  if (Deno.uid() !== 0) {
    console.error("The bench needs root (namespaces and cgroups): run it with sudo.");
    return 1;
  }

  const dataDir = await Deno.makeTempDir({ dir: "/tmp", prefix: "jobworker-bench-" });
  const cgroupParent = `jobworker-bench-${crypto.randomUUID().slice(0, 8)}`;
  let manager: JobManager | null = null;
  let cleaning: Promise<void> | null = null;
  // Shared by the normal end and a signal: whichever comes first does it once.
  const cleanup = () =>
    cleaning ??= (async () => {
      await manager?.close({ graceMs: 0 });
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    })();
  // Without this, Ctrl-C would end the bench and leave the cgroups and the
  // (possibly 1 GiB) data directory behind.
  const onSignal = () => {
    console.error("\ninterrupted: stopping jobs and removing the data directory");
    cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    manager = await JobManager.create({ dataDir, cgroupParent });
    const host = { ...await hostInfo(), cgroupVersion: manager.cgroupVersion };
    console.log(
      `jobworker bench: Deno ${host.deno}, kernel ${host.kernel}, ${host.cpus} CPUs, ` +
        `cgroup v${host.cgroupVersion}, data in ${dataDir}`,
    );
    const result: Record<string, unknown> = {
      host,
      options: { ...options, only: [...options.only] },
    };
    if (options.only.has("start")) {
      result.start = await benchStarts(manager, { starts: options.starts });
    }
    if (options.only.has("memory")) {
      result.memory = await benchMemory(manager, { jobs: options.jobs });
    }
    if (options.only.has("reader")) {
      result.reader = await benchReader(manager, { dataDir, bytes: options.outputBytes });
    }
    console.log();
    console.log(JSON.stringify(result));
    return 0;
  } finally {
    await cleanup();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

Deno.exit(await main());
