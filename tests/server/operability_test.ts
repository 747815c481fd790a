/**
 * The server as operators' tools see it, each through a real server
 * process: health and reflection answer an independent gRPC client
 * (Debian's python3-grpcio, raw bytes) behind the same mutual TLS, health
 * turns NOT_SERVING while the server stops its jobs; the Prometheus
 * figures move with real jobs; the audit log has one line per Start, Stop
 * and denied call and never an argument or environment value.
 */
import {
  assert,
  assertEquals,
  assertGreater,
  assertMatch,
  assertStringIncludes,
} from "@std/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { status } from "@grpc/grpc-js";
import { ApiError } from "../../src/api/client.ts";
import { certPathsFor, makeCertificates, serverCertPaths } from "../../src/certs/mod.ts";
import {
  decoder,
  freePort,
  rootTest,
  sleep,
  succeeds,
  waitEnded,
  waitUntil,
  WatchedProcess,
  withTimeout,
} from "./_fixture.ts";
import {
  client,
  exitOf,
  type ProcessContext,
  startServerProcess,
  tlsFlags,
  withProcesses,
} from "./_processes.ts";

const PROBE = fileURLToPath(new URL("./_grpc_probe.py", import.meta.url));
const PYTHON = "/usr/bin/python3";

const hasGrpcio = await succeeds(PYTHON, ["-c", "import grpc"]);
const NO_GRPCIO = hasGrpcio
  ? null
  : "needs Debian's python3-grpcio (apt-get install python3-grpcio)";

