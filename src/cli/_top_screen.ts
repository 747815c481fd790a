/**
 * `top` on a terminal: the alternate screen, raw keys, a refresh every
 * second, a redraw on a key or a resize, and the terminal given back as it
 * was (main screen, cursor, modes) on every way out: `q`, Ctrl-C, the end
 * of input, SIGINT/SIGTERM/SIGHUP, and errors.
 *
 * @module
 */
import type { JobStatus } from "../job/mod.ts";
import type { TopSortKey } from "./args.ts";
import { formatTime } from "./format.ts";
import {
  SORT_KEYS,
  sortName,
  sortTopRows,
  topRows,
  type TopSample,
  topSample,
  topTable,
} from "./_top.ts";

/** The terminal `top` draws on and reads keys from. */
export interface TopTerminal {
  /** Writes all of `text`. */
  write(text: string): Promise<void>;
  /** Raw mode on (keys one by one, unechoed, Ctrl-C as a byte) or back to what it was. */
  setRaw(raw: boolean): void;
  /** The size now. */
  size(): { columns: number; rows: number };
  /** The next bytes typed; null when the input has ended. */
  read(): Promise<Uint8Array | null>;
  /** Calls `handler` when the size changes, until the returned function is called. */
  onResize(handler: () => void): () => void;
  /** Calls `handler` on SIGINT, SIGTERM and SIGHUP, until the returned function is called. */
  onSignal(handler: () => void): () => void;
}

/** What `top` needs of the API client. */
export interface TopClient {
  /** The caller's jobs (every job for an admin), with all of `labels`. */
  list(options?: { labels?: Record<string, string> }): Promise<JobStatus[]>;
}

/** Switches to the alternate screen and hides the cursor. */
export const ENTER_SCREEN = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J";
/** Shows the cursor and goes back to the main screen, as it was. */
export const LEAVE_SCREEN = "\x1b[?25h\x1b[?1049l";

/** Options of {@link runTopScreen}. */
export interface TopScreenOptions {
  labels: Record<string, string>;
  sort: TopSortKey;
  /** Between two refreshes; 1000. */
  refreshMs: number;
  /** A failed refresh as one line (it is shown, and the next refresh tries again). */
  describeError: (err: unknown) => string;
}

/** The jobs `list` answers, asked with the labels when there are any. */
export async function listJobs(
  client: TopClient,
  labels: Record<string, string>,
): Promise<JobStatus[]> {
  return Object.keys(labels).length === 0 ? await client.list() : await client.list({ labels });
}

/** Lines above the table: the title, the keys (or the last error), a blank line. */
const HEADER_LINES = 3;

/** `text` cut to `width` characters (no marker: the title and the keys just stop). */
function clip(text: string, width: number): string {
  return [...text].slice(0, Math.max(0, width)).join("");
}

/** The whole screen as lines (none longer than the terminal is wide, no more than it is high). */
export function topScreen(
  previous: TopSample | null,
  current: TopSample,
  options: {
    sort: TopSortKey;
    now: Date;
    columns: number;
    rows: number;
    /** Shown instead of the keys (the last refresh failed). */
    message: string | null;
  },
): string[] {
  const { columns, rows } = options;
  const jobs = sortTopRows(topRows(previous, current, options.now), options.sort);
  const count = `${jobs.length} running job${jobs.length === 1 ? "" : "s"}`;
  const time = formatTime(options.now).slice(11, 19);
  const keys = Object.entries(SORT_KEYS).map(([key, { name }]) => `${key} ${name}`).join("  ");
  const table = topTable(jobs, { width: columns });
  const room = Math.max(1, rows - HEADER_LINES);
  let shown = table;
  if (table.length > room) {
    const more = table.length - room + 1;
    shown = [...table.slice(0, room - 1), `… ${more} more`];
  }
  return [
    `jobworker top  ${count}, sorted by ${sortName(options.sort)}  ${time} UTC`,
    options.message ?? `${keys}  q quit`,
    "",
    ...shown,
  ].slice(0, Math.max(1, rows)).map((line) => clip(line, columns));
}

/** The escape sequences that draw `lines` over the whole screen. */
function draw(lines: readonly string[]): string {
  // Each line from its first column, erased first: no wrap or leftover from the last frame.
  const body = lines.map((line, i) => `\x1b[${i + 1};1H\x1b[2K${line}`).join("");
  return `${body}\x1b[${lines.length + 1};1H\x1b[J`;
}

