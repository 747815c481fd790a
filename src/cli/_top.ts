/**
 * `top`'s table: rates from two samples of the jobs' usage (CPU %, disk
 * bytes per second), the sort orders, and the table cut to a terminal's
 * width. Pure functions of their input; the screen and the keys are in
 * ./_top_screen.ts.
 *
 * @module
 */
import type { JobStatus } from "../job/mod.ts";
import type { TopSortKey } from "./args.ts";
import { escapeControl, formatBytes, formatCommand, formatDuration } from "./format.ts";

/** What the server said at one moment: the running jobs by id, and when it was asked. */
export interface TopSample {
  /** When the answer came, in ms on a monotonic clock (performance.now()). */
  at: number;
  /** The jobs that were running, by id. */
  jobs: ReadonlyMap<string, JobStatus>;
}

/** The running jobs of `statuses` as a sample taken at `at`. */
export function topSample(statuses: readonly JobStatus[], at: number): TopSample {
  return {
    at,
    jobs: new Map(statuses.filter((s) => s.state === "running").map((s) => [s.id, s])),
  };
}

/** One job's line of the table, as numbers (null: no figure). */
export interface TopRow {
  id: string;
  owner: string;
  /** The command line as a shell would show it (control characters escaped). */
  command: string;
  /** CPU time between the two samples over the wall time between them; 100 = one core. */
  cpuPercent: number | null;
  memoryBytes: number | null;
  /** `memoryBytes` of the memory limit, in %. */
  memoryPercent: number | null;
  peakBytes: number | null;
  limitBytes: number | null;
  /** Disk bytes read per second between the two samples. */
  readRate: number | null;
  /** Disk bytes written per second between the two samples. */
  writeRate: number | null;
  tasks: number | null;
  /** Since the job started. */
  ageMs: number;
}

/** `after - before` per second over `ms`, or null without both figures (or when a counter went back). */
function rate(before: number | null | undefined, after: number | null, ms: number): number | null {
  if (before === null || before === undefined || after === null || ms <= 0) return null;
  const delta = after - before;
  return delta < 0 ? null : delta / (ms / 1000);
}

/**
 * The rows of the jobs running in `current`. Rates need the job in
 * `previous` too: a job seen for the first time has none yet (`-`).
 */
export function topRows(previous: TopSample | null, current: TopSample, now: Date): TopRow[] {
  const elapsedMs = previous === null ? 0 : current.at - previous.at;
  return [...current.jobs.values()].map((s) => {
    const before = previous?.jobs.get(s.id)?.usage;
    const cpuNsPerSecond = rate(before?.cpuNs, s.usage.cpuNs, elapsedMs);
    const limit = s.limits.memoryBytes;
    const memory = s.usage.memoryCurrentBytes;
    return {
      id: s.id,
      owner: s.owner,
      command: formatCommand(s.command, s.args),
      cpuPercent: cpuNsPerSecond === null ? null : cpuNsPerSecond / 1e9 * 100,
      memoryBytes: memory,
      memoryPercent: memory === null || limit === null || limit <= 0 ? null : memory / limit * 100,
      peakBytes: s.usage.memoryPeakBytes,
      limitBytes: limit,
      readRate: rate(before?.ioReadBytes, s.usage.ioReadBytes, elapsedMs),
      writeRate: rate(before?.ioWriteBytes, s.usage.ioWriteBytes, elapsedMs),
      tasks: s.usage.tasks,
      ageMs: Math.max(0, now.getTime() - s.startedAt.getTime()),
    };
  });
}

/** What each sort key sorts by, biggest first (`id`: in order). */
const SORT_VALUE: Record<TopSortKey, (row: TopRow) => number | null> = {
  cpu: (r) => r.cpuPercent,
  memory: (r) => r.memoryBytes,
  io: (r) =>
    r.readRate === null && r.writeRate === null ? null : (r.readRate ?? 0) + (r.writeRate ?? 0),
  age: (r) => r.ageMs,
  id: () => 0,
};

/**
 * `rows` sorted by `key`: CPU, memory, IO (read + write) and age biggest
 * first, rows without a figure last; ties, and `id`, by id.
 */
