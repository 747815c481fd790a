import { assertEquals, assertStringIncludes } from "@std/assert";
import type { CgroupFacts, Trial, V1Controller, V1Hierarchy, V2Facts } from "./_cgroup_facts.ts";
import { cgroupChecks, type CgroupContext, cgroupMode } from "./_cgroup_checks.ts";
import type { CheckResult } from "./types.ts";

const V1_FILES: Record<string, string[]> = {
  cpu: ["cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares"],
  cpuacct: ["cpuacct.usage"],
  memory: [
    "memory.limit_in_bytes",
    "memory.memsw.limit_in_bytes",
    "memory.oom_control",
    "memory.usage_in_bytes",
  ],
  pids: ["pids.current", "pids.max"],
  blkio: ["blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"],
  devices: ["devices.allow", "devices.deny", "devices.list"],
  freezer: ["freezer.state"],
};

function trial(files: string[], extra: Partial<Trial> = {}): Trial {
  return {
    dir: "/sys/fs/cgroup/x/jobworker-doctor-1",
    createError: null,
    files: ["cgroup.procs", ...files],
    controllers: null,
    writes: {},
    reads: {},
    removeError: null,
    ...extra,
  };
}

function v1Hierarchy(controller: string, options: { root: boolean }): V1Hierarchy {
  const files = V1_FILES[controller]!;
  const reads: Record<string, string> = {
    "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    "devices.list": "c 1:3 rw\n",
  };
  return {
    mountPoint: `/sys/fs/cgroup/${controller}`,
    readOnly: false,
    ownDir: `/sys/fs/cgroup/${controller}/server`,
    ownFiles: ["cgroup.procs", ...files],
    trial: options.root
      ? trial(files, {
        writes: Object.fromEntries(files.map((f) => [f, null])),
        reads: Object.fromEntries(Object.entries(reads).filter(([f]) => files.includes(f))),
      })
      : null,
  };
}

/** A v1 host like the one the suite runs on: every hierarchy, every file. */
function v1Host(options: { root: boolean; without?: V1Controller[] }): CgroupFacts {
  const controllers = ["cpu", "cpuacct", "memory", "pids", "blkio", "devices", "freezer"] as const;
  const kept = controllers.filter((c) => !(options.without ?? []).includes(c));
  return {
    v1Bound: [...kept],
    v1: Object.fromEntries(kept.map((c) => [c, v1Hierarchy(c, options)])),
    v2: null,
    swapActive: false,
    kernelConfig: null,
  };
}

/** A v2 cgroup's files with no controller enabled: cpu.stat and the PSI files are there anyway. */
const CORE_V2_FILES = [
  "cgroup.controllers",
  "cgroup.events",
  "cpu.pressure",
  "cpu.stat",
  "io.pressure",
  "memory.pressure",
];

function v2Facts(overrides: Partial<V2Facts> = {}): V2Facts {
  const files = [
    "cgroup.kill",
    "cpu.max",
    "cpu.stat",
    "io.max",
    "memory.events",
    "memory.max",
    "memory.swap.max",
    "pids.max",
  ];
  return {
    mountPoint: "/sys/fs/cgroup",
    readOnly: false,
    rootControllers: ["cpuset", "cpu", "io", "memory", "pids"],
    ownDir: "/sys/fs/cgroup/system.slice/jobworker.service",
    ownControllers: ["cpu", "io", "memory", "pids"],
    ownSubtree: ["cpu", "io", "memory", "pids"],
    ownType: "domain",
    ownProcs: 0,
    isRoot: false,
    trial: trial(files, {
      controllers: ["cpu", "io", "memory", "pids"],
      writes: { "cpu.max": null, "memory.max": null, "pids.max": null },
      reads: { "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n" },
    }),
    ...overrides,
  };
}

function v2Host(v2: V2Facts = v2Facts()): CgroupFacts {
  return { v1Bound: [], v1: {}, v2, swapActive: false, kernelConfig: null };
}

const ROOT: CgroupContext = {
  root: true,
  capEff: 0x1ffffffffffn,
  bpfDevice: { outcome: "ok", text: "a BPF_PROG_TYPE_CGROUP_DEVICE program loads" },
  kernel: { major: 6, minor: 1 },
};

function byId(results: CheckResult[]): Record<string, CheckResult> {
  return Object.fromEntries(results.map((r) => [r.id, r]));
}

function statuses(results: CheckResult[]): Record<string, string> {
  return Object.fromEntries(results.map((r) => [r.id, r.status]));
}

const ALL_OK = {
  "cgroup.mode": "ok",
  "cgroup.delegation": "ok",
  "cgroup.cpu": "ok",
  "cgroup.memory": "ok",
  "cgroup.io": "ok",
  "cgroup.pids": "ok",
  "cgroup.devices": "ok",
  "cgroup.kill": "ok",
};

