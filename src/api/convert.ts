/**
 * The one place where API messages and library values meet: job specs,
 * statuses and limits, in both directions. Round-trip tested.
 *
 * @module
 */
import type {
  JobEvent,
  JobEventType,
  JobSpec,
  JobState,
  JobStatus,
  LimitsInput,
  ResourceLimits,
} from "../job/mod.ts";
import type {
  JobEventMessage,
  JobEventTypeName,
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

const EVENT_TYPE_NAMES: Record<JobEventType, JobEventTypeName> = {
  "started": "JOB_EVENT_TYPE_STARTED",
  "exited": "JOB_EVENT_TYPE_EXITED",
  "oom-killed": "JOB_EVENT_TYPE_OOM_KILLED",
  "stopped": "JOB_EVENT_TYPE_STOPPED",
  "timed-out": "JOB_EVENT_TYPE_TIMED_OUT",
  "failed": "JOB_EVENT_TYPE_FAILED",
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
  if (request.timeoutSeconds !== undefined && request.timeoutSeconds !== null) {
    spec.timeoutMs = request.timeoutSeconds * 1000;
  }
  if (request.labels && Object.keys(request.labels).length > 0) {
    spec.labels = { ...request.labels };
  }
  if (request.stdin) spec.stdin = true;
  if (request.tty) spec.tty = true;
  if (request.ttySize) spec.ttySize = { rows: request.ttySize.rows, cols: request.ttySize.cols };
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
    labels: { ...(spec.labels ?? {}) },
    stdin: spec.stdin ?? false,
    tty: spec.tty ?? false,
    ttySize: spec.ttySize === undefined ? null : { ...spec.ttySize },
  };
  if (spec.runAs !== undefined) request.runAs = { ...spec.runAs };
  if (spec.maxOutputBytes !== undefined) request.maxOutputBytes = spec.maxOutputBytes;
  if (spec.timeoutMs !== undefined) request.timeoutSeconds = spec.timeoutMs / 1000;
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
    timedOut: status.timedOut,
    labels: { ...status.labels },
    stdin: status.stdin,
    tty: status.tty,
  };
  if (status.timeoutMs !== null) message.timeoutSeconds = status.timeoutMs / 1000;
  if (status.exitCode !== null) message.exitCode = status.exitCode;
  if (status.signal !== null) message.signal = status.signal;
  const usage = message.usage!;
  if (status.usage.cpuNs !== null) usage.cpuNs = status.usage.cpuNs;
  if (status.usage.memoryCurrentBytes !== null) {
    usage.memoryCurrentBytes = status.usage.memoryCurrentBytes;
  }
  if (status.usage.memoryPeakBytes !== null) usage.memoryPeakBytes = status.usage.memoryPeakBytes;
  if (status.usage.tasks !== null) usage.tasks = status.usage.tasks;
  if (status.usage.ioReadBytes !== null) usage.ioReadBytes = status.usage.ioReadBytes;
  if (status.usage.ioWriteBytes !== null) usage.ioWriteBytes = status.usage.ioWriteBytes;
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
      ioReadBytes: usage.ioReadBytes ?? null,
      ioWriteBytes: usage.ioWriteBytes ?? null,
    },
    output: {
      bytes: output?.bytes ?? null,
      maxBytes: output?.maxBytes ?? 0,
      truncated: output?.truncated ?? false,
      error: output?.error ? output.error : null,
    },
    error: message.error ? message.error : null,
    timeoutMs: message.timeoutSeconds === undefined ? null : message.timeoutSeconds * 1000,
    timedOut: message.timedOut ?? false,
    labels: { ...(message.labels ?? {}) },
    stdin: message.stdin ?? false,
    tty: message.tty ?? false,
  };
}

/** A job event as sent on the wire. */
export function eventToMessage(event: JobEvent): JobEventMessage {
  const message: JobEventMessage = {
    seq: event.seq,
    time: timestampFromDate(event.time),
    id: event.id,
    owner: event.owner,
    type: EVENT_TYPE_NAMES[event.type],
    error: event.error ?? "",
    labels: { ...event.labels },
  };
  if (event.exitCode !== null) message.exitCode = event.exitCode;
  if (event.signal !== null) message.signal = event.signal;
  return message;
}

/** A job event from the wire. Unknown types read as `failed`. */
export function eventFromMessage(message: JobEventMessage): JobEvent {
  const type = (Object.keys(EVENT_TYPE_NAMES) as JobEventType[])
    .find((t) => EVENT_TYPE_NAMES[t] === message.type) ?? "failed";
  return {
    seq: message.seq,
    time: message.time ? dateFromTimestamp(message.time) : new Date(0),
    id: message.id,
    owner: message.owner,
    type,
    exitCode: message.exitCode ?? null,
    signal: message.signal ?? null,
    error: message.error ? message.error : null,
    labels: { ...(message.labels ?? {}) },
  };
}
