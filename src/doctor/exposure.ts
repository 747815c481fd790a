/**
 * The job sandbox's exposure on this host, in the style of `systemd-analyze
 * security`: every protection the sandbox gives a job, named after the
 * systemd setting closest to it, marked provided (✓), not provided (✗)
 * or unknown (?) from the checks it rests on, and one score.
 *
 * A protection is provided when every check it rests on is `ok`; not
 * provided when one is `warn` or `fail` (a warning always means something
 * is degraded); unknown when one was skipped. The score is
 *
 *     exposure = 10 × (sum of the weights of protections not provided or unknown)
 *                    / (sum of all weights)
 *
 * rounded to one decimal: 0.0 when the host provides everything, 10.0 when
 * it provides nothing; lower is better. What could not be checked counts
 * as missing: the score never flatters a host. The levels are systemd's
 * words: up to 0.9 SAFE, 2.9 OK, 4.9 MEDIUM, 6.9 EXPOSED, 8.9 UNSAFE,
 * above that DANGEROUS.
 *
 * @module
 */
import type { CheckResult, Exposure, ExposureLevel, Protection } from "./types.ts";

/** A protection before it is assessed. */
type ProtectionSpec = Omit<Protection, "state" | "because">;

/**
 * Every protection of the job sandbox, its weight (how much a job could do
 * to the host or to other jobs without it), and the checks it rests on.
 */
export const PROTECTIONS: readonly ProtectionSpec[] = Object.freeze([
  {
    name: "PrivatePIDs",
    description: "own PID namespace: sees and signals only its own processes",
    weight: 6,
    checks: ["ns.pid"],
  },
  {
    name: "PrivateMounts",
    description: "own mount namespace: nothing it mounts reaches the host",
    weight: 5,
    checks: ["ns.mount"],
  },
  {
    name: "PrivateNetwork",
    description: "own network namespace: only its own lo, no host network",
    weight: 8,
    checks: ["ns.net"],
  },
  {
    name: "ProtectHostname",
    description: "own UTS namespace: its hostname is its own",
    weight: 1,
    checks: ["ns.uts"],
  },
  {
    name: "PrivateIPC",
    description: "own IPC namespace: no System V IPC or queues of others",
    weight: 2,
    checks: ["ns.ipc"],
  },
  {
    name: "ProtectControlGroups",
    description: "own cgroup namespace: the host's cgroup tree stays hidden",
    weight: 1,
    checks: ["ns.cgroup"],
  },
  {
    name: "RootDirectory",
    description: "pivot_root into a root built for it; the host's root detached",
    weight: 6,
    checks: ["ns.mount", "sandbox.pivot_root"],
  },
  {
    name: "ProtectSystem",
    description: "the host's directories bound read-only, nosuid, nodev",
    weight: 8,
    checks: ["ns.mount", "sandbox.mount_setattr"],
  },
  {
    name: "InaccessiblePaths",
    description: "masked: data dir, TLS keys, /root, /home, /run, /proc/kcore & co.",
    weight: 6,
    checks: ["ns.mount", "sandbox.mount_setattr", "sandbox.pivot_root"],
  },
  {
    name: "CapabilityBoundingSet",
    description: "no capabilities: empty bounding, ambient, inheritable sets",
    weight: 8,
    checks: ["sandbox.caps_drop"],
  },
  {
    name: "NoNewPrivileges",
    description: "no_new_privs: setuid binaries and file capabilities gain nothing",
    weight: 5,
    checks: ["sandbox.no_new_privs"],
  },
  {
    name: "SystemCallFilter",
    description: "seccomp: mount, namespaces, keyrings, bpf, io_uring & co. refused",
    weight: 6,
    checks: ["sandbox.seccomp", "kernel.arch"],
  },
  {
    name: "DevicePolicy",
    description: "cgroup device policy: null, zero, full, random, urandom, tty, ptys",
    weight: 4,
    checks: ["cgroup.devices"],
  },
  {
    name: "PrivateDevices",
    description: "a /dev of its own, with its own ptys (devpts newinstance)",
    weight: 3,
    checks: ["sandbox.dev"],
  },
  {
    name: "DynamicUser",
    description: "a uid and gid of its own that nothing else on the host uses",
    weight: 6,
    checks: ["uids.range", "sandbox.setuid"],
  },
  {
    name: "ProtectProc",
    description: "/proc with hidepid=invisible: the executor is hidden",
    weight: 2,
    checks: ["sandbox.proc_hidepid"],
  },
  {
    name: "CPUQuota",
    description: "a CPU limit (cgroup)",
    weight: 3,
    checks: ["cgroup.delegation", "cgroup.cpu"],
  },
  {
    name: "MemoryMax",
    description: "a memory limit, OOM kills counted (cgroup)",
    weight: 4,
    checks: ["cgroup.delegation", "cgroup.memory"],
  },
  {
    name: "IOBandwidthMax",
    description: "disk read and write limits (cgroup)",
    weight: 2,
    checks: ["cgroup.delegation", "cgroup.io"],
  },
  {
    name: "TasksMax",
    description: "a process count limit (cgroup)",
    weight: 4,
    checks: ["cgroup.delegation", "cgroup.pids"],
  },
  {
    name: "KillMode",
    description: "a stop ends the whole job at once (freezer or cgroup.kill)",
    weight: 1,
    checks: ["cgroup.kill"],
  },
]);

/** The level of a score: systemd's words for ranges of exposure. */
export function exposureLevel(score: number): ExposureLevel {
  if (score <= 0.9) return "SAFE";
  if (score <= 2.9) return "OK";
  if (score <= 4.9) return "MEDIUM";
  if (score <= 6.9) return "EXPOSED";
  if (score <= 8.9) return "UNSAFE";
  return "DANGEROUS";
}

/** Whether one protection is provided, from the results of the checks it rests on. */
function assess(spec: ProtectionSpec, byId: ReadonlyMap<string, CheckResult>): Protection {
  const results = spec.checks.map((id) => ({ id, result: byId.get(id) }));
  const bad = results.filter((r) => r.result?.status === "fail" || r.result?.status === "warn");
  if (bad.length > 0) {
    return {
      ...spec,
      state: "no",
      because: bad.map((r) => `${r.id} ${r.result!.status}`).join(", "),
    };
  }
  const unknown = results.filter((r) => r.result === undefined || r.result.status === "skip");
  if (unknown.length > 0) {
    return {
      ...spec,
      state: "unknown",
      because: unknown.map((r) => `${r.id} ${r.result === undefined ? "missing" : "skipped"}`)
        .join(", "),
    };
  }
  return { ...spec, state: "yes" };
}

/**
 * The exposure of the job sandbox given `checks` (see the module
 * documentation for the formula).
 *
 * @example
 * ```ts
 * assessExposure(report.checks).score; // 0.2 when only IO throttling is missing
 * ```
 */
export function assessExposure(
  checks: readonly CheckResult[],
  protections: readonly ProtectionSpec[] = PROTECTIONS,
): Exposure {
  const byId = new Map(checks.map((c) => [c.id, c]));
  const assessed = protections.map((p) => assess(p, byId));
  const total = assessed.reduce((sum, p) => sum + p.weight, 0);
  const exposed = assessed.filter((p) => p.state !== "yes").reduce((sum, p) => sum + p.weight, 0);
  const score = total === 0 ? 0 : Math.round((100 * exposed) / total) / 10;
  return { score, level: exposureLevel(score), protections: assessed };
}
