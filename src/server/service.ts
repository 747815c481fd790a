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
  type AttachRequestMessage,
  type AttachResponseMessage,
  eventToMessage,
  isUndecodable,
  type JobWorkerHandlers,
  LAST_SEQ_HEADER,
  type ListRequestMessage,
  type ListResponseMessage,
  type SignalRequestMessage,
  type SignalResponseMessage,
  specFromStartRequest,
  type StartRequestMessage,
  type StartResponseMessage,
  type StatusRequestMessage,
  type StatusResponseMessage,
  statusToMessage,
  type StopRequestMessage,
  type StopResponseMessage,
} from "../api/mod.ts";
import {
  checkLabels,
  type Job,
  JobArgumentError,
  type JobEvent,
  type JobInputWriter,
  type JobManager,
  JobNotFoundError,
  JobPreconditionError,
  matchesLabels,
  type OutputReader,
} from "../job/mod.ts";
import {
  type AuthPolicy,
  type Caller,
  callerOf,
  mayAccess,
  peerName,
  runAsRangesOf,
} from "./auth.ts";
import { RequestError, toStatusError } from "./errors.ts";
import { clientMessages } from "./_messages.ts";
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
    const complete = await sendOutput(reader, {
      write: (chunk) => call.write(chunk),
      call,
      signal: abort.signal,
      ...(watch === undefined ? {} : { watch }),
    });
    if (complete) call.end();
    return complete;
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
 * Writes what `reader` gives as output messages until it ends (true), or
 * `signal` aborts (false). While the client's window is full it waits for
 * `drain`: a slow client slows the reading, nothing piles up.
 */
async function sendOutput(
  reader: OutputReader,
  options: {
    write: (chunk: { offset: number; data: Uint8Array }) => boolean;
    call: {
      on(event: "drain", f: () => void): unknown;
      off(event: "drain", f: () => void): unknown;
    };
    signal: AbortSignal;
    watch?: { sent(bytes: number): void };
  },
): Promise<boolean> {
  const { call, signal } = options;
  for (;;) {
    const chunk = await reader.readChunk(STREAM_MESSAGE_BYTES);
    if (chunk === null) return true;
    options.watch?.sent(chunk.data.length);
    if (!options.write({ offset: chunk.offset, data: chunk.data })) {
      await new Promise<void>((resolve) => {
        const done = () => {
          call.off("drain", done);
          signal.removeEventListener("abort", done);
          resolve();
        };
        call.on("drain", done);
        signal.addEventListener("abort", done);
      });
      if (signal.aborted) return false;
    }
  }
}

/** The job's input writer; null when the job ended while we asked. */
function attachInputOf(job: Job): JobInputWriter | null {
  try {
    return job.attachInput();
  } catch (err) {
    if (err instanceof JobPreconditionError && job.spec.stdin && job.state !== "running") {
      return null;
    }
    throw err;
  }
}

/** How long an Attach waits after the client's end of input for a cancellation to show. */
const CANCEL_SETTLE_MS = 250;

/** The most input bytes one Attach message may carry. */
const MAX_INPUT_MESSAGE_BYTES = 1024 * 1024;

/**
 * Runs an Attach call: input from the client to the job (one message at a
 * time, each written before the next is read), output from the job to the
 * client, then the final status. Resolves true when it completed, false
 * when the client went away; rejects for what must end it with a status.
 */
