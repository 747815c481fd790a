/**
 * `deno task cli`: the jobworker command-line client. See {@link run} and
 * `deno task cli --help`.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { ApiError, clientConnection, JobWorkerClient } from "../api/mod.ts";
import type { JobSpec, JobStatus } from "../job/mod.ts";
import {
  type Command,
  type ConnectionSettings,
  type EnvLookup,
  type OutputKind,
  parseCommandLine,
  UsageError,
} from "./args.ts";
import { formatJson, formatList, formatStatus, formatWideList, statusToJson } from "./format.ts";
import { shouldColor } from "./_color.ts";
import { completionScript } from "./_completion.ts";
import {
  endNote,
  EXIT_JOB_FAILED,
  EXIT_SIGNAL_BASE,
  EXIT_WAIT_FAILURE,
  exitCodeOf,
  signalNumber,
} from "./_exit_code.ts";
import { printLogs } from "./_logs.ts";
import { followToEnd, PAST_ANY_OUTPUT, pause } from "./_wait.ts";
import { eventToJson, formatEventLine, watchEvents } from "./_events.ts";
import { sortTopRows, topRows, topSample, topTable } from "./_top.ts";
import { type InteractiveSession, runSession, type SessionEnd } from "./_attach.ts";
import { denoInput, type LocalInput } from "./_local_input.ts";
import { describeDetachKeys } from "./_detach_keys.ts";
import { denoTerminal, listJobs, runTopScreen, type TopTerminal } from "./_top_screen.ts";
import {
  DOCTOR_PROBE_ARG,
  type DoctorOptions,
  type DoctorReport,
  formatReport,
  formatReportJson,
  runDoctor,
  runDoctorProbe,
} from "../doctor/mod.ts";

export { EXIT_JOB_FAILED, EXIT_SIGNAL_BASE, EXIT_WAIT_FAILURE, exitCodeOf };

/** A byte sink like `Deno.stdout`: `write` may write only part of `data`. */
export interface ByteWriter {
  /** Writes some of `data`; resolves with how many bytes were written. */
  write(data: Uint8Array): Promise<number>;
}

/** The client calls the CLI makes; {@link JobWorkerClient} has them all. */
export type CliClient =
  & Pick<
    JobWorkerClient,
    "start" | "stop" | "status" | "list" | "streamOutput" | "signal" | "watchEvents" | "close"
  >
  & {
    /** An interactive session with the job (`JobWorkerClient.attach`). */
    attach(id: string, options?: { offset?: number }): InteractiveSession;
  };

/** Where {@link run} reads and writes; every field defaults to the real thing. */
export interface CliIo {
  /** Default `Deno.stdout`. */
  stdout?: ByteWriter;
  /** Default `Deno.stderr`. */
  stderr?: ByteWriter;
  /** Default `Deno.env.get`. */
  env?: EnvLookup;
  /** Makes the client; default a {@link JobWorkerClient} over mutual TLS. */
  connect?: (settings: ConnectionSettings) => Promise<CliClient>;
  /**
   * Whether stdout is a terminal (output is coloured only then). Default:
   * `Deno.stdout.isTerminal()` for the real stdout, false for an injected one.
   */
  isTerminal?: () => boolean;
  /**
   * Calls `handler` on every interrupt, with the signal, until the returned
   * function is called. `start -f`, `start -i`, `attach` and `events`
   * listen. Default: SIGINT (Ctrl-C), SIGTERM and SIGHUP.
   */
  onInterrupt?: (handler: (signal?: Deno.Signal) => void) => () => void;
  /**
   * The CLI's stdin for `start -i`, `start -t` and `attach`: bytes, and
   * when it is a terminal, raw mode and its size. Default: the real one.
   */
  input?: LocalInput;
  /**
   * The terminal `top` takes over, or null when there is none. Default: the
   * real one when stdin and stdout are terminals (and stdout is not
   * injected), otherwise null.
   */
  terminal?: TopTerminal | null;
  /** How wide stdout is, for `top --once` (null: no limit). Default: the terminal's width, or null. */
  columns?: () => number | null;
  /** Between two of `top`'s refreshes (and `top --once`'s two samples); default 1000 ms. */
  refreshMs?: number;
  /** Runs `doctor`'s checks; default {@link runDoctor} (the real host). */
  doctor?: (options: DoctorOptions) => Promise<DoctorReport>;
}

