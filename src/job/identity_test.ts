import { assertEquals, assertThrows } from "@std/assert";
import { JobPermissionError, JobSpecError } from "./errors.ts";
import {
  checkRunAs,
  DEFAULT_JOB_UID_RANGE,
  formatIdRanges,
  parseIdRanges,
  rangesOverlap,
} from "./identity.ts";
import { UidPool } from "./_uid_pool.ts";

Deno.test("id ranges parse, print, and refuse nonsense naming the part", () => {
  assertEquals(parseIdRanges("1000-1999, 3000"), [
    { first: 1000, last: 1999 },
    { first: 3000, last: 3000 },
  ]);
  assertEquals(formatIdRanges(parseIdRanges("0,5-9")), "0,5-9");
  assertEquals(formatIdRanges([]), "none");
  for (const bad of ["", "a-b", "5-1", "1-", "-1", "4294967295", "1.5"]) {
    assertThrows(() => parseIdRanges(bad), RangeError, "Invalid id range");
  }
  assertEquals(rangesOverlap([{ first: 1, last: 5 }], [{ first: 5, last: 9 }]), true);
  assertEquals(rangesOverlap([{ first: 1, last: 4 }], [{ first: 5, last: 9 }]), false);
});

Deno.test("runAs: allowed ranges, the dynamic range, and root only by explicit choice", () => {
  const policy = {
    allowed: parseIdRanges("0-10,1000-1999"),
    allowRoot: false,
    dynamic: DEFAULT_JOB_UID_RANGE,
  };
  assertEquals(checkRunAs({ uid: 1000 }, policy), { uid: 1000, gid: 1000 });
  assertEquals(checkRunAs({ uid: 1500, gid: 5 }, policy), { uid: 1500, gid: 5 });
  assertThrows(
    () => checkRunAs({ uid: 2000 }, policy),
    JobPermissionError,
    "uid 2000 is not allowed (allowed: 0-10,1000-1999)",
  );
  assertThrows(() => checkRunAs({ uid: 1000, gid: 2000 }, policy), JobPermissionError, "gid 2000");
  assertThrows(
    () => checkRunAs({ uid: 0 }, policy),
    JobPermissionError,
    "uid 0 (root) is not allowed",
  );
  assertThrows(() => checkRunAs({ uid: 5, gid: 0 }, policy), JobPermissionError, "gid 0 (root)");
  assertEquals(checkRunAs({ uid: 0 }, { ...policy, allowRoot: true }), { uid: 0, gid: 0 });
  // Root allowed by the flag but not in this caller's ranges: still refused.
  assertThrows(
    () => checkRunAs({ uid: 0 }, { ...policy, allowRoot: true, allowed: parseIdRanges("1000") }),
    JobPermissionError,
  );
  const everything = { ...policy, allowed: parseIdRanges("1-4294967294") };
  assertThrows(
    () => checkRunAs({ uid: 61184 }, everything),
    JobPermissionError,
    "reserved for jobs",
  );
  assertThrows(() => checkRunAs({ uid: -1 }, everything), JobSpecError);
  assertThrows(() => checkRunAs({ uid: 2 ** 32 }, everything), JobSpecError);
});

Deno.test("the uid pool hands out each id once, round-robin, and says when it is empty", () => {
  const pool = new UidPool({ first: 10, last: 12 });
  assertEquals([pool.acquire(), pool.acquire(), pool.acquire()], [10, 11, 12]);
  assertEquals(pool.acquire(), null);
  assertEquals(pool.inUse, 3);
  pool.release(11);
  assertEquals(pool.acquire(), 11);
  pool.release(10);
  pool.release(12);
  // A freed id comes back as late as possible: 12 was freed last but is next after 11.
  assertEquals(pool.acquire(), 12);
  assertEquals(pool.acquire(), 10);
});
