/**
 * Isolation of a job: PID, network, mount, UTS namespaces, cgroup placement
 * from the first instruction, and the executor kept out of the job's cgroup.
 */
import { assert, assertEquals, assertGreater, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import {
  cgroupDirWith,
  childExecutors,
  DEFAULT_ENV_LINES,
  mountinfo,
  outputText,
  readControl,
  rootTest,
  runCommand,
  sh,
  waitForOutput,
  withManager,
} from "./_fixture.ts";

rootTest(
  "ps -e inside shows only the job's own processes; the executor (PID 1) is hidden",
  async () => {
    await withManager(async ({ manager }) => {
      const host = await runCommand("ps", ["-e", "-o", "pid="]);
      const hostCount = host.out.trim().split("\n").length;
      const job = await manager.start(sh("sleep 30 & ps -e -o pid=,comm=; kill $!"));
      const status = await job.wait();
      assertEquals(status.exitCode, 0);
      const procs = (await outputText(job)).trim().split("\n").map((line) => {
        const [pid, comm] = line.trim().split(/\s+/);
        return { pid: Number(pid), comm };
      });
      assertEquals(
        procs.map((p) => p.comm).sort(),
        ["ps", "sh", "sleep"],
        `processes seen inside: ${JSON.stringify(procs)}`,
      );
      // PID 1, the executor, runs as root: /proc hides it (hidepid=invisible).
      assert(procs.every((p) => p.pid > 1), `PID 1 is visible: ${JSON.stringify(procs)}`);
      // The host has more (this test process among them), none of which is visible.
      assertGreater(hostCount, procs.length);
    });
  },
);

rootTest("the network namespace has only lo, UP, with loopback routes and addresses", async () => {
  await withManager(async ({ manager }) => {
    const hostLinks = (await runCommand("ip", ["-o", "link"])).out.trim().split("\n");
    if (hostLinks.length < 2) console.log("note: the host itself has only lo; weaker test");
    const job = await manager.start(sh(
      "ip -o link; echo ---; ip route; echo ---; ip -4 -o addr; echo ---; " +
        "ip route get 192.0.2.1 2>&1; echo ---",
    ));
    assertEquals((await job.wait()).exitCode, 0);
    const [links, routes, addrs, routeGet] = (await outputText(job)).split("---\n").map((part) =>
      part.trim().split("\n").filter((l) => l !== "")
    );
    assertEquals(links?.length, 1, `links inside: ${JSON.stringify(links)}`);
    const flags = /^\d+: lo: <([^>]*)>/.exec(links![0]!)?.[1]?.split(",") ?? [];
    assert(flags.includes("UP") && flags.includes("LOWER_UP"), `lo flags: ${flags}`);
    for (const route of routes!) assertStringIncludes(route, "dev lo");
    assertGreater(addrs!.length, 0, "lo must have 127.0.0.1");
    for (const addr of addrs!) assert(/^\d+: lo\s+inet 127\./.test(addr), `address ${addr}`);
    // No route to anything outside (a route lookup only, nothing is sent).
    assertStringIncludes(routeGet!.join("\n"), "unreachable");
  });
});

rootTest("127.0.0.1 works inside: listen, connect, exchange bytes", async () => {
  await withManager(async ({ manager }) => {
    const script = [
      "import socket",
      "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)",
      "c = socket.create_connection(s.getsockname(), timeout=5)",
      "a, _ = s.accept(); c.sendall(b'ping')",
      "print('got', a.recv(4).decode(), flush=True)",
    ].join("\n");
    const job = await manager.start({ command: "python3", args: ["-c", script] });
    const status = await job.wait();
    const out = await outputText(job);
    assertEquals(status.exitCode, 0, out);
    assertEquals(out, "got ping\n");
  });
});

rootTest(
  "the sandbox's mounts never reach the host, even from a shared mount; the job cannot mount",
  async () => {
    await withManager(async ({ manager, scratch }) => {
      // Make the scratch dir (which the sandbox binds into the job) a SHARED
      // mount on the host: without the executor's recursive MS_PRIVATE, the
      // sandbox's mounts would propagate here.
      assertEquals((await runCommand("mount", ["--bind", scratch, scratch])).code, 0);
      try {
        assertEquals((await runCommand("mount", ["--make-shared", scratch])).code, 0);
        const hostMounts = async () => (await mountinfo()).map((m) => m.mountPoint).sort();
        const before = await hostMounts();
        assert(before.includes(scratch));
        const go = join(scratch, "go");
        const job = await manager.start(sh(
          `mount -t tmpfs none ${scratch} 2>/dev/null; echo "mount exit $?"; echo ready;
           while [ ! -e ${go} ]; do sleep 0.01; done`,
        ));
        const early = await waitForOutput(job, "ready");
        assert(/^mount exit [1-9]\d*\n/.test(early), `mount inside the job: ${early}`);
        assertEquals(await hostMounts(), before, "a mount of the sandbox is visible on the host");
        await Deno.writeTextFile(go, "");
        assertEquals((await job.wait()).exitCode, 0);
        assertEquals(await hostMounts(), before, "a mount of the sandbox stayed on the host");
      } finally {
        await runCommand("umount", ["-l", scratch]);
      }
    });
  },
);

rootTest(
  "hostname inside is job-<id prefix>; the job cannot change it, nor the host's",
  async () => {
    await withManager(async ({ manager }) => {
      const hostBefore = Deno.hostname();
      const job = await manager.start(
        sh('hostname; hostname changed-inside 2>/dev/null; echo "exit $?"; hostname'),
      );
      assertEquals((await job.wait()).exitCode, 0);
      const name = `job-${job.id.slice(0, 8)}`;
      const [first, tried, last] = (await outputText(job)).trim().split("\n");
      assertEquals(first, name);
      assert(tried !== "exit 0", "an unprivileged job changed its hostname");
      assertEquals(last, name);
      assertEquals(Deno.hostname(), hostBefore);
      assertEquals((await Deno.readTextFile("/proc/sys/kernel/hostname")).trim(), hostBefore);
    });
  },
);

rootTest("every namespace but the cgroup one differs from the host's", async () => {
  await withManager(async ({ manager }) => {
    const kinds = ["pid", "mnt", "net", "uts", "ipc"];
    const job = await manager.start({
      command: "readlink",
      args: kinds.map((k) => `/proc/self/ns/${k}`),
    });
    assertEquals((await job.wait()).exitCode, 0);
    const inside = (await outputText(job)).trim().split("\n");
    assertEquals(inside.length, kinds.length);
    for (const [i, kind] of kinds.entries()) {
      const host = await Deno.readLink(`/proc/self/ns/${kind}`);
      assert(inside[i] !== host, `${kind} namespace is the host's: ${host}`);
    }
  });
});

rootTest("the job gets only the default environment plus its spec's", async () => {
  await withManager(async ({ manager }) => {
    Deno.env.set("JOBWORKER_TEST_SECRET", "must-not-leak");
    try {
      const job = await manager.start({ command: "env", env: { FOO: "bar" } });
      assertEquals((await job.wait()).exitCode, 0);
      const lines = (await outputText(job)).trim().split("\n").sort();
      assertEquals(lines, [...DEFAULT_ENV_LINES, "FOO=bar"].sort());
    } finally {
      Deno.env.delete("JOBWORKER_TEST_SECRET");
    }
  });
});

rootTest("a command name is looked up in the job's PATH, never the server's", async () => {
  // The spec's (or the default) PATH decides which program runs, as the
  // protocol says ("looked up in env.PATH"). Two programs of the same name:
  // one in a directory only the job's PATH has, a decoy in a directory only
  // the server's (this process's) PATH has.
  await withManager(async ({ manager, scratch }) => {
    const jobBin = join(scratch, "job-bin");
    const serverBin = join(scratch, "server-bin");
    for (const [dir, says] of [[jobBin, "job-path"], [serverBin, "server-path"]]) {
      await Deno.mkdir(dir!);
      await Deno.writeTextFile(join(dir!, "jwprobe"), `#!/bin/sh\necho ${says}\n`);
      await Deno.chmod(join(dir!, "jwprobe"), 0o755);
    }
    const serverPath = Deno.env.get("PATH") ?? "";
    Deno.env.set("PATH", `${serverBin}:${serverPath}`);
    try {
      const job = await manager.start({
        command: "jwprobe",
        env: { PATH: `${jobBin}:/usr/bin:/bin` },
      });
      assertEquals((await job.wait()).exitCode, 0);
      assertEquals(await outputText(job), "job-path\n");
      // With the default PATH, the decoy must not be found at all.
      const error = await manager.start({ command: "jwprobe" }).then(
        (j) => j.wait().then(async () => `it ran: ${await outputText(j)}`),
        (err: Error) => err.message,
      );
      assertStringIncludes(error, "not found");
    } finally {
      Deno.env.set("PATH", serverPath);
    }
  });
});

/** `/proc/<pid>/cgroup` lines by controller ("" for v2's unified line). */
function cgroupsByController(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.trim().split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m === null) continue;
    for (const c of m[1]!.split(",")) map.set(c, m[2]!);
  }
  return map;
}