/** Exit status: done. */
export const EXIT_OK = 0;
/** Exit status: the server refused, could not be reached, or a file could not be read. */
export const EXIT_FAILURE = 1;
/** Exit status: the command line is wrong. */
export const EXIT_USAGE = 2;

/** stdout was closed by its reader (`| head`): nothing more to say, and no error. */
class StdoutClosed extends Error {
  constructor() {
    super("stdout closed");
    this.name = "StdoutClosed";
  }
}

const encoder = new TextEncoder();

async function writeAll(writer: ByteWriter, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const n = await writer.write(data.subarray(written));
    // A writer that takes nothing would spin here forever.
    if (n <= 0) throw new Error("output accepts no more bytes");
    written += n;
  }
}

async function defaultConnect(settings: ConnectionSettings): Promise<CliClient> {
  return new JobWorkerClient(settings.addr, await clientConnection(settings.tls, settings.addr));
}

/** The error as one line: the server's and Deno's messages start with a capital, ours do not. */
function oneLine(message: string): string {
  const line = message.replace(/\s*\n\s*/g, " ").trim();
  return /^[A-Z][a-z]/.test(line) ? line[0]!.toLowerCase() + line.slice(1) : line;
}

function errorMessage(err: unknown, command: Command): string {
  if (err instanceof ApiError) {
    if (err.code === grpc.status.UNAVAILABLE && "connection" in command) {
      // grpc-js says "No connection established. Last error: Error: <why>.
      // Resolution note: <empty>"; only <why> helps (refused, TLS failure).
      const why = /Last error: (?:Error: )?(.*?)\.?(?:\s*Resolution note:\s*)?$/s.exec(err.message)
        ?.[1] ?? err.message;
      return `cannot reach the server at ${command.connection.addr}: ${oneLine(why)}`;
    }
    return oneLine(err.message || `server answered ${grpc.status[err.code] ?? err.code}`);
  }
  const message = oneLine(err instanceof Error ? err.message : String(err));
  // The certificate files are missing or unreadable: say how to make some.
  return message.startsWith("cannot read the ")
    ? `${message} (deno task certs --client NAME makes development certificates)`
    : message;
}

/** Interrupts as the real process gets them: Ctrl-C, and the signals that ask a program to end. */
function listenForInterrupts(handler: (signal?: Deno.Signal) => void): () => void {
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  const listeners = signals.map((signal) => [signal, () => handler(signal)] as const);
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  return () => {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  };
}

/** What the commands use while they run. */
interface Context {
  client: CliClient;
  /** Writes all of `data` to stdout; throws {@link StdoutClosed} when its reader went away. */
  out: (data: Uint8Array | string) => Promise<void>;
  /** One line on stderr, `jobworker: ...`; never fails. */
  say: (line: string) => Promise<void>;
  color: boolean;
  /** stdout is a terminal. */
  isTerminal: boolean;
  onInterrupt: (handler: (signal?: Deno.Signal) => void) => () => void;
  /** See {@link CliIo.input}. */
  input: LocalInput;
  /** A client on a new connection; the one it gave before is closed. */
  reconnect: () => Promise<CliClient>;
  /** See {@link CliIo.terminal}. */
  terminal: TopTerminal | null;
  /** See {@link CliIo.columns}. */
  columns: () => number | null;
  refreshMs: number;
}

/** How a command that shows one status shows it. */
function showStatus(status: JobStatus, options: { output: OutputKind; color: boolean }): string {
  switch (options.output) {
    case "json":
      return formatJson(statusToJson(status));
    case "wide":
      return formatWideList([status], { color: options.color });
    case "default":
      return formatStatus(status, { color: options.color });
  }
}

/**
 * `start -f`: the job's output on stdout, live, then its exit status. The
 * first interrupt stops the job and keeps following (its last words are
 * part of its output); a second one stops waiting. A closed stdout stops
 * the job, as SIGPIPE ends the writer of a local pipeline.
 */