async function attach(
  context: ServiceContext,
  call: Parameters<JobWorkerHandlers["Attach"]>[0],
  found: { jobId?: string },
): Promise<boolean> {
  const caller = callerOf(call, context.policy);
  const messages = clientMessages<AttachRequestMessage>(call);
  const first = await messages.next();
  const start = first.done ? undefined : decoded(first.value).start;
  if (!start) {
    throw new RequestError(
      grpc.status.INVALID_ARGUMENT,
      "bad request: the first Attach message must be start",
    );
  }
  // As sent, like the other calls' audit lines (also for a refused one).
  found.jobId = start.id;
  const job = findJob(context, caller, start.id);
  // An interactive job that has ended (a quick one, before its client
  // attached) still gives its output and status; input then goes nowhere.
  const writer = attachInputOf(job);
  const offset = start.offset ?? (await job.status()).output.bytes ?? 0;
  const abort = new AbortController();
  const onGone = () => abort.abort(new DOMException("client went away", "AbortError"));
  // Not "close": a duplex call closes its reading side when the client
  // half-closes (end-of-file for the job), while output still goes out.
  call.on("cancelled", onGone);
  const takenOver = Promise.withResolvers<never>();
  const onDetached = () => {
    if (writer?.detached.reason === "another client attached") {
      takenOver.reject(
        new RequestError(
          grpc.status.ABORTED,
          `Detached from job ${job.id}: another client attached`,
        ),
      );
    }
  };
  takenOver.promise.catch(() => {});
  writer?.detached.addEventListener("abort", onDetached);
  let accepted = 0;
  let ended = false;
  const input = (async () => {
    for (let next = await messages.next(); !next.done; next = await messages.next()) {
      const message = decoded(next.value);
      if (writer === null || writer.detached.aborted) continue;
      try {
        if (message.input) {
          if (message.input.length > MAX_INPUT_MESSAGE_BYTES) {
            throw new RequestError(
              grpc.status.INVALID_ARGUMENT,
              `bad request: an input message holds at most ${MAX_INPUT_MESSAGE_BYTES} bytes`,
            );
          }
          await writer.write(message.input);
          accepted += message.input.length;
          call.write({ inputAccepted: accepted } as AttachResponseMessage);
        } else if (message.resize) {
          await writer.resize({ rows: message.resize.rows, cols: message.resize.cols });
        } else if (message.eof) {
          ended = true;
          await writer.end();
        }
      } catch (err) {
        // The job ended meanwhile: its output and status still go out.
        if (!(err instanceof JobPreconditionError)) throw err;
      }
    }
    // The client closed its half: end-of-file for the job, as it had sent
    // `eof`. A cancelled call (a detach) may end the messages too, with
    // "cancelled" only a moment later (65 ms seen): wait for it, so that a
    // detach never ends the job's input.
    if (ended) return;
    await new Promise((resolve) => setTimeout(resolve, CANCEL_SETTLE_MS));
    if (call.cancelled) return;
    if (writer !== null && !writer.detached.aborted && !abort.signal.aborted) {
      await writer.end().catch(() => {});
    }
  })();
  const inputFailed = input.then(() => new Promise<never>(() => {}));
  // Also once the call is over (the client's stream then fails): never unhandled.
  inputFailed.catch(() => {});
  const reader = job.output({ offset, signal: abort.signal });
  const watch = context.observer?.streamBegan({ following: job.state === "running" });
  try {
    const complete = await Promise.race([
      sendOutput(reader, {
        write: (chunk) => call.write({ output: chunk } as AttachResponseMessage),
        call,
        signal: abort.signal,
        ...(watch === undefined ? {} : { watch }),
      }),
      takenOver.promise,
      // An input failure (a message too big) ends the call.
      inputFailed,
    ]);
    if (!complete) return false;
    call.write({ ended: statusToMessage(await job.wait()) } as AttachResponseMessage);
    call.end();
    return true;
  } catch (err) {
    if (abort.signal.aborted) return false;
    throw err;
  } finally {
    watch?.ended();
    reader.close();
    writer?.detached.removeEventListener("abort", onDetached);
    writer?.detach();
    abort.abort();
    call.off("cancelled", onGone);
  }
}

/**
 * Most events queued for one watcher while it does not read; a watcher that
 * falls further behind is cut off with RESOURCE_EXHAUSTED (it resumes with
 * `since`), so a slow client cannot make the server buffer without bound.
 */
const MAX_QUEUED_EVENTS = 10_000;

