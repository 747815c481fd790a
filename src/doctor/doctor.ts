/**
 * Runs every check on this host and assembles the {@link DoctorReport}:
 * first what is read (the server process itself, cgroups, the uid range,
 * the data directory), then the probe child, then the verdicts and the
 * exposure. The uid range is read before the probe runs: the probe's main
 * thread switches to a uid of the range and must not be taken for a
 * stranger there.
 *
 * @module
 */
import { DEFAULT_JOB_UID_RANGE } from "../job/identity.ts";
import { messageOf } from "./_check.ts";
import { gatherCgroupFacts } from "./_cgroup_facts.ts";
import { cgroupChecks } from "./_cgroup_checks.ts";
import { dataDirChecks, gatherDataDirFacts } from "./_data_dir.ts";
import { hostChecks } from "./_host_checks.ts";
import {
  mountOf,
  parseCapMask,
  parseKernelRelease,
  parseMountinfo,
  parseProcCgroup,
  parseStatus,
} from "./_proc.ts";
import { defaultProbeCommand, runProbe } from "./_probe_run.ts";
import { sandboxChecks } from "./_sandbox_checks.ts";
import { gatherUidFacts, uidRangeCheck } from "./_uids.ts";
import { assessExposure } from "./exposure.ts";
import type { CheckResult, DoctorOptions, DoctorReport, StatusCounts } from "./types.ts";

/**
 * The server's default `--min-free` (`DEFAULT_MIN_FREE_BYTES` in
 * src/job/manager.ts; a test keeps the two equal).
 */
export const DEFAULT_MIN_FREE_BYTES = 256 * 1024 ** 2;

async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return fallback;
  }
}

/** How many results have each status. */
export function countStatuses(checks: readonly CheckResult[]): StatusCounts {
  const counts: StatusCounts = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const check of checks) counts[check.status]++;
  return counts;
}

/**
 * Runs every check on this host against the server's settings in
 * `options` (its defaults otherwise). Checks that need root are skipped,
 * with the reason, when not run as root. Changes nothing on the host: what
 * it tries happens in a throwaway test cgroup, a test file, and a probe
 * child process with namespaces of its own.
 *
 * @example
 * ```ts
 * const report = await runDoctor({ dataDir: "/var/lib/jobworker" });
 * if (report.counts.fail > 0) console.log(report.checks.filter((c) => c.status === "fail"));
 * ```
 *
 * @throws Error `Cannot check the host: ...` only when /proc itself cannot be read
 */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const dataDir = options.dataDir ?? "data";
  const jobUidRange = options.jobUidRange ?? { ...DEFAULT_JOB_UID_RANGE };
  const minFreeBytes = options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES;
  const uid = Deno.uid() ?? -1;
  const root = uid === 0;

  let statusText: string, mountinfoText: string, cgroupText: string;
  try {
    [statusText, mountinfoText, cgroupText] = await Promise.all([
      Deno.readTextFile("/proc/self/status"),
      Deno.readTextFile("/proc/self/mountinfo"),
      Deno.readTextFile("/proc/self/cgroup"),
    ]);
  } catch (err) {
    throw new Error(`Cannot check the host: /proc is not readable: ${messageOf(err)}`);
  }
  const status = parseStatus(statusText);
  const mounts = parseMountinfo(mountinfoText);
  const release = Deno.osRelease();
  const kernel = parseKernelRelease(release);
  const pipeMax = Number((await readOr("/proc/sys/fs/pipe-max-size", "")).trim());
  const seccompActions = await readOr("/proc/sys/kernel/seccomp/actions_avail", "");
  const proc = mountOf("/proc", mounts);
  const procHidden = !root &&
    (proc?.superOptions ?? []).some((o) => /^hidepid=(?!0$|off$)/.test(o));

  const uidFacts = await gatherUidFacts({ procHidden });
  const dataFacts = await gatherDataDirFacts(dataDir, mounts);
  const cgroupFacts = await gatherCgroupFacts(mounts, parseProcCgroup(cgroupText), { root });
  const probe = await runProbe(options.probeCommand ?? defaultProbeCommand(), {
    uid: jobUidRange.last > 0 ? jobUidRange.last : 65534,
  });

  const checks: CheckResult[] = [
    ...hostChecks({
      uid,
      status,
      release,
      arch: Deno.build.arch,
      pipeMaxSize: Number.isSafeInteger(pipeMax) && pipeMax > 0 ? pipeMax : null,
    }),
    ...cgroupChecks(cgroupFacts, {
      root,
      capEff: parseCapMask(status.get("CapEff")),
      bpfDevice: probe.ran ? probe.steps.bpf_device : undefined,
      kernel,
    }),
    ...sandboxChecks(probe, {
      root,
      release,
      status,
      seccompActions: seccompActions === "" ? null : seccompActions.trim().split(/\s+/),
    }),
    uidRangeCheck(uidFacts, jobUidRange),
    ...dataDirChecks(dataFacts, { minFreeBytes }),
  ];
  return {
    time: new Date().toISOString(),
    host: { kernel: release, arch: Deno.build.arch, uid },
    settings: { dataDir: dataFacts.absolute, jobUidRange, minFreeBytes },
    checks,
    counts: countStatuses(checks),
    exposure: assessExposure(checks),
  };
}
