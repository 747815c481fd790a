/**
 * `jobworker doctor`: whether jobworker's isolation and limits really work
 * on THIS host. The checks find the truth on their own, from /proc and
 * /sys, a throwaway test cgroup, a test file in the data directory, and a
 * probe child process that tries every system call the sandbox uses on
 * itself; none of it goes through src/cgroup or src/executor, so the
 * doctor can catch what those get wrong.
 *
 * - {@link runDoctor} runs the checks and returns a {@link DoctorReport}:
 *   one {@link CheckResult} per check (`ok`, `warn`, `fail`, or `skip` with
 *   the reason, e.g. when not root), and the sandbox's {@link Exposure};
 * - {@link formatReport} and {@link formatReportJson} show it;
 * - {@link summaryLine} and {@link doctorLogLine} make the server's one
 *   log line at start;
 * - {@link assessExposure} rates the sandbox from check results (0.0 best,
 *   10.0 worst; see ./exposure.ts for the formula);
 * - {@link runDoctorProbe} is the probe child's entry point, which a
 *   compiled binary must call when its first argument is
 *   {@link DOCTOR_PROBE_ARG}.
 *
 * @example
 * ```ts
 * import { formatReport, runDoctor } from "./src/doctor/mod.ts";
 * const report = await runDoctor({ dataDir: "/var/lib/jobworker" });
 * console.log(formatReport(report));
 * Deno.exitCode = report.counts.fail > 0 ? 1 : 0;
 * ```
 *
 * @module
 */
export { countStatuses, DEFAULT_MIN_FREE_BYTES, runDoctor } from "./doctor.ts";
export { assessExposure, exposureLevel, PROTECTIONS } from "./exposure.ts";
export { runDoctorProbe } from "./probe.ts";
export { formatReport, formatReportJson } from "./report.ts";
export { doctorLogLine, summaryLine } from "./summary.ts";
export {
  type CheckResult,
  type CheckStatus,
  DOCTOR_PROBE_ARG,
  type DoctorOptions,
  type DoctorReport,
  type Exposure,
  type ExposureLevel,
  type Protection,
  type ProtectionState,
  type StatusCounts,
  type UidRange,
} from "./types.ts";
