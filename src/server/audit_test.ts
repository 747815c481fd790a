import { assert, assertEquals, assertThrows } from "@std/assert";
import { status } from "@grpc/grpc-js";
import { auditLine, AuditLog } from "./audit.ts";
import type { CallRecord } from "./observe.ts";

const base: CallRecord = {
  method: "Start",
  user: "alice",
  jobId: "5f0c2a1e-0000-4000-8000-000000000001",
  code: status.OK,
  message: "",
  denied: false,
  durationMs: 3,
  command: "sh",
};
const at = new Date("2026-12-02T06:40:00.123Z");

Deno.test("audit lines: Start and Stop always, reads only when denied, in a fixed shape", () => {
  assertEquals(
    auditLine(base, at),
    '{"time":"2026-12-02T06:40:00.123Z","user":"alice","method":"Start",' +
      '"job":"5f0c2a1e-0000-4000-8000-000000000001","outcome":"ok","code":"OK","command":"sh"}',
  );
  const stop = { ...base, method: "Stop" as const, code: status.NOT_FOUND, message: "no such job" };
  assertEquals(JSON.parse(auditLine(stop, at)!), {
    time: "2026-12-02T06:40:00.123Z",
    user: "alice",
    method: "Stop",
    job: base.jobId,
    outcome: "failed",
    code: "NOT_FOUND",
    message: "no such job",
  });
  assertEquals(auditLine({ ...base, method: "Status" }, at), null);
  assertEquals(auditLine({ ...base, method: "StreamOutput" }, at), null);
  const denied = auditLine(
    { ...base, method: "Status", user: "bob", code: status.NOT_FOUND, denied: true, message: "x" },
    at,
  );
  assertEquals(JSON.parse(denied!).outcome, "denied");
  assertEquals(JSON.parse(denied!).code, "NOT_FOUND");
  const anonymous = auditLine(
    {
      ...base,
      method: "List",
      user: null,
      jobId: null,
      code: status.UNAUTHENTICATED,
      denied: true,
      message: "m",
    },
    at,
  );
  assertEquals(JSON.parse(anonymous!).user, null);
  assertEquals(JSON.parse(anonymous!).job, null);
  const long = auditLine({ ...base, code: status.INVALID_ARGUMENT, message: "x".repeat(5000) }, at);
  assertEquals(JSON.parse(long!).message.length, 300, "messages are cut");
});

Deno.test("the audit file is 0600, appended to, and rotated by size keeping N files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jobworker-audit-test-" });
  try {
    const path = `${dir}/audit.log`;
    await Deno.writeTextFile(path, '{"earlier":"line"}\n');
    const audit = AuditLog.open(path, { maxBytes: 4096, keep: 2 });
    try {
      assertEquals((await Deno.stat(path)).mode! & 0o777, 0o644, "an existing file keeps its mode");
      for (let i = 0; i < 100; i++) audit.write({ ...base, jobId: `job-${i}` }, at);
      audit.write({ ...base, method: "Status" }, at); // not audited: no line
    } finally {
      audit.close();
    }
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(files, ["audit.log", "audit.log.1", "audit.log.2"], "keep 2 rotated files");
    for (const p of [path, `${path}.1`, `${path}.2`]) {
      assert(Deno.statSync(p).size <= 4096, `${p} stays within the size`);
    }
    // The newest lines survive in order; the oldest were rotated away.
    const order = [`${path}.2`, `${path}.1`, path]
      .flatMap((p) => Deno.readTextFileSync(p).trim().split("\n"))
      .map((l) => Number(JSON.parse(l).job?.slice(4)))
      .filter((n) => !Number.isNaN(n));
    assertEquals(order, [...order].sort((a, b) => a - b), "oldest file first, each in call order");
    assertEquals(order.at(-1), 99, "the newest line is in the current file");
    assert(order[0]! > 0, "the oldest lines were rotated away");

    const fresh = AuditLog.open(`${dir}/new.log`);
    fresh.close();
    assertEquals((await Deno.stat(`${dir}/new.log`)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad audit settings are refused", () => {
  assertThrows(() => AuditLog.open("/nonexistent/x", { maxBytes: 10 }), RangeError, "4096");
  assertThrows(() => AuditLog.open("/nonexistent/x", { keep: 0 }), RangeError, "at least 1");
});
