/**
 * Prometheus metrics of the server (prom-client), served as the text
 * exposition format at `/metrics` on a listener of their own (plain HTTP,
 * 127.0.0.1 unless told otherwise, off unless `--metrics-addr` is given:
 * the figures name users, so they are not for the world).
 *
 * Counters and histograms are fed by the handlers (through a
 * {@link CallObserver}); the gauges are read at scrape time from the job
 * library, /proc and the data directory's file system.
 *
 * | metric | type | what |
 * | --- | --- | --- |
 * | `jobworker_jobs{state,user}` | gauge | jobs the server holds |
 * | `jobworker_job_starts_total` | counter | jobs started |
 * | `jobworker_job_start_failures_total{reason}` | counter | Starts refused or failed, by status code |
 * | `jobworker_job_start_seconds` | histogram | Start calls, arrival to answer |
 * | `jobworker_job_stops_total` | counter | Stop calls that succeeded |
 * | `jobworker_job_oom_kills_total` | counter | jobs seen killed by the OOM killer |
 * | `jobworker_output_bytes` | gauge | output the held jobs have written |
 * | `jobworker_streamed_bytes_total` | counter | output bytes sent to clients |
 * | `jobworker_streams{kind}` | gauge | open output streams: `following` a running job, or `reading` |
 * | `jobworker_executor_pss_bytes{role}` | gauge | executors' proportional memory: `job` or idle `pool` |
 * | `jobworker_data_dir_free_bytes` | gauge | free space where output is kept |
 * | `jobworker_calls_total{method,code}` | counter | every call, by outcome |
 * | `process_resident_memory_bytes`, `process_cpu_seconds_total`, `process_open_fds` | | the server process |
 *
 * @module
 */
import { status } from "@grpc/grpc-js";
import client from "prom-client";
import type { JobManager } from "../job/mod.ts";
import type { CallObserver } from "./observe.ts";

const CODE_NAMES = new Map<number, string>(
  Object.entries(status)
    .filter((entry): entry is [string, number] => typeof entry[1] === "number")
    .map(([name, code]) => [code, name]),
);

