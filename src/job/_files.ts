/**
 * The layout of a job's directory, `<data>/jobs/<id>/`: what lives where,
 * and making it for a new job. See src/executor/protocol.ts for what the
 * executor does with each file.
 *
 * | name           | what                                                      |
 * | -------------- | --------------------------------------------------------- |
 * | `record.json`  | the job's record (./_record.ts)                           |
 * | `output`       | the job's output, append-only                             |
 * | `reports`      | the executor's reports, append-only JSON lines            |
 * | `control`      | FIFO for commands to the executor                         |
 * | `input`        | FIFO for an interactive job's input (only for those)      |
 * | `executor.log` | the executor's own diagnostics                            |
 * | `work/`        | the job's working directory (`/work`), owned by its uid   |
 *
 * @module
 */
import { join } from "node:path";
import { makeFifo, reserveSpace } from "../../ffi/mod.ts";
import type { JobFiles, JobIdentity } from "../executor/protocol.ts";

/** Disk space held for a job's reports: a few lines of JSON, many times over. */
const REPORTS_RESERVE_BYTES = 64 * 1024;

/** The paths of one job's directory. */
export interface JobPaths extends JobFiles {
  /** The input FIFO (made only for interactive jobs). */
  input: string;
  /** The job's directory. */
  dir: string;
  /** The job's working directory on the host. */
  work: string;
}

/** The paths of job `id` below `dataDir`. */
export function jobPaths(dataDir: string, id: string): JobPaths {
  const dir = join(dataDir, "jobs", id);
  return {
    dir,
    work: join(dir, "work"),
    output: join(dir, "output"),
    reports: join(dir, "reports"),
    control: join(dir, "control"),
    log: join(dir, "executor.log"),
    input: join(dir, "input"),
  };
}

/**
 * Makes a new job's directory: mode 0700 (only the server reads it), an
 * empty reports file, the control FIFO (and with `interactive` the input
 * FIFO), and `work/` owned by the job's
 * user. The output file is made by the caller (OutputFile.create).
 *
 * @throws Deno.errors.AlreadyExists when the directory exists.
 */
export async function makeJobDir(
  paths: JobPaths,
  identity: JobIdentity,
  options: { interactive?: boolean } = {},
): Promise<void> {
  await Deno.mkdir(paths.dir, { mode: 0o700 });
  await Deno.writeFile(paths.reports, new Uint8Array(), { createNew: true, mode: 0o600 });
  // The reports are how a job's end survives anything; a full disk must not stop them.
  reserveSpace(paths.reports, REPORTS_RESERVE_BYTES);
  makeFifo(paths.control, 0o600);
  if (options.interactive) makeFifo(paths.input, 0o600);
  await Deno.mkdir(paths.work, { mode: 0o700 });
  await Deno.chown(paths.work, identity.uid, identity.gid);
}
