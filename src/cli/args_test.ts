import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import {
  type Command,
  type EnvLookup,
  helpText,
  parseCommandLine,
  parseSize,
  UsageError,
} from "./args.ts";

const noEnv: EnvLookup = () => undefined;
const envOf = (vars: Record<string, string>): EnvLookup => (name) => vars[name];
const ALICE = ["--user", "alice"];
const aliceTls = { ca: "certs/ca.pem", cert: "certs/alice.pem", key: "certs/alice-key.pem" };

function parse(args: string[], env: EnvLookup = noEnv): Command {
  return parseCommandLine(args, env);
}

function usageError(args: string[], env: EnvLookup = noEnv): string {
  const err = assertThrows(() => parse(args, env), UsageError);
  return err.message;
}

Deno.test("parseSize: plain bytes and binary suffixes", () => {
  const cases: [string, number][] = [
    ["0", 0],
    ["100", 100],
    ["100B", 100],
    ["512K", 512 * 1024],
    ["512k", 512 * 1024],
    ["64M", 64 * 2 ** 20],
    ["64Mi", 64 * 2 ** 20],
    ["64MiB", 64 * 2 ** 20],
    ["64MB", 64 * 2 ** 20],
    ["1G", 2 ** 30],
    ["2GiB", 2 * 2 ** 30],
    ["1.5G", 1.5 * 2 ** 30],
    ["0.5K", 512],
    ["1T", 2 ** 40],
  ];
  for (const [text, bytes] of cases) assertEquals(parseSize(text, "--memory"), bytes, text);
});

Deno.test("parseSize: garbage is refused with a clear message", () => {
  for (const text of ["", "M", "64X", "-1", "1e3", "0x10", "64 M B", "64i", "1.2.3", "1.1B"]) {
    const err = assertThrows(() => parseSize(text, "--memory"), UsageError);
    assertStringIncludes(err.message, "--memory: ");
    assertStringIncludes(err.message, JSON.stringify(text));
  }
  assertEquals(
    assertThrows(() => parseSize("64X", "--memory"), UsageError).message,
    '--memory: "64X" is not a size (like 512K, 64M, 1G)',
  );
  assertEquals(
    assertThrows(() => parseSize("1.1B", "--memory"), UsageError).message,
    '--memory: "1.1B" is not a whole number of bytes',
  );
  assertThrows(() => parseSize("99999999T", "--memory"), UsageError);
});

Deno.test("start: limits, env, cwd and the job's command after --", () => {
  const command = parse([
    "start",
    ...ALICE,
    "--cpu",
    "0.5",
    "--memory",
    "64M",
    "--io-read-bps",
    "1M",
    "--io-write-bps=512K",
    "--pids",
    "32",
    "--env",
    "A=1",
    "--env",
    "B=x=y",
    "--env",
    "EMPTY=",
    "--cwd",
    "/tmp",
    "--",
    "sh",
    "-c",
    "echo --cpu 2",
  ]);
  assertEquals(command, {
    kind: "start",
    connection: { addr: "127.0.0.1:50051", tls: aliceTls },
    spec: {
      command: "sh",
      args: ["-c", "echo --cpu 2"],
      limits: {
        cpu: 0.5,
        memoryBytes: 64 * 2 ** 20,
        ioReadBps: 2 ** 20,
        ioWriteBps: 512 * 1024,
        pids: 32,
      },
      env: { A: "1", B: "x=y", EMPTY: "" },
      cwd: "/tmp",
    },
    follow: false,
  });
});

Deno.test("start: --run-as UID[:GID]", () => {
  const both = parse(["start", ...ALICE, "--run-as", "1000:2000", "--", "id"]);
  assertEquals(both.kind === "start" && both.spec.runAs, { uid: 1000, gid: 2000 });
  const capped = parse(["start", ...ALICE, "--max-output", "64K", "--", "yes"]);
  assertEquals(capped.kind === "start" && capped.spec.maxOutputBytes, 65536);
  const uidOnly = parse(["start", ...ALICE, "--run-as=0", "--", "id"]);
  assertEquals(uidOnly.kind === "start" && uidOnly.spec.runAs, { uid: 0 });
  for (const bad of ["alice", "1000:", ":1000", "-1", "1.5", "4294967295", "1:2:3"]) {
    assertEquals(
      usageError(["start", ...ALICE, `--run-as=${bad}`, "--", "id"]),
      `--run-as: ${JSON.stringify(bad)} is not UID[:GID] (0 to 4294967294)`,
    );
  }
});

