/**
 * Parsers for the block-IO byte counters of a cgroup: v1's
 * `blkio.throttle.io_service_bytes[_recursive]` and v2's `io.stat`. Pure
 * functions over the file text, so that the drivers only read files.
 *
 * Both parsers take the same line: the figures are summed over every device
 * the kernel lists, and text that does not have the expected shape gives
 * null rather than a partial sum (a wrong figure would look like a real
 * one). Keys or operations the parser does not need are ignored whatever
 * they look like, since newer kernels and IO policies add their own.
 *
 * @module
 */

/** Bytes a cgroup's processes read from and wrote to block devices. */
export interface IoBytes {
  /** Bytes read, summed over devices. */
  readBytes: number;
  /** Bytes written, summed over devices. */
  writeBytes: number;
}

const DEVICE = /^\d+:\d+$/;
const COUNT = /^\d+$/;

/**
 * Sums the `Read` and `Write` lines of v1's
 * `blkio.throttle.io_service_bytes` or `..._recursive`. The kernel prints,
 * per device, one `MAJ:MIN <Op> <bytes>` line for each of Read, Write, Sync,
 * Async, Discard and Total, then a grand `Total <bytes>` line; only Read
 * and Write are counted (Sync/Async and Total split or repeat the same
 * bytes). No device lines (a cgroup that did no IO prints just `Total 0`)
 * or empty text mean 0 bytes. Null when a line has another shape.
 *
 * @example
 * ```ts
 * parseBlkioServiceBytes("8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n");
 * // { readBytes: 4096, writeBytes: 512 }
 * ```
 */
export function parseBlkioServiceBytes(text: string): IoBytes | null {
  const sum: IoBytes = { readBytes: 0, writeBytes: 0 };
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/).filter((f) => f !== "");
    if (fields.length === 0) continue;
    if (fields.length === 2 && fields[0] === "Total" && COUNT.test(fields[1] as string)) continue;
    const [device, op, count] = fields;
    if (
      fields.length !== 3 || !DEVICE.test(device as string) || !/^[A-Za-z]+$/.test(op as string) ||
      !COUNT.test(count as string)
    ) {
      return null;
    }
    if (op === "Read") sum.readBytes += Number(count);
    else if (op === "Write") sum.writeBytes += Number(count);
  }
  return sum;
}

/**
 * Sums `rbytes` and `wbytes` over the lines of v2's `io.stat`, one line per
 * device: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..`,
 * possibly followed by keys of IO policies (`cost.vrate=..`, `depth=max`,
 * ...), which are ignored. Empty text is what the kernel shows before the
 * cgroup did any IO: 0 bytes. Null when a line does not start with a device
 * or lacks a numeric `rbytes` or `wbytes`.
 *
 * @example
 * ```ts
 * parseIoStat("8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n");
 * // { readBytes: 4096, writeBytes: 512 }
 * ```
 */
export function parseIoStat(text: string): IoBytes | null {
  const sum: IoBytes = { readBytes: 0, writeBytes: 0 };
  for (const line of text.split("\n")) {
    const [device, ...pairs] = line.trim().split(/\s+/).filter((f) => f !== "");
    if (device === undefined) continue;
    if (!DEVICE.test(device)) return null;
    const values = new Map<string, string>();
    for (const pair of pairs) {
      const eq = pair.indexOf("=");
      if (eq > 0) values.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const read = values.get("rbytes");
    const written = values.get("wbytes");
    if (read === undefined || written === undefined || !COUNT.test(read) || !COUNT.test(written)) {
      return null;
    }
    sum.readBytes += Number(read);
    sum.writeBytes += Number(written);
  }
  return sum;
}
