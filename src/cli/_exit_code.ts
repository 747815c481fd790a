/**
 * The exit status of `start -f` and `status -w`: the job's own, the way a
 * shell, `docker run` and `systemd-run --wait` report a process's end, so
 * that `jobworker start -f -- make test && deploy` means what it says.
 *
 * @module
 */
import type { JobStatus } from "../job/mod.ts";
import { escapeControl } from "./format.ts";
// The table without FFI: the CLI runs on client machines and must not load ffi/.
import { SIGNALS } from "../signals/mod.ts";

/** jobworker itself failed while running or waiting for a job (docker's 125). */
export const EXIT_WAIT_FAILURE = 125;
/** The job failed: the server could not run or supervise it (a shell's 126, "cannot execute"). */
export const EXIT_JOB_FAILED = 126;
/** A signal ended the job: 128 + its number, as shells report it. */
export const EXIT_SIGNAL_BASE = 128;

/** The number of a signal name like `SIGTERM`, or `SIG<n>` (how the server names real-time signals); null if unknown. */
export function signalNumber(name: string): number | null {
  const known = SIGNALS[name];
  if (known !== undefined) return known;
  const numbered = /^SIG(\d{1,2})$/.exec(name);
  const n = numbered === null ? NaN : Number(numbered[1]);
  return n >= 1 && n <= 64 ? n : null;
}

/**
 * The exit status for a job that has ended:
 *
 * - exited with code N: N;
 * - ended by signal S (exited or stopped): 128 + S, e.g. 137 for SIGKILL
 *   (also when the OOM killer struck), 143 for SIGTERM;
 * - stopped, but the job exited by itself after the stop's SIGTERM:
 *   143, as if SIGTERM had ended it, so that a stopped job never looks
 *   like a success;
 * - failed: {@link EXIT_JOB_FAILED};
 * - a signal the CLI cannot number: {@link EXIT_WAIT_FAILURE}.
 *
 * @throws {Error} for a job that still runs (a caller's mistake)
 */
export function exitCodeOf(status: JobStatus): number {
  switch (status.state) {
    case "running":
      throw new Error(`job ${status.id} still runs: it has no exit status yet`);
    case "failed":
      return EXIT_JOB_FAILED;
    case "exited":
    case "stopped": {
      if (status.signal !== null) {
        const n = signalNumber(status.signal);
        return n === null ? EXIT_WAIT_FAILURE : EXIT_SIGNAL_BASE + n;
      }
      if (status.state === "stopped") return EXIT_SIGNAL_BASE + SIGNALS.SIGTERM!;
      // An exit code is 0..255; anything else would be a server's mistake.
      return status.exitCode !== null && status.exitCode >= 0 && status.exitCode <= 255
        ? status.exitCode
        : EXIT_WAIT_FAILURE;
    }
  }
}

/**
 * How the job ended, for a line on stderr after `start -f` (which prints
 * nothing but the job's output on stdout); null for a clean exit with 0,
 * which needs no words.
 */
export function endNote(status: JobStatus): string | null {
  const oom = status.oomKilled ? " (out of memory)" : "";
  switch (status.state) {
    case "running":
      return null;
    case "failed":
      return `job ${status.id} failed: ${escapeControl(status.error ?? "no reason given")}`;
    case "stopped":
      return status.signal === null
        ? `job ${status.id} was stopped (it exited with ${status.exitCode ?? "no code"})`
        : `job ${status.id} was stopped by ${escapeControl(status.signal)}${oom}`;
    case "exited":
      if (status.signal !== null) {
        return `job ${status.id} was killed by ${escapeControl(status.signal)}${oom}`;
      }
      return status.exitCode === 0 && !status.oomKilled
        ? null
        : `job ${status.id} exited with code ${status.exitCode}${oom}`;
  }
}
