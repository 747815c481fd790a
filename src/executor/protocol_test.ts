import { assertEquals, assertThrows } from "@std/assert";
import {
  type ExecutorConfig,
  type ExecutorReport,
  parseCommand,
  parseConfig,
  parsePrepare,
  parseReport,
  type PrepareConfig,
} from "./protocol.ts";

const prepare: PrepareConfig = {
  version: 4,
  sandbox: {
    rootDir: "/var/lib/jobworker/sandbox-root",
    masks: ["/var/lib/jobworker", "/etc/jobworker"],
    binds: [{ source: "/opt/tools", target: "/tools", readOnly: true }],
  },
};

const config: ExecutorConfig = {
  command: "sh",
  args: ["-c", "echo hi"],
  env: { PATH: "/bin" },
  cwd: "/",
  hostname: "job-1",
  files: {
    output: "/var/lib/jobworker/jobs/1/output",
    reports: "/var/lib/jobworker/jobs/1/reports",
    control: "/var/lib/jobworker/jobs/1/control",
    log: "/var/lib/jobworker/jobs/1/executor.log",
  },
  maxOutputBytes: 1 << 30,
  identity: { uid: 61184, gid: 61184 },
  sandbox: { workDir: "/var/lib/jobworker/jobs/1/work", tmpSizeBytes: 64 << 20 },
  cgroup: {
    join: ["/sys/fs/cgroup/x/cgroup.procs"],
    home: ["/sys/fs/cgroup/cgroup.procs"],
    afterSpawn: [{ path: "/sys/fs/cgroup/x/pids.max", value: "10" }],
  },
};

Deno.test("both config lines survive the JSON round trip", () => {
  assertEquals(parsePrepare(JSON.stringify(prepare)), prepare);
  assertEquals(parseConfig(JSON.stringify(config)), config);
});

Deno.test("a malformed config is refused naming the field", () => {
  assertThrows(
    () => parsePrepare(JSON.stringify({ ...prepare, version: 3 })),
    TypeError,
    "version",
  );
  assertThrows(
    () => parseConfig(JSON.stringify({ ...config, identity: { uid: -1, gid: 0 } })),
    TypeError,
    "identity",
  );
  assertThrows(
    () =>
      parsePrepare(JSON.stringify({ ...prepare, sandbox: { ...prepare.sandbox, rootDir: "x" } })),
    TypeError,
    "sandbox.rootDir",
  );
  assertThrows(
    () =>
      parsePrepare(JSON.stringify({ ...prepare, sandbox: { ...prepare.sandbox, binds: [{}] } })),
    TypeError,
    "sandbox.binds",
  );
  assertThrows(
    () => parseConfig(JSON.stringify({ ...config, sandbox: { ...config.sandbox, workDir: "w" } })),
    TypeError,
    "sandbox.workDir",
  );
  assertThrows(() => parseConfig(JSON.stringify({ ...config, args: [1] })), TypeError, "args");
  assertThrows(() => parseConfig(JSON.stringify({ ...config, cwd: 1 })), TypeError, "cwd");
  assertThrows(
    () => parseConfig(JSON.stringify({ ...config, cgroup: { join: [], home: [] } })),
    TypeError,
    "afterSpawn",
  );
  assertThrows(() => parseConfig("null"), TypeError, "not an object");
});

Deno.test("every report survives the JSON round trip", () => {
  const reports: ExecutorReport[] = [
    { type: "started", pid: 8 },
    { type: "start-failed", reason: "not-found", message: "posix_spawnp(x) failed: ENOENT" },
    { type: "output", truncated: true, error: null },
    { type: "output", truncated: false, error: "the data directory's disk is full (ENOSPC)" },
    { type: "exited", exitCode: 3, signal: null, terminated: false, outputBytes: 0 },
    { type: "exited", exitCode: null, signal: "SIGKILL", terminated: true, outputBytes: 1 << 30 },
  ];
  for (const r of reports) assertEquals(parseReport(JSON.stringify(r)), r);
});

Deno.test("a malformed report is refused", () => {
  assertThrows(
    () => parseReport('{"type":"exited","exitCode":1,"signal":"SIGTERM","terminated":false}'),
    TypeError,
  );
  assertThrows(() => parseReport('{"type":"exited","exitCode":1,"signal":null}'), TypeError);
  assertThrows(() => parseReport('{"type":"started"}'), TypeError);
  assertThrows(() => parseReport('{"type":"nope"}'), TypeError);
});

Deno.test("commands parse; anything else is refused", () => {
  assertEquals(parseCommand('{"type":"stop","graceMs":2500}'), { type: "stop", graceMs: 2500 });
  assertThrows(() => parseCommand('{"type":"stop"}'), TypeError);
  assertThrows(() => parseCommand('{"type":"stop","graceMs":-1}'), TypeError);
  assertThrows(() => parseCommand('{"type":"reboot"}'), TypeError);
  assertThrows(() => parseCommand("[]"), TypeError);
});
