/**
 * The CLI's command line: commands, flags, sizes, connection settings and
 * help texts. Pure: the environment is passed in, nothing is read or
 * connected here, so every rule is unit-tested (./args_test.ts).
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type JobSpec, type LimitsInput, MAX_ID, type RunAs } from "../job/mod.ts";
import { CertificateError, certPathsFor, type TlsPaths } from "../certs/mod.ts";
import { parseSize as parseSizeText } from "../units/mod.ts";

/** The server address used when neither `--addr` nor `JOBWORKER_ADDR` is given. */
export const DEFAULT_ADDR = "127.0.0.1:50051";
/** Where `--user NAME` looks for NAME's certificates unless `--certs-dir` says otherwise. */
export const DEFAULT_CERTS_DIR = "certs";

/** A mistake in the command line; the CLI prints it and exits with status 2. */
export class UsageError extends Error {
  /** @param message one line saying what is wrong */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Where the server is and which certificates to present. */
export interface ConnectionSettings {
  /** `host:port` of the server. */
  addr: string;
  /** CA, client certificate and key files. */
  tls: TlsPaths;
}

/** The names of the CLI's commands. */
export type CommandName = "start" | "stop" | "status" | "list" | "logs";

/** A parsed command line: what to do, with every flag checked and converted. */
export type Command =
  | { kind: "help"; text: string }
  | { kind: "start"; connection: ConnectionSettings; spec: JobSpec }
  | {
    kind: "stop";
    connection: ConnectionSettings;
    id: string;
    graceSeconds?: number;
    json: boolean;
  }
  | { kind: "status"; connection: ConnectionSettings; id: string; json: boolean }
  | { kind: "list"; connection: ConnectionSettings; json: boolean }
  | { kind: "logs"; connection: ConnectionSettings; id: string; follow: boolean; offset: number };

/** The environment as the parser sees it: a lookup, so tests need no real environment. */
export type EnvLookup = (name: string) => string | undefined;

const CONNECTION_HELP =
  `Connection options (any command, before or after it; flags win over the environment):
  --addr HOST:PORT   server address [$JOBWORKER_ADDR] (default ${DEFAULT_ADDR})
  --user NAME        present the certificates made for NAME in the certs dir [$JOBWORKER_USER]
  --certs-dir DIR    where --user looks: DIR/ca.pem, DIR/NAME.pem, DIR/NAME-key.pem
                     (default ./${DEFAULT_CERTS_DIR})
  --ca FILE          CA certificate the server's must chain to [$JOBWORKER_CA]
                     (default DIR/ca.pem)
  --cert FILE        client certificate [$JOBWORKER_CERT]
  --key FILE         client private key [$JOBWORKER_KEY]
  -h, --help         this help`;

const TOP_HELP = `Usage: jobworker [connection options] COMMAND [options]
       (from the repository: deno task cli COMMAND [options])

Starts, stops and watches jobs on a jobworker server over mutual TLS.

Commands:
  start [options] -- CMD [ARG...]   start a job; prints only its id
  stop ID [--grace SECONDS]         stop a job; prints its final status
  status ID                         a job's status
  list                              your jobs (every job for an admin)
  logs ID [-f] [--offset N]         a job's output, byte for byte

${CONNECTION_HELP}

Run "jobworker COMMAND --help" for a command's own options.
Exit status: 0 success; 1 failure (the server refused, or could not be reached);
2 usage error.
`;

const COMMAND_HELP: Record<CommandName, string> = {
  start: `Usage: jobworker start [options] [--] CMD [ARG...]

Starts CMD (an absolute path, or a name looked up in the job's PATH) and prints
only the new job's id, so that  id=$(jobworker start -- sleep 60)  works.
Options end at "--" or at CMD: everything from there on is the job's command line.

Options:
  --cpu N              CPU cores, fractional (0.5 = half a core); default 1
  --memory SIZE        memory limit; default 512M
  --io-read-bps SIZE   disk read bandwidth per second, per disk; default unlimited
  --io-write-bps SIZE  disk write bandwidth per second, per disk; default unlimited
  --pids N             most processes and threads; default 1024
  --env NAME=VALUE     environment variable for the job; repeatable
  --cwd DIR            absolute working directory in the job's view; default /work,
                       the job's own writable directory
  --run-as UID[:GID]   run as these ids instead of a fresh user of the job's own
                       (only where the server allows it); GID defaults to UID
  --max-output SIZE    keep at most this much output (the rest is discarded, and
                       the status says so); default and most: the server's --max-output

SIZE is bytes, or a number with a binary suffix: K, M, G, T (1024-based), optionally
followed by "i" and/or "B": 512K, 64M, 1.5G, 64Mi, 2GiB.

${CONNECTION_HELP}
`,
  stop: `Usage: jobworker stop ID [--grace SECONDS] [--json]

Sends SIGTERM to every process of the job, SIGKILL after the grace period, and
prints the job's final status once it has ended. Stopping an ended job prints its
status.

Options:
  --grace SECONDS  time between SIGTERM and SIGKILL, may be fractional; default 10
  --json           print the status as JSON

${CONNECTION_HELP}
`,
  status: `Usage: jobworker status ID [--json]

Prints a job's status: state, exit code or signal, limits, resource usage.

Options:
  --json  print the status as JSON: id, owner, command, args, state, exitCode,
          signal, oomKilled, startedAt, endedAt (ISO 8601 or null), limits (cpu,
          memoryBytes, ioReadBps, ioWriteBps, pids; null = unlimited), usage, error

${CONNECTION_HELP}
`,
  list: `Usage: jobworker list [--json]

Lists your jobs (every job for an admin), oldest first: ID, OWNER, STATE, EXIT
(exit code or signal), STARTED (UTC), COMMAND (shortened).

Options:
  --json  print a JSON array of statuses (fields as in "status --json")

${CONNECTION_HELP}
`,
  logs: `Usage: jobworker logs ID [-f] [--offset N]

Writes the job's output (its stdout and stderr, interleaved as written) to stdout,
byte for byte.

Without -f it prints the output that exists now and exits:
  - for an ended job, all of it;
  - for a running job, what the server sends until the stream has been quiet
    for a moment (100 ms, or twice the round trip of a status call if longer),
    i.e. until the backlog is caught up. The API has no "current size", so this
    is a snapshot. A job that writes without pause is cut off after 5 s, with a
    note on stderr giving the offset to continue from.

Options:
  -f, --follow  keep printing as the job writes, until it ends
  --offset N    start at byte N of the output (bytes; SIZE suffixes allowed);
                default 0

${CONNECTION_HELP}
`,
};

const CONNECTION_OPTIONS = {
  addr: { type: "string" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  user: { type: "string" },
  "certs-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const COMMAND_OPTIONS = {
  start: {
    cpu: { type: "string" },
    memory: { type: "string" },
    "io-read-bps": { type: "string" },
    "io-write-bps": { type: "string" },
    pids: { type: "string" },
    env: { type: "string", multiple: true },
    cwd: { type: "string" },
    "run-as": { type: "string" },
    "max-output": { type: "string" },
  },
  stop: { grace: { type: "string" }, json: { type: "boolean" } },
  status: { json: { type: "boolean" } },
  list: { json: { type: "boolean" } },
  logs: { follow: { type: "boolean", short: "f" }, offset: { type: "string" } },
} as const;

const ALL_OPTIONS: Record<string, OptionSpec> = Object.assign(
  {},
  CONNECTION_OPTIONS,
  ...Object.values(COMMAND_OPTIONS),
);

type OptionSpec = { type: "string" | "boolean"; short?: string; multiple?: boolean };
/** Flag values as parsed, by long option name. */
export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** The help text of `command`, or the top-level help for `undefined`. */
export function helpText(command?: CommandName): string {
  return command === undefined ? TOP_HELP : COMMAND_HELP[command];
}

function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(COMMAND_OPTIONS, name);
}

/**
 * A size in bytes: a plain number of bytes, or a number with a binary
 * suffix K, M, G or T (case-insensitive, 1024-based), optionally followed
 * by `i` and/or `B`: `512K`, `64M`, `1.5G`, `64Mi`, `2GiB`, `100B`. The
 * result must be a whole number of bytes. `what` names the value in errors.
 *
 * @throws {UsageError} for anything else, e.g. `--memory: "64X" is not a size (like 512K, 64M, 1G)`
 */
export function parseSize(text: string, what: string): number {
  try {
    return parseSizeText(text);
  } catch (err) {
    throw new UsageError(`${what}: ${(err as Error).message}`);
  }
}

function parseNumber(text: string, what: string, options: { integer: boolean }): number {
  // Number() alone would accept "", " ", "0x10" and "1e3"; a flag wants a plain decimal.
  const pattern = options.integer ? /^\d+$/ : /^\d+(?:\.\d+)?$|^\.\d+$/;
  const value = Number(text);
  if (!pattern.test(text.trim()) || !Number.isFinite(value)) {
    const kind = options.integer ? "a whole number" : "a number";
    throw new UsageError(`${what}: ${JSON.stringify(text)} is not ${kind}`);
  }
  if (options.integer && !Number.isSafeInteger(value)) {
    throw new UsageError(`${what}: ${JSON.stringify(text)} is too large`);
  }
  return value;
}

/** parseArgs' messages point at JavaScript usage; say the same in the CLI's words. */
function usageErrorFrom(err: unknown, command: string): UsageError {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === "string" ? e.message : String(err);
  const option = /'(-[^' ]+)/.exec(message)?.[1] ?? "";
  switch (e?.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(`unknown option ${option} for "${command}" (see ${command} --help)`);
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return new UsageError(
        message.includes("does not take")
          ? `option ${option} takes no value`
          : `option ${option} needs a value (use ${option}=VALUE for one starting with "-")`,
      );
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(`unexpected argument for "${command}" (see ${command} --help)`);
    default:
      return new UsageError(message.split("\n")[0]!);
  }
}