Deno.test("cgroupMode: v1, v2, hybrid, and which version jobworker drives", () => {
  assertEquals(cgroupMode(v1Host({ root: true })), { mode: "v1", driver: 1 });
  assertEquals(cgroupMode(v2Host()), { mode: "v2", driver: 2 });
  // cgroup2 beside v1 with nothing useful in it (systemd's hybrid layout): v1 is used.
  const hybrid = { ...v1Host({ root: true }), v2: v2Facts({ rootControllers: ["hugetlb"] }) };
  assertEquals(cgroupMode(hybrid), { mode: "hybrid", driver: 1 });
  // cgroup2 offers cpu memory pids, v1 holds only net_cls: v2 is used.
  assertEquals(cgroupMode({ ...v2Host(), v1Bound: ["net_cls"] }), { mode: "hybrid", driver: 2 });
  // Memory bound to v1 and no pids hierarchy: neither works.
  assertEquals(cgroupMode({ ...v1Host({ root: true, without: ["pids"] }), v2: v2Facts() }), {
    mode: "hybrid",
    driver: null,
  });
});

Deno.test("cgroupChecks: a v1 host with everything, as root: all ok", () => {
  const results = cgroupChecks(v1Host({ root: true }), ROOT);
  assertEquals(statuses(results), ALL_OK);
  assertStringIncludes(byId(results)["cgroup.delegation"]!.detail, "cpu, cpuacct, memory, pids");
  assertStringIncludes(byId(results)["cgroup.memory"]!.detail, "swap is limited too");
});

Deno.test("cgroupChecks: a v2 host delegated to the server's cgroup: all ok", () => {
  const results = cgroupChecks(v2Host(), ROOT);
  assertEquals(statuses(results), ALL_OK);
  assertStringIncludes(byId(results)["cgroup.devices"]!.detail, "BPF device programs");
  assertStringIncludes(byId(results)["cgroup.kill"]!.detail, "cgroup.kill");
});

Deno.test("cgroupChecks: v1 without blkio, devices and freezer warns, names the cost", () => {
  const results = byId(
    cgroupChecks(v1Host({ root: true, without: ["blkio", "devices", "freezer"] }), ROOT),
  );
  assertEquals(results["cgroup.io"]!.status, "warn");
  assertStringIncludes(results["cgroup.io"]!.detail, "cannot be given IO limits");
  assertEquals(results["cgroup.devices"]!.status, "warn");
  assertEquals(results["cgroup.kill"]!.status, "warn");
  assertEquals(results["cgroup.cpu"]!.status, "ok");
});

Deno.test("cgroupChecks: no usable setup fails the mode and skips the rest", () => {
  const results = cgroupChecks(v1Host({ root: true, without: ["pids"] }), ROOT);
  const mode = results[0]!;
  assertEquals(mode.status, "fail");
  assertStringIncludes(mode.detail, "v1 has no hierarchy for pids");
  assertEquals(results.slice(1).map((r) => r.status), Array(7).fill("skip"));
});

Deno.test("cgroupChecks: limits the kernel refuses in the test cgroup fail", () => {
  const facts = v1Host({ root: true });
  facts.v1.cpu!.trial!.writes["cpu.cfs_quota_us"] = "Invalid argument (os error 22)";
  facts.v1.memory!.trial!.reads["memory.oom_control"] = "oom_kill_disable 0\nunder_oom 0\n";
  facts.v1.devices!.trial!.reads["devices.list"] = "a *:* rwm\n";
  const results = byId(cgroupChecks(facts, ROOT));
  assertEquals(results["cgroup.cpu"]!.status, "fail");
  assertStringIncludes(results["cgroup.cpu"]!.detail, "refused a write to cpu.cfs_quota_us");
  assertEquals(results["cgroup.memory"]!.status, "fail");
  assertStringIncludes(results["cgroup.memory"]!.detail, "no oom_kill counter");
  assertEquals(results["cgroup.devices"]!.status, "fail");
});

Deno.test("cgroupChecks: v1 read-only hierarchy or a failed mkdir cannot make job cgroups", () => {
  const facts = v1Host({ root: true });
  facts.v1.memory!.trial = trial([], { createError: "Permission denied (os error 13)" });
  let result = byId(cgroupChecks(facts, ROOT))["cgroup.delegation"]!;
  assertEquals(result.status, "fail");
  assertStringIncludes(result.detail, "Cannot make a cgroup in /sys/fs/cgroup/memory/server");
  const readOnly = v1Host({ root: true });
  readOnly.v1.pids!.readOnly = true;
  result = byId(cgroupChecks(readOnly, ROOT))["cgroup.delegation"]!;
  assertEquals(result.status, "fail");
  assertStringIncludes(result.detail, "read-only");
});

