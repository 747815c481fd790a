/**
 * The hostile-job suite: every attack that worked before the sandbox, and
 * the checks the OCI runtimes, bubblewrap and systemd test their own
 * sandboxes with, run as an ordinary job that must fail. Each test prints
 * what it tried and what the kernel answered.
 *
 * Runs on the cgroup v1 host (`deno task test`) and in the cgroup v2 guest
 * (`deno task test:vm`, busybox userland): the shell attacks use only what
 * both have, the system-call attacks use the attacker's own Deno tool.
 */
import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertNotMatch,
  assertStringIncludes,
} from "@std/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { attack, probe, rootTest, type Stage, withStage } from "./_fixture.ts";
import { marker, pgrep, sh, waitForOutput } from "../job/_fixture.ts";
import { sha256Hex } from "../_support/bytes.ts";

const EXECUTOR_MAIN = fileURLToPath(new URL("../../src/executor/main.ts", import.meta.url));

/** Any of the answers that mean "you may not": never a success. */
const REFUSED =
  /Permission denied|Operation not permitted|Read-only file system|No such file or directory|Can't open|can't|cannot|Not permitted|not permitted|must be (super)?user|Bad address/;

/** Hex SHA-256 of the file at `path`. */
async function sha256(path: string): Promise<string> {
  return sha256Hex(await Deno.readFile(path));
}

function victimDir(stage: Stage): string {
  return join(stage.dataDir, "jobs", stage.victim.id);
}

rootTest("attack: read the server's TLS keys (files anyone may read on the host)", async () => {
  await withStage(async (stage) => {
    const { out } = await attack(stage, {
      name: "read the server's private keys",
      script: `cat ${stage.certsDir}/admin-key.pem ${stage.certsDir}/server-key.pem; ` +
        `ls -la ${stage.certsDir}`,
    });
    assertNotMatch(out, /SECRET KEY/);
    assertNotMatch(out, /admin-key\.pem$/m, "the key directory is listable");
    assertMatch(out, REFUSED);
  });
});

rootTest("attack: read another user's job output and working directory", async () => {
  await withStage(async (stage) => {
    await waitForOutput(stage.victim, "bob-secret-output");
    const dir = victimDir(stage);
    const { out } = await attack(stage, {
      name: "read bob's output file and /work",
      script: `cat ${dir}/output; ls -la ${dir}/work; ls ${stage.dataDir}/jobs`,
    });
    assertNotMatch(out, /bob-secret-output/);
    assertNotMatch(out, new RegExp(`^${stage.victim.id}$`, "m"), "the data dir is listable");
    assertMatch(out, REFUSED);
  });
});

rootTest("attack: read /etc/shadow, /root, /home, /run", async () => {
  await withStage(async (stage) => {
    const { out } = await attack(stage, {
      name: "read the host's secrets",
      script: "cat /etc/shadow; ls -A /root /home /run",
    });
    assertNotMatch(out, /^root:/m);
    for (const dir of ["/root", "/home", "/run"]) {
      assertMatch(out, new RegExp(`${dir}.*(Permission denied|Operation not permitted)`));
    }
  });
});

rootTest("attack: write to /, /usr, /etc, /var of the host", async () => {
  await withStage(async (stage) => {
    const { out } = await attack(stage, {
      name: "write the host's file system",
      script: "for d in / /usr /etc /var; do touch $d/jw-attack; done; echo x >> /etc/passwd",
    });
    assertEquals(out.match(/Read-only file system/g)?.length, 4, out);
    assertMatch(out.split("\n")[4]!, /passwd.*(Permission denied|Read-only file system)/);
    for (const d of ["/", "/usr", "/etc", "/var"]) {
      assertFalse(await Deno.stat(join(d, "jw-attack")).then(() => true, () => false));
    }
  });
});

rootTest("attack: change the code an executor runs", async () => {
  await withStage(async (stage) => {
    const before = [await sha256(EXECUTOR_MAIN), await sha256(Deno.execPath())];
    const { out } = await attack(stage, {
      name: "append to the executor's source and to the Deno binary",
      script: `echo '// pwned' >> ${EXECUTOR_MAIN}; echo pwned >> ${Deno.execPath()}; ` +
        `echo pwned >> /jobworker-attack/deno`,
    });
    assertEquals(out.match(REFUSED) !== null, true, out);
    assertEquals([await sha256(EXECUTOR_MAIN), await sha256(Deno.execPath())], before);
  });
});

