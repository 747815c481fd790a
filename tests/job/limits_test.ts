/**
 * Resource limits: the cgroup files hold the spec's values while the job
 * runs, and the kernel enforces them (memory: OOM kill; pids: fork bomb
 * contained; cpu: bandwidth). Cgroups are removed once a job ends.
 */
import {
  assert,
  assertEquals,
  assertGreater,
  assertGreaterOrEqual,
  assertLessOrEqual,
  assertStringIncludes,
} from "@std/assert";
import {
  cgroupChildren,
  cgroupDirWith,
  existing,
  marker,
  outputText,
  pgrep,
  readControl,
  rootDisk,
  rootTest,
  runCommand,
  sh,
  sleep,
  waitForOutput,
  waitUntil,
  which,
  withManager,
} from "./_fixture.ts";
import type { Job } from "../../src/job/mod.ts";

const MiB = 1024 * 1024;

/** The limit values as the kernel shows them, for v1 or v2. */
async function kernelLimits(job: Job, version: 1 | 2) {
  if (version === 2) {
    const dir = job.cgroupPaths[0]!;
    const [quota, period] = (await readControl(dir, "cpu.max")).split(" ");
    const io = await readControl(dir, "io.max").catch(() => "");
    return {
      memory: await readControl(dir, "memory.max"),
      cpu: quota === "max" ? null : Number(quota) / Number(period),
      pids: await readControl(dir, "pids.max"),
      ioRead: io.split("\n").filter((l) => l.includes("rbps=")).map((l) =>
        l.replace(/^(\S+) .*rbps=(\d+).*$/, "$1 $2")
      ),
      ioWrite: io.split("\n").filter((l) => l.includes("wbps=")).map((l) =>
        l.replace(/^(\S+) .*wbps=(\d+).*$/, "$1 $2")
      ),
    };
  }
  const memory = await cgroupDirWith(job, "memory.limit_in_bytes");
  const cpu = await cgroupDirWith(job, "cpu.cfs_quota_us");
  const pids = await cgroupDirWith(job, "pids.max");
  const blkio = await cgroupDirWith(job, "blkio.throttle.read_bps_device");
  const quota = Number(await readControl(cpu, "cpu.cfs_quota_us"));
  const lines = (text: string) => text.split("\n").filter((l) => l !== "");
  return {
    memory: await readControl(memory, "memory.limit_in_bytes"),
    cpu: quota === -1 ? null : quota / Number(await readControl(cpu, "cpu.cfs_period_us")),
    pids: await readControl(pids, "pids.max"),
    ioRead: lines(await readControl(blkio, "blkio.throttle.read_bps_device")),
    ioWrite: lines(await readControl(blkio, "blkio.throttle.write_bps_device")),
  };
}

rootTest("while a job runs, its cgroup files hold the spec's limits", async () => {
  await withManager(async ({ manager }) => {
    const disk = await rootDisk();
    const job = await manager.start({
      command: "sleep",
      args: ["30"],
      limits: { cpu: 0.5, memoryBytes: 64 * MiB, pids: 20, ioReadBps: MiB, ioWriteBps: 2 * MiB },
    });
    const limits = await kernelLimits(job, manager.cgroupVersion);
    assertEquals(limits, {
      memory: String(64 * MiB),
      cpu: 0.5,
      pids: "20",
      ioRead: [`${disk} ${MiB}`],
      ioWrite: [`${disk} ${2 * MiB}`],
    });
    if (manager.cgroupVersion === 1) {
      // Swap is off for the job where the kernel has the knob.
      const memory = await cgroupDirWith(job, "memory.limit_in_bytes");
      const memsw = await readControl(memory, "memory.memsw.limit_in_bytes").catch(() => null);
      if (memsw !== null) assertEquals(memsw, String(64 * MiB));
    }
    // The status reports the same limits.
    assertEquals((await job.status()).limits, {
      cpu: 0.5,
      memoryBytes: 64 * MiB,
      ioReadBps: MiB,
      ioWriteBps: 2 * MiB,
      pids: 20,
    });
    const stopped = await job.stop({ graceMs: 0 });
    assertEquals(stopped.state, "stopped");
  });
});

