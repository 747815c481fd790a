import { assertEquals } from "@std/assert";
import { countStatuses, DEFAULT_MIN_FREE_BYTES } from "./doctor.ts";
import { DEFAULT_MIN_FREE_BYTES as MANAGER_MIN_FREE } from "../job/manager.ts";
import type { CheckResult } from "./types.ts";

Deno.test("the doctor's --min-free default is the server's", () => {
  assertEquals(DEFAULT_MIN_FREE_BYTES, MANAGER_MIN_FREE);
});

Deno.test("countStatuses counts every status, zero included", () => {
  const check = (status: "ok" | "skip"): CheckResult =>
    status === "ok"
      ? { id: "a", title: "a", status, detail: "" }
      : { id: "b", title: "b", status, detail: "r", reason: "r" };
  assertEquals(countStatuses([check("ok"), check("ok"), check("skip")]), {
    ok: 2,
    warn: 0,
    fail: 0,
    skip: 1,
  });
});
