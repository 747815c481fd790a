import { assertEquals, assertThrows } from "@std/assert";
import { JobSpecError } from "./errors.ts";
import { DEFAULT_ENV, DEFAULT_LIMITS, MIN_MEMORY_BYTES, resolveSpec } from "./spec.ts";

Deno.test("omitted fields get the documented defaults", () => {
  const spec = resolveSpec({ command: "true" });
  assertEquals(spec, {
    command: "true",
    args: [],
    env: { ...DEFAULT_ENV },
    cwd: "/work",
    limits: { ...DEFAULT_LIMITS },
    runAs: null,
    maxOutputBytes: null,
    timeoutMs: null,
    labels: {},
    stdin: false,
    tty: null,
  });
  assertEquals(DEFAULT_ENV.HOME, "/work");
});

Deno.test("runAs is checked for shape here (the policy is the manager's)", () => {
  assertEquals(resolveSpec({ command: "id", runAs: { uid: 1000 } }).runAs, { uid: 1000 });
  assertEquals(resolveSpec({ command: "id", runAs: { uid: 0, gid: 5 } }).runAs, { uid: 0, gid: 5 });
});

Deno.test("given limits, env and cwd override the defaults", () => {
  const spec = resolveSpec({
    command: "sh",
    args: ["-c", "echo"],
    env: { PATH: "/bin", FOO: "a=b" },
    cwd: "/tmp",
    limits: { cpu: 0.5, memoryBytes: 64 << 20, ioReadBps: 1 << 20, ioWriteBps: 2 << 20, pids: 10 },
  }, { hostCpus: 2 });
  assertEquals(spec.env.PATH, "/bin");
  assertEquals(spec.env.FOO, "a=b");
  assertEquals(spec.env.HOME, DEFAULT_ENV.HOME);
  assertEquals(spec.limits, {
    cpu: 0.5,
    memoryBytes: 64 << 20,
    ioReadBps: 1 << 20,
    ioWriteBps: 2 << 20,
    pids: 10,
  });
});

Deno.test("invalid specs are refused with a message naming the problem", () => {
  const cases: Array<[unknown, string]> = [
    [{ command: "" }, "Cannot start job: command is empty"],
    [{ command: "   " }, "Cannot start job: command is empty"],
    [{ command: 42 }, "Cannot start job: command must be a string"],
    [{ command: "a\0b" }, "Cannot start job: command contains a NUL byte"],
    [{ command: "echo", args: "x" }, "Cannot start job: args must be a list of strings"],
    [{ command: "echo", args: [1] }, "Cannot start job: argument 1 must be a string"],
    [{ command: "echo", cwd: "tmp" }, 'Cannot start job: working directory "tmp" is not absolute'],
    [{ command: "echo", env: { "A=B": "x" } }, 'environment variable name "A=B" is invalid'],
    [{ command: "echo", limits: { cpu: 0 } }, "cpu limit must be at least 0.01, got 0"],
    [{ command: "echo", limits: { cpu: -1 } }, "cpu limit must be at least 0.01, got -1"],
    [{ command: "echo", limits: { cpu: 3 } }, "cpu limit 3 exceeds the host's 2 CPUs"],
    [{ command: "echo", limits: { cpu: Number.NaN } }, "cpu limit must be a number"],
    [{ command: "echo", limits: { memoryBytes: 1024 } }, `at least ${MIN_MEMORY_BYTES} bytes`],
    [{ command: "echo", limits: { memoryBytes: 1.5e7 + 0.5 } }, "must be a whole number"],
    [{ command: "echo", limits: { pids: 0 } }, "process limit must be at least 1, got 0"],
    [{ command: "echo", limits: { pids: 2 ** 31 } }, "process limit must be at most 4194304"],
    [{ command: "echo", limits: { pids: 2.5 } }, "process limit must be a whole number"],
    [{ command: "echo", limits: { memoryBytes: 2 ** 60 } }, "memory limit must be at most"],
    [{ command: "echo", limits: { ioReadBps: -5 } }, "io read limit must be at least 1024"],
    [{ command: "echo", limits: { ioWriteBps: 10 } }, "io write limit must be at least 1024"],
    [{ command: "echo", limits: "big" }, "limits must be an object"],
    [{ command: "id", runAs: 1000 }, "runAs must be an object {uid, gid}"],
    [
      { command: "echo", args: ["x".repeat(131_072)] },
      "argument 1 is 131072 bytes; the kernel takes at most 131071 per string (MAX_ARG_STRLEN)",
    ],
    [
      { command: "echo", env: { BIG: "x".repeat(131_068) } },
      "environment variable BIG is 131072 bytes",
    ],
    [
      { command: "echo", args: Array(20).fill("x".repeat(120_000)) },
      "the kernel takes at most 2097152 (ARG_MAX)",
    ],
    [
      { command: "echo", cwd: "/" + "d".repeat(4095) },
      "working directory is 4096 bytes; the kernel takes at most 4095 (PATH_MAX)",
    ],
    [{ command: "echo", maxOutputBytes: -1 }, "output cap must be at least 0 bytes"],
    [{ command: "id", runAs: { uid: -1 } }, "runAs uid must be a whole number, 0 or more"],
    [{ command: "id", runAs: { uid: 1, gid: 1.5 } }, "runAs gid must be a whole number"],
  ];
  for (const [spec, message] of cases) {
    // deno-lint-ignore no-explicit-any
    const err = assertThrows(() => resolveSpec(spec as any, { hostCpus: 2 }), JobSpecError);
    if (!err.message.includes(message)) {
      throw new Error(`For ${JSON.stringify(spec)}: expected "${message}" in "${err.message}"`);
    }
  }
});
