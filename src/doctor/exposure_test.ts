import { assert, assertEquals } from "@std/assert";
import { assessExposure, exposureLevel, PROTECTIONS } from "./exposure.ts";
import { cgroupChecks } from "./_cgroup_checks.ts";
import { dataDirChecks } from "./_data_dir.ts";
import { hostChecks } from "./_host_checks.ts";
import { parseStatus } from "./_proc.ts";
import { PROBE_STEPS } from "./_probe_protocol.ts";
import { sandboxChecks } from "./_sandbox_checks.ts";
import { uidRangeCheck } from "./_uids.ts";
import type { CheckResult } from "./types.ts";

const ok = (id: string): CheckResult => ({ id, title: id, status: "ok", detail: "" });

/** Every check id the doctor can report, from its evaluators fed a made-up host. */
function everyCheckId(): string[] {
  const status = parseStatus("CapEff:\t000001ffffffffff\nSeccomp:\t0\n");
  const steps = Object.fromEntries(PROBE_STEPS.map((s) => [s, { outcome: "ok", text: "" }]));
  return [
    ...hostChecks({ uid: 0, status, release: "6.1", arch: "x86_64", pipeMaxSize: null }),
    ...cgroupChecks(
      { v1Bound: [], v1: {}, v2: null, swapActive: false, kernelConfig: null },
      { root: true, capEff: null, bpfDevice: undefined, kernel: null },
    ),
    ...sandboxChecks({ ran: true, steps, ms: 1 }, {
      root: true,
      release: "6.1",
      status,
      seccompActions: null,
    }),
    uidRangeCheck({ passwd: [], group: [], processes: [], hidden: false }, { first: 1, last: 2 }),
    ...dataDirChecks({
      given: "d",
      absolute: "/d",
      kind: "missing",
      base: null,
      baseError: "x",
      writeError: null,
      freeBytes: 0,
      mount: null,
      fallocateError: undefined,
    }, { minFreeBytes: 1 }),
  ].map((c) => c.id);
}

Deno.test("every protection rests on checks the doctor really reports", () => {
  const ids = new Set(everyCheckId());
  for (const p of PROTECTIONS) {
    for (const id of p.checks) assert(ids.has(id), `${p.name} rests on unknown check ${id}`);
  }
  assertEquals(new Set(PROTECTIONS.map((p) => p.name)).size, PROTECTIONS.length);
});

Deno.test("assessExposure: every check ok is 0.0 SAFE, every protection provided", () => {
  const exposure = assessExposure(everyCheckId().map(ok));
  assertEquals(exposure.score, 0);
  assertEquals(exposure.level, "SAFE");
  assert(exposure.protections.every((p) => p.state === "yes"));
});

Deno.test("assessExposure: the score is 10 x the missing weight over all weight", () => {
  const total = PROTECTIONS.reduce((sum, p) => sum + p.weight, 0);
  const checks = everyCheckId().map(ok).map((c): CheckResult =>
    c.id === "cgroup.io" ? { ...c, status: "warn", brief: "no IO limits" } : c
  );
  const exposure = assessExposure(checks);
  const io = exposure.protections.find((p) => p.name === "IOBandwidthMax")!;
  assertEquals(io.state, "no");
  assertEquals(io.because, "cgroup.io warn");
  assertEquals(exposure.score, Math.round((100 * io.weight) / total) / 10);
  // Nothing but the network namespace missing.
  const noNet = assessExposure(
    everyCheckId().map(ok).map((c): CheckResult =>
      c.id === "ns.net" ? { ...c, status: "fail", brief: "no network namespace" } : c
    ),
  );
  assertEquals(noNet.score, Math.round((100 * 8) / total) / 10);
});

Deno.test("assessExposure: skipped checks make a protection unknown, counted as missing", () => {
  const checks = everyCheckId().map((id): CheckResult =>
    id.startsWith("ns.") ? { id, title: id, status: "skip", detail: "r", reason: "r" } : ok(id)
  );
  const exposure = assessExposure(checks);
  const pid = exposure.protections.find((p) => p.name === "PrivatePIDs")!;
  assertEquals(pid.state, "unknown");
  assertEquals(pid.because, "ns.pid skipped");
  assert(exposure.score > 0);
  // Nothing at all known: the worst score.
  assertEquals(assessExposure([]).score, 10);
  assertEquals(assessExposure([]).level, "DANGEROUS");
});

Deno.test("assessExposure with given protections; exposureLevel boundaries", () => {
  const exposure = assessExposure([ok("a"), { ...ok("b"), status: "fail", brief: "b" }], [
    { name: "A", description: "a", weight: 3, checks: ["a"] },
    { name: "B", description: "b", weight: 1, checks: ["b"] },
  ]);
  assertEquals(exposure.score, 2.5);
  assertEquals(exposure.level, "OK");
  assertEquals(
    [0, 0.9, 1, 2.9, 3, 4.9, 5, 6.9, 7, 8.9, 9, 10].map(exposureLevel),
    [
      "SAFE",
      "SAFE",
      "OK",
      "OK",
      "MEDIUM",
      "MEDIUM",
      "EXPOSED",
      "EXPOSED",
      "UNSAFE",
      "UNSAFE",
      "DANGEROUS",
      "DANGEROUS",
    ],
  );
});
