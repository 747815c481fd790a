/**
 * Which signals a user may send a job (Signal, `jobworker signal`): those
 * a program expects from another process. Signals that only make sense
 * from the kernel (SEGV, BUS, ILL, FPE, TRAP, SYS, CHLD, PIPE, XCPU, ...)
 * are refused: a program that receives them from a user is misled about
 * its own state. Stopping a job keeps its own path (Job.stop).
 *
 * @module
 */
import { SIGNALS } from "../signals/mod.ts";
import { JobArgumentError } from "./errors.ts";

/** The signals a job may be sent, without the `SIG` prefix. */
export const JOB_SIGNALS: readonly string[] = [
  "HUP",
  "INT",
  "QUIT",
  "ABRT",
  "KILL",
  "USR1",
  "USR2",
  "ALRM",
  "TERM",
  "CONT",
  "STOP",
  "TSTP",
  "TTIN",
  "TTOU",
  "WINCH",
];

/** A signal a job may be sent. */
export interface JobSignal {
  /** Its name with the prefix, e.g. `SIGHUP`. */
  name: string;
  /** Its number on Linux, e.g. 1. */
  number: number;
}

/**
 * Reads a signal as users write it: a name with or without `SIG`, in any
 * case (`hup`, `SIGUSR1`), or its number (`10`).
 *
 * @throws {JobArgumentError} for anything that is not one of {@link JOB_SIGNALS}
 * @example
 * ```ts
 * parseJobSignal("usr1"); // { name: "SIGUSR1", number: 10 }
 * parseJobSignal("9"); // { name: "SIGKILL", number: 9 }
 * ```
 */
export function parseJobSignal(input: string): JobSignal {
  const text = String(input).trim().toUpperCase();
  let name: string | undefined;
  if (/^\d{1,3}$/.test(text)) {
    const number = Number(text);
    name = Object.keys(SIGNALS).find((n) => SIGNALS[n] === number);
  } else {
    name = text.startsWith("SIG") ? text : `SIG${text}`;
  }
  if (name === undefined || !JOB_SIGNALS.includes(name.slice(3)) || SIGNALS[name] === undefined) {
    throw new JobArgumentError(
      `Cannot signal job: ${JSON.stringify(String(input).slice(0, 40))} is not a signal a job ` +
        `may be sent; one of ${JOB_SIGNALS.join(" ")} (name or number)`,
    );
  }
  return { name, number: SIGNALS[name]! };
}
