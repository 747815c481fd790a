/**
 * The cgroup checks, decided from gathered {@link CgroupFacts}: which
 * version jobworker would use, whether job cgroups can be made, and each
 * controller the limits need (CPU quota, memory limit and OOM events, IO
 * throttling, pids, the device policy, killing a whole job). Pure, so the
 * tests feed it made-up hosts.
 *
 * @module
 */
import { type CheckName, fail, NEEDS_ROOT, ok, skip, warn } from "./_check.ts";
import type { CgroupFacts, Trial, V1Hierarchy, V2Facts } from "./_cgroup_facts.ts";
import { hasCap, kernelAtLeast } from "./_proc.ts";
import type { ProbeStep } from "./_probe_protocol.ts";
import type { CheckResult } from "./types.ts";

/** Controllers jobworker needs on v1, each in some hierarchy. */
const V1_NEEDED = ["cpu", "cpuacct", "memory", "pids"] as const;
/** Controllers jobworker needs on v2. */
const V2_NEEDED = ["cpu", "memory", "pids"] as const;

const CAP_SYS_ADMIN = 21;
const CAP_BPF = 39;

/** How cgroups are set up, and which version jobworker would drive. */
export interface CgroupMode {
  /** v1: legacy hierarchies only; v2: the unified one only; hybrid: both mounted. */
  mode: "v1" | "v2" | "hybrid" | "none";
  /** The version jobworker uses here, or null when neither is usable. */
  driver: 1 | 2 | null;
}

/**
 * The mode, and the version jobworker drives: v2 when cgroup2 offers cpu,
 * memory and pids and no v1 hierarchy holds any of them; else v1 when
 * cpu, cpuacct, memory and pids each have a hierarchy.
 */
export function cgroupMode(facts: CgroupFacts): CgroupMode {
  const v1 = facts.v1Bound.length > 0;
  const v2 = facts.v2 !== null;
  const mode = v1 && v2 ? "hybrid" : v1 ? "v1" : v2 ? "v2" : "none";
  const offers = facts.v2?.rootControllers ?? [];
  if (
    facts.v2 !== null && V2_NEEDED.every((c) => offers.includes(c)) &&
    !V2_NEEDED.some((c) => facts.v1Bound.includes(c))
  ) {
    return { mode, driver: 2 };
  }
  if (V1_NEEDED.every((c) => facts.v1[c] !== undefined)) return { mode, driver: 1 };
  return { mode, driver: null };
}

/** What the cgroup checks need besides the facts. */
export interface CgroupContext {
  /** The doctor runs as root (test cgroups were tried). */
  root: boolean;
  /** This process's effective capabilities, or null when unknown. */
  capEff: bigint | null;
  /** The probe's `bpf_device` step, or undefined when the probe gave no answer. */
  bpfDevice: ProbeStep | undefined;
  /** The kernel release, or null when unknown. */
  kernel: { major: number; minor: number } | null;
}

const N = {
  mode: { id: "cgroup.mode", title: "cgroup mode" },
  delegation: { id: "cgroup.delegation", title: "Job cgroups can be made" },
  cpu: { id: "cgroup.cpu", title: "CPU quota" },
  memory: { id: "cgroup.memory", title: "Memory limit and OOM events" },
  io: { id: "cgroup.io", title: "IO throttling" },
  pids: { id: "cgroup.pids", title: "Process count limit" },
  devices: { id: "cgroup.devices", title: "Device policy" },
  kill: { id: "cgroup.kill", title: "Killing a whole job" },
} satisfies Record<string, CheckName>;

/** A trial that made its cgroup, or null. */
function made(trial: Trial | null): Trial | null {
  return trial !== null && trial.createError === null ? trial : null;
}

/**
 * The files to judge a v1 hierarchy by: the test cgroup's, else this
 * process's own cgroup's, unless that is the hierarchy's root, which lacks
 * most limit files (so it proves nothing).
 */
function v1Files(h: V1Hierarchy): string[] | null {
  const trial = made(h.trial);
  if (trial !== null) return trial.files;
  if (h.ownDir === null || h.ownDir === h.mountPoint.replace(/\/$/, "")) return null;
  return h.ownFiles;
}

/** The first write in `trial` the kernel refused, as text, or null. */
function refusedWrite(trial: Trial | null, files: readonly string[]): string | null {
  for (const file of files) {
    const error = trial?.writes[file];
    if (typeof error === "string") {
      return `the kernel refused a write to ${file} in a test cgroup: ${error}`;
    }
  }
  return null;
}

const NOT_TRIED = "not tried: needs root";

