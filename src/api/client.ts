/**
 * A typed, promise-based client of the JobWorker API.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import type { JobEvent, JobSpec, JobStatus, OutputChunk } from "../job/mod.ts";
import { eventFromMessage, startRequestFromSpec, statusFromMessage } from "./convert.ts";
import { AttachSession } from "./attach.ts";
import { LAST_SEQ_HEADER } from "./proto.ts";
import {
  type JobEventMessage,
  type JobStatusMessage,
  jobWorkerClientClass,
  type JobWorkerStub,
  type ListRequestMessage,
  type ListResponseMessage,
  type OutputChunkMessage,
  type SignalRequestMessage,
  type SignalResponseMessage,
  type StartRequestMessage,
  type StartResponseMessage,
  type StatusRequestMessage,
  type StatusResponseMessage,
  type StopRequestMessage,
  type StopResponseMessage,
} from "./proto.ts";

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

/**
 * A unary method of the generated client, in its form with call options.
 * The generated methods are overloaded, so callers name `Req` and `Res`:
 * TypeScript infers type arguments from an overloaded function's last form.
 */
type UnaryMethod<Req, Res> = (
  request: Req,
  options: grpc.CallOptions,
  callback: grpc.requestCallback<Res>,
) => grpc.ClientUnaryCall;

/** The status in a response; the server always sends one. */
function statusOf(response: { status: JobStatusMessage | null }): JobStatus {
  if (response.status === null) throw new Error("the server's response holds no job status");
  return statusFromMessage(response.status);
}

/**
 * The messages of a server stream, converted; aborting `signal` (or leaving
 * the loop) cancels the call and ends quietly, a failed call throws its
 * ApiError.
 */
async function* messagesOf<M, T>(
  stream: grpc.ClientReadableStream<M>,
  convert: (message: M) => T,
  signal: AbortSignal | undefined,
): AsyncGenerator<T> {
  const onAbort = () => stream.cancel();
  signal?.addEventListener("abort", onAbort);
  try {
    for await (const message of stream as AsyncIterable<M>) yield convert(message);
  } catch (err) {
    if (signal?.aborted) return;
    throw apiError(err);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    stream.cancel();
  }
}

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
  readonly #client: JobWorkerStub;

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

  /** Calls `method` of the generated client, which grpc-js needs called on the client. */
  #unary<Req, Res>(
    method: UnaryMethod<Req, Res>,
    request: Req,
    options: { deadlineMs?: number } = {},
  ): Promise<Res> {
    const callOptions: grpc.CallOptions = options.deadlineMs === undefined
      ? {}
      : { deadline: Date.now() + options.deadlineMs };
    return new Promise<Res>((resolve, reject) => {
      method.call(this.#client, request, callOptions, (err, response) => {
        if (err) reject(apiError(err));
        else if (response === undefined) reject(new Error("the server sent no response"));
        else resolve(response);
      });
    });
  }

  /** Starts a job; resolves with its id and first status. */
  async start(spec: JobSpec): Promise<{ id: string; status: JobStatus }> {
    const response = await this.#unary<StartRequestMessage, StartResponseMessage>(
      this.#client.Start,
      startRequestFromSpec(spec),
    );
    return { id: response.id, status: statusOf(response) };
  }

  /** Stops a job; resolves with its final status once it has ended. */
  async stop(id: string, options: { graceSeconds?: number } = {}): Promise<JobStatus> {
    const request = options.graceSeconds === undefined
      ? { id }
      : { id, graceSeconds: options.graceSeconds };
    return statusOf(
      await this.#unary<StopRequestMessage, StopResponseMessage>(this.#client.Stop, request),
    );
  }

  /** The status of a job. */
  async status(id: string): Promise<JobStatus> {
    return statusOf(
      await this.#unary<StatusRequestMessage, StatusResponseMessage>(this.#client.Status, { id }),
    );
  }

  /** The caller's jobs (every job for an admin); with `labels`, only those having all of them. */
  async list(options: { labels?: Record<string, string> } = {}): Promise<JobStatus[]> {
    const response = await this.#unary<ListRequestMessage, ListResponseMessage>(
      this.#client.List,
      { labels: { ...(options.labels ?? {}) } },
    );
    return response.jobs.map(statusFromMessage);
  }

  /**
   * Sends `signal` (`HUP`, `SIGUSR1`, `10`, ...) to a running job's main
   * process, or with `all` to every process of it; resolves with its status.
   */
  async signal(id: string, signal: string, options: { all?: boolean } = {}): Promise<JobStatus> {
    return statusOf(
      await this.#unary<SignalRequestMessage, SignalResponseMessage>(this.#client.Signal, {
        id,
        signal,
        all: options.all ?? false,
      }),
    );
  }

  /**
   * Job events as they happen (the caller's jobs; every job for an admin),
   * with `labels` only of jobs having all of them. With `since`, the
   * retained events after that sequence number come first. Runs until the
   * loop is left, `signal` is aborted, or the server ends the stream.
   *
   * @example
   * ```ts
   * for await (const event of client.watchEvents({ since: 0 })) {
   *   console.log(event.seq, event.type, event.id);
   * }
   * ```
   */
  async *watchEvents(
    options: {
      labels?: Record<string, string>;
      since?: number;
      signal?: AbortSignal;
      /** Called once the server holds the watch, with the newest event's number then. */
      onWatching?: (lastSeq: number) => void;
    } = {},
  ): AsyncGenerator<JobEvent> {
    const stream = this.#client.WatchEvents({
      labels: { ...(options.labels ?? {}) },
      ...(options.since === undefined ? {} : { since: options.since }),
    });
    stream.on("metadata", (metadata: grpc.Metadata) => {
      const value = Number(metadata.get(LAST_SEQ_HEADER)[0]);
      if (Number.isSafeInteger(value)) options.onWatching?.(value);
    });
    yield* messagesOf<JobEventMessage, JobEvent>(stream, eventFromMessage, options.signal);
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
    const stream = this.#client.StreamOutput(request);
    // A Buffer is a Uint8Array: no copy.
    yield* messagesOf<OutputChunkMessage, OutputChunk>(
      stream,
      (message) => ({ offset: message.offset, data: message.data }),
      options.signal,
    );
  }

  /**
   * Attaches to an interactive job (started with `stdin` or `tty`): see
   * {@link AttachSession}. With `offset`, output from that byte on;
   * without, from the output's end when the server gets the call.
   *
   * @example
   * ```ts
   * const session = client.attach(id, { offset: 0 });
   * await session.write(new TextEncoder().encode("print(6*7)\n"));
   * session.end(); // end-of-file
   * for await (const chunk of session.output()) Deno.stdout.writeSync(chunk.data);
   * console.log(session.status?.exitCode);
   * ```
   */
  attach(id: string, options: { offset?: number } = {}): AttachSession {
    return new AttachSession(this.#client.Attach(), { id, ...options, mapError: apiError });
  }

  /** Closes the connection. */
  close(): void {
    this.#client.close();
  }
}
