/**
 * Shared fixture of the server's end-to-end tests: development certificates
 * in a temporary directory, a JobManager on a temporary data directory with a
 * unique cgroup parent, and the real gRPC server (in this process) on
 * 127.0.0.1 with an ephemeral port. Helpers make API clients for a user and
 * run the real CLI as a subprocess.
 *
 * {@linkcode withServer} ALWAYS tears everything down, also when the test
 * body fails or times out: CLI subprocesses still running are killed,
 * clients closed, the server closed, the manager closed with `graceMs: 0`
 * (which stops every job), temp dirs removed; then it checks that no cgroup
 * of the test's parent is left.
 *
 * Every test here needs root (namespaces and cgroups): register them with
 * {@linkcode rootTest}, which ignores them when not root and says why.
 *
 * Helpers the other suites use too live in tests/_support/; this module
 * re-exports those its tests use.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { assertEquals, assertInstanceOf, assertRejects } from "@std/assert";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ApiError, JobWorkerClient } from "../../src/api/client.ts";
import { jobWorkerClientClass } from "../../src/api/proto.ts";
import {
  certPathsFor,
  makeCertificates,
  serverCertPaths,
  type TlsPaths,
} from "../../src/certs/mod.ts";
import { type IdRange, JobManager, type JobManagerOptions } from "../../src/job/mod.ts";
import { type RunningServer, startServer } from "../../src/server/server.ts";
import { clientConnection } from "../../src/api/tls.ts";
import { sleep, waitUntil as pollUntil, withTimeout } from "../_support/async.ts";
import { concat, decoder, readChunks } from "../_support/bytes.ts";
import { endTeardown, newTestCgroupParent, type TestCgroupParent } from "../_support/host.ts";

export { sleep, withTimeout } from "../_support/async.ts";
export { concat, decoder } from "../_support/bytes.ts";
export { runCommand, succeeds, which } from "../_support/commands.ts";
export { exists, listDir } from "../_support/fs.ts";
export { rootTest } from "../_support/host.ts";
export { fdsInto } from "../_support/proc.ts";

/** Absolute path of the CLI under test. */
export const CLI_MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
/** Absolute path of the server under test. */
export const SERVER_MAIN = fileURLToPath(new URL("../../src/server/main.ts", import.meta.url));

/** A job id as the server makes them (a UUID, lower case). */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What a CLI run produced. */
export interface CliResult {
  code: number;
  stdout: Uint8Array;
  /** stdout decoded as UTF-8. */
  out: string;
  stderr: string;
}

/** A CLI subprocess that is still running. */
export interface CliProcess {
  readonly pid: number;
  /** Resolves when the process has exited. */
  readonly result: Promise<CliResult>;
  kill(signal?: Deno.Signal): void;
}

/** What a test body gets from {@linkcode withServer}. */
export interface ServerContext extends TestCgroupParent {
  /** The temporary root directory of this test (removed afterwards). */
  root: string;
  /** Certificates: ca.pem, server.pem, alice.pem, bob.pem, admin.pem and keys. */
  certsDir: string;
  /** The manager's data directory. */
  dataDir: string;
  /** A directory (mode 0777) every job sees at the same path, for files tests and jobs share. */
  scratch: string;
  manager: JobManager;
  server: RunningServer;
  port: number;
  /** `127.0.0.1:<port>`. */
  addr: string;
  /** The TLS files of `user` (CA, `<user>.pem`, `<user>-key.pem`). */
  tlsFor(user: string): TlsPaths;
  /** A new API client presenting `user`'s certificate (closed at teardown). */
  client(user: string): Promise<JobWorkerClient>;
  /** A new API client with explicit files and/or address (closed at teardown). */
  clientWith(files: TlsPaths, addr?: string): Promise<JobWorkerClient>;
  /** Runs the CLI as `user` (by --ca/--cert/--key) and waits for it to exit. */
  cli(user: string, args: string[], options?: CliOptions): Promise<CliResult>;
  /** Starts the CLI as `user` without waiting (killed at teardown if still running). */
  spawnCli(user: string, args: string[], options?: CliOptions): CliProcess;
  /** Registers a cleanup step run at teardown (after clients close, before the server), last first. */
  defer(step: () => unknown): void;
}

