/**
 * The server's end of an interactive job's `input` FIFO (see ./protocol.ts
 * and ./input_frames.ts): frames go in one write each, and a full FIFO
 * (the job reads no faster) makes {@link InputChannel.send} wait.
 *
 * @module
 */
import {
  closeFd,
  O_NONBLOCK,
  O_WRONLY,
  openFd,
  SyscallError,
  waitWritable,
  writeSome,
} from "../../ffi/mod.ts";
import { encodeFrames, type InputFrame } from "./input_frames.ts";

/** An open input FIFO. */
export class InputChannel {
  #fd: number | null;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /**
   * Opens the FIFO at `path` for writing; null when no executor holds it
   * (ENXIO: the job has ended) or it is gone.
   */
  static open(path: string): InputChannel | null {
    try {
      return new InputChannel(openFd(path, O_WRONLY | O_NONBLOCK));
    } catch (err) {
      if (err instanceof SyscallError && (err.code === "ENXIO" || err.code === "ENOENT")) {
        return null;
      }
      throw err;
    }
  }

  /**
   * Sends `frame`, waiting while the FIFO is full. Resolves false when the
   * executor is gone (EPIPE) or the channel was closed meanwhile.
   */
  async send(frame: InputFrame): Promise<boolean> {
    for (const bytes of encodeFrames(frame)) {
      for (;;) {
        const fd = this.#fd;
        if (fd === null) return false;
        let n: number | null;
        try {
          // At most PIPE_BUF bytes: written whole or not at all.
          n = writeSome(fd, bytes);
        } catch (err) {
          if (err instanceof SyscallError && err.code === "EPIPE") return false;
          throw err;
        }
        if (n !== null) break;
        await waitWritable(fd);
      }
    }
    return true;
  }

  /** Closes the FIFO (the job gets no end-of-file from this: see `send({ type: "eof" })`). */
  close(): void {
    if (this.#fd === null) return;
    closeFd(this.#fd);
    this.#fd = null;
  }
}
