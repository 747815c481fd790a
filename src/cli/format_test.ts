import { assertEquals, assertStringIncludes } from "@std/assert";
import type { JobStatus } from "../job/mod.ts";
import {
  escapeControl,
  formatBytes,
  formatCommand,
  formatDuration,
  formatExit,
  formatJson,
  formatList,
  formatStatus,
  formatWideList,
  statusToJson,
} from "./format.ts";
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
    usage: { cpuNs: 12_345_678, memoryCurrentBytes: 0, memoryPeakBytes: 3 * 2 ** 20, tasks: 0 },
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
  ]);
  assertEquals(Object.keys(json.limits), ["cpu", "memoryBytes", "ioReadBps", "ioWriteBps", "pids"]);
  assertEquals(Object.keys(json.usage), [
    "cpuNs",
    "memoryCurrentBytes",
    "memoryPeakBytes",
    "tasks",
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
    usage: { cpuNs: 12345678, memoryCurrentBytes: 0, memoryPeakBytes: 3145728, tasks: 0 },
    output: { bytes: 1234, maxBytes: 1073741824, truncated: false, error: null },
    error: null,
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
      usage: { cpuNs: null, memoryCurrentBytes: null, memoryPeakBytes: null, tasks: null },
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
      usage: { cpuNs: null, memoryCurrentBytes: null, memoryPeakBytes: null, tasks: null },
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
