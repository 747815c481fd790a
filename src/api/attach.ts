/**
 * The client's side of an Attach call (see the proto): input and terminal
 * sizes out, output and the final status in.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import type { JobStatus, OutputChunk, TerminalSize } from "../job/mod.ts";
import { statusFromMessage } from "./convert.ts";
import type { AttachRequestMessage, AttachResponseMessage } from "./proto.ts";

/** Input bytes a session sends beyond what the server said the job's input took. */
const MAX_IN_FLIGHT = 4 * 1024 * 1024;

/** Turns a failed call into the error callers see (the client's ApiError). */
export type ErrorMapper = (err: unknown) => Error;

/**
 * An attached session. Read `output` to its end (it must be read: the
 * server sends no faster than it is read); `ended` then holds the job's
 * final status. `write` resolves once the bytes are on their way, waiting
 * while the connection is full.
 */
export class AttachSession {
  readonly #call: grpc.ClientDuplexStream<AttachRequestMessage, AttachResponseMessage>;
  readonly #mapError: ErrorMapper;
  #status: JobStatus | null = null;
  #closedInput = false;
  #sent = 0;
  #acceptedBytes = 0;
  #room: (() => void) | null = null;

  /** Made by `JobWorkerClient.attach`; `start` is sent at once. */
  constructor(
    call: grpc.ClientDuplexStream<AttachRequestMessage, AttachResponseMessage>,
    options: { id: string; offset?: number; mapError: ErrorMapper },
  ) {
    this.#call = call;
    this.#mapError = options.mapError;
    call.write({
      start: {
        id: options.id,
        ...(options.offset === undefined ? {} : { offset: options.offset }),
      },
    } as AttachRequestMessage);
  }

  /**
   * The job's output from the offset asked for, as it comes. Ends once the
   * job has ended and every byte came (then {@link status} is set), or
   * throws the call's error (ABORTED when another client attached).
   */
  async *output(): AsyncGenerator<OutputChunk> {
    try {
      for await (const message of this.#call as AsyncIterable<AttachResponseMessage>) {
        if (message.output) yield { offset: message.output.offset, data: message.output.data };
        else if (message.ended) this.#status = statusFromMessage(message.ended);
        else if (message.inputAccepted !== undefined) this.#accepted(message.inputAccepted);
      }
    } catch (err) {
      throw this.#mapError(err);
    }
  }

  /** The job's final status, once {@link output} has ended with the job; null before. */
  get status(): JobStatus | null {
    return this.#status;
  }

  #send(message: AttachRequestMessage): Promise<void> {
    if (this.#closedInput) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.#call.write(message)) resolve();
      else this.#call.once("drain", () => resolve());
    });
  }

  #accepted(bytes: number): void {
    this.#acceptedBytes = bytes;
    if (this.#sent - bytes <= MAX_IN_FLIGHT) {
      this.#room?.();
      this.#room = null;
    }
  }

  /**
   * Sends bytes to the job's stdin or terminal; with more than 4 MiB not
   * yet taken by the job's input, waits until the server says it took
   * more. {@link output} must be read meanwhile: that is where it says so.
   */
  async write(data: Uint8Array): Promise<void> {
    while (this.#sent - this.#acceptedBytes > MAX_IN_FLIGHT && !this.#closedInput) {
      await new Promise<void>((resolve) => (this.#room = resolve));
    }
    this.#sent += data.length;
    await this.#send({ input: data } as AttachRequestMessage);
  }

  /** Tells the job's terminal its new size. */
  resize(size: TerminalSize): Promise<void> {
    return this.#send({ resize: { rows: size.rows, cols: size.cols } } as AttachRequestMessage);
  }

  /** End-of-file for the job (then the input half is closed); output goes on. */
  end(): void {
    if (this.#closedInput) return;
    // Explicit: the server takes a bare half-close as end-of-file only once
    // it is sure the call was not cancelled.
    this.#call.write({ eof: true } as AttachRequestMessage);
    this.#closedInput = true;
    this.#call.end();
  }

  /** Leaves the job running and ends the call. */
  detach(): void {
    this.#closedInput = true;
    this.#room?.();
    this.#call.cancel();
  }
}