rootTest("attack: raise its own memory limit and leave its cgroup, then use 200 MiB", async () => {
  await withStage(async (stage) => {
    const own = stage.manager.cgroupVersion === 1
      ? "/sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/cgroup.procs"
      : "/sys/fs/cgroup/memory.max /sys/fs/cgroup/cgroup.procs";
    // The job's own cgroup directories on the host, as an attacker would guess them.
    const hostFiles = stage.parentDirs.flatMap((d) => [
      `${d}/*/memory.limit_in_bytes`,
      `${d}/*/memory.max`,
      `${d}/*/cgroup.procs`,
    ]);
    const job = await stage.manager.start(
      sh(
        `
        for f in ${own} ${hostFiles.join(" ")}; do echo max > $f; echo $$ > $f; done 2>&1 | sort -u
        mount -t cgroup -o memory cgroup /tmp 2>&1; mount -t cgroup2 none /tmp 2>&1
        ls /sys/fs/cgroup | wc -l
        echo hog; exec dd if=/dev/zero of=/dev/null bs=200M count=1`,
        {
          limits: { memoryBytes: 64 * 1024 * 1024 },
        },
      ),
      { owner: "alice" },
    );
    const status = await job.wait();
    const out = (await Array.fromAsync(job.output())).map((c) => new TextDecoder().decode(c.data))
      .join("");
    console.log(
      `  attack: rewrite cgroup files, mount cgroupfs, then allocate 200 MiB under 64 MiB`,
    );
    console.log(`    answer:  ${out.trim().replaceAll("\n", "\n             ")}`);
    assertStringIncludes(out, "hog\n");
    assertEquals(out.split("hog\n")[0]!.match(/^0$/m)?.length, 1, "cgroupfs is visible");
    assertEquals(
      [status.signal, status.oomKilled],
      ["SIGKILL", true],
      "the hog was not OOM-killed",
    );
    assertNotMatch(out, /records out/);
  });
});

rootTest("attack: freeze another user's job", async () => {
  await withStage(async (stage) => {
    const files = stage.victim.cgroupPaths.flatMap((d) => [
      `${d}/freezer.state`,
      `${d}/cgroup.freeze`,
      `${d}/cgroup.kill`,
    ]);
    const { out } = await attack(stage, {
      name: "freeze or kill bob's job through its cgroup",
      script: files.map((f) => `echo FROZEN > ${f}; echo 1 > ${f}`).join("; "),
    });
    assertMatch(out, REFUSED);
    assertEquals(stage.victim.state, "running");
    for (const dir of stage.victim.cgroupPaths) {
      const state = await Deno.readTextFile(`${dir}/freezer.state`).catch(() => null) ??
        await Deno.readTextFile(`${dir}/cgroup.freeze`).catch(() => null);
      if (state !== null) assertMatch(state.trim(), /^(THAWED|0)$/, `${dir} is frozen`);
    }
  });
});

rootTest("attack: unmount /proc to reach the host's, look for PID 1 and the server", async () => {
  await withStage(async (stage) => {
    const { out } = await attack(stage, {
      name: "umount /proc, then look around",
      script: `umount /proc; umount -l /proc; ls -d /proc/1 /proc/${Deno.pid}; ` +
        `ls /proc | grep -c '^[0-9]'`,
    });
    assertMatch(out, /umount.*(Operation not permitted|must be superuser|Permission denied)/);
    assertMatch(out, /\/proc\/1.*No such file/);
    assertMatch(out, new RegExp(`/proc/${Deno.pid}.*No such file`));
    // Only the job's own processes: sh, ls, grep (and a subshell).
    const count = Number(out.trim().split("\n").at(-1));
    assert(count >= 1 && count <= 4, `processes visible: ${count}`);
  });
});