/** Sends the caller's events until the client goes away; rejects when it must end the stream. */
async function watchEvents(
  context: ServiceContext,
  call: Parameters<JobWorkerHandlers["WatchEvents"]>[0],
): Promise<void> {
  const caller = callerOf(call, context.policy);
  const request = decoded(call.request);
  let selector: Record<string, string>;
  try {
    selector = checkLabels(request.labels ?? {});
  } catch (err) {
    throw new JobArgumentError(`Cannot watch events: ${(err as Error).message}`);
  }
  const gone = Promise.withResolvers<void>();
  const failed = Promise.withResolvers<never>();
  call.on("cancelled", () => gone.resolve());
  call.on("close", () => gone.resolve());
  let queued = 0;
  const send = (event: JobEvent) => {
    if (!mayAccess(caller, event.owner) || !matchesLabels(event.labels, selector)) return;
    if (queued >= MAX_QUEUED_EVENTS) {
      failed.reject(
        new RequestError(
          grpc.status.RESOURCE_EXHAUSTED,
          `the client fell ${MAX_QUEUED_EVENTS} events behind; resume with since ${
            event.seq - 1 - queued
          }`,
        ),
      );
      return;
    }
    if (!call.write(eventToMessage(event))) {
      queued++;
      call.once("drain", () => (queued = 0));
    }
  };
  const since = request.since;
  const unwatch = context.manager.watchEvents(
    send,
    since === undefined || since === null ? {} : { since },
  );
  // Where "from now on" began (read in the same turn the watch began, so no
  // event falls between): a client that reconnects before its first event
  // resumes after this number.
  const metadata = new grpc.Metadata();
  metadata.set(LAST_SEQ_HEADER, String(context.manager.lastEventSeq));
  call.sendMetadata(metadata);
  try {
    await Promise.race([gone.promise, failed.promise]);
  } finally {
    unwatch();
  }
}

/**
 * Runs the body of a streaming call: an error it rejects with becomes the
 * call's status; the observer hears how the call ended (completed, or
 * CANCELLED when the body resolved false: the client went away).
 */
function runStream(
  context: ServiceContext,
  call: Parameters<typeof peerName>[0] & { emit(event: "error", err: unknown): unknown },
  options: { method: MethodName; jobId?: () => unknown; run: () => Promise<boolean> },
): void {
  const startedAt = performance.now();
  const logOption = context.log ? { log: context.log } : {};
  const record = (err: unknown) => {
    context.observer?.callEnded(
      callRecord({ method: options.method, source: call, startedAt }, {
        jobId: options.jobId?.() ?? null,
        err,
        // Logged by toStatusError already.
        log: () => {},
      }),
    );
  };
  options.run().then(
    (complete) =>
      record(complete ? null : new RequestError(grpc.status.CANCELLED, "client went away")),
    (err) => {
      call.emit("error", toStatusError(err, logOption));
      record(err);
    },
  );
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
  const Signal = unary<SignalRequestMessage, SignalResponseMessage>(
    context,
    "Signal",
    async (caller, request) => {
      const job = findJob(context, caller, request.id);
      const status = await job.signal(request.signal, { all: request.all });
      return { status: statusToMessage(status) };
    },
  );
  const List = unary<ListRequestMessage, ListResponseMessage>(
    context,
    "List",
    async (caller, request) => {
      const visible = context.manager.list({ labels: request.labels ?? {} })
        .filter((job) => mayAccess(caller, job.owner));
      const statuses = await Promise.all(visible.map((job) => job.status()));
      return { jobs: statuses.map(statusToMessage) };
    },
  );
  const StreamOutput: JobWorkerHandlers["StreamOutput"] = (call) => {
    const request = isUndecodable(call.request) ? {} : call.request as { id?: unknown };
    runStream(context, call, {
      method: "StreamOutput",
      jobId: () => request.id,
      run: () => streamOutput(context, call),
    });
  };
  const WatchEvents: JobWorkerHandlers["WatchEvents"] = (call) => {
    // It ends only when the client goes away (or fails).
    runStream(context, call, {
      method: "WatchEvents",
      run: () => watchEvents(context, call).then(() => false),
    });
  };
  const Attach: JobWorkerHandlers["Attach"] = (call) => {
    const found: { jobId?: string } = {};
    runStream(context, call, {
      method: "Attach",
      jobId: () => found.jobId,
      run: () => attach(context, call, found),
    });
  };
  return { Start, Stop, Status, List, StreamOutput, Signal, WatchEvents, Attach };
}
