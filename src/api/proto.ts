/**
 * The gRPC API's definitions, loaded from proto/jobworker/v1/jobworker.proto
 * at run time, and TypeScript types for its messages as the loader decodes
 * them (camelCase fields, 64-bit integers as numbers, enums as names,
 * bytes as Buffers, unset optional fields absent).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";
import { Buffer } from "node:buffer";

/** Path of the API's .proto file. */
export const PROTO_PATH: string = fileURLToPath(
  new URL("../../proto/jobworker/v1/jobworker.proto", import.meta.url),
);

/** Loader options: shared by server and client so both see the same shapes. */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

/** Limits as on the wire; unset fields are absent. */
export interface LimitsMessage {
  cpu?: number;
  memoryBytes?: number;
  ioReadBps?: number;
  ioWriteBps?: number;
  pids?: number;
}

/** google.protobuf.Timestamp. */
export interface TimestampMessage {
  seconds: number;
  nanos: number;
}

/** Names of the JobState enum. */
export type JobStateName =
  | "JOB_STATE_UNSPECIFIED"
  | "JOB_STATE_RUNNING"
  | "JOB_STATE_EXITED"
  | "JOB_STATE_STOPPED"
  | "JOB_STATE_FAILED";

/** Usage as on the wire. */
export interface UsageMessage {
  cpuNs?: number;
  memoryCurrentBytes?: number;
  memoryPeakBytes?: number;
  tasks?: number;
}

/** JobStatus as on the wire. */
export interface JobStatusMessage {
  id: string;
  owner: string;
  command: string;
  args: string[];
  state: JobStateName;
  exitCode?: number;
  signal?: string;
  oomKilled: boolean;
  startedAt?: TimestampMessage | null;
  endedAt?: TimestampMessage | null;
  limits?: LimitsMessage | null;
  usage?: UsageMessage | null;
  error: string;
  uid: number;
  gid: number;
  output?: OutputMessage | null;
}

/** Output (what became of a job's output). */
export interface OutputMessage {
  bytes?: number;
  maxBytes: number;
  truncated: boolean;
  error: string;
}

/** RunAs. */
export interface RunAsMessage {
  uid: number;
  gid?: number;
}

/** StartRequest. */
export interface StartRequestMessage {
  command: string;
  args: string[];
  limits?: LimitsMessage | null;
  env: Record<string, string>;
  cwd: string;
  runAs?: RunAsMessage | null;
  maxOutputBytes?: number;
}
/** StartResponse. */
export interface StartResponseMessage {
  id: string;
  status: JobStatusMessage;
}
/** StopRequest. */
export interface StopRequestMessage {
  id: string;
  graceSeconds?: number;
}
/** StopResponse and StatusResponse. */
export interface StatusResponseMessage {
  status: JobStatusMessage;
}
/** StatusRequest. */
export interface StatusRequestMessage {
  id: string;
}
/** ListResponse. */
export interface ListResponseMessage {
  jobs: JobStatusMessage[];
}
/** StreamOutputRequest. */
export interface StreamOutputRequestMessage {
  id: string;
  offset: number;
  /** Absent from older clients: follow. */
  follow?: boolean;
}
/** OutputChunk. */
export interface OutputChunkMessage {
  offset: number;
  data: Uint8Array;
}

let cached: grpc.ServiceDefinition | undefined;
let cachedPackage: protoLoader.PackageDefinition | undefined;

/** The whole loaded API (every message and service), e.g. for server reflection. Loaded once. */
export function jobWorkerPackage(): protoLoader.PackageDefinition {
  cachedPackage ??= protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS);
  return cachedPackage;
}

/** The JobWorker service definition (loaded once). */
export function jobWorkerService(): grpc.ServiceDefinition {
  if (cached === undefined) {
    const definition = jobWorkerPackage();
    const service = definition["jobworker.v1.JobWorker"];
    if (service === undefined || !("Start" in service)) {
      throw new Error(`${PROTO_PATH} does not define jobworker.v1.JobWorker`);
    }
    cached = service as unknown as grpc.ServiceDefinition;
  }
  return cached;
}

/** A typed client constructor for the JobWorker service. */
export function jobWorkerClientClass(): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(jobWorkerService(), "JobWorker");
}
