/**
 * Writing to an interactive job's input (a job started with `stdin` or
 * `tty`): bytes, end-of-file, and the terminal's size. One writer at a
 * time: {@link Job.attachInput} hands out a new writer and detaches the one
 * before it (its `detached` signal fires), as `tmux attach -d` does.
 *
 * @module
 */
import { InputChannel } from "../executor/input_channel.ts";
import { JobPreconditionError } from "./errors.ts";
import { checkTerminalSize, type TerminalSize } from "./spec.ts";

/** The writer of a job's input; see the module doc. */
export class JobInputWriter {
  readonly #jobId: string;
  readonly #channel: InputChannel;
  readonly #detach = new AbortController();

  /** Made by {@link Job.attachInput}. */
  constructor(jobId: string, channel: InputChannel) {
    this.#jobId = jobId;
    this.#channel = channel;
  }

  /** Aborted once this writer no longer writes: another one took over, the job ended, or it was closed. */
  get detached(): AbortSignal {
    return this.#detach.signal;
  }

  async #send(frame: Parameters<InputChannel["send"]>[0]): Promise<void> {
    if (this.#detach.signal.aborted) {
      throw new JobPreconditionError(
        `Cannot write to job ${this.#jobId}: ${String(this.#detach.signal.reason)}`,
      );
    }
    if (!(await this.#channel.send(frame))) {
      this.detach("the job has ended");
      throw new JobPreconditionError(`Cannot write to job ${this.#jobId}: the job has ended`);
    }
  }

  /**
   * Writes `data` to the job's stdin or terminal; resolves once it is in
   * the job's input FIFO, which holds 64 KiB: a job that does not read
   * makes this wait (that is the flow control).
   *
   * @throws {JobPreconditionError} once detached
   */
  write(data: Uint8Array): Promise<void> {
    return this.#send({ type: "data", data });
  }

  /** End-of-file: the job's stdin pipe is closed (a terminal reads Ctrl-D). */
  end(): Promise<void> {
    return this.#send({ type: "eof" });
  }

  /** Sets the terminal's size (the job gets SIGWINCH); nothing for a job without a terminal. */
  resize(size: TerminalSize): Promise<void> {
    const checked = checkTerminalSize(size);
    return this.#send({ type: "resize", ...checked });
  }

  /** Stops writing (the job gets no end-of-file from this); `reason` goes to `detached`. */
  detach(reason = "the writer detached"): void {
    if (this.#detach.signal.aborted) return;
    this.#detach.abort(reason);
    this.#channel.close();
  }
}