async function startAndFollow(
  command: Extract<Command, { kind: "start" }>,
  context: Context,
): Promise<number> {
  const { client, say } = context;
  let id: string | null = null;
  let interrupts = 0;
  let stopping: Promise<void> | null = null;
  const detach = new AbortController();
  const stopJob = (jobId: string) => {
    stopping ??= client.stop(jobId).then(
      () => {},
      (err) => say(`cannot stop job ${jobId}: ${errorMessage(err, command)}`),
    );
  };
  // Listening before the job exists: a Ctrl-C during the start still stops it.
  const unlisten = context.onInterrupt(() => {
    interrupts++;
    if (interrupts === 1) {
      void say(
        `stopping the job${id === null ? "" : ` ${id}`} (Ctrl-C again to stop waiting for it)`,
      );
      if (id !== null) stopJob(id);
    } else {
      detach.abort();
    }
  });
  try {
    id = (await client.start(command.spec)).id;
    await say(`started job ${id}`);
    if (interrupts > 0) stopJob(id);
    let final: JobStatus | null;
    try {
      final = await followToEnd(client, id, {
        offset: 0,
        write: (data) => context.out(data),
        signal: detach.signal,
      });
    } catch (err) {
      if (!(err instanceof StdoutClosed)) throw err;
      stopJob(id);
      await stopping;
      return EXIT_SIGNAL_BASE + signalNumber("SIGPIPE")!;
    }
    if (interrupts > 0 && context.isTerminal) {
      // The job may have been cut off in the middle of a colour: the prompt must not inherit it.
      await context.out(SGR_RESET).catch(() => {});
    }
    if (final === null) {
      // The stop, if one was asked for, is on its way: give it a moment to leave.
      if (stopping !== null) await atMost(stopping, STOP_SEND_MS);
      await say(`stopped waiting; job ${id} is ending on its own (see: jobworker status ${id})`);
      // As a shell reports a command ended by Ctrl-C.
      return EXIT_SIGNAL_BASE + signalNumber("SIGINT")!;
    }
    // The stop RPC ends when the job does, which has happened.
    await stopping;
    const note = endNote(final);
    if (note !== null) await say(note);
    return exitCodeOf(final);
  } finally {
    unlisten();
  }
}

/** Resets the terminal's colours and attributes (SGR 0). */
const SGR_RESET = "\x1b[0m";

/** How long a detaching `start -f` lets a stop request get out before the client closes. */
const STOP_SEND_MS = 300;

/** Waits for `promise`, but no longer than `ms`. */
async function atMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** How {@link interact} runs a session. */
interface InteractOptions {
  /** From this output byte on; unset: from now on. */
  offset?: number;
  /** Where input comes from; null: none (`attach --no-stdin`). */
  input: LocalInput | null;
  /** Raw mode, resizes and the detach keys (the job has a terminal, and so has the CLI). */
  terminal: boolean;
  detachKeys: Uint8Array;
  /** The first interrupt stops the job, as with `start -f` (`start -i` without `-t`). */
  stopOnInterrupt: boolean;
}

/**
 * Attaches to job `id` and runs the session (see ./_attach.ts); resolves
 * with the exit status: the job's when it ended, 0 for the detach keys,
 * 128 + the signal that left it, 141 for a closed stdout.
 */
