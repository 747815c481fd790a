// `start -i`, `start -t` and `attach` in-process against a fake client and a
// fake stdin: input piped with its end-of-file, exit codes, the terminal in
// raw mode and given back on every way out, resizes, the detach keys,
// signals, and a session taken over. The end-to-end tests are in
// tests/server/cli_interactive_test.ts.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import * as grpc from "@grpc/grpc-js";
import { ApiError } from "../api/client.ts";
import { type CliIo, run } from "./main.ts";
import {
  bytes,
  FakeClient,
  FakeInput,
  type FakeOptions,
  ID,
  jobStatus,
  runningStatus,
  Sink,
  sleep,
} from "../../tests/cli/_fixture.ts";

const ALICE = ["--user", "alice"];

/** Runs the CLI in the background; the test types, resizes and signals meanwhile. */
function session(
  args: string[],
  options: { input: FakeInput } & Pick<FakeOptions, "attach" | "statuses" | "output" | "endless">,
) {
  const { input: _, ...fake } = options;
  const client = new FakeClient(fake);
  const stdout = new Sink();
  const stderr = new Sink();
  let interrupt: ((signal?: Deno.Signal) => void) | null = null;
  let connected = false;
  const io: CliIo = {
    stdout,
    stderr,
    env: () => undefined,
    input: options.input,
    connect: () => {
      connected = true;
      return Promise.resolve(client);
    },
    onInterrupt: (handler) => {
      interrupt = handler;
      return () => (interrupt = null);
    },
  };
  // The connection flags before "--": after it they would be the job's.
  const code = run([args[0]!, ...ALICE, ...args.slice(1)], io);
  return {
    code,
    client,
    stdout,
    stderr,
    connected: () => connected,
    /** Delivers a signal, as the real process would get it. */
    signal: (name: Deno.Signal) => (interrupt as ((s?: Deno.Signal) => void) | null)?.(name),
    /** The attached session, once there is one. */
    attached: async () => {
      await until(() => client.sessions.length > 0, "attached");
      return client.sessions[0]!;
    },
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 2000;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`not ${what} after 2 s`);
    await sleep(2);
  }
}

Deno.test("start -i: stdin to the job, its end-of-file, the output, the job's exit code", async () => {
  const input = new FakeInput(false);
  input.type("print(6*7)\n");
  input.type("more\n");
  input.type(null);
  const s = session(["start", "-i", "--", "python3"], {
    input,
    attach: { final: jobStatus({ exitCode: 3, stdin: true }) },
  });
  assertEquals(await s.code, 3);
  assertEquals(s.client.calls.slice(0, 2), [
    ["start", { command: "python3", args: [], limits: {}, stdin: true }],
    ["attach", ID, { offset: 0 }],
  ]);
  const attached = s.client.sessions[0]!;
  assertEquals(attached.input(), "print(6*7)\nmore\n");
  assert(attached.ended, "end-of-file passed on");
  assertEquals(s.stdout.text(), "print(6*7)\nmore\n");
  assertEquals(
    s.stderr.text(),
    `jobworker: started job ${ID}\njobworker: job ${ID} exited with code 3\n`,
  );
  // A pipe is no terminal: no raw mode, no resize, and the detach keys are plain bytes.
  assertEquals(input.rawCalls, []);
  assertEquals(attached.resizes, []);
  assert(s.client.closed);
});

Deno.test("start -i: bytes that look like the detach keys are data without a terminal", async () => {
  const input = new FakeInput(false);
  input.type("a\x10\x11b");
  input.type(null);
  const s = session(["start", "-i", "--", "cat"], { input });
  assertEquals(await s.code, 0);
  assertEquals(s.client.sessions[0]!.input(), "a\x10\x11b");
});

