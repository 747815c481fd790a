/**
 * The executor: PID 1 of every job. See ./protocol.ts for what the server
 * tells it and what it reports, ./_sandbox.ts for the job's view of the
 * system, ./_identity.ts for the job's credentials, ../cgroup/hop.ts for
 * how the job starts in its cgroup and ./_pump.ts for how output reaches
 * its file.
 *
 * Only synchronous file APIs are used after `enterSandbox()`: Deno runs
 * async file operations on helper threads, which stay in the host's mount
 * namespace; the main thread is the one that was moved. Files are opened
 * before, and used through their descriptors.
 *
 * @module
 */
import {
  closeFd,
  dupTo,
  kill,
  lastCapability,
  makePipe,
  O_APPEND,
  O_WRONLY,
  openFd,
  openPty,
  setNonBlocking,
  setNotDumpable,
  setWindowSize,
  SIGNALS,
  spawn,
  SyscallError,
  waitChild,
  writeFd,
} from "../../ffi/mod.ts";
import type { ExitStatus } from "../../ffi/mod.ts";
import { enterSandbox, type PreparedSandbox, prepareSandbox } from "./_sandbox.ts";
import { lockDown, spawnAs } from "./_identity.ts";
import { directoryProblem, resolveCommand } from "./_resolve.ts";
// Straight from hop.ts, not ../cgroup/mod.ts: that would load both drivers
// too, which measured about 0.5 MiB more PSS in every executor (one per job).
import { type OpenSpawnPlan, openSpawnPlan, spawnInCgroup } from "../cgroup/hop.ts";
import { PUMP_CHUNK_BYTES, pumpOutput, type PumpState, pumpTerminal } from "./_pump.ts";
import { Deadline } from "./deadline.ts";
import { concat } from "../bytes/mod.ts";
import {
  type ExecutorConfig,
  type ExecutorReport,
  parseCommand,
  parseConfig,
  parsePrepare,
  type StartFailureReason,
} from "./protocol.ts";

const O_CREAT = 0o100;

/** Reads the next line of stdin synchronously; null at end-of-file before any byte of it. */
function readLine(): string | null {
  const chunks: Uint8Array[] = [];
  let pending = new Uint8Array(0);
  const buf = new Uint8Array(64 * 1024);
  // The server writes each line whole and nothing after the second one, so
  // a read never takes more than the current line's bytes... except that
  // both lines may arrive together: keep what follows the newline.
  if (leftover.length > 0) {
    pending = leftover;
    leftover = new Uint8Array(0);
  }
  for (;;) {
    const nl = pending.indexOf(0x0a);
    if (nl >= 0) {
      chunks.push(pending.subarray(0, nl));
      leftover = pending.slice(nl + 1);
      break;
    }
    chunks.push(pending);
    const n = Deno.stdin.readSync(buf);
    if (n === null || n === 0) {
      if (chunks.every((c) => c.length === 0)) return null;
      throw new Error("stdin closed in the middle of a line");
    }
    pending = buf.slice(0, n);
  }
  return new TextDecoder().decode(concat(chunks));
}

let leftover = new Uint8Array(0);

/** Why posix_spawn failed (the working directory was checked before). */
function failureReason(err: unknown): StartFailureReason {
  if (!(err instanceof SyscallError)) return "setup";
  switch (err.code) {
    case "ENOENT":
    case "ENOTDIR":
      return "not-found";
    case "EACCES":
    case "EISDIR":
      return "not-executable";
    case "ENOEXEC":
      return "bad-format";
    case "E2BIG":
      return "too-big";
    default:
      return "setup";
  }
}

/** Kills every process of the job but the executor and reaps them all. */
function killAndReapAll(): void {
  kill(-1, SIGNALS.SIGKILL!);
  while (waitChild(-1, { block: true }) !== null) {
    // Every remaining child was SIGKILLed; reap until none is left.
  }
}

/** Calls `onCommand` for each command line on the control FIFO, forever. */
async function readCommands(
  control: Deno.FsFile,
  onCommand: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  const buf = new Uint8Array(4096);
  let pending = "";
  // Opened for reading and writing: no end-of-file however often servers come and go.
  for (let n = await control.read(buf); n !== null; n = await control.read(buf)) {
    pending += decoder.decode(buf.subarray(0, n), { stream: true });
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.trim() !== "") onCommand(line);
    }
  }
}

