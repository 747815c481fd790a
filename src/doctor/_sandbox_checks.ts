/**
 * The namespace and sandbox checks, decided from the probe child's steps
 * (./probe.ts) and what the kernel says of itself (its release,
 * /proc/self/status, the seccomp actions it offers). Pure.
 *
 * A step the probe skipped counts as a failure when the doctor is root:
 * then the only reason to skip is that a step it builds on failed.
 *
 * @module
 */
import { type CheckName, fail, NEEDS_ROOT, ok, skip, warn } from "./_check.ts";
import { kernelAtLeast, parseKernelRelease } from "./_proc.ts";
import type { ProbeStep, ProbeStepName } from "./_probe_protocol.ts";
import type { ProbeRun } from "./_probe_run.ts";
import type { CheckResult } from "./types.ts";

/** What the sandbox checks decide from besides the probe. */
export interface SandboxContext {
  root: boolean;
  /** The kernel release. */
  release: string;
  /** /proc/self/status of the doctor, parsed. */
  status: ReadonlyMap<string, string>;
  /** /proc/sys/kernel/seccomp/actions_avail, split, or null when missing. */
  seccompActions: string[] | null;
}

interface StepCheck {
  step: ProbeStepName;
  name: CheckName;
  /** For the summary line when it fails. */
  brief: string;
  /** The first kernel that has it, and what it is. */
  since?: { major: number; minor: number; what: string };
}

const NAMESPACES: readonly StepCheck[] = [
  { step: "ns.pid", name: { id: "ns.pid", title: "PID namespace" }, brief: "no PID namespace" },
  {
    step: "ns.mount",
    name: { id: "ns.mount", title: "Mount namespace" },
    brief: "no mount namespace",
  },
  {
    step: "ns.net",
    name: { id: "ns.net", title: "Network namespace" },
    brief: "no network namespace",
  },
  { step: "ns.uts", name: { id: "ns.uts", title: "UTS namespace" }, brief: "no UTS namespace" },
  { step: "ns.ipc", name: { id: "ns.ipc", title: "IPC namespace" }, brief: "no IPC namespace" },
  {
    step: "ns.cgroup",
    name: { id: "ns.cgroup", title: "cgroup namespace" },
    brief: "no cgroup namespace",
  },
];

const FEATURES: readonly StepCheck[] = [
  {
    step: "mount_setattr",
    name: { id: "sandbox.mount_setattr", title: "Read-only binds (mount_setattr)" },
    brief: "no mount_setattr",
    since: { major: 5, minor: 12, what: "mount_setattr" },
  },
  {
    step: "pivot_root",
    name: { id: "sandbox.pivot_root", title: "pivot_root into a built root" },
    brief: "no pivot_root",
  },
  {
    step: "dev",
    name: { id: "sandbox.dev", title: "/dev: mknod, devpts newinstance" },
    brief: "no private /dev",
  },
  {
    step: "proc_hidepid",
    name: { id: "sandbox.proc_hidepid", title: "/proc with hidepid=invisible" },
    brief: "no hidepid=invisible",
    since: { major: 5, minor: 8, what: "hidepid=invisible" },
  },
  {
    step: "caps_drop",
    name: { id: "sandbox.caps_drop", title: "Empty capability bounding set" },
    brief: "cannot drop capabilities",
  },
  {
    step: "no_new_privs",
    name: { id: "sandbox.no_new_privs", title: "no_new_privs" },
    brief: "no no_new_privs",
  },
  {
    step: "seccomp",
    name: { id: "sandbox.seccomp", title: "seccomp filter" },
    brief: "no seccomp filter",
  },
  {
    step: "pidfd",
    name: { id: "sandbox.pidfd", title: "pidfd_open" },
    brief: "no pidfd_open",
    since: { major: 5, minor: 3, what: "pidfd_open" },
  },
  {
    step: "setuid",
    name: { id: "sandbox.setuid", title: "Per-thread uid switch" },
    brief: "cannot switch uid",
  },
];

const PROBE = { id: "sandbox.probe", title: "Probe child process" } satisfies CheckName;
const USER_NS = { id: "ns.user", title: "User namespace" } satisfies CheckName;

/** Seccomp return actions the job filter uses. */
const SECCOMP_ACTIONS = ["errno", "kill_process", "allow"];

/** A kernel-side reason `check` cannot work, whatever the probe says; or null. */
function kernelLacks(check: StepCheck, context: SandboxContext): string | null {
  const release = parseKernelRelease(context.release);
  if (check.since !== undefined && release !== null && !kernelAtLeast(release, check.since)) {
    return `${check.since.what} needs Linux ${check.since.major}.${check.since.minor}+, ` +
      `this is ${context.release}`;
  }
  if (check.step === "seccomp") {
    if (!context.status.has("Seccomp")) {
      return "the kernel has no seccomp (no Seccomp line in /proc/self/status: CONFIG_SECCOMP)";
    }
    if (context.seccompActions !== null) {
      const absent = SECCOMP_ACTIONS.filter((a) => !context.seccompActions!.includes(a));
      if (absent.length > 0) {
        return `the kernel's seccomp lacks the actions ${absent.join(", ")} ` +
          "(/proc/sys/kernel/seccomp/actions_avail)";
      }
    }
  }
  return null;
}

/** A note on what the doctor itself already runs under, which jobs would inherit. */
function inheritedNote(check: StepCheck, context: SandboxContext): string {
  if (check.step === "seccomp" && /^[12]$/.test(context.status.get("Seccomp") ?? "")) {
    return " (this process already runs under a seccomp filter, which jobs inherit)";
  }
  return "";
}

function fromStep(
  check: StepCheck,
  step: ProbeStep | undefined,
  context: SandboxContext,
): CheckResult {
  const lacking = kernelLacks(check, context);
  if (lacking !== null) return fail(check.name, lacking, { brief: check.brief });
  if (step === undefined) return skip(check.name, "the probe gave no answer (see sandbox.probe)");
  switch (step.outcome) {
    case "ok":
      return ok(check.name, step.text + inheritedNote(check, context));
    case "failed":
      return fail(check.name, step.text, { brief: check.brief });
    case "skipped":
      if (!context.root) {
        return skip(check.name, step.text === "needs root" ? NEEDS_ROOT : step.text);
      }
      return fail(check.name, `not tried: ${step.text}`, { brief: check.brief });
  }
}

function probeCheck(probe: ProbeRun, context: SandboxContext): CheckResult {
  if (probe.ran) {
    return ok(PROBE, `a child process tried the sandbox's system calls on itself (${probe.ms} ms)`);
  }
  // Without root most steps are skipped anyway: the probe's own failure is then no requirement.
  const result = context.root ? fail : warn;
  return result(PROBE, `Cannot run the probe child: ${probe.error}`, {
    brief: "probe did not run",
  });
}

/** The namespace checks, then the sandbox's kernel features, in report order. */
export function sandboxChecks(probe: ProbeRun, context: SandboxContext): CheckResult[] {
  const steps = probe.ran ? probe.steps : {};
  return [
    ...NAMESPACES.map((c) => fromStep(c, steps[c.step], context)),
    skip(
      USER_NS,
      "not used: jobs run as real host uids in the host's user namespace, so whether " +
        "user namespaces are allowed does not matter",
    ),
    probeCheck(probe, context),
    ...FEATURES.map((c) => fromStep(c, steps[c.step], context)),
  ];
}