export function sortTopRows(rows: readonly TopRow[], key: TopSortKey): TopRow[] {
  const value = SORT_VALUE[key];
  return [...rows].sort((a, b) => {
    const va = value(a);
    const vb = value(b);
    if (va !== vb) {
      if (va === null) return 1;
      if (vb === null) return -1;
      return vb - va;
    }
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
}

/** The key that picks each sort order on the screen, and its name there. */
export const SORT_KEYS: Readonly<Record<string, { sort: TopSortKey; name: string }>> = {
  c: { sort: "cpu", name: "CPU" },
  m: { sort: "memory", name: "memory" },
  i: { sort: "io", name: "IO" },
  a: { sort: "age", name: "age" },
  n: { sort: "id", name: "id" },
};

/** The name of a sort order on the screen (`CPU`, `memory`, ...). */
export function sortName(key: TopSortKey): string {
  return Object.values(SORT_KEYS).find((k) => k.sort === key)!.name;
}

interface Column {
  header: string;
  /** Right-aligned (numbers) or left-aligned (text). */
  right: boolean;
  /** Fixed width, so the table does not jump between refreshes; null: its widest cell. */
  width: number | null;
  cell: (row: TopRow) => string;
}

const dash = (value: number | null, show: (n: number) => string) =>
  value === null ? "-" : show(value);
const percent = (n: number) => n.toFixed(1);
const bytesPerSecond = (n: number) => formatBytes(Math.round(n));

/** The columns, all of them, in order; COMMAND last. */
function columns(shortIds: boolean): Column[] {
  return [
    {
      header: "ID",
      right: false,
      width: null,
      cell: (r) => escapeControl(shortIds ? r.id.slice(0, 8) : r.id),
    },
    { header: "OWNER", right: false, width: null, cell: (r) => escapeControl(r.owner) },
    { header: "CPU%", right: true, width: 6, cell: (r) => dash(r.cpuPercent, percent) },
    { header: "MEM", right: true, width: 9, cell: (r) => dash(r.memoryBytes, formatBytes) },
    { header: "MEM%", right: true, width: 5, cell: (r) => dash(r.memoryPercent, percent) },
    { header: "PEAK", right: true, width: 9, cell: (r) => dash(r.peakBytes, formatBytes) },
    { header: "LIMIT", right: true, width: 9, cell: (r) => dash(r.limitBytes, formatBytes) },
    { header: "READ/s", right: true, width: 9, cell: (r) => dash(r.readRate, bytesPerSecond) },
    { header: "WRITE/s", right: true, width: 9, cell: (r) => dash(r.writeRate, bytesPerSecond) },
    { header: "TASKS", right: true, width: 5, cell: (r) => dash(r.tasks, String) },
    { header: "AGE", right: true, width: 6, cell: (r) => formatDuration(r.ageMs) },
    { header: "COMMAND", right: false, width: null, cell: (r) => r.command },
  ];
}

/**
 * What gives way, in order, when the table is wider than the terminal:
 * columns left out (named) or the ids shortened to 8 characters.
 */
const NARROWING: readonly string[] = [
  "LIMIT",
  "PEAK",
  "short ids",
  "OWNER",
  "TASKS",
  "MEM%",
  "AGE",
  "WRITE/s",
  "READ/s",
  "MEM",
];

/** The narrowest COMMAND column worth showing before other columns give way. */
const MIN_COMMAND_WIDTH = 12;

/** `text` cut to `width` characters, the cut marked with `…`. */
function fit(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : chars.slice(0, Math.max(0, width - 1)).join("") + "…";
}

/**
 * The table of `rows` (already sorted) as lines without newlines: a
 * header and one line per row, columns two spaces apart, no line longer
 * than `width` characters (null: no limit, every column, whole commands).
 * No rows: the header alone.
 */
export function topTable(rows: readonly TopRow[], options: { width: number | null }): string[] {
  const width = options.width;
  let shortIds = false;
  const dropped = new Set<string>();
  const layout = () => {
    const cols = columns(shortIds).filter((c) => !dropped.has(c.header));
    const widths = cols.map((c) =>
      Math.max(c.header.length, c.width ?? 0, ...rows.map((r) => [...c.cell(r)].length))
    );
    return { cols, widths };
  };
  let { cols, widths } = layout();
  // Everything but COMMAND, with the separators, and the narrowest COMMAND.
  const needed = () => widths.slice(0, -1).reduce((sum, w) => sum + w + 2, 0) + MIN_COMMAND_WIDTH;
  for (const step of NARROWING) {
    if (width === null || needed() <= width) break;
    if (step === "short ids") shortIds = true;
    else dropped.add(step);
    ({ cols, widths } = layout());
  }
  const line = (cells: string[]) => {
    const text = cells.map((cell, i) => {
      if (i === cells.length - 1) return cell;
      const pad = " ".repeat(Math.max(0, widths[i]! - [...cell].length));
      return cols[i]!.right ? pad + cell : cell + pad;
    }).join("  ");
    return width === null ? text : fit(text, width);
  };
  return [
    line(cols.map((c) => c.header)),
    ...rows.map((r) => line(cols.map((c) => c.cell(r)))),
  ];
}
