import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  check,
  CLONE_NEWNS,
  CLONE_NEWPID,
  closeFd,
  decodeWaitStatus,
  errnoName,
  getCapabilities,
  kill,
  namespaceFlagNames,
  O_APPEND,
  O_WRONLY,
  openFd,
  setns,
  setThreadGids,
  setThreadGroups,
  setThreadUids,
  signalName,
  signalNumber,
  SIGNALS,
  spawn,
  spawnInNewPidNamespace,
  SyscallError,
  unshare,
  waitChild,
} from "./mod.ts";

const isRoot = Deno.uid() === 0;

Deno.test("check() names the call and errno of a failed call", () => {
  const err = assertThrows(() => setns(-1, CLONE_NEWPID), SyscallError);
  assertEquals(err.message, "setns(-1, CLONE_NEWPID) failed: EBADF");
  assertEquals((err as SyscallError).code, "EBADF");
  assertEquals(check(0, "noop"), 0);
  assertEquals(errnoName(1), "EPERM");
  assertEquals(errnoName(4242), "errno 4242");
});

Deno.test("unshare with an invalid flag fails with EINVAL and a readable message", () => {
  // Bit 0x1 is CSIGNAL territory, never valid for unshare(2).
  const err = assertThrows(() => unshare(0x1 | CLONE_NEWNS), SyscallError);
  assertEquals(err.message, "unshare(CLONE_NEWNS) failed: EINVAL");
});

Deno.test("namespace flags render by name", () => {
  assertEquals(namespaceFlagNames(CLONE_NEWNS | CLONE_NEWPID), "CLONE_NEWNS|CLONE_NEWPID");
});

Deno.test("signal names and numbers round-trip", () => {
  for (const [name, num] of Object.entries(SIGNALS)) {
    assertEquals(signalName(num), name);
    assertEquals(signalNumber(name), num);
  }
  assertEquals(signalNumber("term"), 15);
  assertEquals(signalName(40), "SIG40");
  assertThrows(() => signalNumber("SIGNOPE"), RangeError);
});

Deno.test("wait statuses decode to exit codes and signals", () => {
  assertEquals(decodeWaitStatus(0), { exitCode: 0, signal: null });
  assertEquals(decodeWaitStatus(3 << 8), { exitCode: 3, signal: null });
  assertEquals(decodeWaitStatus(9), { exitCode: null, signal: "SIGKILL" });
  assertEquals(decodeWaitStatus(0x137f), null); // stopped by SIGSTOP
});