/** Options of a CLI run. */
export interface CliOptions {
  /** Use `--user NAME --certs-dir DIR` instead of `--ca/--cert/--key`. */
  byUser?: boolean;
  /** Killed (and the run fails) after this long; default 30 s. */
  timeoutMs?: number;
  /** Piped to the CLI's stdin, which then ends; default: no stdin (/dev/null). */
  stdin?: string | Uint8Array;
}

/** Options of {@linkcode withServer}. */
export interface WithServerOptions {
  /** The body fails (and everything is torn down) after this long. Default 60 s. */
  timeoutMs?: number;
  /** CNs allowed to call at all (the server's --allow-user); default: any. */
  allowedUsers?: readonly string[];
  /** Extra JobManager options (the job sandbox's policy, for instance). */
  manager?: Partial<JobManagerOptions>;
  /** The ids admins may ask for with runAs (the server's --admin-run-as). */
  adminRunAs?: readonly IdRange[];
}

/**
 * Runs `fn` against a fresh server (see the module doc). Teardown always
 * runs; the first error (body or teardown) is rethrown.
 */
export async function withServer(
  fn: (ctx: ServerContext) => Promise<void>,
  options: WithServerOptions = {},
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "jobworker-test-server-" });
  const { cgroupParent, parentDirs } = await newTestCgroupParent();
  const certsDir = join(root, "certs");
  const dataDir = join(root, "data");
  const scratch = join(root, "scratch");
  const clients: JobWorkerClient[] = [];
  const processes = new Set<CliProcess>();
  const deferred: Array<() => unknown> = [];
  let manager: JobManager | undefined;
  let server: RunningServer | undefined;
  const errors: unknown[] = [];
  try {
    // Says which cgroup parent belongs to this directory, should a crash leave both behind.
    await Deno.writeTextFile(join(root, "cgroup-parent"), `${cgroupParent}\n`);
    await makeCertificates(certsDir, { clients: ["alice", "bob", "admin"] });
    await Deno.mkdir(scratch);
    await Deno.chmod(scratch, 0o777); // jobs are users of their own
    manager = await JobManager.create({
      dataDir,
      cgroupParent,
      ...options.manager,
      binds: [
        { source: scratch, target: scratch, readOnly: false },
        ...options.manager?.binds ?? [],
      ],
    });
    server = await startServer({
      address: "127.0.0.1:0",
      tls: serverCertPaths(certsDir),
      manager,
      policy: {
        admins: new Set(["admin"]),
        ...(options.allowedUsers === undefined
          ? {}
          : { allowedUsers: new Set(options.allowedUsers) }),
        ...(options.adminRunAs === undefined ? {} : { adminRunAs: options.adminRunAs }),
      },
      log: (message) => console.log(`[server log] ${message}`),
    });
    const port = server.port;
    const addr = `127.0.0.1:${port}`;
    const tlsFor = (user: string) => certPathsFor(certsDir, user);
    const clientWith = async (files: TlsPaths, address = addr) => {
      const client = new JobWorkerClient(address, await clientConnection(files, address));
      clients.push(client);
      return client;
    };
    const spawnCli = (user: string, args: string[], cliOptions: CliOptions = {}) => {
      const connection = cliOptions.byUser
        ? ["--user", user, "--certs-dir", certsDir]
        : tlsFlags(tlsFor(user));
      const proc = spawnDeno([CLI_MAIN, "--addr", addr, ...connection, ...args], {
        timeoutMs: cliOptions.timeoutMs ?? 30_000,
        cwd: root,
        ...(cliOptions.stdin === undefined ? {} : { stdin: cliOptions.stdin }),
      });
      processes.add(proc);
      proc.result.finally(() => processes.delete(proc)).catch(() => {});
      return proc;
    };
    const ctx: ServerContext = {
      root,
      scratch,
      certsDir,
      dataDir,
      cgroupParent,
      parentDirs,
      manager,
      server,
      port,
      addr,
      tlsFor,
      client: (user) => clientWith(tlsFor(user)),
      clientWith,
      cli: (user, args, cliOptions) => spawnCli(user, args, cliOptions).result,
      spawnCli,
      defer: (step) => deferred.push(step),
    };
    await withTimeout(fn(ctx), options.timeoutMs ?? 60_000, "test body");
  } catch (err) {
    errors.push(err);
  }
  // Teardown runs whatever happened above; the first error wins.
  const step = async (what: () => unknown) => {
    try {
      await what();
    } catch (err) {
      errors.push(err);
    }
  };
  for (const proc of processes) {
    await step(async () => {
      proc.kill("SIGKILL");
      await proc.result.catch(() => {});
    });
  }
  // Clients close before any server: a grpc-js client whose server goes
  // away under it (GOAWAY) can crash Deno's HTTP/2 (see the report), and
  // this process is the test runner.
  for (const client of clients) await step(() => client.close());
  for (const fn of deferred.reverse()) await step(fn);
  await step(() => server?.close({ timeoutMs: 1000 }));
  await step(() => manager?.close({ graceMs: 0 }));
  await step(() => Deno.remove(root, { recursive: true }));
  await endTeardown(errors, parentDirs);
}