rootTest("a job without limits gets the documented defaults in its cgroup", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start({ command: "sleep", args: ["30"] });
    const limits = await kernelLimits(job, manager.cgroupVersion);
    assertEquals(limits, {
      memory: String(512 * MiB),
      cpu: 1,
      pids: "1024",
      ioRead: [],
      ioWrite: [],
    });
    await job.stop({ graceMs: 0 });
  });
});

rootTest("a memory hog is OOM-killed: oomKilled true, signal SIGKILL", async () => {
  await withManager(async ({ manager }) => {
    // dd fills its 200 MiB buffer from /dev/zero, so every page is really
    // used; coreutils' and busybox's dd alike (the VM has only busybox).
    const job = await manager.start({
      command: "dd",
      args: ["if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"],
      limits: { memoryBytes: 32 * MiB },
    });
    const status = await job.wait();
    assertEquals(
      { state: status.state, exitCode: status.exitCode, signal: status.signal },
      { state: "exited", exitCode: null, signal: "SIGKILL" },
    );
    assertEquals(status.oomKilled, true);
    // dd prints "1+0 records out" only once the whole buffer was read and written.
    assert(!(await outputText(job)).includes("records out"));
    // Peak memory stayed at the limit.
    const peak = status.usage.memoryPeakBytes;
    if (peak !== null) assertLessOrEqual(peak, 32 * MiB);
    assertEquals(await existing(job.cgroupPaths), []);
  });
});

rootTest("kill -9 $$ is a SIGKILL but not an OOM kill", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh("kill -9 $$", { limits: { memoryBytes: 32 * MiB } }));
    const status = await job.wait();
    assertEquals(
      { state: status.state, exitCode: status.exitCode, signal: status.signal },
      { state: "exited", exitCode: null, signal: "SIGKILL" },
    );
    assertEquals(status.oomKilled, false);
  });
});

rootTest("a fork bomb stops at the pids limit; the host is fine", async () => {
  await withManager(async ({ manager }) => {
    const mark = marker();
    // The bomb runs in the background in bash, or busybox sh where there is
    // no bash (the VM): both print "Resource temporarily unavailable" for a
    // failed fork (dash, the host's sh, does not). Every process forks in a
    // loop, so the bomb stays at the limit: busybox sh exits on a failed
    // fork where bash retries, and a bomb of short-lived processes died out
    // there before it was sampled. The main shell needs no fork after
    // starting it, as it execs sleep. Everything ignores SIGTERM: the stop
    // must SIGKILL the lot.
    const shell = which("bash") !== null ? "bash" : "sh";
    const job = await manager.start(sh(
      `trap '' TERM; ${shell} -c 'f(){ while :; do f & done; }; f; : ${mark}' & ` +
        `echo bomb-started; exec sleep 60`,
      { limits: { pids: 20, cpu: 0.5 } },
    ));
    const pidsDir = manager.cgroupVersion === 1
      ? await cgroupDirWith(job, "pids.current")
      : job.cgroupPaths[0]!;
    await waitForOutput(job, "bomb-started");
    let max = 0;
    // Sampled every ~10 ms for about a second.
    for (let i = 0; i < 100; i++) {
      const current = Number(await readControl(pidsDir, "pids.current"));
      max = Math.max(max, current);
      assertLessOrEqual(current, 20, `pids.current ${current} above the limit (sample ${i})`);
      if (i === 50) {
        // The host can still start processes.
        const host = await runCommand("true", []);
        assertEquals(host.code, 0);
      }
      await sleep(10);
    }
    assertGreaterOrEqual(max, 15, `the bomb never neared the limit (max ${max})`);
    const events = await readControl(pidsDir, "pids.events");
    const failedForks = Number(/max (\d+)/.exec(events)?.[1] ?? 0);
    assertGreater(failedForks, 0, `pids.events: ${events}`);
    assertEquals(job.state, "running");
    const t0 = performance.now();
    const status = await job.stop({ graceMs: 0 });
    console.log(
      `  fork bomb: max pids.current ${max}, failed forks ${failedForks}, ` +
        `stop took ${Math.round(performance.now() - t0)} ms`,
    );
    assertEquals([status.state, status.signal], ["stopped", "SIGKILL"]);
    assertStringIncludes(await outputText(job), "Resource temporarily unavailable");
    assertEquals(await pgrep(mark), [], "fork bomb processes survived the stop");
    assertEquals(await existing(job.cgroupPaths), []);
  });
});

