/**
 * `--supervise`: a small parent that runs the server as its child and
 * restarts it, so the server can crash or be upgraded without its parent
 * (a systemd unit's main process) going away.
 *
 * Why: jobs outlive their server by design, and a new server adopts them.
 * Under systemd on cgroup v2 that only works if the unit's main process
 * stays: systemd starts every new main process in the unit's cgroup, which
 * the kernel refuses while that cgroup hands controllers to running jobs'
 * cgroups (EBUSY, "status=219/CGROUP"). The supervisor lives in the
 * supervisor leaf (see src/cgroup/leaf.ts) with its servers, and never
 * needs to be restarted itself.
 *
 * | event                           | the supervisor                                                  |
 * | ------------------------------- | --------------------------------------------------------------- |
 * | the server crashes (not exit 0) | starts it again: 1 s, doubling to 30 s while it keeps crashing   |
 * | SIGUSR2 or SIGHUP               | upgrade in place: the server exits leaving jobs, a new one (from the program's path, so a replaced binary) adopts them |
 * | SIGTERM or SIGINT               | passes it on, waits for the server, exits with its status        |
 * | the first server fails to start | exits with its status (bad flags, no certificates): no retries   |
 * | the server exits 0 by itself    | exits 0                                                          |
 *
 * @module
 */
import { enterSupervisorLeaf } from "../job/mod.ts";

/** Options of {@link supervise}. */
export interface SuperviseOptions {
  /** The server's command line: program and arguments. */
  command: string[];
  /** The servers' `--cgroup-parent` (names the supervisor leaf on cgroup v2). */
  cgroupParent: string;
  /** Where the supervisor's own lines go; default console.log with a prefix. */
  log?: (line: string) => void;
  /** Restart delays in ms; default 1000 doubling to 30000 (shorter in tests). */
  backoff?: { firstMs: number; maxMs: number };
}

/** A server that ran at least this long before crashing restarts after the first delay again. */
const STABLE_MS = 60_000;
/** What the server prints once it accepts calls. */
const READY = "jobworker listening on ";

const signalsHandled: Deno.Signal[] = ["SIGTERM", "SIGINT", "SIGUSR2", "SIGHUP"];

/** The program's path, also after it was replaced on disk (readlink then ends in " (deleted)"). */
export function programPath(execPath: string): string {
  return execPath.endsWith(" (deleted)") ? execPath.slice(0, -" (deleted)".length) : execPath;
}

/** How a server ended, for the log. */
function describe(status: Deno.CommandStatus): string {
  return status.signal === null ? `exit ${status.code}` : `signal ${status.signal}`;
}

/**
 * Runs servers until told to stop; resolves with the exit status for the
 * supervisor itself.
 */
export async function supervise(options: SuperviseOptions): Promise<number> {
  const log = options.log ?? ((line: string) => console.log(`jobworker supervisor: ${line}`));
  const firstMs = options.backoff?.firstMs ?? 1000;
  const maxMs = options.backoff?.maxMs ?? 30_000;
  const leaf = await enterSupervisorLeaf({ parent: options.cgroupParent });
  if (leaf !== null) log(`in ${leaf}`);

  let child: Deno.ChildProcess | null = null;
  let stopping: Deno.Signal | null = null;
  let upgrading = false;
  const wake = { resolve: () => {} };
  const onSignal = (signal: Deno.Signal) => () => {
    if (signal === "SIGUSR2" || signal === "SIGHUP") {
      if (child === null || stopping !== null) return;
      upgrading = true;
      log(`${signal}: restarting the server in place, jobs keep running`);
      child.kill("SIGUSR2");
      return;
    }
    stopping ??= signal;
    if (child === null) wake.resolve();
    else child.kill(signal);
  };
  const listeners = signalsHandled.map((signal) => [signal, onSignal(signal)] as const);
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  try {
    let delayMs = firstMs;
    let everReady = false;
    for (;;) {
      const [program, ...args] = options.command;
      const startedAt = Date.now();
      child = new Deno.Command(programPath(program!), {
        args,
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const ready = forwardOutput(child.stdout);
      const status = await child.status;
      const wasReady = await ready;
      child = null;
      everReady ||= wasReady;
      if (stopping !== null) return status.code;
      if (upgrading && status.success) {
        upgrading = false;
        delayMs = firstMs;
        continue;
      }
      upgrading = false;
      if (status.success) {
        log("the server exited 0 by itself: stopping");
        return 0;
      }
      if (!everReady) {
        log(`the server failed to start (${describe(status)}): not restarting`);
        return status.code === 0 ? 1 : status.code;
      }
      if (Date.now() - startedAt >= STABLE_MS) delayMs = firstMs;
      log(`the server ended (${describe(status)}); starting it again in ${delayMs / 1000} s`);
      const slept = await sleepUnlessWoken(delayMs, wake);
      if (!slept || stopping !== null) {
        log(`${stopping ?? "stop"}: no server running; running jobs wait for the next start`);
        return 0;
      }
      delayMs = Math.min(delayMs * 2, maxMs);
    }
  } finally {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  }
}

/** Copies the server's stdout to ours; resolves whether it printed its "listening" line. */
async function forwardOutput(stream: ReadableStream<Uint8Array>): Promise<boolean> {
  const decoder = new TextDecoder();
  let seen = "";
  let ready = false;
  for await (const chunk of stream) {
    await writeAll(chunk);
    if (!ready) {
      seen = (seen + decoder.decode(chunk, { stream: true })).slice(-4096);
      ready = seen.includes(READY);
    }
  }
  return ready;
}

async function writeAll(data: Uint8Array): Promise<void> {
  for (let written = 0; written < data.length;) {
    written += await Deno.stdout.write(data.subarray(written));
  }
}

/** Sleeps `ms`; resolves false early when woken (a stop signal arrived). */
function sleepUnlessWoken(ms: number, wake: { resolve: () => void }): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(true), ms);
    wake.resolve = () => {
      clearTimeout(timer);
      resolve(false);
    };
  });
}
