/**
 * `jobworker doctor` end to end: the real CLI on this host (root: every
 * requirement ok; a uid range a running process uses is not free, exit 1;
 * a data directory on a tmpfs warns), usage errors (exit 2), and the CLI's
 * handling of a report (exit status, JSON, colour) with a made-up one.
 *
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { fileURLToPath } from "node:url";
import { rootTest } from "./_support/host.ts";
import { run } from "../src/cli/main.ts";
import type { CheckResult, DoctorOptions, DoctorReport } from "../src/doctor/mod.ts";

const CLI = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const decoder = new TextDecoder();

/** What one run of the CLI printed and how it exited. */
interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `jobworker doctor ARGS` as a process of its own, killed if it takes over a minute. */
async function doctor(args: string[]): Promise<CliRun> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", CLI, "doctor", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(60_000),
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** `doctor --json ARGS`: the exit status and the parsed report. */
async function doctorJson(args: string[]): Promise<{ code: number; report: DoctorReport }> {
  const result = await doctor(["--json", ...args]);
  assertEquals(result.stderr, "", "nothing on stderr");
  return { code: result.code, report: JSON.parse(result.stdout) as DoctorReport };
}

function check(report: DoctorReport, id: string): CheckResult {
  const found = report.checks.find((c) => c.id === id);
  assert(found !== undefined, `no check ${id}`);
  return found;
}

/** Directories named `jobworker-doctor-*` below `dir`, to `depth` levels: the doctor's leftovers. */
async function doctorDirs(dir: string, depth: number): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isDirectory || entry.isSymlink) continue;
      const path = `${dir}/${entry.name}`;
      if (entry.name.startsWith("jobworker-doctor-")) found.push(path);
      else if (depth > 1) found.push(...await doctorDirs(path, depth - 1));
    }
  } catch {
    // A cgroup removed while we looked.
  }
  return found;
}

/** The uid range `first`-`first+9` with no account, group or process in it, or an error. */
async function freeRange(first: number): Promise<{ first: number; last: number }> {
  const ids = new Set<number>();
  for (const file of ["/etc/passwd", "/etc/group"]) {
    for (const line of (await Deno.readTextFile(file)).split("\n")) {
      ids.add(Number(line.split(":")[2]));
    }
  }
  for (let id = first; id <= first + 9; id++) {
    assert(!ids.has(id), `uid ${id} has an account here: pick another range for the test`);
  }
  return { first, last: first + 9 };
}

