/**
 * `logs --tail N`: where the last N lines of a job's output begin, found
 * without downloading the whole output: windows are read backwards from
 * the end (StreamOutput from an offset, `follow: false`, cut at the
 * window's top), each twice the size of the one before, until N line ends
 * have been counted.
 *
 * Lines end with `\n`; a last line without one counts as a line, as for
 * `tail -n`. The last byte of the output ends the last line whatever it
 * is, so it is never counted as a line end of its own.
 *
 * @module
 */
import { concat } from "../bytes/mod.ts";
import type { OutputChunk } from "../job/mod.ts";

/** What reading ranges of the output needs of the API client. */
export interface RangeClient {
  /** The output from `offset`; `follow: false` ends at its size; `signal` cancels. */
  streamOutput(
    id: string,
    options: { offset?: number; follow?: boolean; signal?: AbortSignal },
  ): AsyncGenerator<OutputChunk>;
}

/** Where the last lines begin, and (when small enough to keep) their bytes. */
export interface TailStart {
  /** Offset of the first byte of the last lines. */
  start: number;
  /**
   * The bytes from `start` to the end, when they were kept while searching;
   * null when they were too many to keep (read them again from `start`).
   */
  held: Uint8Array | null;
}

/** The first window: most outputs' last lines fit, in one call. */
export const FIRST_WINDOW = 64 * 1024;
/** Windows grow to this and no further: memory stays bounded for outputs of one huge line. */
export const MAX_WINDOW = 8 * 1024 * 1024;
/** Bytes read while searching are kept (to be written without reading them again) up to this. */
export const HOLD_LIMIT = 4 * 1024 * 1024;

const NEWLINE = 0x0a;

/**
 * The index in `data` at which its last `lines` lines begin (0 when it has
 * no more than that; `data.length` for 0 lines). The final byte ends the
 * last line, newline or not.
 */
export function lastLinesStart(data: Uint8Array, lines: number): number {
  if (lines <= 0) return data.length;
  let needed = lines;
  for (let i = data.length - 2; i >= 0; i--) {
    if (data[i] === NEWLINE && --needed === 0) return i + 1;
  }
  return 0;
}

/**
 * The output's bytes from `from` to `to`, exactly.
 *
 * @throws {Error} when the output ends before `to` (it only grows, so the
 * size the caller saw must be there)
 */
export async function readRange(
  client: RangeClient,
  id: string,
  range: { from: number; to: number },
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let at = range.from;
  if (at < range.to) {
    const abort = new AbortController();
    try {
      for await (
        const chunk of client.streamOutput(id, {
          offset: range.from,
          follow: false,
          signal: abort.signal,
        })
      ) {
        const data = chunk.data.subarray(0, Math.max(0, range.to - chunk.offset));
        parts.push(data);
        at = chunk.offset + data.length;
        if (at >= range.to) break;
      }
    } finally {
      // Leaving the loop early cancels the call; this covers a throw too.
      abort.abort();
    }
  }
  if (at < range.to) {
    throw new Error(
      `the output ends at offset ${at}, short of the range ${range.from} to ${range.to}`,
    );
  }
  return concat(parts);
}

/**
 * Where the last `lines` lines of the output between `from` and `end` begin
 * (`end` is the output's size as the caller saw it). Reads backwards from
 * `end` in growing windows, so only about twice the tail's bytes (and at
 * least {@link FIRST_WINDOW}) cross the network.
 */
export async function findTail(
  client: RangeClient,
  id: string,
  options: { lines: number; from: number; end: number },
): Promise<TailStart> {
  const { lines, from, end } = options;
  if (end <= from) return { start: from, held: new Uint8Array(0) };
  if (lines <= 0) return { start: end, held: new Uint8Array(0) };
  let needed = lines;
  // Newest window first; dropped (null) once more than HOLD_LIMIT.
  let held: Uint8Array[] | null = [];
  let heldBytes = 0;
  let window = FIRST_WINDOW;
  let top = end;
  while (top > from) {
    const bottom = Math.max(from, top - window);
    const data = await readRange(client, id, { from: bottom, to: top });
    for (let i = data.length - 1; i >= 0; i--) {
      if (data[i] !== NEWLINE || bottom + i === end - 1) continue;
      if (--needed === 0) {
        const start = bottom + i + 1;
        return {
          start,
          held: held === null ? null : concat([data.subarray(i + 1), ...held.toReversed()]),
        };
      }
    }
    if (held !== null) {
      held.push(data);
      heldBytes += data.length;
      if (heldBytes > HOLD_LIMIT) held = null;
    }
    top = bottom;
    window = Math.min(window * 2, MAX_WINDOW);
  }
  return { start: from, held: held === null ? null : concat(held.toReversed()) };
}

/**
 * The last `lines` lines of the output from `from`, read forwards to its
 * current end (for when its size is unknown), keeping only what may still
 * belong to them: where the last lines begin can only move forwards as
 * bytes are added, so a cut made early stays right.
 */
export async function tailOfSnapshot(
  client: RangeClient,
  id: string,
  options: { lines: number; from: number },
): Promise<TailStart & { held: Uint8Array }> {
  let start = options.from;
  let parts: Uint8Array[] = [];
  let size = 0;
  let trimAt = FIRST_WINDOW;
  const trim = () => {
    const data = concat(parts);
    const cut = lastLinesStart(data, options.lines);
    // A copy, so that the dropped bytes can be freed.
    const kept = data.slice(cut);
    start += cut;
    parts = [kept];
    size = kept.length;
    // Long lines: let the buffer grow rather than trim it on every chunk.
    if (size > trimAt / 2) trimAt *= 2;
  };
  for await (const chunk of client.streamOutput(id, { offset: options.from, follow: false })) {
    parts.push(chunk.data);
    size += chunk.data.length;
    if (size > trimAt) trim();
  }
  trim();
  return { start, held: concat(parts) };
}
