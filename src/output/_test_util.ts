/**
 * Test helpers of the output module: temp files, external writers, hashing.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { OutputFile } from "./output_file.ts";
import type { OutputReader } from "./reader.ts";

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `fn` with a fresh OutputFile in a fresh temp dir; removes both
 * afterwards, even when `fn` throws.
 */
export async function withOutput(
  fn: (output: OutputFile, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "jobworker-output-test-" });
  let output: OutputFile | null = null;
  try {
    output = await OutputFile.create(`${dir}/job.out`);
    await fn(output, dir);
  } finally {
    await output?.remove();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Runs `script` with `sh -c`, its positional parameters `$1`... being `args`
 * (paths go there, never into the script text). Fails on a non-zero exit.
 */
export async function sh(script: string, args: readonly string[] = []): Promise<void> {
  const result = await new Deno.Command("sh", {
    args: ["-c", script, "sh", ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  assert(
    result.success,
    `sh -c ${JSON.stringify(script)} failed (${result.code}): ${
      new TextDecoder().decode(result.stderr)
    }`,
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
    await this.#stdin.write(new TextEncoder().encode(`${text}\n`));
  }

  /** Ends the shell after it appended everything it was sent. */
  async close(): Promise<void> {
    await this.#stdin.close();
    const status = await this.#child.status;
    assertEquals(status.code, 0, "ShellAppender: shell failed");
  }
}

/** Number of this process's open fds that refer to something under `dir`. */
export function fdsUnder(dir: string): number {
  let count = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`).startsWith(`${dir}/`)) count++;
    } catch {
      // The fd of the directory listing itself vanishes while we look.
    }
  }
  return count;
}

/** Hex SHA-256 of `data`, via WebCrypto. */
export async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex SHA-256 of the file at `path`, computed by the external `sha256sum`. */
export async function sha256sumFile(path: string): Promise<string> {
  const result = await new Deno.Command("sha256sum", { args: [path], stdout: "piped" }).output();
  assert(result.success, `sha256sum ${path} failed`);
  const hex = new TextDecoder().decode(result.stdout).split(" ")[0];
  assert(hex !== undefined && /^[0-9a-f]{64}$/.test(hex), `unexpected sha256sum output: ${hex}`);
  return hex;
}

/** Joins byte arrays. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
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

/** Settles within `ms` or resolves the string "timeout". */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
