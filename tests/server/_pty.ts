/**
 * A program on a pseudo-terminal (made by ./_pty.py, with python3's `pty`
 * module), for tests of full-screen programs: what it draws goes to a
 * {@link Screen} the test can read, keys are typed, the window resized,
 * signals sent, the terminal's modes asked for while it runs; at the end,
 * its exit status and the terminal's modes (`stty -g`) from before it
 * started and after it ended.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { Screen } from "../_support/screen.ts";
import { sleep } from "../_support/async.ts";
import { which } from "../_support/commands.ts";

const DRIVER = fileURLToPath(new URL("./_pty.py", import.meta.url));

/** python3 for the driver, or null (the tests that need it are then skipped). */
export const PYTHON = which("python3");

/** How the program ended. */
export interface PtyExit {
  code: number;
  /** `stty -g` of the terminal before the program started. */
  before: string;
  /** `stty -g` of the terminal after it ended. */
  after: string;
}

/** A program running on a pty of its own. */
export class PtyProcess {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #decoder = new TextDecoder();
  /** Everything the program wrote to the terminal, as text. */
  transcript = "";
  screen: Screen;
  /** Resolves with how it ended (rejects if the driver failed). */
  readonly exited: Promise<PtyExit>;
  /** Answers to {@link modes}, in order. */
  #modes: Array<(stty: string) => void> = [];

  /** Starts `command` on a `rows` × `columns` terminal with `env` (added to this process's). */
  constructor(
    command: string[],
    options: { rows: number; columns: number; env?: Record<string, string>; cwd?: string },
  ) {
    this.screen = new Screen(options.rows, options.columns);
    this.#child = new Deno.Command(PYTHON ?? "python3", {
      args: [DRIVER, String(options.rows), String(options.columns), ...command],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      env: options.env ?? {},
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.exited = this.#read();
  }

  async #read(): Promise<PtyExit> {
    const stderr = new Response(this.#child.stderr).text();
    let rest = "";
    let exit: PtyExit | null = null;
    for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      let newline: number;
      while ((newline = rest.indexOf("\n")) >= 0) {
        const message = JSON.parse(rest.slice(0, newline));
        rest = rest.slice(newline + 1);
        if (typeof message.out === "string") {
          const bytes = Uint8Array.from(atob(message.out), (c) => c.charCodeAt(0));
          const text = this.#decoder.decode(bytes, { stream: true });
          this.transcript += text;
          this.screen.write(text);
        } else if (typeof message.modes === "string") {
          this.#modes.shift()?.(message.modes);
        } else if (typeof message.exit === "number") {
          exit = { code: message.exit, before: message.before, after: message.after };
        }
      }
    }
    await this.#child.status;
    if (exit === null) throw new Error(`the pty driver failed: ${await stderr}`);
    return exit;
  }

  async #send(request: unknown): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(request) + "\n"));
  }

  /** Types `keys` on the terminal. */
  type(keys: string): Promise<void> {
    return this.#send({ keys });
  }

  /** Resizes the terminal (the program gets SIGWINCH); the screen starts blank at the new size. */
  async resize(rows: number, columns: number): Promise<void> {
    this.screen = new Screen(rows, columns);
    // Still the alternate screen the program had switched to: its next frame fills it.
    this.screen.write("\x1b[?1049h");
    await this.#send({ resize: [rows, columns] });
  }

  /** The terminal's modes now, as `stty -a` prints them (e.g. `-icanon` in raw mode). */
  modes(): Promise<string> {
    const answer = new Promise<string>((resolve) => this.#modes.push(resolve));
    return this.#send({ modes: true }).then(() => answer);
  }

  /** Waits until the program has put the terminal in raw mode (no canonical input, no echo). */
  async waitForRaw(timeoutMs = 20_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const modes = await Promise.race([this.modes(), this.exited.then(() => null)]);
      if (modes === null) throw new Error(`exited before raw mode: ${this.transcript}`);
      if (/(^|\s)-icanon(\s|$)/.test(modes) && /(^|\s)-echo(\s|$)/.test(modes)) return;
      if (performance.now() > deadline) {
        throw new Error(`no raw mode after ${timeoutMs} ms: ${modes}`);
      }
      await sleep(50);
    }
  }

  /** Sends `signal` (like "TERM") to the program's process group. */
  signal(signal: string): Promise<void> {
    return this.#send({ signal });
  }

  /** Waits until `check` holds for the screen's text; fails after `timeoutMs`, showing the screen. */
  async waitFor(
    check: (text: string) => boolean,
    what: string,
    timeoutMs = 20_000,
  ): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    let done = false;
    this.exited.then(() => (done = true), () => (done = true));
    while (!check(this.screen.text())) {
      if (done || performance.now() > deadline) {
        throw new Error(
          `${done ? "exited" : `after ${timeoutMs} ms`}, still not ${what}; the screen:\n` +
            this.screen.text() +
            `\nthe transcript's end: ${JSON.stringify(this.transcript.slice(-500))}`,
        );
      }
      await sleep(50);
    }
    return this.screen.text();
  }

  /** Kills the driver (which kills the program) and waits; for teardown. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Exited already.
    }
    await this.#writer.close().catch(() => {});
    await this.exited.catch(() => {});
  }
}
