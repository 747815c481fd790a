/**
 * The audit log: one JSON line per call that changes something (Start,
 * Stop) and per call refused for who the caller is, appended to a file
 * (mode 0600) that is rotated by size. It answers "who started or stopped
 * what, when, and who tried what they may not", and nothing more: it never
 * holds output bytes, arguments or environment values.
 *
 * A line (keys always in this order; `command` only for Start, `message`
 * only when the call failed):
 *
 * ```json
 * {"time":"2026-12-02T06:40:00.123Z","user":"alice","method":"Start","job":"5f0c…","outcome":"ok","code":"OK","command":"sh"}
 * {"time":"2026-12-02T06:40:02.020Z","user":"bob","method":"Stop","job":"5f0c…","outcome":"denied","code":"NOT_FOUND","message":"job \"5f0c…\" not found"}
 * ```
 *
 * `outcome` is `ok`, `failed` (refused for what was asked), or `denied`
 * (refused for who asked: no usable certificate, not on the allow-list, a
 * job of another user, which the caller is told does not exist).
 *
 * @module
 */
import { status } from "@grpc/grpc-js";
import type { CallObserver, CallRecord } from "./observe.ts";

/** Options of {@link AuditLog.open}. */
export interface AuditLogOptions {
  /** Rotate once the file would grow past this many bytes; default 16 MiB. */
  maxBytes?: number;
  /** Rotated files kept (`audit.log.1` newest … `.N` oldest); default 5. */
  keep?: number;
  /** Where a failure to write is reported (the call itself is not failed); default console.error. */
  log?: (message: string) => void;
}

/** The longest `message` kept in a line. */
const MAX_MESSAGE = 300;

const CODE_NAMES = new Map<number, string>(
  Object.entries(status)
    .filter((entry): entry is [string, number] => typeof entry[1] === "number")
    .map(([name, code]) => [code, name]),
);

/** The JSON line for `record` at `time`, or null when the call is not audited. */
export function auditLine(record: CallRecord, time: Date): string | null {
  const changes = record.method === "Start" || record.method === "Stop" ||
    record.method === "Signal" || record.method === "Attach";
  if (!changes && !record.denied) return null;
  const outcome = record.denied ? "denied" : record.code === status.OK ? "ok" : "failed";
  const line: Record<string, string | null> = {
    time: time.toISOString(),
    user: record.user,
    method: record.method,
    job: record.jobId,
    outcome,
    code: CODE_NAMES.get(record.code) ?? String(record.code),
  };
  if (record.method === "Start" && record.command !== undefined) line.command = record.command;
  if (record.message !== "") line.message = record.message.slice(0, MAX_MESSAGE);
  return JSON.stringify(line);
}

const encoder = new TextEncoder();

/**
 * An append-only, size-rotated audit file. Lines are written synchronously
 * in call order; each is one `write` on an O_APPEND file.
 *
 * @example
 * ```ts ignore
 * const audit = AuditLog.open(`${dataDir}/audit.log`);
 * startServer({ ..., observer: audit.observer() });
 * ```
 */
export class AuditLog {
  /** Path of the current file. */
  readonly path: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  readonly #log: (message: string) => void;
  #file: Deno.FsFile;
  #size: number;

  private constructor(path: string, options: Required<AuditLogOptions>) {
    this.path = path;
    this.#maxBytes = options.maxBytes;
    this.#keep = options.keep;
    this.#log = options.log;
    this.#file = AuditLog.#openFile(path);
    this.#size = this.#file.statSync().size;
  }

  /**
   * Opens (creating) the audit file at `path`.
   *
   * @throws {RangeError} for a maxBytes below 4 KiB or a keep below 1.
   */
  static open(path: string, options: AuditLogOptions = {}): AuditLog {
    const maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    const keep = options.keep ?? 5;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 4096) {
      throw new RangeError(`audit log size must be at least 4096 bytes, got ${maxBytes}`);
    }
    if (!Number.isSafeInteger(keep) || keep < 1) {
      throw new RangeError(`audit log rotation must keep at least 1 file, got ${keep}`);
    }
    return new AuditLog(path, {
      maxBytes,
      keep,
      log: options.log ?? ((message) => console.error(message)),
    });
  }

  static #openFile(path: string): Deno.FsFile {
    return Deno.openSync(path, { create: true, append: true, mode: 0o600 });
  }

  /** Appends `record`'s line, if it is audited. Never throws: a failure is logged. */
  write(record: CallRecord, time: Date = new Date()): void {
    const line = auditLine(record, time);
    if (line === null) return;
    const bytes = encoder.encode(`${line}\n`);
    try {
      if (this.#size > 0 && this.#size + bytes.length > this.#maxBytes) this.#rotate();
      let written = 0;
      while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
      this.#size += bytes.length;
    } catch (err) {
      this.#log(`audit log ${this.path}: cannot write: ${(err as Error).message}`);
    }
  }

  /** An observer that writes every audited call here. */
  observer(): CallObserver {
    return {
      callEnded: (record) => this.write(record),
      streamBegan: () => ({ sent() {}, ended() {} }),
    };
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }

  #rotate(): void {
    this.#file.close();
    try {
      for (let n = this.#keep - 1; n >= 1; n--) {
        try {
          Deno.renameSync(`${this.path}.${n}`, `${this.path}.${n + 1}`);
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) throw err;
        }
      }
      Deno.renameSync(this.path, `${this.path}.1`);
    } finally {
      // Whatever failed, lines keep going somewhere: the current file.
      this.#file = AuditLog.#openFile(this.path);
      this.#size = this.#file.statSync().size;
    }
  }
}
