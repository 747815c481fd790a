import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { decodeDevT, deviceNumberOf, mountOf, parseDeviceNumber, wholeDiskOf } from "./_devices.ts";
import { parseMountinfo } from "./_proc.ts";
import { runCommand } from "../../tests/_support/commands.ts";

/** glibc's makedev, written independently of the decoder under test. */
function makedev(major: number, minor: number): number {
  const M = BigInt(major);
  const m = BigInt(minor);
  return Number(
    ((M & 0xfffn) << 8n) | ((M & ~0xfffn) << 32n) | (m & 0xffn) | ((m & ~0xffn) << 12n),
  );
}

Deno.test("decodeDevT splits dev_t like glibc, including bits above 32", () => {
  assertEquals(decodeDevT(0xfe00), { major: 254, minor: 0 });
  for (const [major, minor] of [[8, 1], [259, 3], [8, 300], [4095, 1048575], [4096, 7]]) {
    assertEquals(decodeDevT(makedev(major as number, minor as number)), { major, minor });
  }
  assert(makedev(4096, 7) > 2 ** 32, "the large case really needs the high bits");
});

Deno.test("parseDeviceNumber validates MAJ:MIN", () => {
  assertEquals(parseDeviceNumber("254:0"), "254:0");
  assertEquals(parseDeviceNumber(" 8:16\n"), "8:16");
  assertEquals(parseDeviceNumber("08:01"), "8:1");
  for (const bad of ["8", "a:b", "8:0:1", "4096:0", "8:1048576", "-1:0", ""]) {
    assertThrows(() => parseDeviceNumber(bad), TypeError, "Invalid block device number");
  }
});

const MOUNTS = parseMountinfo(`27 1 254:0 / / rw - ext4 /dev/vda rw
40 27 8:1 / /data rw - ext4 /dev/sda1 rw
41 27 8:17 / /database rw - xfs /dev/sdb1 rw
42 40 0:55 / /data/overlay rw - overlay overlay rw,lowerdir=/a
43 27 0:40 / /scratch rw - tmpfs tmpfs rw
44 27 259:1 / /data rw - ext4 /dev/nvme0n1p1 rw
`);

Deno.test("mountOf picks the longest mount point on a component boundary, the last when stacked", () => {
  assertEquals(mountOf(MOUNTS, "/")?.mountPoint, "/");
  assertEquals(mountOf(MOUNTS, "/etc/hostname")?.mountPoint, "/");
  assertEquals(mountOf(MOUNTS, "/database/x")?.minor, 17);
  assertEquals(mountOf(MOUNTS, "/datax")?.mountPoint, "/");
  assertEquals(mountOf(MOUNTS, "/data/overlay/f")?.fsType, "overlay");
  // Mount 44 was stacked on /data after mount 40 and hides it.
  assertEquals(mountOf(MOUNTS, "/data/file")?.major, 259);
  assertEquals(mountOf([], "/"), null);
});

/**
 * A temporary root with /proc/self/mountinfo, /sys/dev/block links into
 * /sys/devices (sda with partition sda1, nvme0n1 with nvme0n1p1, whole disk
 * vda) and the mounted directories.
 */
async function fakeRoot(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "jobworker-devices-" });
  const mkdirs = (...dirs: string[]) =>
    Promise.all(dirs.map((d) => Deno.mkdir(`${root}${d}`, { recursive: true })));
  const write = (path: string, text: string) => Deno.writeTextFile(`${root}${path}`, text);
  await mkdirs(
    "/proc/self",
    "/sys/dev/block",
    "/sys/devices/pci0000:00/ata1/block/sda/sda1",
    "/sys/devices/pci0000:00/nvme/block/nvme0n1/nvme0n1p1",
    "/sys/devices/virtio1/block/vda",
    "/data/sub",
    "/database",
    "/scratch",
    "/overlaid",
    "/btr",
    "/dev",
  );
  await write(
    "/proc/self/mountinfo",
    `27 1 254:0 / / rw - ext4 /dev/vda rw
40 27 8:1 / /data rw - ext4 /dev/sda1 rw
41 27 259:1 / /database rw - xfs /dev/nvme0n1p1 rw
42 27 0:55 / /overlaid rw - overlay overlay rw
43 27 0:40 / /scratch rw - tmpfs tmpfs rw
45 27 0:60 / /btr rw - btrfs /dev/sdz1 rw
`,
  );
  await write("/sys/devices/pci0000:00/ata1/block/sda/dev", "8:0\n");
  await write("/sys/devices/pci0000:00/ata1/block/sda/sda1/dev", "8:1\n");
  await write("/sys/devices/pci0000:00/ata1/block/sda/sda1/partition", "1\n");
  await write("/sys/devices/pci0000:00/nvme/block/nvme0n1/dev", "259:0\n");
  await write("/sys/devices/pci0000:00/nvme/block/nvme0n1/nvme0n1p1/dev", "259:1\n");
  await write("/sys/devices/pci0000:00/nvme/block/nvme0n1/nvme0n1p1/partition", "1\n");
  await write("/sys/devices/virtio1/block/vda/dev", "254:0\n");
  // Relative links, as the kernel makes them, so they stay inside the temporary root.
  await Deno.symlink("../../devices/pci0000:00/ata1/block/sda", `${root}/sys/dev/block/8:0`);
  await Deno.symlink("../../devices/pci0000:00/ata1/block/sda/sda1", `${root}/sys/dev/block/8:1`);
  await Deno.symlink("../../devices/pci0000:00/nvme/block/nvme0n1", `${root}/sys/dev/block/259:0`);
  await Deno.symlink(
    "../../devices/pci0000:00/nvme/block/nvme0n1/nvme0n1p1",
    `${root}/sys/dev/block/259:1`,
  );
  await Deno.symlink("../../devices/virtio1/block/vda", `${root}/sys/dev/block/254:0`);
  await Deno.symlink("data/sub", `${root}/link-to-data`);
  await write("/data/sub/file", "x");
  return root;
}