Deno.test("spawn runs a program with output to a file, and waitChild gives its exact status", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/out`;
    await Deno.writeTextFile(out, "");
    const pid = spawn("sh", {
      args: ["-c", 'echo "out $FOO"; echo err >&2; pwd; trap - PIPE; exit 7'],
      env: { PATH: "/usr/bin:/bin", FOO: "bar" },
      cwd: dir,
      outputPath: out,
    });
    const reaped = waitChild(pid, { block: true });
    assertEquals(reaped, { pid, status: { exitCode: 7, signal: null } });
    assertEquals(await Deno.readTextFile(out), `out bar\nerr\n${dir}\n`);

    const killed = spawn("sleep", { args: ["30"], env: { PATH: "/usr/bin:/bin" } });
    assert(kill(killed, SIGNALS.SIGTERM!));
    assertEquals(waitChild(killed, { block: true })?.status, { exitCode: null, signal: "SIGTERM" });
    assertEquals(kill(killed, 0), false, "a reaped process no longer exists");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spawned programs get default signal dispositions (SIGPIPE is not ignored)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/out`;
    await Deno.writeTextFile(out, "");
    // Deno ignores SIGPIPE; a child that inherited that would see EPIPE and exit 1.
    const pid = spawn("bash", {
      args: ["-c", 'yes | head -c 1 >/dev/null; echo "${PIPESTATUS[0]}"'],
      env: { PATH: "/usr/bin:/bin" },
      outputPath: out,
    });
    assertEquals(waitChild(pid, { block: true })?.status, { exitCode: 0, signal: null });
    assertEquals((await Deno.readTextFile(out)).trim(), String(128 + SIGNALS.SIGPIPE!));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spawn failures carry the errno that says why", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = { PATH: "/usr/bin:/bin" };
    await Deno.writeTextFile(`${dir}/plain`, "echo hi\n", { mode: 0o644 });
    await Deno.writeFile(`${dir}/garbage`, new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 1, 2, 3]), {
      mode: 0o755,
    });
    const code = (command: string, cwd?: string) =>
      assertThrows(() => spawn(command, cwd ? { env, cwd } : { env }), SyscallError).code;
    assertEquals(code("no-such-program-x"), "ENOENT");
    assertEquals(code(`${dir}/plain`), "EACCES");
    assertEquals(code(dir), "EACCES");
    assertEquals(code(`${dir}/garbage`), "ENOEXEC");
    assertEquals(code("true", "/no/such/dir"), "ENOENT");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "spawnInNewPidNamespace makes the child PID 1 and restores the caller's namespace",
  ignore: !isRoot,
  async fn() {
    const inNs = spawnInNewPidNamespace(() =>
      new Deno.Command("sh", { args: ["-c", "echo $$"], stdout: "piped" }).spawn()
    );
    assertEquals(new TextDecoder().decode((await inNs.output()).stdout).trim(), "1");
    // Twice in a row: the second spawn must not fail with ENOMEM.
    const again = spawnInNewPidNamespace(() =>
      new Deno.Command("sh", { args: ["-c", "echo $$"], stdout: "piped" }).spawn()
    );
    assertEquals(new TextDecoder().decode((await again.output()).stdout).trim(), "1");
    const after = await new Deno.Command("sh", { args: ["-c", "echo $$"], stdout: "piped" })
      .output();
    assert(Number(new TextDecoder().decode(after.stdout)) > 1, "back in the host namespace");
  },
});
if (!isRoot) console.log("skipped: spawnInNewPidNamespace test needs root");

Deno.test({
  name:
    "thread credentials: a child spawned under other ids runs as them; the thread is root again",
  ignore: !isRoot,
  async fn() {
    const dir = await Deno.makeTempDir();
    const statusOf = () =>
      Deno.readTextFileSync("/proc/thread-self/status").split("\n")
        .filter((l) => /^(Uid|Gid|Groups|CapEff):/.test(l)).join("\n");
    const before = statusOf();
    const groups = (/^Groups:[ \t]*(.*)$/m.exec(before)?.[1] ?? "").split(/\s+/).filter((g) => g)
      .map(Number);
    try {
      const out = `${dir}/out`;
      await Deno.writeTextFile(out, "");
      const fd = openFd(out, O_WRONLY | O_APPEND);
      let pid = 0;
      setThreadGroups([]);
      setThreadGids(4242, 4242, 4242);
      setThreadUids(4242, 4242, 0);
      try {
        pid = spawn("sh", {
          args: ["-c", "id -u; id -g; id -G; grep CapEff /proc/self/status"],
          env: { PATH: "/usr/bin:/bin" },
          outputFd: fd,
        });
      } finally {
        setThreadUids(0, 0, 0);
        setThreadGids(0, 0, 0);
        setThreadGroups(groups);
        closeFd(fd);
      }
      assertEquals(waitChild(pid, { block: true })?.status, { exitCode: 0, signal: null });
      const lines = (await Deno.readTextFile(out)).trim().split("\n");
      assertEquals(lines.slice(0, 3), ["4242", "4242", "4242"]);
      assertEquals(lines[3], "CapEff:\t0000000000000000");
      assertEquals(statusOf(), before, "the thread is back to its own ids and capabilities");
      assert(getCapabilities().effective !== 0n);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("errno names cover what the executor's callers branch on", () => {
  for (
    const [n, name] of [[6, "ENXIO"], [11, "EAGAIN"], [28, "ENOSPC"], [32, "EPIPE"], [
      122,
      "EDQUOT",
    ]] as const
  ) {
    assertEquals(errnoName(n), name);
  }
});