Deno.test("start: options end at the first argument that is not one", () => {
  const command = parse(["start", ...ALICE, "--cpu", "1", "ls", "-l", "--cpu", "2"]);
  assertEquals(command.kind === "start" && command.spec, {
    command: "ls",
    args: ["-l", "--cpu", "2"],
    limits: { cpu: 1 },
  });
  // "--" is passed on to the job when it comes after the command.
  const dashes = parse(["start", ...ALICE, "--", "echo", "--", "x"]);
  assertEquals(dashes.kind === "start" && dashes.spec.args, ["--", "x"]);
  // --help after the job's command belongs to the job.
  const help = parse(["start", ...ALICE, "--", "ls", "--help"]);
  assertEquals(help.kind === "start" && help.spec.args, ["--help"]);
});

Deno.test("start: bad input", () => {
  assertEquals(
    usageError(["start", ...ALICE]),
    "start needs a command: start [options] -- CMD [ARG...]",
  );
  assertEquals(usageError(["start", ...ALICE, "--"]), usageError(["start", ...ALICE]));
  assertEquals(
    usageError(["start", ...ALICE, "--cpu", "lots", "--", "x"]),
    '--cpu: "lots" is not a number',
  );
  assertEquals(
    usageError(["start", ...ALICE, "--pids", "1.5", "--", "x"]),
    '--pids: "1.5" is not a whole number',
  );
  assertEquals(
    usageError(["start", ...ALICE, "--env", "NOEQ", "--", "x"]),
    '--env: "NOEQ" is not NAME=VALUE',
  );
  assertEquals(
    usageError(["start", ...ALICE, "--env", "=v", "--", "x"]),
    '--env: "=v" is not NAME=VALUE',
  );
  assertEquals(
    usageError(["start", ...ALICE, "--json", "--", "x"]),
    'unknown option --json for "start" (see start --help)',
  );
  assertEquals(
    usageError(["start", ...ALICE, "--memory"]),
    'option --memory needs a value (use --memory=VALUE for one starting with "-")',
  );
});

Deno.test("stop, status, list, logs", () => {
  const connection = { addr: "127.0.0.1:50051", tls: aliceTls };
  assertEquals(parse(["stop", "ID", ...ALICE]), {
    kind: "stop",
    connection,
    id: "ID",
    output: "default",
  });
  assertEquals(parse(["stop", "ID", "--grace", "2.5", "--json", ...ALICE]), {
    kind: "stop",
    connection,
    id: "ID",
    output: "json",
    graceSeconds: 2.5,
  });
  assertEquals(parse(["status", ...ALICE, "ID"]), {
    kind: "status",
    connection,
    id: "ID",
    output: "default",
    wait: false,
  });
  assertEquals(parse(["list", "--json", ...ALICE]), {
    kind: "list",
    connection,
    output: "json",
    states: [],
    owners: [],
  });
  assertEquals(parse(["logs", "ID", ...ALICE]), {
    kind: "logs",
    connection,
    id: "ID",
    follow: false,
    offset: 0,
    tail: null,
  });
  assertEquals(parse(["logs", "-f", "ID", "--offset", "4K", ...ALICE]), {
    kind: "logs",
    connection,
    id: "ID",
    follow: true,
    offset: 4096,
    tail: null,
  });
  assertEquals(parse(["logs", "--follow", "ID", ...ALICE]).kind, "logs");
});