rootTest("the main process is in the job's cgroups from its first instruction", async () => {
  await withManager(async ({ manager, scratch, cgroupParent }) => {
    // The main process prints its cgroups, then waits. Inside its own cgroup
    // namespace, "/" is the cgroup it was born in, for every controller.
    const go = join(scratch, "go");
    const job = await manager.start(sh(
      `cat /proc/self/cgroup; echo ---; while [ ! -e ${go} ]; do sleep 0.01; done`,
    ));
    const first = cgroupsByController((await waitForOutput(job, "---")).split("---")[0]!);
    const controllers = manager.cgroupVersion === 1 ? ["memory", "cpu", "pids"] : [""];
    for (const c of controllers) {
      assertEquals(first.get(c), "/", `${c || "unified"} cgroup inside: ${first.get(c)}`);
    }
    // From the host, that "/" is the job's own cgroup: the job's processes are there.
    const memoryDir = manager.cgroupVersion === 1
      ? await cgroupDirWith(job, "memory.limit_in_bytes")
      : job.cgroupPaths[0]!;
    const pids = (await readControl(memoryDir, "cgroup.procs")).split("\n").filter((l) => l);
    assertGreater(pids.length, 0, "no process in the job's cgroup");
    for (const pid of pids) {
      const onHost = cgroupsByController(await Deno.readTextFile(`/proc/${pid}/cgroup`));
      for (const c of controllers) {
        const path = onHost.get(c);
        assert(path?.endsWith(`/${cgroupParent}/${job.id}`), `${c} cgroup of ${pid}: ${path}`);
      }
    }
    await Deno.writeTextFile(go, "");
    assertEquals((await job.wait()).exitCode, 0);
  });
});

