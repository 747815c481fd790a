/**
 * The CLI's own stdin as `start -i`, `start -t` and `attach` use it: bytes
 * to send to a job, and, when it is a terminal, its raw mode, its size and
 * its resizes.
 *
 * @module
 */
import type { TerminalSize } from "../job/mod.ts";

/** The local input of an interactive session (the real one is {@link denoInput}). */
export interface LocalInput {
  /** Whether stdin is a terminal (raw mode, a size and resizes only then). */
  isTerminal(): boolean;
  /** The next bytes (a copy, the caller keeps it); null at end-of-file. */
  read(): Promise<Uint8Array | null>;
  /**
   * Raw mode on: keys one by one, unechoed, Ctrl-C and Ctrl-Z as bytes, and
   * no output processing (a job's terminal already made its CR LF); or the
   * terminal's modes back as they were before.
   */
  setRaw(raw: boolean): Promise<void>;
  /** The terminal's size now; null when there is none to tell. */
  size(): TerminalSize | null;
  /** Calls `handler` when the terminal's size changes (SIGWINCH), until the returned function is called. */
  onResize(handler: () => void): () => void;
}

/** Most bytes one read takes from stdin. */
const READ_BYTES = 64 * 1024;

/**
 * Output processing off (`stty -opost`), on the terminal that is stdin.
 * `Deno.stdin.setRaw` leaves it on, so the terminal would turn each LF a
 * job writes into CR LF, and a full-screen program that moves the cursor
 * down with LF would be drawn wrong. `setRaw(false)` restores the modes it
 * saved, this one with them. Best effort: without `stty`, it stays on.
 */
async function outputProcessingOff(): Promise<void> {
  try {
    await new Deno.Command("stty", {
      args: ["-opost"],
      stdin: "inherit",
      stdout: "null",
      stderr: "null",
    }).output();
  } catch {
    // No stty here: LF still moves to the first column; everything else works.
  }
}

/** The real stdin. */
export function denoInput(): LocalInput {
  const buffer = new Uint8Array(READ_BYTES);
  return {
    isTerminal: () => Deno.stdin.isTerminal(),
    async read() {
      const n = await Deno.stdin.read(buffer);
      return n === null ? null : buffer.slice(0, n);
    },
    async setRaw(raw) {
      Deno.stdin.setRaw(raw);
      if (raw) await outputProcessingOff();
    },
    size() {
      try {
        const { rows, columns } = Deno.consoleSize();
        return rows > 0 && columns > 0 ? { rows, cols: columns } : null;
      } catch {
        return null;
      }
    },
    onResize(handler) {
      Deno.addSignalListener("SIGWINCH", handler);
      return () => Deno.removeSignalListener("SIGWINCH", handler);
    },
  };
}
