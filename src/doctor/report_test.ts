import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { countStatuses } from "./doctor.ts";
import { assessExposure } from "./exposure.ts";
import { formatReport, formatReportJson } from "./report.ts";
import { summaryLine } from "./summary.ts";
import type { CheckResult, DoctorReport } from "./types.ts";

function report(checks: CheckResult[]): DoctorReport {
  return {
    time: "2026-12-02T07:00:00.000Z",
    host: { kernel: "6.1.0-56-cloud-amd64", arch: "x86_64", uid: 0 },
    settings: {
      dataDir: "/var/lib/jobworker",
      jobUidRange: { first: 61184, last: 65519 },
      minFreeBytes: 256 * 1024 ** 2,
    },
    checks,
    counts: countStatuses(checks),
    exposure: assessExposure(checks),
  };
}

const CHECKS: CheckResult[] = [
  { id: "root.uid", title: "Running as root", status: "ok", detail: "uid 0" },
  {
    id: "cgroup.io",
    title: "IO throttling",
    status: "warn",
    detail: "no blkio hierarchy is mounted: jobs cannot be given IO limits",
    brief: "no IO limits",
  },
  {
    id: "data.fs",
    title: "File system",
    status: "warn",
    detail: "tmpfs (tmpfs on /var/lib/jobworker): " + "lost on reboot ".repeat(10),
    brief: "data dir on tmpfs",
  },
  {
    id: "uids.range",
    title: "Job uid range free",
    status: "fail",
    detail: "61184-65519 is in use",
    brief: "job uid range in use",
  },
  {
    id: "ns.user",
    title: "User namespace",
    status: "skip",
    detail: "not used",
    reason: "not used",
  },
];

Deno.test("summaryLine: counts, the reasons behind warnings and failures, the score", () => {
  const r = report(CHECKS);
  assertEquals(
    summaryLine(r),
    "jobworker: doctor: 1 ok, 2 warn (no IO limits; data dir on tmpfs), " +
      `1 fail (job uid range in use), 1 skip; exposure ${r.exposure.score.toFixed(1)} ` +
      `(${r.exposure.level})`,
  );
  const clean = report([CHECKS[0]!]);
  assertStringIncludes(summaryLine(clean), ": 1 ok, 0 warn, 0 fail; exposure");
});

Deno.test("summaryLine names at most three reasons", () => {
  const many: CheckResult[] = ["a", "b", "c", "d", "e"].map((id) => ({
    id,
    title: id,
    status: "warn",
    detail: id,
    brief: `reason ${id}`,
  }));
  assertStringIncludes(summaryLine(report(many)), "5 warn (reason a; reason b; reason c; 2 more)");
});

Deno.test("formatReport: sections, statuses, protections and the verdict; no colour by default", () => {
  const text = formatReport(report(CHECKS));
  assert(!text.includes("\x1b["), "no escape sequences without colour");
  assertStringIncludes(text, "jobworker doctor: Linux 6.1.0-56-cloud-amd64 x86_64, as uid 0");
  assertStringIncludes(text, "\nHost\n  ok    Running as root ");
  assertStringIncludes(text, "\n  FAIL  Job uid range free ");
  assertStringIncludes(text, "\n  skip  User namespace ");
  assertStringIncludes(text, "  ✗ IOBandwidthMax");
  assertStringIncludes(text, "  ✗ DynamicUser");
  assertStringIncludes(text, "→ Overall exposure level: ");
  assertStringIncludes(text, "1 ok, 2 warn, 1 fail, 1 skip: missing: uids.range");
  for (const line of text.split("\n")) assert(line.length <= 100, `too long: ${line}`);
});

Deno.test("formatReport: the verdict without failures, as root and not", () => {
  const clean = report([CHECKS[0]!]);
  assertStringIncludes(formatReport(clean), "1 ok, 0 warn, 0 fail, 0 skip: nothing jobworker");
  const notRoot = { ...clean, host: { ...clean.host, uid: 1000 } };
  assertStringIncludes(formatReport(notRoot), "what needs root was not checked");
});

Deno.test("formatReport with colour paints statuses and marks", () => {
  const text = formatReport(report(CHECKS), { color: true });
  assertStringIncludes(text, "\x1b[1;31mFAIL\x1b[0m");
  assertStringIncludes(text, "\x1b[33mwarn\x1b[0m");
  assertStringIncludes(text, "\x1b[1;31m✗\x1b[0m");
});

Deno.test("formatReportJson is the report, parseable", () => {
  const r = report(CHECKS);
  assertEquals(JSON.parse(formatReportJson(r)), JSON.parse(JSON.stringify(r)));
  assert(formatReportJson(r).endsWith("}\n"));
});
