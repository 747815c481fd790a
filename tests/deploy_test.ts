/**
 * deploy/jobworker.service is a unit systemd accepts, and it starts the server it means to:
 *
 * - `systemd-analyze verify` prints nothing about it. The unit's ExecStart= names
 *   /usr/local/bin/jobworker-server, which does not exist on a test machine and which verify
 *   insists on, so a copy whose ExecStart= runs an executable that exists (this Deno binary)
 *   with the same arguments is verified instead; everything else is the file byte for byte.
 *   A copy with a misspelt directive is reported, so the silence means something. Without
 *   systemd-analyze these tests are skipped, saying so.
 * - The same holds with deploy/jobworker-from-repo.conf, the drop-in that runs the server from
 *   this checkout (its path put in, so its ExecStart= exists).
 * - Every flag of its ExecStart= is one the server's `--help` lists, taking a value where the
 *   help shows one: the unit cannot drift from the server's flags unnoticed; the drop-in passes
 *   exactly the same flags.
 * - (root) The server started with exactly the unit's flags (paths, port and cgroup parent moved
 *   into the test's own) listens; on SIGTERM it stops a job that ignores SIGTERM after the
 *   unit's --shutdown-grace and exits 0 within the unit's TimeoutStopSec.
 *
 * @module
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { certPathsFor, makeCertificates } from "../src/certs/mod.ts";
import { decoder, rootTest } from "./_support/host.ts";
import { client, exitOf, firstOutput, withProcesses } from "./server/_processes.ts";
import { freePort, SERVER_MAIN, WatchedProcess } from "./server/_fixture.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const UNIT_PATH = join(root, "deploy", "jobworker.service");
const UNIT_TEXT = await Deno.readTextFile(UNIT_PATH);
const DROP_IN_TEXT = await Deno.readTextFile(join(root, "deploy", "jobworker-from-repo.conf"));
/** Where the drop-in expects the checkout (README "Install as a service" replaces it). */
const CHECKOUT = "/opt/jobworker";
/** Where the unit expects the compiled server (README "Install as a service"). */
const INSTALLED_SERVER = "/usr/local/bin/jobworker-server";

