/**
 * The job's view of the system, built by the executor on its main thread
 * (the only thread in the job's namespaces) before the job's process
 * exists:
 *
 * | path                | what the job sees                                                  |
 * | ------------------- | ------------------------------------------------------------------ |
 * | `/` and below       | the host's top-level directories, bound read-only, nosuid, nodev   |
 * | masked paths        | empty and unreadable (the data and certificate dirs, `--mask`)     |
 * | `/root` `/home` `/run` | empty and unreadable                                            |
 * | `/work`             | the job's own directory, writable, owned by the job's user         |
 * | `/tmp` `/var/tmp`   | private tmpfs, size-capped (pages count against the memory limit)  |
 * | `/dev`              | tmpfs with null, zero, full, random, urandom, tty, a private devpts, shm |
 * | `/proc`             | the job's PID namespace, hidepid=invisible (the executor is hidden); the paths runc masks are masked or read-only |
 * | `/sys`              | a fresh sysfs, read-only; /sys/firmware masked; no cgroupfs         |
 *
 * The root is a tmpfs entered with pivot_root; the host's old root is then
 * detached, so nothing of it stays reachable.
 *
 * Order matters: `/` becomes private before anything is mounted (nothing
 * propagates to the host); the host's directories are bound and made
 * read-only (mount_setattr, recursively) BEFORE the job's writable mounts
 * exist; /proc is mounted before its masks go on top.
 *
 * @module
 */
import {
  chdir,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWUTS,
  interfaceUp,
  makeCharDevice,
  MNT_DETACH,
  mount,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_NOEXEC,
  MOUNT_ATTR_NOSUID,
  MOUNT_ATTR_RDONLY,
  mountSetattr,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  pivotRoot,
  sethostname,
  umount,
  unshare,
} from "../../ffi/mod.ts";
import { JOB_DEVICES } from "../cgroup/device_policy.ts";
import { JOB_WORK_DIR, type JobIdentity, type JobSandbox, type SandboxPlan } from "./protocol.ts";

/** Host top-level entries the job never sees as they are: replaced or masked. */
const NOT_MIRRORED = new Set(["proc", "sys", "dev", "tmp", "run", "root", "home", "lost+found"]);
/** Top-level directories that exist in the job's view but are empty and unreadable. */
const EMPTY_UNREADABLE = ["run", "root", "home"];

/** Files of /proc that are masked (runc's list, plus kmsg and kallsyms as systemd hides them). */
const PROC_MASKED_FILES = [
  "kcore",
  "keys",
  "latency_stats",
  "timer_list",
  "timer_stats",
  "sched_debug",
  "interrupts",
  "kmsg",
  "kallsyms",
];
/** Directories of /proc that are masked. */
const PROC_MASKED_DIRS = ["acpi", "asound", "scsi"];
/** Paths of /proc that stay readable but become read-only. */
const PROC_READ_ONLY = ["bus", "fs", "irq", "sys", "sysrq-trigger"];
/** Directories of /sys that are masked. */
const SYS_MASKED_DIRS = ["firmware"];

const READ_ONLY = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;

type Kind = "dir" | "file" | "symlink" | "missing";

function kindOf(path: string): Kind {
  try {
    const info = Deno.lstatSync(path);
    if (info.isSymlink) return "symlink";
    return info.isDirectory ? "dir" : "file";
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "missing";
    throw err;
  }
}

function bind(source: string, target: string, options: { readOnly: boolean }): void {
  mount(target, { source, flags: MS_BIND | MS_REC });
  const attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (options.readOnly ? MOUNT_ATTR_RDONLY : 0);
  mountSetattr(target, attrs, { recursive: true });
}

function tmpfs(target: string, options: { mode: string; sizeBytes: number; flags?: number }): void {
  mount(target, {
    source: "tmpfs",
    fstype: "tmpfs",
    flags: options.flags ?? (MS_NOSUID | MS_NODEV),
    data: `mode=${options.mode},size=${options.sizeBytes}`,
  });
}

