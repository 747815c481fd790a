import { assertEquals, assertThrows } from "@std/assert";
import { limitOptions } from "./_limit_flags.ts";

Deno.test("limit flags become JobManager options; only the given ones", () => {
  assertEquals(limitOptions({}), {});
  assertEquals(
    limitOptions({
      maxOutput: "64M",
      minFree: "1G",
      maxJobs: "100",
      maxJobsPerUser: "10",
      maxMemory: "8G",
      retain: ["7d", "1000"],
    }),
    {
      maxOutputBytes: 64 * 1024 ** 2,
      minFreeBytes: 1024 ** 3,
      maxJobs: 100,
      maxJobsPerUser: 10,
      maxMemoryBytes: 8 * 1024 ** 3,
      retainMs: 7 * 86_400_000,
      retainCount: 1000,
    },
  );
});

Deno.test("bad limit flags name the flag", () => {
  assertThrows(() => limitOptions({ maxOutput: "lots" }), RangeError, "--max-output");
  assertThrows(() => limitOptions({ maxJobs: "0" }), RangeError, "--max-jobs");
  assertThrows(() => limitOptions({ maxJobsPerUser: "-1" }), RangeError, "--max-jobs-per-user");
  assertThrows(() => limitOptions({ retain: ["a week"] }), RangeError, "--retain");
});
