/**
 * What a starting server finds in its data directory and cgroup tree, made
 * to agree with reality:
 *
 * - a job whose record says it runs and whose executor still runs (same PID,
 *   same start time) is adopted: status, stop and output work as before;
 * - a job whose executor ended while no server watched gets its end from
 *   the executor's `exited` report, or, without one, is marked failed with
 *   the reason; its cgroup is killed and removed;
 * - a job that was still starting (its Start never answered) is failed and
 *   cleaned up the same way;
 * - a job directory without a record (the server died before writing the
 *   first one) and a job cgroup without a running job are removed;
 * - a record that cannot be read is left alone and reported.
 *
 * @module
 */
import type { CgroupDriver, CgroupStats, JobCgroup } from "../cgroup/mod.ts";
import { adoptExecutor, type ExecutorProcess } from "../executor/launch.ts";
import { type ExecutorReport, parseReport } from "../executor/protocol.ts";
import { type JobPaths, jobPaths } from "./_files.ts";
import { type JobRecord, loadRecord } from "./_record.ts";
import { type ResourceUsage, usageOf } from "./job.ts";

/** One job found at start. */
export interface RecoveredJob {
  record: JobRecord;
  paths: JobPaths;
  /** Its executor and cgroup when it still runs; null when it has ended. */
  running: { executor: ExecutorProcess; cgroup: JobCgroup } | null;
  /** The record changed during recovery and must be saved. */
  changed: boolean;
}

/** What {@link recoverJobs} found and did. */
export interface Recovery {
  jobs: RecoveredJob[];
  /** One line per thing done or found wrong, for the server's log. */
  notes: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function readReports(path: string): ExecutorReport[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return [];
  }
  const reports: ExecutorReport[] = [];
  for (const line of text.split("\n")) {
    try {
      reports.push(parseReport(line));
    } catch {
      // A torn last line or nothing at all.
    }
  }
  return reports;
}

/** Final figures: no process is left, so nothing is in use any more. */
function finalUsage(stats: CgroupStats | null): ResourceUsage | null {
  if (stats === null) return null;
  return usageOf({ ...stats, memoryCurrentBytes: 0, pidsCurrent: 0 });
}

async function outputSize(path: string): Promise<number | null> {
  return await Deno.stat(path).then((s) => s.size, () => null);
}

/** Kills and removes the job's cgroup if there is one; returns its last figures. */
async function endCgroup(driver: CgroupDriver, id: string): Promise<CgroupStats | null> {
  let cgroup: JobCgroup;
  try {
    cgroup = await driver.open(id);
  } catch {
    return null;
  }
  await cgroup.kill().catch(() => {});
  const stats = await cgroup.stats().catch(() => null);
  await cgroup.destroy().catch(() => {});
  return stats;
}

/**
 * Ends `record` from what the executor left behind: its `exited` report,
 * or else a failure saying so.
 */
async function finishFromReports(
  record: JobRecord,
  options: { paths: JobPaths; driver: CgroupDriver; why: string },
): Promise<void> {
  const reports = readReports(options.paths.reports);
  const stats = await endCgroup(options.driver, record.id);
  const exited = reports.findLast((r) => r.type === "exited");
  const output = reports.findLast((r) => r.type === "output");
  if (output?.type === "output") {
    record.output = { ...record.output, truncated: output.truncated, error: output.error };
  }
  if (exited?.type === "exited") {
    record.exitCode = exited.exitCode;
    record.signal = exited.signal;
    record.state = exited.terminated ? "stopped" : "exited";
    record.output.bytes = exited.outputBytes;
  } else {
    record.state = "failed";
    record.error = options.why;
    record.output.bytes = await outputSize(options.paths.output);
  }
  record.oomKilled = record.oomKilled || (stats?.oomKills ?? 0) > 0;
  record.usage = finalUsage(stats) ?? record.usage;
  record.endedAt = new Date().toISOString();
  record.executor = null;
}

/** Recovers every job below `dataDir`; see the module doc. */
export async function recoverJobs(
  options: { dataDir: string; driver: CgroupDriver },
): Promise<Recovery> {
  const { dataDir, driver } = options;
  const jobs: RecoveredJob[] = [];
  const notes: string[] = [];
  const keepCgroups = new Set<string>();
  const names: string[] = [];
  for await (const entry of Deno.readDir(`${dataDir}/jobs`)) {
    if (entry.isDirectory) names.push(entry.name);
  }
  for (const id of names.sort()) {
    const paths = jobPaths(dataDir, id);
    if (!UUID.test(id)) {
      notes.push(`left alone: ${paths.dir} is not a job directory`);
      continue;
    }
    const loaded = await loadRecord(paths.dir);
    if (loaded.kind === "invalid") {
      notes.push(`left alone: job ${id} has a record that cannot be read (${loaded.reason})`);
      keepCgroups.add(id);
      continue;
    }
    if (loaded.kind === "none") {
      // The server died before the first record: the Start never answered.
      await endCgroup(driver, id);
      await Deno.remove(paths.dir, { recursive: true }).catch(() => {});
      notes.push(`removed: job ${id} had no record (its start was interrupted)`);
      continue;
    }
    const record = loaded.record;
    if (record.state === "starting") {
      await finishFromReports(record, {
        paths,
        driver,
        why: "the server stopped while the job was starting",
      });
      // Even if it got going, nobody was ever told of it: it ends here, failed.
      (record as JobRecord).state = "failed";
      record.error = "the server stopped while the job was starting";
      jobs.push({ record, paths, running: null, changed: true });
      notes.push(`failed: job ${id} was starting when the server stopped`);
      continue;
    }
    if (record.state !== "running") {
      jobs.push({ record, paths, running: null, changed: false });
      continue;
    }
    const executor = record.executor === null ? null : adoptExecutor(record.executor, paths);
    if (executor !== null) {
      try {
        const cgroup = await driver.open(id);
        keepCgroups.add(id);
        jobs.push({ record, paths, running: { executor, cgroup }, changed: false });
        notes.push(`adopted: job ${id} (executor pid ${record.executor?.pid})`);
        continue;
      } catch {
        // The executor runs but its job's cgroup is gone: the job cannot be trusted.
        executor.kill();
        await executor.ended;
      }
    }
    await finishFromReports(record, {
      paths,
      driver,
      why: "the job's executor ended while no server was running; " +
        "it left no exit report, so how the job ended is unknown",
    });
    jobs.push({ record, paths, running: null, changed: true });
    notes.push(`ended while the server was away: job ${id} (${record.state})`);
  }
  for (const name of await driver.list()) {
    if (keepCgroups.has(name)) continue;
    await endCgroup(driver, name);
    notes.push(`removed: cgroup ${name} belonged to no running job`);
  }
  jobs.sort((a, b) => a.record.createdAt.localeCompare(b.record.createdAt));
  return { jobs, notes };
}