rootTest("attack: enter the server's network namespace and call the API", async () => {
  await withStage(async (stage) => {
    const { out } = await attack(stage, {
      name: "nsenter into PID 1's and the server's network namespace",
      script: `nsenter -t 1 -n true; nsenter --net=/proc/${Deno.pid}/ns/net true; ` +
        `nsenter --net=/proc/self/ns/net true`,
    });
    assertEquals(out.trim().split("\n").filter((l) => REFUSED.test(l)).length, 3, out);
    const answers = await probe(stage, ["connect"]);
    assertEquals(answers.get("connect")?.answer, "ECONNREFUSED");
    assertEquals(stage.accepted(), 0, "the host's port accepted a connection from the job");
  });
});

rootTest("attack: write into the executor's or the server's memory, kill them", async () => {
  await withStage(async (stage) => {
    const { out, code } = await attack(stage, {
      name: "write /proc/PID/mem, signal PID 1 and the server",
      script: `printf x | dd of=/proc/1/mem bs=1 seek=4194304 conv=notrunc 2>&1
               printf x | dd of=/proc/${Deno.pid}/mem bs=1 seek=4194304 conv=notrunc 2>&1
               kill -9 1; kill -TERM 1; kill -9 ${Deno.pid}; echo still here`,
    });
    assertMatch(out, /\/proc\/1\/mem.*No such file/);
    assertStringIncludes(out, "still here");
    assertEquals(code, 0);
    // The executor survived to report the job's own exit: status says "exited 0".
  });
});

rootTest("attack: forge the job's exit report through the executor's stdout", async () => {
  await withStage(async (stage) => {
    const report = '{"type":"exited","exitCode":0,"signal":null,"terminated":false}';
    const job = await stage.manager.start(
      sh(`echo '${report}' > /proc/1/fd/1; ls -l /proc/1/fd 2>&1; exit 3`),
      { owner: "alice" },
    );
    const status = await job.wait();
    console.log(`  attack: write an "exited 0" report to /proc/1/fd/1, then exit 3`);
    console.log(`    answer:  status ${status.state}, exit code ${status.exitCode}`);
    assertEquals([status.state, status.exitCode], ["exited", 3]);
  });
});

rootTest(
  "attack: open output files by path, its own and others', append forged lines",
  async () => {
    await withStage(async (stage) => {
      const { out } = await attack(stage, {
        name: "write into the output files in the data directory",
        script: `readlink /proc/$$/fd/1; echo FORGED >> ${victimDir(stage)}/output; ` +
          `for f in ${stage.dataDir}/jobs/*/output; do echo FORGED >> "$f"; done`,
      });
      // fd 1 is a pipe to the executor, not the file; the files are out of reach.
      assertMatch(out, /^pipe:\[\d+\]$/m);
      assertMatch(out, REFUSED);
      for await (const entry of Deno.readDir(join(stage.dataDir, "jobs"))) {
        const text = await Deno.readTextFile(join(stage.dataDir, "jobs", entry.name, "output"));
        assertNotMatch(text, /^FORGED$/m, `job ${entry.name}'s output`);
      }
    });
  },
);

rootTest("attack: set the clock, write sysctls, read the kernel log", async () => {
  await withStage(async (stage) => {
    const sysctl = "/proc/sys/vm/overcommit_ratio";
    const before = await Deno.readTextFile(sysctl);
    const { out } = await attack(stage, {
      name: "date -s, a sysctl write, /dev/kmsg, dmesg",
      script: `date -s '2001-02-03 04:05:06'; echo 99 > ${sysctl}; ` +
        `cat /dev/kmsg; dmesg | head -n 3`,
    });
    assertEquals(out.split("\n").filter((l) => REFUSED.test(l)).length, 4, out);
    assertMatch(out, new RegExp(`${sysctl}: Read-only file system`));
    assert(new Date().getFullYear() >= 2026, "the clock moved");
    assertEquals(await Deno.readTextFile(sysctl), before);
  });
});

