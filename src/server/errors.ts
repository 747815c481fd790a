/**
 * The one mapping from library errors to gRPC status codes. Internal
 * details never reach the client: anything unexpected becomes INTERNAL with
 * a generic message, and is logged on the server.
 *
 * @module
 */
import { status } from "@grpc/grpc-js";
import {
  JobArgumentError,
  JobEventsGoneError,
  JobExhaustedError,
  JobNotFoundError,
  JobPermissionError,
  JobPreconditionError,
} from "../job/mod.ts";

/** An error with the gRPC status it must be answered with. */
export class RequestError extends Error {
  /** The gRPC status code. */
  readonly code: status;

  /**
   * @example
   * ```ts
   * throw new RequestError(status.INVALID_ARGUMENT, 'job id "x" is malformed');
   * ```
   */
  constructor(code: status, message: string) {
    super(message);
    this.name = "RequestError";
    this.code = code;
  }
}

/** What a handler sends back for an error: a code and a client-safe message. */
export interface StatusError {
  code: status;
  details: string;
}

/**
 * Maps any error to the status a client sees. `log` receives unexpected
 * errors (with their stack) so the operator sees what the client does not.
 */
export function toStatusError(
  err: unknown,
  options: { log?: (message: string) => void } = {},
): StatusError {
  if (err instanceof RequestError) return { code: err.code, details: err.message };
  if (err instanceof JobArgumentError) {
    return { code: status.INVALID_ARGUMENT, details: err.message };
  }
  if (err instanceof JobNotFoundError) return { code: status.NOT_FOUND, details: err.message };
  if (err instanceof JobExhaustedError) {
    return { code: status.RESOURCE_EXHAUSTED, details: err.message };
  }
  if (err instanceof JobPermissionError) {
    return { code: status.PERMISSION_DENIED, details: err.message };
  }
  if (err instanceof JobEventsGoneError) return { code: status.OUT_OF_RANGE, details: err.message };
  if (err instanceof JobPreconditionError) {
    return { code: status.FAILED_PRECONDITION, details: err.message };
  }
  const log = options.log ?? ((message: string) => console.error(message));
  log(`internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  return { code: status.INTERNAL, details: "internal error" };
}
