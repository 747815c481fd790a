/**
 * Fixtures of the output module's tests (src/output/*_test.ts): an output
 * file in a temporary directory, external writers (a shell appending with
 * `>>`), reading a reader to its end with its offsets checked, and an
 * external hash. The helpers other suites use too live in tests/_support/;
 * this module re-exports those the output tests use.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { OutputFile } from "../../src/output/output_file.ts";
import type { OutputReader } from "../../src/output/reader.ts";
import { bytes, concat } from "../_support/bytes.ts";
import { runCommand } from "../_support/commands.ts";
import { withTempDir } from "../_support/fs.ts";

export { sleep, within } from "../_support/async.ts";
export { bytes, concat, sha256Hex, text } from "../_support/bytes.ts";
export { withTempDir } from "../_support/fs.ts";
export { fdsUnder } from "../_support/proc.ts";

/** The prefix of every temporary directory the output tests make. */
export const TEMP_PREFIX = "jobworker-output-test-";

/**
 * Runs `fn` with a fresh OutputFile in a fresh temp dir; removes both
 * afterwards, even when `fn` throws.
 */
export function withOutput(
  fn: (output: OutputFile, dir: string) => Promise<void>,
): Promise<void> {
  return withTempDir(async (dir) => {
    let output: OutputFile | null = null;
    try {
      output = await OutputFile.create(`${dir}/job.out`);
      await fn(output, dir);
    } finally {
      await output?.remove();
    }
  }, { prefix: TEMP_PREFIX });
}

/**
 * Runs `script` with `sh -c`, its positional parameters `$1`... being `args`
 * (paths go there, never into the script text). Fails on a non-zero exit.
 */
export async function sh(script: string, args: readonly string[] = []): Promise<void> {
  const result = await runCommand("sh", ["-c", script, "sh", ...args]);
  assert(
    result.code === 0,
    `sh -c ${JSON.stringify(script)} failed (${result.code}): ${result.err}`,
  );
}

/**
 * A long-lived external writer: a shell that appends each line it is sent
 * (without the newline) to the file with `>>`, so every append is an
 * open(O_APPEND)+write+close done by another process.
 */
export class ShellAppender {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;

  /** Starts the shell appending to `path`. */
  constructor(path: string) {
    this.#child = new Deno.Command("sh", {
      args: ["-c", `while IFS= read -r line; do printf '%s' "$line" >> "$1"; done`, "sh", path],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
  }

  /** Asks the shell to append `text` (which must not contain a newline). */
  async append(text: string): Promise<void> {
    assert(!text.includes("\n"), "ShellAppender.append: text must not contain a newline");
    await this.#stdin.write(bytes(`${text}\n`));
  }

  /** Ends the shell after it appended everything it was sent. */
  async close(): Promise<void> {
    await this.#stdin.close();
    const status = await this.#child.status;
    assertEquals(status.code, 0, "ShellAppender: shell failed");
  }
}

/** Hex SHA-256 of the file at `path`, computed by the external `sha256sum`. */
export async function sha256sumFile(path: string): Promise<string> {
  const result = await runCommand("sha256sum", [path]);
  assert(result.code === 0, `sha256sum ${path} failed`);
  const hex = result.out.split(" ")[0];
  assert(hex !== undefined && /^[0-9a-f]{64}$/.test(hex), `unexpected sha256sum output: ${hex}`);
  return hex;
}

/** Reads `reader` with `read()` until end of stream, checking offsets as it goes. */
export async function readAll(
  reader: OutputReader,
  options: { bufferSize?: number } = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(options.bufferSize ?? 64 * 1024);
  while (true) {
    const before = reader.offset;
    const n = await reader.read(buffer);
    if (n === null) return concat(chunks);
    assert(n > 0, "read() resolved 0 bytes for a non-empty buffer");
    assertEquals(reader.offset, before + n, "offset did not advance by the bytes read");
    chunks.push(buffer.slice(0, n));
  }
}