/** Makes `path` (a directory or file in the new root) empty and unreadable. */
function mask(path: string, options: { emptyFile: string }): void {
  const kind = kindOf(path);
  if (kind === "dir") {
    tmpfs(path, {
      mode: "000",
      sizeBytes: 4096,
      flags: MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
    });
  } else if (kind === "file") {
    bind(options.emptyFile, path, { readOnly: true });
  }
}

/**
 * Creates the mount point `target` below `root` when it is missing. That
 * works where the nearest existing directory is writable: the root's own
 * tmpfs before it turns read-only, or the job's /tmp, /var/tmp and /work;
 * a target inside a host directory must exist on the host.
 */
function ensureMountPoint(root: string, target: string, options: { directory: boolean }): void {
  const path = root + target;
  if (kindOf(path) !== "missing") return;
  try {
    Deno.mkdirSync(parentOf(path), { recursive: true, mode: 0o755 });
    if (options.directory) Deno.mkdirSync(path, { mode: 0o755 });
    else Deno.writeFileSync(path, new Uint8Array(), { mode: 0o444 });
  } catch (err) {
    throw new Error(
      `Bind target ${target} does not exist in the job's view and cannot be made there: ${
        (err as Error).message
      }`,
    );
  }
}

/** The top-level directory `target` lies in, e.g. "opt" for /opt/tools. */
function topLevel(target: string): string {
  return target.split("/").find((p) => p !== "") ?? "";
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

/** The host's passwd/group text plus a line for `id` when the host has none. */
function withEntry(text: string, options: { id: number; line: string }): string | null {
  const has = text.split("\n").some((l) => l.split(":")[2] === String(options.id));
  if (has) return null;
  return `${text.replace(/\n?$/, "\n")}${options.line}\n`;
}

/**
 * Writes passwd and group files with an entry for the job's ids (where the
 * host has none) into `scratch`, a tmpfs; returns target → file to bind.
 */
function writeIdentityFiles(scratch: string, identity: JobIdentity): Map<string, string> {
  const binds = new Map<string, string>();
  const { uid, gid } = identity;
  const readHost = (path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return "";
    }
  };
  // The root's /etc is the host's, bound read-only: read through it.
  const passwd = withEntry(readHost(`${scratch}/../etc/passwd`), {
    id: uid,
    line: `job-${uid}:x:${uid}:${gid}:jobworker job:${JOB_WORK_DIR}:/bin/sh`,
  });
  if (passwd !== null) {
    Deno.writeTextFileSync(`${scratch}/passwd`, passwd, { mode: 0o444 });
    binds.set("/etc/passwd", `${scratch}/passwd`);
  }
  const group = withEntry(readHost(`${scratch}/../etc/group`), {
    id: gid,
    line: `job-${gid}:x:${gid}:`,
  });
  if (group !== null) {
    Deno.writeTextFileSync(`${scratch}/group`, group, { mode: 0o444 });
    binds.set("/etc/group", `${scratch}/group`);
  }
  return binds;
}

function buildDev(dev: string): void {
  tmpfs(dev, { mode: "755", sizeBytes: 64 * 1024, flags: MS_NOSUID | MS_NOEXEC });
  for (const d of JOB_DEVICES) {
    if (d.name.includes("/") || d.minor === "*") continue;
    makeCharDevice(`${dev}/${d.name}`, { major: d.major, minor: d.minor, mode: 0o666 });
    Deno.chmodSync(`${dev}/${d.name}`, 0o666); // mknod applied the umask
  }
  for (const dir of ["pts", "shm", "mqueue"]) Deno.mkdirSync(`${dev}/${dir}`, { mode: 0o755 });
  for (
    const [name, target] of [
      ["ptmx", "pts/ptmx"],
      ["fd", "/proc/self/fd"],
      ["stdin", "/proc/self/fd/0"],
      ["stdout", "/proc/self/fd/1"],
      ["stderr", "/proc/self/fd/2"],
    ] as const
  ) {
    Deno.symlinkSync(target, `${dev}/${name}`);
  }
  // newinstance: the job's own pseudo-terminals, none of the host's.
  mount(`${dev}/pts`, {
    source: "devpts",
    fstype: "devpts",
    flags: MS_NOSUID | MS_NOEXEC,
    data: "newinstance,ptmxmode=0666,mode=0620",
  });
  tmpfs(`${dev}/shm`, { mode: "1777", sizeBytes: PREPARED_TMP_BYTES });
  mount(`${dev}/mqueue`, {
    source: "mqueue",
    fstype: "mqueue",
    flags: MS_NOSUID | MS_NODEV | MS_NOEXEC,
  });
  mountSetattr(dev, MOUNT_ATTR_RDONLY);
}