async function interact(
  id: string,
  command: Command,
  context: Context,
  options: InteractOptions,
): Promise<number> {
  const { client, say } = context;
  let stopping: Promise<void> | null = null;
  const stopJob = () => {
    stopping ??= client.stop(id).then(
      () => {},
      (err) => say(`cannot stop job ${id}: ${errorMessage(err, command)}`),
    );
  };
  const session = client.attach(id, options.offset === undefined ? {} : { offset: options.offset });
  let end: SessionEnd;
  try {
    end = await runSession({
      session,
      input: options.input,
      terminal: options.terminal,
      detachKeys: options.detachKeys,
      write: (data) => context.out(data),
      onInterrupt: context.onInterrupt,
      ...(options.stopOnInterrupt
        ? {
          firstInterrupt: () => {
            void say(`stopping job ${id} (Ctrl-C again to stop waiting for it)`);
            stopJob();
          },
        }
        : {}),
    });
  } catch (err) {
    if (!(err instanceof StdoutClosed)) throw err;
    // As SIGPIPE would end a local writer; a job tied to this CLI ends with it.
    if (options.stopOnInterrupt) {
      stopJob();
      await stopping;
    }
    return EXIT_SIGNAL_BASE + signalNumber("SIGPIPE")!;
  }
  const again = `jobworker attach ${id} to attach again`;
  switch (end.kind) {
    case "ended": {
      // A stop asked for ends when the job does, which has happened.
      await stopping;
      const final = end.status ?? await client.status(id);
      if (final.state === "running") {
        throw new Error(`the server ended the session while job ${id} runs (${again})`);
      }
      const note = endNote(final);
      if (note !== null) await say(note);
      return exitCodeOf(final);
    }
    case "detached":
      await say(`detached from job ${id} (${again})`);
      return EXIT_OK;
    case "interrupted":
      if (stopping !== null) {
        await atMost(stopping, STOP_SEND_MS);
        await say(`stopped waiting; job ${id} is ending on its own (see: jobworker status ${id})`);
      } else {
        await say(`detached from job ${id} on ${end.signal}; it runs on (${again})`);
      }
      return EXIT_SIGNAL_BASE + (signalNumber(end.signal) ?? signalNumber("SIGINT")!);
  }
}

/** How to detach, after the note that a terminal session begins: ` (Ctrl-P Ctrl-Q detaches)`. */
function detachHint(keys: Uint8Array): string {
  return keys.length === 0 ? "" : ` (${describeDetachKeys(keys)} detaches)`;
}

/**
 * `start -i` and `start -t`: starts the job with stdin (or a terminal of
 * the local one's size) and runs a session from its first byte of output.
 */
async function startInteractive(
  command: Extract<Command, { kind: "start" }>,
  context: Context,
): Promise<number> {
  const { client, say } = context;
  const { tty, detachKeys, detached } = command.interactive!;
  const spec: JobSpec = { ...command.spec };
  const size = tty ? context.input.size() : null;
  if (size !== null) spec.ttySize = size;
  if (detached) {
    await context.out(`${(await client.start(spec)).id}\n`);
    return EXIT_OK;
  }
  // A signal during the start is acted on once the job exists.
  const early: Deno.Signal[] = [];
  const unlisten = context.onInterrupt((signal = "SIGINT") => void early.push(signal));
  let id: string;
  try {
    id = (await client.start(spec)).id;
  } finally {
    unlisten();
  }
  await say(`started job ${id}${tty ? detachHint(detachKeys) : ""}`);
  if (early.length > 0 && tty) {
    await say(`detached from job ${id} on ${early[0]}; it runs on (jobworker attach ${id})`);
    return EXIT_SIGNAL_BASE + signalNumber(early[0]!)!;
  }
  if (early.length > 0) {
    await say(`stopping job ${id} (Ctrl-C again to stop waiting for it)`);
    void client.stop(id).catch((err) =>
      say(`cannot stop job ${id}: ${errorMessage(err, command)}`)
    );
  }
  return await interact(id, command, context, {
    offset: 0,
    input: context.input,
    terminal: tty,
    detachKeys,
    // After a stop during the start, the next signal stops waiting.
    stopOnInterrupt: !tty && early.length === 0,
  });
}

/**
 * `attach`: from now on, the job's output and the CLI's stdin; with the
 * terminal in raw mode when the job has one. A job with a terminal needs
 * one here too, unless only watching (`--no-stdin`).
 */
async function attachTo(
  command: Extract<Command, { kind: "attach" }>,
  context: Context,
): Promise<number> {
  const status = await context.client.status(command.id);
  if (!command.stdin) return await watchJob(command, status, context);
  const local = context.input.isTerminal();
  if (status.tty && status.state === "running" && !local) {
    throw new UsageError(
      `the input device is not a TTY: job ${command.id} has a terminal, so attach needs one ` +
        `on stdin (--no-stdin only watches)`,
    );
  }
  const terminal = status.tty && local && status.state === "running";
  // Nothing shows until the job writes: say that it is attached, and how to leave.
  if (terminal) await context.say(`attached to job ${command.id}${detachHint(command.detachKeys)}`);
  return await interact(command.id, command, context, {
    input: context.input,
    terminal,
    detachKeys: command.detachKeys,
    stopOnInterrupt: false,
  });
}

