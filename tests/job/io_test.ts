/**
 * Disk IO limits, measured on the real block device behind the job's working
 * directory: a job doing O_DIRECT writes (reads) is held near its
 * ioWriteBps (ioReadBps), and the same job without a limit is far faster.
 * O_DIRECT, because throttling applies where IO reaches the disk: buffered
 * writes are flushed later by the kernel and buffered reads may be served by
 * the page cache.
 *
 * On the hosts of this project this runs against cgroup v1 (blkio
 * throttling on /dev/vda); `deno task test:vm` runs it against v2 (io.max)
 * in a VM whose temp dirs are on an ext4 virtio disk.
 */
import { assert, assertEquals, assertLess, assertStringIncludes } from "@std/assert";
import {
  cgroupDirWith,
  outputText,
  readControl,
  rootTest,
  sh,
  wholeDiskOfDevice,
  withManager,
} from "./_fixture.ts";
import type { Job } from "../../src/job/mod.ts";

const MiB = 1024 * 1024;
/** The limit under test: 2 MiB/s. */
const LIMIT_BPS = 2 * MiB;
/** What each job moves: 6 MiB, about 3 s at the limit (short, for TCG's sake). */
const SIZE_MIB = 6;

/**
 * The seconds between the two /proc/uptime readings a job printed as
 * `elapsed <t0> <t1>` (10 ms resolution), or null when there is no such
 * line. busybox's `date` has no `%N` and its `dd` no timing line, so the job
 * times itself with the shell's `read` builtin, without forking.
 *
 * @example
 * ```ts
 * parseElapsed("6+0 records out\nelapsed 12.50 15.51\n"); // 3.01
 * ```
 */
export function parseElapsed(output: string): number | null {
  const m = /^elapsed (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)$/m.exec(output);
  if (m === null) return null;
  return Math.round((Number(m[2]) - Number(m[1])) * 100) / 100;
}

/** A shell script that runs `command` between two /proc/uptime readings (see parseElapsed). */
function timed(command: string): string {
  return `read -r t0 _ </proc/uptime; ${command} || exit $?; ` +
    `read -r t1 _ </proc/uptime; echo "elapsed $t0 $t1"`;
}

/**
 * The whole disk ("MAJ:MIN") behind `path`, found independently of src/:
 * the file system's st_dev, mapped from a partition to its disk through
 * /sys/dev/block. Null when no block device is behind it (tmpfs, overlay).
 */
async function diskBehind(path: string): Promise<string | null> {
  const dev = BigInt((await Deno.stat(path)).dev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return major === 0n ? null : await wholeDiskOfDevice(`${major}:${minor}`);
}

/** The IO rule the kernel holds for `disk` in the job's cgroup, as "<disk> <bytes/s>". */
async function ioRule(job: Job, version: 1 | 2, direction: "read" | "write"): Promise<string> {
  if (version === 2) {
    const key = direction === "read" ? "rbps" : "wbps";
    const line = (await readControl(job.cgroupPaths[0]!, "io.max")).split("\n")[0] ?? "";
    return line.replace(new RegExp(`^(\\S+) .*${key}=(\\S+).*$`), "$1 $2");
  }
  const file = `blkio.throttle.${direction}_bps_device`;
  return (await readControl(await cgroupDirWith(job, file), file)).split("\n")[0] ?? "";
}

const tmpDisk = await diskBehind(await Deno.realPath(Deno.env.get("TMPDIR") ?? "/tmp"));
const skip = tmpDisk === null
  ? "the temp directory is on no block device (tmpfs/overlay?): set TMPDIR to a disk's file system"
  : null;

Deno.test("parseElapsed reads the job's uptime pair", () => {
  assertEquals(parseElapsed("6+0 records in\n6+0 records out\nelapsed 12.50 15.51\n"), 3.01);
  assertEquals(parseElapsed("elapsed 7 7\n"), 0);
  assertEquals(parseElapsed("dd: error\n"), null);
});

rootTest(
  "IO limits hold O_DIRECT writes and reads near the limit on the disk behind the cwd",
  async () => {
    await withManager(async ({ manager, scratch }) => {
      const disk = await diskBehind(scratch);
      assert(disk !== null, `no block device behind ${scratch}`);
      const version = manager.cgroupVersion;
      // umask 0: every job is a user of its own, and the later ones rewrite the file.
      const write = `umask 0; dd if=/dev/zero of=io-file bs=1M count=${SIZE_MIB} oflag=direct`;
      const read = `dd if=io-file of=/dev/null bs=1M iflag=direct`;

      /** Runs `command` in `scratch` (so the disk comes from the cwd), returns its seconds. */
      const measure = async (
        what: string,
        command: string,
        limit: { direction: "read" | "write"; bps: number } | null,
      ): Promise<number> => {
        const limits = limit === null
          ? {}
          : limit.direction === "read"
          ? { ioReadBps: limit.bps }
          : { ioWriteBps: limit.bps };
        const job = await manager.start(sh(timed(command), { cwd: scratch, limits }));
        if (limit !== null) {
          // The job runs for seconds: its cgroup holds the rule for the disk behind the cwd.
          assertEquals(await ioRule(job, version, limit.direction), `${disk} ${limit.bps}`);
        }
        const status = await job.wait();
        const out = await outputText(job);
        assertEquals(status.exitCode, 0, out);
        assertStringIncludes(out, `${SIZE_MIB}+0 records out`);
        const seconds = parseElapsed(out);
        assert(seconds !== null, `no timing in the job's output: ${out}`);
        const rate = seconds > 0 ? `${(SIZE_MIB / seconds).toFixed(2)} MiB/s` : "too fast to time";
        console.log(`  v${version} ${what}: ${SIZE_MIB} MiB in ${seconds.toFixed(2)} s (${rate})`);
        return seconds;
      };

      // Unlimited first: it also lays out the file the others overwrite and read.
      const freeWrite = await measure("write, unlimited", write, null);
      const slowWrite = await measure("write, limit 2 MiB/s", write, {
        direction: "write",
        bps: LIMIT_BPS,
      });
      const slowRead = await measure("read, limit 2 MiB/s", read, {
        direction: "read",
        bps: LIMIT_BPS,
      });
      const freeRead = await measure("read, unlimited", read, null);

      for (
        const [what, slow, free] of [
          ["write", slowWrite, freeWrite],
          ["read", slowRead, freeRead],
        ] as const
      ) {
        // Held near the limit: the measured rate within 0.6x..1.3x of it.
        const ratio = (SIZE_MIB * MiB / slow) / LIMIT_BPS;
        assert(
          ratio >= 0.6 && ratio <= 1.3,
          `${what} at ${ratio.toFixed(2)}x the limit (${slow} s for ${SIZE_MIB} MiB)`,
        );
        // The same job without a limit is far faster.
        assertLess(free * 4, slow, `unlimited ${what} took ${free} s, limited ${slow} s`);
      }
    }, { timeoutMs: 120_000 });
  },
  { skip },
);
