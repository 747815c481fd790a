/**
 * Bytes and text in tests: UTF-8 both ways, joining chunks, reading a
 * stream of chunks to its end, and hashing.
 *
 * @module
 */
import { concat } from "../../src/bytes/mod.ts";

// The library's own: joining bytes is not a place where a bug could hide behind a test.
export { concat };

/** A shared UTF-8 decoder (only ever used without `stream`, so it keeps no state). */
export const decoder = new TextDecoder();
/** A shared UTF-8 encoder. */
export const encoder = new TextEncoder();

/** UTF-8 bytes of `text`. */
export function bytes(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text);
}

/** `data` decoded as UTF-8. */
export function text(data: Uint8Array): string {
  return decoder.decode(data);
}

/** Every chunk's data from `chunks` (an output reader, an API stream), joined, once it ends. */
export async function readChunks(
  chunks: AsyncIterable<{ data: Uint8Array }>,
): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Uint8Array[] = [];
  for await (const { data } of chunks) parts.push(data);
  return concat(parts);
}

/** Hex SHA-256 of `data`, via WebCrypto. */
export async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