/**
 * `attach --no-stdin`: the job's output from now on until it ends, and its
 * exit status. A watcher does not attach (an Attach call would take input
 * over from the client typing to the job): it follows the output from the
 * size the status gave, so nothing written since is missed.
 */
async function watchJob(
  command: Extract<Command, { kind: "attach" }>,
  status: JobStatus,
  context: Context,
): Promise<number> {
  const { id } = command;
  if (!status.stdin) {
    // What the server says to an Attach, so that both ways of attaching read the same.
    throw new Error(
      `cannot attach to job ${id}: it was started without stdin or a terminal ` +
        `(jobworker logs -f ${id} follows its output)`,
    );
  }
  const left = new AbortController();
  let signal: Deno.Signal = "SIGINT";
  const unlisten = context.onInterrupt((received = "SIGINT") => {
    signal = received;
    left.abort();
  });
  let final: JobStatus | null;
  try {
    final = await followToEnd(context.client, id, {
      offset: status.output.bytes ?? 0,
      write: (data) => context.out(data),
      signal: left.signal,
    });
  } catch (err) {
    if (err instanceof StdoutClosed) return EXIT_SIGNAL_BASE + signalNumber("SIGPIPE")!;
    throw err;
  } finally {
    unlisten();
  }
  if (final === null) {
    await context.say(`stopped watching job ${id} on ${signal}; it runs on`);
    return EXIT_SIGNAL_BASE + signalNumber(signal)!;
  }
  const note = endNote(final);
  if (note !== null) await context.say(note);
  return exitCodeOf(final);
}

async function execute(
  command: Exclude<Command, { kind: "help" } | { kind: "completion" } | { kind: "doctor" }>,
  context: Context,
): Promise<number> {
  const { client, out, color } = context;
  switch (command.kind) {
    case "start": {
      if (command.interactive !== undefined) return await startInteractive(command, context);
      if (command.follow) return await startAndFollow(command, context);
      const { id } = await client.start(command.spec);
      await out(`${id}\n`);
      return EXIT_OK;
    }
    case "stop": {
      const status = await client.stop(
        command.id,
        command.graceSeconds === undefined ? {} : { graceSeconds: command.graceSeconds },
      );
      await out(showStatus(status, { output: command.output, color }));
      return EXIT_OK;
    }
    case "status": {
      let status = await client.status(command.id);
      if (command.wait && status.state === "running") {
        // Resolves null only when aborted, and nothing aborts it here.
        status = (await followToEnd(client, command.id, {
          offset: PAST_ANY_OUTPUT,
          write: () => Promise.resolve(),
        }))!;
      }
      if (!command.wait) {
        await out(showStatus(status, { output: command.output, color }));
        return EXIT_OK;
      }
      const code = exitCodeOf(status);
      try {
        await out(showStatus(status, { output: command.output, color }));
      } catch (err) {
        // "status -w ID | head -1": the job's status is still the answer.
        if (!(err instanceof StdoutClosed)) throw err;
      }
      return code;
    }
    case "list": {
      const listed = command.labels === undefined
        ? await client.list()
        : await client.list({ labels: command.labels });
      const statuses = listed.filter((s) =>
        (command.states.length === 0 || command.states.includes(s.state)) &&
        (command.owners.length === 0 || command.owners.includes(s.owner))
      );
      switch (command.output) {
        case "json":
          await out(formatJson(statuses.map(statusToJson)));
          break;
        case "wide":
          await out(formatWideList(statuses, { color }));
          break;
        case "default":
          await out(formatList(statuses, { color }));
      }
      return EXIT_OK;
    }
    case "logs": {
      await printLogs(client, {
        id: command.id,
        offset: command.offset,
        follow: command.follow,
        tail: command.tail,
        write: (data) => out(data),
      });
      return EXIT_OK;
    }
    case "attach":
      return await attachTo(command, context);
    case "signal": {
      // Silent on success, as kill(1); the server checks the signal and the job.
      await client.signal(command.id, command.signal, command.all ? { all: true } : {});
      return EXIT_OK;
    }
    case "events":
      return await printEvents(command, context);
    case "top":
      return await top(command, context);
  }
}

