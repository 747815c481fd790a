/**
 * What the handlers tell the audit log and the metrics about each call:
 * one record when a call ends, and the life of each output stream. The
 * handlers know nothing of either; they only report to a
 * {@link CallObserver}.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";

/** The JobWorker methods. */
export type MethodName =
  | "Start"
  | "Stop"
  | "Status"
  | "List"
  | "StreamOutput"
  | "Signal"
  | "WatchEvents"
  | "Attach";

/** One finished call. */
export interface CallRecord {
  method: MethodName;
  /** The CN of the client certificate, or null when there was none usable. */
  user: string | null;
  /** The job the call was about: the request's id (as sent, at most 40 characters) or Start's new job. */
  jobId: string | null;
  /** The status code the call ended with. */
  code: grpc.status;
  /** The status details when the call failed; empty on success. */
  message: string;
  /**
   * Refused for who the caller is: no usable certificate, not on the
   * allow-list, or a job of another user (answered NOT_FOUND, to hide it).
   */
  denied: boolean;
  /** From the call's arrival to its answer (streams: to their end). */
  durationMs: number;
  /** Start only: the command asked for (never its arguments or environment). */
  command?: string;
}

/** An output stream that has begun; call `ended` once, when it is over. */
export interface StreamWatch {
  /** Bytes sent to the client. */
  sent(bytes: number): void;
  /** The stream is over (completed, failed or cancelled). */
  ended(): void;
}

/** Receives what the handlers report. Every method must return quickly and never throw. */
export interface CallObserver {
  /** A call has ended. */
  callEnded(record: CallRecord): void;
  /** A StreamOutput call starts sending; `following` when it follows a running job. */
  streamBegan(options: { following: boolean }): StreamWatch;
}

/** An observer that reports to each of `observers` in turn. */
export function observeAll(observers: readonly CallObserver[]): CallObserver {
  return {
    callEnded(record) {
      for (const observer of observers) observer.callEnded(record);
    },
    streamBegan(options) {
      const watches = observers.map((observer) => observer.streamBegan(options));
      return {
        sent(bytes) {
          for (const watch of watches) watch.sent(bytes);
        },
        ended() {
          for (const watch of watches) watch.ended();
        },
      };
    },
  };
}
