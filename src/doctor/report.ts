/**
 * The doctor's report for people (grouped checks, then the sandbox's
 * protections and exposure score as `systemd-analyze security` shows
 * them) and for programs (JSON). Colour is the caller's decision.
 *
 * @module
 */
import { formatBytes } from "./_check.ts";
import type { CheckResult, CheckStatus, DoctorReport, ProtectionState } from "./types.ts";

/** Sections of the report, by the check id's prefix. */
const SECTIONS: ReadonlyArray<[string, string]> = [
  ["root.", "Host"],
  ["kernel.", "Host"],
  ["cgroup.", "cgroups"],
  ["ns.", "Namespaces"],
  ["sandbox.", "Sandbox features"],
  ["uids.", "Job uids"],
  ["data.", "Data directory"],
];

const STATUS_TEXT: Record<CheckStatus, string> = {
  ok: "ok",
  warn: "warn",
  fail: "FAIL",
  skip: "skip",
};
const STATUS_COLOR: Record<CheckStatus, string> = { ok: "32", warn: "33", fail: "1;31", skip: "2" };
const MARK: Record<ProtectionState, string> = { yes: "✓", no: "✗", unknown: "?" };
const MARK_COLOR: Record<ProtectionState, string> = { yes: "32", no: "1;31", unknown: "33" };

/** Lines are wrapped to this width. */
const WIDTH = 100;

function sectionOf(check: CheckResult): string {
  return SECTIONS.find(([prefix]) => check.id.startsWith(prefix))?.[1] ?? "Other";
}

/** `text` wrapped at word boundaries to `width`, continuation lines indented by `indent`. */
function wrap(text: string, options: { first: number; indent: number }): string {
  const room = WIDTH - options.indent;
  const lines: string[] = [];
  let line = "";
  let limit = WIDTH - options.first;
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > limit) {
      lines.push(line);
      line = word;
      limit = room;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.join(`\n${" ".repeat(options.indent)}`);
}

/**
 * The report as text: a header, every check by section (status, title,
 * detail), the sandbox's protections with ✓ (provided), ✗ (not provided)
 * or ? (not known), the exposure score, and a verdict line. With `color`,
 * statuses and marks are coloured (SGR).
 */
export function formatReport(report: DoctorReport, options: { color?: boolean } = {}): string {
  const paint = (text: string, sgr: string) => options.color ? `\x1b[${sgr}m${text}\x1b[0m` : text;
  const { host, settings } = report;
  const out: string[] = [
    `jobworker doctor: Linux ${host.kernel} ${host.arch}, as uid ${host.uid}`,
    `data dir ${settings.dataDir}, job uids ${settings.jobUidRange.first}-` +
    `${settings.jobUidRange.last}, --min-free ${formatBytes(settings.minFreeBytes)}`,
  ];
  const titleWidth = Math.max(...report.checks.map((c) => c.title.length));
  const detailAt = 2 + 4 + 2 + titleWidth + 2;
  let section = "";
  for (const check of report.checks) {
    if (sectionOf(check) !== section) {
      section = sectionOf(check);
      out.push("", section);
    }
    const status = paint(STATUS_TEXT[check.status].padEnd(4), STATUS_COLOR[check.status]);
    const detail = wrap(check.detail, { first: detailAt, indent: detailAt });
    out.push(`  ${status}  ${check.title.padEnd(titleWidth)}  ${detail}`);
  }

  const { exposure } = report;
  out.push(
    "",
    "Sandbox exposure (as systemd-analyze security rates a unit; ✓ provided, ✗ not, ? unknown)",
  );
  const nameWidth = Math.max(...exposure.protections.map((p) => p.name.length));
  const descriptionAt = 2 + 1 + 1 + nameWidth + 2;
  for (const p of exposure.protections) {
    const because = p.because === undefined ? "" : ` [${p.because}]`;
    const text = wrap(`${p.description}${because}`, {
      first: descriptionAt,
      indent: descriptionAt,
    });
    out.push(`  ${paint(MARK[p.state], MARK_COLOR[p.state])} ${p.name.padEnd(nameWidth)}  ${text}`);
  }
  const levelColor = exposure.score <= 2.9 ? "32" : exposure.score <= 4.9 ? "33" : "1;31";
  out.push(
    `→ Overall exposure level: ${
      paint(`${exposure.score.toFixed(1)} ${exposure.level}`, levelColor)
    } (0.0 best, 10.0 worst)`,
  );

  out.push("", `${counts(report)}: ${verdict(report)}`);
  return `${out.join("\n")}\n`;
}

function counts(report: DoctorReport): string {
  const { ok, warn, fail, skip } = report.counts;
  return `${ok} ok, ${warn} warn, ${fail} fail, ${skip} skip`;
}

/** What the report comes to, in one sentence. */
function verdict(report: DoctorReport): string {
  const failed = report.checks.filter((c) => c.status === "fail");
  if (failed.length > 0) return `missing: ${failed.map((c) => c.id).join(", ")}`;
  if (report.host.uid !== 0) {
    return "nothing failed, but what needs root was not checked: run the doctor as root";
  }
  return "nothing jobworker requires is missing";
}

/** The report as pretty JSON (two-space indent, one trailing newline). */
export function formatReportJson(report: DoctorReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
