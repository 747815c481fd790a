/**
 * Byte-array helpers shared by the CLI, the executor and the tests, so that
 * each is written once.
 *
 * @module
 */

/**
 * The bytes of `parts`, one after the other, in a new array (never one of
 * the parts itself, so the result can be kept or changed freely).
 *
 * @example
 * ```ts
 * concat([new Uint8Array([1]), new Uint8Array([2, 3])]); // Uint8Array [1, 2, 3]
 * ```
 */
export function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
