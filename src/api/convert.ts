/**
 * The one place where API messages and library values meet: job specs,
 * statuses and limits, in both directions. Round-trip tested.
 *
 * @module
 */
import type { JobSpec, JobState, JobStatus, LimitsInput, ResourceLimits } from "../job/mod.ts";
import type {
  JobStateName,
  JobStatusMessage,
  LimitsMessage,
  StartRequestMessage,
  TimestampMessage,
} from "./proto.ts";

const STATE_NAMES: Record<JobState, JobStateName> = {
  running: "JOB_STATE_RUNNING",
  exited: "JOB_STATE_EXITED",
  stopped: "JOB_STATE_STOPPED",
  failed: "JOB_STATE_FAILED",
};

/** A Date as a google.protobuf.Timestamp. */
export function timestampFromDate(date: Date): TimestampMessage {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** A google.protobuf.Timestamp as a Date (millisecond precision). */
export function dateFromTimestamp(ts: TimestampMessage): Date {
  return new Date(ts.seconds * 1000 + Math.floor(ts.nanos / 1_000_000));
}

/** Only the limits that are set; `null` (unlimited) is left out. */
function limitsToMessage(limits: Partial<ResourceLimits> | LimitsInput): LimitsMessage {
  const out: LimitsMessage = {};
  if (limits.cpu != null) out.cpu = limits.cpu;
  if (limits.memoryBytes != null) out.memoryBytes = limits.memoryBytes;
  if (limits.ioReadBps != null) out.ioReadBps = limits.ioReadBps;
  if (limits.ioWriteBps != null) out.ioWriteBps = limits.ioWriteBps;
  if (limits.pids != null) out.pids = limits.pids;
  return out;
}

function limitsInputFromMessage(message: LimitsMessage | null | undefined): LimitsInput {
  const out: LimitsInput = {};
  if (message?.cpu != null) out.cpu = message.cpu;
  if (message?.memoryBytes != null) out.memoryBytes = message.memoryBytes;
  if (message?.ioReadBps != null) out.ioReadBps = message.ioReadBps;
  if (message?.ioWriteBps != null) out.ioWriteBps = message.ioWriteBps;
  if (message?.pids != null) out.pids = message.pids;
  return out;
}

/** The spec a StartRequest asks for; validation is the library's job. */
export function specFromStartRequest(request: StartRequestMessage): JobSpec {
  const spec: JobSpec = {
    command: request.command ?? "",
    args: request.args ?? [],
    limits: limitsInputFromMessage(request.limits),
  };
  if (request.env && Object.keys(request.env).length > 0) spec.env = { ...request.env };
  if (request.cwd) spec.cwd = request.cwd;
  if (request.maxOutputBytes !== undefined && request.maxOutputBytes !== null) {
    spec.maxOutputBytes = request.maxOutputBytes;
  }
  if (request.runAs) {
    spec.runAs = request.runAs.gid === undefined
      ? { uid: request.runAs.uid }
      : { uid: request.runAs.uid, gid: request.runAs.gid };
  }
  return spec;
}

/** The StartRequest for a spec. */
export function startRequestFromSpec(spec: JobSpec): StartRequestMessage {
  const request: StartRequestMessage = {
    command: spec.command,
    args: [...(spec.args ?? [])],
    limits: limitsToMessage(spec.limits ?? {}),
    env: { ...(spec.env ?? {}) },
    cwd: spec.cwd ?? "",
  };
  if (spec.runAs !== undefined) request.runAs = { ...spec.runAs };
  if (spec.maxOutputBytes !== undefined) request.maxOutputBytes = spec.maxOutputBytes;
  return request;
}

/** A job status as sent on the wire. */
export function statusToMessage(status: JobStatus): JobStatusMessage {
  const message: JobStatusMessage = {
    id: status.id,
    owner: status.owner,
    uid: status.uid,
    gid: status.gid,
    command: status.command,
    args: [...status.args],
    state: STATE_NAMES[status.state],
    oomKilled: status.oomKilled,
    startedAt: timestampFromDate(status.startedAt),
    endedAt: status.endedAt ? timestampFromDate(status.endedAt) : null,
    limits: limitsToMessage(status.limits),
    usage: {},
    error: status.error ?? "",
    output: {
      maxBytes: status.output.maxBytes,
      truncated: status.output.truncated,
      error: status.output.error ?? "",
      ...(status.output.bytes === null ? {} : { bytes: status.output.bytes }),
    },
  };
  if (status.exitCode !== null) message.exitCode = status.exitCode;
  if (status.signal !== null) message.signal = status.signal;
  const usage = message.usage!;
  if (status.usage.cpuNs !== null) usage.cpuNs = status.usage.cpuNs;
  if (status.usage.memoryCurrentBytes !== null) {
    usage.memoryCurrentBytes = status.usage.memoryCurrentBytes;
  }
  if (status.usage.memoryPeakBytes !== null) usage.memoryPeakBytes = status.usage.memoryPeakBytes;
  if (status.usage.tasks !== null) usage.tasks = status.usage.tasks;
  return message;
}

/** A job status from the wire. Unknown states read as `failed`. */
export function statusFromMessage(message: JobStatusMessage): JobStatus {
  const state = (Object.keys(STATE_NAMES) as JobState[])
    .find((s) => STATE_NAMES[s] === message.state) ?? "failed";
  const limits = message.limits ?? {};
  const usage = message.usage ?? {};
  const output = message.output;
  return {
    id: message.id,
    owner: message.owner,
    uid: message.uid ?? 0,
    gid: message.gid ?? 0,
    command: message.command,
    args: [...(message.args ?? [])],
    state,
    exitCode: message.exitCode ?? null,
    signal: message.signal ?? null,
    oomKilled: message.oomKilled ?? false,
    startedAt: message.startedAt ? dateFromTimestamp(message.startedAt) : new Date(0),
    endedAt: message.endedAt ? dateFromTimestamp(message.endedAt) : null,
    limits: {
      cpu: limits.cpu ?? null,
      memoryBytes: limits.memoryBytes ?? null,
      ioReadBps: limits.ioReadBps ?? null,
      ioWriteBps: limits.ioWriteBps ?? null,
      pids: limits.pids ?? null,
    },
    usage: {
      cpuNs: usage.cpuNs ?? null,
      memoryCurrentBytes: usage.memoryCurrentBytes ?? null,
      memoryPeakBytes: usage.memoryPeakBytes ?? null,
      tasks: usage.tasks ?? null,
    },
    output: {
      bytes: output?.bytes ?? null,
      maxBytes: output?.maxBytes ?? 0,
      truncated: output?.truncated ?? false,
      error: output?.error ? output.error : null,
    },
    error: message.error ? message.error : null,
  };
}
