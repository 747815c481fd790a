/**
 * Who a job runs as: a user and group id picked for it from a reserved
 * range (like systemd's DynamicUser), or, where the server allows it, ids
 * the caller asked for (`runAs`).
 *
 * @module
 */
import { JobPermissionError, JobSpecError } from "./errors.ts";

/** An inclusive range of user or group ids. */
export interface IdRange {
  first: number;
  last: number;
}

/** systemd's range for dynamic users, 61184–65519: the default range of job uids. */
export const DEFAULT_JOB_UID_RANGE: Readonly<IdRange> = Object.freeze({
  first: 61184,
  last: 65519,
});

/** The largest id the kernel accepts; (uid_t)-1 means "unchanged" to the set*id calls. */
export const MAX_ID = 4_294_967_294;

/** The user and group a job runs as. */
export interface RunAs {
  uid: number;
  /** Default: the same number as `uid`. */
  gid?: number;
}

/**
 * Parses id ranges such as `1000-1999,3000` (a single id is a range of
 * one). Throws a RangeError naming the part that is wrong.
 *
 * @example
 * ```ts
 * parseIdRanges("1000-1999,3000"); // [{first: 1000, last: 1999}, {first: 3000, last: 3000}]
 * ```
 */
export function parseIdRanges(text: string): IdRange[] {
  return text.split(",").map((part) => {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (m === null) {
      throw new RangeError(`Invalid id range ${JSON.stringify(part)}: expected N or N-M`);
    }
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (first > MAX_ID || last > MAX_ID || first > last) {
      throw new RangeError(
        `Invalid id range ${JSON.stringify(part)}: ids go from 0 to ${MAX_ID}, first <= last`,
      );
    }
    return { first, last };
  });
}

/** `1000-1999,3000` style text of `ranges`. */
export function formatIdRanges(ranges: readonly IdRange[]): string {
  if (ranges.length === 0) return "none";
  return ranges.map((r) => r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`).join(",");
}

function inRanges(id: number, ranges: readonly IdRange[]): boolean {
  return ranges.some((r) => id >= r.first && id <= r.last);
}

/** True when the two lists share an id. */
export function rangesOverlap(a: readonly IdRange[], b: readonly IdRange[]): boolean {
  return a.some((x) => b.some((y) => x.first <= y.last && y.first <= x.last));
}

/** The policy {@link checkRunAs} applies. */
export interface RunAsPolicy {
  /** Ranges this caller may ask for. */
  allowed: readonly IdRange[];
  /** Whether uid or gid 0 may be asked for at all (it must be in `allowed` too). */
  allowRoot: boolean;
  /** The dynamic range: never granted on request, those ids belong to other jobs. */
  dynamic: IdRange;
}

/**
 * Validates `runAs` and checks it against `policy`; returns the ids. Throws
 * a {@link JobSpecError} for a malformed request and a
 * {@link JobPermissionError} for one the policy refuses.
 */
export function checkRunAs(runAs: RunAs, policy: RunAsPolicy): { uid: number; gid: number } {
  if (typeof runAs !== "object" || runAs === null) {
    throw new JobSpecError("Cannot start job: runAs must be an object {uid, gid}");
  }
  const uid = runAs.uid;
  const gid = runAs.gid ?? runAs.uid;
  for (const [what, id] of [["uid", uid], ["gid", gid]] as const) {
    if (!Number.isSafeInteger(id) || id < 0 || id > MAX_ID) {
      throw new JobSpecError(
        `Cannot start job: runAs ${what} must be a whole number from 0 to ${MAX_ID}`,
      );
    }
  }
  for (const [what, id] of [["uid", uid], ["gid", gid]] as const) {
    if (id === 0 && !policy.allowRoot) {
      throw new JobPermissionError(
        `Cannot start job: running as ${what} 0 (root) is not allowed on this server`,
      );
    }
    if (inRanges(id, [policy.dynamic])) {
      throw new JobPermissionError(
        `Cannot start job: ${what} ${id} is in the range reserved for jobs' own users (${
          formatIdRanges([policy.dynamic])
        })`,
      );
    }
    if (!inRanges(id, policy.allowed)) {
      throw new JobPermissionError(
        `Cannot start job: ${what} ${id} is not allowed (allowed: ${
          formatIdRanges(policy.allowed)
        })`,
      );
    }
  }
  return { uid, gid };
}