function buildProc(proc: string, options: { emptyFile: string; devNull: string }): void {
  // hidepid=invisible: processes of other users (the executor is root) do not exist for the job.
  mount(proc, {
    source: "proc",
    fstype: "proc",
    flags: MS_NOSUID | MS_NODEV | MS_NOEXEC,
    data: "hidepid=invisible",
  });
  for (const name of PROC_READ_ONLY) {
    const path = `${proc}/${name}`;
    if (kindOf(path) === "missing") continue;
    mount(path, { source: path, flags: MS_BIND | MS_REC });
    mountSetattr(path, READ_ONLY | MOUNT_ATTR_NOEXEC, { recursive: true });
  }
  for (const name of PROC_MASKED_FILES) {
    const path = `${proc}/${name}`;
    // /dev/null reads as empty, like runc's masks; the bind is read-only.
    if (kindOf(path) === "file") bind(options.devNull, path, { readOnly: true });
  }
  for (const name of PROC_MASKED_DIRS) mask(`${proc}/${name}`, options);
}

function buildSys(sys: string, options: { emptyFile: string }): void {
  // A fresh sysfs shows this network namespace's devices only; no cgroupfs is mounted in it.
  mount(sys, {
    source: "sysfs",
    fstype: "sysfs",
    flags: MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
  });
  for (const name of SYS_MASKED_DIRS) mask(`${sys}/${name}`, options);
}

/** The size /tmp, /var/tmp and /dev/shm are prepared with, before the job's limit is known. */
const PREPARED_TMP_BYTES = 64 * 1024 * 1024;

/** What {@link prepareSandbox} leaves for {@link enterSandbox}. */
export interface PreparedSandbox {
  /** The new root (still below the host's root). */
  root: string;
  /** A private tmpfs at `<root>/run` for files the job's part binds from. */
  scratch: string;
  /** The tmpfs mounts whose size follows the job's memory limit. */
  sizedTmpfs: string[];
}

/**
 * The part of the sandbox every job shares, prepared before the job is
 * known (a pooled executor does it while it waits): new mount, network, UTS
 * and IPC namespaces for the executor's main thread, and the new root with
 * everything but the job's own /work, identity and sizes; `lo` up.
 *
 * Must run on the main thread, before any process is spawned. Throws a
 * SyscallError naming the call that failed.
 */
