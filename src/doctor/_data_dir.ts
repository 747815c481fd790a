/**
 * The data directory: it exists or can be made, has room above the
 * server's `--min-free` reserve, lies on a file system that keeps output
 * across a reboot and supports what the executor relies on (O_APPEND
 * writes, fallocate for the reports' reserved space), and fallocate works
 * there. A missing directory is judged by its nearest existing parent,
 * where the server would make it. The only thing written is a test file,
 * removed at once.
 *
 * @module
 */
import { resolve } from "node:path";
import { freeBytes, reserveSpace } from "../../ffi/mod.ts";
import { type CheckName, fail, formatBytes, messageOf, ok, skip, warn } from "./_check.ts";
import { type MountEntry, mountOf } from "./_proc.ts";
import type { CheckResult } from "./types.ts";

/** What the data directory checks decide from. */
export interface DataDirFacts {
  /** As given, e.g. `data`. */
  given: string;
  /** Resolved against the working directory. */
  absolute: string;
  /** What is at `absolute`. */
  kind: "dir" | "other" | "missing";
  /** Where the other facts were taken: the directory, or its nearest existing parent; null if none. */
  base: string | null;
  /** Why there is no `base`, or null. */
  baseError: string | null;
  /** Why a test file could not be made in `base`, or null. */
  writeError: string | null;
  /** Free bytes for unprivileged writers in `base` (statvfs f_bavail), or the error. */
  freeBytes: number | string;
  /** The mount holding `base`, or null when unknown. */
  mount: MountEntry | null;
  /** fallocate of the test file: null when it worked, the error, or undefined when not tried. */
  fallocateError: string | null | undefined;
}

/** File systems the output must not live on: appends and fallocate are not reliable there. */
const NETWORK_FS = new Set([
  "nfs",
  "nfs4",
  "cifs",
  "smb3",
  "smbfs",
  "ceph",
  "glusterfs",
  "9p",
  "afs",
  "lustre",
  "fuse.sshfs",
  "fuse.s3fs",
  "fuse.gcsfuse",
  "fuse.rclone",
]);
/** File systems whose content is gone after a reboot. */
const VOLATILE_FS = new Set(["tmpfs", "ramfs"]);

/** The server's default `--max-output`: one job may write that much. */
const DEFAULT_MAX_OUTPUT = 1024 ** 3;
/** How much the test file reserves. */
const TEST_RESERVE_BYTES = 64 * 1024;

const N = {
  dir: { id: "data.dir", title: "Data directory" },
  space: { id: "data.space", title: "Free space" },
  fs: { id: "data.fs", title: "File system" },
  fallocate: { id: "data.fallocate", title: "fallocate" },
} satisfies Record<string, CheckName>;

function dirCheck(f: DataDirFacts): CheckResult {
  if (f.kind === "other") {
    return fail(N.dir, `${f.absolute} exists and is not a directory`, {
      brief: "data dir not a directory",
    });
  }
  if (f.base === null) {
    return fail(N.dir, `Cannot make ${f.absolute}: ${f.baseError ?? "no parent exists"}`, {
      brief: "data dir cannot be made",
    });
  }
  if (f.writeError !== null) {
    return fail(N.dir, `Cannot write in ${f.base}: ${f.writeError}`, {
      brief: "data dir not writable",
    });
  }
  return ok(
    N.dir,
    f.kind === "dir"
      ? `${f.absolute} exists; a test file was made and removed in it`
      : `${f.absolute} does not exist; the server makes it in ${f.base} (writable)`,
  );
}

function spaceCheck(f: DataDirFacts, minFree: number): CheckResult {
  if (f.base === null) return skip(N.space, "no data directory to look at (see data.dir)");
  if (typeof f.freeBytes === "string") {
    return fail(N.space, `Cannot check the free space in ${f.base}: ${f.freeBytes}`, {
      brief: "free space unknown",
    });
  }
  const free = formatBytes(f.freeBytes);
  const reserve = formatBytes(minFree);
  if (f.freeBytes < minFree) {
    return fail(N.space, `${free} free, below --min-free ${reserve}: every Start is refused`, {
      brief: `${free} free`,
    });
  }
  if (f.freeBytes < minFree + DEFAULT_MAX_OUTPUT) {
    return warn(
      N.space,
      `${free} free: one job's output at the default --max-output (1 GiB) would reach the ` +
        `--min-free reserve (${reserve})`,
      { brief: `${free} free` },
    );
  }
  return ok(N.space, `${free} free (--min-free ${reserve})`);
}

