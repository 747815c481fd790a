/**
 * `deno task serve`: the jobworker server.
 *
 * Flags (all optional):
 *   --addr HOST:PORT       listen address (default 127.0.0.1:50051)
 *   --ca FILE              CA that client certificates must chain to (default certs/ca.pem)
 *   --cert FILE, --key FILE  the server's certificate and key (default certs/server{,-key}.pem)
 *   --dev-certs            with no TLS flags, make development certificates in ./certs
 *                          when they are missing (`deno task serve` passes it)
 *   --data-dir DIR         where job output is kept (default ./data)
 *   --admin CN             a CN that sees and controls all jobs; repeatable (default: admin)
 *   --allow-user CN        when given (repeatable), only these CNs and the admins may call
 *   --cgroup-parent PATH   job cgroups go below this, inside the server's own cgroup
 *                          (default jobworker)
 *   --shutdown-grace SECONDS  grace period for jobs when the server stops (default 10)
 *   --job-uid-range FIRST-LAST  uids (and gids) of jobs' own users (default 61184-65519)
 *   --allow-run-as RANGES  ids a Start may ask for with runAs (default: none)
 *   --admin-run-as RANGES  ids admins may ask for (default: as --allow-run-as)
 *   --allow-root-jobs      runAs may ask for uid/gid 0 where the ranges include it
 *   --mask PATH            hide PATH from every job (repeatable)
 *   --ro-bind SRC[:DST], --bind SRC[:DST]  show a host path in every job (repeatable)
 *   --max-output SIZE      cap on each job's stored output (default 1G)
 *   --min-free SIZE        refuse starts below this free space in the data dir (default 256M)
 *   --max-jobs N, --max-jobs-per-user N, --max-memory SIZE  admission limits
 *   --retain DURATION|COUNT  remove ended jobs older than DURATION / beyond COUNT
 *   --max-timeout DURATION, --default-timeout DURATION  job deadlines (default: none)
 *   --keep-jobs-on-exit    SIGTERM/SIGINT leave jobs running (SIGUSR2 always does)
 *   --pool-size N          executors kept prepared for fast starts (default 2)
 *   --supervise            run the server as a child, restarting it on a crash; SIGUSR2 upgrades
 *   --metrics-addr [HOST:]PORT  Prometheus metrics at /metrics (default off; host 127.0.0.1)
 *   --audit-log FILE       audit log (default DATA_DIR/audit.log); --audit-max-size SIZE
 *
 * With no TLS flags, the certificates in ./certs are used; without
 * --dev-certs none are made, and when they are missing the server exits 1
 * saying how to make them (`deno task certs`, or --dev-certs). At start,
 * jobs recorded in the data directory are recovered:
 * running ones adopted, ended ones listed. SIGTERM or SIGINT: stop
 * accepting calls, stop every job gracefully, remove their cgroups, exit 0.
 * SIGUSR2 (an upgrade): stop accepting calls and exit 0, leaving every job
 * running for the next server to adopt.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { makeCertificates } from "../certs/mod.ts";
import { serverCertPaths, type TlsPaths } from "../certs/paths.ts";
// The executor's entry point, not part of the library's contract: a
// compiled server binary is also the executor (see EXECUTOR_ARG).
import { main as executorMain } from "../executor/main.ts";
import { EXECUTOR_ARG, JobManager } from "../job/mod.ts";
import { DOCTOR_PROBE_ARG, doctorLogLine, runDoctorProbe } from "../doctor/mod.ts";
import { limitOptions } from "./_limit_flags.ts";
import { checkOperationsFlags, startOperations } from "./_operations.ts";
import { sandboxOptions } from "./_sandbox_flags.ts";
import { startServer } from "./server.ts";
import { supervise } from "./supervise.ts";
import { dirname } from "node:path";

const HELP = `Usage: deno task serve [options]

Options:
  --addr HOST:PORT          listen address (default 127.0.0.1:50051)
  --ca FILE                 CA for client certificates (default certs/ca.pem)
  --cert FILE               server certificate (default certs/server.pem)
  --key FILE                server private key (default certs/server-key.pem)
  --dev-certs               with none of --ca, --cert, --key: make development
                            certificates in ./certs when they are missing (CA, server,
                            clients alice, bob, admin); \`deno task serve\` passes it
  --data-dir DIR            job output directory (default ./data)
  --admin CN                a CN that sees all jobs; repeatable (default: admin)
  --allow-user CN           only these CNs (and admins) may call; repeatable (default: any CN
                            with a certificate from the CA)
  --cgroup-parent PATH      cgroup below the server's own for jobs (default jobworker)
  --shutdown-grace SECONDS  grace period for jobs at shutdown (default 10)

Job sandbox (see README, "Security model"):
  --job-uid-range FIRST-LAST  each running job gets a uid/gid of its own from here
                            (default 61184-65519)
  --allow-run-as RANGES     ids (e.g. 1000-1999,3000) a Start may ask for with runAs;
                            repeatable (default: none)
  --admin-run-as RANGES     ids admins may ask for; repeatable (default: as --allow-run-as)
  --allow-root-jobs         let runAs ask for uid or gid 0 (where the ranges include 0):
                            such a job owns every root-owned file it can see
  --mask PATH               hide PATH (empty, unreadable) from every job; repeatable.
                            Always hidden: the data dir, the TLS files' dirs, /root,
                            /home, /run
  --ro-bind SRC[:DST]       show host path SRC at DST (default the same) read-only in
                            every job; repeatable
  --bind SRC[:DST]          the same, writable; repeatable

Limits (see README, "Durability"):
  --max-output SIZE         cap on each job's stored output; beyond it output is
                            discarded and the status says so (default 1G)
  --min-free SIZE           refuse starts (RESOURCE_EXHAUSTED) while the data
                            directory has less free space (default 256M)
  --max-jobs N              most jobs running at once (default: no limit)
  --max-jobs-per-user N     most jobs running at once per user (default: no limit)
  --max-memory SIZE         most the running jobs' memory limits may add up to
  --retain DURATION|COUNT   remove ended jobs (record, output, /work) older than
                            DURATION (7d, 12h) or beyond the newest COUNT; repeatable
                            (default: keep everything)
  --max-timeout DURATION    the longest deadline a Start may ask for (INVALID_ARGUMENT
                            above it; default: no maximum)
  --default-timeout DURATION  the deadline of a job that asks for none (default: none)

Shutdown:
  SIGTERM, SIGINT           stop every job gracefully, then exit
  SIGUSR2                   exit leaving every job running (for an upgrade): the next
                            server on the same data directory adopts them
  --keep-jobs-on-exit       make SIGTERM and SIGINT do the same as SIGUSR2

Supervision:
  --supervise               run the server as a child and restart it when it crashes; SIGUSR2
                            or SIGHUP restarts it in place (an upgrade: jobs keep running);
                            for systemd units on cgroup v2 (see README, "Install as a service")

Speed:
  --pool-size N             executors kept started and prepared, so that a start only
                            hands over the job (default 2; 0 disables; they count
                            against --max-jobs)

Operations (see README, "Operating it"):
  --metrics-addr [HOST:]PORT  serve Prometheus metrics at http://HOST:PORT/metrics
                            (default off; HOST defaults to 127.0.0.1)
  --audit-log FILE          one JSON line per Start, Stop and denied call
                            (default DATA_DIR/audit.log)
  --audit-max-size SIZE     rotate the audit log at this size, keeping 5 old files
                            (default 16M)
  Health (grpc.health.v1) and server reflection are served beside the API, behind the
  same mutual TLS.
  -h, --help                this help
`;

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Where the server's TLS files are unless flags say otherwise. */
const DEV_CERTS_DIR = "certs";
const DEFAULT_TLS: TlsPaths = serverCertPaths(DEV_CERTS_DIR);

