/**
 * The JobWorker gRPC API as both ends use it: the .proto file loaded with
 * the TypeScript types generated from it (./proto.ts, ./generated/), the one
 * conversion between messages and the job library's values (./convert.ts),
 * the promise-based client (./client.ts), the client's side of mutual TLS
 * (./tls.ts), and the server's strict request decoding (./strict_decode.ts).
 *
 * @example
 * ```ts ignore
 * import { clientConnection, JobWorkerClient } from "./src/api/mod.ts";
 * import { certPathsFor } from "./src/certs/paths.ts";
 * const address = "127.0.0.1:50051";
 * const files = certPathsFor("./certs", "alice");
 * const client = new JobWorkerClient(address, await clientConnection(files, address));
 * console.log(await client.list());
 * client.close();
 * ```
 *
 * @module
 */
export { ApiError, JobWorkerClient } from "./client.ts";
export { AttachSession } from "./attach.ts";
export {
  dateFromTimestamp,
  eventFromMessage,
  eventToMessage,
  specFromStartRequest,
  startRequestFromSpec,
  statusFromMessage,
  statusToMessage,
  timestampFromDate,
} from "./convert.ts";
export {
  type AttachRequestMessage,
  type AttachResponseMessage,
  type JobEventMessage,
  type JobEventTypeName,
  type JobStateName,
  type JobStatusMessage,
  type JobWorkerClass,
  jobWorkerClientClass,
  type JobWorkerDefinition,
  type JobWorkerHandlers,
  jobWorkerPackage,
  jobWorkerService,
  type JobWorkerStub,
  LAST_SEQ_HEADER,
  type LimitsMessage,
  type ListRequestMessage,
  type ListResponseMessage,
  type OutputChunkMessage,
  type OutputMessage,
  PROTO_PATH,
  type ProtoGrpcType,
  type RunAsMessage,
  type SignalRequestMessage,
  type SignalResponseMessage,
  type StartRequestMessage,
  type StartResponseMessage,
  type StatusRequestMessage,
  type StatusResponseMessage,
  type StopRequestMessage,
  type StopResponseMessage,
  type StreamOutputRequestMessage,
  type TerminalSizeMessage,
  type TimestampMessage,
  type UsageMessage,
  type WatchEventsRequestMessage,
} from "./proto.ts";
export { isUndecodable, strictService, type Undecodable } from "./strict_decode.ts";
export { type ClientConnection, clientConnection, hostOf, readTlsFiles } from "./tls.ts";
