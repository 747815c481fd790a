import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { dataDirChecks, type DataDirFacts, gatherDataDirFacts } from "./_data_dir.ts";
import { type MountEntry, parseMountinfo } from "./_proc.ts";
import type { CheckResult } from "./types.ts";

const MIN_FREE = 256 * 1024 ** 2;

function mount(fsType: string, source = "/dev/sda1"): MountEntry {
  return {
    dev: "8:1",
    root: "/",
    mountPoint: "/var/lib",
    mountOptions: ["rw"],
    fsType,
    source,
    superOptions: ["rw"],
  };
}

function facts(overrides: Partial<DataDirFacts> = {}): DataDirFacts {
  return {
    given: "/var/lib/jobworker",
    absolute: "/var/lib/jobworker",
    kind: "dir",
    base: "/var/lib/jobworker",
    baseError: null,
    writeError: null,
    freeBytes: 50 * 1024 ** 3,
    mount: mount("ext4"),
    fallocateError: null,
    ...overrides,
  };
}

const statusOf = (results: CheckResult[]) => results.map((r) => `${r.id}:${r.status}`);

Deno.test("dataDirChecks: a directory on a local disk with room is ok", () => {
  const results = dataDirChecks(facts(), { minFreeBytes: MIN_FREE });
  assertEquals(statusOf(results), [
    "data.dir:ok",
    "data.space:ok",
    "data.fs:ok",
    "data.fallocate:ok",
  ]);
  assertStringIncludes(results[1]!.detail, "50 GiB free (--min-free 256 MiB)");
  assertStringIncludes(results[2]!.detail, "ext4 (/dev/sda1 on /var/lib)");
});

Deno.test("dataDirChecks: tmpfs warns, NFS fails, FUSE warns", () => {
  const tmpfs = dataDirChecks(facts({ mount: mount("tmpfs", "tmpfs") }), {
    minFreeBytes: MIN_FREE,
  });
  assertEquals(tmpfs[2]!.status, "warn");
  assertStringIncludes(tmpfs[2]!.detail, "lost on reboot");
  assertEquals("brief" in tmpfs[2]! && tmpfs[2]!.brief, "data dir on tmpfs");
  const nfs = dataDirChecks(facts({ mount: mount("nfs4", "srv:/x") }), { minFreeBytes: MIN_FREE });
  assertEquals(nfs[2]!.status, "fail");
  assertStringIncludes(nfs[2]!.detail, "O_APPEND");
  const fuse = dataDirChecks(facts({ mount: mount("fuse.mergerfs") }), { minFreeBytes: MIN_FREE });
  assertEquals(fuse[2]!.status, "warn");
});

Deno.test("dataDirChecks: free space below the reserve fails, near it warns", () => {
  const low = dataDirChecks(facts({ freeBytes: 100 * 1024 ** 2 }), { minFreeBytes: MIN_FREE });
  assertEquals(low[1]!.status, "fail");
  assertStringIncludes(low[1]!.detail, "100 MiB free, below --min-free 256 MiB");
  const near = dataDirChecks(facts({ freeBytes: 1024 ** 3 }), { minFreeBytes: MIN_FREE });
  assertEquals(near[1]!.status, "warn");
});

Deno.test("dataDirChecks: not a directory, not writable, no fallocate", () => {
  const file = dataDirChecks(facts({ kind: "other", base: null }), { minFreeBytes: MIN_FREE });
  assertEquals(statusOf(file), [
    "data.dir:fail",
    "data.space:skip",
    "data.fs:skip",
    "data.fallocate:skip",
  ]);
  const readOnly = dataDirChecks(
    facts({
      writeError: "Read-only file system (os error 30)",
      fallocateError: undefined,
    }),
    { minFreeBytes: MIN_FREE },
  );
  assertEquals(readOnly[0]!.status, "fail");
  assertEquals(readOnly[3]!.status, "skip");
  const noFallocate = dataDirChecks(
    facts({ fallocateError: "fallocate(/x) failed: EOPNOTSUPP" }),
    { minFreeBytes: MIN_FREE },
  );
  assertEquals(noFallocate[3]!.status, "fail");
  assertStringIncludes(noFallocate[3]!.detail, "EOPNOTSUPP");
});

Deno.test("dataDirChecks: a missing directory is judged by its parent", () => {
  const results = dataDirChecks(
    facts({ kind: "missing", base: "/var/lib" }),
    { minFreeBytes: MIN_FREE },
  );
  assertEquals(results[0]!.status, "ok");
  assertStringIncludes(results[0]!.detail, "does not exist; the server makes it in /var/lib");
});

Deno.test("gatherDataDirFacts: a real directory, and a missing one below it; leaves nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "doctor-data-test-" });
  try {
    const mounts = parseMountinfo(await Deno.readTextFile("/proc/self/mountinfo"));
    const present = await gatherDataDirFacts(dir, mounts);
    assertEquals(present.kind, "dir");
    assertEquals(present.base, dir);
    assertEquals(present.writeError, null);
    assert(typeof present.freeBytes === "number" && present.freeBytes > 0);
    assert(present.mount !== null);
    const missing = await gatherDataDirFacts(`${dir}/a/b`, mounts);
    assertEquals(missing.kind, "missing");
    assertEquals(missing.base, dir);
    assertEquals([...Deno.readDirSync(dir)], [], "the test file was removed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
