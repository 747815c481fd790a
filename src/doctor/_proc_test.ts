import { assert, assertEquals } from "@std/assert";
import {
  cgroupDirIn,
  hasCap,
  kernelAtLeast,
  mountOf,
  parseCapMask,
  parseIdFile,
  parseIds,
  parseKernelRelease,
  parseMountinfo,
  parseProcCgroup,
  parseStat,
  parseStatus,
} from "./_proc.ts";

const STATUS = `Name:\tdeno
Umask:\t0022
State:\tS (sleeping)
Uid:\t0\t0\t0\t0
Gid:\t0\t0\t0\t0
NoNewPrivs:\t0
Seccomp:\t0
Seccomp_filters:\t0
CapInh:\t0000000000000000
CapPrm:\t000001fffeffffff
CapEff:\t000001fffeffffff
CapBnd:\t000001ffffffffff
`;

Deno.test("parseStatus reads every Name: value line", () => {
  const status = parseStatus(STATUS);
  assertEquals(status.get("Name"), "deno");
  assertEquals(status.get("State"), "S (sleeping)");
  assertEquals(status.get("CapEff"), "000001fffeffffff");
  assertEquals(status.get("Seccomp"), "0");
  assertEquals(parseIds(status.get("Uid")), [0, 0, 0, 0]);
  assertEquals(parseIds("1000\t61184\t0\t61184"), [1000, 61184, 0, 61184]);
  assertEquals(parseIds(undefined), []);
});

Deno.test("parseCapMask and hasCap: CAP_SYS_RESOURCE (24) missing from a real mask", () => {
  const mask = parseCapMask("000001fffeffffff")!;
  assert(hasCap(mask, 21)); // CAP_SYS_ADMIN
  assert(!hasCap(mask, 24)); // CAP_SYS_RESOURCE
  assert(hasCap(mask, 40));
  assert(!hasCap(mask, 41));
  assertEquals(parseCapMask("0000000000000000"), 0n);
  assertEquals(parseCapMask(undefined), null);
  assertEquals(parseCapMask("xyz"), null);
});

const MOUNTINFO = [
  "22 27 0:21 / /proc rw,relatime shared:12 - proc proc rw,hidepid=invisible",
  "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard",
  "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct",
  "35 31 0:32 / /sys/fs/cgroup/memory ro,relatime master:3 - cgroup cgroup rw,memory",
  "41 31 0:38 /system.slice /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate",
  "50 27 0:40 / /srv/my\\040data rw - tmpfs tmpfs rw",
  "51 27 0:41 / /srv/my\\040data rw - nfs4 host:/export rw,vers=4.2",
  "garbage line",
].join("\n");

Deno.test("parseMountinfo: optional fields, escapes, per-mount and per-superblock options", () => {
  const mounts = parseMountinfo(MOUNTINFO);
  assertEquals(mounts.length, 8);
  assertEquals(mounts[0], {
    dev: "0:21",
    root: "/",
    mountPoint: "/proc",
    mountOptions: ["rw", "relatime"],
    fsType: "proc",
    source: "proc",
    superOptions: ["rw", "hidepid=invisible"],
  });
  assertEquals(mounts[4]!.mountOptions[0], "ro");
  assertEquals(mounts[4]!.superOptions, ["rw", "memory"]);
  assertEquals(mounts[6]!.mountPoint, "/srv/my data");
});

Deno.test("mountOf: the longest mount point holding the path, the last of equals", () => {
  const mounts = parseMountinfo(MOUNTINFO);
  assertEquals(mountOf("/work/main/data", mounts)?.fsType, "ext4");
  assertEquals(mountOf("/", mounts)?.fsType, "ext4");
  assertEquals(mountOf("/proc", mounts)?.fsType, "proc");
  assertEquals(mountOf("/procfs", mounts)?.fsType, "ext4");
  assertEquals(mountOf("/srv/my data/jobs", mounts)?.fsType, "nfs4");
  assertEquals(mountOf("/x", []), null);
});

Deno.test("parseProcCgroup and cgroupDirIn: v1 lines, the v2 line, a subtree mount", () => {
  const entries = parseProcCgroup(
    "9:name=systemd:/\n4:memory:/process_api/aa8a\n2:cpu,cpuacct:/\n0::/system.slice/x.service\n",
  );
  assertEquals(entries, [
    { id: 9, controllers: ["name=systemd"], path: "/" },
    { id: 4, controllers: ["memory"], path: "/process_api/aa8a" },
    { id: 2, controllers: ["cpu", "cpuacct"], path: "/" },
    { id: 0, controllers: [], path: "/system.slice/x.service" },
  ]);
  const mounts = parseMountinfo(MOUNTINFO);
  const memory = mounts.find((m) => m.superOptions.includes("memory"))!;
  assertEquals(cgroupDirIn(memory, "/process_api/aa8a"), "/sys/fs/cgroup/memory/process_api/aa8a");
  assertEquals(cgroupDirIn(memory, "/"), "/sys/fs/cgroup/memory");
  // The cgroup2 mount shows /system.slice only (as in a cgroup namespace).
  const unified = mounts.find((m) => m.fsType === "cgroup2")!;
  assertEquals(cgroupDirIn(unified, "/system.slice/x.service"), "/sys/fs/cgroup/unified/x.service");
  assertEquals(cgroupDirIn(unified, "/system.slice"), "/sys/fs/cgroup/unified");
  assertEquals(cgroupDirIn(unified, "/user.slice"), null);
  assertEquals(cgroupDirIn(memory, "/a/../../etc"), null);
});

Deno.test("parseKernelRelease and kernelAtLeast", () => {
  assertEquals(parseKernelRelease("6.18.44-fc-v1045"), { major: 6, minor: 18, patch: 44 });
  assertEquals(parseKernelRelease("6.1.0-56-cloud-amd64"), { major: 6, minor: 1, patch: 0 });
  assertEquals(parseKernelRelease("5.12"), { major: 5, minor: 12, patch: 0 });
  assertEquals(parseKernelRelease("unknown"), null);
  assert(kernelAtLeast({ major: 5, minor: 12 }, { major: 5, minor: 12 }));
  assert(kernelAtLeast({ major: 6, minor: 0 }, { major: 5, minor: 12 }));
  assert(!kernelAtLeast({ major: 5, minor: 11 }, { major: 5, minor: 12 }));
  assert(!kernelAtLeast({ major: 4, minor: 19 }, { major: 5, minor: 3 }));
});

Deno.test("parseIdFile reads names and ids, skipping comments and junk", () => {
  const text = "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\n" +
    "svc:x:61190:61190::/:/bin/false\nnoid:x:abc:1::/:\n";
  assertEquals(parseIdFile(text), [{ name: "root", id: 0 }, { name: "svc", id: 61190 }]);
});

Deno.test("parseStat takes the fields after the last parenthesis", () => {
  assertEquals(parseStat("1234 (sleep) S 1 1234 1234 0 -1"), { ppid: 1, comm: "sleep" });
  assertEquals(parseStat("77 (a) b) (c) R 76 77 77"), { ppid: 76, comm: "a) b) (c" });
  assertEquals(parseStat("nonsense"), null);
});
