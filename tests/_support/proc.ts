/**
 * What this host's /proc says: mounts, this process's cgroups, other
 * processes, open file descriptors, and the disk behind a device. All read
 * and parsed here, independently of src/, so that a bug there cannot hide
 * itself from the tests that check it.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { exists } from "./fs.ts";

/** One line of /proc/self/mountinfo, the fields the tests look at. */
export interface MountLine {
  /** The mount's root within its filesystem (a cgroup path for cgroup mounts). */
  root: string;
  /** Where it is mounted, with the kernel's octal escapes (`\040`…) decoded. */
  mountPoint: string;
  /** The device, `MAJ:MIN`. */
  dev: string;
  /** The file system type, e.g. `ext4`, `cgroup2`. */
  fsType: string;
  /** Per-superblock options (for cgroup v1: the controllers of the hierarchy). */
  superOptions: string[];
}

/** This process's mounts, in /proc/self/mountinfo order (later mounts on a path last). */
export async function mountinfo(): Promise<MountLine[]> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  const mounts: MountLine[] = [];
  for (const line of text.split("\n")) {
    // Optional fields make the head's length vary; " - " separates it from the tail.
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const head = line.slice(0, sep).split(" ");
    const tail = line.slice(sep + 3).split(" ");
    mounts.push({
      dev: head[2] ?? "",
      root: head[3] ?? "",
      mountPoint: (head[4] ?? "").replace(
        /\\([0-7]{3})/g,
        (_, o: string) => String.fromCharCode(parseInt(o, 8)),
      ),
      fsType: tail[0] ?? "",
      superOptions: (tail[2] ?? "").split(","),
    });
  }
  return mounts;
}

/**
 * This process's own cgroup directory in every mounted hierarchy (v1 and
 * v2), from /proc/self/cgroup and /proc/self/mountinfo.
 */
export async function ownCgroupDirs(): Promise<string[]> {
  const mounts = (await mountinfo()).filter((m) => m.fsType === "cgroup" || m.fsType === "cgroup2");
  const dirs: string[] = [];
  for (const line of (await Deno.readTextFile("/proc/self/cgroup")).split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m === null) continue;
    const controllers = m[1]!.split(",").filter((c) => c !== "");
    const path = m[2]!;
    const mount = controllers.length === 0
      ? mounts.find((x) => x.fsType === "cgroup2")
      : mounts.find((x) =>
        x.fsType === "cgroup" && controllers.every((c) => x.superOptions.includes(c))
      );
    if (mount === undefined) continue;
    // In a cgroup namespace or a bind mount of a subtree, the mount's root
    // is a prefix of the path that the mount point already stands for.
    const rel = mount.root !== "/" && path.startsWith(mount.root)
      ? path.slice(mount.root.length)
      : path;
    dirs.push(join(mount.mountPoint, rel));
  }
  return dirs;
}

/** The PIDs of a `cgroup.procs` (or `tasks`) file's text. */
export function parsePidList(text: string): number[] {
  return text.split("\n").filter((line) => line.trim() !== "").map(Number);
}

/**
 * The PIDs of the processes (this one excepted) for which `matches` holds,
 * ascending. A process that ends while `matches` looks at it (its /proc
 * files vanish, so `matches` throws) does not match.
 */
export async function findProcesses(
  matches: (pid: number) => boolean | Promise<boolean>,
): Promise<number[]> {
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    if (pid === Deno.pid) continue;
    try {
      if (await matches(pid)) found.push(pid);
    } catch {
      // The process ended while we looked, or is not ours to look at.
    }
  }
  return found.sort((a, b) => a - b);
}

/** PIDs of the direct children of `pid` (from /proc/<n>/stat). */
export function childrenOf(pid: number): Promise<number[]> {
  return findProcesses(async (candidate) => {
    const stat = await Deno.readTextFile(`/proc/${candidate}/stat`);
    // The command name in parentheses may hold spaces; fields follow the last ")".
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid;
  });
}

/**
 * PIDs of processes whose command line matches `pattern`, like `pgrep -f`
 * but read from /proc directly: the VM's busybox has no pgrep.
 */
