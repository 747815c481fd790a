/**
 * The JobWorker gRPC handlers. Each one only decodes the request, calls the
 * job library, and encodes the answer; who may do what is decided in
 * ./auth.ts and errors become status codes in ./errors.ts, both applied
 * to every handler by {@link jobWorkerHandlers}.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import {
  isUndecodable,
  type JobWorkerHandlers,
  type ListRequestMessage,
  type ListResponseMessage,
  specFromStartRequest,
  type StartRequestMessage,
  type StartResponseMessage,
  type StatusRequestMessage,
  type StatusResponseMessage,
  statusToMessage,
  type StopRequestMessage,
  type StopResponseMessage,
} from "../api/mod.ts";
import { type Job, type JobManager, JobNotFoundError } from "../job/mod.ts";
import {
  type AuthPolicy,
  type Caller,
  callerOf,
  mayAccess,
  peerName,
  runAsRangesOf,
} from "./auth.ts";
import { RequestError, toStatusError } from "./errors.ts";
import type { CallObserver, CallRecord, MethodName } from "./observe.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What the handlers need. */
export interface ServiceContext {
  manager: JobManager;
  policy: AuthPolicy;
  /** Where unexpected errors are logged; default console.error. */
  log?: (message: string) => void;
  /** Told about every call (the audit log, the metrics); default none. */
  observer?: CallObserver;
  /** True once the server is shutting down: Start is refused with UNAVAILABLE. */
  draining?: () => boolean;
}

/** The longest id text echoed back in an error; longer ones are cut (they are not ids anyway). */
const MAX_ECHOED_ID = 40;

/** `id` quoted for a message, cut to {@link MAX_ECHOED_ID} characters. */
function quoteId(id: unknown): string {
  const text = typeof id === "string" ? id : String(id);
  return text.length <= MAX_ECHOED_ID
    ? JSON.stringify(text)
    : `${JSON.stringify(text.slice(0, MAX_ECHOED_ID))}… (${text.length} characters)`;
}

/**
 * A job of another user, answered exactly like a missing one (NOT_FOUND,
 * same message); only the audit log learns the difference.
 */
class HiddenJobError extends JobNotFoundError {}

/** The job `id` if `caller` may see it; otherwise exactly the answer for a missing job. */
function findJob(context: ServiceContext, caller: Caller, id: unknown): Job {
  if (typeof id !== "string" || !UUID.test(id)) {
    throw new RequestError(grpc.status.INVALID_ARGUMENT, `job id ${quoteId(id)} is not a valid id`);
  }
  // get() throws the same JobNotFoundError for a job that does not exist.
  const job = context.manager.get(id);
  if (!mayAccess(caller, job.owner)) throw new HiddenJobError(id);
  return job;
}

/** The record of a call that ended with `err` (or succeeded, when `err` is null). */
function callRecord(
  call: { method: MethodName; source: Parameters<typeof peerName>[0]; startedAt: number },
  outcome: { jobId: unknown; err: unknown; command?: unknown; log?: (message: string) => void },
): CallRecord {
  const failure = outcome.err === null
    ? null
    : toStatusError(outcome.err, outcome.log ? { log: outcome.log } : {});
  const code = failure?.code ?? grpc.status.OK;
  const jobId = typeof outcome.jobId === "string" && outcome.jobId !== ""
    ? outcome.jobId.slice(0, MAX_ECHOED_ID)
    : null;
  return {
    method: call.method,
    user: peerName(call.source),
    jobId,
    code,
    message: failure?.details ?? "",
    denied: code === grpc.status.UNAUTHENTICATED || code === grpc.status.PERMISSION_DENIED ||
      outcome.err instanceof HiddenJobError,
    durationMs: performance.now() - call.startedAt,
    ...(typeof outcome.command === "string" ? { command: outcome.command } : {}),
  };
}

/** The grace period in ms; the job library checks it. */
function graceMsOf(request: StopRequestMessage): number | undefined {
  const seconds = request.graceSeconds;
  return seconds === undefined || seconds === null ? undefined : seconds * 1000;
}

/** The request, unless it could not be decoded (then INVALID_ARGUMENT saying why). */
function decoded<Req>(request: Req): Req {
  if (isUndecodable(request)) {
    throw new RequestError(grpc.status.INVALID_ARGUMENT, `bad request: ${request.reason}`);
  }
  return request;
}

type Unary<Req, Res> = (caller: Caller, request: Req) => Promise<Res>;

function unary<Req, Res>(
  context: ServiceContext,
  method: MethodName,
  handler: Unary<Req, Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const startedAt = performance.now();
    const logOption = context.log ? { log: context.log } : {};
    (async () => {
      const caller = callerOf(call, context.policy);
      return await handler(caller, decoded(call.request));
    })().then(
      (response) => {
        callback(null, response);
        const request = call.request as { id?: unknown; command?: unknown };
        context.observer?.callEnded(callRecord({ method, source: call, startedAt }, {
          jobId: request.id ?? (response as { id?: unknown }).id,
          err: null,
          command: request.command,
        }));
      },
      (err) => {
        callback(toStatusError(err, logOption));
        if (context.observer === undefined) return;
        const request = isUndecodable(call.request)
          ? {}
          : call.request as { id?: unknown; command?: unknown };
        // Logged once above already: the record must not log it again.
        context.observer.callEnded(callRecord({ method, source: call, startedAt }, {
          jobId: request.id,
          err,
          command: request.command,
          log: () => {},
        }));
      },
    );
  };
}