Deno.test("start -f, status -w, --output, list filters, logs --tail and --since", () => {
  const connection = { addr: "127.0.0.1:50051", tls: aliceTls };
  const follow = parse(["start", "-f", ...ALICE, "--cpu", "1", "--", "make", "-f", "x"]);
  assertEquals(follow.kind === "start" && [follow.follow, follow.spec.args], [true, ["-f", "x"]]);
  assertEquals(parse(["start", "--follow", ...ALICE, "true"]).kind === "start", true);
  assertEquals(parse(["status", "ID", "-w", "-o", "wide", ...ALICE]), {
    kind: "status",
    connection,
    id: "ID",
    output: "wide",
    wait: true,
  });
  assertEquals(parse(["status", "ID", "--wait", "--output=json", "--json", ...ALICE]), {
    kind: "status",
    connection,
    id: "ID",
    output: "json",
    wait: true,
  });
  assertEquals(parse(["stop", "ID", "-o", "wide", ...ALICE]).kind, "stop");
  assertEquals(
    parse([
      "list",
      "--state",
      "running,exited",
      "--state=failed",
      "--state",
      "running",
      "--owner",
      "bob",
      "--owner",
      "carol",
      "-o",
      "wide",
      ...ALICE,
    ]),
    {
      kind: "list",
      connection,
      output: "wide",
      states: ["running", "exited", "failed"],
      owners: ["bob", "carol"],
    },
  );
  const tail = parse(["logs", "ID", "--tail", "20", "--since", "1K", "-f", ...ALICE]);
  assertEquals(tail.kind === "logs" && [tail.tail, tail.offset, tail.follow], [20, 1024, true]);
  // Upper-case M is a size: --since follows the size grammar, bar the time units.
  const since = parse(["logs", "ID", "--since", "10M", ...ALICE]);
  assertEquals(since.kind === "logs" && since.offset, 10 * 2 ** 20);
  assertEquals(parse(["completion", "zsh"]), { kind: "completion", shell: "zsh" });
  // No certificate needed, and connection options are accepted.
  assertEquals(parse(["--addr", "h:1", "completion", "fish"]).kind, "completion");
});

Deno.test("new options: bad input", () => {
  assertEquals(
    usageError(["list", "--state", "running,done", ...ALICE]),
    '--state: "done" is not a job state (running, exited, stopped, failed)',
  );
  assertEquals(
    usageError(["list", "--state", "", ...ALICE]),
    '--state: "" is not a job state (running, exited, stopped, failed)',
  );
  assertEquals(usageError(["list", "--owner=", ...ALICE]), "--owner: the name is empty");
  assertEquals(
    usageError(["list", "-o", "yaml", ...ALICE]),
    '--output: "yaml" is not an output format (wide or json)',
  );
  assertEquals(
    usageError(["status", "ID", "--json", "-o", "wide", ...ALICE]),
    "--json and --output wide contradict each other: give one",
  );
  assertEquals(
    usageError(["logs", "ID", "--tail", "-1", ...ALICE]).startsWith("option --tail"),
    true,
  );
  assertEquals(
    usageError(["logs", "ID", "--tail=x", ...ALICE]),
    '--tail: "x" is not a whole number',
  );
  assertEquals(
    usageError(["logs", "ID", "--since", "1", "--offset", "2", ...ALICE]),
    "--since and --offset are the same option: give one",
  );
  for (
    const time of [
      "10m",
      "90s",
      "1.5h",
      "500ms",
      "7d",
      "2024-05-01",
      "2024-05-01T12:00:00Z",
      "12:30",
    ]
  ) {
    assertEquals(
      usageError(["logs", "ID", `--since=${time}`, ...ALICE]),
      `--since: ${JSON.stringify(time)} is a time, but the server does not record when output ` +
        "was written; give a byte offset (like 4096 or 64K; 10M is 10 MiB)",
    );
  }
  // --offset keeps its old grammar: "10m" is 10 MiB there.
  const offset = parse(["logs", "ID", "--offset", "10m", ...ALICE]);
  assertEquals(offset.kind === "logs" && offset.offset, 10 * 2 ** 20);
  assertEquals(
    usageError(["logs", "ID", "--since", "x", ...ALICE]),
    '--since: "x" is not a size (like 512K, 64M, 1G)',
  );
  assertEquals(
    usageError(["status", "ID", "-f", ...ALICE]),
    'unknown option -f for "status" (see status --help)',
  );
  assertEquals(
    usageError(["completion"]),
    "completion takes one shell (bash, zsh, fish), got 0 arguments",
  );
  assertEquals(
    usageError(["completion", "bash", "zsh"]),
    "completion takes one shell (bash, zsh, fish), got 2 arguments",
  );
});