/**
 * The unit's settings: section -> key -> values in order. Lines ending in a backslash continue
 * on the next line (systemd replaces the backslash with a space); # and ; start comments.
 */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    while (line.endsWith("\\") && i + 1 < lines.length) {
      line = `${line.slice(0, -1)} ${lines[++i]!.trim()}`;
    }
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      sections.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf("=");
    assert(section !== undefined && eq > 0, `not a setting in a section: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/** Splits a command line into words: whitespace separates, double or single quotes group. */
function words(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) found.push(m[1] ?? m[2] ?? m[3]!);
  return found;
}

const SERVICE = parseUnit(UNIT_TEXT).get("Service") ?? new Map<string, string[]>();
const DROP_IN = parseUnit(DROP_IN_TEXT).get("Service") ?? new Map<string, string[]>();

function single(key: string, service = SERVICE): string {
  const values = service.get(key) ?? [];
  assertEquals(values.length, 1, `[Service] ${key}= is set once: ${JSON.stringify(values)}`);
  return values[0]!;
}

/** The unit's Environment= variables. */
function environment(): Map<string, string> {
  const env = new Map<string, string>();
  for (const value of [...SERVICE.get("Environment") ?? [], ...DROP_IN.get("Environment") ?? []]) {
    for (const assignment of words(value)) {
      const eq = assignment.indexOf("=");
      env.set(assignment.slice(0, eq), assignment.slice(eq + 1));
    }
  }
  return env;
}

/**
 * ExecStart= as systemd runs it with the unit's own environment: the program, and the
 * arguments with `$VAR` split at whitespace (nothing when empty) and `${VAR}` as one word.
 */
function execStart(commandLine = single("ExecStart")): { program: string; args: string[] } {
  const env = environment();
  const [program, ...rest] = words(commandLine);
  const args: string[] = [];
  for (const word of rest) {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (whole) {
      args.push(...words(env.get(whole[1]!) ?? ""));
      continue;
    }
    args.push(word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name) => env.get(name) ?? ""));
  }
  return { program: program!, args };
}

/** The flags the server's --help lists, each with its value's name or null for a switch. */
async function serverHelpFlags(): Promise<Map<string, string | null>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", SERVER_MAIN, "--help"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  assert(out.success, `--help failed: ${decoder.decode(out.stderr)}`);
  const flags = new Map<string, string | null>();
  for (const line of decoder.decode(out.stdout).split("\n")) {
    const m = /^ {2}(?:-\w, )?(--[a-z][a-z-]*)(?: ([A-Z]\S*))?(?: {2,}|$)/.exec(line);
    if (m) flags.set(m[1]!, m[2] ?? null);
  }
  return flags;
}

/** Why systemd-analyze cannot be used here, or null when it can. */
async function systemdAnalyzeMissing(): Promise<string | null> {
  try {
    const out = await new Deno.Command("systemd-analyze", { args: ["--version"], stdout: "null" })
      .output();
    return out.success ? null : `systemd-analyze --version exited ${out.code}`;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "systemd-analyze is not installed";
    throw err;
  }
}

/**
 * systemd-analyze verify on `text` saved as jobworker.service in a temp dir, with `dropIn` (if
 * given) in jobworker.service.d/ beside it, where verify loads it from; everything it printed.
 */
async function verify(text: string, dropIn?: string): Promise<{ code: number; lines: string[] }> {
  const dir = await Deno.makeTempDir({ prefix: "jobworker-deploy-test-" });
  try {
    const file = join(dir, "jobworker.service");
    await Deno.writeTextFile(file, text);
    if (dropIn !== undefined) {
      await Deno.mkdir(join(dir, "jobworker.service.d"));
      await Deno.writeTextFile(join(dir, "jobworker.service.d", "from-repo.conf"), dropIn);
    }
    const help = await new Deno.Command("systemd-analyze", { args: ["--help"], stdout: "piped" })
      .output();
    // Only our unit's problems set the exit status (not those of the host's other units).
    const recursive = decoder.decode(help.stdout).includes("--recursive-errors")
      ? ["--recursive-errors=no"]
      : [];
    const out = await new Deno.Command("systemd-analyze", {
      args: ["verify", "--man=no", ...recursive, file],
      stdout: "piped",
      stderr: "piped",
      env: { SYSTEMD_LOG_COLOR: "0", SYSTEMD_PAGER: "" },
    }).output();
    const lines = (decoder.decode(out.stdout) + decoder.decode(out.stderr)).split("\n")
      .filter((l) => l.trim() !== "");
    return { code: out.code, lines };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The unit with its ExecStart= program replaced by one that exists, arguments untouched. */
function verifiableCopy(): string {
  assertEquals(execStart().program, INSTALLED_SERVER);
  const prefix = `ExecStart=${INSTALLED_SERVER}`;
  assertEquals(UNIT_TEXT.split(prefix).length, 2, `one line starts with ${prefix}`);
  return UNIT_TEXT.replace(prefix, `ExecStart=${Deno.execPath()}`);
}

const analyzeMissing = await systemdAnalyzeMissing();
if (analyzeMissing !== null) {
  console.log(`SKIPPED systemd-analyze verify of deploy/jobworker.service: ${analyzeMissing}`);
}

/** Fails on anything systemd-analyze printed about our unit; prints the rest. */
function assertSilent({ code, lines }: { code: number; lines: string[] }): void {
  const about = lines.filter((l) => l.includes("jobworker"));
  for (const line of lines.filter((l) => !about.includes(l))) {
    console.log(`systemd-analyze (about another unit of this host): ${line}`);
  }
  assertEquals(about, [], `systemd-analyze verify warned:\n${about.join("\n")}`);
  assertEquals(code, 0, `systemd-analyze verify exited ${code}:\n${lines.join("\n")}`);
}

Deno.test({
  name: "systemd-analyze verify prints nothing about deploy/jobworker.service",
  ignore: analyzeMissing !== null,
  async fn() {
    assertSilent(await verify(verifiableCopy()));
  },
});

Deno.test({
  name: "systemd-analyze verify prints nothing about it with the from-repo drop-in",
  ignore: analyzeMissing !== null,
  async fn() {
    // The drop-in with this checkout's path, as README says to install it: its ExecStart=
    // (this repository's scripts/deno) exists here.
    assertStringIncludes(DROP_IN_TEXT, `${CHECKOUT}/scripts/deno`);
    const dropIn = DROP_IN_TEXT.replaceAll(CHECKOUT, root.replace(/\/$/, ""));
    assertSilent(await verify(verifiableCopy(), dropIn));
  },
});

Deno.test({
  name: "systemd-analyze verify reports a misspelt directive (so its silence above counts)",
  ignore: analyzeMissing !== null,
  async fn() {
    const broken = verifiableCopy().replace("\nDelegate=yes\n", "\nDelegatee=yes\n");
    assert(broken.includes("Delegatee=yes"), "the unit sets Delegate=yes");
    const { lines } = await verify(broken);
    assert(
      lines.some((l) => l.includes("Delegatee") && l.includes("jobworker.service")),
      `no warning about Delegatee=: ${JSON.stringify(lines)}`,
    );
  },
});

Deno.test("the unit's ExecStart= flags are the server's, with values where they take one", async () => {
  const flags = await serverHelpFlags();
  // The help is parsed as intended: switches and flags with values are both recognized.
  assertEquals(flags.get("--addr"), "HOST:PORT");
  assertEquals(flags.get("--keep-jobs-on-exit"), null);
  const { args } = execStart();
  assert(args.length > 0, "ExecStart= passes flags");
  const seen: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    assert(flag.startsWith("--"), `ExecStart= argument ${JSON.stringify(flag)} is not a flag`);
    assert(flags.has(flag), `ExecStart= passes ${flag}, which the server's --help does not list`);
    seen.push(flag);
    if (flags.get(flag) !== null) {
      const value = args[++i];
      assert(
        value !== undefined && !value.startsWith("--"),
        `ExecStart= passes ${flag} without its ${flags.get(flag)}`,
      );
    }
  }
  // What README "Install as a service" says the unit passes.
  assertEquals(seen.sort(), [
    "--addr",
    "--ca",
    "--cert",
    "--data-dir",
    "--key",
    "--shutdown-grace",
    "--supervise",
  ]);
  const value = (flag: string) => args[args.indexOf(flag) + 1];
  assertEquals(value("--addr"), "127.0.0.1:50051");
  assertEquals(value("--data-dir"), "/var/lib/jobworker");
  assertStringIncludes(single("StateDirectory"), "jobworker");
  for (const flag of ["--ca", "--cert", "--key"]) {
    assertMatch(value(flag)!, /^\/etc\/jobworker\/[a-z-]+\.pem$/);
  }
  // JOBWORKER_SERVER_FLAGS comes last, so that a flag given there wins (the server takes the
  // last value of a flag given twice).
  assertEquals(words(single("ExecStart")).at(-1), "$JOBWORKER_SERVER_FLAGS");
  // The choices the unit's comments argue for.
  assertEquals(single("KillMode"), "process");
  assertEquals(single("Delegate"), "yes");
  assertEquals(single("Restart"), "on-failure");
  assertEquals(single("TasksMax"), "infinity");
  assertEquals(single("OOMPolicy"), "continue");
});