/** How a v1 limit file stands: tried in the test cgroup, or only seen, or not even that. */
function v1Note(h: V1Hierarchy, file: string): string {
  if (made(h.trial) !== null) return `${file} took a value in a test cgroup`;
  const why = h.trial === null ? NOT_TRIED : "not tried: no test cgroup";
  return v1Files(h) === null ? `${file} (${why})` : `${file} is there (${why})`;
}

function modeCheck(facts: CgroupFacts, mode: CgroupMode): CheckResult {
  if (mode.mode === "none") {
    return fail(N.mode, "no cgroup file system is mounted", { brief: "no cgroups" });
  }
  const offers = facts.v2?.rootControllers ?? [];
  const v2Text = facts.v2 === null
    ? "no cgroup2 is mounted"
    : `cgroup2 at ${facts.v2.mountPoint} offers ${
      offers.length === 0 ? "nothing" : offers.join(" ")
    }`;
  if (mode.driver === null) {
    const missing = V1_NEEDED.filter((c) => facts.v1[c] === undefined);
    return fail(
      N.mode,
      `no usable setup: v1 has no hierarchy for ${missing.join(", ")}, and ${v2Text} ` +
        `(jobworker needs ${V2_NEEDED.join(", ")} there, none of them bound to v1)`,
      { brief: "no usable cgroup setup" },
    );
  }
  const v1Text = `v1 hierarchies for ${facts.v1Bound.join(" ")}`;
  const uses = mode.driver === 2 ? "jobworker uses v2" : "jobworker uses v1";
  switch (mode.mode) {
    case "v2":
      return ok(N.mode, `v2 (unified) at ${facts.v2!.mountPoint}; ${uses}`);
    case "v1":
      return ok(N.mode, `v1: ${v1Text.slice(3)}; ${uses}`);
    default:
      return ok(N.mode, `hybrid: ${v1Text}, and ${v2Text}; ${uses}`);
  }
}

function v1Delegation(facts: CgroupFacts, context: CgroupContext): CheckResult {
  const problems: string[] = [];
  for (const controller of V1_NEEDED) {
    const h = facts.v1[controller]!;
    if (h.readOnly) problems.push(`the ${controller} hierarchy at ${h.mountPoint} is read-only`);
    else if (h.ownDir === null) {
      problems.push(`this process's ${controller} cgroup is not visible in ${h.mountPoint}`);
    } else if (h.trial?.createError != null) {
      problems.push(`Cannot make a cgroup in ${h.ownDir}: ${h.trial.createError}`);
    }
  }
  if (problems.length > 0) {
    return fail(N.delegation, problems.join("; "), { brief: "cannot make job cgroups" });
  }
  if (!context.root) return skip(N.delegation, NEEDS_ROOT);
  const left = V1_NEEDED.map((c) => facts.v1[c]!.trial?.removeError).find((e) => e != null);
  if (left != null) {
    return warn(N.delegation, `a test cgroup could not be removed again: ${left}`, {
      brief: "test cgroup left behind",
    });
  }
  const tried = Object.entries(facts.v1).filter(([, h]) => made(h.trial) !== null)
    .map(([c]) => c);
  return ok(
    N.delegation,
    `made and removed a test cgroup below this process's own in the hierarchies of ` +
      tried.join(", "),
  );
}

function v2Delegation(v2: V2Facts, context: CgroupContext): CheckResult {
  if (v2.ownDir === null) {
    return fail(
      N.delegation,
      `this process's cgroup is not visible in the cgroup2 mount at ${v2.mountPoint}`,
      { brief: "own cgroup not visible" },
    );
  }
  if (v2.readOnly) {
    return fail(N.delegation, `cgroup2 is mounted read-only at ${v2.mountPoint}`, {
      brief: "cgroup2 read-only",
    });
  }
  if (v2.ownType !== null && v2.ownType !== "domain" && v2.ownType !== "domain threaded") {
    return fail(
      N.delegation,
      `${v2.ownDir} is of type "${v2.ownType}": job cgroups below it cannot have memory or io`,
      { brief: `own cgroup ${v2.ownType}` },
    );
  }
  const handed = v2.ownControllers ?? [];
  const missing = V2_NEEDED.filter((c) => !handed.includes(c));
  if (missing.length > 0) {
    return fail(
      N.delegation,
      `${v2.ownDir} is not handed ${missing.join(", ")} by its parent (its cgroup.controllers: ` +
        `${handed.join(" ") || "none"}); run the server in a delegated cgroup ` +
        `(systemd: Delegate=yes)`,
      { brief: "controllers not delegated" },
    );
  }
  if (v2.trial?.createError != null) {
    return fail(N.delegation, `Cannot make a cgroup in ${v2.ownDir}: ${v2.trial.createError}`, {
      brief: "cannot make job cgroups",
    });
  }
  if (!context.root) return skip(N.delegation, NEEDS_ROOT);
  if (v2.trial?.removeError != null) {
    return warn(N.delegation, `a test cgroup could not be removed again: ${v2.trial.removeError}`, {
      brief: "test cgroup left behind",
    });
  }
  const enabled = v2.ownSubtree ?? [];
  const notYet = V2_NEEDED.filter((c) => !enabled.includes(c));
  const busy = !v2.isRoot && (v2.ownProcs ?? 0) > 0 && notYet.length > 0
    ? `; it holds ${v2.ownProcs} process(es), so the server moves itself into a leaf below it ` +
      `before enabling ${notYet.join(", ")} (no internal processes)`
    : "";
  return ok(
    N.delegation,
    `${v2.ownDir} is handed ${handed.join(" ")}; made and removed a test cgroup in it${busy}`,
  );
}

