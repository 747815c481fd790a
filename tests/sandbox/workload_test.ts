/**
 * Ordinary work still runs unchanged inside the sandbox: shells and
 * coreutils, python3 writing its working directory and /tmp, reading /usr
 * and /etc, TCP on the job's own loopback, and a lot of output.
 */
import { assert, assertEquals, assertGreater, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { KIT_DIR, rootTest, withStage } from "./_fixture.ts";
import { outputText, readAll, sh } from "../job/_fixture.ts";

const hasPython = await Deno.stat("/usr/bin/python3").then(() => true, () => false);
const NO_PYTHON = hasPython ? null : "no /usr/bin/python3 on this host (the VM is busybox only)";

rootTest("a shell pipeline of coreutils runs in /work as the job's own user", async () => {
  await withStage(async ({ manager }) => {
    const job = await manager.start(
      sh('seq 1 1000 | grep 7 | wc -l; pwd; echo "$HOME"; whoami; ls /usr/bin | grep -c .'),
    );
    const status = await job.wait();
    const [count, pwd, home, user, binaries] = (await outputText(job)).trim().split("\n");
    assertEquals(status.exitCode, 0);
    assertEquals(count?.trim(), "271");
    assertEquals([pwd, home], ["/work", "/work"]);
    assertEquals(user, `job-${status.uid}`);
    assertGreater(Number(binaries), 10, "ls /usr/bin lists the host's programs");
  });
});

rootTest("reading /etc and /usr works", async () => {
  await withStage(async ({ manager }) => {
    const host = await Deno.readTextFile("/etc/os-release");
    const job = await manager.start(sh("cat /etc/os-release; test -r /usr/bin/env && echo env-ok"));
    assertEquals((await job.wait()).exitCode, 0);
    assertEquals(await outputText(job), `${host}env-ok\n`);
  });
});

rootTest("python3 writes its working directory and /tmp", async () => {
  await withStage(async ({ manager, dataDir }) => {
    const script = [
      "import os, tempfile",
      "open('result.txt', 'w').write('in work\\n')",
      "with tempfile.NamedTemporaryFile('w', dir='/tmp', delete=False) as f: f.write('x' * 4096)",
      "print(os.getcwd(), open('result.txt').read().strip(), os.path.getsize(f.name))",
    ].join("\n");
    const job = await manager.start({ command: "python3", args: ["-c", script] });
    const status = await job.wait();
    const out = await outputText(job);
    assertEquals(status.exitCode, 0, out);
    assertEquals(out, "/work in work 4096\n");
    // /work is the job's directory on the host, owned by the job's user.
    const work = join(dataDir, "jobs", job.id, "work");
    assertEquals(await Deno.readTextFile(join(work, "result.txt")), "in work\n");
    assertEquals((await Deno.stat(join(work, "result.txt"))).uid, status.uid);
  });
}, { skip: NO_PYTHON });

rootTest("a TCP echo server and client talk over the job's own loopback", async () => {
  await withStage(async ({ manager }) => {
    // A Deno program (the same binary the attack suite binds in) as the workload.
    const program = `
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const served = (async () => {
        const conn = await listener.accept();
        const buf = new Uint8Array(64);
        const n = await conn.read(buf);
        await conn.write(buf.subarray(0, n ?? 0));
        conn.close();
      })();
      const client = await Deno.connect(listener.addr);
      await client.write(new TextEncoder().encode("ping over lo"));
      const reply = new Uint8Array(64);
      const n = await client.read(reply);
      await served;
      console.log("echo:", new TextDecoder().decode(reply.subarray(0, n ?? 0)));`;
    const job = await manager.start({
      command: `${KIT_DIR}/deno`,
      args: ["eval", "--quiet", program],
      env: { DENO_DIR: "/tmp/deno", NO_COLOR: "1" },
    });
    const status = await job.wait();
    const out = await outputText(job);
    assertEquals(status.exitCode, 0, out);
    assertEquals(out, "echo: ping over lo\n");
  });
});

rootTest("a job writes 50 MB of output, byte-exact, and the same file into /work", async () => {
  await withStage(async ({ manager, dataDir }) => {
    const size = 50 * 1000 * 1000;
    const job = await manager.start(sh(`head -c ${size} /dev/urandom | tee /work/copy`));
    const [bytes, status] = await Promise.all([readAll(job), job.wait()]);
    assertEquals(status.exitCode, 0);
    assertEquals(bytes.length, size);
    const copy = await Deno.readFile(join(dataDir, "jobs", job.id, "work", "copy"));
    const digest = async (b: Uint8Array) =>
      new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(b))).join(",");
    assertEquals(await digest(bytes), await digest(copy));
    assertStringIncludes(JSON.stringify(status.usage), "cpuNs");
    assert(status.usage.memoryPeakBytes === null || status.usage.memoryPeakBytes > 0);
  }, { timeoutMs: 120_000 });
});

rootTest("what a job writes to /tmp counts against its memory limit", async () => {
  await withStage(async ({ manager }) => {
    const MiB = 1024 * 1024;
    const limits = { memoryBytes: 64 * MiB };
    // 24 MiB of files in /tmp: the job's memory peak shows them.
    const small = await manager.start(
      sh("head -c 25165824 /dev/zero > /tmp/fill && ls -l /tmp/fill | wc -l", { limits }),
    );
    const smallStatus = await small.wait();
    assertEquals(smallStatus.exitCode, 0, await outputText(small));
    const peak = smallStatus.usage.memoryPeakBytes;
    console.log(`  24 MiB written to /tmp under a 64 MiB limit: memory peak ${peak} bytes`);
    if (peak !== null) assertGreater(peak, 24 * MiB);
    // 96 MiB do not fit: /tmp is capped at the limit and the pages are the job's.
    const big = await manager.start(sh("head -c 100663296 /dev/zero > /tmp/fill", { limits }));
    const bigStatus = await big.wait();
    const out = await outputText(big);
    console.log(
      `  96 MiB to /tmp under 64 MiB: ${out.trim()} [${bigStatus.exitCode ?? bigStatus.signal}]`,
    );
    assert(bigStatus.exitCode !== 0, "96 MiB fit into /tmp under a 64 MiB limit");
  });
});
