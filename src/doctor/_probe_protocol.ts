/**
 * What the probe child (./probe.ts) is told and what it answers: one JSON
 * line on stdout. Shared by the child and the parent (./_probe_run.ts).
 *
 * @module
 */

/** Marks the probe's answer, so that anything else on stdout is not taken for one. */
export const PROBE_MARKER = "jobworker-doctor-probe/1";

/** The steps the probe tries, in its order. */
export const PROBE_STEPS = [
  "pidfd",
  "bpf_device",
  "ns.pid",
  "ns.cgroup",
  "ns.uts",
  "ns.ipc",
  "ns.net",
  "ns.mount",
  "tmpfs",
  "mount_setattr",
  "dev",
  "proc_hidepid",
  "pivot_root",
  "caps_drop",
  "no_new_privs",
  "seccomp",
  "setuid",
] as const;

/** The name of one probe step. */
export type ProbeStepName = (typeof PROBE_STEPS)[number];

/** How one step went, with what it saw or the error (`failed`) or why not tried (`skipped`). */
export interface ProbeStep {
  outcome: "ok" | "failed" | "skipped";
  text: string;
}

/** The probe's steps by name. */
export type ProbeSteps = Partial<Record<ProbeStepName, ProbeStep>>;

/** The probe's only argument, as JSON. */
export interface ProbeConfig {
  /** An empty directory the child mounts its test root on (inside its own mount namespace). */
  dir: string;
  /** A non-zero uid the child's main thread switches to last. */
  uid: number;
}

/** The probe's answer. */
export interface ProbeAnswer {
  marker: typeof PROBE_MARKER;
  steps: ProbeSteps;
}

/** Parses a probe config; throws naming what is wrong. */
export function parseProbeConfig(text: string | undefined): ProbeConfig {
  let value: unknown;
  try {
    value = JSON.parse(text ?? "");
  } catch {
    throw new Error("Cannot run the probe: its argument is not JSON");
  }
  const v = value as Partial<ProbeConfig> | null;
  if (
    typeof v?.dir !== "string" || !v.dir.startsWith("/") || typeof v.uid !== "number" ||
    !Number.isInteger(v.uid) || v.uid <= 0
  ) {
    throw new Error('Cannot run the probe: expected {"dir": "/abs/dir", "uid": N > 0}');
  }
  return { dir: v.dir, uid: v.uid };
}

/** The probe's steps from its stdout, or null when no answer is there. */
export function parseProbeAnswer(stdout: string): ProbeSteps | null {
  for (const line of stdout.split("\n").reverse()) {
    if (!line.startsWith("{")) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    const answer = value as Partial<ProbeAnswer> | null;
    if (answer?.marker !== PROBE_MARKER || typeof answer.steps !== "object") continue;
    const steps: ProbeSteps = {};
    for (const name of PROBE_STEPS) {
      const step = (answer.steps as Record<string, Partial<ProbeStep> | undefined>)[name];
      if (
        step !== undefined && typeof step.text === "string" &&
        (step.outcome === "ok" || step.outcome === "failed" || step.outcome === "skipped")
      ) {
        steps[name] = { outcome: step.outcome, text: step.text };
      }
    }
    return steps;
  }
  return null;
}
