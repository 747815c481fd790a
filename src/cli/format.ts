/**
 * How the CLI shows job statuses: key/value lines for one job, a table for
 * many, and a stable JSON shape for scripts. Pure functions of their input.
 *
 * Text that comes from jobs (commands, arguments, owners, errors) is shown
 * with control characters escaped: a job started by one user must not be
 * able to move an admin's cursor or forge table rows with an argument
 * holding newlines or terminal escapes.
 *
 * @module
 */
import type { JobStatus } from "../job/mod.ts";
import { paintState } from "./_color.ts";

/** Options of the formatters whose output may be coloured. */
export interface ColorOptions {
  /** Colour the state (see ./_color.ts for when the CLI does); default false. */
  color?: boolean;
}

/** A job status as the CLI prints it with `--json`; the field list is part of the CLI's interface. */
export interface JobJson {
  id: string;
  owner: string;
  /** The user id the job's processes run as. */
  uid: number;
  /** Their group id. */
  gid: number;
  command: string;
  args: string[];
  state: JobStatus["state"];
  exitCode: number | null;
  signal: string | null;
  oomKilled: boolean;
  /** ISO 8601, UTC. */
  startedAt: string;
  /** ISO 8601, UTC; null while the job runs. */
  endedAt: string | null;
  /** The limits in force; null = unlimited. */
  limits: {
    cpu: number | null;
    memoryBytes: number | null;
    ioReadBps: number | null;
    ioWriteBps: number | null;
    pids: number | null;
  };
  /** Resource usage; null where the server has no figure. */
  usage: {
    cpuNs: number | null;
    memoryCurrentBytes: number | null;
    memoryPeakBytes: number | null;
    tasks: number | null;
    /** Bytes read from disks (not from the page cache). */
    ioReadBytes: number | null;
    /** Bytes written to disks. */
    ioWriteBytes: number | null;
  };
  /** What became of the output. */
  output: {
    /** Bytes stored; null when unknown. */
    bytes: number | null;
    /** The cap in force. */
    maxBytes: number;
    /** Output beyond the cap was discarded. */
    truncated: boolean;
    /** Why output could not be stored (e.g. a full disk), or null. */
    error: string | null;
  };
  /** Why the job failed (state `failed`), otherwise null. */
  error: string | null;
  /** The job's deadline in ms after its start, or null without one. */
  timeoutMs: number | null;
  /** The deadline stopped the job (its state is then `stopped`). */
  timedOut: boolean;
  /** The labels it was started with (none: `{}`). */
  labels: Record<string, string>;
}

/**
 * The JSON form of a status. Built field by field, not spread, so that a
 * field added to `JobStatus` does not silently change the CLI's output.
 */
export function statusToJson(status: JobStatus): JobJson {
  return {
    id: status.id,
    owner: status.owner,
    uid: status.uid,
    gid: status.gid,
    command: status.command,
    args: [...status.args],
    state: status.state,
    exitCode: status.exitCode,
    signal: status.signal,
    oomKilled: status.oomKilled,
    startedAt: status.startedAt.toISOString(),
    endedAt: status.endedAt === null ? null : status.endedAt.toISOString(),
    limits: {
      cpu: status.limits.cpu,
      memoryBytes: status.limits.memoryBytes,
      ioReadBps: status.limits.ioReadBps,
      ioWriteBps: status.limits.ioWriteBps,
      pids: status.limits.pids,
    },
    usage: {
      cpuNs: status.usage.cpuNs,
      memoryCurrentBytes: status.usage.memoryCurrentBytes,
      memoryPeakBytes: status.usage.memoryPeakBytes,
      tasks: status.usage.tasks,
      ioReadBytes: status.usage.ioReadBytes,
      ioWriteBytes: status.usage.ioWriteBytes,
    },
    output: {
      bytes: status.output.bytes,
      maxBytes: status.output.maxBytes,
      truncated: status.output.truncated,
      error: status.output.error,
    },
    error: status.error,
    timeoutMs: status.timeoutMs,
    timedOut: status.timedOut,
    labels: { ...status.labels },
  };
}

/** `value` as indented JSON with a final newline. */
export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}

/**
 * `text` with control characters (C0, DEL, C1, and the Unicode line and
 * bidi-override characters) written as escapes like `\n` or `\x1b`.
 */
export function escapeControl(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => {
      const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
      const code = c.charCodeAt(0);
      return named[c] ??
        (code <= 0xff
          ? `\\x${code.toString(16).padStart(2, "0")}`
          : `\\u${code.toString(16).padStart(4, "0")}`);
    },
  );
}

/** One word quoted for a POSIX shell when it needs it, with control characters escaped. */
function shellWord(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${escapeControl(word).replaceAll("'", `'\\''`)}'`;
}

