/**
 * The server's job-sandbox flags turned into JobManager options: uid
 * ranges, runAs policy, masks and binds. Throws a RangeError or TypeError
 * naming the flag for bad input, before anything starts.
 *
 * @module
 */
import { type BindMount, type IdRange, type JobManagerOptions, parseIdRanges } from "../job/mod.ts";

/** The flags as parseArgs returns them (absent ones undefined). */
export interface SandboxFlags {
  uidRange?: string | undefined;
  allowRunAs?: string[] | undefined;
  adminRunAs?: string[] | undefined;
  masks?: string[] | undefined;
  roBinds?: string[] | undefined;
  binds?: string[] | undefined;
}

function ranges(flag: string, values: readonly string[]): IdRange[] {
  try {
    return values.flatMap((v) => parseIdRanges(v));
  } catch (err) {
    throw new RangeError(`--${flag}: ${(err as Error).message}`);
  }
}

/** `SRC[:DST]` as a bind mount; DST defaults to SRC. */
export function parseBind(text: string, options: { readOnly: boolean }): BindMount {
  const colon = text.indexOf(":");
  const source = colon < 0 ? text : text.slice(0, colon);
  const target = colon < 0 ? text : text.slice(colon + 1);
  const flag = options.readOnly ? "--ro-bind" : "--bind";
  if (source === "" || target === "") throw new TypeError(`${flag} ${text}: expected SRC[:DST]`);
  if (!target.startsWith("/")) {
    throw new TypeError(`${flag} ${text}: the target ${target} must be an absolute path`);
  }
  return { source, target, readOnly: options.readOnly };
}

/**
 * The JobManager options the flags ask for, and the ranges admins may ask
 * for (undefined: the same as everyone).
 *
 * @example
 * ```ts
 * sandboxOptions({ allowRunAs: ["1000-1999"], roBinds: ["/opt/tools:/tools"] });
 * ```
 */
export function sandboxOptions(flags: SandboxFlags): {
  manager: Pick<JobManagerOptions, "jobUidRange" | "allowRunAs" | "masks" | "binds">;
  adminRunAs: IdRange[] | undefined;
} {
  const manager: Pick<JobManagerOptions, "jobUidRange" | "allowRunAs" | "masks" | "binds"> = {
    masks: flags.masks ?? [],
    binds: [
      ...(flags.roBinds ?? []).map((b) => parseBind(b, { readOnly: true })),
      ...(flags.binds ?? []).map((b) => parseBind(b, { readOnly: false })),
    ],
  };
  if (flags.uidRange !== undefined) {
    const parsed = ranges("job-uid-range", [flags.uidRange]);
    if (parsed.length !== 1) throw new RangeError("--job-uid-range: expected one FIRST-LAST");
    manager.jobUidRange = parsed[0]!;
  }
  if (flags.allowRunAs !== undefined) manager.allowRunAs = ranges("allow-run-as", flags.allowRunAs);
  const adminRunAs = flags.adminRunAs === undefined
    ? undefined
    : ranges("admin-run-as", flags.adminRunAs);
  return { manager, adminRunAs };
}