Deno.test("the from-repo drop-in runs src/server/main.ts with exactly the unit's flags", () => {
  // ExecStart= is reset first; otherwise systemd would run both command lines.
  assertEquals(DROP_IN.get("ExecStart")?.[0], "");
  const commandLine = DROP_IN.get("ExecStart")?.[1];
  assert(commandLine !== undefined, "the drop-in sets ExecStart=");
  const { program, args } = execStart(commandLine);
  assertEquals(program, `${CHECKOUT}/scripts/deno`);
  const main = args.indexOf(`${CHECKOUT}/src/server/main.ts`);
  assertEquals(args.slice(0, main), ["run", "--allow-all", "--cached-only"]);
  assertEquals(args.slice(main + 1), execStart().args);
  assertEquals(single("Environment", DROP_IN), "DENO_DIR=/var/cache/jobworker/deno");
  assertEquals(single("CacheDirectory", DROP_IN), "jobworker");
});

rootTest(
  "the server with the unit's flags listens, and on SIGTERM stops within TimeoutStopSec",
  () =>
    withProcesses(async (ctx) => {
      const { args } = execStart();
      const grace = Number(args[args.indexOf("--shutdown-grace") + 1]);
      const stopTimeoutMs = Number(/^(\d+)s?$/.exec(single("TimeoutStopSec"))![1]) * 1000;
      // The unit's comment: grace, then up to 5 s for the executor, 5 s for the cgroup and 5 s
      // to end the calls.
      assert(stopTimeoutMs >= grace * 1000 + 15_000, "TimeoutStopSec leaves the server time");

      const certsDir = join(ctx.root, "certs");
      await makeCertificates(certsDir);
      const addr = `127.0.0.1:${freePort()}`;
      const moved: Record<string, (value: string) => string> = {
        "--addr": () => addr,
        "--ca": (v) => join(certsDir, basename(v)),
        "--cert": (v) => join(certsDir, basename(v)),
        "--key": (v) => join(certsDir, basename(v)),
        "--data-dir": () => join(ctx.root, "data"),
      };
      const serverArgs = args.map((arg, i) => moved[args[i - 1] ?? ""]?.(arg) ?? arg);
      const server = ctx.track(
        new WatchedProcess([SERVER_MAIN, ...serverArgs, "--cgroup-parent", ctx.cgroupParent], {
          cwd: ctx.root,
        }),
        { server: true },
      );
      await server.waitForStdout("jobworker listening");

      // Closed before the server goes (and again, harmlessly, at teardown): a client whose
      // server goes away under it can upset Deno's HTTP/2 in this, the test runner's, process.
      const admin = await client(ctx, certPathsFor(certsDir, "admin"), addr);
      let id: string;
      try {
        ({ id } = await admin.start({
          command: "sh",
          args: ["-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"],
        }));
        assertEquals(await firstOutput(admin, id), "ready\n");
      } finally {
        admin.close();
      }

      const t0 = performance.now();
      server.kill("SIGTERM");
      await exitOf(server, stopTimeoutMs);
      const tookMs = performance.now() - t0;
      console.log(`server stopped in ${Math.round(tookMs)} ms (TimeoutStopSec ${stopTimeoutMs})`);
      // The job ignored SIGTERM, so it ended only by SIGKILL after the grace period.
      assert(tookMs >= grace * 1000 - 500, `stopped after ${tookMs} ms, before the grace period`);
      const record = JSON.parse(
        await Deno.readTextFile(join(ctx.root, "data", "jobs", id, "record.json")),
      );
      assertEquals([record.state, record.signal], ["stopped", "SIGKILL"]);
    }),
);
