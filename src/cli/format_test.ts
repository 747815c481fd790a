import { assertEquals, assertStringIncludes } from "@std/assert";
import type { JobStatus } from "../job/mod.ts";
import {
  escapeControl,
  formatBytes,
  formatCommand,
  formatDuration,
  formatExit,
  formatJson,
  formatLabels,
  formatList,
  formatStatus,
  formatTimeout,
  formatWideList,
  statusToJson,
} from "./format.ts";
import { parseDuration } from "../units/mod.ts";
import { ID as ID1, jobStatus } from "../../tests/cli/_fixture.ts";

const ID2 = "0b5e8f1c-2222-4a2b-8c3d-000000000002";

/** The fake status of the CLI's tests, with the values this file's expected output is written for. */
function status(overrides: Partial<JobStatus> = {}): JobStatus {
  return jobStatus({
    command: "sh",
    args: ["-c", "echo hi"],
    startedAt: new Date("2024-05-01T12:00:00.250Z"),
    endedAt: new Date("2024-05-01T12:00:01.500Z"),
    limits: {
      cpu: 1,
      memoryBytes: 512 * 2 ** 20,
      ioReadBps: null,
      ioWriteBps: 2 ** 20,
      pids: 1024,
    },
    usage: {
      cpuNs: 12_345_678,
      memoryCurrentBytes: 0,
      memoryPeakBytes: 3 * 2 ** 20,
      tasks: 0,
      ioReadBytes: null,
      ioWriteBytes: null,
    },
    ...overrides,
  });
}

Deno.test("statusToJson: exactly the documented fields, ISO times, null = unlimited", () => {
  const json = statusToJson(status());
  assertEquals(Object.keys(json), [
    "id",
    "owner",
    "uid",
    "gid",
    "command",
    "args",
    "state",
    "exitCode",
    "signal",
    "oomKilled",
    "startedAt",
    "endedAt",
    "limits",
    "usage",
    "output",
    "error",
    "timeoutMs",
    "timedOut",
    "labels",
  ]);
  assertEquals(Object.keys(json.limits), ["cpu", "memoryBytes", "ioReadBps", "ioWriteBps", "pids"]);
  assertEquals(Object.keys(json.usage), [
    "cpuNs",
    "memoryCurrentBytes",
    "memoryPeakBytes",
    "tasks",
    "ioReadBytes",
    "ioWriteBytes",
  ]);
  assertEquals(json, {
    id: ID1,
    owner: "alice",
    uid: 61184,
    gid: 61184,
    command: "sh",
    args: ["-c", "echo hi"],
    state: "exited",
    exitCode: 0,
    signal: null,
    oomKilled: false,
    startedAt: "2024-05-01T12:00:00.250Z",
    endedAt: "2024-05-01T12:00:01.500Z",
    limits: { cpu: 1, memoryBytes: 536870912, ioReadBps: null, ioWriteBps: 1048576, pids: 1024 },
    usage: {
      cpuNs: 12345678,
      memoryCurrentBytes: 0,
      memoryPeakBytes: 3145728,
      tasks: 0,
      ioReadBytes: null,
      ioWriteBytes: null,
    },
    output: { bytes: 1234, maxBytes: 1073741824, truncated: false, error: null },
    error: null,
    timeoutMs: null,
    timedOut: false,
    labels: {},
  });
  // A running job: endedAt null, and the JSON text round-trips.
  const running = statusToJson(status({ state: "running", exitCode: null, endedAt: null }));
  assertEquals(running.endedAt, null);
  assertEquals(JSON.parse(formatJson(running)), running);
  assertEquals(formatJson([]), "[]\n");
});

Deno.test("formatStatus: aligned key/value lines", () => {
  assertEquals(
    formatStatus(status()),
    [
      `ID:         ${ID1}`,
      "Owner:      alice",
      "Runs as:    uid 61184, gid 61184",
      "Command:    sh -c 'echo hi'",
      "State:      exited",
      "Exit:       0",
      "OOM killed: no",
      "Started:    2024-05-01T12:00:00Z",
      "Ended:      2024-05-01T12:00:01Z",
      "Limits:     cpu 1, memory 512MiB, pids 1024, io read unlimited, io write 1MiB/s",
      "Usage:      cpu 0.012s, memory 0B, peak 3MiB, tasks 0",
      "Output:     1.2KiB (cap 1GiB)",
      "",
    ].join("\n"),
  );
});

Deno.test("formatStatus: running, signalled, OOM-killed, failed", () => {
  const running = formatStatus(
    status({
      state: "running",
      exitCode: null,
      endedAt: null,
      usage: {
        cpuNs: null,
        memoryCurrentBytes: null,
        memoryPeakBytes: null,
        tasks: null,
        ioReadBytes: null,
        ioWriteBytes: null,
      },
    }),
  );
  assertStringIncludes(running, "Exit:       -\n");
  assertStringIncludes(running, "Ended:      -\n");
  assertStringIncludes(running, "Usage:      -\n");
  const killed = formatStatus(status({ exitCode: null, signal: "SIGKILL", oomKilled: true }));
  assertStringIncludes(killed, "Exit:       SIGKILL (oom)\n");
  assertStringIncludes(killed, "OOM killed: yes\n");
  const failed = formatStatus(status({ state: "failed", exitCode: null, error: "executor died" }));
  assertStringIncludes(failed, "State:      failed\n");
  assertStringIncludes(failed, "Error:      executor died\n");
});

