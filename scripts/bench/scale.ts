/**
 * Scale and memory: many jobs running at once through a real server. The
 * time to start them all, each executor's memory (PSS, private, RSS) with
 * that many running, the idle pool's, and Status and List latency while
 * they run.
 *
 * @module
 */
import {
  childrenMatching,
  processMemory,
  round,
  sleep,
  summarize,
  type Summary,
  table,
} from "./_common.ts";
import { startBenchServer } from "./_server.ts";

function holdsJobFiles(pid: number, dataDir: string): boolean {
  try {
    for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`);
      if (target.startsWith(`${dataDir}/jobs/`)) return true;
    }
  } catch {
    // Gone.
  }
  return false;
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Runs the section; returns its Markdown and figures. */
export async function benchScale(options: { jobs: number }): Promise<{
  markdown: string;
  figures: Record<string, unknown>;
}> {
  const server = await startBenchServer(["--pool-size", "2"]);
  try {
    const client = await server.client();
    await sleep(500);
    const ids: string[] = [];
    const t0 = performance.now();
    let next = 0;
    // Sixteen Starts in flight at a time, as a busy set of clients would.
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < options.jobs) {
        next++;
        ids.push(
          (await client.start({
            command: "sleep",
            args: ["600"],
            limits: { memoryBytes: 64 << 20 },
          })).id,
        );
      }
    }));
    const startAllMs = performance.now() - t0;
    await sleep(2000); // let the pool refill and the executors settle
    const executors = childrenMatching(server.pid, "executor/main.ts");
    const busy = executors.filter((pid) => holdsJobFiles(pid, server.dataDir));
    const idle = executors.filter((pid) => !busy.includes(pid));
    const mem = busy.map(processMemory).filter((m) => m !== null);
    const idleMem = idle.map(processMemory).filter((m) => m !== null);
    const pss = summarize(mem.map((m) => m.pss));
    const priv = summarize(mem.map((m) => m.private));
    const rss = summarize(mem.map((m) => m.rss));
    const status: number[] = [];
    await Promise.all(Array.from({ length: 5 }, async (_, k) => {
      for (let i = 0; i < 100; i++) {
        status.push(await timed(() => client.status(ids[(i * 5 + k) % ids.length]!)));
      }
    }));
    const list: number[] = [];
    for (let i = 0; i < 50; i++) list.push(await timed(() => client.list()));
    // The floor under an executor: a Deno process that only sleeps, measured
    // beside the executors so it shares the same pages with them.
    const idleDeno = new Deno.Command(Deno.execPath(), {
      args: ["eval", "setTimeout(() => {}, 600_000)"],
      stdout: "null",
      stderr: "null",
    }).spawn();
    let denoFloor: ReturnType<typeof processMemory> = null;
    try {
      await sleep(1500);
      denoFloor = processMemory(idleDeno.pid);
    } finally {
      idleDeno.kill("SIGKILL");
      await idleDeno.status;
    }
    const statusMs = summarize(status);
    const listMs = summarize(list);
    const row = (
      what: string,
      s: Summary,
      unit: string,
    ) => [what, s.median, s.p90, s.p99, s.max, unit];
    const totalPss = round(mem.reduce((sum, m) => sum + m.pss, 0));
    const markdown = `## Scale and memory: ${options.jobs} jobs running at once

${options.jobs} \`sleep 600\` jobs (64 MiB memory limit each) started through gRPC, 16 Starts in flight
at a time, server with \`--pool-size 2\`: all running after **${round(startAllMs / 1000, 2)} s**
(${round(options.jobs / (startAllMs / 1000))} starts/s).

Memory of each job's executor with ${busy.length} of them running (/proc/PID/smaps_rollup; PSS shares
the pages executors have in common among them, private is what one more executor costs); the idle
pool held ${idle.length} executor(s), ${
      round(idleMem.reduce((s, m) => s + m.pss, 0))
    } MiB PSS in all.
Nothing of an executor is charged to its job's memory limit (it returns to the server's cgroup).

${
      table(["per executor, MiB", "median", "p90", "p99", "max", ""], [
        row("PSS", pss, ""),
        row("private (clean + dirty)", priv, ""),
        row("RSS", rss, ""),
      ])
    }
All ${busy.length} executors together: ${totalPss} MiB PSS. Baseline of the same moment: a Deno
process that only sleeps (\`deno eval "setTimeout(() => {}, 600_000)"\`) has ${
      round(denoFloor?.pss ?? NaN)
    } MiB PSS, ${round(denoFloor?.private ?? NaN)} MiB private, ${
      round(denoFloor?.rss ?? NaN)
    } MiB RSS: the floor of any
executor written in Deno. Goal: PSS ≤ 15 MiB per running job.

Latency while they run (5 callers × 100 Status calls; 50 List calls, each listing ${ids.length} jobs
with live usage from their cgroups):

${
      table(["call", "median ms", "p90 ms", "p99 ms", "max ms", ""], [
        row("Status", statusMs, ""),
        row("List", listMs, ""),
      ])
    }`;
    return {
      markdown,
      figures: {
        jobs: options.jobs,
        startAllMs: round(startAllMs),
        executorPss: pss,
        executorPrivate: priv,
        executorRss: rss,
        idlePoolPss: round(idleMem.reduce((s, m) => s + m.pss, 0)),
        idleDeno: denoFloor,
        statusMs,
        listMs,
      },
    };
  } finally {
    await server.stop();
  }
}