/**
 * Largest output message. Smaller is faster here, not slower: draining a
 * finished 1 GiB output, a C-core client got ~300 MB/s with 32 KiB messages,
 * ~230 MB/s with 64 KiB and ~150 MB/s with 256 KiB or 1 MiB (the HTTP/2
 * layer under grpc-js copies and splits big messages on the main thread).
 */
const STREAM_MESSAGE_BYTES = 32 * 1024;

/** Sends the output; resolves true when it all went out, false when the client went away. */
async function streamOutput(
  context: ServiceContext,
  call: Parameters<JobWorkerHandlers["StreamOutput"]>[0],
): Promise<boolean> {
  const caller = callerOf(call, context.policy);
  const request = decoded(call.request);
  const job = findJob(context, caller, request.id);
  // uint64 on the wire: above 2^53 - 1 the decoder cannot represent it
  // exactly, which the job library refuses.
  const offset = request.offset ?? 0;
  // A client that goes away must free its reader at once, even mid-wait.
  const abort = new AbortController();
  const onGone = () => abort.abort(new DOMException("client went away", "AbortError"));
  call.on("cancelled", onGone);
  call.on("close", onGone);
  const follow = request.follow ?? true;
  const reader = job.output({ offset, signal: abort.signal, follow });
  const watch = context.observer?.streamBegan({ following: follow && job.state === "running" });
  try {
    for (;;) {
      const chunk = await reader.readChunk(STREAM_MESSAGE_BYTES);
      if (chunk === null) break;
      watch?.sent(chunk.data.length);
      if (!call.write({ offset: chunk.offset, data: chunk.data })) {
        await new Promise<void>((resolve) => {
          const done = () => {
            call.off("drain", done);
            abort.signal.removeEventListener("abort", done);
            resolve();
          };
          call.on("drain", done);
          abort.signal.addEventListener("abort", done);
        });
        if (abort.signal.aborted) return false;
      }
    }
    call.end();
    return true;
  } catch (err) {
    if (abort.signal.aborted) return false;
    throw err;
  } finally {
    watch?.ended();
    reader.close();
    call.off("cancelled", onGone);
    call.off("close", onGone);
  }
}

/**
 * The handlers of the JobWorker service, each wrapped with authentication
 * and error mapping.
 *
 * @example
 * ```ts
 * server.addService(strictService(jobWorkerService()), jobWorkerHandlers({ manager, policy }));
 * ```
 */
export function jobWorkerHandlers(context: ServiceContext): JobWorkerHandlers {
  const Start = unary<StartRequestMessage, StartResponseMessage>(
    context,
    "Start",
    async (caller, request) => {
      if (context.draining?.()) {
        // UNAVAILABLE: the client may retry elsewhere or after the restart.
        throw new RequestError(
          grpc.status.UNAVAILABLE,
          "Cannot start job: the server is shutting down",
        );
      }
      const allowRunAs = runAsRangesOf(caller, context.policy);
      const job = await context.manager.start(specFromStartRequest(request), {
        owner: caller.user,
        ...(allowRunAs === undefined ? {} : { allowRunAs }),
      });
      return { id: job.id, status: statusToMessage(await job.status()) };
    },
  );
  const Stop = unary<StopRequestMessage, StopResponseMessage>(
    context,
    "Stop",
    async (caller, request) => {
      const job = findJob(context, caller, request.id);
      const graceMs = graceMsOf(request);
      const status = await job.stop(graceMs === undefined ? {} : { graceMs });
      return { status: statusToMessage(status) };
    },
  );
  const Status = unary<StatusRequestMessage, StatusResponseMessage>(
    context,
    "Status",
    async (caller, request) => {
      const job = findJob(context, caller, request.id);
      return { status: statusToMessage(await job.status()) };
    },
  );
  const List = unary<ListRequestMessage, ListResponseMessage>(context, "List", async (caller) => {
    const visible = context.manager.list().filter((job) => mayAccess(caller, job.owner));
    const statuses = await Promise.all(visible.map((job) => job.status()));
    return { jobs: statuses.map(statusToMessage) };
  });
  const StreamOutput: JobWorkerHandlers["StreamOutput"] = (call) => {
    const startedAt = performance.now();
    const logOption = context.log ? { log: context.log } : {};
    const record = (err: unknown) => {
      const request = isUndecodable(call.request) ? {} : call.request as { id?: unknown };
      context.observer?.callEnded(
        callRecord({ method: "StreamOutput", source: call, startedAt }, {
          jobId: request.id,
          err,
          log: () => {},
        }),
      );
    };
    streamOutput(context, call).then(
      (complete) =>
        record(complete ? null : new RequestError(grpc.status.CANCELLED, "client went away")),
      (err) => {
        call.emit("error", toStatusError(err, logOption));
        record(err);
      },
    );
  };
  return { Start, Stop, Status, List, StreamOutput };
}