rootTest("attack: make device nodes, open the host's disks", async () => {
  await withStage(async (stage) => {
    const { out } = await attack(stage, {
      name: "mknod, then look for raw devices",
      script: "mknod /tmp/disk b 254 0; mknod /tmp/mem c 1 1; " +
        "ls /dev/vda /dev/sda /dev/mem /dev/kmsg /dev/port; ls /dev",
    });
    assertEquals(out.match(/mknod.*(Operation not permitted|Permission denied)/g)?.length, 2, out);
    const listing = out.trim().split("\n").at(-1)!;
    assertMatch(out, /\/dev\/vda.*No such file/);
    assertMatch(out, /\/dev\/mem.*No such file/);
    console.log(`    /dev holds: ${out.trim().split("\n").slice(-16).join(" ")} ${listing}`);
  });
});

rootTest("attack: system calls that reach kernel-wide state", async () => {
  await withStage(async (stage) => {
    const answers = await probe(stage, [
      "keyring",
      "keyring-session",
      "reboot",
      "module",
      "clock",
      "hostname",
      "mount",
      "umount-proc",
      "userns",
      "clone3",
      "ptrace-pid1",
      "signal-pid1",
      "syslog",
      "bpf",
      "perf",
      "userfaultfd",
      "io_uring",
      "open-by-handle",
      "tiocsti",
      "dev-tty",
    ]);
    const expect: Record<string, string> = {
      keyring: "EPERM",
      "keyring-session": "EPERM",
      reboot: "EPERM",
      module: "EPERM,EPERM",
      clock: "EPERM",
      hostname: "EPERM",
      mount: "EPERM",
      "umount-proc": "EPERM",
      userns: "EPERM",
      clone3: "ENOSYS",
      "ptrace-pid1": "EPERM",
      "signal-pid1": "EPERM,EPERM",
      syslog: "EPERM",
      bpf: "EPERM",
      perf: "EPERM",
      userfaultfd: "EPERM",
      io_uring: "EPERM",
      "open-by-handle": "EPERM",
      tiocsti: "EPERM",
      "dev-tty": "ENXIO",
    };
    for (const [name, answer] of Object.entries(expect)) {
      assertEquals(answers.get(name)?.answer, answer, `${name}: ${answers.get(name)?.tried}`);
    }
  });
});

rootTest(
  "the job's identity: own uid, no groups, no capabilities, no_new_privs, seccomp",
  async () => {
    await withStage(async (stage) => {
      const { out } = await attack(stage, {
        name: "look at its own credentials",
        script: "id; grep -E '^(Uid|Gid|Groups|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' " +
          "/proc/self/status",
      });
      const field = (name: string) =>
        new RegExp(`^${name}:[ \t]*(.*)$`, "m").exec(out)?.[1]?.trim().split(/\s+/) ?? [];
      const uid = Number(field("Uid")[0]);
      assert(uid >= 61184 && uid <= 65519, `uid ${uid} is not a job uid`);
      assertEquals(field("Uid"), [uid, uid, uid, uid].map(String));
      assertEquals(field("Gid"), [uid, uid, uid, uid].map(String));
      assertEquals(field("Groups").filter((g) => g !== ""), []);
      for (const set of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) {
        assertEquals(field(set), ["0000000000000000"], set);
      }
      assertEquals(field("NoNewPrivs"), ["1"]);
      assertEquals(field("Seccomp"), ["2"]);
    });
  },
);

rootTest("attack: a setuid-root binary gains the job nothing", async () => {
  await withStage(async (stage) => {
    // A setuid-root copy of `id` (busybox's or coreutils'), where the job can run it.
    const dir = join(stage.scratch, "suid");
    await Deno.mkdir(dir);
    const real = await Deno.realPath(
      await Deno.stat("/usr/bin/id").then(() => "/usr/bin/id", () => "/bin/busybox"),
    );
    await Deno.copyFile(real, join(dir, "id"));
    await Deno.chmod(join(dir, "id"), 0o4755);
    const { out } = await attack(stage, {
      name: "run a setuid-root id, and su",
      script: `${dir}/id -u; ${dir}/id -u -r; su -c id root < /dev/null 2>&1 | head -n 1`,
    });
    const [effective, real_] = out.trim().split("\n");
    assert(Number(effective) >= 61184, `effective uid after setuid exec: ${effective}`);
    assertEquals(effective, real_);
    assertNotMatch(out, /uid=0/);
  });
});

