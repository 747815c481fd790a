/**
 * The input pump of an interactive job: reads frames (./input_frames.ts)
 * from the job's `input` FIFO and carries them out on the job's stdin pipe
 * or terminal. It writes only as fast as the job reads: while the pipe or
 * terminal is full it waits, and so reads no more of the FIFO, whose
 * writer (the server) then waits in turn.
 *
 * @module
 */
import { closeFd, setWindowSize, SyscallError, waitWritable, writeSome } from "../../ffi/mod.ts";
import { FrameDecoder } from "./input_frames.ts";

/** Where the input goes. */
export interface InputTarget {
  /** The stdin pipe's write end, or the terminal's master (non-blocking). */
  fd: number;
  /** True for a terminal: end-of-file is VEOF, and resizes apply. */
  tty: boolean;
}

/** VEOF, Ctrl-D: what a terminal in canonical mode reads as end-of-file. */
const VEOF = new Uint8Array([4]);

/** Writes all of `data` to non-blocking `fd`, waiting while it is full. */
async function writeAll(fd: number, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) {
    const n = writeSome(fd, data.subarray(at));
    if (n === null) await waitWritable(fd);
    else at += n;
  }
}

/**
 * Pumps `input` into `target` until the executor exits (the FIFO, held
 * open for writing too, never ends by itself). A job that closed its stdin
 * (EPIPE) gets nothing more; end-of-file closes the pipe once.
 */
export async function pumpInput(input: Deno.FsFile, target: InputTarget): Promise<void> {
  const decoder = new FrameDecoder();
  const buf = new Uint8Array(64 * 1024);
  let open = true;
  for (let n = await input.read(buf); n !== null; n = await input.read(buf)) {
    for (const frame of decoder.push(buf.subarray(0, n))) {
      if (!open) continue;
      try {
        if (frame.type === "data") await writeAll(target.fd, frame.data);
        else if (frame.type === "resize") {
          if (target.tty) setWindowSize(target.fd, { rows: frame.rows, cols: frame.cols });
        } else if (target.tty) await writeAll(target.fd, VEOF);
        else {
          closeFd(target.fd);
          open = false;
        }
      } catch (err) {
        // The job closed its stdin, or the terminal is gone: the rest has nowhere to go.
        if (err instanceof SyscallError && (err.code === "EPIPE" || err.code === "EIO")) {
          open = false;
        } else throw err;
      }
    }
  }
}
