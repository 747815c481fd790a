/**
 * A job's record: everything the server knows of a job, as JSON in
 * `<data>/jobs/<id>/record.json`, replaced atomically (write a temporary
 * file, fsync it, rename it over the record, fsync the directory), so a
 * crash at any instant leaves the old or the new record, never a torn one.
 *
 * @module
 */
import { join } from "node:path";
import type { ExecutorIdentity } from "../executor/launch.ts";
import type { JobIdentity } from "../executor/protocol.ts";
import type { JobState, ResourceUsage } from "./job.ts";
import type { ResolvedSpec } from "./spec.ts";

/** The record format's version. */
export const RECORD_VERSION = 1;

/** Name of the record file in a job's directory. */
export const RECORD_FILE = "record.json";

/** One job's record. Dates are ISO 8601 strings. */
export interface JobRecord {
  version: typeof RECORD_VERSION;
  id: string;
  owner: string;
  spec: ResolvedSpec;
  identity: JobIdentity;
  /** The uid came from the dynamic range (and goes back to it when the job ends). */
  dynamicIdentity: boolean;
  /** The cap on stored output, bytes. */
  maxOutputBytes: number;
  /** "starting" until the executor reported the main process running. */
  state: JobState | "starting";
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  exitCode: number | null;
  signal: string | null;
  oomKilled: boolean;
  error: string | null;
  /** A stop was asked for (before the job ended). */
  stopRequested: boolean;
  /** The deadline in force, ms after the start (absent in records of older servers). */
  timeoutMs?: number | null;
  /** The deadline stopped the job. */
  timedOut?: boolean;
  /** Final usage figures, once ended. */
  usage: ResourceUsage | null;
  output: { bytes: number | null; truncated: boolean; error: string | null };
  /** The executor process, once it runs; how a restarted server finds it again. */
  executor: ExecutorIdentity | null;
}

/**
 * Writes `text` to `path` so that a crash of this process leaves either the
 * old file or the new one (a rename replaces it). With `durable`, also a
 * crash of the machine: the data is fsynced before the rename and the
 * directory after it.
 */
export async function writeFileAtomic(
  path: string,
  text: string,
  options: { durable: boolean },
): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  const tmp = `${path}.tmp`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
  try {
    await file.write(new TextEncoder().encode(text));
    if (options.durable) await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
  if (!options.durable) return;
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/**
 * Saves `record` in `jobDir`. The record of a running job is replaced
 * atomically but not fsynced: it only matters while the machine is up (a
 * power loss ends every job anyway, and recovery then finds its end in the
 * executor's reports or marks it failed). The record of an ended job is
 * durable.
 */
export async function saveRecord(jobDir: string, record: JobRecord): Promise<void> {
  await writeFileAtomic(join(jobDir, RECORD_FILE), JSON.stringify(record, null, 1) + "\n", {
    durable: record.state !== "running" && record.state !== "starting",
  });
}

function isRecord(v: unknown): v is JobRecord {
  const r = v as Partial<JobRecord> | null;
  return typeof r === "object" && r !== null && r.version === RECORD_VERSION &&
    typeof r.id === "string" && typeof r.owner === "string" && typeof r.state === "string" &&
    typeof r.spec === "object" && r.spec !== null && typeof r.identity === "object" &&
    typeof r.createdAt === "string";
}

/** What loading a job directory found. */
export type LoadedRecord =
  | { kind: "record"; record: JobRecord }
  | { kind: "none" }
  | { kind: "invalid"; reason: string };

/** Reads the record in `jobDir`. */
export async function loadRecord(jobDir: string): Promise<LoadedRecord> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(jobDir, RECORD_FILE));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { kind: "none" };
    return { kind: "invalid", reason: (err as Error).message };
  }
  try {
    const value: unknown = JSON.parse(text);
    if (isRecord(value)) return { kind: "record", record: value };
    return { kind: "invalid", reason: "not a job record of this version" };
  } catch (err) {
    return { kind: "invalid", reason: (err as Error).message };
  }
}
