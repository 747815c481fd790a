/**
 * The server program (src/server/main.ts) as a process of its own, for the
 * tests that start, signal, kill and restart it: {@linkcode withProcesses}
 * and what runs inside it. Teardown also finds what a killed server left
 * running (executors outlive their server by design) through the files
 * they hold open below the test's directory, and kills it.
 *
 * @module
 */
import { assertEquals, assertMatch } from "@std/assert";
import { join } from "node:path";
import { JobWorkerClient } from "../../src/api/client.ts";
import { certPathsFor, serverCertPaths, type TlsPaths } from "../../src/certs/mod.ts";
import { testCertificates } from "../_support/certs.ts";
import { clientConnection } from "../../src/api/tls.ts";
import {
  newTestCgroupParent,
  removeCgroupTree,
  type TestCgroupParent,
  throwFirst,
} from "../_support/host.ts";
import { childrenOf, processesUsing } from "../_support/proc.ts";
import { freePort, SERVER_MAIN, tlsFlags, WatchedProcess, withTimeout } from "./_fixture.ts";

export { processesUsing } from "../_support/proc.ts";
export { tlsFlags } from "./_fixture.ts";

/** What a server-process test works with; everything is removed afterwards. */
export interface ProcessContext extends TestCgroupParent {
  /** The temporary root directory of this test (removed afterwards). */
  root: string;
  /** Registers a process to stop at teardown (server: its children are killed too). */
  track(proc: WatchedProcess, options?: { server?: boolean }): WatchedProcess;
  /** Registers a client to close at teardown. */
  trackClient(client: JobWorkerClient): JobWorkerClient;
}

/**
 * Runs `fn`; then ALWAYS closes clients, SIGKILLs processes still running
 * (and a server's executors, also orphaned ones), kills and removes
 * whatever cgroups are left (which fails the test), and removes the temp dir.
 */
export async function withProcesses(fn: (ctx: ProcessContext) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "jobworker-test-server-" });
  const { cgroupParent, parentDirs } = await newTestCgroupParent();
  await Deno.writeTextFile(join(root, "cgroup-parent"), `${cgroupParent}\n`);
  const procs: Array<{ proc: WatchedProcess; server: boolean }> = [];
  const clients: JobWorkerClient[] = [];
  const errors: unknown[] = [];
  try {
    await withTimeout(
      fn({
        root,
        cgroupParent,
        parentDirs,
        track: (
          proc,
          options = {},
        ) => (procs.push({ proc, server: options.server ?? false }), proc),
        trackClient: (client) => (clients.push(client), client),
      }),
      60_000,
      "test body",
    );
  } catch (err) {
    errors.push(err);
  }
  for (const client of clients) {
    try {
      client.close();
    } catch (err) {
      errors.push(err);
    }
  }
  for (const { proc, server } of procs.reverse()) {
    const children = server ? await childrenOf(proc.pid) : [];
    await proc.stop();
    for (const pid of children) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone.
      }
    }
  }
  // Executors outlive a killed server on purpose: whatever still holds files
  // of this test's data directory is one of them (or a job's), and goes now.
  const survivors = await processesUsing(root);
  for (const pid of survivors) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Gone.
    }
  }
  const left = await removeCgroupTree(parentDirs);
  if (left.length > 0) errors.push(new Error(`cgroups left behind: ${left.join(", ")}`));
  try {
    await Deno.remove(root, { recursive: true });
  } catch (err) {
    errors.push(err);
  }
  throwFirst(errors);
}

/** Starts src/server/main.ts with `args` and waits for its "listening" line. */
export async function startServerProcess(
  ctx: ProcessContext,
  args: string[],
  options: { cwd?: string } = {},
): Promise<{ server: WatchedProcess; addr: string; banner: string }> {
  const port = freePort();
  const addr = `127.0.0.1:${port}`;
  const server = ctx.track(
    new WatchedProcess([
      SERVER_MAIN,
      "--addr",
      addr,
      "--cgroup-parent",
      ctx.cgroupParent,
      ...args,
    ], options),
    { server: true },
  );
  const banner = await server.waitForStdout("listening");
  assertMatch(
    banner,
    new RegExp(
      `^jobworker listening on 127\\.0\\.0\\.1:${port} \\(cgroup v[12], admins: admin,`,
      "m",
    ),
  );
  return { server, addr, banner };
}

/**
 * A server process on the test's data directory (`<root>/data`) with the
 * test's certificates (`<root>/certs`, made on first use for alice) and
 * `args`, and a client of it as alice.
 */
export async function serverWithClient(ctx: ProcessContext, args: string[] = []) {
  const certsDir = join(ctx.root, "certs");
  if (!(await Deno.stat(certsDir).then(() => true, () => false))) {
    await testCertificates(certsDir, ["alice"]);
  }
  const dataDir = join(ctx.root, "data");
  const started = await startServerProcess(ctx, [
    "--data-dir",
    dataDir,
    ...tlsFlags(serverCertPaths(certsDir)),
    ...args,
  ]);
  const api = await client(ctx, certPathsFor(certsDir, "alice"), started.addr);
  return { ...started, api, dataDir };
}

/** An API client for `addr` with the TLS files `tls` (closed at teardown). */
export async function client(
  ctx: ProcessContext,
  tls: TlsPaths,
  addr: string,
): Promise<JobWorkerClient> {
  return ctx.trackClient(new JobWorkerClient(addr, await clientConnection(tls, addr)));
}

/** The server process's exit, with its output in the failure message. */
export async function exitOf(
  server: WatchedProcess,
  timeoutMs: number,
): Promise<Deno.CommandStatus> {
  const status = await withTimeout(server.status, timeoutMs, "the server's exit");
  assertEquals(
    status.code,
    0,
    `server exit ${status.code} (signal ${status.signal}); stdout ${
      JSON.stringify(server.stdout)
    }, stderr ${JSON.stringify(server.stderr)}`,
  );
  return status;
}

/** First chunk of a job's output (waits for it). */
export async function firstOutput(api: JobWorkerClient, id: string): Promise<string> {
  for await (const chunk of api.streamOutput(id)) return new TextDecoder().decode(chunk.data);
  return "";
}
