/**
 * A fake cgroupfs for tests: a temporary directory laid out like
 * /sys/fs/cgroup (v1 hierarchies or a v2 unified tree), plus the
 * {@link CgroupFsHooks} that emulate what the kernel does behind the plain
 * files: control files appear on mkdir and vanish on rmdir, a PID written to
 * `cgroup.procs` joins the cgroup (and leaves its old one), dead processes
 * drop out, `cgroup.kill` / freezing signal the members, the v1 devices
 * controller keeps its list and v2 device programs are recorded, v2's
 * `cgroup.subtree_control` rules (EBUSY while the cgroup holds processes)
 * and v1's `limit_in_bytes <= memsw.limit_in_bytes` rule are enforced.
 * Only test code imports this file.
 *
 * @module
 */
import type { CgroupFsHooks } from "../../src/cgroup/_fs.ts";

/** Options of {@link FakeCgroupTree.create}. */
export interface FakeTreeOptions {
  /** Which cgroup version to lay out. */
  version: 1 | 2;
  /** v1: mount a freezer hierarchy (default true). */
  freezer?: boolean;
  /** v1: mount a devices hierarchy (default true). */
  devices?: boolean;
  /** v1: mount cpu and cpuacct as one hierarchy "cpu,cpuacct", as most distributions do. */
  comountCpu?: boolean;
  /** v2: offer cgroup.kill (Linux 5.14+; default true). */
  cgroupKill?: boolean;
  /** v2: offer the io controller (default true). */
  io?: boolean;
  /** PIDs besides this process that live in the own cgroup (v2: blocks delegation). */
  otherMembers?: number[];
}

/** v1's "unlimited" as the kernel prints it (LONG_MAX rounded down to a page). */
const V1_UNLIMITED = "9223372036854771712";
const V2_ALL = ["cpu", "io", "memory", "pids"];

/**
 * The block-IO counters of every fake cgroup, two disks each, in both
 * versions' formats: together {@link FAKE_IO_READ_BYTES} read and
 * {@link FAKE_IO_WRITE_BYTES} written.
 */
const FAKE_BLKIO_SERVICE_BYTES = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 12288\n8:0 Async 0\n" +
  "8:0 Discard 0\n8:0 Total 12288\n8:16 Read 1024\n8:16 Write 0\n8:16 Sync 1024\n" +
  "8:16 Async 0\n8:16 Discard 0\n8:16 Total 1024\nTotal 13312\n";
const FAKE_IO_STAT = "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n" +
  "8:16 rbytes=1024 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n";
/** Bytes read in the fake IO counters (both versions). */
export const FAKE_IO_READ_BYTES = 5120;
/** Bytes written in the fake IO counters (both versions). */
export const FAKE_IO_WRITE_BYTES = 8192;