/** Options of {@linkcode denoRun}. */
export interface DenoRunOptions {
  /** The working directory (default: this process's). */
  cwd?: string;
  /** More environment variables (NO_COLOR=1 is always set). */
  env?: Record<string, string>;
  /** Written to its stdin, which then ends; default: no stdin (/dev/null). */
  stdin?: string | Uint8Array;
}

/** Starts `deno run --allow-all --quiet <args>` with piped stdout and stderr, and no stdin unless given. */
function denoRun(args: readonly string[], options: DenoRunOptions = {}): Deno.ChildProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: { NO_COLOR: "1", ...(options.env ?? {}) },
  }).spawn();
  if (options.stdin !== undefined) {
    const input = options.stdin;
    const data = typeof input === "string" ? new TextEncoder().encode(input) : input;
    // The process may exit before reading it all (it is killed, or refuses): not this one's error.
    (async () => {
      const writer = child.stdin.getWriter();
      try {
        await writer.write(data);
        await writer.close();
      } catch {
        // Closed by the other end.
      }
    })();
  }
  return child;
}

/**
 * Runs `deno run --allow-all <args>` as a subprocess with piped output. The
 * process is killed with SIGKILL after `timeoutMs` (its result then rejects).
 */
export function spawnDeno(
  args: string[],
  options: { timeoutMs: number } & DenoRunOptions,
): CliProcess {
  const child = denoRun(args, options);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, options.timeoutMs);
  const result = child.output().then((output) => {
    clearTimeout(timer);
    const res = {
      code: output.code,
      stdout: output.stdout,
      out: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
    if (timedOut) {
      throw new Error(
        `deno ${args.join(" ")} did not exit within ${options.timeoutMs} ms; ` +
          `stdout ${JSON.stringify(res.out)}, stderr ${JSON.stringify(res.stderr)}`,
      );
    }
    return res;
  }, (err) => {
    clearTimeout(timer);
    throw err;
  });
  return {
    pid: child.pid,
    result,
    kill(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // Already gone.
      }
    },
  };
}

/**
 * The shared `waitUntil`, but polling every 20 ms unless told otherwise (the
 * job suite polls every 10 ms): this suite's waits were tuned with 20 ms.
 */
export function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5_000,
  stepMs = 20,
): Promise<void> {
  return pollUntil(check, what, timeoutMs, stepMs);
}

/** Every chunk of a job's output from `offset` over the API (follows until the job ends unless `follow: false`). */
export async function streamChunks(
  client: JobWorkerClient,
  id: string,
  options: { offset?: number; follow?: boolean; signal?: AbortSignal } = {},
): Promise<Array<{ offset: number; data: Uint8Array }>> {
  const chunks: Array<{ offset: number; data: Uint8Array }> = [];
  for await (const chunk of client.streamOutput(id, options)) chunks.push(chunk);
  return chunks;
}

/** The whole output from `offset` over the API (follows until the job ends). */
export function streamAll(
  client: JobWorkerClient,
  id: string,
  offset = 0,
): Promise<Uint8Array> {
  return readChunks(client.streamOutput(id, { offset }));
}

/** Polls the job's status until it is no longer running. */
export async function waitEnded(client: JobWorkerClient, id: string, timeoutMs = 10_000) {
  await waitUntil(
    async () => (await client.status(id)).state !== "running",
    `job ${id} ends`,
    timeoutMs,
    30,
  );
  return await client.status(id);
}

/**
 * A raw grpc-js client of the JobWorker service with any credentials (for
 * connections the project's own client would not make). Closed by the caller.
 */