/** Runs the executor; never returns. */
export async function main(): Promise<never> {
  // Nothing may read this process's memory or descriptors through /proc.
  setNotDumpable();
  // Until the job is known, stderr is the server's pipe: failures go there.
  let prepared: PreparedSandbox;
  let config: ExecutorConfig;
  try {
    const first = readLine();
    if (first === null) throw new Error("stdin closed before the prepare line");
    prepared = prepareSandbox(parsePrepare(first).sandbox);
    const second = readLine();
    // A pooled executor that is no longer wanted (or whose server went away).
    if (second === null) Deno.exit(0);
    config = parseConfig(second);
  } catch (err) {
    console.error(`executor: ${(err as Error).message}`);
    Deno.exit(2);
  }

  // Diagnostics go to the job's executor.log from here on: the server that
  // started this executor may be gone long before the job ends.
  const logFd = openFd(config.files.log, O_WRONLY | O_APPEND | O_CREAT);
  dupTo(logFd, 1);
  dupTo(logFd, 2);
  closeFd(logFd);
  const reportsFd = openFd(config.files.reports, O_WRONLY | O_APPEND);
  const report = (message: ExecutorReport) =>
    writeFd(reportsFd, JSON.stringify(message) + "\n", "reports");
  const failStart: (reason: StartFailureReason, message: string) => never = (reason, message) => {
    report({ type: "start-failed", reason, message });
    Deno.exit(1);
  };

  // Everything from the host's view is opened now: the sandbox hides it.
  let outputFd: number;
  let nullFd: number;
  let control: Deno.FsFile;
  let input: Deno.FsFile | null = null;
  let cgroupPlan: OpenSpawnPlan;
  let lastCap: number;
  try {
    // Not O_APPEND: splice(2) refuses append-mode targets. The executor is
    // the file's only writer, and it starts empty.
    outputFd = openFd(config.files.output, O_WRONLY);
    nullFd = openFd("/dev/null", O_WRONLY);
    control = Deno.openSync(config.files.control, { read: true, write: true });
    if (config.input && config.files.input !== undefined) {
      input = Deno.openSync(config.files.input, { read: true, write: true });
    }
    cgroupPlan = openSpawnPlan(config.cgroup);
    lastCap = lastCapability();
    enterSandbox(prepared, config);
  } catch (err) {
    failStart("setup", (err as Error).message);
  }

  const cwdProblem = directoryProblem(config.cwd, config.identity);
  if (cwdProblem !== null) failStart("bad-cwd", cwdProblem);
  const program = resolveCommand(config.command, {
    searchPath: config.env.PATH,
    cwd: config.cwd,
  });
  if (program === "not-found" || program === "not-executable") {
    failStart(
      program,
      `${config.command}: ${program === "not-found" ? "not found" : "not executable"} in PATH`,
    );
  }

  let mainPid = 0;
  let mainStatus: ExitStatus | null = null;
  let stopBeforeExit = false;
  const ended = Promise.withResolvers<void>();
  const onChild = () => {
    for (let r = waitChild(); r !== null; r = waitChild()) {
      if (r.pid === mainPid) {
        mainStatus = r.status;
        ended.resolve();
      }
      // Anything else is an orphan reparented to us: reaping it is all we owe.
    }
  };
  Deno.addSignalListener("SIGCHLD", onChild);

  const tty = config.input?.tty ?? null;
  // A terminal of the job's own, in the sandbox's devpts: its user owns it, as login(1) would do.
  let terminal: { master: number; slavePath: string } | null = null;
  let stdin: [number, number] | null = null;
  let pipe: [number, number] | null = null;
  try {
    if (tty !== null) {
      terminal = openPty();
      Deno.chownSync(terminal.slavePath, config.identity.uid, config.identity.gid);
      Deno.chmodSync(terminal.slavePath, 0o620);
      setWindowSize(terminal.master, tty);
    } else {
      pipe = makePipe({ size: PUMP_CHUNK_BYTES });
      if (input !== null) stdin = makePipe();
    }
  } catch (err) {
    failStart("setup", (err as Error).message);
  }
  const streams = terminal !== null
    ? { ttyPath: terminal.slavePath }
    : { outputFd: pipe![1], ...(stdin === null ? {} : { stdinFd: stdin[0] }) };
  try {
    mainPid = spawnInCgroup(cgroupPlan, () => {
      lockDown(lastCap);
      return spawnAs(config.identity, () =>
        spawn(program, {
          argv0: config.command,
          args: config.args,
          env: config.env,
          cwd: config.cwd,
          ...streams,
          newSession: true,
        }));
    });
  } catch (err) {
    // A failure after the spawn (limits not written) leaves a child behind.
    killAndReapAll();
    failStart(mainPid === 0 ? failureReason(err) : "setup", (err as Error).message);
  }
  // The job holds the only write ends of the output pipe now: end-of-file when it is gone.
  if (pipe !== null) closeFd(pipe[1]);
  if (stdin !== null) {
    closeFd(stdin[0]);
    setNonBlocking(stdin[1]);
  }
  report({ type: "started", pid: mainPid });
  onChild(); // The main process may have ended before the listener ran.

  const onChange = (state: PumpState) =>
    report({ type: "output", truncated: state.truncated, error: state.error });
  const pumped = terminal !== null
    ? pumpTerminal(terminal.master, { outputFd, maxBytes: config.maxOutputBytes, onChange })
    : pumpOutput(pipe![0], { outputFd, nullFd, maxBytes: config.maxOutputBytes, onChange });
  if (input !== null) {
    const target = terminal !== null
      ? { fd: terminal.master, tty: true }
      : { fd: stdin![1], tty: false };
    // Loaded only for interactive jobs: every module costs every executor memory.
    const { pumpInput } = await import("./_input.ts");
    pumpInput(input, target).catch((err) => {
      console.error(`executor: the job's input failed: ${(err as Error).message}`);
    });
  }
  const killDeadline = new Deadline(() => kill(-1, SIGNALS.SIGKILL!));
  void readCommands(control, (line) => {
    try {
      const command = parseCommand(line);
      if (command.type === "signal") {
        // An unreaped main process keeps its PID: no other process can have it yet.
        if (command.all) kill(-1, command.signal);
        else if (mainStatus === null) kill(mainPid, command.signal);
        return;
      }
      if (mainStatus === null) stopBeforeExit = true;
      kill(-1, SIGNALS.SIGTERM!);
      killDeadline.atMost(command.graceMs);
    } catch (err) {
      console.error(`executor: ignoring a command: ${(err as Error).message}`);
    }
  });

  await ended.promise;
  killDeadline.cancel();
  // The job ends with its main process: nothing it left behind survives.
  killAndReapAll();
  const output = await pumped;
  const status = mainStatus as ExitStatus | null;
  report({
    type: "exited",
    exitCode: status?.exitCode ?? null,
    signal: status?.signal ?? null,
    terminated: stopBeforeExit,
    outputBytes: output.bytes,
  });
  Deno.exit(0);
}

if (import.meta.main) await main();
