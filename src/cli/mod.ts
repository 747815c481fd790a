/**
 * The jobworker command-line client: `deno task cli COMMAND` with the
 * commands start, stop, status, list and logs (see `deno task cli --help`).
 *
 * - {@link run} runs a command line in-process with injectable stdout,
 *   stderr, environment and client, and returns the exit status;
 * - {@link parseCommandLine} and {@link parseSize} turn arguments into a
 *   checked {@link Command};
 * - {@link formatStatus}, {@link formatList} and {@link statusToJson} are
 *   how statuses are shown.
 *
 * @example
 * ```ts
 * import { run } from "./src/cli/mod.ts";
 * Deno.exitCode = await run(["status", id, "--user", "alice", "--json"]);
 * ```
 *
 * @module
 */
export {
  type Command,
  type CommandName,
  type ConnectionSettings,
  DEFAULT_ADDR,
  DEFAULT_CERTS_DIR,
  type EnvLookup,
  type FlagValues,
  helpText,
  parseCommandLine,
  parseSize,
  resolveConnection,
  UsageError,
} from "./args.ts";
export {
  escapeControl,
  formatBytes,
  formatCommand,
  formatExit,
  formatJson,
  formatList,
  formatStatus,
  formatTime,
  type JobJson,
  statusToJson,
} from "./format.ts";
export {
  type ByteWriter,
  type CliClient,
  type CliIo,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  run,
} from "./main.ts";
