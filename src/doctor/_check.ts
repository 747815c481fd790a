/**
 * Small builders for check results, so that every check reads the same,
 * and the byte formatting the details use.
 *
 * @module
 */
import type { CheckResult } from "./types.ts";

/** The identity of a check: its id and title. */
export interface CheckName {
  id: string;
  title: string;
}

/** An `ok` result. */
export function ok(name: CheckName, detail: string): CheckResult {
  return { ...name, status: "ok", detail };
}

/** A `warn` result; `brief` is a few words for the one-line summary. */
export function warn(name: CheckName, detail: string, options: { brief: string }): CheckResult {
  return { ...name, status: "warn", detail, brief: options.brief };
}

/** A `fail` result; `brief` is a few words for the one-line summary. */
export function fail(name: CheckName, detail: string, options: { brief: string }): CheckResult {
  return { ...name, status: "fail", detail, brief: options.brief };
}

/** A `skip` result: the reason is also the detail. */
export function skip(name: CheckName, reason: string): CheckResult {
  return { ...name, status: "skip", detail: reason, reason };
}

/** The reason root-only checks give when the doctor is not root. */
export const NEEDS_ROOT = "needs root (run the doctor as root, as the server runs)";

/** `1.5 GiB`-style text of a byte count (1024-based). */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = unit === 0 || value >= 100 ? value.toFixed(0) : value.toFixed(1);
  return `${text.replace(/\.0$/, "")} ${units[unit]}`;
}

/** The message of anything thrown, on one line. */
export function messageOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, " ").trim();
}