rootTest("the executor (PID 1) is not in the job's cgroup while the job runs", async () => {
  await withManager(async ({ manager, scratch }) => {
    const go = join(scratch, "go");
    const job = await manager.start(
      sh(`while [ ! -e ${go} ]; do sleep 0.01; done; cat /proc/1/cgroup 2>/dev/null; echo $?`),
    );
    // From the host: the executor is this process's child and in none of the job's cgroups.
    const executors = await childExecutors();
    assertEquals(executors.length, 1, `executors: ${executors}`);
    for (const dir of job.cgroupPaths) {
      const procs = (await readControl(dir, "cgroup.procs")).split("\n").map(Number);
      assert(!procs.includes(executors[0]!), `executor ${executors[0]} is in ${dir}`);
    }
    const memoryDir = manager.cgroupVersion === 1
      ? await cgroupDirWith(job, "memory.limit_in_bytes")
      : job.cgroupPaths[0]!;
    assertGreater((await readControl(memoryDir, "cgroup.procs")).length, 0, "job not in cgroup");
    // It is back exactly where this test process is (the home cgroups).
    assertEquals(
      cgroupsByController(await Deno.readTextFile(`/proc/${executors[0]}/cgroup`)),
      cgroupsByController(await Deno.readTextFile("/proc/self/cgroup")),
    );
    await Deno.writeTextFile(go, "");
    assertEquals((await job.wait()).exitCode, 0);
    // And the job cannot even look: /proc/1 does not exist for it.
    assertEquals((await outputText(job)).trim(), "1");
  });
});