/** Bytes of `key` in /proc/PID/smaps_rollup, or 0 when the process is gone. */
function smapsBytes(pid: number, key: string): number {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
    return Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** The server's metrics: an observer for the handlers and the exposition text. */
export class Metrics {
  /** The registry; every metric of the server is in it. */
  readonly registry: client.Registry = new client.Registry();
  readonly #starts: client.Counter;
  readonly #startFailures: client.Counter<"reason">;
  readonly #startSeconds: client.Histogram;
  readonly #stops: client.Counter;
  readonly #streamed: client.Counter;
  readonly #calls: client.Counter<"method" | "code">;
  readonly #streams = { following: 0, reading: 0 };
  /** Ids of jobs seen OOM-killed: the counter must not fall when retention removes them. */
  readonly #oomKilled = new Set<string>();

  /** Metrics of `manager`'s jobs. */
  constructor(manager: JobManager) {
    const registers = [this.registry];
    this.#starts = new client.Counter({
      name: "jobworker_job_starts_total",
      help: "Jobs started.",
      registers,
    });
    this.#startFailures = new client.Counter({
      name: "jobworker_job_start_failures_total",
      help: "Start calls that failed, by gRPC status code.",
      labelNames: ["reason"],
      registers,
    });
    this.#startSeconds = new client.Histogram({
      name: "jobworker_job_start_seconds",
      help: "Start calls from arrival to answer.",
      buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers,
    });
    this.#stops = new client.Counter({
      name: "jobworker_job_stops_total",
      help: "Stop calls that succeeded.",
      registers,
    });
    this.#streamed = new client.Counter({
      name: "jobworker_streamed_bytes_total",
      help: "Output bytes sent to clients.",
      registers,
    });
    this.#calls = new client.Counter({
      name: "jobworker_calls_total",
      help: "Calls, by method and gRPC status code.",
      labelNames: ["method", "code"],
      registers,
    });
    const streams = this.#streams;
    new client.Gauge({
      name: "jobworker_streams",
      help: "Open output streams: following a running job, or reading what is there.",
      labelNames: ["kind"],
      registers,
      collect() {
        this.set({ kind: "following" }, streams.following);
        this.set({ kind: "reading" }, streams.reading);
      },
    });
    const oomKilled = this.#oomKilled;
    // One pass over the jobs' statuses per scrape feeds the gauges below.
    let pass: Promise<Awaited<ReturnType<typeof statuses>>> | null = null;
    const statuses = () =>
      Promise.all(manager.list().map(async (job) => ({ job, status: await job.status() })));
    const scrape = () => pass ??= statuses().finally(() => setTimeout(() => pass = null, 0));
    new client.Gauge({
      name: "jobworker_jobs",
      help: "Jobs the server holds, by state and owner.",
      labelNames: ["state", "user"],
      registers,
      async collect() {
        this.reset();
        for (const { status } of await scrape()) {
          this.inc({ state: status.state, user: status.owner });
        }
      },
    });
    new client.Counter({
      name: "jobworker_job_oom_kills_total",
      help: "Jobs seen killed (in part) by the kernel's OOM killer.",
      registers,
      async collect() {
        for (const { status } of await scrape()) if (status.oomKilled) oomKilled.add(status.id);
        this.reset();
        this.inc(oomKilled.size);
      },
    });
    new client.Gauge({
      name: "jobworker_output_bytes",
      help: "Output bytes the jobs the server holds have written.",
      registers,
      async collect() {
        let bytes = 0;
        for (const { status } of await scrape()) bytes += status.output.bytes ?? 0;
        this.set(bytes);
      },
    });
    new client.Gauge({
      name: "jobworker_executor_pss_bytes",
      help: "Proportional set size of the executors: of running jobs, and idle in the pool.",
      labelNames: ["role"],
      registers,
      collect() {
        let jobs = 0;
        for (const job of manager.list()) {
          const pid = job.executorPid;
          if (pid !== null) jobs += smapsBytes(pid, "Pss");
        }
        let pool = 0;
        for (const pid of manager.poolPids()) pool += smapsBytes(pid, "Pss");
        this.set({ role: "job" }, jobs);
        this.set({ role: "pool" }, pool);
      },
    });
    new client.Gauge({
      name: "jobworker_data_dir_free_bytes",
      help: "Free bytes in the file system of the data directory.",
      registers,
      collect() {
        this.set(manager.freeBytes());
      },
    });
    new client.Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory of the server process.",
      registers,
      collect() {
        this.set(Deno.memoryUsage().rss);
      },
    });
    new client.Counter({
      name: "process_cpu_seconds_total",
      help: "CPU time of the server process (user and system).",
      registers,
      collect() {
        const stat = Deno.readTextFileSync("/proc/self/stat");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        this.reset();
        this.inc((Number(fields[11]) + Number(fields[12])) / 100);
      },
    });
    new client.Gauge({
      name: "process_open_fds",
      help: "Open file descriptors of the server process.",
      registers,
      collect() {
        this.set([...Deno.readDirSync("/proc/self/fd")].length);
      },
    });
  }

  /** An observer that feeds the counters, histogram and stream gauges. */
  observer(): CallObserver {
    return {
      callEnded: (record) => {
        const code = CODE_NAMES.get(record.code) ?? String(record.code);
        this.#calls.inc({ method: record.method, code });
        if (record.method === "Start") {
          this.#startSeconds.observe(record.durationMs / 1000);
          if (record.code === status.OK) this.#starts.inc();
          else this.#startFailures.inc({ reason: code });
        }
        if (record.method === "Stop" && record.code === status.OK) this.#stops.inc();
      },
      streamBegan: ({ following }) => {
        const kind = following ? "following" : "reading";
        this.#streams[kind]++;
        let open = true;
        return {
          sent: (bytes) => this.#streamed.inc(bytes),
          ended: () => {
            if (!open) return;
            open = false;
            this.#streams[kind]--;
          },
        };
      },
    };
  }

  /** The exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** A running metrics listener. */
export interface MetricsListener {
  /** The address it listens on, `host:port`. */
  readonly addr: string;
  /** Stops listening. */
  close(): Promise<void>;
}

/**
 * Parses `[HOST:]PORT` (IPv6 hosts in brackets); the host defaults to
 * 127.0.0.1.
 *
 * @throws {RangeError} naming the flag when it is not such an address.
 */
export function parseMetricsAddr(text: string): { hostname: string; port: number } {
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[^:\[\]]+):)?(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (match === null || port > 65535) {
    throw new RangeError(`--metrics-addr: ${JSON.stringify(text)} is not [HOST:]PORT`);
  }
  const host = match[1] ?? "127.0.0.1";
  return { hostname: host.replace(/^\[|\]$/g, ""), port };
}

/**
 * Serves `metrics` at `http://HOST:PORT/metrics` (anything else: 404);
 * resolves once listening.
 *
 * @throws when the address cannot be listened on (e.g. AddrInUse).
 */
export async function serveMetrics(
  metrics: Metrics,
  address: { hostname: string; port: number },
): Promise<MetricsListener> {
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: address.hostname,
    port: address.port,
    onListen: (addr) => listening.resolve(addr as Deno.NetAddr),
  }, async (request) => {
    if (new URL(request.url).pathname !== "/metrics") {
      return new Response("not found\n", { status: 404 });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    return new Response(await metrics.text(), {
      headers: { "content-type": metrics.registry.contentType },
    });
  });
  const bound = await listening.promise;
  const host = bound.hostname.includes(":") ? `[${bound.hostname}]` : bound.hostname;
  return {
    addr: `${host}:${bound.port}`,
    async close() {
      await server.shutdown();
    },
  };
}
