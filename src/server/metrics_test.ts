import { assertEquals, assertThrows } from "@std/assert";
import { parseMetricsAddr } from "./metrics.ts";

Deno.test("--metrics-addr: [HOST:]PORT, the host 127.0.0.1 unless given", () => {
  assertEquals(parseMetricsAddr("9464"), { hostname: "127.0.0.1", port: 9464 });
  assertEquals(parseMetricsAddr("0.0.0.0:9464"), { hostname: "0.0.0.0", port: 9464 });
  assertEquals(parseMetricsAddr("localhost:0"), { hostname: "localhost", port: 0 });
  assertEquals(parseMetricsAddr("[::1]:9464"), { hostname: "::1", port: 9464 });
  for (const bad of ["", "host:", ":9464", "99999", "a:b", "::1:9464", "host:9464/x"]) {
    assertThrows(() => parseMetricsAddr(bad), RangeError, "--metrics-addr");
  }
});