Deno.test("stop, status, list, logs: bad input", () => {
  assertEquals(usageError(["stop", ...ALICE]), "stop needs a job id: stop ID");
  assertEquals(
    usageError(["status", "a", "b", ...ALICE]),
    "status takes one job id, got 2 arguments",
  );
  assertEquals(usageError(["list", "x", ...ALICE]), 'list takes no arguments, got "x"');
  assertEquals(
    usageError(["stop", "ID", "--grace", "-1", ...ALICE]).startsWith("option --grace"),
    true,
  );
  assertEquals(usageError(["stop", "ID", "--grace=-1", ...ALICE]), '--grace: "-1" is not a number');
  assertEquals(
    usageError(["stop", "ID", "--grace", "soon", ...ALICE]),
    '--grace: "soon" is not a number',
  );
  assertEquals(
    usageError(["logs", "ID", "--offset", "x", ...ALICE]),
    '--offset: "x" is not a size (like 512K, 64M, 1G)',
  );
  assertEquals(
    usageError(["status", "ID", "-f", ...ALICE]),
    'unknown option -f for "status" (see status --help)',
  );
  assertEquals(usageError(["list", "--json=yes", ...ALICE]), "option --json takes no value");
  assertEquals(usageError(["frob"]), 'unknown command "frob" (see --help)');
  assertEquals(
    usageError([]),
    "missing command: start, stop, status, list, logs, attach, signal, events, top, completion " +
      "or doctor (see --help)",
  );
  assertEquals(usageError(["--user", "alice"]), usageError([]));
});

Deno.test("connection options go before or after the command; a leading -- is skipped", () => {
  const expected = parse(["list", "--addr", "h:1", ...ALICE]);
  assertEquals(parse(["--addr", "h:1", ...ALICE, "list"]), expected);
  assertEquals(parse(["--", "--addr", "h:1", "list", ...ALICE]), expected);
  assertEquals(expected.kind === "list" && expected.connection.addr, "h:1");
  // A command's own option before the name does not hide the name.
  assertEquals(parse(["--cpu", "1", "start", ...ALICE, "--", "x"]).kind, "start");
});

Deno.test("connection: flags win over the environment", () => {
  const env = envOf({
    JOBWORKER_ADDR: "env-host:1",
    JOBWORKER_CA: "/env/ca.pem",
    JOBWORKER_CERT: "/env/c.pem",
    JOBWORKER_KEY: "/env/k.pem",
  });
  const fromEnv = parse(["list"], env);
  assertEquals(fromEnv.kind === "list" && fromEnv.connection, {
    addr: "env-host:1",
    tls: { ca: "/env/ca.pem", cert: "/env/c.pem", key: "/env/k.pem" },
  });
  const fromFlags = parse(
    ["list", "--addr", "[::1]:2", "--ca", "/f/ca", "--cert", "/f/c", "--key", "/f/k"],
    env,
  );
  assertEquals(fromFlags.kind === "list" && fromFlags.connection, {
    addr: "[::1]:2",
    tls: { ca: "/f/ca", cert: "/f/c", key: "/f/k" },
  });
  // --user (a flag) beats JOBWORKER_CERT/KEY (the environment), and brings its CA.
  const user = parse(["list", "--user", "bob", "--certs-dir", "/d"], env);
  assertEquals(user.kind === "list" && user.connection.tls, {
    ca: "/d/ca.pem",
    cert: "/d/bob.pem",
    key: "/d/bob-key.pem",
  });
  // An explicit --cert beats --user for that one file.
  const mixed = parse(["list", "--user", "bob", "--cert", "/x.pem"]);
  assertEquals(mixed.kind === "list" && mixed.connection.tls, {
    ca: "certs/ca.pem",
    cert: "/x.pem",
    key: "certs/bob-key.pem",
  });
});

Deno.test("connection: JOBWORKER_USER, defaults, and empty variables", () => {
  const command = parse(["list"], envOf({ JOBWORKER_USER: "alice", JOBWORKER_ADDR: "" }));
  assertEquals(command.kind === "list" && command.connection, {
    addr: "127.0.0.1:50051",
    tls: aliceTls,
  });
  // JOBWORKER_CERT/KEY win over JOBWORKER_USER; the CA still comes from the certs dir.
  const explicit = parse(
    ["list"],
    envOf({ JOBWORKER_USER: "alice", JOBWORKER_CERT: "/c", JOBWORKER_KEY: "/k" }),
  );
  assertEquals(explicit.kind === "list" && explicit.connection.tls, {
    ca: "certs/ca.pem",
    cert: "/c",
    key: "/k",
  });
});