/**
 * How a v2 controller stands for a limit: `files` are what a job cgroup
 * needs of it, `config` the kernel option behind them. Not handed down:
 * `missing` decides between fail and warn.
 */
function v2Controller(
  v2: V2Facts,
  spec: {
    name: CheckName;
    controller: string;
    files: string[];
    config: string | null;
    kernelConfig: Map<string, string> | null;
    missing: "fail" | "warn";
    brief: string;
    extra?: (trial: Trial) => CheckResult | null;
  },
): CheckResult {
  const { name, controller, files } = spec;
  const bad = (detail: string) =>
    spec.missing === "fail"
      ? fail(name, detail, { brief: spec.brief })
      : warn(name, detail, { brief: spec.brief });
  const handed = v2.ownControllers ?? v2.rootControllers;
  if (!handed.includes(controller)) {
    return bad(`the ${controller} controller is not available to this cgroup`);
  }
  const trial = made(v2.trial);
  if (trial !== null && (trial.controllers ?? []).includes(controller)) {
    const absent = files.filter((f) => !trial.files.includes(f));
    if (absent.length > 0) {
      return bad(`${absent.join(", ")} missing${spec.config ? ` (kernel ${spec.config})` : ""}`);
    }
    const refused = refusedWrite(trial, files);
    if (refused !== null) return bad(refused);
    const extra = spec.extra?.(trial) ?? null;
    if (extra !== null) return extra;
    return ok(name, `${files.join(", ")} took a value in a test cgroup`);
  }
  // Not enabled below this cgroup yet: the server enables it, the doctor does not.
  const setting = spec.config === null ? undefined : spec.kernelConfig?.get(spec.config);
  if (spec.config !== null && spec.kernelConfig !== null && setting !== "y") {
    return bad(`${files.join(", ")} will be missing: the kernel has ${spec.config} off`);
  }
  const evidence = setting === "y" ? `${spec.config}=y` : `${files.join(", ")} not tried`;
  return ok(
    name,
    `${controller} is available to enable below this cgroup (the server does); ${evidence}`,
  );
}

function swapNote(
  facts: CgroupFacts,
  options: { name: CheckName; hasKnob: boolean; knob: string; detail: string },
): CheckResult {
  if (options.hasKnob) return ok(options.name, `${options.detail}; swap is limited too`);
  if (!facts.swapActive) {
    return ok(options.name, `${options.detail}; no swap is in use (${options.knob} missing)`);
  }
  return warn(
    options.name,
    `${options.detail}, but swap is on and ${options.knob} is missing: a job can use swap ` +
      "beyond its memory limit",
    { brief: "no swap limit" },
  );
}

