/**
 * What the benchmark's sections share: statistics, clocks, process memory,
 * Markdown tables, and the host's description.
 *
 * @module
 */

/** Median, p90, p99, min and max of a sample. */
export interface Summary {
  n: number;
  median: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
}

/** The summary of `values` (nearest-rank percentiles), rounded to 2 decimals. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new RangeError("summarize: no values");
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
  const r = (n: number) => Math.round(n * 100) / 100;
  return {
    n: sorted.length,
    median: r(at(0.5)),
    p90: r(at(0.9)),
    p99: r(at(0.99)),
    min: r(sorted[0]!),
    max: r(sorted.at(-1)!),
  };
}

/** `a / b` as "2.3×". */
export function ratio(a: number, b: number): string {
  return b > 0 ? `${(a / b).toFixed(1)}×` : "–";
}

/** Rounds to `digits` decimals. */
export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * Milliseconds to add to performance.now() to get the realtime clock, at
 * the instant Date.now() ticks (known to the µs; spins up to 1 ms).
 */
export function realtimeOffsetMs(): number {
  const first = Date.now();
  let mono: number;
  let wall: number;
  do {
    mono = performance.now();
    wall = Date.now();
  } while (wall === first);
  return wall - mono;
}

/** Milliseconds from `t0` (performance.now(), with its `offsetMs`) to `printedNs` (date +%s%N). */
export function msUntil(printedNs: string, at: { t0: number; offsetMs: number }): number {
  const trimmed = printedNs.trim();
  if (!/^\d+$/.test(trimmed)) throw new Error(`not a time in ns: ${JSON.stringify(printedNs)}`);
  // In BigInt: ns since 1970 need 61 bits, more than a double holds exactly.
  const startNs = BigInt(Math.round((at.offsetMs + at.t0) * 1e6));
  return Number(BigInt(trimmed) - startNs) / 1e6;
}

/** PSS, private and RSS of a process in MiB (smaps_rollup), or null when it is gone. */
export function processMemory(pid: number): { pss: number; private: number; rss: number } | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? 0);
    return {
      pss: kb("Pss") / 1024,
      private: (kb("Private_Clean") + kb("Private_Dirty")) / 1024,
      rss: kb("Rss") / 1024,
    };
  } catch {
    return null;
  }
}

/** Resident memory of a process in MiB (VmRSS), or null. */
export function rssMiB(pid: number): number | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/^VmRSS:\s+(\d+)/m.exec(text)?.[1] ?? NaN) / 1024;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a process has used (/proc/PID/stat), or null. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** The PIDs of processes whose command line contains `needle` and whose parent is `ppid`. */
export function childrenMatching(ppid: number, needle: string): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent !== ppid) continue;
      if (Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes(needle)) found.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** A Markdown table. */
export function table(
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n") + "\n";
}

/** The machine, for the report's head. */
export async function hostInfo(): Promise<Record<string, string | number>> {
  const text = (path: string) => Deno.readTextFile(path).then((t) => t.trim()).catch(() => "?");
  const cpuinfo = await text("/proc/cpuinfo");
  const meminfo = await text("/proc/meminfo");
  const v2 = await Deno.stat("/sys/fs/cgroup/cgroup.controllers").then(() => true, () => false);
  return {
    cpus: navigator.hardwareConcurrency,
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "?",
    memGiB: round(Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0) / 1024 / 1024),
    kernel: await text("/proc/sys/kernel/osrelease"),
    cgroup: v2 ? "v2" : "v1",
    deno: Deno.version.deno,
  };
}

/** Runs a command to completion; its stdout as text. Throws on a non-zero exit. */
export async function run(command: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

/** Whether `command args...` runs and exits with 0 (false also when it cannot start at all). */
export async function succeeds(command: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(command, { args, stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** Whether `command` can be found on PATH. */
export function have(command: string): Promise<boolean> {
  return succeeds("sh", ["-c", `command -v ${command}`]);
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The PIDs of every descendant of `pid` (children, their children, ...), with their states. */
export function descendants(pid: number): { pid: number; state: string; comm: string }[] {
  const children = new Map<number, { pid: number; state: string; comm: string }[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    const child = Number(entry.name);
    if (!Number.isInteger(child)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${child}/stat`);
      const close = stat.lastIndexOf(")");
      const [state, ppid] = stat.slice(close + 2).split(" ");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const list = children.get(Number(ppid)) ?? [];
      list.push({ pid: child, state: state!, comm });
      children.set(Number(ppid), list);
    } catch {
      // Gone meanwhile.
    }
  }
  const found: { pid: number; state: string; comm: string }[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}

/** Directories named `name` or below one, anywhere under /sys/fs/cgroup. */
export function cgroupDirsUnder(name: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, inside: boolean) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!entry.isDirectory) continue;
      const path = `${dir}/${entry.name}`;
      const match = inside || entry.name === name;
      if (match) found.push(path);
      walk(path, match);
    }
  };
  walk("/sys/fs/cgroup", false);
  return found;
}

/** Number of open fds of a process, or null. */
export function fdCount(pid: number): number | null {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
  } catch {
    return null;
  }
}

/** Number of mounts a process sees, or null. */
export function mountCount(pid: number): number | null {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/mountinfo`).trim().split("\n").length;
  } catch {
    return null;
  }
}

const interruptCleanups = new Set<() => Promise<void>>();

/**
 * Registers what Ctrl-C must undo (a server to stop, a manager to close);
 * returns the unregistration. `finally` blocks do not run when a signal
 * ends the process, so scripts/bench.ts runs these instead.
 */
export function onInterrupt(cleanup: () => Promise<void>): () => void {
  interruptCleanups.add(cleanup);
  return () => interruptCleanups.delete(cleanup);
}

/** Runs every registered cleanup (see onInterrupt). */
export async function runInterruptCleanups(): Promise<void> {
  await Promise.allSettled([...interruptCleanups].map((cleanup) => cleanup()));
}

/** CPU seconds the whole host has spent busy since boot (/proc/stat: user, nice, system, irq, softirq). */
export function hostBusySeconds(): number {
  const fields = Deno.readTextFileSync("/proc/stat").split("\n")[0]!.trim().split(/\s+/).slice(1);
  const ticks = [0, 1, 2, 5, 6].reduce((sum, i) => sum + Number(fields[i]), 0);
  return ticks / 100;
}