Deno.test("wholeDiskOf maps a path's mount to its whole disk; no disk gives null", async () => {
  const root = await fakeRoot();
  try {
    const disk = (path: string) => wholeDiskOf(path, { root });
    assertEquals(await disk("/"), "254:0");
    assertEquals(await disk("/data/sub/file"), "8:0");
    assertEquals(await disk("/link-to-data"), "8:0", "symlinks are resolved first");
    assertEquals(await disk("/database"), "259:0");
    assertEquals(await disk("/overlaid"), null);
    assertEquals(await disk("/scratch"), null);
    await assertRejects(
      () => disk("/no/such/path"),
      Error,
      "Cannot find the disk of /no/such/path",
    );
    // A mountinfo text passed in wins over the file.
    assertEquals(
      await wholeDiskOf("/data", { root, mountinfo: "1 0 254:0 / / rw - ext4 /dev/vda rw\n" }),
      "254:0",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("deviceNumberOf accepts MAJ:MIN, maps partitions to disks, rejects the rest", async () => {
  const root = await fakeRoot();
  try {
    const dev = (name: string) => deviceNumberOf(name, { root });
    assertEquals(await dev("8:1"), "8:0");
    assertEquals(await dev("259:1"), "259:0");
    assertEquals(await dev("254:0"), "254:0");
    assertEquals(await dev("7:3"), "7:3", "no sysfs entry: taken as it is");
    assertEquals(await dev("0:55"), null);
    await assertRejects(() => dev("sda"), TypeError, 'expected "MAJ:MIN" or a /dev/ path');
    await assertRejects(() => dev("9999:0"), TypeError);
    await assertRejects(() => dev("/dev/missing"), TypeError, "Invalid block device /dev/missing");
    await assertRejects(() => dev("/data/sub/file"), TypeError, "not a block device");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

async function mknod(path: string, args: string[]): Promise<void> {
  const out = await runCommand("mknod", [path, ...args]);
  if (out.code !== 0) throw new Error(`mknod ${path}: ${out.err}`);
}

Deno.test({
  name: "deviceNumberOf reads device nodes (rdev), follows links; btrfs mounts use their source",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const root = await fakeRoot();
    try {
      await mknod(`${root}/dev/sdz1`, ["b", "8", "1"]);
      await mknod(`${root}/dev/chr`, ["c", "1", "3"]);
      await Deno.mkdir(`${root}/dev/disk/by-label`, { recursive: true });
      await Deno.symlink("../../sdz1", `${root}/dev/disk/by-label/DATA`);
      assertEquals(await deviceNumberOf("/dev/sdz1", { root }), "8:0");
      assertEquals(await deviceNumberOf("/dev/disk/by-label/DATA", { root }), "8:0");
      await assertRejects(() => deviceNumberOf("/dev/chr", { root }), TypeError, "not a block");
      // btrfs reports an anonymous 0:NN device but names the real one as its source.
      assertEquals(await wholeDiskOf("/btr", { root }), "8:0");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

/**
 * The host's answer computed another way: st_dev of the path, then lsblk's
 * parent-kernel-name column to climb from a partition to its disk.
 */
async function hostWholeDisk(path: string): Promise<string | null> {
  const { major, minor } = decodeDevT((await Deno.stat(path)).dev);
  if (major === 0) return null;
  const dev = `${major}:${minor}`;
  const out = await new Deno.Command("lsblk", {
    args: ["-nro", "MAJ:MIN,PKNAME,NAME"],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => null);
  if (out === null || !out.success) return dev;
  const rows = new TextDecoder().decode(out.stdout).split("\n").map((l) => l.split(" "));
  const row = rows.find((r) => r[0] === dev);
  if (row === undefined || !row[1]) return dev;
  return rows.find((r) => r[2] === row[1])?.[0] ?? dev;
}

Deno.test("wholeDiskOf on this host matches st_dev + lsblk", async () => {
  const expected = await hostWholeDisk("/");
  console.log(`host: wholeDiskOf("/") should be ${expected}`);
  assertEquals(await wholeDiskOf("/"), expected);
  assertEquals(await wholeDiskOf("/etc/hostname"), await hostWholeDisk("/etc/hostname"));
  if (expected !== null) assertEquals(await deviceNumberOf(expected), expected);
  const src = parseMountinfo(await Deno.readTextFile("/proc/self/mountinfo"))
    .findLast((m) => m.mountPoint === "/")?.source;
  if (src?.startsWith("/dev/") && (await Deno.stat(src).catch(() => null))?.isBlockDevice) {
    assertEquals(await deviceNumberOf(src), expected);
  }
});
