/**
 * An interactive session with a job, for `start -i`, `start -t` and
 * `attach`: the CLI's stdin to the job (end-of-file passed on), the job's
 * output to stdout as it comes, until the job ends or the user leaves.
 *
 * With a terminal (`terminal: true`), the local terminal is put in raw
 * mode, so every key, Ctrl-C included, goes to the job's own terminal; its
 * size follows the local one (SIGWINCH); and the detach key sequence leaves
 * the job running. Whatever ends the session (the job's end, the detach
 * keys, a signal, an error, the terminal going away), the terminal's modes
 * are given back as they were before it returns or throws.
 *
 * Leaving a job running, the session does not cancel its Attach call: the
 * CLI exits right after a session, and its connection going away ends the
 * call, which leaves the job's input open (as it must for a client that is
 * killed; the server also takes a cancellation as a detach, never as
 * end-of-file).
 *
 * @module
 */
import type { JobStatus, OutputChunk, TerminalSize } from "../job/mod.ts";
import { DetachKeyMatcher } from "./_detach_keys.ts";
import type { LocalInput } from "./_local_input.ts";

/** What the CLI uses of an Attach call (`AttachSession` in src/api/attach.ts). */
export interface InteractiveSession {
  /** The job's output as it comes; ends with the job, or throws the call's error. */
  output(): AsyncGenerator<OutputChunk>;
  /** The job's final status once {@link output} has ended with it. */
  readonly status: JobStatus | null;
  /** Sends bytes to the job's stdin or terminal (waits while too much is in flight). */
  write(data: Uint8Array): Promise<void>;
  /** Tells the job's terminal its new size. */
  resize(size: TerminalSize): Promise<void>;
  /** End-of-file for the job; its output goes on. */
  end(): void;
}

/** How a session ended without an error. */
export type SessionEnd =
  /** The job ended; its final status (null: the stream ended without one). */
  | { kind: "ended"; status: JobStatus | null }
  /** The user typed the detach keys. */
  | { kind: "detached" }
  /**
   * A signal came (SIGINT, SIGTERM, SIGHUP; SIGHUP also stands for the
   * terminal going away), and the session was left; the job runs on.
   */
  | { kind: "interrupted"; signal: Deno.Signal };

/** Options of {@link runSession}. */
export interface SessionOptions {
  /** The call, attached already. */
  session: InteractiveSession;
  /** Where input comes from; null: send none (and no end-of-file either). */
  input: LocalInput | null;
  /**
   * The job has a terminal and `input` is one: raw mode, resizes, the
   * detach keys. Without it, input goes through as read, and its
   * end-of-file is passed on.
   */
  terminal: boolean;
  /** The detach sequence (empty: none); only with `terminal`. */
  detachKeys: Uint8Array;
  /** Writes all of an output chunk to stdout (or throws: the session ends with that error). */
  write: (data: Uint8Array) => Promise<void>;
  /**
   * Calls the handler on SIGINT, SIGTERM and SIGHUP (with the signal) until
   * the returned function is called.
   */
  onInterrupt: (handler: (signal?: Deno.Signal) => void) => () => void;
  /**
   * What the first signal does instead of leaving the session (`start -i`
   * stops the job and keeps showing its output); later ones leave it. Unset:
   * every signal leaves it.
   */
  firstInterrupt?: (signal: Deno.Signal) => void;
}

/** Resets colours and attributes, shows the cursor, and starts a new line (raw mode: CR LF). */
const TERMINAL_RESET = "\x1b[0m\x1b[?25h\r\n";

/**
 * Runs the session until the job ends (its output all written), the detach
 * keys, or a signal. When it returns or throws, the terminal is as it was,
 * and nothing more is read from stdin, written to stdout or sent to the job
 * (output that still comes is read and dropped, until the call ends).
 *
 * @throws what `write` throws (stdout closed), the call's error (ABORTED
 * when another client attached), an error reading stdin
 */
export async function runSession(options: SessionOptions): Promise<SessionEnd> {
  const { session, input, terminal } = options;
  const done = Promise.withResolvers<SessionEnd>();
  let over = false;
  const finish = (end: SessionEnd) => {
    if (over) return;
    over = true;
    done.resolve(end);
  };
  const fail = (err: unknown) => {
    if (over) return;
    over = true;
    done.reject(err);
  };

  let raw = false;
  let jobEnded = false;
  const cleanups: Array<() => void> = [];
  try {
    // Listening first: a signal must not find the terminal raw and no one to restore it.
    let interrupts = 0;
    cleanups.push(options.onInterrupt((signal = "SIGINT") => {
      interrupts++;
      if (interrupts === 1 && options.firstInterrupt !== undefined) {
        options.firstInterrupt(signal);
      } else {
        finish({ kind: "interrupted", signal });
      }
    }));
    if (terminal && input !== null) {
      await input.setRaw(true);
      raw = true;
      const resize = () => {
        const size = input.size();
        // A resize that does not get out is not worth ending the session for.
        if (size !== null && !over) session.resize(size).catch(() => {});
      };
      cleanups.push(input.onResize(resize));
      // The job's terminal takes the local size (`attach`: a full-screen program redraws).
      resize();
    }

    // Output: read all along, as the call's flow control needs; dropped once the session is left
    // (leaving the loop would cancel the call: see the module's doc).
    (async () => {
      for await (const chunk of session.output()) {
        if (!over) await options.write(chunk.data);
      }
      jobEnded = !over;
      finish({ kind: "ended", status: session.status });
    })().catch(fail);

    if (input !== null) {
      pumpInput(input, session, {
        terminal,
        detachKeys: terminal ? options.detachKeys : new Uint8Array(),
        over: () => over,
        finish,
      }).catch(fail);
    }
    return await done.promise;
  } finally {
    over = true;
    for (const cleanup of cleanups) cleanup();
    if (raw) {
      // Each step on its own: one failing (the terminal is gone) must not keep the others.
      // Left in the middle of the job's output: no colour or hidden cursor carried over.
      if (!jobEnded) await options.write(new TextEncoder().encode(TERMINAL_RESET)).catch(() => {});
      await input!.setRaw(false).catch(() => {});
    }
  }
}

/**
 * Sends what is read to the job until end-of-file (passed on as the job's)
 * or the detach keys; a terminal that reads end-of-file has gone away (as
 * with SIGHUP): the session is left, the job keeps its input open.
 */
async function pumpInput(
  input: LocalInput,
  session: InteractiveSession,
  options: {
    terminal: boolean;
    detachKeys: Uint8Array;
    over: () => boolean;
    finish: (end: SessionEnd) => void;
  },
): Promise<void> {
  const keys = new DetachKeyMatcher(options.detachKeys);
  for (;;) {
    const data = await input.read();
    if (options.over()) return;
    if (data === null) {
      if (options.terminal) return options.finish({ kind: "interrupted", signal: "SIGHUP" });
      const held = keys.flush();
      if (held.length > 0) await session.write(held);
      session.end();
      return;
    }
    const scan = keys.scan(data);
    if (scan.input.length > 0) await session.write(scan.input);
    if (scan.detach) return options.finish({ kind: "detached" });
  }
}
