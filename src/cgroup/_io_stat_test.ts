/** The block-IO counter parsers of ./_io_stat.ts, on texts as the kernel prints them and broken ones. */
import { assertEquals } from "@std/assert";
import { parseBlkioServiceBytes, parseIoStat } from "./_io_stat.ts";

/** v1's blkio.throttle.io_service_bytes_recursive for two disks, as Linux 6.x prints it. */
const V1_TWO_DISKS = `254:0 Read 6984638464
254:0 Write 23605985280
254:0 Sync 42643406848
254:0 Async 10844758016
254:0 Discard 22897541120
254:0 Total 53488164864
8:16 Read 4096
8:16 Write 512
8:16 Sync 4608
8:16 Async 0
8:16 Discard 0
8:16 Total 4608
Total 53488169472
`;

Deno.test("parseBlkioServiceBytes sums Read and Write over devices, skipping the rest", () => {
  assertEquals(parseBlkioServiceBytes(V1_TWO_DISKS), {
    readBytes: 6984638464 + 4096,
    writeBytes: 23605985280 + 512,
  });
  // Kernels before Discard existed, and an operation this parser does not know.
  assertEquals(
    parseBlkioServiceBytes("8:0 Read 10\n8:0 Write 20\n8:0 Frobnicate 99\n8:0 Total 30\nTotal 30"),
    { readBytes: 10, writeBytes: 20 },
  );
  // Surrounding white space and a CRLF-ish copy are harmless.
  assertEquals(parseBlkioServiceBytes("  8:0 Read 1\r\n8:0\tWrite 2 \n"), {
    readBytes: 1,
    writeBytes: 2,
  });
});

Deno.test("parseBlkioServiceBytes: a cgroup without IO is 0 bytes", () => {
  assertEquals(parseBlkioServiceBytes("Total 0\n"), { readBytes: 0, writeBytes: 0 });
  assertEquals(parseBlkioServiceBytes(""), { readBytes: 0, writeBytes: 0 });
  assertEquals(parseBlkioServiceBytes("\n\n"), { readBytes: 0, writeBytes: 0 });
});

Deno.test("parseBlkioServiceBytes: malformed text gives null, not a partial sum", () => {
  for (
    const bad of [
      "8:0 Read 10\ngarbage\n",
      "8:0 Read\n",
      "8:0 Read 10 extra\n",
      "sda Read 10\n",
      "8:0 Read -1\n",
      "8:0 Read 1.5\n",
      "8:0 Read 0x10\n",
      "8:0 12 Read\n",
      "Total\n",
      "Total many\n",
      "rbytes=1 wbytes=2\n",
    ]
  ) {
    assertEquals(parseBlkioServiceBytes(bad), null, JSON.stringify(bad));
  }
});

Deno.test("parseIoStat sums rbytes and wbytes over devices, ignoring other keys", () => {
  assertEquals(
    parseIoStat(
      "254:0 rbytes=8388608 wbytes=16777216 rios=2 wios=4 dbytes=0 dios=0\n" +
        "8:16 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=1048576 dios=1\n",
    ),
    { readBytes: 8388608 + 4096, writeBytes: 16777216 + 512 },
  );
  // Keys of IO policies (iocost, iolatency, debug stats), some not numeric, and key order.
  assertEquals(
    parseIoStat(
      "8:0 wbytes=7 rbytes=3 rios=1 wios=1 dbytes=0 dios=0 cost.vrate=100.00 cost.usage=12 " +
        "depth=max avg_lat=0 win=0 use_delay=0 delay_nsec=0 flag\n",
    ),
    { readBytes: 3, writeBytes: 7 },
  );
  // Older kernels printed four keys (no discard figures).
  assertEquals(parseIoStat("8:0 rbytes=1 wbytes=2 rios=3 wios=4"), { readBytes: 1, writeBytes: 2 });
});

Deno.test("parseIoStat: an empty io.stat (no IO yet) is 0 bytes", () => {
  assertEquals(parseIoStat(""), { readBytes: 0, writeBytes: 0 });
  assertEquals(parseIoStat("\n \n"), { readBytes: 0, writeBytes: 0 });
});

Deno.test("parseIoStat: malformed text gives null, not a partial sum", () => {
  for (
    const bad of [
      "8:0 rbytes=1 wbytes=2\ngarbage\n",
      "rbytes=1 wbytes=2\n",
      "sda rbytes=1 wbytes=2\n",
      "8:0\n",
      "8:0 rbytes=1\n",
      "8:0 wbytes=2 rios=1\n",
      "8:0 rbytes= wbytes=2\n",
      "8:0 rbytes=-1 wbytes=2\n",
      "8:0 rbytes=1 wbytes=max\n",
      "8:0 rbytes=1e3 wbytes=2\n",
      "8:0 Read 10\n",
    ]
  ) {
    assertEquals(parseIoStat(bad), null, JSON.stringify(bad));
  }
});