Deno.test("formatList: columns, exit code or signal, shortened commands", () => {
  const long = "x".repeat(60);
  const table = formatList([
    status(),
    status({
      id: ID2,
      owner: "bob",
      command: "sleep",
      args: [long],
      state: "stopped",
      exitCode: null,
      signal: "SIGTERM",
    }),
  ]);
  const lines = table.split("\n");
  assertEquals(lines.length, 4); // header, two rows, and the final newline
  assertEquals(
    lines[0],
    "ID                                    OWNER  STATE    EXIT     STARTED               COMMAND",
  );
  assertEquals(
    lines[1],
    `${ID1}  alice  exited   0        2024-05-01T12:00:00Z  sh -c 'echo hi'`,
  );
  assertEquals(
    lines[2],
    `${ID2}  bob    stopped  SIGTERM  2024-05-01T12:00:00Z  sleep ${"x".repeat(33)}…`,
  );
  assertEquals([...lines[2]!.split("  ").at(-1)!].length, 40);
  assertEquals(lines[3], "");
  assertEquals(formatList([]), "ID  OWNER  STATE  EXIT  STARTED  COMMAND\n");
  const narrow = formatList([status()], { commandWidth: 5 });
  assertStringIncludes(narrow, "  sh -…\n");
});

Deno.test("text from jobs cannot inject control characters", () => {
  const evil = status({ command: "echo", args: ["a\nb", "\x1b[2J", "it's"], owner: "m\rx" });
  assertEquals(formatCommand(evil.command, evil.args), `echo 'a\\nb' '\\x1b[2J' 'it'\\''s'`);
  const table = formatList([evil]);
  assertEquals(table.split("\n").length, 3);
  // Outside the line ends, no character below a space may reach the terminal.
  const controls = (text: string) => [...text].filter((c) => c !== "\n" && c < " ");
  assertEquals(controls(table), []);
  assertEquals(controls(formatStatus(evil)), []);
  assertEquals(escapeControl("ok \u202e\x7f\x9b"), "ok \\u202e\\x7f\\x9b");
  // The JSON keeps the exact strings: JSON escapes them itself.
  assertEquals(statusToJson(evil).args, ["a\nb", "\x1b[2J", "it's"]);
});

Deno.test("formatCommand, formatBytes, formatExit", () => {
  assertEquals(formatCommand("/bin/ls", ["-l", "/tmp", "a b", ""]), "/bin/ls -l /tmp 'a b' ''");
  assertEquals(formatBytes(0), "0B");
  assertEquals(formatBytes(1023), "1023B");
  assertEquals(formatBytes(1024), "1KiB");
  assertEquals(formatBytes(1536), "1.5KiB");
  assertEquals(formatBytes(64 * 2 ** 20), "64MiB");
  assertEquals(formatBytes(2 ** 40), "1TiB");
  assertEquals(formatExit(status({ exitCode: 3 })), "3");
  assertEquals(formatExit(status({ state: "running", exitCode: null })), "-");
});

Deno.test("formatWideList: more columns, whole commands, durations until now while running", () => {
  const long = "x".repeat(60);
  const table = formatWideList([
    status(),
    status({
      id: ID2,
      owner: "bob",
      command: "sleep",
      args: [long],
      state: "running",
      exitCode: null,
      endedAt: null,
      usage: {
        cpuNs: null,
        memoryCurrentBytes: null,
        memoryPeakBytes: null,
        tasks: null,
        ioReadBytes: null,
        ioWriteBytes: null,
      },
      output: { bytes: 2 ** 30, maxBytes: 2 ** 30, truncated: true, error: null },
    }),
  ], { now: new Date("2024-05-01T13:02:03.250Z") });
  const lines = table.split("\n");
  assertEquals(
    lines[0],
    "ID                                    OWNER  STATE    EXIT  STARTED               " +
      "ENDED                 DURATION  CPU     MEMORY  OUTPUT           COMMAND",
  );
  assertEquals(
    lines[1],
    `${ID1}  alice  exited   0     2024-05-01T12:00:00Z  2024-05-01T12:00:01Z  1.2s      ` +
      "0.012s  3MiB    1.2KiB           sh -c 'echo hi'",
  );
  assertEquals(
    lines[2],
    `${ID2}  bob    running  -     2024-05-01T12:00:00Z  -                     1h02m     ` +
      `-       -       1GiB(truncated)  sleep ${long}`,
  );
  assertEquals(lines.length, 4);
  assertEquals(formatWideList([]).split("\n").length, 2, "the header alone");
});

