/**
 * The job library: start isolated, limited jobs, stop them gracefully, read
 * their status, and stream their output from the first byte.
 *
 * @example
 * ```ts
 * import { JobManager } from "./src/job/mod.ts";
 * const manager = await JobManager.create({ dataDir: "./data" });
 * const job = await manager.start({ command: "sh", args: ["-c", "echo hi"], limits: { cpu: 0.5 } });
 * const reader = job.output();
 * for await (const chunk of reader) Deno.stdout.writeSync(chunk.data);
 * console.log(await job.wait()); // { state: "exited", exitCode: 0, ... }
 * await manager.close();
 * ```
 *
 * @module
 */
export {
  JobArgumentError,
  JobExhaustedError,
  JobNotFoundError,
  JobPermissionError,
  JobPreconditionError,
  JobSpecError,
} from "./errors.ts";
export {
  DEFAULT_JOB_UID_RANGE,
  formatIdRanges,
  type IdRange,
  MAX_ID,
  parseIdRanges,
  type RunAs,
} from "./identity.ts";
export { type BindMount, JOB_WORK_DIR } from "../executor/protocol.ts";
// A compiled program embedding the library must hand this argument to the
// executor's entry point: the library starts executors as that same binary.
export { EXECUTOR_ARG } from "../executor/launch.ts";
// The limits in force and a job's output, as the library hands them out.
export type { ResourceLimits } from "../cgroup/mod.ts";
/** For a process that restarts the server from the same cgroup (see `--supervise`). */
export { enterSupervisorLeaf } from "../cgroup/mod.ts";
export type { OutputChunk, OutputReader } from "../output/mod.ts";
export {
  DEFAULT_GRACE_MS,
  Job,
  type JobState,
  type JobStatus,
  type OutputOptions,
  type OutputStatus,
  type ResourceUsage,
  type SignalOptions,
  type StopOptions,
} from "./job.ts";
export {
  JobManager,
  type JobManagerOptions,
  type ListOptions,
  type StartOptions,
  type WatchEventsOptions,
} from "./manager.ts";
export {
  DEFAULT_KEEP_EVENTS,
  type JobEvent,
  JobEventsGoneError,
  type JobEventType,
} from "./events.ts";
export { checkLabels, matchesLabels, MAX_LABEL_BYTES, MAX_LABELS } from "./labels.ts";
export { JOB_SIGNALS, type JobSignal, parseJobSignal } from "./signals.ts";
export { JobInputWriter } from "./input.ts";
export {
  DEFAULT_ENV,
  DEFAULT_LIMITS,
  DEFAULT_TERMINAL_SIZE,
  type JobSpec,
  type LimitsInput,
  MAX_ARG_BYTES,
  MAX_EXEC_BYTES,
  MAX_PATH_BYTES,
  MAX_PIDS,
  MIN_CPU,
  MIN_IO_BPS,
  MIN_MEMORY_BYTES,
  type ResolvedSpec,
  resolveSpec,
  type TerminalSize,
} from "./spec.ts";
