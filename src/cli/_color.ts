/**
 * Whether and how the CLI colours what it prints. Colour is a courtesy to
 * a person at a terminal: a pipe, a file, `NO_COLOR` (https://no-color.org)
 * or a dumb terminal get plain text, byte for byte what scripts expect.
 *
 * @module
 */
import type { JobStatus } from "../job/mod.ts";
import type { EnvLookup } from "./args.ts";

/**
 * True when output may be coloured: stdout is a terminal, `NO_COLOR` is
 * unset or empty, and `TERM` is not `dumb`.
 */
export function shouldColor(options: { isTerminal: boolean; env: EnvLookup }): boolean {
  const noColor = options.env("NO_COLOR");
  if (noColor !== undefined && noColor !== "") return false;
  if (options.env("TERM") === "dumb") return false;
  return options.isTerminal;
}

/** SGR parameters of a state's colour: success green, trouble red or yellow, running cyan. */
function stateColor(status: Pick<JobStatus, "state" | "exitCode" | "oomKilled">): string {
  switch (status.state) {
    case "running":
      return "36";
    case "exited":
      return status.exitCode === 0 && !status.oomKilled ? "32" : "31";
    case "stopped":
      return "33";
    case "failed":
      return "1;31";
  }
}

/** `text` (the state, padded or not) in the colour of the job's state. */
export function paintState(
  text: string,
  status: Pick<JobStatus, "state" | "exitCode" | "oomKilled">,
): string {
  return `\x1b[${stateColor(status)}m${text}\x1b[0m`;
}
