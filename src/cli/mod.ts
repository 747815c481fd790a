/**
 * The jobworker command-line client: `deno task cli COMMAND` with the
 * commands start (with `-i`/`-t`: interactive), stop, status, list, logs,
 * attach, signal, events, top and completion (see `deno task cli --help`),
 * and `doctor`, which checks the local host (src/doctor/) instead of asking
 * a server.
 *
 * - {@link run} runs a command line in-process with injectable stdout,
 *   stderr, environment and client, and returns the exit status;
 * - {@link parseCommandLine} and {@link parseSize} turn arguments into a
 *   checked {@link Command};
 * - {@link formatStatus}, {@link formatList}, {@link formatWideList} and
 *   {@link statusToJson} are how statuses are shown, {@link formatLabels}
 *   and {@link formatTimeout} how labels and deadlines are;
 * - {@link exitCodeOf} is the exit status of `start -f`, `start -i`,
 *   `attach` and `status -w` when the job ends.
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
  type InteractiveOptions,
  JOB_STATES,
  OUTPUT_KINDS,
  type OutputKind,
  parseCommandLine,
  parseLabels,
  parseSize,
  resolveConnection,
  type Shell,
  SHELLS,
  TOP_SORT_KEYS,
  type TopSortKey,
  UsageError,
} from "./args.ts";
export {
  type ColorOptions,
  escapeControl,
  formatBytes,
  formatCommand,
  formatDuration,
  formatExit,
  formatJson,
  formatLabels,
  formatList,
  formatStatus,
  formatTime,
  formatTimeout,
  formatWideList,
  type JobJson,
  statusToJson,
} from "./format.ts";
export {
  type ByteWriter,
  type CliClient,
  type CliIo,
  EXIT_FAILURE,
  EXIT_JOB_FAILED,
  EXIT_OK,
  EXIT_SIGNAL_BASE,
  EXIT_USAGE,
  EXIT_WAIT_FAILURE,
  exitCodeOf,
  run,
} from "./main.ts";