Deno.test("cgroupChecks: swap in use without a swap knob warns", () => {
  const facts = v1Host({ root: true });
  facts.swapActive = true;
  facts.v1.memory!.trial!.files = facts.v1.memory!.trial!.files.filter((f) => !f.includes("memsw"));
  const result = byId(cgroupChecks(facts, ROOT))["cgroup.memory"]!;
  assertEquals(result.status, "warn");
  assertStringIncludes(result.detail, "beyond its memory limit");
});

Deno.test("cgroupChecks: not root, v1: nothing tried, delegation skipped with the reason", () => {
  const results = byId(cgroupChecks(v1Host({ root: false }), { ...ROOT, root: false }));
  assertEquals(results["cgroup.delegation"]!.status, "skip");
  assertStringIncludes(results["cgroup.delegation"]!.detail, "needs root");
  assertEquals(results["cgroup.cpu"]!.status, "ok");
  assertStringIncludes(results["cgroup.cpu"]!.detail, "not tried: needs root");
  assertStringIncludes(results["cgroup.devices"]!.detail, "not tried: needs root");
});

Deno.test("cgroupChecks: v2 controllers the parent does not hand down fail delegation", () => {
  const facts = v2Host(v2Facts({ ownControllers: ["memory"], ownSubtree: [] }));
  const results = byId(cgroupChecks(facts, ROOT));
  assertEquals(results["cgroup.delegation"]!.status, "fail");
  assertStringIncludes(results["cgroup.delegation"]!.detail, "not handed cpu, pids");
  assertStringIncludes(results["cgroup.delegation"]!.detail, "Delegate=yes");
  assertEquals(results["cgroup.cpu"]!.status, "fail");
  assertEquals(results["cgroup.io"]!.status, "warn");
});

Deno.test("cgroupChecks: v2 own cgroup with processes: the server moves into a leaf", () => {
  const facts = v2Host(v2Facts({
    ownSubtree: [],
    ownProcs: 3,
    // Nothing enabled below it yet: the test cgroup has only what every cgroup has.
    trial: trial(CORE_V2_FILES, { controllers: [] }),
  }));
  const results = byId(cgroupChecks(facts, { ...ROOT, kernel: { major: 5, minor: 10 } }));
  assertEquals(results["cgroup.delegation"]!.status, "ok");
  assertStringIncludes(results["cgroup.delegation"]!.detail, "no internal processes");
  assertEquals(results["cgroup.cpu"]!.status, "ok");
  assertStringIncludes(results["cgroup.cpu"]!.detail, "available to enable");
  // The test cgroup lacks cgroup.kill: a kernel before 5.14.
  assertEquals(results["cgroup.kill"]!.status, "warn");
});

Deno.test("cgroupChecks: v2 with the kernel config saying CFS bandwidth is off fails cpu", () => {
  const facts = v2Host(
    v2Facts({ ownSubtree: [], trial: trial(CORE_V2_FILES, { controllers: [] }) }),
  );
  facts.kernelConfig = new Map([["CONFIG_MEMCG", "y"], ["CONFIG_CGROUP_PIDS", "y"]]);
  const results = byId(cgroupChecks(facts, ROOT));
  assertEquals(results["cgroup.cpu"]!.status, "fail");
  assertStringIncludes(results["cgroup.cpu"]!.detail, "CONFIG_CFS_BANDWIDTH off");
  assertEquals(results["cgroup.memory"]!.status, "ok");
  assertEquals(results["cgroup.io"]!.status, "warn");
});

Deno.test("cgroupChecks: v2 device programs: no capability, a failed load, no probe", () => {
  const noCaps = byId(cgroupChecks(v2Host(), { ...ROOT, capEff: 0n }))["cgroup.devices"]!;
  assertEquals(noCaps.status, "fail");
  assertStringIncludes(noCaps.detail, "neither CAP_BPF nor CAP_SYS_ADMIN");
  const failed = byId(cgroupChecks(v2Host(), {
    ...ROOT,
    bpfDevice: { outcome: "failed", text: "bpf(BPF_PROG_LOAD, cgroup device) failed: EINVAL" },
  }))["cgroup.devices"]!;
  assertEquals(failed.status, "fail");
  assertStringIncludes(failed.detail, "EINVAL");
  const noProbe = byId(
    cgroupChecks(v2Host(), { ...ROOT, bpfDevice: undefined }),
  )["cgroup.devices"]!;
  assertEquals(noProbe.status, "skip");
});

Deno.test("cgroupChecks: v2 threaded own cgroup and read-only mount fail", () => {
  const threaded = byId(cgroupChecks(v2Host(v2Facts({ ownType: "threaded" })), ROOT));
  assertEquals(threaded["cgroup.delegation"]!.status, "fail");
  const readOnly = byId(cgroupChecks(v2Host(v2Facts({ readOnly: true })), ROOT));
  assertEquals(readOnly["cgroup.delegation"]!.status, "fail");
  assertStringIncludes(readOnly["cgroup.delegation"]!.detail, "read-only");
});
