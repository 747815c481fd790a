// The completion scripts, as `jobworker completion SHELL` prints them: every
// command and option is in each, each passes its shell's syntax check, and
// bash and fish really complete (zsh: the function registers with compinit).
// A shell that is not installed is skipped with the reason printed.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { COMMAND_NAMES, JOB_STATES, optionsOf, OUTPUT_KINDS, type Shell } from "./args.ts";
import { run } from "./main.ts";
import { runCommand, type RunResult, Sink, which, withTempDir } from "../../tests/cli/_fixture.ts";

/** The script as the CLI prints it. */
async function script(shell: Shell): Promise<string> {
  const stdout = new Sink();
  const stderr = new Sink();
  const code = await run(["completion", shell], {
    stdout,
    stderr,
    env: () => undefined,
    connect: () => Promise.reject(new Error("completion must not connect")),
  });
  assertEquals([code, stderr.text()], [0, ""]);
  return stdout.text();
}

/** Registers a test that needs `shell`; without it, the test is skipped and says why. */
function shellTest(
  name: string,
  fn: (path: string) => Promise<void>,
  options: { shell: string },
): void {
  const { shell } = options;
  const path = which(shell);
  if (path === null) console.log(`SKIPPED "${name}": ${shell} is not installed`);
  Deno.test({ name, ignore: path === null, fn: () => fn(path!) });
}

/**
 * Runs `shell args...` with the script in a file: its path is $SCRIPT in the
 * environment, and replaces the argument "%SCRIPT%". Killed after 10 s.
 */
function runShell(
  path: string,
  options: { script: string; args: string[] },
): Promise<RunResult> {
  return withTempDir(async (dir) => {
    const file = join(dir, "script");
    await Deno.writeTextFile(file, options.script);
    return await runCommand(path, options.args.map((arg) => arg === "%SCRIPT%" ? file : arg), {
      env: { SCRIPT: file, HOME: dir },
      timeoutMs: 10_000,
    });
  }, { prefix: "jobworker-completion-" });
}

Deno.test("every script names every command, option, state and output format", async () => {
  for (const shell of ["bash", "zsh", "fish"] as const) {
    const text = await script(shell);
    for (const name of COMMAND_NAMES) {
      assertStringIncludes(text, name, `${shell}: command ${name}`);
      for (const [long, spec] of Object.entries(optionsOf(name))) {
        // fish names options by -l NAME, the others by --NAME.
        assertStringIncludes(text, shell === "fish" ? `-l ${long} ` : `--${long}`, shell);
        if (spec.short !== undefined) {
          assertStringIncludes(text, shell === "fish" ? `-s ${spec.short} ` : `-${spec.short}`);
        }
      }
    }
    for (const word of [...JOB_STATES, ...OUTPUT_KINDS]) assertStringIncludes(text, word, shell);
  }
});