/**
 * A call that failed while `events` or `top` runs on, in a few words:
 * "cannot reach the server at ADDR: WHY" for a connection that could not
 * be made, the server's or grpc-js's own words for anything else (such as
 * "connection dropped", which {@link errorMessage} would also call
 * unreachable).
 */
function callFailure(err: unknown, command: Command): string {
  return err instanceof ApiError && !/No connection established/i.test(err.message)
    ? oneLine(err.message || `server answered ${grpc.status[err.code] ?? err.code}`)
    : errorMessage(err, command);
}

/** `events`: until interrupted (exit 0), resuming lost watches (see ./_events.ts). */
async function printEvents(
  command: Extract<Command, { kind: "events" }>,
  context: Context,
): Promise<number> {
  const interrupted = new AbortController();
  const unlisten = context.onInterrupt(() => interrupted.abort());
  try {
    await watchEvents({
      labels: command.labels,
      since: command.since,
      write: (event) =>
        context.out(
          command.json ? JSON.stringify(eventToJson(event)) + "\n" : formatEventLine(event),
        ),
      say: context.say,
      client: context.client,
      reconnect: context.reconnect,
      signal: interrupted.signal,
      describeError: (err) => callFailure(err, command),
    });
    return EXIT_OK;
  } finally {
    unlisten();
  }
}

/**
 * `top`: the live view on the terminal, or with `--once` one table on
 * stdout from two samples `refreshMs` apart (the rates need two; none are
 * taken when nothing runs).
 */
async function top(command: Extract<Command, { kind: "top" }>, context: Context): Promise<number> {
  const { client } = context;
  if (!command.once) {
    // run() refused `top` without a terminal before connecting.
    await runTopScreen(client, context.terminal!, {
      labels: command.labels,
      sort: command.sort,
      refreshMs: context.refreshMs,
      describeError: (err) => callFailure(err, command),
    });
    return EXIT_OK;
  }
  const first = topSample(await listJobs(client, command.labels), performance.now());
  let second = first;
  if (first.jobs.size > 0) {
    await pause(context.refreshMs, undefined);
    second = topSample(await listJobs(client, command.labels), performance.now());
  }
  const rows = sortTopRows(topRows(first, second, new Date()), command.sort);
  await context.out(topTable(rows, { width: context.columns() }).join("\n") + "\n");
  return EXIT_OK;
}

/**
 * `start -f`, `start -i` and `status -w` exit with the job's status: their
 * own failures must not read as the job's 1. (`attach` fails with 1, as
 * `docker attach` does.)
 */
function waitsForJob(command: Command): boolean {
  return (command.kind === "start" &&
    (command.follow || command.interactive?.detached === false)) ||
    (command.kind === "status" && command.wait);
}

/**
 * Runs the CLI with `args` (without the program name) and resolves with
 * the exit status: {@link EXIT_OK}, {@link EXIT_FAILURE} or
 * {@link EXIT_USAGE}; for `start -f`, `start -i`/`-t` and `status -w`, the
 * job's exit status (see {@link exitCodeOf}), or {@link EXIT_WAIT_FAILURE}
 * when the CLI itself failed; for `attach`, the job's exit status, or
 * {@link EXIT_FAILURE}; after leaving an interactive job running, 0 (the
 * detach keys) or 128 + the signal. Errors are one line on stderr,
 * `jobworker: ...`. Never throws, never exits the process (an interactive
 * session left running keeps its call open until the process exits: see
 * ./_attach.ts).
 *
 * @example
 * ```ts
 * const chunks: Uint8Array[] = [];
 * const stdout = { write: async (d: Uint8Array) => (chunks.push(d.slice()), d.length) };
 * const code = await run(["list", "--user", "alice"], { stdout });
 * ```
 */