/**
 * The server's files in ./certs, with no TLS flags given. Made there first
 * when some are missing and `make` (--dev-certs) is set; never otherwise:
 * a server deployed without its files must fail, not quietly make and
 * trust a CA of its own.
 *
 * @throws {Error} when some are missing and `make` is not set, saying how to make them
 */
async function developmentCertificates(options: { make: boolean }): Promise<TlsPaths> {
  const files = [DEFAULT_TLS.ca, DEFAULT_TLS.cert, DEFAULT_TLS.key];
  const present = await Promise.all(files.map(exists));
  if (present.every(Boolean)) return DEFAULT_TLS;
  if (!options.make) {
    throw new Error(
      `no TLS certificates: ${files.filter((_, i) => !present[i]).join(", ")} missing. ` +
        "Make development certificates with `deno task certs`, start the server with " +
        "--dev-certs to have them made in ./certs, or give --ca, --cert and --key",
    );
  }
  await makeCertificates(DEV_CERTS_DIR);
  console.log(
    `Made development certificates in ./${DEV_CERTS_DIR} (CA, server, clients alice, bob, admin).`,
  );
  return DEFAULT_TLS;
}

function poolSizeOf(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) {
    throw new RangeError(`--pool-size: ${JSON.stringify(text)} is not a whole number`);
  }
  return n;
}