/** Runs the probe; its JSON answer. */
async function probe(args: string[]): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(PYTHON, {
    args: [PROBE, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = decoder.decode(out.stdout).trim();
  assert(out.success && text !== "", `probe ${args[0]} failed: ${decoder.decode(out.stderr)}`);
  return JSON.parse(text.split("\n").at(-1)!);
}

async function serverWith(ctx: ProcessContext, extra: string[]) {
  const certsDir = join(ctx.root, "certs");
  await makeCertificates(certsDir, { clients: ["alice", "bob", "carol", "admin"] });
  const dataDir = join(ctx.root, "data");
  const started = await startServerProcess(ctx, [
    "--data-dir",
    dataDir,
    ...tlsFlags(serverCertPaths(certsDir)),
    "--pool-size",
    "0",
    ...extra,
  ]);
  const as = async (user: string) => await client(ctx, certPathsFor(certsDir, user), started.addr);
  return { ...started, certsDir, dataDir, as };
}

rootTest(
  "health and reflection answer an independent client behind mutual TLS; NOT_SERVING while stopping",
  async () => {
    await withProcesses(async (ctx) => {
      const { server, addr, certsDir, as } = await serverWith(ctx, ["--shutdown-grace", "3"]);
      const ask = (mode: string, user: string, arg: string) =>
        probe([mode, addr, certsDir, user, arg]);
      assertEquals(await ask("check", "alice", ""), { status: "SERVING" });
      assertEquals(await ask("check", "alice", "jobworker.v1.JobWorker"), { status: "SERVING" });
      assertEquals((await ask("check", "alice", "no.such.Service")).code, "NOT_FOUND");
      for (const version of ["v1", "v1alpha"]) {
        const { services } = await ask("services", "alice", version) as { services: string[] };
        assert(services.includes("jobworker.v1.JobWorker"), `${version}: ${services}`);
        assert(services.includes("grpc.health.v1.Health"), `${version}: ${services}`);
      }
      // The descriptor a tool needs to call the API: every message, the new follow field too.
      const described = await ask("symbol", "alice", "jobworker.v1.JobWorker") as {
        files: string[];
        text: string;
      };
      assert(described.files.length >= 1, JSON.stringify(described.files));
      for (const name of ["StreamOutputRequest", "follow", "StartRequest", "JobStatus"]) {
        assertStringIncludes(described.text, name);
      }
      // Without a client certificate nothing answers, health included.
      const anonymous = await ask("check", "-", "");
      assertEquals(anonymous.code, "UNAVAILABLE", JSON.stringify(anonymous));

      // Shutting down: a job that ignores SIGTERM keeps the server in its grace period.
      const alice = await as("alice");
      const { id } = await alice.start({ command: "sh", args: ["-c", 'trap "" TERM; sleep 60'] });
      const watch = new Deno.Command(PYTHON, {
        args: [PROBE, "watch", addr, certsDir, "alice", "2"],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const watched = watch.output();
      await sleep(500);
      server.kill("SIGTERM");
      await server.waitForStdout("stopping every job");
      assertEquals(await ask("check", "alice", ""), { status: "NOT_SERVING" });
      const refused = await alice.start({ command: "true" }).then(() => null, (e: unknown) => e);
      assert(refused instanceof ApiError, `Start while stopping: ${refused}`);
      assertEquals(refused.code, status.UNAVAILABLE);
      assertStringIncludes(refused.message, "shutting down");
      // Other calls are still answered while the jobs stop.
      assertEquals((await alice.status(id)).state, "running");
      const lines = decoder.decode((await withTimeout(watched, 15_000, "the health watch")).stdout)
        .trim().split("\n").map((l) => JSON.parse(l).status);
      assertEquals(lines, ["SERVING", "NOT_SERVING"]);
      assertEquals((await exitOf(server, 15_000)).code, 0);
    });
  },
  { skip: NO_GRPCIO },
);

/** Every sample of the exposition text, `name{labels}` → value. */
async function scrape(addr: string): Promise<Map<string, number>> {
  const response = await fetch(`http://${addr}/metrics`);
  assertEquals(response.status, 200);
  assertMatch(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

const value = (samples: Map<string, number>, key: string) => samples.get(key) ?? 0;

rootTest("metrics: the Prometheus figures move with real jobs", async () => {
  await withProcesses(async (ctx) => {
    const port = freePort();
    const { as, server } = await serverWith(ctx, ["--metrics-addr", String(port)]);
    await server.waitForStdout(`metrics at http://127.0.0.1:${port}/metrics`);
    const metricsAddr = `127.0.0.1:${port}`;
    const before = await scrape(metricsAddr);
    assertEquals(value(before, "jobworker_job_starts_total"), 0);
    assertGreater(value(before, "jobworker_data_dir_free_bytes"), 0);
    assertGreater(value(before, "process_resident_memory_bytes"), 0);

    const alice = await as("alice");
    const bob = await as("bob");
    const done = await alice.start({ command: "sh", args: ["-c", "head -c 100000 /dev/zero"] });
    await waitEnded(alice, done.id);
    const hog = await alice.start({
      command: "dd",
      args: ["if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"],
      limits: { memoryBytes: 32 * 1024 * 1024 },
    });
    await waitEnded(alice, hog.id);
    assert((await alice.status(hog.id)).oomKilled, "the hog was OOM-killed");
    const running = await bob.start({ command: "sleep", args: ["60"] });
    const failed = await alice.start({ command: "no-such-command-here" }).catch((e) => e);
    assert(failed instanceof ApiError, "a start that fails");
    // A follower of the running job while we scrape.
    const follower = new AbortController();
    const following = (async () => {
      for await (
        const _ of bob.streamOutput(running.id, { signal: follower.signal })
      ) { /* nothing */ }
    })();
    let bytes = 0;
    for await (const chunk of alice.streamOutput(done.id)) bytes += chunk.data.length;
    assertEquals(bytes, 100_000);

    let during = new Map<string, number>();
    await waitUntil(async () => {
      during = await scrape(metricsAddr);
      return value(during, 'jobworker_streams{kind="following"}') === 1;
    }, "the follower counted");
    assertEquals(value(during, "jobworker_job_starts_total"), 3);
    assertEquals(value(during, "jobworker_job_oom_kills_total"), 1);
    assertEquals(
      value(during, `jobworker_job_start_failures_total{reason="${status[failed.code]}"}`),
      1,
    );
    assertEquals(value(during, "jobworker_job_start_seconds_count"), 4);
    assertEquals(value(during, 'jobworker_jobs{state="exited",user="alice"}'), 2);
    assertEquals(value(during, 'jobworker_jobs{state="running",user="bob"}'), 1);
    assert(value(during, "jobworker_streamed_bytes_total") >= 100_000);
    assert(value(during, "jobworker_output_bytes") >= 100_000);
    assertGreater(value(during, 'jobworker_executor_pss_bytes{role="job"}'), 1_000_000);
    assertEquals(value(during, 'jobworker_calls_total{method="Start",code="OK"}'), 3);

    await bob.stop(running.id, { graceSeconds: 1 });
    follower.abort();
    await following;
    const after = await scrape(metricsAddr);
    assertEquals(value(after, "jobworker_job_stops_total"), 1);
    assertEquals(value(after, 'jobworker_jobs{state="stopped",user="bob"}'), 1);
    assertEquals(value(after, 'jobworker_jobs{state="running",user="bob"}'), 0);
    assertEquals(value(after, 'jobworker_executor_pss_bytes{role="job"}'), 0);
    await waitUntil(async () => {
      const s = await scrape(metricsAddr);
      return value(s, 'jobworker_streams{kind="following"}') === 0;
    }, "the follower gone");
    const notFound = await fetch(`http://${metricsAddr}/other`);
    assertEquals(notFound.status, 404);
    await notFound.body?.cancel();
    server.kill("SIGTERM");
    assertEquals((await exitOf(server, 15_000)).code, 0);
    const gone = await fetch(`http://${metricsAddr}/metrics`).then(
      () => "answered",
      () => "refused",
    );
    assertEquals(gone, "refused", "the metrics listener closes with the server");
  });
});

rootTest(
  "metrics: a bad --metrics-addr stops the server before it starts, naming the flag",
  async () => {
    await withProcesses(async (ctx) => {
      const certsDir = join(ctx.root, "certs");
      await makeCertificates(certsDir, { clients: [] });
      const proc = ctx.track(
        new WatchedProcess([
          fileURLToPath(new URL("../../src/server/main.ts", import.meta.url)),
          "--data-dir",
          join(ctx.root, "data"),
          ...tlsFlags(serverCertPaths(certsDir)),
          "--cgroup-parent",
          ctx.cgroupParent,
          "--metrics-addr",
          "localhost:99999",
        ]),
        { server: true },
      );
      assertEquals((await withTimeout(proc.status, 15_000, "the server's exit")).code, 1);
      assertStringIncludes(proc.stderr, '--metrics-addr: "localhost:99999" is not [HOST:]PORT');
      const dataExists = await Deno.stat(join(ctx.root, "data")).then(() => true, () => false);
      assertEquals(dataExists, false, "nothing was created");
    });
  },
);

rootTest(
  "audit log: a line per Start, Stop and denied call, never arguments or environment values",
  async () => {
    await withProcesses(async (ctx) => {
      const { as, dataDir, server } = await serverWith(ctx, [
        "--allow-user",
        "alice",
        "--allow-user",
        "bob",
      ]);
      const alice = await as("alice");
      const bob = await as("bob");
      const carol = await as("carol");
      const { id } = await alice.start({
        command: "sh",
        args: ["-c", "echo topsecret-arg; sleep 60"],
        env: { TOKEN: "hunter2-value" },
      });
      await alice.status(id); // a read: not audited
      const hidden = await bob.stop(id).catch((e: unknown) => e);
      assert(hidden instanceof ApiError && hidden.code === status.NOT_FOUND, `${hidden}`);
      const outsider = await carol.list().catch((e: unknown) => e);
      assert(
        outsider instanceof ApiError && outsider.code === status.PERMISSION_DENIED,
        `${outsider}`,
      );
      const bad = await alice.start({ command: "" }).catch((e: unknown) => e);
      assert(bad instanceof ApiError && bad.code === status.INVALID_ARGUMENT, `${bad}`);
      await alice.stop(id, { graceSeconds: 0 });

      const path = join(dataDir, "audit.log");
      assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
      const text = await Deno.readTextFile(path);
      for (const secret of ["topsecret-arg", "hunter2-value", "TOKEN"]) {
        assert(!text.includes(secret), `the audit log holds ${secret}`);
      }
      const lines = text.trim().split("\n").map((line) => JSON.parse(line));
      const summary = lines.map((l) => [l.user, l.method, l.outcome, l.code]);
      assertEquals(summary, [
        ["alice", "Start", "ok", "OK"],
        ["bob", "Stop", "denied", "NOT_FOUND"],
        ["carol", "List", "denied", "PERMISSION_DENIED"],
        ["alice", "Start", "failed", "INVALID_ARGUMENT"],
        ["alice", "Stop", "ok", "OK"],
      ]);
      assertEquals(lines[0].job, id);
      assertEquals(lines[0].command, "sh");
      assertEquals(lines[1].job, id);
      assertEquals(lines[2].job, null);
      for (const line of lines) {
        assertMatch(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assertEquals(Object.keys(line).slice(0, 6), [
          "time",
          "user",
          "method",
          "job",
          "outcome",
          "code",
        ]);
      }
      server.kill("SIGTERM");
      assertEquals((await exitOf(server, 15_000)).code, 0);
    });
  },
);
