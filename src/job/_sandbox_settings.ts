/**
 * The sandbox settings every job of a manager shares, checked once at
 * creation: the uid range and runAs policy, masks and binds, and the
 * directory each executor builds the job's root on.
 *
 * @module
 */
import { join, resolve } from "node:path";
import type { BindMount } from "../executor/protocol.ts";
import { DEFAULT_JOB_UID_RANGE, type IdRange, rangesOverlap } from "./identity.ts";
import { UidPool } from "./_uid_pool.ts";

/** The sandbox options of a JobManager (see JobManagerOptions for each). */
export interface SandboxOptions {
  dataDir: string;
  jobUidRange?: IdRange | undefined;
  allowRunAs?: readonly IdRange[] | undefined;
  allowRootJobs?: boolean | undefined;
  masks?: readonly string[] | undefined;
  binds?: readonly BindMount[] | undefined;
}

/** The sandbox settings every job shares. */
export interface SandboxSettings {
  rootDir: string;
  masks: string[];
  binds: BindMount[];
  uidPool: UidPool;
  uidRange: IdRange;
  allowRunAs: readonly IdRange[];
  allowRootJobs: boolean;
}

/** The absolute, symlink-free form of `path` when it exists; else `path` made absolute. */
async function realOrAbsolute(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    return resolve(path);
  }
}

async function checkBinds(binds: readonly BindMount[]): Promise<BindMount[]> {
  const checked: BindMount[] = [];
  for (const b of binds) {
    if (!b.target.startsWith("/") || b.target === "/" || b.target.split("/").includes("..")) {
      throw new TypeError(
        `Invalid bind target ${JSON.stringify(b.target)}: an absolute path other than /, no ".."`,
      );
    }
    let source: string;
    try {
      source = await Deno.realPath(b.source);
    } catch (err) {
      throw new TypeError(
        `Invalid bind source ${JSON.stringify(b.source)}: ${(err as Error).message}`,
      );
    }
    checked.push({ source, target: b.target.replace(/\/+$/, ""), readOnly: b.readOnly });
  }
  return checked;
}

/** Checks the options and makes the sandbox root directory. */
export async function sandboxSettings(options: SandboxOptions): Promise<SandboxSettings> {
  const uidRange = options.jobUidRange ?? DEFAULT_JOB_UID_RANGE;
  if (uidRange.first < 1 || uidRange.first > uidRange.last) {
    throw new RangeError(
      `Invalid job uid range ${uidRange.first}-${uidRange.last}: it must not include 0`,
    );
  }
  const allowRunAs = [...(options.allowRunAs ?? [])];
  if (rangesOverlap(allowRunAs, [uidRange])) {
    throw new RangeError("The runAs ranges must not overlap the range of job uids");
  }
  const dataDir = await Deno.realPath(options.dataDir);
  const rootDir = join(dataDir, "sandbox-root");
  await Deno.mkdir(rootDir, { recursive: true, mode: 0o700 });
  const masks = [dataDir, ...await Promise.all((options.masks ?? []).map(realOrAbsolute))];
  return {
    rootDir,
    masks: [...new Set(masks)],
    binds: await checkBinds(options.binds ?? []),
    uidPool: new UidPool(uidRange),
    uidRange,
    allowRunAs,
    allowRootJobs: options.allowRootJobs ?? false,
  };
}