Deno.test("connection: errors", () => {
  assertEquals(
    usageError(["list"]),
    "no client certificate: pass --user NAME or --cert/--key (or JOBWORKER_CERT/JOBWORKER_KEY)",
  );
  assertEquals(usageError(["list"], envOf({ JOBWORKER_USER: "" })), usageError(["list"]));
  assertEquals(usageError(["list", "--cert", "/c"]), "a certificate but no private key: add --key");
  assertEquals(usageError(["list", "--key", "/k"]), "a private key but no certificate: add --cert");
  assertEquals(
    usageError(["list", "--user", "../etc"]),
    '--user: "../etc" is not a valid user name',
  );
  assertEquals(
    usageError(["list"], envOf({ JOBWORKER_USER: "a/b" })),
    'JOBWORKER_USER: "a/b" is not a valid user name',
  );
  for (const addr of ["host", "host:", ":1", "host:port", "a:1:2", "http://h:1"]) {
    assertEquals(
      usageError(["list", ...ALICE, "--addr", addr]),
      `address ${JSON.stringify(addr)} is not HOST:PORT`,
    );
  }
});

Deno.test("--help and -h, at the top and for every command, win over errors", () => {
  assertEquals(parse(["--help"]), { kind: "help", text: helpText() });
  assertEquals(parse(["-h"]), { kind: "help", text: helpText() });
  for (const name of ["start", "stop", "status", "list", "logs", "completion"] as const) {
    assertEquals(parse([name, "--help"]), { kind: "help", text: helpText(name) });
    assertEquals(parse(["-h", name]), { kind: "help", text: helpText(name) });
    // No certificate, missing id, unknown option: still help.
    assertEquals(parse([name, "--bogus", "-h"]).kind, "help");
    assertStringIncludes(helpText(name), `Usage: jobworker ${name}`);
    // completion needs no server: it takes the connection options (for aliases) and ignores them.
    assertStringIncludes(
      helpText(name),
      name === "completion" ? "Connection options are accepted and ignored" : "--user NAME",
    );
  }
  for (const name of ["start", "stop", "status", "list", "logs", "completion"]) {
    assertStringIncludes(helpText(), `  ${name} `);
  }
});

Deno.test("start --timeout and --label go into the spec; without them the spec is as before", () => {
  const command = parse([
    "start",
    ...ALICE,
    "--timeout",
    "1h30m",
    "--label",
    "team=infra",
    "--label=example.com/tier=batch",
    "--label",
    "empty=",
    "--",
    "sleep",
    "1d",
  ]);
  assertEquals(command.kind === "start" && command.spec, {
    command: "sleep",
    args: ["1d"],
    limits: {},
    timeoutMs: 5_400_000,
    labels: { empty: "", "example.com/tier": "batch", team: "infra" },
  });
  const durations: [string, number][] = [
    ["90s", 90_000],
    ["10m", 600_000],
    ["2h", 7_200_000],
    ["90", 90_000],
    ["1.5", 1_500],
    ["500ms", 500],
  ];
  for (const [text, ms] of durations) {
    const c = parse(["start", ...ALICE, "--timeout", text, "true"]);
    assertEquals(c.kind === "start" && c.spec.timeoutMs, ms, text);
  }
  const plain = parse(["start", ...ALICE, "true"]);
  assertEquals(plain.kind === "start" && plain.spec, { command: "true", args: [], limits: {} });
  // The same label twice is one label.
  const twice = parse(["start", ...ALICE, "--label", "a=1", "--label", "a=1", "true"]);
  assertEquals(twice.kind === "start" && twice.spec.labels, { a: "1" });
});

