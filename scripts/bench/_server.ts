/**
 * A real jobworker server process for the benchmark's gRPC sections: its
 * own temporary directory (data, development certificates), a free port, a
 * cgroup parent of its own, and a clean shutdown.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { JobWorkerClient } from "../../src/api/client.ts";
import { certPathsFor, makeCertificates, serverCertPaths } from "../../src/certs/mod.ts";
import { clientConnection } from "../../src/api/tls.ts";
import { onInterrupt } from "./_common.ts";

const SERVER_MAIN = fileURLToPath(new URL("../../src/server/main.ts", import.meta.url));

/** A running bench server. */
export interface BenchServer {
  addr: string;
  pid: number;
  root: string;
  dataDir: string;
  certsDir: string;
  /** The server's --cgroup-parent. */
  cgroupParent: string;
  /** A client as `user` (closed by stop()). */
  client(user?: string): Promise<JobWorkerClient>;
  /** SIGTERM (jobs stopped), wait, remove the directory. */
  stop(): Promise<void>;
}

/** Starts a server with `extra` flags. */
export async function startBenchServer(extra: string[] = []): Promise<BenchServer> {
  const root = await Deno.makeTempDir({ prefix: "jobworker-bench-server-" });
  const certsDir = join(root, "certs");
  const dataDir = join(root, "data");
  await makeCertificates(certsDir, { clients: ["alice", "admin"] });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const addr = `127.0.0.1:${port}`;
  const paths = serverCertPaths(certsDir);
  const cgroupParent = `jobworker-bench-${crypto.randomUUID().slice(0, 8)}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--quiet",
      SERVER_MAIN,
      "--addr",
      addr,
      "--data-dir",
      dataDir,
      "--ca",
      paths.ca,
      "--cert",
      paths.cert,
      "--key",
      paths.key,
      "--cgroup-parent",
      cgroupParent,
      "--shutdown-grace",
      "0",
      "--max-output",
      "4G",
      ...extra,
    ],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const decoder = new TextDecoder();
  let banner = "";
  const reader = child.stdout.getReader();
  while (!banner.includes("listening")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the bench server exited: ${banner}`);
    banner += decoder.decode(value);
  }
  // Keep draining its output so it never blocks on a full pipe.
  void (async () => {
    while (!(await reader.read()).done) { /* drained */ }
  })().catch(() => {});
  const clients: JobWorkerClient[] = [];
  let stopping: Promise<void> | null = null;
  const stop = () =>
    stopping ??= (async () => {
      unregister();
      for (const c of clients) c.close();
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.status;
      await Deno.remove(root, { recursive: true }).catch(() => {});
    })();
  const unregister = onInterrupt(stop);
  return {
    addr,
    pid: child.pid,
    root,
    dataDir,
    certsDir,
    cgroupParent,
    async client(user = "alice") {
      const c = new JobWorkerClient(
        addr,
        await clientConnection(certPathsFor(certsDir, user), addr),
      );
      clients.push(c);
      return c;
    },
    stop,
  };
}
