/**
 * `deno task cli`: the jobworker command-line client. See {@link run} and
 * `deno task cli --help`.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { ApiError, JobWorkerClient } from "../api/client.ts";
import { clientConnection } from "../server/tls.ts";
import {
  type Command,
  type ConnectionSettings,
  type EnvLookup,
  parseCommandLine,
  UsageError,
} from "./args.ts";
import { formatJson, formatList, formatStatus, statusToJson } from "./format.ts";
import { copyOutput } from "./_logs.ts";

/** A byte sink like `Deno.stdout`: `write` may write only part of `data`. */
export interface ByteWriter {
  /** Writes some of `data`; resolves with how many bytes were written. */
  write(data: Uint8Array): Promise<number>;
}

/** The client calls the CLI makes; {@link JobWorkerClient} has them all. */
export type CliClient = Pick<
  JobWorkerClient,
  "start" | "stop" | "status" | "list" | "streamOutput" | "close"
>;

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
  /** `logs` snapshot tuning, for tests; see ./_logs.ts. */
  logs?: { minQuietMs?: number; snapshotLimitMs?: number };
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

async function execute(
  command: Exclude<Command, { kind: "help" }>,
  options: { client: CliClient; out: (data: Uint8Array | string) => Promise<void>; io: CliIo },
): Promise<string | null> {
  const { client, out } = options;
  switch (command.kind) {
    case "start": {
      const { id } = await client.start(command.spec);
      await out(`${id}\n`);
      return null;
    }
    case "stop": {
      const status = await client.stop(
        command.id,
        command.graceSeconds === undefined ? {} : { graceSeconds: command.graceSeconds },
      );
      await out(command.json ? formatJson(statusToJson(status)) : formatStatus(status));
      return null;
    }
    case "status": {
      const status = await client.status(command.id);
      await out(command.json ? formatJson(statusToJson(status)) : formatStatus(status));
      return null;
    }
    case "list": {
      const statuses = await client.list();
      await out(command.json ? formatJson(statuses.map(statusToJson)) : formatList(statuses));
      return null;
    }
    case "logs": {
      const result = await copyOutput(client, {
        id: command.id,
        offset: command.offset,
        follow: command.follow,
        write: (data) => out(data),
        ...options.io.logs,
      });
      return result.cutOff
        ? `note: the job is still writing; stopped at offset ${result.offset} ` +
          `(continue with --offset ${result.offset}, or follow with -f)`
        : null;
    }
  }
}

/**
 * Runs the CLI with `args` (without the program name) and resolves with
 * the exit status: {@link EXIT_OK}, {@link EXIT_FAILURE} or
 * {@link EXIT_USAGE}. Errors are one line on stderr, `jobworker: ...`.
 * Never throws, never exits the process.
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
    command = parseCommandLine(args, io.env ?? ((name) => Deno.env.get(name)));
  } catch (err) {
    await say(oneLine(err instanceof Error ? err.message : String(err)));
    return err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  }

  let client: CliClient | undefined;
  try {
    if (command.kind === "help") {
      await out(command.text);
      return EXIT_OK;
    }
    client = await (io.connect ?? defaultConnect)(command.connection);
    const note = await execute(command, { client, out, io });
    if (note !== null) await say(note);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof StdoutClosed) return EXIT_OK;
    await say(errorMessage(err, command));
    return err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  } finally {
    client?.close();
  }
}

if (import.meta.main) {
  Deno.exitCode = await run(Deno.args);
}
