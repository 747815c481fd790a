/**
 * The gRPC API's definitions, loaded from proto/jobworker/v1/jobworker.proto
 * at run time, and the TypeScript types generated from the same file
 * (src/api/generated/, `deno task gen:proto`) for its messages as the loader
 * decodes them (camelCase fields, 64-bit integers as numbers, enums as
 * names, bytes as Buffers, unset optional fields absent), its typed client
 * and its handlers.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";
import { Buffer } from "node:buffer";
import type { ProtoGrpcType } from "./generated/jobworker.ts";

/**
 * The WatchEvents response header holding the newest event's number when
 * the watch began (see the proto).
 */
export const LAST_SEQ_HEADER = "jobworker-last-seq";

/** Path of the API's .proto file. */
export const PROTO_PATH: string = fileURLToPath(
  new URL("../../proto/jobworker/v1/jobworker.proto", import.meta.url),
);

/**
 * Loader options: shared by server and client so both see the same shapes.
 * scripts/gen_proto.ts gives the generator the same ones; change both.
 */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

// The messages as the loader decodes them: the generator's `__Output`
// types (see src/api/generated/, made by `deno task gen:proto`). Every one
// of them is also a valid message to send, so the API uses these alone.
export type { Limits__Output as LimitsMessage } from "./generated/jobworker/v1/Limits.ts";
export type { Timestamp__Output as TimestampMessage } from "./generated/google/protobuf/Timestamp.ts";
export type { JobState__Output as JobStateName } from "./generated/jobworker/v1/JobState.ts";
export type { Usage__Output as UsageMessage } from "./generated/jobworker/v1/Usage.ts";
export type { JobStatus__Output as JobStatusMessage } from "./generated/jobworker/v1/JobStatus.ts";
export type { Output__Output as OutputMessage } from "./generated/jobworker/v1/Output.ts";
export type { RunAs__Output as RunAsMessage } from "./generated/jobworker/v1/RunAs.ts";
export type { StartRequest__Output as StartRequestMessage } from "./generated/jobworker/v1/StartRequest.ts";
export type { StartResponse__Output as StartResponseMessage } from "./generated/jobworker/v1/StartResponse.ts";
export type { StopRequest__Output as StopRequestMessage } from "./generated/jobworker/v1/StopRequest.ts";
export type { StopResponse__Output as StopResponseMessage } from "./generated/jobworker/v1/StopResponse.ts";
export type { StatusRequest__Output as StatusRequestMessage } from "./generated/jobworker/v1/StatusRequest.ts";
export type { StatusResponse__Output as StatusResponseMessage } from "./generated/jobworker/v1/StatusResponse.ts";
export type { ListRequest__Output as ListRequestMessage } from "./generated/jobworker/v1/ListRequest.ts";
export type { ListResponse__Output as ListResponseMessage } from "./generated/jobworker/v1/ListResponse.ts";
export type { StreamOutputRequest__Output as StreamOutputRequestMessage } from "./generated/jobworker/v1/StreamOutputRequest.ts";
export type { OutputChunk__Output as OutputChunkMessage } from "./generated/jobworker/v1/OutputChunk.ts";
export type { SignalRequest__Output as SignalRequestMessage } from "./generated/jobworker/v1/SignalRequest.ts";
export type { SignalResponse__Output as SignalResponseMessage } from "./generated/jobworker/v1/SignalResponse.ts";
export type { WatchEventsRequest__Output as WatchEventsRequestMessage } from "./generated/jobworker/v1/WatchEventsRequest.ts";
export type { JobEvent__Output as JobEventMessage } from "./generated/jobworker/v1/JobEvent.ts";
export type { JobEventType__Output as JobEventTypeName } from "./generated/jobworker/v1/JobEventType.ts";
export type { AttachRequest__Output as AttachRequestMessage } from "./generated/jobworker/v1/AttachRequest.ts";
export type { AttachResponse__Output as AttachResponseMessage } from "./generated/jobworker/v1/AttachResponse.ts";
export type { TerminalSize__Output as TerminalSizeMessage } from "./generated/jobworker/v1/TerminalSize.ts";
export type {
  JobWorkerClient as JobWorkerStub,
  JobWorkerDefinition,
  JobWorkerHandlers,
} from "./generated/jobworker/v1/JobWorker.ts";
export type { ProtoGrpcType };

let cachedPackage: protoLoader.PackageDefinition | undefined;
let cachedClass: JobWorkerClass | undefined;

/** The whole loaded API (every message and service), e.g. for server reflection. Loaded once. */
export function jobWorkerPackage(): protoLoader.PackageDefinition {
  cachedPackage ??= protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS);
  return cachedPackage;
}

/** The constructor of typed JobWorker clients; its `service` is the service definition. */
export type JobWorkerClass = ProtoGrpcType["jobworker"]["v1"]["JobWorker"];

/**
 * The typed client constructor of the JobWorker service (made once): its
 * instances are {@link JobWorkerStub}s, with a method per RPC.
 */
export function jobWorkerClientClass(): JobWorkerClass {
  if (cachedClass === undefined) {
    // The generated ProtoGrpcType describes exactly what this loads.
    const api = grpc.loadPackageDefinition(jobWorkerPackage()) as unknown as Partial<ProtoGrpcType>;
    const JobWorker = api.jobworker?.v1?.JobWorker;
    if (JobWorker === undefined) {
      throw new Error(`${PROTO_PATH} does not define jobworker.v1.JobWorker`);
    }
    cachedClass = JobWorker;
  }
  return cachedClass;
}

/**
 * The JobWorker service definition (loaded once), untyped: it is handed to
 * code that treats every method alike (strict decoding, tests that send
 * arbitrary messages). Its typed form is `jobWorkerClientClass().service`.
 */
export function jobWorkerService(): grpc.ServiceDefinition {
  return jobWorkerClientClass().service;
}
