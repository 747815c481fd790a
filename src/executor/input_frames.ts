/**
 * The frames an interactive job's input travels in, from the server to the
 * executor through the job's `input` FIFO (see ./protocol.ts). A frame is
 * a 4-byte header, its type (1 byte) and payload length (3 bytes, big
 * endian), then the payload:
 *
 * | type | payload                              | the executor                                   |
 * | ---- | ------------------------------------ | ---------------------------------------------- |
 * | 0    | data, 1 to {@link MAX_FRAME_DATA} B  | writes it to the job's stdin or terminal       |
 * | 1    | none                                 | end of file: closes the stdin pipe (a terminal gets VEOF, Ctrl-D) |
 * | 2    | rows, cols: 2 bytes each, big endian | sets the terminal's size (the job gets SIGWINCH) |
 *
 * A frame is at most 4096 bytes (PIPE_BUF), so each one, written in one
 * call, arrives whole even if a writer dies mid-stream.
 *
 * @module
 */

/** Most payload bytes of a data frame: a whole frame fits in PIPE_BUF. */
export const MAX_FRAME_DATA = 4096 - 4;

/** One decoded frame. */
export type InputFrame =
  | { type: "data"; data: Uint8Array }
  | { type: "eof" }
  | { type: "resize"; rows: number; cols: number };

const TYPES = { data: 0, eof: 1, resize: 2 } as const;

function frame(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  out[0] = type;
  out[1] = (payload.length >> 16) & 0xff;
  out[2] = (payload.length >> 8) & 0xff;
  out[3] = payload.length & 0xff;
  out.set(payload, 4);
  return out;
}

/**
 * Encodes `frame`; data longer than {@link MAX_FRAME_DATA} becomes several
 * frames, empty data none.
 *
 * @example
 * ```ts
 * encodeFrames({ type: "resize", rows: 24, cols: 80 }); // [Uint8Array [2, 0, 0, 4, 0, 24, 0, 80]]
 * ```
 */
export function encodeFrames(input: InputFrame): Uint8Array[] {
  switch (input.type) {
    case "data": {
      const frames: Uint8Array[] = [];
      for (let at = 0; at < input.data.length; at += MAX_FRAME_DATA) {
        frames.push(frame(TYPES.data, input.data.subarray(at, at + MAX_FRAME_DATA)));
      }
      return frames;
    }
    case "eof":
      return [frame(TYPES.eof, new Uint8Array())];
    case "resize": {
      const payload = new Uint8Array(4);
      new DataView(payload.buffer).setUint16(0, input.rows);
      new DataView(payload.buffer).setUint16(2, input.cols);
      return [frame(TYPES.resize, payload)];
    }
  }
}

/**
 * Splits a byte stream into frames, whatever the chunks it arrives in.
 * Throws a TypeError for a frame no writer makes (unknown type, bad length).
 */
export class FrameDecoder {
  #pending = new Uint8Array();

  /** Adds `chunk`; returns the frames it completed. */
  push(chunk: Uint8Array): InputFrame[] {
    const buf = new Uint8Array(this.#pending.length + chunk.length);
    buf.set(this.#pending);
    buf.set(chunk, this.#pending.length);
    const frames: InputFrame[] = [];
    let at = 0;
    while (buf.length - at >= 4) {
      const type = buf[at]!;
      const length = (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!;
      if (length > MAX_FRAME_DATA) throw new TypeError(`input frame of ${length} bytes`);
      if (buf.length - at - 4 < length) break;
      const payload = buf.slice(at + 4, at + 4 + length);
      at += 4 + length;
      if (type === TYPES.data && length > 0) frames.push({ type: "data", data: payload });
      else if (type === TYPES.eof && length === 0) frames.push({ type: "eof" });
      else if (type === TYPES.resize && length === 4) {
        const view = new DataView(payload.buffer);
        frames.push({ type: "resize", rows: view.getUint16(0), cols: view.getUint16(2) });
      } else throw new TypeError(`input frame of type ${type} with ${length} bytes`);
    }
    this.#pending = buf.slice(at);
    return frames;
  }
}
