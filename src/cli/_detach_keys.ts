/**
 * The detach key sequence of `start -t` and `attach`: parsed from docker's
 * `--detach-keys` syntax (`ctrl-p,ctrl-q`, `ctrl-a,d`), and found in what
 * the user types. Bytes that begin the sequence are held back until it is
 * complete (the session detaches) or broken (they go to the job, as typed).
 *
 * @module
 */

/** docker's default, Ctrl-P Ctrl-Q. */
export const DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q";

/** The keys after `ctrl-` other than letters, by the control code they make (docker's table). */
const CTRL_SYMBOLS: Readonly<Record<string, number>> = {
  "@": 0x00,
  "[": 0x1b,
  "\\": 0x1c,
  "]": 0x1d,
  "^": 0x1e,
  "_": 0x1f,
};

/**
 * The bytes of a key sequence in docker's syntax: keys separated by commas,
 * each a single character (`d`, `Q`, `1`) or `ctrl-` and a letter or one of
 * `@ [ \ ] ^ _` (`ctrl-p`, `ctrl-\`). The empty text is no sequence at all
 * (an empty array: detaching by keys is off).
 *
 * @example
 * ```ts
 * parseDetachKeys("ctrl-p,ctrl-q"); // Uint8Array [0x10, 0x11]
 * parseDetachKeys("ctrl-a,d"); // Uint8Array [0x01, 0x64]
 * ```
 * @throws {Error} naming the key that is not one
 */
export function parseDetachKeys(text: string): Uint8Array {
  if (text === "") return new Uint8Array();
  return Uint8Array.from(
    text.split(",").map((key) => {
      const ctrl = /^ctrl-(.)$/i.exec(key);
      if (ctrl !== null) {
        const name = ctrl[1]!;
        if (/^[a-z]$/i.test(name)) return name.toLowerCase().charCodeAt(0) - 0x60;
        const code = CTRL_SYMBOLS[name];
        if (code !== undefined) return code;
      } else if (/^[\x21-\x7e]$/.test(key)) {
        return key.charCodeAt(0);
      }
      throw new Error(
        `${JSON.stringify(key)} is not a key (a character like "d", or ctrl- and a letter or ` +
          `one of @ [ \\ ] ^ _, like "ctrl-p"; keys separated by commas)`,
      );
    }),
  );
}

/** A key sequence as the user would name it: `Ctrl-P Ctrl-Q`, `Ctrl-A d`. */
export function describeDetachKeys(keys: Uint8Array): string {
  return [...keys].map((code) => {
    if (code >= 0x20) return String.fromCharCode(code);
    const symbol = Object.entries(CTRL_SYMBOLS).find(([, c]) => c === code)?.[0];
    return `Ctrl-${symbol ?? String.fromCharCode(code + 0x40)}`;
  }).join(" ");
}

/** What typed bytes come to, once the sequence is looked for in them. */
export interface DetachScan {
  /** Bytes for the job, in order (what was held back and is not the sequence, too). */
  input: Uint8Array;
  /** The whole sequence was typed: detach (bytes typed after it are dropped). */
  detach: boolean;
}

/**
 * Finds a key sequence in typed input across reads. With no sequence (an
 * empty one) every byte goes through at once.
 */
export class DetachKeyMatcher {
  readonly #keys: Uint8Array;
  /** The bytes typed so far that are a beginning of the sequence. */
  #held: number[] = [];

  /** @param keys the sequence, from {@link parseDetachKeys} */
  constructor(keys: Uint8Array) {
    this.#keys = keys;
  }

  /** The bytes of `data` that go to the job, and whether the sequence is now complete. */
  scan(data: Uint8Array): DetachScan {
    const keys = this.#keys;
    // Nothing held and no key that starts the sequence: the usual case, no copy.
    if (keys.length === 0 || (this.#held.length === 0 && !data.includes(keys[0]!))) {
      return { input: data, detach: false };
    }
    const out: number[] = [];
    for (const byte of data) {
      this.#held.push(byte);
      // Bytes that can no longer begin the sequence go to the job, first typed first.
      while (this.#held.length > 0 && !this.#isPrefix(this.#held)) out.push(this.#held.shift()!);
      if (this.#held.length === keys.length) {
        this.#held = [];
        return { input: Uint8Array.from(out), detach: true };
      }
    }
    return { input: Uint8Array.from(out), detach: false };
  }

  /** The bytes held back (a sequence begun but not finished), which then go to the job. */
  flush(): Uint8Array {
    const held = Uint8Array.from(this.#held);
    this.#held = [];
    return held;
  }

  #isPrefix(bytes: readonly number[]): boolean {
    return bytes.every((byte, i) => this.#keys[i] === byte);
  }
}
