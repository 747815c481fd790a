/**
 * The server's admission, output and retention flags turned into
 * JobManager options. Throws a RangeError naming the flag for bad input,
 * before anything starts.
 *
 * @module
 */
import type { JobManagerOptions } from "../job/mod.ts";
import { parseDuration, parseSize } from "../units/mod.ts";

/** The flags as parseArgs returns them (absent ones undefined). */
export interface LimitFlags {
  maxOutput?: string | undefined;
  minFree?: string | undefined;
  maxJobs?: string | undefined;
  maxJobsPerUser?: string | undefined;
  maxMemory?: string | undefined;
  /** Each a duration (`7d`: keep ended jobs that long) or a count (`500`: keep that many). */
  retain?: string[] | undefined;
  /** Durations (`2h`): the most a Start may ask for, and what a Start without one gets. */
  maxTimeout?: string | undefined;
  defaultTimeout?: string | undefined;
}

type LimitOptions = Pick<
  JobManagerOptions,
  | "maxOutputBytes"
  | "minFreeBytes"
  | "maxJobs"
  | "maxJobsPerUser"
  | "maxMemoryBytes"
  | "retainMs"
  | "retainCount"
  | "maxTimeoutMs"
  | "defaultTimeoutMs"
>;

function withFlag<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new RangeError(`--${flag}: ${(err as Error).message}`);
  }
}

function count(flag: string, text: string, options: { min: number }): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < options.min) {
    throw new RangeError(
      `--${flag}: ${JSON.stringify(text)} is not a whole number >= ${options.min}`,
    );
  }
  return n;
}

/**
 * JobManager options from the flags; only the flags given are set.
 *
 * @example
 * ```ts
 * limitOptions({ maxOutput: "64M", maxJobs: "100", retain: ["7d", "1000"] });
 * // { maxOutputBytes: 67108864, maxJobs: 100, retainMs: 604800000, retainCount: 1000 }
 * ```
 */
export function limitOptions(flags: LimitFlags): LimitOptions {
  const options: LimitOptions = {};
  if (flags.maxOutput !== undefined) {
    options.maxOutputBytes = withFlag("max-output", () => parseSize(flags.maxOutput!));
  }
  if (flags.minFree !== undefined) {
    options.minFreeBytes = withFlag("min-free", () => parseSize(flags.minFree!));
  }
  if (flags.maxMemory !== undefined) {
    options.maxMemoryBytes = withFlag("max-memory", () => parseSize(flags.maxMemory!));
  }
  if (flags.maxJobs !== undefined) options.maxJobs = count("max-jobs", flags.maxJobs, { min: 1 });
  if (flags.maxJobsPerUser !== undefined) {
    options.maxJobsPerUser = count("max-jobs-per-user", flags.maxJobsPerUser, { min: 1 });
  }
  for (const text of flags.retain ?? []) {
    if (/^\d+$/.test(text.trim())) {
      options.retainCount = count("retain", text, { min: 0 });
    } else {
      options.retainMs = withFlag("retain", () => parseDuration(text));
    }
  }
  if (flags.maxTimeout !== undefined) {
    options.maxTimeoutMs = positiveDuration("max-timeout", flags.maxTimeout);
  }
  if (flags.defaultTimeout !== undefined) {
    options.defaultTimeoutMs = positiveDuration("default-timeout", flags.defaultTimeout);
  }
  if ((options.defaultTimeoutMs ?? 0) > (options.maxTimeoutMs ?? Infinity)) {
    throw new RangeError(
      `--default-timeout ${flags.defaultTimeout} is longer than --max-timeout ${flags.maxTimeout}`,
    );
  }
  return options;
}

function positiveDuration(flag: string, text: string): number {
  const ms = withFlag(flag, () => parseDuration(text));
  if (ms <= 0) throw new RangeError(`--${flag}: ${JSON.stringify(text)} must be longer than 0`);
  return ms;
}
