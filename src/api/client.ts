/**
 * A typed, promise-based client of the JobWorker API.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import type { JobSpec, JobStatus } from "../job/mod.ts";
import { startRequestFromSpec, statusFromMessage } from "./convert.ts";
import {
  jobWorkerClientClass,
  type ListResponseMessage,
  type OutputChunkMessage,
  type StartResponseMessage,
  type StatusResponseMessage,
} from "./proto.ts";

/** One chunk of a job's output and the offset of its first byte. */
export interface OutputChunk {
  offset: number;
  data: Uint8Array;
}

/** A call that failed with a gRPC status. */
export class ApiError extends Error {
  /** The gRPC status code. */
  readonly code: grpc.status;
  /** @param code the status; @param details the server's message */
  constructor(code: grpc.status, details: string) {
    super(details);
    this.name = "ApiError";
    this.code = code;
  }
}

function apiError(err: unknown): Error {
  const e = err as Partial<grpc.ServiceError>;
  if (typeof e?.code === "number") return new ApiError(e.code, e.details || e.message || "");
  return err instanceof Error ? err : new Error(String(err));
}

type UnaryMethod = (
  request: unknown,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response: unknown) => void,
) => void;

/**
 * A connection to a JobWorker server.
 *
 * @example
 * ```ts
 * const address = "127.0.0.1:50051";
 * const client = new JobWorkerClient(address, await clientConnection(files, address));
 * const id = (await client.start({ command: "echo", args: ["hi"] })).id;
 * for await (const chunk of client.streamOutput(id)) Deno.stdout.writeSync(chunk.data);
 * client.close();
 * ```
 */
export class JobWorkerClient {
  readonly #client: grpc.Client;

  /**
   * @param address `host:port` of the server
   * @param connection credentials and channel options from `clientConnection()`
   */
  constructor(
    address: string,
    connection: { credentials: grpc.ChannelCredentials; channelOptions?: grpc.ChannelOptions },
  ) {
    const Client = jobWorkerClientClass();
    this.#client = new Client(address, connection.credentials, connection.channelOptions ?? {});
  }

  #unary<Res>(method: string, request: unknown, options: { deadlineMs?: number } = {}) {
    const fn = (this.#client as unknown as Record<string, UnaryMethod>)[method]!;
    const callOptions: grpc.CallOptions = options.deadlineMs === undefined
      ? {}
      : { deadline: Date.now() + options.deadlineMs };
    return new Promise<Res>((resolve, reject) => {
      fn.call(this.#client, request, callOptions, (err, response) => {
        if (err) reject(apiError(err));
        else resolve(response as Res);
      });
    });
  }

  /** Starts a job; resolves with its id and first status. */
  async start(spec: JobSpec): Promise<{ id: string; status: JobStatus }> {
    const response = await this.#unary<StartResponseMessage>("Start", startRequestFromSpec(spec));
    return { id: response.id, status: statusFromMessage(response.status) };
  }

  /** Stops a job; resolves with its final status once it has ended. */
  async stop(id: string, options: { graceSeconds?: number } = {}): Promise<JobStatus> {
    const request = options.graceSeconds === undefined
      ? { id }
      : { id, graceSeconds: options.graceSeconds };
    const response = await this.#unary<StatusResponseMessage>("Stop", request);
    return statusFromMessage(response.status);
  }

  /** The status of a job. */
  async status(id: string): Promise<JobStatus> {
    const response = await this.#unary<StatusResponseMessage>("Status", { id });
    return statusFromMessage(response.status);
  }

  /** The caller's jobs (every job for an admin). */
  async list(): Promise<JobStatus[]> {
    const response = await this.#unary<ListResponseMessage>("List", {});
    return response.jobs.map(statusFromMessage);
  }

  /**
   * The job's output from `offset`: with `follow` (the default) until the
   * job ends, without it only the bytes written so far. Breaking out of the
   * loop (or aborting `signal`) cancels the call.
   */
  async *streamOutput(
    id: string,
    options: { offset?: number; follow?: boolean; signal?: AbortSignal } = {},
  ): AsyncGenerator<OutputChunk> {
    const request = { id, offset: options.offset ?? 0, follow: options.follow ?? true };
    const stream = (this.#client as unknown as Record<
      string,
      (request: unknown) => grpc.ClientReadableStream<OutputChunkMessage>
    >).StreamOutput!.call(this.#client, request);
    const onAbort = () => stream.cancel();
    options.signal?.addEventListener("abort", onAbort);
    try {
      for await (const chunk of stream) {
        const message = chunk as OutputChunkMessage;
        // A Buffer is a Uint8Array: no copy.
        yield { offset: message.offset, data: message.data };
      }
    } catch (err) {
      if (options.signal?.aborted) return;
      throw apiError(err);
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      stream.cancel();
    }
  }

  /** Closes the connection. */
  close(): void {
    this.#client.close();
  }
}
