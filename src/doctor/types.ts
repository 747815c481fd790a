/**
 * What the doctor reports: one result per check, the sandbox protections
 * derived from them, and the exposure score.
 *
 * @module
 */

/** How a check came out. */
export type CheckStatus = "ok" | "warn" | "fail" | "skip";

/** The fields every check result has. */
interface CheckBase {
  /** Stable identifier, `area.name`, e.g. `cgroup.memory`; what scripts match on. */
  id: string;
  /** A short title for people, e.g. "Memory limit and OOM events". */
  title: string;
  /** One line saying what was found (for `skip`: why it was not checked). */
  detail: string;
}

/**
 * One check's outcome. `warn` and `fail` carry a `brief` (a few words for
 * the server's one-line summary, e.g. "data dir on tmpfs"); `skip` carries
 * the `reason` it was not checked.
 */
export type CheckResult =
  | CheckBase & { status: "ok" }
  | CheckBase & { status: "warn" | "fail"; brief: string }
  | CheckBase & { status: "skip"; reason: string };

/** An inclusive range of uids, as `--job-uid-range FIRST-LAST` gives it. */
export interface UidRange {
  first: number;
  last: number;
}

/** Whether the host provides a protection: yes, no, or not known (a check it needs was skipped). */
export type ProtectionState = "yes" | "no" | "unknown";

/** One protection of the job sandbox, in the style of `systemd-analyze security`. */
export interface Protection {
  /** A short name, like systemd's setting names, e.g. `PrivateNetwork`. */
  name: string;
  /** What it gives a job, in a few words. */
  description: string;
  state: ProtectionState;
  /** How much it counts in the exposure score (see ./exposure.ts). */
  weight: number;
  /** The checks it was derived from. */
  checks: readonly string[];
  /** For `no` and `unknown`: the checks that were not ok, and why. */
  because?: string;
}

/** systemd's words for ranges of the exposure score. */
export type ExposureLevel = "SAFE" | "OK" | "MEDIUM" | "EXPOSED" | "UNSAFE" | "DANGEROUS";

/** The sandbox's exposure on this host. */
export interface Exposure {
  /** 0.0 (every protection provided) to 10.0 (none), one decimal; lower is better. */
  score: number;
  level: ExposureLevel;
  protections: Protection[];
}

/** Counts of check results by status. */
export type StatusCounts = Record<CheckStatus, number>;

/** Everything one doctor run found. */
export interface DoctorReport {
  /** When the checks ran (ISO 8601). */
  time: string;
  /** The host as the checks saw it. */
  host: {
    /** Kernel release, e.g. `6.18.44`. */
    kernel: string;
    /** Deno's name of the architecture, e.g. `x86_64`. */
    arch: string;
    /** The uid the doctor ran as. */
    uid: number;
  };
  /** The settings checked against. */
  settings: {
    /** The data directory, resolved to an absolute path. */
    dataDir: string;
    jobUidRange: UidRange;
    minFreeBytes: number;
  };
  checks: CheckResult[];
  counts: StatusCounts;
  exposure: Exposure;
}

/** What {@link DoctorReport} is checked against; everything defaults to the server's defaults. */
export interface DoctorOptions {
  /** The server's `--data-dir`; default `data` (relative to the working directory). */
  dataDir?: string;
  /** The server's `--job-uid-range`; default 61184-65519. */
  jobUidRange?: UidRange;
  /** The server's `--min-free` in bytes; default 256 MiB. */
  minFreeBytes?: number;
  /**
   * The command that runs the probe child (see ./probe.ts), without its
   * final argument. Default: this Deno running the probe module, or in a
   * compiled binary the binary itself with {@link DOCTOR_PROBE_ARG}.
   */
  probeCommand?: readonly string[];
}

/**
 * The first argument that makes a compiled binary run the doctor's probe
 * child instead of its usual work (see `runDoctorProbe`).
 */
export const DOCTOR_PROBE_ARG = "--jobworker-doctor-probe";