function fsCheck(f: DataDirFacts): CheckResult {
  if (f.base === null) return skip(N.fs, "no data directory to look at (see data.dir)");
  const m = f.mount;
  if (m === null) {
    return warn(N.fs, `Cannot tell the file system of ${f.base}: no mount holds it`, {
      brief: "data dir file system unknown",
    });
  }
  const where = `${m.fsType} (${m.source} on ${m.mountPoint})`;
  if (VOLATILE_FS.has(m.fsType)) {
    return warn(
      N.fs,
      `${where}: jobs' output and records are lost on reboot, and the pages count as memory`,
      { brief: `data dir on ${m.fsType}` },
    );
  }
  if (NETWORK_FS.has(m.fsType)) {
    return fail(
      N.fs,
      `${where}: a network file system, where O_APPEND writes and fallocate are not reliable; ` +
        "keep the data directory on a local disk",
      { brief: `data dir on ${m.fsType}` },
    );
  }
  if (m.fsType === "fuse" || m.fsType.startsWith("fuse.")) {
    return warn(
      N.fs,
      `${where}: whether O_APPEND writes are atomic depends on the FUSE file system`,
      { brief: `data dir on ${m.fsType}` },
    );
  }
  return ok(N.fs, where);
}

function fallocateCheck(f: DataDirFacts): CheckResult {
  if (f.base === null || f.fallocateError === undefined) {
    return skip(N.fallocate, "not tried: no test file could be made (see data.dir)");
  }
  if (f.fallocateError !== null) {
    return fail(
      N.fallocate,
      `fallocate(FALLOC_FL_KEEP_SIZE) fails in ${f.base}: ${f.fallocateError}; the executor ` +
        "reserves its reports' space with it",
      { brief: "no fallocate" },
    );
  }
  return ok(N.fallocate, "fallocate(FALLOC_FL_KEEP_SIZE) reserves space (the executor's reports)");
}

/** The data directory checks, in report order. Pure. */
export function dataDirChecks(
  facts: DataDirFacts,
  options: { minFreeBytes: number },
): CheckResult[] {
  return [
    dirCheck(facts),
    spaceCheck(facts, options.minFreeBytes),
    fsCheck(facts),
    fallocateCheck(facts),
  ];
}

async function kindOf(path: string): Promise<"dir" | "other" | "missing"> {
  try {
    return (await Deno.stat(path)).isDirectory ? "dir" : "other";
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "missing";
    throw err;
  }
}

/** Gathers the {@link DataDirFacts} of `given`, with `mounts` from /proc/self/mountinfo. */
export async function gatherDataDirFacts(
  given: string,
  mounts: readonly MountEntry[],
): Promise<DataDirFacts> {
  const absolute = resolve(given);
  const facts: DataDirFacts = {
    given,
    absolute,
    kind: "missing",
    base: null,
    baseError: null,
    writeError: null,
    freeBytes: "not checked",
    mount: null,
    fallocateError: undefined,
  };
  try {
    facts.kind = await kindOf(absolute);
    if (facts.kind === "other") return facts;
    let base = absolute;
    while (facts.kind === "missing" && (await kindOf(base)) === "missing" && base !== "/") {
      base = resolve(base, "..");
    }
    if ((await kindOf(base)) !== "dir") {
      facts.baseError = `${base} is not a directory`;
      return facts;
    }
    facts.base = base;
  } catch (err) {
    facts.baseError = messageOf(err);
    return facts;
  }
  const base = facts.base;
  try {
    facts.mount = mountOf(await Deno.realPath(base), mounts);
  } catch {
    facts.mount = mountOf(base, mounts);
  }
  try {
    facts.freeBytes = freeBytes(base);
  } catch (err) {
    facts.freeBytes = messageOf(err);
  }
  const test = `${base}/.jobworker-doctor-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeFile(test, new Uint8Array(), { createNew: true, mode: 0o600 });
  } catch (err) {
    facts.writeError = messageOf(err);
    return facts;
  }
  try {
    reserveSpace(test, TEST_RESERVE_BYTES);
    facts.fallocateError = null;
  } catch (err) {
    facts.fallocateError = messageOf(err);
  } finally {
    await Deno.remove(test).catch(() => {});
  }
  return facts;
}
