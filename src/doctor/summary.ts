/**
 * The doctor in one log line, for the server to print when it starts:
 * `jobworker: doctor: 29 ok, 1 warn (data dir on tmpfs), 0 fail, 1 skip; exposure 0.0 (SAFE)`.
 *
 * @module
 */
import { messageOf } from "./_check.ts";
import { runDoctor } from "./doctor.ts";
import type { CheckStatus, DoctorOptions, DoctorReport } from "./types.ts";

/** At most this many reasons are named in the parentheses after a count. */
const MAX_BRIEFS = 3;

function briefs(report: DoctorReport, status: CheckStatus): string {
  const all = [
    ...new Set(report.checks.flatMap((c) => c.status === status && "brief" in c ? [c.brief] : [])),
  ];
  if (all.length === 0) return "";
  const more = all.length > MAX_BRIEFS ? `; ${all.length - MAX_BRIEFS} more` : "";
  return ` (${all.slice(0, MAX_BRIEFS).join("; ")}${more})`;
}

/**
 * The report as one line: counts by status, the reasons behind warnings
 * and failures (a few words each), and the exposure score.
 *
 * @example
 * ```ts
 * summaryLine(report);
 * // "jobworker: doctor: 29 ok, 1 warn (data dir on tmpfs), 0 fail, 1 skip; exposure 0.0 (SAFE)"
 * ```
 */
export function summaryLine(report: DoctorReport): string {
  const { counts, exposure } = report;
  const parts = [
    `${counts.ok} ok`,
    `${counts.warn} warn${briefs(report, "warn")}`,
    `${counts.fail} fail${briefs(report, "fail")}`,
  ];
  if (counts.skip > 0) parts.push(`${counts.skip} skip`);
  return `jobworker: doctor: ${parts.join(", ")}; exposure ${
    exposure.score.toFixed(1)
  } (${exposure.level})`;
}

/**
 * Runs the doctor with the server's settings and returns its
 * {@link summaryLine}: what the server logs once at start. Never throws;
 * when the checks cannot run at all, the line says why.
 *
 * @example
 * ```ts ignore
 * console.log(await doctorLogLine({ dataDir: "/var/lib/jobworker", jobUidRange: { first: 61184, last: 65519 } }));
 * ```
 */
export async function doctorLogLine(options: DoctorOptions = {}): Promise<string> {
  try {
    return summaryLine(await runDoctor(options));
  } catch (err) {
    return `jobworker: doctor: Cannot run the checks: ${messageOf(err)}`;
  }
}
