/**
 * The errors of the job library that callers are expected to catch and
 * tell apart (the gRPC layer maps each to a status code). Everything else
 * is a built-in error and means a bug or a host problem.
 *
 * @module
 */

/**
 * A request to the job library is invalid (a bad grace period, an offset
 * out of range, a bad spec): nothing was done. The gRPC layer answers
 * INVALID_ARGUMENT with the message.
 *
 * @example
 * ```ts ignore
 * await job.stop({ graceMs: -1 });
 * // JobArgumentError: Cannot stop job: the grace period must be 0 or more and finite, got -0.001 s
 * ```
 */
export class JobArgumentError extends Error {
  /** @param message the full message, starting with what could not be done ("Cannot ..."). */
  constructor(message: string) {
    super(message);
    this.name = "JobArgumentError";
  }
}

/**
 * A job spec is invalid, or its command cannot be started (not found, not
 * executable). Nothing was created.
 *
 * @example
 * ```ts
 * try { await manager.start({ command: "nosuch" }); }
 * catch (err) { if (err instanceof JobSpecError) console.error(err.message); }
 * // Cannot start job: command "nosuch" not found
 * ```
 */
export class JobSpecError extends JobArgumentError {
  /** @param message the full message, starting with "Cannot start job: ". */
  constructor(message: string) {
    super(message);
    this.name = "JobSpecError";
  }
}

/** No job has the given id (or the caller may not see it). */
export class JobNotFoundError extends Error {
  /** @param id the id that was asked for */
  constructor(id: string) {
    super(`Job ${JSON.stringify(id)} not found`);
    this.name = "JobNotFoundError";
  }
}

/**
 * The request is valid but the job manager cannot act on it in its present
 * state (e.g. it is shutting down, or the host lacks what the request needs).
 */
export class JobPreconditionError extends Error {
  /** @param message the full message, e.g. "Cannot start job: the job manager is shut down". */
  constructor(message: string) {
    super(message);
    this.name = "JobPreconditionError";
  }
}

/**
 * The request is valid but the server's policy does not let this caller
 * do it (e.g. run a job as a uid outside the allowed ranges).
 */
export class JobPermissionError extends Error {
  /** @param message the full message, e.g. "Cannot start job: uid 0 ... is not allowed". */
  constructor(message: string) {
    super(message);
    this.name = "JobPermissionError";
  }
}

/**
 * A limit of the server keeps the request from being served now: too many
 * running jobs (in total or for the user), too little free space for
 * output. It may succeed later.
 */
export class JobExhaustedError extends Error {
  /** @param message the full message, naming the limit, e.g. "... (--max-jobs 100)". */
  constructor(message: string) {
    super(message);
    this.name = "JobExhaustedError";
  }
}
