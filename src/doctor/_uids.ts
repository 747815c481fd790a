/**
 * Whether the job uid range is free: no account or group in /etc/passwd or
 * /etc/group has an id in it (jobs use the same number as uid and gid), and
 * no running process has one, except processes of jobworker's own jobs
 * (descendants of an executor). A process of something else there would
 * share its uid with a job: the job could signal it, trace it and take its
 * files.
 *
 * @module
 */
import { type CheckName, fail, messageOf, ok, skip } from "./_check.ts";
import { type IdEntry, parseIdFile, parseIds, parseStat, parseStatus } from "./_proc.ts";
import { type CheckResult, DOCTOR_PROBE_ARG, type UidRange } from "./types.ts";

/** One process, as far as the check needs it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** The command name (/proc/PID/comm). */
  comm: string;
  /** Real, effective, saved and file-system uids. */
  uids: number[];
  /** Real, effective, saved and file-system gids. */
  gids: number[];
  /** The command line, or null when unreadable. */
  argv: string[] | null;
}

/** What the uid check decides from. */
export interface UidFacts {
  /** /etc/passwd entries, or the error reading it. */
  passwd: IdEntry[] | string;
  /** /etc/group entries, or the error reading it. */
  group: IdEntry[] | string;
  /** Every process visible in /proc. */
  processes: ProcessInfo[];
  /** Processes are hidden from the doctor (/proc mounted with hidepid and not root). */
  hidden: boolean;
}

const NAME = { id: "uids.range", title: "Job uid range free" } satisfies CheckName;

/**
 * Whether `argv` is jobworker's: an executor (the compiled server's flag,
 * or src/executor/main.ts run by Deno), or a doctor's probe child (another
 * doctor may be running: its probe ends on a uid of the range).
 */
function isJobworker(argv: readonly string[] | null): boolean {
  return argv !== null && argv.some((a) =>
    a === "--jobworker-executor" || a === DOCTOR_PROBE_ARG ||
    /(^|\/)src\/(executor\/main|doctor\/_probe_main)\.ts$/.test(a)
  );
}

/**
 * Whether `pid` is jobworker's or descends from it, walking the parent
 * chain from the process itself: an executor's main thread holds the job's
 * uid for a moment while it starts the job.
 */
function isOurs(pid: number, byPid: ReadonlyMap<number, ProcessInfo>): boolean {
  const seen = new Set<number>();
  for (let p = byPid.get(pid); p !== undefined && !seen.has(p.pid); p = byPid.get(p.ppid)) {
    seen.add(p.pid);
    if (isJobworker(p.argv)) return true;
  }
  return false;
}

/** The uid range check. Pure. */
export function uidRangeCheck(facts: UidFacts, range: UidRange): CheckResult {
  const inRange = (id: number) => id >= range.first && id <= range.last;
  const text = `${range.first}-${range.last}`;
  const problems: string[] = [];
  for (const [file, entries] of [["/etc/passwd", facts.passwd], ["/etc/group", facts.group]]) {
    if (typeof entries === "string") {
      problems.push(`Cannot read ${file}: ${entries}`);
      continue;
    }
    const taken = (entries as IdEntry[]).filter((e) => inRange(e.id));
    if (taken.length > 0) {
      const names = taken.slice(0, 3).map((e) => `${e.name} (${e.id})`).join(", ");
      problems.push(
        `${file} has ${names}${taken.length > 3 ? ` and ${taken.length - 3} more` : ""}`,
      );
    }
  }
  const byPid = new Map(facts.processes.map((p) => [p.pid, p]));
  const inside = facts.processes.filter((p) => [...p.uids, ...p.gids].some(inRange));
  const ours = inside.filter((p) => isOurs(p.pid, byPid));
  const foreign = inside.filter((p) => !ours.includes(p));
  if (foreign.length > 0) {
    const list = foreign.slice(0, 3).map((p) =>
      `pid ${p.pid} (${p.comm}) uid ${p.uids[0] ?? "?"} gid ${p.gids[0] ?? "?"}`
    ).join(", ");
    problems.push(
      `running process(es) not started by jobworker: ${list}` +
        (foreign.length > 3 ? ` and ${foreign.length - 3} more` : ""),
    );
  }
  if (problems.length > 0) {
    return fail(
      NAME,
      `${text} is in use: ${problems.join("; ")}; jobs would share ids with them ` +
        "(choose another --job-uid-range)",
      { brief: "job uid range in use" },
    );
  }
  if (facts.hidden) {
    return skip(NAME, "other users' processes are hidden from this uid (/proc hidepid)");
  }
  const note = ours.length === 0
    ? "no process"
    : `only ${ours.length} process(es) of jobworker's own jobs`;
  return ok(NAME, `${text}: no account or group in /etc/passwd, /etc/group; ${note} in it`);
}

async function readIdFile(path: string): Promise<IdEntry[] | string> {
  try {
    return parseIdFile(await Deno.readTextFile(path));
  } catch (err) {
    return messageOf(err);
  }
}

async function readProcess(pid: number): Promise<ProcessInfo | null> {
  try {
    const status = parseStatus(await Deno.readTextFile(`/proc/${pid}/status`));
    const stat = parseStat(await Deno.readTextFile(`/proc/${pid}/stat`));
    if (stat === null) return null;
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => null);
    return {
      pid,
      ppid: stat.ppid,
      comm: stat.comm,
      uids: parseIds(status.get("Uid")),
      gids: parseIds(status.get("Gid")),
      argv: cmdline === null ? null : cmdline.split("\0").filter((a) => a !== ""),
    };
  } catch {
    return null; // It ended while we looked.
  }
}

/**
 * Reads /etc/passwd, /etc/group and every process. `procHidden` says
 * whether /proc hides other users' processes from this process.
 */
export async function gatherUidFacts(options: { procHidden: boolean }): Promise<UidFacts> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (/^\d+$/.test(entry.name)) pids.push(Number(entry.name));
  }
  const processes = (await Promise.all(pids.map(readProcess)))
    .filter((p): p is ProcessInfo => p !== null);
  return {
    passwd: await readIdFile("/etc/passwd"),
    group: await readIdFile("/etc/group"),
    processes,
    hidden: options.procHidden,
  };
}
