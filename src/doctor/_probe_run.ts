/**
 * Runs the probe child (./probe.ts) and reads its answer. The child gets
 * an empty directory of its own to mount its test root on; the directory
 * is removed afterwards (the mounts were only ever in the child's mount
 * namespace). A child that hangs is killed after a timeout.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { messageOf } from "./_check.ts";
import { parseProbeAnswer, type ProbeConfig, type ProbeSteps } from "./_probe_protocol.ts";
import { DOCTOR_PROBE_ARG } from "./types.ts";

/** The probe's outcome: its steps, or why it gave no answer. */
export type ProbeRun =
  | { ran: true; steps: ProbeSteps; ms: number }
  | { ran: false; error: string };

/** How long the probe may take; it needs some 100 ms. */
const PROBE_TIMEOUT_MS = 20_000;

/**
 * The command that runs the probe, without its argument: this Deno running
 * ./_probe_main.ts, or in a compiled binary the binary itself with
 * {@link DOCTOR_PROBE_ARG} (which it must hand to `runDoctorProbe`).
 */
export function defaultProbeCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath(), DOCTOR_PROBE_ARG];
  return [
    Deno.execPath(),
    "run",
    "--allow-all",
    "--no-config",
    "--no-lock",
    "--quiet",
    "--no-prompt",
    fileURLToPath(new URL("./_probe_main.ts", import.meta.url)),
  ];
}

/**
 * Runs the probe with `command` and returns its steps. Never throws: a
 * probe that cannot start, hangs, dies or answers garbage is `ran: false`
 * with the reason.
 */
export async function runProbe(
  command: readonly string[],
  options: { uid: number; timeoutMs?: number },
): Promise<ProbeRun> {
  const [program, ...args] = command;
  if (program === undefined) return { ran: false, error: "the probe command is empty" };
  let dir: string;
  try {
    dir = await Deno.makeTempDir({ prefix: "jobworker-doctor-" });
  } catch (err) {
    return { ran: false, error: `Cannot make a directory for the probe: ${messageOf(err)}` };
  }
  const config: ProbeConfig = { dir, uid: options.uid };
  const started = performance.now();
  let timedOut = false;
  try {
    const child = new Deno.Command(program, {
      args: [...args, JSON.stringify(config)],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch {
        // It ended meanwhile.
      }
    }, options.timeoutMs ?? PROBE_TIMEOUT_MS);
    let output: Deno.CommandOutput;
    try {
      output = await child.output();
    } finally {
      clearTimeout(timer);
    }
    const ms = Math.round(performance.now() - started);
    const steps = parseProbeAnswer(new TextDecoder().decode(output.stdout));
    if (steps !== null) return { ran: true, steps, ms };
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-3).join(" ");
    const how = timedOut
      ? `it did not answer within ${options.timeoutMs ?? PROBE_TIMEOUT_MS} ms and was killed`
      : output.signal !== null
      ? `it was killed by ${output.signal}`
      : `it exited with ${output.code} without an answer`;
    return { ran: false, error: `${how}${stderr === "" ? "" : `: ${stderr}`}` };
  } catch (err) {
    return { ran: false, error: `Cannot start ${program}: ${messageOf(err)}` };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