rootTest("doctor: every requirement is ok on this host, and nothing is left behind", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "doctor-test-data-" });
  const tmpBefore = await doctorDirs("/tmp", 1);
  try {
    const text = await doctor(["--data-dir", dataDir]);
    assertEquals(text.code, 0, text.stdout + text.stderr);
    assertEquals(text.stderr, "");
    assertStringIncludes(text.stdout, "jobworker doctor: Linux ");
    assertStringIncludes(text.stdout, "→ Overall exposure level: ");
    assertStringIncludes(text.stdout, " 0 fail, ");
    assertStringIncludes(text.stdout, "nothing jobworker requires is missing");
    assert(!text.stdout.includes("\x1b["), "no colour with NO_COLOR and a pipe");

    const { code, report } = await doctorJson(["--data-dir", dataDir]);
    assertEquals(code, 0);
    const failed = report.checks.filter((c) => c.status === "fail");
    assertEquals(failed, [], "no check fails on this host");
    for (
      const id of [
        "root.uid",
        "root.capabilities",
        "kernel.arch",
        "cgroup.mode",
        "cgroup.delegation",
        "cgroup.cpu",
        "cgroup.memory",
        "cgroup.pids",
        "cgroup.devices",
        "ns.pid",
        "ns.mount",
        "ns.net",
        "ns.uts",
        "ns.ipc",
        "ns.cgroup",
        "sandbox.probe",
        "sandbox.mount_setattr",
        "sandbox.pivot_root",
        "sandbox.seccomp",
        "sandbox.setuid",
        "uids.range",
        "data.dir",
        "data.fallocate",
      ]
    ) {
      assertEquals(check(report, id).status, "ok", `${id}: ${check(report, id).detail}`);
    }
    assertEquals(check(report, "ns.user").status, "skip");
    assertStringIncludes(check(report, "ns.user").detail, "not used");
    assertEquals(report.settings.dataDir, dataDir);
    assertEquals(report.settings.jobUidRange, { first: 61184, last: 65519 });
    assert(report.exposure.score >= 0 && report.exposure.score <= 10);
    assertEquals(report.exposure.protections.length, 21);
    console.log(
      `doctor on this host: ${report.counts.ok} ok, ${report.counts.warn} warn, ` +
        `${report.counts.skip} skip; exposure ${report.exposure.score} ${report.exposure.level}`,
    );

    assertEquals([...Deno.readDirSync(dataDir)], [], "the test file was removed");
    assertEquals(await doctorDirs("/tmp", 1), tmpBefore, "the probe's directory was removed");
    assertEquals(await doctorDirs("/sys/fs/cgroup", 5), [], "every test cgroup was removed");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

rootTest("doctor: a uid range a running process uses is not free, exit 1", async () => {
  const range = await freeRange(59990);
  const uid = range.first + 3;
  const sleeper = new Deno.Command("sleep", {
    args: ["60"],
    uid,
    gid: uid,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const args = ["--job-uid-range", `${range.first}-${range.last}`];
    const { code, report } = await doctorJson(args);
    assertEquals(code, 1);
    const uids = check(report, "uids.range");
    assertEquals(uids.status, "fail");
    assertStringIncludes(uids.detail, `pid ${sleeper.pid} (sleep) uid ${uid}`);
    assertEquals(report.checks.filter((c) => c.status === "fail").map((c) => c.id), [
      "uids.range",
    ]);
    const dynamicUser = report.exposure.protections.find((p) => p.name === "DynamicUser")!;
    assertEquals(dynamicUser.state, "no");

    const text = await doctor(args);
    assertEquals(text.code, 1);
    assertStringIncludes(text.stdout, "FAIL  Job uid range free");
    assertStringIncludes(text.stdout, "missing: uids.range");
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
  }
});

rootTest("doctor: a data directory on a tmpfs warns, exit 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "doctor-test-tmpfs-" });
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=2g,mode=0700", "tmpfs", dir],
  }).output();
  assert(mounted.success, decoder.decode(mounted.stderr));
  try {
    const dataDir = `${dir}/data`;
    const { code, report } = await doctorJson(["--data-dir", dataDir]);
    assertEquals(code, 0);
    const fs = check(report, "data.fs");
    assertEquals(fs.status, "warn");
    assertStringIncludes(fs.detail, `tmpfs (tmpfs on ${dir})`);
    assertStringIncludes(fs.detail, "lost on reboot");
    assertEquals(check(report, "data.dir").status, "ok");
    assertStringIncludes(check(report, "data.dir").detail, `the server makes it in ${dir}`);
    assertEquals(check(report, "data.space").status, "ok");
    assertEquals(check(report, "data.fallocate").status, "ok");

    const text = await doctor(["--data-dir", dataDir]);
    assertEquals(text.code, 0);
    assertStringIncludes(text.stdout, "warn  File system");
    assertEquals([...Deno.readDirSync(dir)], [], "nothing was made on the tmpfs");
  } finally {
    const unmounted = await new Deno.Command("umount", { args: [dir] }).output();
    if (!unmounted.success) await new Deno.Command("umount", { args: ["-l", dir] }).output();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("doctor: usage errors exit 2 with one line on stderr", async () => {
  for (
    const [args, message] of [
      [["--job-uid-range", "5-1"], '--job-uid-range: "5-1" is not FIRST-LAST'],
      [["--job-uid-range", "0-100"], '--job-uid-range: "0-100" is not FIRST-LAST'],
      [["--job-uid-range=61184"], "is not FIRST-LAST"],
      [["--data-dir="], "--data-dir: the path is empty"],
      [["extra"], 'doctor takes no arguments, got "extra"'],
      [["--bogus"], 'unknown option --bogus for "doctor"'],
    ] as const
  ) {
    const result = await doctor([...args]);
    assertEquals(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assertEquals(result.stdout, "");
    assertStringIncludes(result.stderr, message);
    assertEquals(result.stderr.trim().split("\n").length, 1);
    assert(result.stderr.startsWith("jobworker: "));
  }
});

/** A made-up report with `checks`. */
function fakeReport(checks: CheckResult[]): DoctorReport {
  return {
    time: "2026-12-02T07:00:00.000Z",
    host: { kernel: "6.1.0", arch: "x86_64", uid: 0 },
    settings: { dataDir: "/d", jobUidRange: { first: 1000, last: 1999 }, minFreeBytes: 1 },
    checks,
    counts: {
      ok: checks.filter((c) => c.status === "ok").length,
      warn: checks.filter((c) => c.status === "warn").length,
      fail: checks.filter((c) => c.status === "fail").length,
      skip: checks.filter((c) => c.status === "skip").length,
    },
    exposure: { score: 0.4, level: "SAFE", protections: [] },
  };
}

/** `run(["doctor", ...args])` in-process with a made-up report; what it printed and returned. */
async function runWith(
  args: string[],
  options: { report: DoctorReport; terminal: boolean; env?: Record<string, string> },
): Promise<{ code: number; stdout: string; asked: DoctorOptions[] }> {
  const chunks: string[] = [];
  const asked: DoctorOptions[] = [];
  const code = await run(["doctor", ...args], {
    stdout: { write: (d) => Promise.resolve((chunks.push(decoder.decode(d)), d.length)) },
    stderr: { write: (d) => Promise.resolve(d.length) },
    env: (name) => options.env?.[name],
    isTerminal: () => options.terminal,
    doctor: (o) => Promise.resolve((asked.push(o), options.report)),
  });
  return { code, stdout: chunks.join(""), asked };
}

Deno.test("doctor in the CLI: exit 1 only on a failure; flags reach the checks; JSON", async () => {
  const ok: CheckResult = { id: "root.uid", title: "Running as root", status: "ok", detail: "0" };
  const warn: CheckResult = {
    id: "data.fs",
    title: "File system",
    status: "warn",
    detail: "tmpfs",
    brief: "data dir on tmpfs",
  };
  const fail: CheckResult = { ...warn, status: "fail", id: "uids.range", title: "Job uid range" };

  const clean = await runWith(["--data-dir", "/srv/jw", "--job-uid-range", "1000-1999"], {
    report: fakeReport([ok, warn]),
    terminal: false,
  });
  assertEquals(clean.code, 0);
  assertEquals(clean.asked, [{ dataDir: "/srv/jw", jobUidRange: { first: 1000, last: 1999 } }]);
  assertStringIncludes(clean.stdout, "  warn  File system");

  const failed = await runWith([], { report: fakeReport([ok, fail]), terminal: false });
  assertEquals(failed.code, 1);
  assertEquals(failed.asked, [{ dataDir: "data", jobUidRange: { first: 61184, last: 65519 } }]);

  const json = await runWith(["--json"], { report: fakeReport([ok, fail]), terminal: true });
  assertEquals(json.code, 1);
  assertEquals(JSON.parse(json.stdout).checks[1].id, "uids.range");
});

Deno.test("doctor in the CLI: colour only on a terminal without NO_COLOR", async () => {
  const report = fakeReport([{ id: "a", title: "A", status: "ok", detail: "fine" }]);
  const tty = await runWith([], { report, terminal: true });
  assertStringIncludes(tty.stdout, "\x1b[32mok  \x1b[0m");
  const noColor = await runWith([], { report, terminal: true, env: { NO_COLOR: "1" } });
  assert(!noColor.stdout.includes("\x1b["));
  const pipe = await runWith([], { report, terminal: false });
  assert(!pipe.stdout.includes("\x1b["));
});