shellTest(
  "bash: the script parses, and completes commands, options and values",
  async (bash) => {
    const text = await script("bash");
    const syntax = await runShell(bash, { script: text, args: ["-n", "%SCRIPT%"] });
    assertEquals(syntax, { code: 0, out: "", err: "" });
    // The check can fail: a script cut in half does not parse.
    const cut = await runShell(bash, { script: text.slice(0, 900), args: ["-n", "%SCRIPT%"] });
    assertEquals(cut.code, 2, cut.err);

    // Each line: the words (the last is being completed), then what completes.
    const cases: [string[], string[]][] = [
      [["jobworker", "st"], ["start", "stop", "status"]],
      [["jobworker", ""], [...COMMAND_NAMES]],
      [["jobworker", "--addr", "h:1", "l"], ["list", "logs"]],
      [["jobworker", "list", "--state", "ex"], ["exited"]],
      [["jobworker", "list", "--state", "running,st"], ["running,stopped"]],
      [["jobworker", "list", "--state", "=", "f"], ["failed"]],
      [["jobworker", "status", "-o", ""], ["wide", "json"]],
      [["jobworker", "status", "ID", "--w"], ["--wait"]],
      [["jobworker", "logs", "--t"], ["--tail"]],
      [["jobworker", "completion", "z"], ["zsh"]],
      [["jobworker", "start", "--fo"], ["--follow"]],
      [["jobworker", "start", "--memory", ""], []],
    ];
    const calls = cases.map(([words]) =>
      `COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; ` +
      `COMPREPLY=(); _jobworker; echo "$(IFS=' '; echo "\${COMPREPLY[*]}")"`
    );
    const result = await runShell(bash, {
      script: text,
      args: ["-c", `source "$SCRIPT"\n${calls.join("\n")}`],
    });
    assertEquals([result.code, result.err], [0, ""]);
    const lines = result.out.split("\n");
    cases.forEach(([words, expected], i) => {
      assertEquals(lines[i]!.split(" ").filter((w) => w !== ""), expected, words.join(" "));
    });
    // After "start --", the job's command is completed from the commands on PATH.
    const job = await runShell(bash, {
      script: text,
      args: [
        "-c",
        `source "$SCRIPT"; COMP_WORDS=(jobworker start -- bas); COMP_CWORD=3; _jobworker; ` +
        `printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
    });
    assert(job.out.split("\n").includes("bash"), job.out);
  },
  { shell: "bash" },
);

shellTest("zsh: the script parses and registers with compinit", async (zsh) => {
  const text = await script("zsh");
  const syntax = await runShell(zsh, { script: text, args: ["-f", "-n", "%SCRIPT%"] });
  assertEquals(syntax, { code: 0, out: "", err: "" });
  const cut = await runShell(zsh, { script: text.slice(0, 900), args: ["-f", "-n", "%SCRIPT%"] });
  assert(cut.code !== 0, "a script cut in half does not parse");
  const registered = await runShell(zsh, {
    script: text,
    args: [
      "-f",
      "-c",
      'autoload -U compinit && compinit -u -D && source "$SCRIPT" && ' +
      'print -r -- "$_comps[jobworker]" && whence -w _jobworker',
    ],
  });
  assertEquals(registered, { code: 0, out: "_jobworker\n_jobworker: function\n", err: "" });
}, { shell: "zsh" });

shellTest(
  "fish: the script parses and completes commands, options and values",
  async (fish) => {
    const text = await script("fish");
    const syntax = await runShell(fish, { script: text, args: ["--no-execute", "%SCRIPT%"] });
    assertEquals([syntax.code, syntax.err], [0, ""]);
    const cut = await runShell(fish, {
      script: text.slice(0, text.indexOf("complete -c jobworker -n") + 30),
      args: ["--no-execute", "%SCRIPT%"],
    });
    assert(cut.code !== 0, "a script cut in a quote does not parse");
    const complete = async (line: string) => {
      const r = await runShell(fish, {
        script: text,
        args: ["--no-config", "-c", `source "$SCRIPT"; complete -C '${line}'`],
      });
      assertEquals([r.code, r.err], [0, ""], line);
      return r.out.split("\n").filter((l) => l !== "").map((l) => l.split("\t")[0]).sort();
    };
    assertEquals(await complete("jobworker st"), ["start", "status", "stop"]);
    assertEquals(await complete("jobworker list --state "), [...JOB_STATES].sort());
    assertEquals(await complete("jobworker status ID -o "), [...OUTPUT_KINDS].sort());
    assertEquals(await complete("jobworker logs --ta"), ["--tail"]);
    assertEquals(await complete("jobworker completion "), ["bash", "fish", "zsh"]);
  },
  { shell: "fish" },
);

shellTest("bash: the new commands, doctor, and signal names after the job id", async (bash) => {
  const text = await script("bash");
  const cases: [string[], string[]][] = [
    [["jobworker", "si"], ["signal"]],
    [["jobworker", "do"], ["doctor"]],
    [["jobworker", "e"], ["events"]],
    [["jobworker", "t"], ["top"]],
    [["jobworker", "signal", "ID", "US"], ["USR1", "USR2"]],
    [["jobworker", "signal", "--all", "ID", "H"], ["HUP"]],
    [["jobworker", "signal", "--addr", "h:1", "ID", "WI"], ["WINCH"]],
    [["jobworker", "signal", "H"], []],
    [["jobworker", "signal", "--a"], ["--addr", "--all"]],
    [["jobworker", "top", "--sort", ""], ["cpu", "memory", "io", "age", "id"]],
    [["jobworker", "top", "--o"], ["--once"]],
    [["jobworker", "events", "--s"], ["--since"]],
    [["jobworker", "events", "--l"], ["--label"]],
    [["jobworker", "list", "--la"], ["--label"]],
    [["jobworker", "start", "--ti"], ["--timeout"]],
    [["jobworker", "start", "--la"], ["--label"]],
    [["jobworker", "doctor", "--j"], ["--job-uid-range", "--json"]],
    [["jobworker", "at"], ["attach"]],
    [["jobworker", "attach", "--n"], ["--no-stdin"]],
    [["jobworker", "attach", "--detach-keys", ""], []],
    [["jobworker", "start", "--det"], ["--detach", "--detach-keys"]],
    // The value of --detach-keys is no command: the job's command comes after it.
    [["jobworker", "start", "-it", "--detach-keys", "ctrl-a,d", "--fo"], ["--follow"]],
  ];
  const calls = cases.map(([words]) =>
    `COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; ` +
    `COMPREPLY=(); _jobworker; echo "$(IFS=' '; echo "\${COMPREPLY[*]}")"`
  );
  const result = await runShell(bash, {
    script: text,
    args: ["-c", `source "$SCRIPT"\n${calls.join("\n")}`],
  });
  assertEquals([result.code, result.err], [0, ""]);
  const lines = result.out.split("\n");
  cases.forEach(([words, expected], i) => {
    assertEquals(lines[i]!.split(" ").filter((w) => w !== ""), expected, words.join(" "));
  });
}, { shell: "bash" });

shellTest("fish: signal names, top --sort, doctor's options", async (fish) => {
  const text = await script("fish");
  const complete = async (line: string) => {
    const r = await runShell(fish, {
      script: text,
      args: ["--no-config", "-c", `source "$SCRIPT"; complete -C '${line}'`],
    });
    assertEquals([r.code, r.err], [0, ""], line);
    return r.out.split("\n").filter((l) => l !== "").map((l) => l.split("\t")[0]).sort();
  };
  assertEquals(await complete("jobworker signal ID US"), ["USR1", "USR2"]);
  assertEquals(await complete("jobworker top --sort "), ["age", "cpu", "id", "io", "memory"]);
  assertEquals(await complete("jobworker doctor --data"), ["--data-dir"]);
  assertEquals(await complete("jobworker do"), ["doctor"]);
  assertEquals(await complete("jobworker attach --no"), ["--no-stdin"]);
  assertEquals(await complete("jobworker start --tt"), ["--tty"]);
}, { shell: "fish" });