export function pgrep(pattern: string): Promise<number[]> {
  const re = new RegExp(pattern);
  return findProcesses(async (pid) => {
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
    return re.test(cmdline.replaceAll("\0", " ").trimEnd());
  });
}

/** PIDs of the processes that hold a file descriptor into `dir` (this process excepted). */
export function processesUsing(dir: string): Promise<number[]> {
  return findProcesses(async (pid) => {
    for await (const fd of Deno.readDir(`/proc/${pid}/fd`)) {
      const target = await Deno.readLink(`/proc/${pid}/fd/${fd.name}`).catch(() => "");
      if (target.startsWith(dir + "/")) return true;
    }
    return false;
  });
}

/** One open file descriptor of this process. */
export interface OpenFd {
  /** The descriptor's number. */
  fd: number;
  /** What it points to: a path, or `pipe:[…]`, `anon_inode:inotify`… */
  target: string;
}

/**
 * This process's open file descriptors, looked at asynchronously: the
 * event loop runs on while it reads /proc/self/fd (the job and server
 * suites' fd checks were written, and timed, with this one).
 */
export async function openFds(): Promise<OpenFd[]> {
  const fds: OpenFd[] = [];
  for await (const entry of Deno.readDir("/proc/self/fd")) {
    try {
      fds.push({
        fd: Number(entry.name),
        target: await Deno.readLink(`/proc/self/fd/${entry.name}`),
      });
    } catch {
      // Closed meanwhile (e.g. the fd of the directory listing itself).
    }
  }
  return fds;
}

/**
 * {@linkcode openFds}, synchronously: one moment's picture, with nothing
 * else in this process running while it is taken (what the output module's
 * tests assert on, right after a reader opens or closes its file).
 */
export function openFdsSync(): OpenFd[] {
  const fds: OpenFd[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      fds.push({
        fd: Number(entry.name),
        target: Deno.readLinkSync(`/proc/self/fd/${entry.name}`),
      });
    } catch {
      // Closed meanwhile (e.g. the fd of the directory listing itself).
    }
  }
  return fds;
}

/** How many file descriptors this process has open now. */
export function fdCount(): number {
  return openFdsSync().length;
}

/** The targets of this process's open file descriptors that point into `dir`. */
function targetsInto(fds: readonly OpenFd[], dir: string): string[] {
  return fds.map((f) => f.target).filter((target) => target.startsWith(dir + "/"));
}

/** This process's open file descriptors that point into `dir`: their targets. */
export async function fdsInto(dir: string): Promise<string[]> {
  return targetsInto(await openFds(), dir);
}

/** How many of this process's open file descriptors point into `dir` now (see openFdsSync). */
export function fdsUnder(dir: string): number {
  return targetsInto(openFdsSync(), dir).length;
}

/**
 * Inotify watches this process holds on the file at `path` (from
 * /proc/self/fdinfo): a waiting output reader keeps one on the job's output
 * file; none must be left once no reader waits.
 */
export async function inotifyWatchesOn(path: string): Promise<number> {
  const ino = (await Deno.stat(path)).ino!.toString(16);
  let count = 0;
  for (const { fd, target } of await openFds()) {
    if (target !== "anon_inode:inotify") continue;
    try {
      const info = await Deno.readTextFile(`/proc/self/fdinfo/${fd}`);
      count += info.split("\n")
        .filter((l) => l.startsWith("inotify ") && l.includes(` ino:${ino} `)).length;
    } catch {
      // Closed meanwhile.
    }
  }
  return count;
}

/**
 * The whole disk ("MAJ:MIN") of block device `dev`, through /sys/dev/block:
 * the device itself, or the disk a partition belongs to; null when sysfs
 * knows no such block device.
 */
export async function wholeDiskOfDevice(dev: string): Promise<string | null> {
  const sys = `/sys/dev/block/${dev}`;
  if (!(await exists(sys))) return null;
  if (!(await exists(join(sys, "partition")))) return dev;
  return (await Deno.readTextFile(join(dirname(await Deno.realPath(sys)), "dev"))).trim();
}