Deno.test("formatDuration: tenths under a minute, then two units", () => {
  assertEquals(formatDuration(0), "0.0s");
  assertEquals(formatDuration(-5), "0.0s");
  assertEquals(formatDuration(449), "0.4s");
  assertEquals(formatDuration(59_999), "59.9s");
  assertEquals(formatDuration(60_000), "1m00s");
  assertEquals(formatDuration(307_000), "5m07s");
  assertEquals(formatDuration(3_600_000), "1h00m");
  assertEquals(formatDuration(7_500_000), "2h05m");
  assertEquals(formatDuration(273_600_000), "3d04h");
});

Deno.test("colour: the state alone is painted, and the columns stay aligned", () => {
  const statuses = [status(), status({ id: ID2, state: "failed", exitCode: null })];
  const plain = formatList(statuses);
  const colored = formatList(statuses, { color: true });
  // deno-lint-ignore no-control-regex
  const strip = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "");
  assertEquals(strip(colored), plain);
  assertStringIncludes(colored, "  \x1b[32mexited\x1b[0m  0  ");
  assertStringIncludes(colored, "  \x1b[1;31mfailed\x1b[0m  -  ");
  assertEquals(
    strip(formatWideList(statuses, { color: true, now: new Date(0) })),
    formatWideList(statuses, { now: new Date(0) }),
  );
  assertStringIncludes(
    formatStatus(status(), { color: true }),
    "State:      \x1b[32mexited\x1b[0m\n",
  );
  assertEquals(formatList(statuses, { color: false }), plain);
});

Deno.test("formatStatus: labels, the deadline, and a job its deadline stopped", () => {
  const timedOut = status({
    state: "stopped",
    exitCode: null,
    signal: "SIGTERM",
    timeoutMs: 90_000,
    timedOut: true,
    labels: { tier: "batch", team: "infra" },
  });
  assertEquals(
    formatStatus(timedOut),
    [
      `ID:         ${ID1}`,
      "Owner:      alice",
      "Runs as:    uid 61184, gid 61184",
      "Command:    sh -c 'echo hi'",
      "Labels:     team=infra,tier=batch",
      "State:      stopped (timed out)",
      "Exit:       SIGTERM",
      "OOM killed: no",
      "Started:    2024-05-01T12:00:00Z",
      "Ended:      2024-05-01T12:00:01Z",
      "Timeout:    1m30s",
      "Limits:     cpu 1, memory 512MiB, pids 1024, io read unlimited, io write 1MiB/s",
      "Usage:      cpu 0.012s, memory 0B, peak 3MiB, tasks 0",
      "Output:     1.2KiB (cap 1GiB)",
      "",
    ].join("\n"),
  );
  // Coloured, the note stays outside the colour.
  assertStringIncludes(
    formatStatus(timedOut, { color: true }),
    "State:      \x1b[33mstopped\x1b[0m (timed out)\n",
  );
  // A deadline that has not struck yet: the Timeout line alone.
  const pending = formatStatus(status({ timeoutMs: 5_400_000 }));
  assertStringIncludes(pending, "State:      exited\n");
  assertStringIncludes(pending, "Timeout:    1h30m\n");
});

Deno.test("statusToJson: timeoutMs, timedOut, labels, IO usage", () => {
  const json = statusToJson(status({
    timeoutMs: 1500,
    timedOut: true,
    labels: { a: "1" },
    usage: {
      cpuNs: 1,
      memoryCurrentBytes: 2,
      memoryPeakBytes: 3,
      tasks: 4,
      ioReadBytes: 5,
      ioWriteBytes: 6,
    },
  }));
  assertEquals([json.timeoutMs, json.timedOut, json.labels], [1500, true, { a: "1" }]);
  assertEquals([json.usage.ioReadBytes, json.usage.ioWriteBytes], [5, 6]);
});

Deno.test("formatWideList: a LABELS column only when a job has labels", () => {
  const table = formatWideList([
    status({ labels: { team: "infra", tier: "batch" } }),
    status({ id: ID2 }),
  ], { now: new Date(0) });
  const [header, first, second] = table.split("\n");
  assertEquals(
    header,
    "ID                                    OWNER  STATE   EXIT  STARTED               " +
      "ENDED                 DURATION  CPU     MEMORY  OUTPUT  LABELS                 COMMAND",
  );
  assertStringIncludes(first!, "  1.2KiB  team=infra,tier=batch  sh -c 'echo hi'");
  assertStringIncludes(second!, "  1.2KiB  -                      sh -c 'echo hi'");
  // A label cannot hold a control character, but what is shown is escaped anyway.
  assertEquals(formatLabels({ "k\x1b": "v\n" }), "k\\x1b=v\\n");
  assertEquals(formatLabels({}), "-");
});

Deno.test("formatTimeout: exact, and what --timeout takes back", () => {
  const cases: [number, string][] = [
    [0, "0s"],
    [500, "500ms"],
    [1500, "1s500ms"],
    [90_000, "1m30s"],
    [600_000, "10m"],
    [5_400_000, "1h30m"],
    [7_200_000, "2h"],
    [129_600_000, "1d12h"],
  ];
  for (const [ms, text] of cases) {
    assertEquals(formatTimeout(ms), text, String(ms));
    if (ms > 0) assertEquals(parseDuration(text), ms, text);
  }
});