function v1Checks(facts: CgroupFacts, context: CgroupContext): CheckResult[] {
  const cpu = facts.v1.cpu!;
  const memory = facts.v1.memory!;
  const pids = facts.v1.pids!;
  const results: CheckResult[] = [];

  const cpuFiles = v1Files(cpu);
  if (cpuFiles !== null && !cpuFiles.includes("cpu.cfs_quota_us")) {
    results.push(
      fail(N.cpu, "cpu.cfs_quota_us missing: no CFS bandwidth control (CONFIG_CFS_BANDWIDTH)", {
        brief: "no CPU quota",
      }),
    );
  } else {
    const refused = refusedWrite(cpu.trial, ["cpu.cfs_quota_us"]);
    results.push(
      refused !== null
        ? fail(N.cpu, refused, { brief: "no CPU quota" })
        : ok(N.cpu, v1Note(cpu, "cpu.cfs_quota_us")),
    );
  }

  const memFiles = v1Files(memory);
  const memMissing = ["memory.limit_in_bytes", "memory.oom_control"].filter((f) =>
    memFiles !== null && !memFiles.includes(f)
  );
  const oomText = made(memory.trial)?.reads["memory.oom_control"];
  if (memMissing.length > 0) {
    results.push(fail(N.memory, `${memMissing.join(", ")} missing`, { brief: "no memory limit" }));
  } else if (refusedWrite(memory.trial, ["memory.limit_in_bytes"]) !== null) {
    results.push(
      fail(N.memory, refusedWrite(memory.trial, ["memory.limit_in_bytes"])!, {
        brief: "no memory limit",
      }),
    );
  } else if (typeof oomText === "string" && !/^oom_kill \d+$/m.test(oomText)) {
    results.push(
      fail(
        N.memory,
        "memory.oom_control has no oom_kill counter (Linux 4.13+): OOM kills go unseen",
        {
          brief: "no OOM events",
        },
      ),
    );
  } else {
    results.push(swapNote(facts, {
      name: N.memory,
      hasKnob: memFiles?.includes("memory.memsw.limit_in_bytes") ?? true,
      knob: "memory.memsw.limit_in_bytes",
      detail: memFiles === null
        ? v1Note(memory, "memory.limit_in_bytes")
        : `${v1Note(memory, "memory.limit_in_bytes")}; memory.oom_control counts OOM kills`,
    }));
  }

  const blkio = facts.v1.blkio;
  const ioWarn = (detail: string) =>
    warn(N.io, `${detail}: jobs cannot be given IO limits`, { brief: "no IO limits" });
  if (blkio === undefined) results.push(ioWarn("no blkio hierarchy is mounted"));
  else if (blkio.trial?.createError != null) {
    results.push(ioWarn(`Cannot make a cgroup in ${blkio.ownDir}: ${blkio.trial.createError}`));
  } else {
    const files = v1Files(blkio) ?? blkio.ownFiles;
    const wanted = ["blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"];
    const absent = wanted.filter((f) => files !== null && !files.includes(f));
    results.push(
      absent.length > 0 ? ioWarn(`${absent.join(", ")} missing (CONFIG_BLK_DEV_THROTTLING)`) : ok(
        N.io,
        `blkio.throttle.{read,write}_bps_device ${
          files === null ? `(${NOT_TRIED})` : made(blkio.trial) ? "in a test cgroup" : "present"
        }`,
      ),
    );
  }

  const pidFiles = v1Files(pids);
  if (pidFiles !== null && !pidFiles.includes("pids.max")) {
    results.push(fail(N.pids, "pids.max missing", { brief: "no pids limit" }));
  } else {
    const refused = refusedWrite(pids.trial, ["pids.max"]);
    results.push(
      refused !== null
        ? fail(N.pids, refused, { brief: "no pids limit" })
        : ok(N.pids, v1Note(pids, "pids.max")),
    );
  }

  const devices = facts.v1.devices;
  if (devices === undefined) {
    results.push(
      warn(
        N.devices,
        "no devices hierarchy is mounted: a job's device access would rest on its /dev and " +
          "its lack of CAP_MKNOD alone",
        { brief: "no device policy" },
      ),
    );
  } else if (!context.root) {
    results.push(ok(N.devices, `devices hierarchy at ${devices.mountPoint} (${NOT_TRIED})`));
  } else if (devices.trial?.createError != null) {
    results.push(
      fail(N.devices, `Cannot make a cgroup in ${devices.ownDir}: ${devices.trial.createError}`, {
        brief: "no device policy",
      }),
    );
  } else {
    const refused = refusedWrite(devices.trial, ["devices.deny", "devices.allow"]);
    const list = made(devices.trial)?.reads["devices.list"]?.trim();
    results.push(
      refused !== null
        ? fail(N.devices, refused, { brief: "no device policy" })
        : list !== "c 1:3 rw"
        ? fail(N.devices, `devices.list reads "${list}" after deny a, allow c 1:3 rw`, {
          brief: "device policy not applied",
        })
        : ok(
          N.devices,
          'devices.deny "a", devices.allow "c 1:3 rw" took in a test cgroup; devices.list ' +
            "shows only that device",
        ),
    );
  }

  const freezer = facts.v1.freezer;
  const killWarn = (detail: string) =>
    warn(N.kill, `${detail}: a stop signals the job's processes without freezing them first`, {
      brief: "no freezer",
    });
  if (freezer === undefined) results.push(killWarn("no freezer hierarchy is mounted"));
  else if (freezer.trial?.createError != null) {
    results.push(
      killWarn(`Cannot make a cgroup in ${freezer.ownDir}: ${freezer.trial.createError}`),
    );
  } else {
    const files = v1Files(freezer);
    results.push(
      files !== null && !files.includes("freezer.state")
        ? killWarn("freezer.state missing")
        : ok(N.kill, "freezer: a stop freezes the job, kills every process, thaws it"),
    );
  }
  return results;
}