Deno.test("start --timeout and --label: bad input is a usage error", () => {
  const start = (...options: string[]) => usageError(["start", ...ALICE, ...options, "true"]);
  for (const bad of ["ten", "10w", "-5s", "30m1h", "1h 30m", ""]) {
    assertEquals(
      start(`--timeout=${bad}`),
      `--timeout: ${JSON.stringify(bad)} is not a duration (like 90s, 10m, 2h, 7d)`,
    );
  }
  assertEquals(start("--timeout", "0"), '--timeout: "0" is not more than 0');
  assertEquals(start("--timeout", "0s"), '--timeout: "0s" is not more than 0');
  assertEquals(start("--label", "team"), '--label: "team" is not KEY=VALUE');
  assertEquals(start("--label", "=x"), '--label: "=x" is not KEY=VALUE');
  assertStringIncludes(start("--label", "a b=c"), '--label: label key "a b" is invalid');
  assertStringIncludes(start("--label", "k=no spaces"), '--label: label "k" has an invalid value');
  assertStringIncludes(start("--label", "-k=v"), "option");
  assertEquals(
    start("--label", "a=1", "--label", "a=2"),
    '--label: "a" is given twice, with different values',
  );
  const many = Array.from({ length: 33 }, (_, i) => ["--label", `k${i}=v`]).flat();
  assertEquals(start(...many), "--label: at most 32 labels, got 33");
});

Deno.test("list --label (repeatable), signal, events, top", () => {
  const connection = { addr: "127.0.0.1:50051", tls: aliceTls };
  assertEquals(parse(["list", "--label", "a=1", "--label", "b=2", ...ALICE]), {
    kind: "list",
    connection,
    output: "default",
    states: [],
    owners: [],
    labels: { a: "1", b: "2" },
  });
  assertEquals(usageError(["list", "--label", "a", ...ALICE]), '--label: "a" is not KEY=VALUE');

  assertEquals(parse(["signal", "ID", "HUP", ...ALICE]), {
    kind: "signal",
    connection,
    id: "ID",
    signal: "HUP",
    all: false,
  });
  // The signal goes as typed: the server reads names, SIG names and numbers.
  assertEquals(parse(["signal", "--all", "ID", "sigusr1", ...ALICE]), {
    kind: "signal",
    connection,
    id: "ID",
    signal: "sigusr1",
    all: true,
  });
  const numbered = parse(["signal", "ID", "10", ...ALICE]);
  assertEquals(numbered.kind === "signal" && numbered.signal, "10");
  assertEquals(
    usageError(["signal", "ID", ...ALICE]),
    "signal takes a job id and a signal: signal ID SIGNAL, got 1 argument",
  );
  assertEquals(
    usageError(["signal", "ID", "HUP", "x", ...ALICE]),
    "signal takes a job id and a signal: signal ID SIGNAL, got 3 arguments",
  );
  assertEquals(usageError(["signal", "ID", " ", ...ALICE]), "signal: the signal is empty");
  assertEquals(usageError(["signal", "", "HUP", ...ALICE]), "signal: the job id is empty");

  assertEquals(parse(["events", ...ALICE]), {
    kind: "events",
    connection,
    labels: {},
    since: null,
    json: false,
  });
  assertEquals(parse(["events", "--since", "0", "--label", "a=1", "--json", ...ALICE]), {
    kind: "events",
    connection,
    labels: { a: "1" },
    since: 0,
    json: true,
  });
  const o = parse(["events", "-o", "json", "--since=42", ...ALICE]);
  assertEquals(o.kind === "events" && [o.json, o.since], [true, 42]);
  assertEquals(
    usageError(["events", "--since", "x", ...ALICE]),
    '--since: "x" is not a whole number',
  );
  assertEquals(usageError(["events", "-o", "wide", ...ALICE]), "events: --output takes only json");
  assertEquals(usageError(["events", "ID", ...ALICE]), 'events takes no arguments, got "ID"');

  assertEquals(parse(["top", ...ALICE]), {
    kind: "top",
    connection,
    once: false,
    labels: {},
    sort: "cpu",
  });
  assertEquals(parse(["top", "--once", "--sort", "memory", "--label", "a=1", ...ALICE]), {
    kind: "top",
    connection,
    once: true,
    labels: { a: "1" },
    sort: "memory",
  });
  assertEquals(
    usageError(["top", "--sort", "name", ...ALICE]),
    '--sort: "name" is not a sort key (cpu, memory, io, age, id)',
  );
  assertEquals(usageError(["top", "x", ...ALICE]), 'top takes no arguments, got "x"');
});