/**
 * Runs the live view until `q`, Ctrl-C, the end of input or a signal;
 * always leaves the terminal as it found it.
 *
 * @throws the client's error when the first refresh fails (before the
 * screen is taken); later failures are shown and retried
 */
export async function runTopScreen(
  client: TopClient,
  terminal: TopTerminal,
  options: TopScreenOptions,
): Promise<void> {
  // The first answer before the screen is taken: a server that is not there is an error as usual.
  let previous: TopSample | null = null;
  let current = topSample(await listJobs(client, options.labels), performance.now());
  let sort = options.sort;
  let message: string | null = null;

  let quit = false;
  const quitting = Promise.withResolvers<void>();
  let wake = Promise.withResolvers<void>();
  const poke = () => wake.resolve();
  const stop = () => {
    quit = true;
    quitting.resolve();
    poke();
  };
  const pending: number[] = [];

  const unresize = terminal.onResize(poke);
  const unsignal = terminal.onSignal(stop);
  let raw = false;
  let entered = false;
  try {
    terminal.setRaw(true);
    raw = true;
    entered = true;
    await terminal.write(ENTER_SCREEN);
    // Keys as they come; the loop below acts on them.
    const reading = (async () => {
      while (!quit) {
        const data = await terminal.read();
        if (data === null) return stop();
        // An escape sequence (arrows, function keys) is no command.
        if (data[0] === 0x1b) continue;
        pending.push(...data);
        poke();
      }
    })();
    reading.catch(stop);

    let nextRefresh = performance.now() + options.refreshMs;
    while (!quit) {
      const size = terminal.size();
      await terminal.write(draw(topScreen(previous, current, {
        sort,
        now: new Date(),
        columns: size.columns,
        rows: size.rows,
        message,
      })));
      const left = nextRefresh - performance.now();
      if (left > 0 && pending.length === 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([wake.promise, new Promise((r) => (timer = setTimeout(r, left)))]);
        clearTimeout(timer);
      }
      wake = Promise.withResolvers<void>();
      for (const byte of pending.splice(0)) {
        const key = String.fromCharCode(byte);
        // q, Q, Ctrl-C (raw mode: a byte, not a signal), Ctrl-D.
        if (key === "q" || key === "Q" || byte === 0x03 || byte === 0x04) stop();
        const picked = SORT_KEYS[key.toLowerCase()];
        if (picked !== undefined) sort = picked.sort;
      }
      if (quit || performance.now() < nextRefresh) continue;
      try {
        const statuses = await Promise.race([
          listJobs(client, options.labels),
          quitting.promise.then(() => null),
        ]);
        if (statuses !== null) {
          previous = current;
          current = topSample(statuses, performance.now());
          message = null;
        }
      } catch (err) {
        message = `jobworker: ${options.describeError(err)} (retrying)`;
      }
      nextRefresh = performance.now() + options.refreshMs;
    }
  } finally {
    unresize();
    unsignal();
    // Each step on its own: one failing (a closed terminal) must not keep the others from running.
    if (entered) await terminal.write(LEAVE_SCREEN).catch(() => {});
    if (raw) {
      try {
        terminal.setRaw(false);
      } catch {
        // The terminal is gone; there is nothing left to restore.
      }
    }
  }
}

/** The real terminal: stdin for keys, stdout for the screen. */
export function denoTerminal(): TopTerminal {
  const encoder = new TextEncoder();
  const buffer = new Uint8Array(64);
  return {
    async write(text) {
      const data = encoder.encode(text);
      for (let written = 0; written < data.length;) {
        written += await Deno.stdout.write(data.subarray(written));
      }
    },
    setRaw(raw) {
      Deno.stdin.setRaw(raw);
    },
    size() {
      return Deno.consoleSize();
    },
    async read() {
      const n = await Deno.stdin.read(buffer);
      return n === null ? null : buffer.slice(0, n);
    },
    onResize(handler) {
      Deno.addSignalListener("SIGWINCH", handler);
      return () => Deno.removeSignalListener("SIGWINCH", handler);
    },
    onSignal(handler) {
      const signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
      for (const signal of signals) Deno.addSignalListener(signal, handler);
      return () => {
        for (const signal of signals) Deno.removeSignalListener(signal, handler);
      };
    },
  };
}
