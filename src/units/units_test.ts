import { assertEquals, assertThrows } from "@std/assert";
import { parseDuration, parseSize } from "./mod.ts";

Deno.test("sizes: binary suffixes, optional i and B", () => {
  assertEquals(parseSize("512K"), 512 * 1024);
  assertEquals(parseSize("1.5G"), 1.5 * 1024 ** 3);
  assertEquals(parseSize("64Mi"), 64 * 1024 ** 2);
  assertEquals(parseSize("2GiB"), 2 * 1024 ** 3);
  assertEquals(parseSize("100B"), 100);
  for (const bad of ["", "64X", "64i", "-1", "1.5", "1e3"]) {
    assertThrows(() => parseSize(bad), RangeError, JSON.stringify(bad));
  }
});

Deno.test("durations: ms, s, m, h, d; a bare number is seconds", () => {
  assertEquals(parseDuration("500ms"), 500);
  assertEquals(parseDuration("90"), 90_000);
  assertEquals(parseDuration("10m"), 600_000);
  assertEquals(parseDuration("1.5h"), 5_400_000);
  assertEquals(parseDuration("7d"), 604_800_000);
  // Several units, largest first.
  assertEquals(parseDuration("1h30m"), 5_400_000);
  assertEquals(parseDuration("2m30s"), 150_000);
  assertEquals(parseDuration("1d12h"), 129_600_000);
  assertEquals(parseDuration("1s500ms"), 1_500);
  for (const bad of ["", "ten", "5w", "-1s", "1e3s", "30m1h", "1h1h", "1h 30m", "1h30", "h"]) {
    assertThrows(() => parseDuration(bad), RangeError, "is not a duration");
  }
});
