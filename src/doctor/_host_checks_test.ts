import { assertEquals, assertStringIncludes } from "@std/assert";
import { hostChecks, type HostFacts } from "./_host_checks.ts";
import { parseStatus } from "./_proc.ts";
import type { CheckResult } from "./types.ts";

function facts(overrides: Partial<HostFacts> = {}, capEff = "000001ffffffffff"): HostFacts {
  return {
    uid: 0,
    status: parseStatus(`Name:\tdeno\nCapEff:\t${capEff}\n`),
    release: "6.1.0-56-cloud-amd64",
    arch: "x86_64",
    pipeMaxSize: 1048576,
    ...overrides,
  };
}

const byId = (results: CheckResult[]) => Object.fromEntries(results.map((r) => [r.id, r]));

Deno.test("hostChecks: root with every capability on a new x86-64 kernel is ok", () => {
  const results = hostChecks(facts());
  assertEquals(results.map((r) => [r.id, r.status]), [
    ["root.uid", "ok"],
    ["root.capabilities", "ok"],
    ["kernel.version", "ok"],
    ["kernel.arch", "ok"],
  ]);
});

Deno.test("hostChecks: CAP_SYS_RESOURCE is needed only when pipe-max-size is below 1 MiB", () => {
  // This suite's host: every capability but CAP_SYS_RESOURCE (24).
  assertEquals(byId(hostChecks(facts({}, "000001fffeffffff")))["root.capabilities"]!.status, "ok");
  const small = byId(hostChecks(facts({ pipeMaxSize: 65536 }, "000001fffeffffff")));
  assertEquals(small["root.capabilities"]!.status, "fail");
  assertStringIncludes(small["root.capabilities"]!.detail, "CAP_SYS_RESOURCE");
});

Deno.test("hostChecks: a missing required capability fails, a wanted one warns", () => {
  // CAP_SYS_ADMIN (21) gone.
  const noAdmin = byId(hostChecks(facts({}, "000001ffffdfffff")))["root.capabilities"]!;
  assertEquals(noAdmin.status, "fail");
  assertStringIncludes(noAdmin.detail, "CAP_SYS_ADMIN (namespaces, mounts");
  assertEquals("brief" in noAdmin && noAdmin.brief, "missing CAP_SYS_ADMIN");
  // CAP_SYS_PTRACE (19) gone: only the metrics suffer.
  const noPtrace = byId(hostChecks(facts({}, "000001fffff7ffff")))["root.capabilities"]!;
  assertEquals(noPtrace.status, "warn");
  assertStringIncludes(noPtrace.detail, "CAP_SYS_PTRACE");
});

Deno.test("hostChecks: not root skips with the reason; old kernel and arm64 fail", () => {
  const notRoot = byId(hostChecks(facts({ uid: 1000 }, "0000000000000000")));
  assertEquals(notRoot["root.uid"]!.status, "skip");
  assertStringIncludes(notRoot["root.uid"]!.detail, "uid 1000");
  assertEquals(notRoot["root.capabilities"]!.status, "skip");
  const old = byId(hostChecks(facts({ release: "5.10.0-28-amd64", arch: "aarch64" })));
  assertEquals(old["kernel.version"]!.status, "fail");
  assertStringIncludes(old["kernel.version"]!.detail, "mount_setattr");
  assertEquals(old["kernel.arch"]!.status, "fail");
  assertStringIncludes(old["kernel.arch"]!.detail, "x86_64 only");
});