function kernelError(code: string, message: string): Error {
  return Object.assign(new Error(`${message} (fake cgroupfs)`), { code });
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** True unless /proc says the process is gone or a zombie (the kernel drops both from cgroups). */
function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

function signal(pids: Iterable<number>, sig: Deno.Signal): void {
  for (const pid of pids) {
    if (pid === Deno.pid) continue;
    try {
      Deno.kill(pid, sig);
    } catch {
      // Gone already: nothing to signal.
    }
  }
}

interface Hierarchy {
  /** Mount point below the fake root, e.g. "/sys/fs/cgroup/memory". */
  mountPoint: string;
  /** Absolute directory of the mount point in the fake tree. */
  dir: string;
  /** v1 controllers of this hierarchy; for v2 empty. */
  controllers: string[];
}

/** A fake cgroup tree in a temporary directory; see the module doc. */
export class FakeCgroupTree {
  /** The temporary directory; pass it as `root`. */
  readonly root: string;
  /** The fake `/proc/self/mountinfo` text. */
  readonly mountinfo: string;
  /** The fake `/proc/self/cgroup` text. */
  readonly selfCgroup: string;
  /** The hooks to pass as `fsHooks` (to `openCgroupDriver` of ./_detect.ts). */
  readonly hooks: CgroupFsHooks;
  /** The own cgroup directory per hierarchy mount point (v2: one entry). */
  readonly ownDirs: ReadonlyMap<string, string>;
  readonly #options: FakeTreeOptions;
  readonly #hierarchies: Hierarchy[];
  readonly #members = new Map<string, Set<number>>();
  readonly #subtree = new Map<string, Set<string>>();
  readonly #frozen = new Set<string>();
  readonly #shadow = new Map<string, string>();
  readonly #devicePrograms = new Set<string>();

  private constructor(
    root: string,
    init: {
      options: FakeTreeOptions;
      hierarchies: Hierarchy[];
      mountinfo: string;
      selfCgroup: string;
      ownDirs: Map<string, string>;
    },
  ) {
    this.root = root;
    this.#options = init.options;
    this.#hierarchies = init.hierarchies;
    this.mountinfo = init.mountinfo;
    this.selfCgroup = init.selfCgroup;
    this.ownDirs = init.ownDirs;
    // The drivers read several files at once (Promise.all); one fake kernel step at a time.
    this.hooks = {
      afterMkdir: (dir) => this.#exclusive(() => this.#populate(dir)),
      beforeRmdir: (dir) => this.#exclusive(() => this.#depopulate(dir)),
      beforeRead: () => this.#exclusive(() => this.#sync()),
      afterWrite: (file, value) => this.#exclusive(() => this.#onWrite(file, value)),
      attachDeviceProgram: (dir) => {
        if (this.#options.version !== 2) throw kernelError("EINVAL", "device programs are v2");
        this.#devicePrograms.add(dir);
      },
    };
  }

  /** The v2 cgroup directories a device program was attached to. */
  get deviceProgramDirs(): ReadonlySet<string> {
    return this.#devicePrograms;
  }

  #queue: Promise<unknown> = Promise.resolve();

  #exclusive(step: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(step);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Lays out the tree: v1 mirrors a hybrid host (own cgroup /box/own in the
   * memory hierarchy, the root elsewhere); v2 puts this process in the
   * non-root cgroup /box/own of a cgroup2 mount.
   */
  static async create(options: FakeTreeOptions): Promise<FakeCgroupTree> {
    const root = await Deno.makeTempDir({ prefix: "jobworker-fakecg-" });
    const mountLines: string[] = [
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
    ];
    const cgroupLines: string[] = [];
    const hierarchies: Hierarchy[] = [];
    const ownDirs = new Map<string, string>();
    if (options.version === 1) {
      const groups = [
        ...(options.comountCpu ? [["cpu", "cpuacct"]] : [["cpu"], ["cpuacct"]]),
        ["memory"],
        ["pids"],
        ["blkio"],
        ...(options.freezer === false ? [] : [["freezer"]]),
        ...(options.devices === false ? [] : [["devices"]]),
        ["name=systemd"],
      ];
      groups.forEach((controllers, i) => {
        const name = controllers.join(",").replace("name=", "");
        const mountPoint = `/sys/fs/cgroup/${name}`;
        mountLines.push(
          `${32 + i} 31 0:${29 + i} / ${mountPoint} rw,relatime - cgroup cgroup rw,${
            controllers.join(",")
          }`,
        );
        const own = controllers.includes("memory") ? "/box/own" : "/";
        cgroupLines.push(`${groups.length - i}:${controllers.join(",")}:${own}`);
        hierarchies.push({ mountPoint, dir: root + mountPoint, controllers });
        ownDirs.set(mountPoint, root + mountPoint + (own === "/" ? "" : own));
      });
      cgroupLines.push("0::/");
      mountLines.push("60 31 0:60 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw");
    } else {
      const mountPoint = "/sys/fs/cgroup";
      mountLines.splice(1, 1, `31 23 0:28 / ${mountPoint} rw,nosuid - cgroup2 cgroup2 rw`);
      cgroupLines.push("0::/box/own");
      hierarchies.push({ mountPoint, dir: root + mountPoint, controllers: [] });
      ownDirs.set(mountPoint, `${root}${mountPoint}/box/own`);
    }
    await Deno.mkdir(`${root}/proc/self`, { recursive: true });
    const mountinfo = mountLines.join("\n") + "\n";
    const selfCgroup = cgroupLines.join("\n") + "\n";
    await Deno.writeTextFile(`${root}/proc/self/mountinfo`, mountinfo);
    await Deno.writeTextFile(`${root}/proc/self/cgroup`, selfCgroup);

    const tree = new FakeCgroupTree(root, {
      options,
      hierarchies,
      mountinfo,
      selfCgroup,
      ownDirs,
    });
    for (const h of hierarchies) {
      if (h.controllers.includes("name=systemd")) continue;
      await Deno.mkdir(h.dir, { recursive: true });
      await tree.#populate(h.dir);
      const own = ownDirs.get(h.mountPoint) as string;
      for (let dir = h.dir; dir !== own;) {
        dir += own.slice(dir.length).match(/^\/[^/]+/)?.[0] ?? "";
        if (options.version === 2) {
          tree.#subtree.set(dirname(dir), new Set(tree.#available(dirname(dir))));
        }
        await Deno.mkdir(dir);
        await tree.#populate(dir);
      }
      const members = tree.#members.get(own) as Set<number>;
      members.add(Deno.pid);
      for (const pid of options.otherMembers ?? []) members.add(pid);
    }
    // The levels above the own cgroup have handed all controllers down (like systemd does).
    for (const [dir, set] of tree.#subtree) {
      await Deno.writeTextFile(`${dir}/cgroup.subtree_control`, [...set].sort().join(" "));
    }
    await tree.#sync();
    return tree;
  }

  /** Removes the temporary tree. */
  async cleanup(): Promise<void> {
    await Deno.remove(this.root, { recursive: true });
  }

  /** The members of cgroup `dir` as the fake kernel sees them. */
  membersOf(dir: string): number[] {
    return [...(this.#members.get(dir) ?? [])].sort((a, b) => a - b);
  }

  #hierarchyOf(path: string): Hierarchy {
    const h = this.#hierarchies.find((h) => path === h.dir || path.startsWith(`${h.dir}/`));
    if (h === undefined) throw new Error(`fake cgroupfs: ${path} is in no hierarchy`);
    return h;
  }

  #isHierarchyRoot(dir: string): boolean {
    return this.#hierarchyOf(dir).dir === dir;
  }

  /** v2: the controllers offered to `dir` (its parent's subtree_control; all at the root). */
  #available(dir: string): string[] {
    if (this.#isHierarchyRoot(dir)) {
      return V2_ALL.filter((c) => c !== "io" || this.#options.io !== false);
    }
    return [...(this.#subtree.get(dirname(dir)) ?? [])].sort();
  }

  #v2ControllerFiles(controller: string): Record<string, string> {
    switch (controller) {
      case "cpu":
        return { "cpu.max": "max 100000\n", "cpu.weight": "100\n" };
      case "memory":
        return {
          "memory.max": "max\n",
          "memory.current": "4096\n",
          "memory.peak": "8192\n",
          "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
          "memory.swap.max": "max\n",
          "memory.swap.current": "0\n",
        };
      case "pids":
        return { "pids.max": "max\n", "pids.current": "0\n" };
      case "io":
        return { "io.max": "", "io.stat": FAKE_IO_STAT };
      default:
        return {};
    }
  }

  async #populate(dir: string): Promise<void> {
    const h = this.#hierarchyOf(dir);
    const files: Record<string, string> = { "cgroup.procs": "" };
    const isRoot = this.#isHierarchyRoot(dir);
    if (this.#options.version === 2) {
      const available = this.#available(dir);
      Object.assign(files, {
        "cgroup.controllers": available.join(" ") + "\n",
        "cgroup.subtree_control": "\n",
        "cpu.stat": "usage_usec 123\nuser_usec 100\nsystem_usec 23\n",
      });
      if (!isRoot) {
        Object.assign(files, {
          "cgroup.events": "populated 0\nfrozen 0\n",
          "cgroup.freeze": "0\n",
          "cgroup.type": "domain\n",
        });
        if (this.#options.cgroupKill !== false) files["cgroup.kill"] = "";
        for (const c of available) Object.assign(files, this.#v2ControllerFiles(c));
      }
      this.#subtree.set(dir, new Set());
    } else {
      files["tasks"] = "";
      const c = h.controllers;
      if (c.includes("cpu")) {
        Object.assign(files, { "cpu.cfs_period_us": "100000\n", "cpu.cfs_quota_us": "-1\n" });
      }
      if (c.includes("cpuacct")) files["cpuacct.usage"] = "123000\n";
      if (c.includes("memory")) {
        Object.assign(files, {
          "memory.limit_in_bytes": `${V1_UNLIMITED}\n`,
          "memory.memsw.limit_in_bytes": `${V1_UNLIMITED}\n`,
          "memory.usage_in_bytes": "4096\n",
          "memory.max_usage_in_bytes": "8192\n",
          "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        });
      }
      if (c.includes("pids") && !isRoot) {
        Object.assign(files, { "pids.max": "max\n", "pids.current": "0\n" });
      }
      if (c.includes("blkio")) {
        Object.assign(files, {
          "blkio.throttle.read_bps_device": "",
          "blkio.throttle.write_bps_device": "",
          // A cgroup without child cgroups: its own figures are its recursive ones.
          "blkio.throttle.io_service_bytes": FAKE_BLKIO_SERVICE_BYTES,
          "blkio.throttle.io_service_bytes_recursive": FAKE_BLKIO_SERVICE_BYTES,
        });
      }
      if (c.includes("freezer") && !isRoot) files["freezer.state"] = "THAWED\n";
      if (c.includes("devices")) {
        // A new cgroup inherits its parent's list; the root allows everything.
        const parentList = isRoot ? "a *:* rwm\n" : await Deno.readTextFile(
          `${dirname(dir)}/devices.list`,
        ).catch(() => "a *:* rwm\n");
        Object.assign(files, {
          "devices.allow": "",
          "devices.deny": "",
          "devices.list": parentList,
        });
      }
    }
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    this.#members.set(dir, new Set());
  }

  async #subdirs(dir: string): Promise<string[]> {
    const out: string[] = [];
    for await (const e of Deno.readDir(dir)) if (e.isDirectory) out.push(`${dir}/${e.name}`);
    return out;
  }

  /** Like the kernel, refuses to remove a cgroup with members or children; else drops its files. */
  async #depopulate(dir: string): Promise<void> {
    await this.#sync();
    try {
      await Deno.lstat(dir);
    } catch {
      return;
    }
    if ((this.#members.get(dir)?.size ?? 0) > 0 || (await this.#subdirs(dir)).length > 0) {
      throw kernelError("EBUSY", `Device or resource busy: ${dir}`);
    }
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile) await Deno.remove(`${dir}/${e.name}`);
    }
    this.#members.delete(dir);
    this.#subtree.delete(dir);
    this.#frozen.delete(dir);
  }

  #subtreeCount(dir: string): number {
    let n = 0;
    for (const [d, m] of this.#members) if (d === dir || d.startsWith(`${dir}/`)) n += m.size;
    return n;
  }

  /** Drops dead members and rewrites every derived file (procs lists, counters, events). */
  async #sync(): Promise<void> {
    for (const set of this.#members.values()) {
      for (const pid of set) if (pid !== Deno.pid && !isAlive(pid)) set.delete(pid);
    }
    for (const [dir, set] of this.#members) {
      // Replace, never truncate in place: a driver may be reading the file right now.
      const write = async (name: string, text: string) => {
        const path = `${dir}/${name}`;
        try {
          if ((await Deno.readTextFile(path)) === text) return;
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) return;
          throw e;
        }
        await Deno.writeTextFile(`${path}.fake-tmp`, text);
        await Deno.rename(`${path}.fake-tmp`, path);
      };
      const list = [...set].sort((a, b) => a - b).map((p) => `${p}\n`).join("");
      await write("cgroup.procs", list);
      await write("tasks", list);
      const count = this.#subtreeCount(dir);
      await write("pids.current", `${count}\n`);
      if (this.#options.version === 2 && !this.#isHierarchyRoot(dir)) {
        await write(
          "cgroup.events",
          `populated ${count > 0 ? 1 : 0}\nfrozen ${this.#frozen.has(dir) ? 1 : 0}\n`,
        );
      }
    }
  }

  async #restore(file: string, text: string): Promise<void> {
    await Deno.writeTextFile(file, text);
  }

  async #onWrite(file: string, value: string): Promise<void> {
    const dir = dirname(file);
    const name = basename(file);
    const v = value.trim();
    switch (name) {
      case "cgroup.procs":
      case "tasks":
        return await this.#join(dir, Number(v));
      case "cgroup.subtree_control":
        return await this.#subtreeControl(dir, v);
      case "cgroup.kill":
        await Deno.writeTextFile(file, "");
        if (v === "1") signal(this.#membersBelow(dir), "SIGKILL");
        return;
      case "cgroup.freeze":
      case "freezer.state": {
        const freeze = v === "1" || v === "FROZEN";
        if (freeze) this.#frozen.add(dir);
        else this.#frozen.delete(dir);
        signal(this.#membersBelow(dir), freeze ? "SIGSTOP" : "SIGCONT");
        if (name === "freezer.state") await Deno.writeTextFile(file, `${v}\n`);
        return await this.#sync();
      }
      case "memory.limit_in_bytes":
      case "memory.memsw.limit_in_bytes":
        return await this.#memoryLimit(file, v);
      case "devices.deny":
      case "devices.allow":
        return await this.#deviceRule(dir, { allow: name === "devices.allow", rule: v });
      case "blkio.throttle.read_bps_device":
      case "blkio.throttle.write_bps_device":
      case "io.max":
        return await this.#ioRule(file, v);
      default:
        await Deno.writeTextFile(file, `${v}\n`);
    }
  }

  /** v1 devices: "a" on deny empties the list; an allow line is appended to it. */
  async #deviceRule(dir: string, change: { allow: boolean; rule: string }): Promise<void> {
    const listFile = `${dir}/devices.list`;
    const list = (await Deno.readTextFile(listFile)).split("\n").filter((l) => l !== "");
    let next: string[];
    if (!change.allow) {
      if (change.rule !== "a") throw kernelError("EINVAL", "the fake only supports deny a");
      next = [];
    } else {
      next = [...list.filter((l) => l !== change.rule), change.rule];
    }
    await Deno.writeTextFile(listFile, next.map((l) => `${l}\n`).join(""));
  }

  #membersBelow(dir: string): number[] {
    const out: number[] = [];
    for (const [d, m] of this.#members) if (d === dir || d.startsWith(`${dir}/`)) out.push(...m);
    return out;
  }

  async #join(dir: string, pid: number): Promise<void> {
    const set = this.#members.get(dir);
    const before = [...(set ?? [])].map((p) => `${p}\n`).join("");
    if (set === undefined) throw kernelError("ENOENT", `No such cgroup ${dir}`);
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) {
      await this.#restore(`${dir}/cgroup.procs`, before);
      throw kernelError("ESRCH", `No such process ${pid}`);
    }
    if (
      this.#options.version === 2 && !this.#isHierarchyRoot(dir) &&
      (this.#subtree.get(dir)?.size ?? 0) > 0
    ) {
      await this.#restore(`${dir}/cgroup.procs`, before);
      throw kernelError("EBUSY", `Device or resource busy: ${dir} distributes controllers`);
    }
    const h = this.#hierarchyOf(dir);
    for (const [d, m] of this.#members) if (this.#hierarchyOf(d) === h) m.delete(pid);
    set.add(pid);
    if (pid === Deno.pid) await this.#writeSelfCgroup();
    await this.#sync();
  }

  /** Rewrites the fake /proc/self/cgroup from where this process now is. */
  async #writeSelfCgroup(): Promise<void> {
    const lines = this.selfCgroup.split("\n").filter((l) => l !== "").map((line) => {
      const [id, controllers] = line.split(":");
      const h = this.#options.version === 2
        ? this.#hierarchies[0]
        : this.#hierarchies.find((h) => h.controllers.join(",") === controllers);
      if (h === undefined) return line;
      for (const [dir, m] of this.#members) {
        if (m.has(Deno.pid) && this.#hierarchyOf(dir) === h) {
          return `${id}:${controllers}:${dir.slice(h.dir.length) || "/"}`;
        }
      }
      return line;
    });
    await Deno.writeTextFile(`${this.root}/proc/self/cgroup`, lines.join("\n") + "\n");
  }

  async #subtreeControl(dir: string, value: string): Promise<void> {
    const current = this.#subtree.get(dir) ?? new Set<string>();
    const file = `${dir}/cgroup.subtree_control`;
    const next = new Set(current);
    const fail = async (code: string, message: string) => {
      await this.#restore(file, [...current].sort().join(" ") + "\n");
      throw kernelError(code, message);
    };
    for (const token of value.split(/\s+/).filter((t) => t !== "")) {
      const c = token.slice(1);
      if (token.startsWith("+")) {
        if (!this.#available(dir).includes(c)) {
          return await fail("ENOENT", `No such file or directory: ${c} not in cgroup.controllers`);
        }
        next.add(c);
      } else if (token.startsWith("-")) {
        for (const child of await this.#subdirs(dir)) {
          if (this.#subtree.get(child)?.has(c)) {
            return await fail("EBUSY", `Device or resource busy: ${child} still enables ${c}`);
          }
        }
        next.delete(c);
      } else {
        return await fail("EINVAL", `Invalid argument: ${token}`);
      }
    }
    const adds = [...next].some((c) => !current.has(c));
    if (adds && !this.#isHierarchyRoot(dir) && (this.#members.get(dir)?.size ?? 0) > 0) {
      return await fail("EBUSY", `Device or resource busy: ${dir} holds processes`);
    }
    this.#subtree.set(dir, next);
    await this.#restore(file, [...next].sort().join(" ") + "\n");
    // Children's interface files follow the parent's subtree_control, as in the kernel.
    for (const child of await this.#subdirs(dir)) {
      await Deno.writeTextFile(`${child}/cgroup.controllers`, [...next].sort().join(" ") + "\n");
      for (const c of V2_ALL) {
        for (const [f, text] of Object.entries(this.#v2ControllerFiles(c))) {
          const path = `${child}/${f}`;
          if (next.has(c) && !current.has(c)) await Deno.writeTextFile(path, text);
          if (!next.has(c) && current.has(c)) await Deno.remove(path).catch(() => {});
        }
      }
    }
  }

  async #memoryLimit(file: string, value: string): Promise<void> {
    const dir = dirname(file);
    const limitFile = `${dir}/memory.limit_in_bytes`;
    const memswFile = `${dir}/memory.memsw.limit_in_bytes`;
    const before = this.#shadow.get(file) ?? V1_UNLIMITED;
    const n = value === "-1" ? V1_UNLIMITED : value;
    if (!/^\d+$/.test(n)) {
      await this.#restore(file, `${before}\n`);
      throw kernelError("EINVAL", `Invalid argument: ${value}`);
    }
    const limit = BigInt(file === limitFile ? n : this.#shadow.get(limitFile) ?? V1_UNLIMITED);
    const memsw = BigInt(file === memswFile ? n : this.#shadow.get(memswFile) ?? V1_UNLIMITED);
    if (limit > memsw) {
      await this.#restore(file, `${before}\n`);
      throw kernelError("EINVAL", `Invalid argument: memory.limit_in_bytes > memsw limit`);
    }
    this.#shadow.set(file, n);
    await this.#restore(file, `${n}\n`);
  }

  /** Keeps one rule per device like the kernel; v1 "N 0" and v2 all-"max" remove the rule. */
  async #ioRule(file: string, value: string): Promise<void> {
    const [dev, ...rest] = value.split(/\s+/);
    const rules = new Map<string, string>();
    for (const line of (this.#shadow.get(file) ?? "").split("\n")) {
      const [d, ...r] = line.split(" ");
      if (d !== undefined && d !== "") rules.set(d, r.join(" "));
    }
    if (dev === undefined || !/^\d+:\d+$/.test(dev)) {
      await this.#restore(file, this.#shadow.get(file) ?? "");
      throw kernelError("EINVAL", `Invalid argument: ${value}`);
    }
    if (basename(file) === "io.max") {
      const keys = new Map<string, string>(
        ["rbps", "wbps", "riops", "wiops"].map((k) => [k, "max"]),
      );
      for (const kv of (rules.get(dev) ?? "").split(" ").concat(rest)) {
        const [k, v] = kv.split("=");
        if (k !== undefined && v !== undefined && keys.has(k)) keys.set(k, v);
      }
      const text = [...keys].map(([k, v]) => `${k}=${v}`).join(" ");
      if ([...keys.values()].every((v) => v === "max")) rules.delete(dev);
      else rules.set(dev, text);
    } else if (rest[0] === "0") {
      rules.delete(dev);
    } else {
      rules.set(dev, rest.join(" "));
    }
    const text = [...rules].map(([d, r]) => `${d} ${r}\n`).join("");
    this.#shadow.set(file, text);
    await this.#restore(file, text);
  }
}