Deno.test("help of the new commands and options; doctor is a command like the others", () => {
  for (const name of ["signal", "events", "top", "doctor"] as const) {
    assertEquals(parse([name, "--help"]), { kind: "help", text: helpText(name) });
    assertStringIncludes(helpText(name), `Usage: jobworker ${name}`);
    assertStringIncludes(helpText(), `  ${name} `);
  }
  assertStringIncludes(helpText("start"), "--timeout DURATION");
  assertStringIncludes(helpText("start"), "--label KEY=VALUE");
  assertStringIncludes(helpText("list"), "--label KEY=VALUE");
  assertStringIncludes(helpText("status"), "timedOut, labels");
  // doctor still takes the connection options and ignores them.
  assertEquals(parse(["doctor", "--addr", "h:1", "--json"]).kind, "doctor");
});

Deno.test("start -i, -t, -it, --detach-keys; attach", () => {
  const connection = { addr: "127.0.0.1:50051", tls: aliceTls };
  const ctrlPQ = Uint8Array.from([0x10, 0x11]);
  assertEquals(parse(["start", "-i", ...ALICE, "--", "python3"]), {
    kind: "start",
    connection,
    spec: { command: "python3", args: [], limits: {}, stdin: true },
    follow: false,
    interactive: { tty: false, detachKeys: ctrlPQ, detached: false },
  });
  // -t implies -i: a terminal is the job's stdin too.
  for (const flags of [["-it"], ["-ti"], ["-t"], ["--interactive", "--tty"], ["-i", "-t"]]) {
    const command = parse(["start", ...flags, ...ALICE, "sh"]);
    assertEquals(
      command.kind === "start" && [command.spec, command.interactive],
      [{ command: "sh", args: [], limits: {}, tty: true }, {
        tty: true,
        detachKeys: ctrlPQ,
        detached: false,
      }],
      flags.join(" "),
    );
  }
  const keys = parse(["start", "-it", "--detach-keys", "ctrl-a,d", ...ALICE, "--", "sh", "-i"]);
  assertEquals(
    keys.kind === "start" && [keys.interactive?.detachKeys, keys.spec.args],
    [Uint8Array.from([1, 0x64]), ["-i"]],
  );
  const off = parse(["start", "-it", "--detach-keys=", ...ALICE, "sh"]);
  assertEquals(off.kind === "start" && off.interactive?.detachKeys, new Uint8Array());
  // Without -i or -t, nothing changes.
  assertEquals(parse(["start", ...ALICE, "sh"]), {
    kind: "start",
    connection,
    spec: { command: "sh", args: [], limits: {} },
    follow: false,
  });
  // -d: started with stdin (or a terminal), not attached.
  const detached = parse(["start", "-dit", ...ALICE, "sh"]);
  assertEquals(
    detached.kind === "start" && [detached.spec.tty, detached.interactive?.detached],
    [true, true],
  );
  assertEquals(
    usageError(["start", "-d", ...ALICE, "sh"]),
    "-d needs -i or -t: without them, start does not attach anyway",
  );
  assertEquals(
    usageError(["start", "-dif", ...ALICE, "sh"]),
    "-d and -f contradict each other: give one",
  );
  assertEquals(
    usageError(["start", "-i", "--detach-keys", "ctrl-a", ...ALICE, "sh"]),
    "--detach-keys needs -t: without a terminal, all input goes to the job",
  );
  assertStringIncludes(
    usageError(["start", "-it", "--detach-keys", "ctrl-1", ...ALICE, "sh"]),
    '--detach-keys: "ctrl-1" is not a key',
  );

  assertEquals(parse(["attach", "ID", ...ALICE]), {
    kind: "attach",
    connection,
    id: "ID",
    detachKeys: ctrlPQ,
    stdin: true,
  });
  assertEquals(parse(["attach", "--no-stdin", "--detach-keys", "ctrl-x", "ID", ...ALICE]), {
    kind: "attach",
    connection,
    id: "ID",
    detachKeys: Uint8Array.from([0x18]),
    stdin: false,
  });
  assertEquals(usageError(["attach", ...ALICE]), "attach needs a job id: attach ID");
  assertEquals(
    usageError(["attach", "-i", "ID", ...ALICE]),
    'unknown option -i for "attach" (see attach --help)',
  );
  assertEquals(parse(["attach", "--help"]), { kind: "help", text: helpText("attach") });
  assertStringIncludes(helpText("attach"), "Usage: jobworker attach ID");
  assertStringIncludes(helpText("start"), "-t, --tty");
  assertStringIncludes(helpText(), "  attach ID");
});
