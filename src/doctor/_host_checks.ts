/**
 * The checks of the server process itself: root, the capabilities it
 * needs (CapEff of /proc/self/status), the kernel release, and the
 * architecture the job seccomp filter has a system call table for. Pure.
 *
 * @module
 */
import { type CheckName, fail, ok, skip, warn } from "./_check.ts";
import { hasCap, kernelAtLeast, parseCapMask, parseKernelRelease } from "./_proc.ts";
import type { CheckResult } from "./types.ts";

/** A capability, by number and name, and why the server needs it. */
interface Capability {
  cap: number;
  name: string;
  why: string;
}

/** Capabilities without which jobs cannot be started. */
export const REQUIRED_CAPABILITIES: readonly Capability[] = [
  { cap: 0, name: "CAP_CHOWN", why: "give each job's /work to its uid" },
  { cap: 1, name: "CAP_DAC_OVERRIDE", why: "reach and remove job-owned files" },
  { cap: 3, name: "CAP_FOWNER", why: "set modes of job-owned files" },
  { cap: 5, name: "CAP_KILL", why: "signal jobs running as other uids" },
  { cap: 6, name: "CAP_SETGID", why: "switch to a job's gid, drop groups" },
  { cap: 7, name: "CAP_SETUID", why: "switch to a job's uid" },
  { cap: 8, name: "CAP_SETPCAP", why: "empty a job's capability bounding set" },
  { cap: 12, name: "CAP_NET_ADMIN", why: "bring lo up in a job's network namespace" },
  { cap: 21, name: "CAP_SYS_ADMIN", why: "namespaces, mounts, pivot_root, hostname, bpf" },
  { cap: 27, name: "CAP_MKNOD", why: "make a job's /dev/null and the like" },
];

/** Capabilities whose lack costs a feature, not the jobs. */
const WANTED_CAPABILITIES: readonly Capability[] = [
  { cap: 19, name: "CAP_SYS_PTRACE", why: "executors' memory in the metrics (not dumpable)" },
];

const CAP_SYS_RESOURCE: Capability = {
  cap: 24,
  name: "CAP_SYS_RESOURCE",
  why: "a 1 MiB output pipe above fs.pipe-max-size",
};

/** The size of a job's output pipe (the executor's pump chunk). */
const OUTPUT_PIPE_BYTES = 1024 * 1024;

/** The oldest kernel the sandbox works on: mount_setattr came with 5.12. */
const MIN_KERNEL = { major: 5, minor: 12 };

/** Architectures the job seccomp filter has a system call table for (src/executor/_seccomp.ts). */
const SECCOMP_ARCHES = ["x86_64"];

const N = {
  root: { id: "root.uid", title: "Running as root" },
  caps: { id: "root.capabilities", title: "Capabilities the server needs" },
  kernel: { id: "kernel.version", title: "Kernel version" },
  arch: { id: "kernel.arch", title: "Architecture" },
} satisfies Record<string, CheckName>;

/** What the host checks decide from. */
export interface HostFacts {
  uid: number;
  /** /proc/self/status, parsed. */
  status: ReadonlyMap<string, string>;
  /** The kernel release, e.g. `6.1.0-56-cloud-amd64`. */
  release: string;
  /** Deno's architecture name. */
  arch: string;
  /** fs.pipe-max-size, or null when unreadable. */
  pipeMaxSize: number | null;
}

function capabilityCheck(facts: HostFacts): CheckResult {
  if (facts.uid !== 0) {
    return skip(N.caps, "not root: the server's capabilities are those of root, not these");
  }
  const eff = parseCapMask(facts.status.get("CapEff"));
  if (eff === null) {
    return fail(N.caps, "Cannot check capabilities: /proc/self/status has no CapEff line", {
      brief: "capabilities unknown",
    });
  }
  const required = [...REQUIRED_CAPABILITIES];
  if (facts.pipeMaxSize !== null && facts.pipeMaxSize < OUTPUT_PIPE_BYTES) {
    required.push(CAP_SYS_RESOURCE);
  }
  const hex = facts.status.get("CapEff");
  const missing = required.filter((c) => !hasCap(eff, c.cap));
  if (missing.length > 0) {
    return fail(
      N.caps,
      `missing ${missing.map((c) => `${c.name} (${c.why})`).join(", ")}; CapEff ${hex}`,
      { brief: `missing ${missing.map((c) => c.name).join(", ")}` },
    );
  }
  const lacking = WANTED_CAPABILITIES.filter((c) => !hasCap(eff, c.cap));
  if (lacking.length > 0) {
    return warn(
      N.caps,
      `missing ${lacking.map((c) => `${c.name} (${c.why})`).join(", ")}; CapEff ${hex}`,
      { brief: `missing ${lacking.map((c) => c.name).join(", ")}` },
    );
  }
  return ok(N.caps, `all ${required.length + WANTED_CAPABILITIES.length} it uses; CapEff ${hex}`);
}

/** The host checks, in report order. */
export function hostChecks(facts: HostFacts): CheckResult[] {
  const results: CheckResult[] = [];
  results.push(
    facts.uid === 0
      ? ok(N.root, "uid 0")
      : skip(N.root, `running as uid ${facts.uid}: the checks that need root are skipped`),
  );
  results.push(capabilityCheck(facts));
  const release = parseKernelRelease(facts.release);
  if (release === null) {
    results.push(
      fail(N.kernel, `Cannot check the kernel: release "${facts.release}" is not a version`, {
        brief: "kernel unknown",
      }),
    );
  } else if (!kernelAtLeast(release, MIN_KERNEL)) {
    results.push(
      fail(
        N.kernel,
        `Linux ${facts.release}: the sandbox needs ${MIN_KERNEL.major}.${MIN_KERNEL.minor} or ` +
          "newer (mount_setattr)",
        { brief: "kernel too old" },
      ),
    );
  } else {
    results.push(ok(N.kernel, `Linux ${facts.release} (5.12 or newer needed)`));
  }
  results.push(
    SECCOMP_ARCHES.includes(facts.arch)
      ? ok(N.arch, `${facts.arch}: the job seccomp filter has its system call table`)
      : fail(
        N.arch,
        `${facts.arch}: the job seccomp filter has a system call table for ` +
          `${SECCOMP_ARCHES.join(", ")} only, so every job would be refused`,
        { brief: `no seccomp table for ${facts.arch}` },
      ),
  );
  return results;
}
