/**
 * Churn: many short jobs through a real server, started and awaited as
 * fast as a few clients can, then a count of everything a job could leave
 * behind (processes, zombies, cgroups, mounts, fds) and the server's RSS.
 *
 * @module
 */
import type { JobWorkerClient } from "../../src/api/client.ts";
import {
  cgroupDirsUnder,
  cpuSeconds,
  descendants,
  fdCount,
  hostBusySeconds,
  mountCount,
  round,
  rssMiB,
  sleep,
  summarize,
  table,
} from "./_common.ts";
import { type BenchServer, startBenchServer } from "./_server.ts";

/** Ended jobs the server keeps: a steady state, so retained records do not look like a leak. */
const RETAIN = 50;
const IN_FLIGHT = 8;

interface Footprint {
  processes: number;
  zombies: number;
  cgroups: number;
  mounts: number;
  fds: number;
  rssMiB: number;
}

function footprint(server: BenchServer): Footprint {
  const tree = descendants(server.pid);
  return {
    processes: tree.length,
    zombies: tree.filter((p) => p.state === "Z").length,
    cgroups: cgroupDirsUnder(server.cgroupParent).length,
    mounts: mountCount(server.pid) ?? NaN,
    fds: fdCount(server.pid) ?? NaN,
    rssMiB: round(rssMiB(server.pid) ?? NaN),
  };
}

/** CPU ms (user + system) of one `deno run` of an empty script: the floor of any executor's start. */
async function denoStartCpuMs(): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "jobworker-bench-empty-" });
  try {
    await Deno.writeTextFile(`${dir}/empty.ts`, "");
    const runs = 20;
    const out = await new Deno.Command("/usr/bin/time", {
      args: [
        "-f",
        "cpu=%U+%S",
        "bash",
        "-c",
        `for i in $(seq ${runs}); do "$0" run --quiet --no-config "$1"; done`,
        Deno.execPath(),
        `${dir}/empty.ts`,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    const match = /cpu=([\d.]+)\+([\d.]+)/.exec(new TextDecoder().decode(out.stderr));
    if (!out.success || match === null) throw new Error("timing deno run failed");
    return round(((Number(match[1]) + Number(match[2])) / runs) * 1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Starts `true` and waits for its end through the API; the job's wall time. */
async function shortJob(client: JobWorkerClient): Promise<number> {
  const t0 = performance.now();
  const { id } = await client.start({ command: "true" });
  for await (const _ of client.streamOutput(id)) { /* `true` prints nothing */ }
  for (;;) {
    const status = await client.status(id);
    if (status.state === "exited") {
      if (status.exitCode !== 0) throw new Error(`job ${id} exited ${status.exitCode}`);
      return performance.now() - t0;
    }
    if (status.state !== "running") {
      throw new Error(`job ${id} ended ${status.state}`);
    }
    await sleep(5);
  }
}

async function churn(client: JobWorkerClient, jobs: number) {
  const ends: number[] = [];
  const latencies: number[] = [];
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < jobs) {
      next++;
      latencies.push(await shortJob(client));
      ends.push(performance.now() - t0);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  // Jobs finished in each whole second: the slowest second is the sustained rate.
  const perSecond = new Array(Math.floor(seconds)).fill(0);
  for (const at of ends) {
    const second = Math.floor(at / 1000);
    if (second < perSecond.length) perSecond[second]++;
  }
  return { seconds, latencies, perSecond };
}

/** Runs the section; returns its Markdown and figures. */
export async function benchChurn(options: { jobs: number; warmup: number }): Promise<{
  markdown: string;
  figures: Record<string, unknown>;
}> {
  const server = await startBenchServer(["--pool-size", "2", "--retain", String(RETAIN)]);
  try {
    const client = await server.client();
    await churn(client, options.warmup);
    await sleep(2000); // the pool refilled, retention caught up
    const before = footprint(server);
    const cpu0 = {
      host: hostBusySeconds(),
      server: cpuSeconds(server.pid)!,
      client: cpuSeconds(Deno.pid)!,
    };
    const run = await churn(client, options.jobs);
    const perJobMs = (now: number, then: number) => round(((now - then) / options.jobs) * 1000);
    const cpu = {
      host: perJobMs(hostBusySeconds(), cpu0.host),
      server: perJobMs(cpuSeconds(server.pid)!, cpu0.server),
      client: perJobMs(cpuSeconds(Deno.pid)!, cpu0.client),
    };
    const rest = round(cpu.host - cpu.server - cpu.client);
    const ceiling = round((navigator.hardwareConcurrency * 1000) / cpu.host);
    const denoFloor = await denoStartCpuMs();
    await sleep(2000);
    const after = footprint(server);
    const rate = options.jobs / run.seconds;
    const slowest = run.perSecond.length > 0 ? Math.min(...run.perSecond) : null;
    const latency = summarize(run.latencies);
    const keys = Object.keys(before) as (keyof Footprint)[];
    const markdown = `## Churn: ${options.jobs} short jobs

\`true\` started and awaited through gRPC (Start, StreamOutput to its end, Status), ${IN_FLIGHT} at a
time, server with \`--pool-size 2 --retain ${RETAIN}\` (it keeps the newest ${RETAIN} ended jobs, so
the records it holds stay level). ${options.warmup} jobs first as a warm-up; "before" is taken after
them, "after" 2 s after the last job.

${options.jobs} jobs in ${round(run.seconds, 1)} s: **${
      round(rate)
    } jobs/s**; the slowest whole second
finished ${
      slowest ?? "– (the run was shorter than a second)"
    }. Each job, start to status "exited": median ${latency.median} ms, p99 ${latency.p99} ms.

Where the CPU goes, per job: ${cpu.host} ms of the host's CPU in all: the server ${cpu.server} ms, the
measuring client (this bench process: three calls per job) ${cpu.client} ms, and ${rest} ms the rest
(the job's executor, the job itself, the kernel). The executor is a Deno process of its own: one
\`deno run\` of an empty script costs ${denoFloor} ms of CPU here (20 runs under GNU time). With
${navigator.hardwareConcurrency} cores that is a ceiling of ${ceiling} jobs/s on this host.

${
      table(
        ["", ...keys.map((k) => k === "rssMiB" ? "server RSS MiB" : k)],
        [
          ["before", ...keys.map((k) => before[k])],
          ["after", ...keys.map((k) => after[k])],
        ],
      )
    }
Processes and zombies are the server's descendants (the idle pool's executors are ${before.processes}
of them); cgroups are directories under the server's cgroup parent in every hierarchy; mounts are
what the server's mount namespace holds; fds are the server's.

Goal: ≥ 40 jobs/s sustained; nothing left over; server RSS within 10% of before.
`;
    return {
      markdown,
      figures: {
        jobs: options.jobs,
        seconds: round(run.seconds, 2),
        jobsPerSecond: round(rate),
        slowestSecond: slowest,
        jobMs: latency,
        cpuMsPerJob: { ...cpu, rest, ceilingJobsPerSecond: ceiling, emptyDenoRun: denoFloor },
        before,
        after,
      },
    };
  } finally {
    await server.stop();
  }
}