Deno.test("start -t: a terminal of the local size, raw mode, resizes, detach keys", async () => {
  const input = new FakeInput(true, { rows: 30, cols: 100 });
  const s = session(["start", "-it", "--", "sh"], { input, attach: { endsOn: "never" } });
  const attached = await s.attached();
  assertEquals(s.client.calls[0], [
    "start",
    { command: "sh", args: [], limits: {}, tty: true, ttySize: { rows: 30, cols: 100 } },
  ]);
  await until(() => input.listening, "listening for resizes");
  assertEquals(input.rawCalls, [true]);
  input.type("echo hi\r");
  await until(() => s.stdout.text() === "echo hi\r", "the echo");
  input.resize(50, 132);
  await until(() => attached.resizes.length === 2, "the resize sent");
  assertEquals(attached.resizes, [{ rows: 30, cols: 100 }, { rows: 50, cols: 132 }]);
  // Ctrl-P, then a key that is not Ctrl-Q: both go to the job.
  input.type("\x10k");
  await until(() => attached.input().endsWith("\x10k"), "Ctrl-P k sent");
  input.type("x\x10");
  input.type("\x11");
  assertEquals(await s.code, 0);
  assertEquals(attached.input(), "echo hi\r\x10kx");
  assert(!attached.ended, "no end-of-file: the job's input stays open");
  assertEquals(input.rawCalls, [true, false]);
  assert(!input.listening);
  // The terminal is reset and on a new line before the note.
  assert(s.stdout.text().endsWith("\x1b[0m\x1b[?25h\r\n"), JSON.stringify(s.stdout.text()));
  assertEquals(
    s.stderr.text(),
    `jobworker: started job ${ID} (Ctrl-P Ctrl-Q detaches)\n` +
      `jobworker: detached from job ${ID} (jobworker attach ${ID} to attach again)\n`,
  );
});

Deno.test("start -t: the job's end gives the terminal back and its exit code", async () => {
  const input = new FakeInput(true);
  const s = session(["start", "-t", "--", "sh"], {
    input,
    attach: { output: ["$ "], final: jobStatus({ exitCode: 5, tty: true, stdin: true }) },
  });
  await s.attached();
  input.type("exit 5\r");
  // The job ends at its end-of-file in the fake; a terminal's input never ends it.
  await sleep(20);
  s.client.sessions[0]!.end();
  assertEquals(await s.code, 5);
  assertEquals(input.rawCalls, [true, false]);
  // Nothing added to the job's output when it ended by itself.
  assertEquals(s.stdout.text(), "$ exit 5\r");
});

Deno.test("start -t without a terminal on stdin: a usage error, nothing started", async () => {
  const s = session(["start", "-it", "--", "sh"], { input: new FakeInput(false) });
  assertEquals(await s.code, 2);
  assertEquals(s.connected(), false);
  assertEquals(
    s.stderr.text(),
    "jobworker: the input device is not a TTY: -t needs a terminal on stdin " +
      "(-i without -t pipes stdin)\n",
  );
});

Deno.test("start -i: the first signal stops the job, the next one stops waiting", async () => {
  const input = new FakeInput(false);
  const s = session(["start", "-i", "--", "sh"], { input, attach: { endsOn: "never" } });
  await s.attached();
  s.signal("SIGINT");
  await until(() => s.client.calls.some((c) => c[0] === "stop"), "the stop");
  s.signal("SIGTERM");
  assertEquals(await s.code, 143);
  assertStringIncludes(s.stderr.text(), `stopping job ${ID} (Ctrl-C again`);
  assertStringIncludes(s.stderr.text(), `stopped waiting; job ${ID} is ending on its own`);
});

Deno.test("attach: a terminal job gets the local size first; a signal leaves it running", async () => {
  for (const [signal, code] of [["SIGTERM", 143], ["SIGHUP", 129], ["SIGINT", 130]] as const) {
    const input = new FakeInput(true, { rows: 40, cols: 120 });
    const s = session(["attach", ID], {
      input,
      attach: { endsOn: "never" },
      statuses: [runningStatus({ tty: true, stdin: true })],
    });
    const attached = await s.attached();
    assertEquals(s.client.calls.slice(0, 2), [["status", ID], ["attach", ID, {}]]);
    await until(() => attached.resizes.length === 1, "the first resize");
    assertEquals(attached.actions[0], "resize");
    assertEquals(attached.resizes, [{ rows: 40, cols: 120 }]);
    s.signal(signal);
    assertEquals(await s.code, code, signal);
    assertEquals(input.rawCalls, [true, false], signal);
    assert(!attached.ended && !s.client.calls.some((c) => c[0] === "stop"), "left running");
    assertStringIncludes(s.stderr.text(), `detached from job ${ID} on ${signal}; it runs on`);
  }
});

Deno.test("attach: taken over by another client: the terminal back, the message, exit 1", async () => {
  const input = new FakeInput(true);
  const s = session(["attach", ID], {
    input,
    attach: {
      output: ["$ "],
      error: new ApiError(
        grpc.status.ABORTED,
        `Detached from job ${ID}: another client attached`,
      ),
    },
    statuses: [runningStatus({ tty: true, stdin: true })],
  });
  assertEquals(await s.code, 1);
  assertEquals(input.rawCalls, [true, false]);
  assertEquals(
    s.stderr.text(),
    `jobworker: attached to job ${ID} (Ctrl-P Ctrl-Q detaches)\n` +
      `jobworker: detached from job ${ID}: another client attached\n`,
  );
});