export function prepareSandbox(plan: SandboxPlan): PreparedSandbox {
  const root = plan.rootDir;
  unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC);
  mount("/", { flags: MS_REC | MS_PRIVATE });
  tmpfs(root, { mode: "755", sizeBytes: 1024 * 1024 });

  // Mount points on the root's tmpfs, while it is still writable.
  for (const name of ["dev", "proc", "sys", "tmp", JOB_WORK_DIR.slice(1)]) {
    Deno.mkdirSync(`${root}/${name}`, { mode: 0o755 });
  }
  for (const name of EMPTY_UNREADABLE) Deno.mkdirSync(`${root}/${name}`, { mode: 0o000 });

  // The host's top level, mirrored; then all of it read-only in one call.
  const hostTop = new Set<string>();
  for (const entry of Deno.readDirSync("/")) {
    if (NOT_MIRRORED.has(entry.name)) continue;
    hostTop.add(entry.name);
    const host = `/${entry.name}`;
    const target = `${root}${host}`;
    if (kindOf(target) !== "missing") continue; // e.g. the host has its own /work: ours wins
    const kind = kindOf(host);
    if (kind === "symlink") {
      Deno.symlinkSync(Deno.readLinkSync(host), target);
    } else if (kind === "dir") {
      Deno.mkdirSync(target, { mode: 0o755 });
      mount(target, { source: host, flags: MS_BIND | MS_REC });
    } else if (kind === "file") {
      Deno.writeFileSync(target, new Uint8Array(), { mode: 0o444 });
      mount(target, { source: host, flags: MS_BIND });
    }
  }
  // Binds below a top-level directory of the root's own tmpfs get their mount
  // points now, while it is writable; those below a host directory or /tmp
  // once those exist (below).
  const lateTop = new Set(["tmp", JOB_WORK_DIR.slice(1), "dev", "proc", "sys"]);
  for (const b of plan.binds) {
    const top = topLevel(b.target);
    if (!hostTop.has(top) && !lateTop.has(top)) {
      ensureMountPoint(root, b.target, { directory: kindOf(b.source) === "dir" });
    }
  }
  // The recursive binds copied the mount of `root` itself where it lies below a
  // mirrored directory: detach that copy, the job has no use for a view of itself.
  if (kindOf(`${root}${root}`) === "dir") {
    try {
      umount(`${root}${root}`, MNT_DETACH);
    } catch {
      // Not a mount point: root lies outside the mirrored directories.
    }
  }
  mountSetattr(root, READ_ONLY, { recursive: true });

  // Writable until the job's part is done: what that binds (and the masks) comes from here.
  const scratch = `${root}/run`;
  tmpfs(scratch, { mode: "700", sizeBytes: 1024 * 1024 });
  const emptyFile = `${scratch}/empty`;
  Deno.writeFileSync(emptyFile, new Uint8Array(), { mode: 0o000 });
  for (const path of plan.masks) mask(`${root}${path}`, { emptyFile });
  buildDev(`${root}/dev`);
  buildProc(`${root}/proc`, { emptyFile, devNull: `${root}/dev/null` });
  buildSys(`${root}/sys`, { emptyFile });
  const sizedTmpfs = [`${root}/tmp`, `${root}/dev/shm`];
  tmpfs(`${root}/tmp`, { mode: "1777", sizeBytes: PREPARED_TMP_BYTES });
  if (kindOf(`${root}/var/tmp`) === "dir") {
    tmpfs(`${root}/var/tmp`, { mode: "1777", sizeBytes: PREPARED_TMP_BYTES });
    sizedTmpfs.push(`${root}/var/tmp`);
  }
  for (const b of plan.binds) {
    ensureMountPoint(root, b.target, { directory: kindOf(b.source) === "dir" });
    bind(b.source, `${root}${b.target}`, { readOnly: b.readOnly });
  }
  interfaceUp("lo");
  return { root, scratch, sizedTmpfs };
}

/**
 * The job's own part, then into the sandbox: its /work, its ids in passwd
 * and group, /tmp & co. sized to its memory limit, pivot_root (the host's
 * old root detached), the hostname. Files the executor needs afterwards
 * must be opened BEFORE this: the host's paths are gone once it returns.
 */
export function enterSandbox(
  prepared: PreparedSandbox,
  job: { sandbox: JobSandbox; identity: JobIdentity; hostname: string },
): void {
  const { root, scratch } = prepared;
  for (const [target, source] of writeIdentityFiles(scratch, job.identity)) {
    if (kindOf(`${root}${target}`) === "file") bind(source, `${root}${target}`, { readOnly: true });
  }
  umount(scratch, MNT_DETACH); // what was bound from it stays; /run is the empty dir again
  for (const path of prepared.sizedTmpfs) {
    mount(path, {
      flags: MS_REMOUNT | MS_NOSUID | MS_NODEV,
      data: `size=${job.sandbox.tmpSizeBytes}`,
    });
  }
  bind(job.sandbox.workDir, `${root}${JOB_WORK_DIR}`, { readOnly: false });

  // pivot_root(".", ".") stacks the old root on the new one; detaching "." then drops it.
  chdir(root);
  pivotRoot(".", ".");
  umount(".", MNT_DETACH);
  chdir("/");
  sethostname(job.hostname);
}
