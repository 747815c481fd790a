/**
 * The output pump: moves what the job writes to its stdout and stderr (one
 * pipe) into the job's output file with splice(2), so the bytes never pass
 * through JavaScript, until the cap; beyond it, or once the disk refuses a
 * write, the pipe is still drained (into /dev/null) so the job never blocks,
 * and the change is reported.
 *
 * @module
 */
import { readSome, spliceOnce, SyscallError, waitReadable, writeFd } from "../../ffi/mod.ts";

/** The pipe's buffer and the most one splice moves. */
export const PUMP_CHUNK_BYTES = 1024 * 1024;

/** How the output ended up. */
export interface PumpState {
  /** Bytes in the output file. */
  bytes: number;
  /** Output beyond the cap was discarded. */
  truncated: boolean;
  /** Why writing the file failed (the rest was discarded), or null. */
  error: string | null;
}

function describe(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  switch (code) {
    case "ENOSPC":
      return "the data directory's disk is full (ENOSPC); later output was discarded";
    case "EDQUOT":
      return "the data directory's disk quota is exhausted (EDQUOT); later output was discarded";
    case "EFBIG":
      return "the output file reached the largest size allowed (EFBIG); later output was discarded";
    default:
      return `cannot write the output file (${
        err instanceof Error ? err.message : String(err)
      }); later output was discarded`;
  }
}

/**
 * Pumps pipe `readFd` into `options.outputFd` until every writer of the
 * pipe is gone; calls `onChange` whenever the state's `truncated` or
 * `error` changes. Resolves with the final state.
 */
export async function pumpOutput(
  readFd: number,
  options: {
    outputFd: number;
    nullFd: number;
    maxBytes: number;
    onChange: (state: PumpState) => void;
  },
): Promise<PumpState> {
  const state: PumpState = { bytes: 0, truncated: false, error: null };
  let discarding = false;
  for (;;) {
    const room = options.maxBytes - state.bytes;
    const toFile = !discarding && room > 0;
    let moved: number | null;
    try {
      moved = toFile
        ? spliceOnce(readFd, options.outputFd, Math.min(PUMP_CHUNK_BYTES, room))
        : spliceOnce(readFd, options.nullFd, PUMP_CHUNK_BYTES);
    } catch (err) {
      if (!toFile) throw err; // /dev/null refused: nothing sensible is left to do
      discarding = true;
      state.error = describe(err);
      options.onChange({ ...state });
      continue;
    }
    if (moved === null) {
      await waitReadable(readFd);
      continue;
    }
    if (moved === 0) return state;
    if (toFile) {
      state.bytes += moved;
    } else if (!discarding && !state.truncated) {
      // Bytes beyond the cap: only now is the output really cut.
      state.truncated = true;
      options.onChange({ ...state });
    }
  }
}

/** The most one read of a terminal's master takes. */
const TTY_CHUNK_BYTES = 64 * 1024;

/**
 * Pumps what a job writes to its terminal (the pty master `masterFd`,
 * non-blocking) into `options.outputFd`, with the same cap and reports as
 * {@link pumpOutput}, until no process holds the terminal any more (the
 * master then reads EIO). A terminal cannot be spliced: the bytes pass
 * through a buffer here.
 */
export async function pumpTerminal(
  masterFd: number,
  options: { outputFd: number; maxBytes: number; onChange: (state: PumpState) => void },
): Promise<PumpState> {
  const state: PumpState = { bytes: 0, truncated: false, error: null };
  const buf = new Uint8Array(TTY_CHUNK_BYTES);
  for (;;) {
    let n: number | null;
    try {
      n = readSome(masterFd, buf);
    } catch (err) {
      if (err instanceof SyscallError && err.code === "EIO") return state;
      throw err;
    }
    if (n === null) {
      await waitReadable(masterFd);
      continue;
    }
    if (n === 0) return state;
    const room = options.maxBytes - state.bytes;
    if (state.error !== null) continue;
    if (room <= 0) {
      if (!state.truncated) {
        state.truncated = true;
        options.onChange({ ...state });
      }
      continue;
    }
    const keep = buf.subarray(0, Math.min(n, room));
    try {
      writeFd(options.outputFd, keep, "output");
      state.bytes += keep.length;
    } catch (err) {
      state.error = describe(err);
      options.onChange({ ...state });
      continue;
    }
    if (keep.length < n && !state.truncated) {
      state.truncated = true;
      options.onChange({ ...state });
    }
  }
}
