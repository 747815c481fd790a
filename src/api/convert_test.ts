import { assertEquals } from "@std/assert";
import type { JobEvent, JobSpec, JobStatus } from "../job/mod.ts";
import {
  dateFromTimestamp,
  eventFromMessage,
  eventToMessage,
  specFromStartRequest,
  startRequestFromSpec,
  statusFromMessage,
  statusToMessage,
  timestampFromDate,
} from "./convert.ts";
import { jobWorkerService } from "./proto.ts";

const running: JobStatus = {
  id: "0b7c9a56-3f55-4f8e-9a43-0c6d6f2a9b11",
  owner: "alice",
  uid: 61184,
  gid: 61184,
  command: "sh",
  args: ["-c", "echo hi"],
  state: "running",
  exitCode: null,
  signal: null,
  oomKilled: false,
  startedAt: new Date("2026-11-27T18:00:00.123Z"),
  endedAt: null,
  limits: { cpu: 0.5, memoryBytes: 64 << 20, ioReadBps: null, ioWriteBps: 1 << 20, pids: 32 },
  usage: {
    cpuNs: 12_345_678,
    memoryCurrentBytes: 1 << 20,
    memoryPeakBytes: 2 << 20,
    tasks: 2,
    ioReadBytes: 0,
    ioWriteBytes: 8 << 20,
  },
  output: { bytes: 1234, maxBytes: 1073741824, truncated: false, error: null },
  error: null,
  timeoutMs: null,
  timedOut: false,
  labels: {},
  stdin: false,
  tty: false,
};

const ended: JobStatus[] = [
  { ...running, state: "exited", exitCode: 0, endedAt: new Date("2026-11-27T18:00:01.5Z") },
  { ...running, state: "stopped", signal: "SIGKILL", endedAt: new Date(1_800_000_000_999) },
  {
    ...running,
    state: "stopped",
    signal: "SIGTERM",
    endedAt: new Date(1_800_000_090_000),
    timeoutMs: 90_000,
    timedOut: true,
    labels: { "example.com/tier": "batch", team: "infra" },
  },
  { ...running, state: "exited", exitCode: 0, stdin: true, tty: true, endedAt: new Date(5) },
  {
    ...running,
    state: "failed",
    signal: "SIGKILL",
    oomKilled: true,
    error: "the job's executor ended unexpectedly",
    endedAt: new Date(0),
    usage: {
      cpuNs: null,
      memoryCurrentBytes: null,
      memoryPeakBytes: null,
      tasks: null,
      ioReadBytes: null,
      ioWriteBytes: null,
    },
    limits: { cpu: null, memoryBytes: null, ioReadBps: null, ioWriteBps: null, pids: null },
  },
];

/** Through the real serializers, as a message travels. */
function overTheWire<T>(method: string, value: T): T {
  const def = jobWorkerService()[method]!;
  return def.responseDeserialize(def.responseSerialize(value)) as T;
}

Deno.test("a job status survives domain -> message -> bytes -> message -> domain", () => {
  for (const status of [running, ...ended]) {
    const wire = overTheWire("Status", { status: statusToMessage(status) });
    assertEquals(statusFromMessage(wire.status), status);
  }
});

Deno.test("exit code 0 and a missing exit code stay distinct on the wire", () => {
  const zero = overTheWire("Status", { status: statusToMessage(ended[0]!) });
  assertEquals(zero.status.exitCode, 0);
  const none = overTheWire("Status", { status: statusToMessage(running) });
  assertEquals(none.status.exitCode, undefined);
});

Deno.test("a spec survives spec -> StartRequest -> bytes -> StartRequest -> spec", () => {
  const specs: JobSpec[] = [
    { command: "true", args: [], limits: {} },
    {
      command: "sh",
      args: ["-c", "echo $FOO", ""],
      env: { FOO: "bar" },
      cwd: "/tmp",
      limits: { cpu: 1.5, memoryBytes: 2 ** 40, ioReadBps: 4096, ioWriteBps: 8192, pids: 7 },
    },
    { command: "id", args: [], limits: {}, runAs: { uid: 1000 } },
    { command: "id", args: [], limits: {}, runAs: { uid: 0, gid: 0 } },
    { command: "id", args: [], limits: {}, runAs: { uid: 4_294_967_294, gid: 2000 } },
    { command: "sleep", args: ["9"], limits: {}, timeoutMs: 1500, labels: { a: "1", b: "" } },
    { command: "sh", args: [], limits: {}, stdin: true },
    { command: "sh", args: [], limits: {}, tty: true, ttySize: { rows: 50, cols: 132 } },
  ];
  const def = jobWorkerService().Start!;
  for (const spec of specs) {
    const bytes = def.requestSerialize(startRequestFromSpec(spec));
    assertEquals(specFromStartRequest(def.requestDeserialize(bytes)), spec);
  }
});

Deno.test("timestamps keep millisecond precision", () => {
  for (const ms of [0, 1, 999, 1_800_000_000_123]) {
    assertEquals(dateFromTimestamp(timestampFromDate(new Date(ms))).getTime(), ms);
  }
});

Deno.test("a job event survives event -> message -> bytes -> message -> event", () => {
  const events: JobEvent[] = [
    {
      seq: 1,
      time: new Date("2026-12-02T08:00:00.001Z"),
      id: running.id,
      owner: "alice",
      type: "started",
      exitCode: null,
      signal: null,
      error: null,
      labels: { team: "infra" },
    },
    {
      seq: 2 ** 40,
      time: new Date(0),
      id: running.id,
      owner: "bob",
      type: "exited",
      exitCode: 0,
      signal: null,
      error: null,
      labels: {},
    },
  ];
  const types = ["oom-killed", "stopped", "timed-out", "failed"] as const;
  for (const type of types) {
    events.push({ ...events[0]!, type, signal: "SIGKILL", error: type === "failed" ? "x" : null });
  }
  const def = jobWorkerService().WatchEvents!;
  for (const event of events) {
    const bytes = def.responseSerialize(eventToMessage(event));
    assertEquals(eventFromMessage(def.responseDeserialize(bytes)), event);
  }
});