/** The command line as one could type it in a shell, e.g. `sh -c 'echo hi'`. */
export function formatCommand(command: string, args: readonly string[]): string {
  return [command, ...args].map(shellWord).join(" ");
}

/** Bytes in binary units: `512MiB`, `1.5GiB`, `100B`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  // Whole numbers print without a fraction; others keep one decimal (trimmed if .0).
  const text = Number.isInteger(value) ? String(value) : value.toFixed(1).replace(/\.0$/, "");
  return `${text}${units[unit]}`;
}

/** How the job ended, in one word: the exit code, the signal, or `-` while it runs. */
export function formatExit(status: JobStatus): string {
  const how = status.exitCode !== null
    ? String(status.exitCode)
    : status.signal !== null
    ? escapeControl(status.signal)
    : "-";
  return status.oomKilled ? `${how} (oom)` : how;
}

/**
 * Labels as `--label` takes them, comma-separated in key order:
 * `team=infra,tier=batch` (a key or value cannot hold a comma); `-` for none.
 */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "-";
  return keys.map((key) => `${escapeControl(key)}=${escapeControl(labels[key]!)}`).join(",");
}

/**
 * A duration exactly, as `--timeout` takes it back: the units from days
 * down to milliseconds that are not zero, `1h30m`, `90s` as `1m30s`,
 * `1.5s` as `1s500ms`; `0s` for zero.
 */
export function formatTimeout(ms: number): string {
  let rest = Math.max(0, Math.round(ms));
  const parts: string[] = [];
  for (
    const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const
  ) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.length === 0 ? "0s" : parts.join("");
}

/** A time as ISO 8601 in UTC to the second, e.g. `2024-05-01T12:00:00Z`. */
export function formatTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function formatLimits(limits: JobStatus["limits"]): string {
  const io = (bps: number | null) => bps === null ? "unlimited" : `${formatBytes(bps)}/s`;
  return [
    `cpu ${limits.cpu === null ? "unlimited" : limits.cpu}`,
    `memory ${limits.memoryBytes === null ? "unlimited" : formatBytes(limits.memoryBytes)}`,
    `pids ${limits.pids === null ? "unlimited" : limits.pids}`,
    `io read ${io(limits.ioReadBps)}`,
    `io write ${io(limits.ioWriteBps)}`,
  ].join(", ");
}

function formatUsage(usage: JobStatus["usage"]): string {
  const parts: string[] = [];
  if (usage.cpuNs !== null) parts.push(`cpu ${(usage.cpuNs / 1e9).toFixed(3)}s`);
  if (usage.memoryCurrentBytes !== null) {
    parts.push(`memory ${formatBytes(usage.memoryCurrentBytes)}`);
  }
  if (usage.memoryPeakBytes !== null) parts.push(`peak ${formatBytes(usage.memoryPeakBytes)}`);
  if (usage.tasks !== null) parts.push(`tasks ${usage.tasks}`);
  return parts.length === 0 ? "-" : parts.join(", ");
}

function formatOutput(output: JobStatus["output"]): string {
  const size = output.bytes === null ? "unknown size" : formatBytes(output.bytes);
  let text = `${size} (cap ${formatBytes(output.maxBytes)})`;
  if (output.truncated) text += ", truncated at the cap";
  if (output.error !== null) text += `, ${escapeControl(output.error)}`;
  return text;
}

/**
 * One job as aligned `Key: value` lines (ID, Owner, Runs as, Command, Labels
 * when it has any, State (with `(timed out)` when its deadline stopped it),
 * Exit, OOM killed, Started, Ended, Timeout when it has a deadline, Limits,
 * Usage, Output, and Error when there is one), ending in a newline.
 */
export function formatStatus(status: JobStatus, options: ColorOptions = {}): string {
  const state = options.color ? paintState(status.state, status) : status.state;
  const rows: [string, string][] = [
    ["ID", escapeControl(status.id)],
    ["Owner", escapeControl(status.owner)],
    ["Runs as", `uid ${status.uid}, gid ${status.gid}`],
    ["Command", formatCommand(status.command, status.args)],
  ];
  if (Object.keys(status.labels).length > 0) rows.push(["Labels", formatLabels(status.labels)]);
  rows.push(
    ["State", status.timedOut ? `${state} (timed out)` : state],
    ["Exit", formatExit(status)],
    ["OOM killed", status.oomKilled ? "yes" : "no"],
    ["Started", formatTime(status.startedAt)],
    ["Ended", status.endedAt === null ? "-" : formatTime(status.endedAt)],
  );
  if (status.timeoutMs !== null) rows.push(["Timeout", formatTimeout(status.timeoutMs)]);
  rows.push(
    ["Limits", formatLimits(status.limits)],
    ["Usage", formatUsage(status.usage)],
    ["Output", formatOutput(status.output)],
  );
  if (status.error !== null) rows.push(["Error", escapeControl(status.error)]);
  const width = Math.max(...rows.map(([key]) => key.length)) + 1;
  return rows.map(([key, value]) => `${`${key}:`.padEnd(width)} ${value}\n`).join("");
}

