/**
 * What standard gRPC tools expect of a server besides its own API: server
 * reflection (grpcurl and grpcui list and call the API without the .proto
 * file) and the grpc.health.v1 health service (load balancers and
 * orchestrators probe it). Both sit behind the same mutual TLS as the API:
 * any client certificate from the CA may call them, whatever the
 * --allow-user list says, since they reveal no job and change nothing.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check";
import { jobWorkerPackage } from "../api/mod.ts";

/** The service name health checks ask about for the API ("" asks about the server as a whole). */
export const JOBWORKER_SERVICE = "jobworker.v1.JobWorker";

/** Switches what the health service reports. */
export interface HealthSwitch {
  /** SERVING (true) or NOT_SERVING (false), for the server and for the JobWorker service. */
  setServing(serving: boolean): void;
}

/**
 * Adds reflection and health to `server`; health starts as SERVING.
 *
 * @example
 * ```ts ignore
 * const health = addIntrospection(server);
 * // shutting down: probes see NOT_SERVING while the jobs stop
 * health.setServing(false);
 * ```
 */
export function addIntrospection(server: grpc.Server): HealthSwitch {
  const health = new HealthImplementation({ "": "SERVING", [JOBWORKER_SERVICE]: "SERVING" });
  health.addToServer(server);
  // Reflection describes the health service too, so `grpcurl list` shows every service.
  const described = {
    ...jobWorkerPackage(),
    ...protoLoader.loadSync(healthProtoPath, { keepCase: true }),
  };
  new ReflectionService(described).addToServer(server);
  return {
    setServing(serving) {
      const status = serving ? "SERVING" : "NOT_SERVING";
      health.setStatus("", status);
      health.setStatus(JOBWORKER_SERVICE, status);
    },
  };
}