function strictParse(
  args: string[],
  options: Record<string, OptionSpec>,
  context: { command: string; positionals: boolean },
): { values: FlagValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: context.positionals,
    });
    return { values: values as FlagValues, positionals };
  } catch (err) {
    throw usageErrorFrom(err, context.command);
  }
}

/**
 * The tokens of a lenient parse: used only to find where things are (the
 * command name, `--help`, the job's command), never to take values, so an
 * unknown option here is reported by the strict parse that follows.
 */
function tokensOf(args: string[], options: Record<string, OptionSpec>) {
  return parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true }).tokens;
}

function str(values: FlagValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

/** `user`'s certificate files; certPathsFor() refuses names that are not plain file names. */
function userPaths(user: string, options: { dir: string; source: string }): TlsPaths {
  const { dir, source } = options;
  try {
    return certPathsFor(dir, user);
  } catch (err) {
    // Its message speaks of creating certificates; here a name was only looked up.
    if (err instanceof CertificateError) {
      throw new UsageError(`${source}: ${JSON.stringify(user)} is not a valid user name`);
    }
    throw err;
  }
}

/**
 * The connection settings from the flags, falling back to the environment
 * (`JOBWORKER_ADDR`, `JOBWORKER_CA`, `JOBWORKER_CERT`, `JOBWORKER_KEY`,
 * `JOBWORKER_USER`). For each file an explicit flag wins, then `--user`,
 * then the explicit variable, then `JOBWORKER_USER`; the CA defaults to
 * `<certs dir>/ca.pem`.
 *
 * @throws {UsageError} when no client certificate is given, or only half of one
 */
export function resolveConnection(values: FlagValues, env: EnvLookup): ConnectionSettings {
  const nonEmpty = (name: string) => {
    const value = env(name);
    return value === undefined || value === "" ? undefined : value;
  };
  const certsDir = str(values, "certs-dir") ?? DEFAULT_CERTS_DIR;
  const flagUser = str(values, "user");
  const envUser = nonEmpty("JOBWORKER_USER");
  const fromFlagUser = flagUser === undefined
    ? undefined
    : userPaths(flagUser, { dir: certsDir, source: "--user" });
  const fromEnvUser = envUser === undefined
    ? undefined
    : userPaths(envUser, { dir: certsDir, source: "JOBWORKER_USER" });
  const pick = (field: "ca" | "cert" | "key", variable: string) =>
    str(values, field) ?? fromFlagUser?.[field] ?? nonEmpty(variable) ?? fromEnvUser?.[field];

  const cert = pick("cert", "JOBWORKER_CERT");
  const key = pick("key", "JOBWORKER_KEY");
  if (cert === undefined && key === undefined) {
    throw new UsageError(
      "no client certificate: pass --user NAME or --cert/--key (or JOBWORKER_CERT/JOBWORKER_KEY)",
    );
  }
  if (cert === undefined) throw new UsageError("a private key but no certificate: add --cert");
  if (key === undefined) throw new UsageError("a certificate but no private key: add --key");
  const ca = pick("ca", "JOBWORKER_CA") ?? join(certsDir, "ca.pem");
  const addr = str(values, "addr") ?? nonEmpty("JOBWORKER_ADDR") ?? DEFAULT_ADDR;
  // host:port, where host may be a bracketed IPv6 address; the port is required.
  if (!/^(?:\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):\d{1,5}$/.test(addr)) {
    throw new UsageError(`address ${JSON.stringify(addr)} is not HOST:PORT`);
  }
  return { addr, tls: { ca, cert, key } };
}

function parseEnv(entries: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf("=");
    if (eq <= 0) throw new UsageError(`--env: ${JSON.stringify(entry)} is not NAME=VALUE`);
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

function startSpec(values: FlagValues, argv: string[]): JobSpec {
  const [command, ...args] = argv;
  if (command === undefined || command === "") {
    throw new UsageError("start needs a command: start [options] -- CMD [ARG...]");
  }
  const limits: LimitsInput = {};
  const cpu = str(values, "cpu");
  if (cpu !== undefined) limits.cpu = parseNumber(cpu, "--cpu", { integer: false });
  const memory = str(values, "memory");
  if (memory !== undefined) limits.memoryBytes = parseSize(memory, "--memory");
  const ioRead = str(values, "io-read-bps");
  if (ioRead !== undefined) limits.ioReadBps = parseSize(ioRead, "--io-read-bps");
  const ioWrite = str(values, "io-write-bps");
  if (ioWrite !== undefined) limits.ioWriteBps = parseSize(ioWrite, "--io-write-bps");
  const pids = str(values, "pids");
  if (pids !== undefined) limits.pids = parseNumber(pids, "--pids", { integer: true });

  const spec: JobSpec = { command, args, limits };
  const envEntries = values.env;
  if (Array.isArray(envEntries) && envEntries.length > 0) {
    spec.env = parseEnv(envEntries.map(String));
  }
  const cwd = str(values, "cwd");
  if (cwd !== undefined) spec.cwd = cwd;
  const runAs = str(values, "run-as");
  if (runAs !== undefined) spec.runAs = parseRunAs(runAs);
  const maxOutput = str(values, "max-output");
  if (maxOutput !== undefined) spec.maxOutputBytes = parseSize(maxOutput, "--max-output");
  return spec;
}

/** `UID[:GID]`, each a whole number. */
function parseRunAs(text: string): RunAs {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  const uid = Number(m?.[1]);
  const gid = m?.[2] === undefined ? undefined : Number(m[2]);
  if (m === null || uid > MAX_ID || (gid !== undefined && gid > MAX_ID)) {
    throw new UsageError(`--run-as: ${JSON.stringify(text)} is not UID[:GID] (0 to ${MAX_ID})`);
  }
  return gid === undefined ? { uid } : { uid, gid };
}

function onlyId(name: CommandName, positionals: string[]): string {
  if (positionals.length === 0) throw new UsageError(`${name} needs a job id: ${name} ID`);
  if (positionals.length > 1) {
    throw new UsageError(`${name} takes one job id, got ${positionals.length} arguments`);
  }
  const id = positionals[0]!;
  if (id === "") throw new UsageError(`${name}: the job id is empty`);
  return id;
}

/**
 * Splits `args` (after the command name) into options and the job's
 * command line: options end at `--` or at the first argument that is not
 * an option, so `start sleep 60` and `start --cpu 1 -- sh -c 'x'` both work.
 */
function splitStartArgs(
  args: string[],
  options: Record<string, OptionSpec>,
): { optionArgs: string[]; argv: string[] } {
  for (const token of tokensOf(args, options)) {
    if (token.kind === "option-terminator") {
      return { optionArgs: args.slice(0, token.index), argv: args.slice(token.index + 1) };
    }
    if (token.kind === "positional") {
      return { optionArgs: args.slice(0, token.index), argv: args.slice(token.index) };
    }
  }
  return { optionArgs: args, argv: [] };
}

function asksForHelp(args: string[], options: Record<string, OptionSpec>): boolean {
  for (const token of tokensOf(args, options)) {
    if (token.kind === "option-terminator") return false;
    if (token.kind === "option" && token.name === "help") return true;
  }
  return false;
}

/**
 * Parses the CLI's arguments (without the program name). Connection
 * options may come before or after the command name. `--help`/`-h`
 * anywhere before `--` asks for help, even when the rest is wrong.
 *
 * @example
 * ```ts
 * parseCommandLine(["start", "--memory", "64M", "--", "sleep", "60"], (n) => Deno.env.get(n));
 * // { kind: "start", connection: {...}, spec: { command: "sleep", args: ["60"], limits: { memoryBytes: 67108864 } } }
 * ```
 * @throws {UsageError} for anything wrong with the command line
 */
export function parseCommandLine(args: string[], env: EnvLookup): Command {
  // `deno task cli -- list` hands the "--" on; it separates nothing here.
  const argv = args[0] === "--" ? args.slice(1) : args;
  // Every command's options are known here so that option values before the
  // command name (`--cpu 1 start ...`) are not taken for the name.
  const nameToken = tokensOf(argv, ALL_OPTIONS).find((t) =>
    t.kind === "positional" || t.kind === "option-terminator"
  );
  if (nameToken?.kind !== "positional") {
    if (asksForHelp(argv, CONNECTION_OPTIONS)) return { kind: "help", text: helpText() };
    throw new UsageError(
      "missing command: start, stop, status, list or logs (see --help)",
    );
  }
  const name = nameToken.value;
  if (!isCommandName(name)) {
    throw new UsageError(`unknown command ${JSON.stringify(name)} (see --help)`);
  }
  const rest = [...argv.slice(0, nameToken.index), ...argv.slice(nameToken.index + 1)];
  const options: Record<string, OptionSpec> = { ...CONNECTION_OPTIONS, ...COMMAND_OPTIONS[name] };

  if (name === "start") {
    const { optionArgs, argv: jobArgv } = splitStartArgs(rest, options);
    if (asksForHelp(optionArgs, options)) return { kind: "help", text: helpText(name) };
    const { values } = strictParse(optionArgs, options, { command: name, positionals: false });
    const spec = startSpec(values, jobArgv);
    return { kind: "start", connection: resolveConnection(values, env), spec };
  }

  if (asksForHelp(rest, options)) return { kind: "help", text: helpText(name) };
  const { values, positionals } = strictParse(rest, options, { command: name, positionals: true });
  const json = values.json === true;
  switch (name) {
    case "list": {
      if (positionals.length > 0) {
        throw new UsageError(`list takes no arguments, got ${JSON.stringify(positionals[0])}`);
      }
      return { kind: "list", connection: resolveConnection(values, env), json };
    }
    case "status": {
      const id = onlyId(name, positionals);
      return { kind: "status", connection: resolveConnection(values, env), id, json };
    }
    case "stop": {
      const id = onlyId(name, positionals);
      const grace = str(values, "grace");
      const command: Command = {
        kind: "stop",
        connection: resolveConnection(values, env),
        id,
        json,
      };
      if (grace !== undefined) {
        command.graceSeconds = parseNumber(grace, "--grace", { integer: false });
      }
      return command;
    }
    case "logs": {
      const id = onlyId(name, positionals);
      const offsetText = str(values, "offset");
      const offset = offsetText === undefined ? 0 : parseSize(offsetText, "--offset");
      return {
        kind: "logs",
        connection: resolveConnection(values, env),
        id,
        follow: values.follow === true,
        offset,
      };
    }
  }
}
