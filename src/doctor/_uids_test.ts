import { assertEquals, assertStringIncludes } from "@std/assert";
import { type ProcessInfo, type UidFacts, uidRangeCheck } from "./_uids.ts";

const RANGE = { first: 61184, last: 65519 };

function proc(pid: number, options: { ppid: number; uid: number; argv?: string[] }): ProcessInfo {
  const ids = [options.uid, options.uid, options.uid, options.uid];
  const argv = options.argv ?? [`p${pid}`];
  return { pid, ppid: options.ppid, comm: `p${pid}`, uids: ids, gids: ids, argv };
}

function facts(overrides: Partial<UidFacts> = {}): UidFacts {
  return {
    passwd: [{ name: "root", id: 0 }, { name: "nobody", id: 65534 }],
    group: [{ name: "root", id: 0 }, { name: "nogroup", id: 65534 }],
    processes: [
      proc(1, { ppid: 0, uid: 0, argv: ["/sbin/init"] }),
      proc(100, { ppid: 1, uid: 1000 }),
    ],
    hidden: false,
    ...overrides,
  };
}

Deno.test("uidRangeCheck: nothing in the range is ok", () => {
  const result = uidRangeCheck(facts(), RANGE);
  assertEquals(result.status, "ok");
  assertStringIncludes(result.detail, "no process");
});

Deno.test("uidRangeCheck: an account or a group with an id in the range fails", () => {
  const account = uidRangeCheck(facts({ passwd: [{ name: "svc", id: 61200 }] }), RANGE);
  assertEquals(account.status, "fail");
  assertStringIncludes(account.detail, "/etc/passwd has svc (61200)");
  const group = uidRangeCheck(facts({ group: [{ name: "g", id: 65519 }] }), RANGE);
  assertEquals(group.status, "fail");
  assertStringIncludes(group.detail, "/etc/group has g (65519)");
});

Deno.test("uidRangeCheck: a process of another program there fails, naming it", () => {
  const result = uidRangeCheck(
    facts({ processes: [proc(1, { ppid: 0, uid: 0 }), proc(4321, { ppid: 1, uid: 61190 })] }),
    RANGE,
  );
  assertEquals(result.status, "fail");
  assertStringIncludes(result.detail, "pid 4321 (p4321) uid 61190");
  assertEquals("brief" in result && result.brief, "job uid range in use");
});

Deno.test("uidRangeCheck: processes of jobworker's own jobs (under an executor) are fine", () => {
  const processes = [
    proc(1, { ppid: 0, uid: 0 }),
    proc(50, {
      ppid: 1,
      uid: 0,
      argv: ["/usr/local/bin/jobworker-server", "--jobworker-executor"],
    }),
    proc(51, { ppid: 50, uid: 61184 }),
    proc(52, { ppid: 51, uid: 61184 }),
    proc(60, {
      ppid: 1,
      uid: 0,
      argv: ["/opt/deno", "run", "--allow-all", "/opt/jw/src/executor/main.ts"],
    }),
    proc(61, { ppid: 60, uid: 61185 }),
  ];
  const result = uidRangeCheck(facts({ processes }), RANGE);
  assertEquals(result.status, "ok");
  assertStringIncludes(result.detail, "only 3 process(es) of jobworker's own jobs");
});

Deno.test("uidRangeCheck: an executor holding a job's uid while it spawns, a doctor's probe", () => {
  const processes = [
    proc(1, { ppid: 0, uid: 0 }),
    // The executor's main thread is the job's for a moment (spawnAs).
    proc(70, { ppid: 1, uid: 61190, argv: ["/opt/deno", "run", "/jw/src/executor/main.ts"] }),
    // Another doctor's probe child, switched to the range's last uid at its end.
    proc(80, {
      ppid: 1,
      uid: 65519,
      argv: ["/usr/local/bin/jobworker", "--jobworker-doctor-probe"],
    }),
  ];
  assertEquals(uidRangeCheck(facts({ processes }), RANGE).status, "ok");
});

Deno.test("uidRangeCheck: unreadable files fail; hidden processes skip", () => {
  const unreadable = uidRangeCheck(facts({ passwd: "Permission denied" }), RANGE);
  assertEquals(unreadable.status, "fail");
  assertStringIncludes(unreadable.detail, "Cannot read /etc/passwd: Permission denied");
  const hidden = uidRangeCheck(facts({ hidden: true }), RANGE);
  assertEquals(hidden.status, "skip");
});