rootTest("a CPU hog limited to 0.5 cores uses about half a core", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh("while :; do :; done", { limits: { cpu: 0.5 } }));
    await sleep(100);
    const s0 = await job.status();
    const t0 = performance.now();
    await sleep(2_000);
    const s1 = await job.status();
    const wallNs = (performance.now() - t0) * 1e6;
    assert(s0.usage.cpuNs !== null && s1.usage.cpuNs !== null, "no CPU usage figures");
    const cores = (s1.usage.cpuNs - s0.usage.cpuNs) / wallNs;
    console.log(`  CPU hog with cpu 0.5: ${cores.toFixed(3)} cores over 2 s`);
    assertGreaterOrEqual(cores, 0.35);
    assertLessOrEqual(cores, 0.65);
    // The shell dies of the SIGTERM long before the grace period ends.
    const status = await job.stop({ graceMs: 5_000 });
    assertEquals(status.state, "stopped");
    assertEquals(status.signal, "SIGTERM");
    assertGreaterOrEqual(status.usage.cpuNs!, s1.usage.cpuNs);
  });
});

rootTest("a write-bandwidth limit throttles direct writes to the root disk", async () => {
  await withManager(async ({ manager, scratch }) => {
    // 512 KiB at 512 KiB/s takes about 1 s (a few ms unthrottled). Direct
    // IO: v1 throttles only IO that reaches the disk synchronously.
    const job = await manager.start(sh(
      `dd if=/dev/zero of=${scratch}/io bs=64k count=8 oflag=direct 2>&1 | tail -1`,
      { limits: { ioWriteBps: 512 * 1024 } },
    ));
    const t0 = performance.now();
    const status = await job.wait();
    const seconds = (performance.now() - t0) / 1000;
    const out = await outputText(job);
    assertEquals(status.exitCode, 0, out);
    console.log(`  512 KiB direct write at 512 KiB/s took ${seconds.toFixed(2)} s (${out.trim()})`);
    assertGreaterOrEqual(seconds, 0.75);
  });
});

rootTest("a job's cgroups exist while it runs and are removed when it ends", async () => {
  await withManager(async ({ manager, parentDirs }) => {
    const job = await manager.start(sh("sleep 0.3"));
    assertGreaterOrEqual(job.cgroupPaths.length, 1);
    assertEquals(await existing(job.cgroupPaths), [...job.cgroupPaths]);
    for (const path of job.cgroupPaths) assertStringIncludes(path, job.id);
    assertEquals((await cgroupChildren(parentDirs)).length, job.cgroupPaths.length);
    await job.wait();
    assertEquals(await existing(job.cgroupPaths), []);
    assertEquals(await cgroupChildren(parentDirs), []);
    // Also after a stop.
    const stopped = await manager.start({ command: "sleep", args: ["30"] });
    await waitUntil(async () => (await existing(stopped.cgroupPaths)).length > 0, "cgroups");
    await stopped.stop({ graceMs: 0 });
    assertEquals(await existing(stopped.cgroupPaths), []);
    assertEquals(await cgroupChildren(parentDirs), []);
  });
});

rootTest("an ended job's usage: final figures, no tasks, no memory in use", async () => {
  // ResourceUsage.memoryCurrentBytes is documented as "Memory in use now
  // (0 once ended)". The job writes 20 MB of output (page cache charged to
  // its memory cgroup) and exits.
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh("head -c 20000000 /dev/zero | tr '\\0' x"));
    const status = await job.wait();
    assertEquals(status.exitCode, 0);
    assert(status.usage.cpuNs !== null && status.usage.cpuNs > 0, "cpuNs");
    assertGreater(status.usage.memoryPeakBytes ?? 0, 0);
    assertEquals(status.usage.tasks, 0);
    assertEquals(status.usage.memoryCurrentBytes, 0, "memoryCurrentBytes of an ended job");
  });
});