export async function run(args: string[], io: CliIo = {}): Promise<number> {
  const stdout = io.stdout ?? Deno.stdout;
  const stderr = io.stderr ?? Deno.stderr;
  const env = io.env ?? ((name: string) => Deno.env.get(name));
  const say = async (line: string) => {
    // Reporting must not fail the run: a closed stderr has no one to tell.
    await writeAll(stderr, encoder.encode(`jobworker: ${line}\n`)).catch(() => {});
  };
  const out = async (data: Uint8Array | string) => {
    try {
      await writeAll(stdout, typeof data === "string" ? encoder.encode(data) : data);
    } catch (err) {
      if (err instanceof Deno.errors.BrokenPipe) throw new StdoutClosed();
      throw err;
    }
  };

  let command: Command;
  try {
    command = parseCommandLine(args, env);
  } catch (err) {
    await say(oneLine(err instanceof Error ? err.message : String(err)));
    return err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  }

  let client: CliClient | undefined;
  // The client of the latest reconnection (events), if any.
  let spare: CliClient | undefined;
  try {
    if (command.kind === "help") {
      await out(command.text);
      return EXIT_OK;
    }
    if (command.kind === "completion") {
      await out(completionScript(command.shell));
      return EXIT_OK;
    }
    const isTerminal = io.isTerminal ??
      (() => io.stdout === undefined && Deno.stdout.isTerminal());
    if (command.kind === "doctor") {
      const report = await (io.doctor ?? runDoctor)({
        dataDir: command.dataDir,
        jobUidRange: command.jobUidRange,
      });
      const color = shouldColor({ isTerminal: isTerminal(), env });
      await out(command.json ? formatReportJson(report) : formatReport(report, { color }));
      return report.counts.fail > 0 ? EXIT_FAILURE : EXIT_OK;
    }
    const topTerminal = io.terminal !== undefined
      ? io.terminal
      : io.stdout === undefined && Deno.stdin.isTerminal() && Deno.stdout.isTerminal()
      ? denoTerminal()
      : null;
    if (command.kind === "top" && !command.once && topTerminal === null) {
      throw new UsageError(
        "top needs a terminal (stdin and stdout); for scripts, top --once prints one snapshot",
      );
    }
    const input = io.input ?? denoInput();
    const interactive = command.kind === "start" ? command.interactive : undefined;
    if (interactive?.tty && !interactive.detached && !input.isTerminal()) {
      // As docker run -t says; -i alone pipes stdin.
      throw new UsageError(
        "the input device is not a TTY: -t needs a terminal on stdin (-i without -t pipes stdin)",
      );
    }
    const connect = io.connect ?? defaultConnect;
    client = await connect(command.connection);
    const terminal = isTerminal();
    const settings = command.connection;
    return await execute(command, {
      client,
      out,
      say,
      color: shouldColor({ isTerminal: terminal, env }),
      isTerminal: terminal,
      onInterrupt: io.onInterrupt ?? listenForInterrupts,
      input,
      reconnect: async () => {
        spare?.close();
        spare = undefined;
        spare = await connect(settings);
        return spare;
      },
      terminal: topTerminal,
      columns: io.columns ??
        (() => io.stdout === undefined && terminal ? Deno.consoleSize().columns : null),
      refreshMs: io.refreshMs ?? 1000,
    });
  } catch (err) {
    if (err instanceof StdoutClosed) return EXIT_OK;
    await say(errorMessage(err, command));
    if (err instanceof UsageError) return EXIT_USAGE;
    return waitsForJob(command) ? EXIT_WAIT_FAILURE : EXIT_FAILURE;
  } finally {
    client?.close();
    spare?.close();
  }
}

if (import.meta.main && Deno.args[0] === DOCTOR_PROBE_ARG) {
  // A compiled CLI is also the doctor's probe child (see runDoctorProbe).
  Deno.exit(await runDoctorProbe(Deno.args.slice(1)));
} else if (import.meta.main) {
  // Exits at once: a detached "start -f" may leave a Stop call that only
  // ends with the job, and it must not keep the process.
  Deno.exit(await run(Deno.args));
}
