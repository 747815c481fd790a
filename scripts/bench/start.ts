/**
 * Start latency: from the caller's start to the job's first instruction,
 * `/bin/date +%s%N` reading the clock right after exec, compared with the
 * caller's clock taken just before. Through the library (with the pool
 * and without), through gRPC with the CLI's client code, and the
 * baselines of the same run: `unshare` and `bwrap` with the same namespaces.
 *
 * @module
 */
import { JobManager } from "../../src/job/mod.ts";
import {
  have,
  msUntil,
  onInterrupt,
  ratio,
  realtimeOffsetMs,
  sleep,
  summarize,
  type Summary,
  table,
} from "./_common.ts";
import { startBenchServer } from "./_server.ts";

const DATE = ["/bin/date", "+%s%N"];
/** Between starts: the pool refills in the background (one Deno start-up, ~40 ms). */
const GAP_MS = 80;

async function external(command: string, args: string[]): Promise<number> {
  const offsetMs = realtimeOffsetMs();
  const t0 = performance.now();
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${command}: ${new TextDecoder().decode(out.stderr)}`);
  return msUntil(new TextDecoder().decode(out.stdout), { t0, offsetMs });
}

async function repeat(n: number, once: () => Promise<number>): Promise<Summary> {
  for (let i = 0; i < 3; i++) await once(); // warm-up: caches, transpiled code, the pool
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    values.push(await once());
    await sleep(GAP_MS);
  }
  return summarize(values);
}

async function libraryStarts(n: number, poolSize: number): Promise<Summary> {
  const dataDir = await Deno.makeTempDir({ prefix: "jobworker-bench-start-" });
  const manager = await JobManager.create({
    dataDir,
    cgroupParent: `jobworker-bench-${crypto.randomUUID().slice(0, 8)}`,
    poolSize,
  });
  const unregister = onInterrupt(async () => {
    await manager.close({ graceMs: 0 });
    await Deno.remove(dataDir, { recursive: true });
  });
  try {
    await sleep(500); // let the pool fill
    return await repeat(n, async () => {
      const offsetMs = realtimeOffsetMs();
      const t0 = performance.now();
      const job = await manager.start({ command: DATE[0]!, args: DATE.slice(1) });
      const parts: Uint8Array[] = [];
      for await (const { data } of job.output()) parts.push(data);
      await job.wait();
      return msUntil(new TextDecoder().decode(parts[0]), { t0, offsetMs });
    });
  } finally {
    unregister();
    await manager.close({ graceMs: 0 });
    await Deno.remove(dataDir, { recursive: true });
  }
}

async function grpcStarts(n: number): Promise<Summary> {
  const server = await startBenchServer(["--pool-size", "2"]);
  try {
    const client = await server.client();
    await sleep(500);
    return await repeat(n, async () => {
      const offsetMs = realtimeOffsetMs();
      const t0 = performance.now();
      const { id } = await client.start({ command: DATE[0]!, args: DATE.slice(1) });
      for await (const chunk of client.streamOutput(id)) {
        return msUntil(new TextDecoder().decode(chunk.data), { t0, offsetMs });
      }
      throw new Error("the date job printed nothing");
    });
  } finally {
    await server.stop();
  }
}

/** Runs the section; returns its Markdown and figures. */
export async function benchStart(options: { starts: number }): Promise<{
  markdown: string;
  figures: Record<string, Summary | null>;
}> {
  const n = options.starts;
  const unshare = await repeat(
    n,
    () =>
      external("unshare", [
        "--pid",
        "--fork",
        "--mount-proc",
        "--net",
        "--mount",
        "--uts",
        "--ipc",
        ...DATE,
      ]),
  );
  const bwrap = await have("bwrap")
    ? await repeat(n, () =>
      external("bwrap", [
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-ipc",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        ...DATE,
      ]))
    : null;
  const library = await libraryStarts(n, 2);
  const noPool = await libraryStarts(Math.min(n, 20), 0);
  const grpc = await grpcStarts(n);
  const row = (what: string, s: Summary | null, baseline: Summary) =>
    s === null
      ? [what, "not run (no bwrap)", "", "", "", ""]
      : [what, s.n, s.median, s.p90, s.p99, ratio(s.median, baseline.median)];
  const markdown = `## Start: the caller's start to the job's first instruction

Each start runs \`/bin/date +%s%N\`; its clock reading, compared with the caller's taken just before
the start, is the latency. Starts are sequential, ${GAP_MS} ms apart (time for the pool to refill).
Baselines of the same run: \`unshare --pid --fork --mount-proc --net --mount --uts --ipc\` and
\`bwrap --unshare-pid --unshare-net --unshare-uts --unshare-ipc --ro-bind / / --dev /dev --proc /proc\`
(neither has jobworker's sandbox: no pivot_root into a built root, no uid change, no seccomp, no
cgroup).

${
    table(["path", "starts", "median ms", "p90 ms", "p99 ms", "median ÷ unshare"], [
      row("`unshare` (util-linux)", unshare, unshare),
      row("`bwrap` (bubblewrap)", bwrap, unshare),
      row("library, `JobManager.start()`, pool of 2", library, unshare),
      row("library, no pool (`poolSize: 0`)", noPool, unshare),
      row("gRPC `Start` from the CLI's client code, server with `--pool-size 2`", grpc, unshare),
    ])
  }
Goals: library within 3× and gRPC within 4× the \`unshare\` median.
`;
  return { markdown, figures: { unshare, bwrap, library, noPool, grpc } };
}
