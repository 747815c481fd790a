/**
 * Demo: starts one limited, isolated job and streams its output from the
 * first byte while it runs, then prints its final status.
 *
 * Run: ./scripts/deno task demo   (as root)
 *
 * @module
 */
import { JobManager } from "../src/job/mod.ts";

const script = `
echo "hostname: $(hostname)"
echo "who: $(id)"
echo "writable: $(pwd) and /tmp; the host is read-only: $(touch /usr/x 2>&1)"
echo "processes visible inside the job:"; ps -e -o pid,comm
echo "network interfaces:"; ip -br link
echo "my cgroups (the root of my own cgroup namespace):"
grep -E 'memory|cpu,|cpu:|pids' /proc/self/cgroup
for i in 1 2 3; do echo "tick $i"; sleep 0.3; done
echo "done"
`;

if (Deno.uid() !== 0) {
  console.error("The demo needs root (namespaces and cgroups): run it with sudo.");
  Deno.exit(1);
}

const dataDir = await Deno.makeTempDir({ prefix: "jobworker-demo-" });
const manager = await JobManager.create({ dataDir, cgroupParent: "jobworker-demo" });
try {
  console.log(
    `cgroup v${manager.cgroupVersion}; starting a job limited to 0.5 CPU, 64 MiB, 32 tasks`,
  );
  const job = await manager.start({
    command: "sh",
    args: ["-c", script],
    limits: { cpu: 0.5, memoryBytes: 64 * 1024 * 1024, pids: 32 },
  });
  console.log(`job ${job.id} is running; its output, as it is written:\n`);
  const reader = job.output();
  try {
    for await (const chunk of reader) await Deno.stdout.write(chunk.data);
  } finally {
    reader.close();
  }
  const status = await job.wait();
  console.log("\nfinal status:", {
    state: status.state,
    exitCode: status.exitCode,
    signal: status.signal,
    oomKilled: status.oomKilled,
    cpuMs: status.usage.cpuNs === null ? null : Math.round(status.usage.cpuNs / 1e6),
    memoryPeakBytes: status.usage.memoryPeakBytes,
    durationMs: status.endedAt!.getTime() - status.startedAt.getTime(),
  });
} finally {
  await manager.close({ graceMs: 1000 });
  await Deno.remove(dataDir, { recursive: true });
}