/**
 * A duration for a table cell: `0.4s`, `59.9s`, `5m07s`, `2h05m`, `3d04h`.
 * Negative durations (clock skew) show as `0.0s`.
 */
export function formatDuration(ms: number): string {
  const total = Math.max(0, ms);
  if (total < 60_000) return `${(Math.floor(total / 100) / 10).toFixed(1)}s`;
  const two = (n: number) => String(n).padStart(2, "0");
  const seconds = Math.floor(total / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${two(seconds % 60)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 24 * 60) return `${Math.floor(minutes / 60)}h${two(minutes % 60)}m`;
  const hours = Math.floor(minutes / 60);
  return `${Math.floor(hours / 24)}d${two(hours % 24)}h`;
}

/** `text` cut to `width` characters, the cut marked with `…`. */
function truncate(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : chars.slice(0, Math.max(0, width - 1)).join("") + "…";
}

/** A table cell: its text, and the job whose state colours it (for the STATE column). */
type Cell = string | { text: string; stateOf: JobStatus };

/**
 * Columns separated by two spaces and aligned by their characters (colour
 * escapes are added after padding so that they take no width); the last
 * column is not padded.
 */
function table(header: string[], rows: Cell[][], options: ColorOptions): string {
  const textOf = (cell: Cell) => typeof cell === "string" ? cell : cell.text;
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => [...textOf(r[i]!)].length))
  );
  const line = (cells: Cell[]) =>
    cells
      .map((cell, i) => {
        const text = textOf(cell);
        const padding = i === cells.length - 1 ? "" : " ".repeat(widths[i]! - [...text].length);
        const shown = typeof cell !== "string" && options.color
          ? paintState(text, cell.stateOf)
          : text;
        return shown + padding;
      })
      .join("  ") + "\n";
  return [header, ...rows].map(line).join("");
}

/**
 * A table of jobs with the columns ID, OWNER, STATE, EXIT, STARTED,
 * COMMAND; commands longer than `commandWidth` (default 40) characters are
 * shortened. No jobs: the header alone, so scripts and eyes see the same
 * shape.
 */
export function formatList(
  statuses: readonly JobStatus[],
  options: { commandWidth?: number } & ColorOptions = {},
): string {
  const commandWidth = options.commandWidth ?? 40;
  const header = ["ID", "OWNER", "STATE", "EXIT", "STARTED", "COMMAND"];
  const rows = statuses.map((s): Cell[] => [
    escapeControl(s.id),
    escapeControl(s.owner),
    { text: s.state, stateOf: s },
    formatExit(s),
    formatTime(s.startedAt),
    truncate(formatCommand(s.command, s.args), commandWidth),
  ]);
  return table(header, rows, options);
}

/**
 * The wide table of jobs: ID, OWNER, STATE, EXIT, STARTED, ENDED, DURATION
 * (until now, `options.now`, while a job runs), CPU (time used), MEMORY
 * (peak), OUTPUT (bytes stored, marked when truncated at the cap), LABELS
 * (only when a job in the table has any) and the whole COMMAND. `-` where
 * there is no figure.
 */
export function formatWideList(
  statuses: readonly JobStatus[],
  options: { now?: Date } & ColorOptions = {},
): string {
  const now = options.now ?? new Date();
  const header = [
    "ID",
    "OWNER",
    "STATE",
    "EXIT",
    "STARTED",
    "ENDED",
    "DURATION",
    "CPU",
    "MEMORY",
    "OUTPUT",
    "COMMAND",
  ];
  // Tables of jobs without labels keep the columns they always had.
  const withLabels = statuses.some((s) => Object.keys(s.labels).length > 0);
  if (withLabels) header.splice(header.length - 1, 0, "LABELS");
  const rows = statuses.map((s): Cell[] => {
    const output = s.output.bytes === null ? "-" : formatBytes(s.output.bytes);
    const labels = withLabels ? [formatLabels(s.labels)] : [];
    return [
      escapeControl(s.id),
      escapeControl(s.owner),
      { text: s.state, stateOf: s },
      formatExit(s),
      formatTime(s.startedAt),
      s.endedAt === null ? "-" : formatTime(s.endedAt),
      formatDuration((s.endedAt ?? now).getTime() - s.startedAt.getTime()),
      s.usage.cpuNs === null ? "-" : `${(s.usage.cpuNs / 1e9).toFixed(3)}s`,
      s.usage.memoryPeakBytes === null ? "-" : formatBytes(s.usage.memoryPeakBytes),
      s.output.truncated ? `${output}(truncated)` : output,
      ...labels,
      formatCommand(s.command, s.args),
    ];
  });
  return table(header, rows, options);
}