rootTest("the job holds only fds 0, 1 and 2; it has no controlling terminal", async () => {
  await withStage(async (stage) => {
    // The main process execs sleep: what it holds is exactly what it was handed.
    const job = await stage.manager.start(sh("echo ready; exec sleep 30"), { owner: "alice" });
    await waitForOutput(job, "ready");
    const memory = job.cgroupPaths.find((d) => d.includes("/memory/")) ?? job.cgroupPaths[0]!;
    const [pid] = (await Deno.readTextFile(`${memory}/cgroup.procs`)).trim().split("\n");
    const fds: string[] = [];
    for await (const e of Deno.readDir(`/proc/${pid}/fd`)) {
      fds.push(`${e.name} -> ${await Deno.readLink(`/proc/${pid}/fd/${e.name}`)}`);
    }
    fds.sort();
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const ttyNr = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[4];
    console.log(
      `  the job's main process (host pid ${pid}) holds: ${fds.join(", ")}; tty_nr ${ttyNr}`,
    );
    assertEquals(fds.map((f) => f.split(" ")[0]), ["0", "1", "2"]);
    assertEquals(fds[0], "0 -> /dev/null");
    assertEquals(ttyNr, "0");
    await job.stop({ graceMs: 0 });
  });
});

rootTest("stop reaches a setsid double-fork that ignores SIGTERM", async () => {
  await withStage(async (stage) => {
    const mark = marker();
    // The subshell forks setsid into the background and exits: the TERM-ignoring
    // loop (and every sleep it starts) is an orphan in a session of its own.
    const job = await stage.manager.start(
      sh(`printf '%s\\n' "trap '' TERM" 'while :; do sleep 0.1; done' > /work/ignore.sh
          ( setsid sh /work/ignore.sh ${mark} & )
          echo ready; while :; do sleep 0.05; done`),
      { owner: "alice" },
    );
    await waitForOutput(job, "ready");
    const escaped = await pgrep(mark);
    assert(escaped.length >= 1, "the double-forked sleep is not running");
    const status = await job.stop({ graceMs: 200 });
    console.log(`  attack: setsid double-fork ignoring SIGTERM, pids ${escaped.join(",")}`);
    console.log(`    answer:  stop -> ${status.state}, left behind: ${(await pgrep(mark)).length}`);
    assertEquals(status.state, "stopped");
    assertEquals(await pgrep(mark), []);
  });
});

rootTest("a reused uid finds nothing of the previous job", async () => {
  const uid = 61184 + Math.floor(Math.random() * 4000);
  await withStage(async (stage) => {
    const first = await stage.manager.start(
      sh(
        "id -u; for d in /work /tmp /var/tmp /dev/shm; do echo left > $d/left-behind; done; " +
          "ls /work /tmp /var/tmp /dev/shm",
      ),
      { owner: "alice" },
    );
    await first.wait();
    const second = await stage.manager.start(
      sh("id -u; ls -A /work /tmp /var/tmp /dev/shm; cat /*/left-behind /*/*/left-behind"),
      { owner: "bob" },
    );
    await second.wait();
    const [a, b] = [await first.status(), await second.status()];
    const outA = (await Array.fromAsync(first.output())).map((c) =>
      new TextDecoder().decode(c.data)
    )
      .join("");
    const outB = (await Array.fromAsync(second.output())).map((c) =>
      new TextDecoder().decode(c.data)
    ).join("");
    console.log(`  first job (uid ${a.uid}):\n    ${outA.trim().replaceAll("\n", "\n    ")}`);
    console.log(`  second job (uid ${b.uid}):\n    ${outB.trim().replaceAll("\n", "\n    ")}`);
    // bob's victim job holds one of the two uids all along; these two share the other.
    assertEquals(a.uid, b.uid);
    assert(a.uid === uid || a.uid === uid + 1, `uid ${a.uid}`);
    assertEquals(outA.match(/left-behind/g)?.length, 4, outA);
    assertNotMatch(outB, /^left$/m);
    assertNotMatch(outB, /^left-behind$/m);
  }, { manager: { jobUidRange: { first: uid, last: uid + 1 } } });
});