function v2Checks(facts: CgroupFacts, context: CgroupContext): CheckResult[] {
  const v2 = facts.v2!;
  const kernelConfig = facts.kernelConfig;
  const results: CheckResult[] = [];
  results.push(v2Controller(v2, {
    name: N.cpu,
    controller: "cpu",
    files: ["cpu.max"],
    config: "CONFIG_CFS_BANDWIDTH",
    kernelConfig,
    missing: "fail",
    brief: "no CPU quota",
  }));
  const memory = v2Controller(v2, {
    name: N.memory,
    controller: "memory",
    files: ["memory.max", "memory.events"],
    config: "CONFIG_MEMCG",
    kernelConfig,
    missing: "fail",
    brief: "no memory limit",
    extra: (trial) => {
      const events = trial.reads["memory.events"];
      return typeof events === "string" && !/^oom_kill \d+$/m.test(events)
        ? fail(N.memory, "memory.events has no oom_kill counter: OOM kills go unseen", {
          brief: "no OOM events",
        })
        : null;
    },
  });
  const trial = made(v2.trial);
  results.push(
    memory.status !== "ok" || trial === null || !trial.files.includes("memory.max")
      ? memory
      : swapNote(facts, {
        name: N.memory,
        hasKnob: trial.files.includes("memory.swap.max"),
        knob: "memory.swap.max",
        detail: memory.detail,
      }),
  );
  results.push(v2Controller(v2, {
    name: N.io,
    controller: "io",
    files: ["io.max"],
    config: "CONFIG_BLK_DEV_THROTTLING",
    kernelConfig,
    missing: "warn",
    brief: "no IO limits",
  }));
  results.push(v2Controller(v2, {
    name: N.pids,
    controller: "pids",
    files: ["pids.max"],
    config: "CONFIG_CGROUP_PIDS",
    kernelConfig,
    missing: "fail",
    brief: "no pids limit",
  }));

  const caps = context.capEff;
  const step = context.bpfDevice;
  if (caps !== null && context.root && !hasCap(caps, CAP_SYS_ADMIN) && !hasCap(caps, CAP_BPF)) {
    results.push(
      fail(N.devices, "neither CAP_BPF nor CAP_SYS_ADMIN: device programs cannot be loaded", {
        brief: "no device policy",
      }),
    );
  } else if (step === undefined) {
    results.push(skip(N.devices, "the probe gave no answer (see sandbox.probe)"));
  } else if (step.outcome === "skipped") {
    results.push(skip(N.devices, step.text));
  } else if (step.outcome === "failed") {
    results.push(
      fail(N.devices, `Cannot load a cgroup device program: ${step.text}`, {
        brief: "no device policy",
      }),
    );
  } else {
    results.push(ok(N.devices, `BPF device programs: ${step.text}`));
  }

  if (trial !== null) {
    results.push(
      trial.files.includes("cgroup.kill")
        ? ok(N.kill, "cgroup.kill ends every process of a job at once")
        : warn(N.kill, "no cgroup.kill (Linux 5.14+): a stop signals the processes one by one", {
          brief: "no cgroup.kill",
        }),
    );
  } else if (context.kernel !== null && kernelAtLeast(context.kernel, { major: 5, minor: 14 })) {
    results.push(ok(N.kill, "cgroup.kill (the kernel is 5.14 or newer)"));
  } else {
    results.push(
      warn(N.kill, "no cgroup.kill before Linux 5.14: a stop signals the processes one by one", {
        brief: "no cgroup.kill",
      }),
    );
  }
  return results;
}

/** Every cgroup check, in report order. */
export function cgroupChecks(facts: CgroupFacts, context: CgroupContext): CheckResult[] {
  const mode = cgroupMode(facts);
  const results = [modeCheck(facts, mode)];
  if (mode.driver === null) {
    const reason = "no usable cgroup setup (see cgroup.mode)";
    for (const name of [N.delegation, N.cpu, N.memory, N.io, N.pids, N.devices, N.kill]) {
      results.push(skip(name, reason));
    }
    return results;
  }
  if (mode.driver === 1) {
    results.push(v1Delegation(facts, context), ...v1Checks(facts, context));
  } else {
    results.push(v2Delegation(facts.v2!, context), ...v2Checks(facts, context));
  }
  return results;
}
