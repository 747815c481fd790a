/**
 * The gRPC server: binds the JobWorker service with mutual TLS and shuts
 * down cleanly.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { jobWorkerService, strictService } from "../api/mod.ts";
import type { TlsPaths } from "../certs/paths.ts";
import type { JobManager } from "../job/mod.ts";
import type { AuthPolicy } from "./auth.ts";
import { addIntrospection } from "./_introspection.ts";
import type { CallObserver } from "./observe.ts";
import { jobWorkerHandlers } from "./service.ts";
import { serverCredentials } from "./tls.ts";

/** Options of {@link startServer}. */
export interface ServerOptions {
  /** `host:port` to listen on; port 0 picks a free port. */
  address: string;
  /** Server certificate, key, and the CA that client certificates must chain to. */
  tls: TlsPaths;
  /** The job library the handlers call. */
  manager: JobManager;
  /** Who may do what. */
  policy: AuthPolicy;
  /** Where unexpected errors are logged; default console.error. */
  log?: (message: string) => void;
  /** Told about every call (audit log, metrics); default none. */
  observer?: CallObserver;
}

/** A listening server. */
export interface RunningServer {
  /** The port it listens on. */
  readonly port: number;
  /**
   * From now on the health service reports NOT_SERVING (load balancers stop
   * sending work) and Start is refused with UNAVAILABLE, while every other
   * call is still answered, e.g. while jobs stop.
   */
  drain(): void;
  /**
   * Stops accepting calls, waits up to `timeoutMs` for calls in flight to
   * finish, then cancels the rest. The job manager is not touched.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
}

/**
 * Starts the JobWorker server.
 *
 * @example
 * ```ts
 * const server = await startServer({ address: "127.0.0.1:50051", tls, manager, policy });
 * // ...
 * await server.close();
 * ```
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const server = new grpc.Server();
  let draining = false;
  server.addService(
    strictService(jobWorkerService()),
    jobWorkerHandlers({
      manager: options.manager,
      policy: options.policy,
      ...(options.log ? { log: options.log } : {}),
      ...(options.observer ? { observer: options.observer } : {}),
      draining: () => draining,
    }),
  );
  const health = addIntrospection(server);
  const credentials = await serverCredentials(options.tls);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.address, credentials, (err, boundPort) => {
      if (err) reject(new Error(`Cannot listen on ${options.address}: ${err.message}`));
      else resolve(boundPort);
    });
  });
  return {
    port,
    drain() {
      draining = true;
      health.setServing(false);
    },
    async close(closeOptions = {}) {
      draining = true;
      health.setServing(false);
      const timeoutMs = closeOptions.timeoutMs ?? 5000;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