export function rawClient(
  addr: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions = {},
): grpc.Client {
  const Client = jobWorkerClientClass();
  return new Client(addr, credentials, options);
}

/** Calls List on a raw client; resolves with the error (or null on success). */
export function rawList(
  client: grpc.Client,
  deadlineMs = 5000,
): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    (client as unknown as {
      List: (
        req: unknown,
        opts: grpc.CallOptions,
        cb: (err: grpc.ServiceError | null) => void,
      ) => void;
    }).List({}, { deadline: Date.now() + deadlineMs }, (err) => resolve(err));
  });
}

/** Reads a file as a Node Buffer (what grpc-js wants). */
export async function readBuffer(path: string): Promise<Buffer> {
  return Buffer.from(await Deno.readFile(path));
}

/** Every directory below /sys/fs/cgroup whose name is `name` (like `find -name`). */
export async function findCgroupDirs(name: string): Promise<string[]> {
  const out = await new Deno.Command("find", {
    args: ["/sys/fs/cgroup", "-type", "d", "-name", name],
    stdout: "piped",
    stderr: "null",
  }).output();
  return decoder.decode(out.stdout).split("\n").filter((l) => l !== "");
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort(hostname = "127.0.0.1"): number {
  const listener = Deno.listen({ hostname, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A subprocess whose output is read as it comes (for servers and followers). */
export class WatchedProcess {
  readonly #child: Deno.ChildProcess;
  readonly #stdout: Uint8Array[] = [];
  readonly #stderr: Uint8Array[] = [];
  readonly #pumps: Promise<void>[];
  #changed = Promise.withResolvers<void>();
  /** Resolves with the exit status (and after all output was read). */
  readonly status: Promise<Deno.CommandStatus>;

  /** Starts `deno run --allow-all <args>` in `cwd`. */
  constructor(args: string[], options: { cwd?: string } = {}) {
    this.#child = denoRun(args, options);
    this.#pumps = [
      this.#pump(this.#child.stdout, this.#stdout),
      this.#pump(this.#child.stderr, this.#stderr),
    ];
    this.status = Promise.all([this.#child.status, ...this.#pumps]).then(([status]) => status);
  }

  async #pump(stream: ReadableStream<Uint8Array>, into: Uint8Array[]): Promise<void> {
    for await (const chunk of stream) {
      into.push(chunk);
      this.#changed.resolve();
      this.#changed = Promise.withResolvers<void>();
    }
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Everything written to stdout so far. */
  get stdoutBytes(): Uint8Array {
    return concat(this.#stdout);
  }

  get stdout(): string {
    return decoder.decode(this.stdoutBytes);
  }

  get stderr(): string {
    return decoder.decode(concat(this.#stderr));
  }

  /** Waits until stdout contains `needle`; fails if the process exits first or after `timeoutMs`. */
  async waitForStdout(needle: string, timeoutMs = 15_000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    let exited = false;
    this.status.then(() => (exited = true), () => (exited = true));
    while (!this.stdout.includes(needle)) {
      if (exited) {
        throw new Error(
          `exited without printing ${JSON.stringify(needle)}; stdout ${
            JSON.stringify(this.stdout)
          }, stderr ${JSON.stringify(this.stderr)}`,
        );
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(
          `no ${JSON.stringify(needle)} on stdout after ${timeoutMs} ms; stdout ${
            JSON.stringify(this.stdout)
          }, stderr ${JSON.stringify(this.stderr)}`,
        );
      }
      await Promise.race([
        this.#changed.promise,
        this.status.catch(() => {}),
        sleep(Math.min(left, 100)),
      ]);
    }
    return this.stdout;
  }

  /** Sends a signal (ignored when the process has exited). */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  /** Kills it with SIGKILL if it still runs and waits for it; for teardown. */
  async stop(): Promise<void> {
    this.kill("SIGKILL");
    await this.status.catch(() => {});
  }
}

/** What a call with raw request bytes got back. */
export interface RawReply {
  /** The final status code (0: OK). */
  code: number;
  details: string;
  /** The response messages, as bytes (one for unary calls, any number for streams). */
  messages: Uint8Array[];
}

/** The JobWorker methods with their streaming kind, for {@linkcode RawCaller}. */
export const METHODS = {
  Start: false,
  Stop: false,
  Status: false,
  List: false,
  StreamOutput: true,
} as const;

/**
 * Sends request bytes exactly as given (no serializer) to the server as
 * `user`: for undecodable, truncated, invalid UTF-8 and fuzzed requests.
 */
export class RawCaller {
  readonly #client: grpc.Client;

  /** A connection to `ctx`'s server presenting `user`'s certificate. */
  static async connect(ctx: ServerContext, user: string): Promise<RawCaller> {
    const files = ctx.tlsFor(user);
    const credentials = grpc.credentials.createSsl(
      await readBuffer(files.ca),
      await readBuffer(files.key),
      await readBuffer(files.cert),
    );
    // Deno's TLS refuses an IP address as SNI name: name the server by a SAN of its certificate.
    return new RawCaller(
      new grpc.Client(ctx.addr, credentials, { "grpc.ssl_target_name_override": "localhost" }),
    );
  }

  private constructor(client: grpc.Client) {
    this.#client = client;
  }

  /** Calls `method` with `bytes` as the request; never throws for a status. */
  call(method: keyof typeof METHODS, bytes: Uint8Array, deadlineMs = 10_000): Promise<RawReply> {
    const path = `/jobworker.v1.JobWorker/${method}`;
    const identity = (b: Buffer) => b;
    const serialize = (b: Uint8Array) => Buffer.from(b);
    const options = { deadline: Date.now() + deadlineMs };
    return new Promise((resolve) => {
      const messages: Uint8Array[] = [];
      if (METHODS[method]) {
        const call = this.#client.makeServerStreamRequest(
          path,
          serialize,
          identity,
          bytes,
          new grpc.Metadata(),
          options,
        );
        call.on("data", (m: Buffer) => messages.push(new Uint8Array(m)));
        call.on("error", () => {});
        call.on(
          "status",
          (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details, messages }),
        );
      } else {
        const call = this.#client.makeUnaryRequest(
          path,
          serialize,
          identity,
          bytes,
          new grpc.Metadata(),
          options,
          (err: grpc.ServiceError | null, reply?: Buffer) => {
            if (reply !== undefined) messages.push(new Uint8Array(reply));
            if (err !== null) resolve({ code: err.code, details: err.details, messages });
          },
        );
        call.on("status", (s: grpc.StatusObject) => {
          if (s.code === grpc.status.OK) resolve({ code: 0, details: s.details, messages });
        });
      }
    });
  }

  /** Closes the connection. */
  close(): void {
    this.#client.close();
  }
}

/**
 * Starts the CLI as `user` (by --ca/--cert/--key) against `ctx`'s server as
 * a {@linkcode WatchedProcess}, for tests that read its output as it comes
 * or signal it; it is killed at teardown if still running.
 */
export function watchCli(ctx: ServerContext, user: string, args: string[]): WatchedProcess {
  const proc = new WatchedProcess([...cliCommand(ctx, user), ...args], { cwd: ctx.root });
  ctx.defer(() => proc.stop());
  return proc;
}

/** The CLI's connection flags for the TLS files `paths`. */
export function tlsFlags(paths: TlsPaths): string[] {
  return ["--ca", paths.ca, "--cert", paths.cert, "--key", paths.key];
}

/**
 * The arguments of `deno run` that start the CLI as `user` against `ctx`'s
 * server (by --ca/--cert/--key); the CLI's own arguments go after them.
 */
export function cliCommand(ctx: Pick<ServerContext, "addr" | "tlsFor">, user: string): string[] {
  return [CLI_MAIN, "--addr", ctx.addr, ...tlsFlags(ctx.tlsFor(user))];
}

/** Fails unless the CLI run exited with 0, saying what failed and its stderr. */
export function ok(result: CliResult, what: string): CliResult {
  assertEquals(
    result.code,
    0,
    `${what} failed: exit ${result.code}, stderr ${JSON.stringify(result.stderr)}`,
  );
  return result;
}

/** The id `start` printed (it must have succeeded). */
export function startedId(result: CliResult): string {
  return ok(result, "start").out.trim();
}

/** The ApiError of an API call that must fail (`what` names it in the failure messages). */
export async function apiFailure(
  call: () => Promise<unknown>,
  what = "the call",
): Promise<ApiError> {
  const err = await assertRejects(call, `${what} must fail`);
  assertInstanceOf(err, ApiError, `${what}: ${err}`);
  return err;
}
