import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { detectCgroupLayout, openCgroupDriver, resolveCgroupLayout } from "./_detect.ts";
import {
  type MountInfo,
  parseMountinfo,
  parseProcCgroup,
  readMountinfo,
  readSelfCgroup,
} from "./_proc.ts";
import { FakeCgroupTree } from "../../tests/cgroup/_fake_cgroupfs.ts";

/** This development VM: v1 "hybrid", memory nested under /process_api, cgroup2 without controllers. */
const HYBRID_MOUNTINFO = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HYBRID_SELF = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/93482e79
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`;

/** A systemd distribution of the v1 era: cpu and cpuacct co-mounted, optional fields present. */
const COMOUNT_MOUNTINFO = `25 0 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw,errors=remount-ro
30 24 0:26 / /sys/fs/cgroup rw,nosuid shared:9 - tmpfs tmpfs ro,mode=755
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct
35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid shared:16 - cgroup cgroup rw,memory
36 30 0:32 / /sys/fs/cgroup/pids rw,nosuid shared:17 - cgroup cgroup rw,pids
37 30 0:33 / /sys/fs/cgroup/blkio rw,nosuid shared:18 - cgroup cgroup rw,blkio
`;
const COMOUNT_SELF = `5:blkio:/system.slice/jobworker.service
4:pids:/system.slice/jobworker.service
3:memory:/system.slice/jobworker.service
2:cpu,cpuacct:/system.slice/jobworker.service
0::/system.slice/jobworker.service
`;

/** A current systemd distribution: unified hierarchy only. */
const UNIFIED_MOUNTINFO = `25 0 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw
30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
`;
const UNIFIED_CONTROLLERS = ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"];

function layoutOf(
  mountinfo: string,
  self: string,
  options: { v2Controllers?: string[] } = {},
) {
  const v2Controllers = options.v2Controllers ?? null;
  return resolveCgroupLayout({
    mounts: parseMountinfo(mountinfo),
    selfCgroup: parseProcCgroup(self),
    v2Controllers,
  });
}

Deno.test("parseMountinfo reads every field, skips optional fields, decodes escapes", () => {
  const mounts = parseMountinfo(
    COMOUNT_MOUNTINFO + "40 25 8:17 /sub /mnt/with\\040space rw master:3 - xfs /dev/sdb1 rw\n" +
      "garbage line\n",
  );
  assertEquals(mounts.length, 7);
  const cpu = mounts[2] as MountInfo;
  assertEquals(cpu, {
    id: 34,
    parentId: 30,
    major: 0,
    minor: 30,
    root: "/",
    mountPoint: "/sys/fs/cgroup/cpu,cpuacct",
    options: ["rw", "nosuid"],
    fsType: "cgroup",
    source: "cgroup",
    superOptions: ["rw", "cpu", "cpuacct"],
  });
  const spaced = mounts[6] as MountInfo;
  assertEquals(spaced.mountPoint, "/mnt/with space");
  assertEquals(spaced.root, "/sub");
  assertEquals([spaced.major, spaced.minor, spaced.fsType, spaced.source], [
    8,
    17,
    "xfs",
    "/dev/sdb1",
  ]);
});

Deno.test("parseProcCgroup splits the three fields; v2 has no controllers; ':' in paths survives", () => {
  const entries = parseProcCgroup(HYBRID_SELF + "10:rdma:/odd:name\n");
  assertEquals(entries[0], { hierarchyId: 9, controllers: ["name=systemd"], path: "/" });
  assertEquals(entries[5], {
    hierarchyId: 4,
    controllers: ["memory"],
    path: "/process_api/93482e79",
  });
  assertEquals(entries[9], { hierarchyId: 0, controllers: [], path: "/" });
  assertEquals(entries[10]?.path, "/odd:name");
  assertEquals(parseProcCgroup(COMOUNT_SELF)[3]?.controllers, ["cpu", "cpuacct"]);
});

Deno.test("resolveCgroupLayout: hybrid host with cgroup2 but no controllers there is v1", () => {
  const layout = layoutOf(HYBRID_MOUNTINFO, HYBRID_SELF, { v2Controllers: ["hugetlb"] });
  assertEquals(layout, {
    version: 1,
    ownDirs: {
      cpu: "/sys/fs/cgroup/cpu",
      cpuacct: "/sys/fs/cgroup/cpuacct",
      memory: "/sys/fs/cgroup/memory/process_api/93482e79",
      pids: "/sys/fs/cgroup/pids",
      blkio: "/sys/fs/cgroup/blkio",
      freezer: "/sys/fs/cgroup/freezer",
      devices: "/sys/fs/cgroup/devices",
    },
  });
});

Deno.test("resolveCgroupLayout: co-mounted cpu,cpuacct share one directory; no freezer", () => {
  const layout = layoutOf(COMOUNT_MOUNTINFO, COMOUNT_SELF);
  assert(layout.version === 1);
  const own = "/system.slice/jobworker.service";
  assertEquals(layout.ownDirs.cpu, `/sys/fs/cgroup/cpu,cpuacct${own}`);
  assertEquals(layout.ownDirs.cpuacct, layout.ownDirs.cpu);
  assertEquals(layout.ownDirs.freezer, null);
  assertEquals(layout.ownDirs.blkio, `/sys/fs/cgroup/blkio${own}`);
});

Deno.test("resolveCgroupLayout: unified hierarchy with cpu, memory, pids is v2", () => {
  const layout = layoutOf(
    UNIFIED_MOUNTINFO,
    "0::/system.slice/jobworker.service\n",
    { v2Controllers: UNIFIED_CONTROLLERS },
  );
  assertEquals(layout, {
    version: 2,
    mountPoint: "/sys/fs/cgroup",
    ownDir: "/sys/fs/cgroup/system.slice/jobworker.service",
    controllers: UNIFIED_CONTROLLERS,
  });
  const atRoot = resolveCgroupLayout({
    mounts: parseMountinfo(UNIFIED_MOUNTINFO),
    selfCgroup: parseProcCgroup("0::/\n"),
    v2Controllers: UNIFIED_CONTROLLERS,
  }, { root: "/tmp/fake/" });
  assert(atRoot.version === 2);
  assertEquals(atRoot.ownDir, "/tmp/fake/sys/fs/cgroup");
  assertEquals(atRoot.mountPoint, atRoot.ownDir);
});

Deno.test("resolveCgroupLayout: v1 hierarchies for the controllers win over cgroup2", () => {
  // cgroup2 claims the controllers but memory is bound to v1: a mixed setup, so v1 decides.
  const layout = layoutOf(COMOUNT_MOUNTINFO + UNIFIED_MOUNTINFO.split("\n")[1], COMOUNT_SELF, {
    v2Controllers: [
      "cpu",
      "memory",
      "pids",
    ],
  });
  assertEquals(layout.version, 1);
});

Deno.test("resolveCgroupLayout: explains what is missing", () => {
  const noPids = HYBRID_MOUNTINFO.split("\n").filter((l) => !l.includes("rw,pids")).join("\n");
  const e = assertThrows(
    () => layoutOf(noPids, HYBRID_SELF, { v2Controllers: ["hugetlb"] }),
    Error,
  );
  assertStringIncludes(String(e), "lack");
  assertStringIncludes(String(e), "pids");
  assertStringIncludes(String(e), "cgroup2 at /sys/fs/cgroup/unified offers [hugetlb]");
  assertThrows(
    () => layoutOf("27 1 254:0 / / rw - ext4 /dev/vda rw\n", "0::/\n"),
    Error,
    "no cgroup2 is mounted",
  );
});

Deno.test("resolveCgroupLayout: a mount showing a sub-tree maps paths inside it, rejects others", () => {
  const mountinfo = "50 40 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
    "51 40 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n" +
    "52 40 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n" +
    "53 40 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
  const self = (memory: string) => `4:memory:${memory}\n3:pids:/\n2:cpuacct:/\n1:cpu:/\n`;
  const inside = layoutOf(mountinfo, self("/docker/abc"));
  assert(inside.version === 1);
  assertEquals(inside.ownDirs.memory, "/sys/fs/cgroup/memory");
  const below = layoutOf(mountinfo, self("/docker/abc/worker"));
  assert(below.version === 1);
  assertEquals(below.ownDirs.memory, "/sys/fs/cgroup/memory/worker");
  assertThrows(
    () => layoutOf(mountinfo, self("/docker/other")),
    Error,
    "Cannot locate this process's cgroup /docker/other",
  );
});

Deno.test("openCgroupDriver (behind detectCgroupDriver) rejects bad parents with a TypeError before touching anything", async () => {
  // The root does not exist: any file access would fail with NotFound instead.
  const root = "/nonexistent/jobworker-detect-test";
  for (const parent of ["/abs", "../up", "a/../b", "a//b", "a/./b", "", "trailing/", "."]) {
    await assertRejects(
      () => openCgroupDriver({ parent, root }),
      TypeError,
      "Invalid cgroup parent",
    );
  }
});

Deno.test("readers and detectCgroupLayout honour the root prefix", async () => {
  const fake = await FakeCgroupTree.create({ version: 1 });
  try {
    assertEquals(await readMountinfo({ root: fake.root }), fake.mountinfo);
    assertEquals(await readSelfCgroup({ root: fake.root }), fake.selfCgroup);
    const layout = await detectCgroupLayout({ root: fake.root });
    assert(layout.version === 1);
    assertEquals(layout.ownDirs.memory, fake.ownDirs.get("/sys/fs/cgroup/memory"));
    assertEquals(layout.ownDirs.cpu, `${fake.root}/sys/fs/cgroup/cpu`);
    // Texts passed in take precedence over the files: here a cgroup2 mount whose root has no
    // cgroup.controllers file in the fake tree, so nothing is usable.
    await assertRejects(
      () =>
        detectCgroupLayout({
          root: fake.root,
          mountinfo: "31 23 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
          selfCgroup: "0::/\n",
        }),
      Error,
      "cgroup2 at /sys/fs/cgroup offers []",
    );
  } finally {
    await fake.cleanup();
  }
});

Deno.test("detectCgroupLayout on this host agrees with /proc/self/cgroup", async () => {
  const self = parseProcCgroup(await Deno.readTextFile("/proc/self/cgroup"));
  const layout = await detectCgroupLayout();
  if (layout.version === 1) {
    const memory = self.find((e) => e.controllers.includes("memory"));
    assert(memory !== undefined);
    assert(layout.ownDirs.memory.endsWith(memory.path === "/" ? "" : memory.path));
    assert((await Deno.stat(`${layout.ownDirs.memory}/cgroup.procs`)).isFile);
    const procs = await Deno.readTextFile(`${layout.ownDirs.memory}/cgroup.procs`);
    assert(
      procs.split("\n").includes(String(Deno.pid)),
      "this process is in its own memory cgroup",
    );
  } else {
    const entry = self.find((e) => e.hierarchyId === 0);
    assert(entry !== undefined);
    assert(layout.ownDir.endsWith(entry.path === "/" ? "" : entry.path));
  }
});