/**
 * This process's own command line without `--supervise`: how the
 * supervisor starts each server (the same `deno run` flags, or the same
 * compiled binary).
 */
function serverCommandLine(): string[] {
  const argv = Deno.readTextFileSync("/proc/self/cmdline").split("\0").slice(0, -1);
  return [Deno.execPath(), ...argv.slice(1).filter((arg) => arg !== "--supervise")];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      addr: { type: "string", default: "127.0.0.1:50051" },
      ca: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      "dev-certs": { type: "boolean", default: false },
      "data-dir": { type: "string", default: "data" },
      admin: { type: "string", multiple: true },
      "allow-user": { type: "string", multiple: true },
      "cgroup-parent": { type: "string", default: "jobworker" },
      "shutdown-grace": { type: "string", default: "10" },
      "job-uid-range": { type: "string" },
      "allow-run-as": { type: "string", multiple: true },
      "admin-run-as": { type: "string", multiple: true },
      "allow-root-jobs": { type: "boolean", default: false },
      mask: { type: "string", multiple: true },
      "ro-bind": { type: "string", multiple: true },
      bind: { type: "string", multiple: true },
      "max-output": { type: "string" },
      "min-free": { type: "string" },
      "max-jobs": { type: "string" },
      "max-jobs-per-user": { type: "string" },
      "max-memory": { type: "string" },
      retain: { type: "string", multiple: true },
      "max-timeout": { type: "string" },
      "default-timeout": { type: "string" },
      "keep-jobs-on-exit": { type: "boolean", default: false },
      "pool-size": { type: "string", default: "2" },
      supervise: { type: "boolean", default: false },
      "metrics-addr": { type: "string" },
      "audit-log": { type: "string" },
      "audit-max-size": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.supervise) {
    return await supervise({
      command: serverCommandLine(),
      cgroupParent: values["cgroup-parent"],
    });
  }
  const grace = Number(values["shutdown-grace"]);
  if (!Number.isFinite(grace) || grace < 0) {
    throw new Error(`--shutdown-grace must be 0 or more seconds, got ${values["shutdown-grace"]}`);
  }

  const tlsFlags = values.ca !== undefined || values.cert !== undefined || values.key !== undefined;
  const tls = tlsFlags
    ? {
      ca: values.ca ?? DEFAULT_TLS.ca,
      cert: values.cert ?? DEFAULT_TLS.cert,
      key: values.key ?? DEFAULT_TLS.key,
    }
    : await developmentCertificates({ make: values["dev-certs"] });

  const sandbox = sandboxOptions({
    uidRange: values["job-uid-range"],
    allowRunAs: values["allow-run-as"],
    adminRunAs: values["admin-run-as"],
    masks: [...(values.mask ?? []), ...[tls.ca, tls.cert, tls.key].map((f) => dirname(f))],
    roBinds: values["ro-bind"],
    binds: values.bind,
  });
  const limits = limitOptions({
    maxOutput: values["max-output"],
    minFree: values["min-free"],
    maxJobs: values["max-jobs"],
    maxJobsPerUser: values["max-jobs-per-user"],
    maxMemory: values["max-memory"],
    retain: values.retain,
    maxTimeout: values["max-timeout"],
    defaultTimeout: values["default-timeout"],
  });
  const operationsFlags = {
    dataDir: values["data-dir"],
    auditLog: values["audit-log"],
    auditMaxSize: values["audit-max-size"],
    metricsAddr: values["metrics-addr"],
  };
  checkOperationsFlags(operationsFlags);
  // One line on what this host can enforce, before anything is trusted to it.
  console.log(
    await doctorLogLine({
      dataDir: values["data-dir"],
      ...(sandbox.manager.jobUidRange === undefined
        ? {}
        : { jobUidRange: sandbox.manager.jobUidRange }),
      ...(limits.minFreeBytes === undefined ? {} : { minFreeBytes: limits.minFreeBytes }),
    }),
  );
  const manager = await JobManager.create({
    dataDir: values["data-dir"],
    cgroupParent: values["cgroup-parent"],
    allowRootJobs: values["allow-root-jobs"],
    ...sandbox.manager,
    ...limits,
    poolSize: poolSizeOf(values["pool-size"]),
    log: (message) => console.log(`jobworker: ${message}`),
  });
  const admins = new Set(values.admin ?? ["admin"]);
  const allowed = values["allow-user"];
  const policy = {
    admins,
    ...(allowed === undefined ? {} : { allowedUsers: new Set(allowed) }),
    ...(sandbox.adminRunAs === undefined ? {} : { adminRunAs: sandbox.adminRunAs }),
  };
  let server;
  let operations;
  try {
    operations = await startOperations(manager, operationsFlags);
    server = await startServer({
      address: values.addr,
      tls,
      manager,
      policy,
      observer: operations.observer,
    });
  } catch (err) {
    await operations?.close();
    // Jobs it adopted are not this failure's to end: the next server adopts them again.
    await manager.close({ keepJobs: true });
    throw err;
  }
  const host = values.addr.slice(0, values.addr.lastIndexOf(":"));
  console.log(
    `jobworker listening on ${host}:${server.port} (cgroup v${manager.cgroupVersion}, ` +
      `admins: ${[...admins].join(", ") || "none"}, data in ${values["data-dir"]})`,
  );
  console.log(
    `jobworker: audit log ${operations.auditPath}` +
      (operations.metricsAddr === null
        ? ""
        : `, metrics at http://${operations.metricsAddr}/metrics`),
  );

  const stopping = Promise.withResolvers<Deno.Signal>();
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT", "SIGUSR2"];
  const listeners = signals.map((name) => [name, () => stopping.resolve(name)] as const);
  for (const [name, listener] of listeners) Deno.addSignalListener(name, listener);
  const signal = await stopping.promise;
  for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
  // Health says NOT_SERVING from here on, and Start is refused, while the
  // rest is still answered.
  server.drain();
  if (signal === "SIGUSR2" || values["keep-jobs-on-exit"]) {
    console.log(`${signal}: shutting down, leaving every job running for the next server`);
    // Followers are cut off; they resume from their offset against the next server.
    await server.close({ timeoutMs: 1000 });
    await manager.close({ keepJobs: true });
  } else {
    console.log(`${signal}: stopping every job (grace ${grace} s) and shutting down`);
    // Jobs end first, so that following streams complete with OK and Status
    // shows the final state, then the server stops answering.
    await manager.close({ graceMs: grace * 1000 });
    await server.close({ timeoutMs: 5000 });
  }
  await operations.close();
  console.log("jobworker stopped");
  return 0;
}

if (import.meta.main && Deno.args[0] === EXECUTOR_ARG) {
  // A compiled server binary is also the executor (see defaultExecutorCommand).
  await executorMain();
} else if (import.meta.main && Deno.args[0] === DOCTOR_PROBE_ARG) {
  // ...and the doctor's probe child (see defaultProbeCommand).
  Deno.exit(await runDoctorProbe(Deno.args.slice(1)));
} else if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (err) {
    console.error(`jobworker: ${err instanceof Error ? err.message : String(err)}`);
    Deno.exit(1);
  }
}
