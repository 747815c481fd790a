/**
 * Fan-out: many followers of one job that writes a timestamped line every
 * 10 ms. The followers are the C-core client (python3-grpcio), spread over
 * a number of connections; each line's delivery latency is the follower's
 * clock at arrival minus the time the job printed. The client's own CPU
 * use is reported beside, to show whether it was the bottleneck.
 *
 * @module
 */
import { cpuSeconds, round, summarize, table } from "./_common.ts";
import { startBenchServer } from "./_server.ts";
import { ccore, haveCCore, PYTHON } from "./stream.ts";

/** A job printing CLOCK_REALTIME in ns every `everyMs` for `lines` lines, paced by the clock. */
function ticker(lines: number, everyMs: number): string[] {
  const code = `
import os, time
t0 = time.monotonic()
for i in range(${lines}):
    ahead = t0 + i * ${everyMs / 1000} - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
    os.write(1, b"%d\\n" % time.time_ns())
`;
  return [PYTHON, "-c", code];
}

/** Runs the section; returns its Markdown and figures (null figures when python3-grpcio is missing). */
export async function benchFanout(options: {
  followers: number;
  connections: number;
  processes: number;
  seconds: number;
}): Promise<{ markdown: string; figures: Record<string, unknown> }> {
  if (!(await haveCCore())) {
    return {
      markdown: "## Fan-out\n\nNot run: python3-grpcio (the C-core client) is not installed.\n",
      figures: {},
    };
  }
  const everyMs = 10;
  const lines = Math.round((options.seconds * 1000) / everyMs);
  const server = await startBenchServer(["--pool-size", "0"]);
  try {
    const client = await server.client();
    // A job that waits for the followers first: they connect before the
    // first line, so every one of them sees every line live.
    const [command, ...args] = ticker(lines, everyMs);
    const { id } = await client.start({
      command: "/bin/sh",
      args: ["-c", `sleep 5; exec "$0" "$@"`, command!, ...args],
    });
    // Several client processes: Python runs one thread at a time, so one
    // process would cap the client at one core.
    const processes = Math.min(options.processes, options.followers);
    const share = (total: number, k: number) =>
      Math.floor(total / processes) + (k < total % processes ? 1 : 0);
    const serverCpu0 = cpuSeconds(server.pid) ?? NaN;
    const reports = await Promise.all(Array.from({ length: processes }, (_, k) =>
      ccore([
        "follow",
        server.addr,
        server.certsDir,
        "alice",
        id,
        String(share(options.followers, k)),
        String(Math.max(1, share(options.connections, k))),
      ])));
    const serverCpu = (cpuSeconds(server.pid) ?? NaN) - serverCpu0;
    const latencies = reports.flatMap((r) => r.latencies_ms as number[]);
    const perFollower = reports.flatMap((r) => r.per_follower as number[]);
    const complete = perFollower.filter((n) => n === lines).length;
    const cpu = reports.map((r) => Number(r.cpu_seconds));
    const busiest = Math.max(
      ...reports.map((r) => Number(r.cpu_seconds) / Number(r.active_seconds)),
    );
    const s = summarize(latencies);
    const status = await client.status(id);
    const markdown = `## Fan-out: ${options.followers} followers of one job

A job prints its clock (ns) every ${everyMs} ms, ${lines} lines; ${options.followers} followers
(scripts/bench/ccore_client.py \`follow\`, python3-grpcio) over ${options.connections} connections
in ${processes} client processes stream it from offset 0, connected before the first line. Latency is the follower's clock on
arrival minus the printed time.

${
      table(
        ["deliveries", "median ms", "p90 ms", "p99 ms", "max ms", "followers with every line"],
        [
          [latencies.length, s.median, s.p90, s.p99, s.max, `${complete} of ${options.followers}`],
        ],
      )
    }
The measuring clients used ${round(cpu.reduce((a, b) => a + b, 0), 1)} CPU seconds in all while the
job wrote for ${options.seconds} s; the busiest process used ${round(busiest * 100, 0)}% of one core
from its first line to its last (Python runs one thread at a time, so a process near 100% sets the
pace itself). The server used ${round(serverCpu, 1)} CPU seconds (including the 5 s while the
followers connected and the job waited). The host has ${navigator.hardwareConcurrency} cores for the server, the job and the
clients together. The job ended ${status.state} (exit ${status.exitCode ?? "–"}).

Goal: p99 ≤ 100 ms, every follower every byte.
`;
    return {
      markdown,
      figures: {
        followers: options.followers,
        connections: options.connections,
        lines,
        latencyMs: s,
        complete,
        processes,
        clientCpuSeconds: cpu.map((c) => round(c, 2)),
        busiestClientCore: round(busiest, 2),
        serverCpuSeconds: round(serverCpu, 2),
      },
    };
  } finally {
    await server.stop();
  }
}