Deno.test("attach: a job without a terminal gets stdin piped, with its end-of-file", async () => {
  const input = new FakeInput(true);
  input.type("line\n");
  input.type(null);
  const s = session(["attach", ID], {
    input,
    statuses: [runningStatus({ stdin: true })],
    attach: { final: jobStatus({ exitCode: 0, stdin: true }) },
  });
  assertEquals(await s.code, 0);
  // The local terminal stays as it is: the job has none.
  assertEquals(input.rawCalls, []);
  assertEquals(s.client.sessions[0]!.resizes, []);
  assert(s.client.sessions[0]!.ended);
  assertEquals(s.stdout.text(), "line\n");
});

Deno.test("attach: a terminal job needs a terminal here, unless --no-stdin", async () => {
  const tty = [runningStatus({ tty: true, stdin: true })];
  const piped = session(["attach", ID], { input: new FakeInput(false), statuses: tty });
  assertEquals(await piped.code, 2);
  assertStringIncludes(piped.stderr.text(), "the input device is not a TTY");
  assertEquals(piped.client.sessions.length, 0);

  // --no-stdin only watches: the output from the size the status gave, no Attach call (which
  // would take the input over from whoever types to the job), the job's exit status.
  const input = new FakeInput(false);
  input.type("never read");
  const output = { bytes: 3, maxBytes: 2 ** 30, truncated: false, error: null };
  const watching = session(["attach", "--no-stdin", ID], {
    input,
    statuses: [runningStatus({ tty: true, stdin: true, output }), jobStatus({ exitCode: 7 })],
    output: [bytes("old"), 5, bytes("drawn\r\n")],
  });
  assertEquals(await watching.code, 7);
  assertEquals(watching.stdout.text(), "drawn\r\n");
  assertEquals(watching.client.sessions.length, 0);
  assertEquals(watching.client.calls[1], ["streamOutput", ID, 3, true]);
  assertEquals(input.rawCalls, []);

  // Ctrl-C stops watching; the job runs on.
  const left = session(["attach", "--no-stdin", ID], {
    input: new FakeInput(false),
    statuses: [runningStatus({ stdin: true, output })],
    output: [bytes("old"), 5, bytes("more")],
    endless: true,
  });
  await until(() => left.stdout.text().startsWith("more"), "watching");
  left.signal("SIGINT");
  assertEquals(await left.code, 130);
  assertEquals(left.stderr.text(), `jobworker: stopped watching job ${ID} on SIGINT; it runs on\n`);

  // A job without stdin cannot be attached to, watching or not.
  const plain = session(["attach", "--no-stdin", ID], {
    input: new FakeInput(false),
    statuses: [runningStatus()],
  });
  assertEquals(await plain.code, 1);
  assertStringIncludes(
    plain.stderr.text(),
    `cannot attach to job ${ID}: it was started without stdin or a terminal`,
  );
});

Deno.test("attach: the server's refusal is one line and exit 1", async () => {
  const s = session(["attach", ID], {
    input: new FakeInput(false),
    statuses: [runningStatus()],
    attach: {
      error: new ApiError(
        grpc.status.FAILED_PRECONDITION,
        `Cannot attach to job ${ID}: it was started without stdin or a terminal`,
      ),
    },
  });
  assertEquals(await s.code, 1);
  assertEquals(
    s.stderr.text(),
    `jobworker: cannot attach to job ${ID}: it was started without stdin or a terminal\n`,
  );
});

Deno.test("start -d -i / -d -t: started with stdin or a terminal, its id printed, nothing attached", async () => {
  for (const flags of [["-di"], ["-dit"]]) {
    const input = new FakeInput(false);
    const s = session(["start", ...flags, "--", "sh"], { input });
    assertEquals(await s.code, 0, flags.join(" "));
    assertEquals([s.stdout.text(), s.stderr.text()], [`${ID}\n`, ""]);
    assertEquals(s.client.calls, [[
      "start",
      {
        command: "sh",
        args: [],
        limits: {},
        ...(flags[0] === "-dit" ? { tty: true } : { stdin: true }),
      },
    ]]);
    assertEquals(input.rawCalls, []);
  }
});
