/**
 * `--supervise` (src/server/supervise.ts): the supervisor restarts a
 * crashed server, which adopts the running jobs; SIGUSR2 replaces the
 * server in place while the supervisor and the jobs stay; SIGTERM ends
 * the whole thing; a server that cannot start is not restarted.
 */
import { assert, assertEquals, assertNotEquals, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { serverCertPaths } from "../../src/certs/mod.ts";
import { testCertificates } from "../_support/certs.ts";
import { childrenOf, ownCgroupDirs } from "../_support/proc.ts";
import { findCgroupDirs, rootTest, waitUntil } from "./_fixture.ts";
import {
  exitOf,
  type ProcessContext,
  processesUsing,
  serverWithClient,
  tlsFlags,
  withProcesses,
} from "./_processes.ts";

/** How often `needle` occurs in `text`. */
function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** The one server process below the supervisor. */
async function serverPid(supervisorPid: number): Promise<number> {
  let pids: number[] = [];
  await waitUntil(async () => (pids = await childrenOf(supervisorPid)).length === 1, "a server");
  return pids[0]!;
}

/**
 * On cgroup v2 below the root, the supervisor moves into a leaf of the
 * test's own cgroup that outlives it by design (src/cgroup/leaf.ts); the
 * test removes it.
 */
async function removeSupervisorLeaf(ctx: ProcessContext): Promise<void> {
  for (const dir of await ownCgroupDirs()) {
    await Deno.remove(join(dir, `${ctx.cgroupParent}-supervisor`)).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }
}

function supervisedServer(ctx: ProcessContext) {
  return serverWithClient(ctx, ["--supervise", "--shutdown-grace", "1"]);
}

rootTest(
  "supervise: a crashed server is started again and adopts the job; SIGUSR2 restarts it in place; SIGTERM ends all",
  async () => {
    await withProcesses(async (ctx) => {
      try {
        await supervised(ctx);
      } finally {
        await removeSupervisorLeaf(ctx);
      }
    });
  },
);

async function supervised(ctx: ProcessContext): Promise<void> {
  const { server: supervisor, api, dataDir } = await supervisedServer(ctx);
  const job = await api.start({
    command: "sh",
    args: ["-c", "echo ready; while :; do sleep 0.05; done"],
  });
  const first = await serverPid(supervisor.pid);

  Deno.kill(first, "SIGKILL");
  await supervisor.waitForStdout("starting it again in 1 s");
  await waitUntil(
    () => count(supervisor.stdout, "jobworker listening on ") === 2,
    "the second server",
    20_000,
  );
  const second = await serverPid(supervisor.pid);
  assertNotEquals(second, first);
  assertStringIncludes(supervisor.stdout, `adopted: job ${job.id}`);
  assertEquals((await api.status(job.id)).state, "running");

  supervisor.kill("SIGUSR2");
  await waitUntil(
    () => count(supervisor.stdout, "jobworker listening on ") === 3,
    "the third server",
    20_000,
  );
  assertStringIncludes(supervisor.stdout, "restarting the server in place, jobs keep running");
  const third = await serverPid(supervisor.pid);
  assertNotEquals(third, second);
  // Only the server was replaced: the supervisor is the same process.
  assertEquals((await childrenOf(supervisor.pid)).length, 1);
  assertEquals((await api.status(job.id)).state, "running");
  assertEquals(count(supervisor.stdout, `adopted: job ${job.id}`), 2);

  api.close();
  supervisor.kill("SIGTERM");
  await exitOf(supervisor, 20_000);
  assertEquals(await processesUsing(dataDir), [], "a server or the job remains");
  assertEquals(await findCgroupDirs(ctx.cgroupParent), [], "cgroups remain");
}

rootTest("supervise: a server that cannot start is not restarted", async () => {
  await withProcesses(async (ctx) => {
    const certsDir = join(ctx.root, "certs");
    await testCertificates(certsDir, ["alice"]);
    const paths = serverCertPaths(certsDir);
    const started = performance.now();
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        new URL("../../src/server/main.ts", import.meta.url).pathname,
        "--supervise",
        "--addr",
        "127.0.0.1:0",
        "--cgroup-parent",
        ctx.cgroupParent,
        "--data-dir",
        join(ctx.root, "data"),
        ...tlsFlags({ ...paths, cert: join(certsDir, "missing.pem") }),
      ],
      stdin: "null",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    assertEquals(output.code, 1, `stdout ${stdout}, stderr ${stderr}`);
    assertStringIncludes(stdout, "the server failed to start (exit 1): not restarting");
    assertStringIncludes(stderr, "missing.pem");
    assert(performance.now() - started < 30_000, "it retried");
    await removeSupervisorLeaf(ctx);
  });
});
