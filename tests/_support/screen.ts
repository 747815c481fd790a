/**
 * A small terminal screen for tests of full-screen output (`jobworker top`):
 * it applies what a program writes to a grid of characters the way a VT100
 * or xterm would, for the sequences such programs use: printable text with
 * automatic wrap, CR, LF, BS, cursor position (CUP, `ESC [ row ; col H`),
 * erase in line and display (EL, ED), the alternate screen (`?1049`, with
 * the main screen kept and restored) and cursor visibility (`?25`). Colours
 * and other SGR attributes are dropped; other sequences are ignored but
 * counted in {@link Screen.unknown}, so a test can see what it missed.
 *
 * @module
 */

/** A terminal's screen, fed with what a program writes. */
export class Screen {
  readonly rows: number;
  readonly columns: number;
  #main: string[][];
  #alternate: string[][] | null = null;
  #row = 0;
  #column = 0;
  /** The cursor sits past the last column: the next character wraps first (as xterm does). */
  #pendingWrap = false;
  #rest = "";
  /** The alternate screen is shown. */
  alternate = false;
  /** The cursor is shown. */
  cursorVisible = true;
  /** Escape sequences this screen does not know (they were ignored). */
  readonly unknown: string[] = [];

  /** An empty screen of `rows` × `columns`. */
  constructor(rows: number, columns: number) {
    this.rows = rows;
    this.columns = columns;
    this.#main = this.#blank();
  }

  #blank(): string[][] {
    return Array.from({ length: this.rows }, () => Array(this.columns).fill(" "));
  }

  get #grid(): string[][] {
    return this.#alternate ?? this.#main;
  }

  /** The lines shown, trailing spaces removed. */
  lines(): string[] {
    return this.#grid.map((cells) => cells.join("").trimEnd());
  }

  /** The screen as text: the lines shown, without the empty ones at the bottom. */
  text(): string {
    const lines = this.lines();
    while (lines.length > 0 && lines.at(-1) === "") lines.pop();
    return lines.join("\n");
  }

  /** Applies `data` (a sequence may be split across calls). */
  write(data: string): void {
    const text = this.#rest + data;
    this.#rest = "";
    let i = 0;
    while (i < text.length) {
      const c = text[i]!;
      if (c === "\x1b") {
        // deno-lint-ignore no-control-regex
        const m = /^\x1b\[([?]?)([\d;]*)([@-~])/.exec(text.slice(i));
        if (m === null) {
          // An incomplete sequence at the end waits for the rest; any other ESC x is skipped.
          // deno-lint-ignore no-control-regex
          if (/^\x1b(\[[?]?[\d;]*)?$/.test(text.slice(i))) {
            this.#rest = text.slice(i);
            return;
          }
          this.unknown.push(text.slice(i, i + 2));
          i += 2;
          continue;
        }
        this.#csi(m[1]!, m[2]!, m[3]!, m[0]);
        i += m[0].length;
        continue;
      }
      if (c === "\r") {
        this.#column = 0;
        this.#pendingWrap = false;
      } else if (c === "\n") {
        this.#lineFeed();
      } else if (c === "\b") {
        this.#column = Math.max(0, this.#column - 1);
        this.#pendingWrap = false;
      } else if (c >= " ") {
        const char = String.fromCodePoint(text.codePointAt(i)!);
        this.#put(char);
        i += char.length;
        continue;
      }
      i++;
    }
  }

  #lineFeed(): void {
    this.#pendingWrap = false;
    if (this.#row < this.rows - 1) {
      this.#row++;
      return;
    }
    // Scroll up.
    this.#grid.shift();
    this.#grid.push(Array(this.columns).fill(" "));
  }

  #put(char: string): void {
    if (this.#pendingWrap) {
      this.#column = 0;
      this.#lineFeed();
    }
    this.#grid[this.#row]![this.#column] = char;
    if (this.#column === this.columns - 1) this.#pendingWrap = true;
    else this.#column++;
  }

  #csi(privateMark: string, params: string, final: string, whole: string): void {
    const numbers = params === "" ? [] : params.split(";").map((p) => p === "" ? 0 : Number(p));
    const n = (index: number, fallback: number) => numbers[index] || fallback;
    if (privateMark === "?") {
      if (final !== "h" && final !== "l") return void this.unknown.push(whole);
      const on = final === "h";
      for (const mode of numbers) {
        if (mode === 25) this.cursorVisible = on;
        else if (mode === 1049) this.#switchScreen(on);
        else this.unknown.push(whole);
      }
      return;
    }
    this.#pendingWrap = false;
    switch (final) {
      case "H":
      case "f":
        this.#row = Math.min(this.rows, n(0, 1)) - 1;
        this.#column = Math.min(this.columns, n(1, 1)) - 1;
        return;
      case "A":
        this.#row = Math.max(0, this.#row - n(0, 1));
        return;
      case "B":
        this.#row = Math.min(this.rows - 1, this.#row + n(0, 1));
        return;
      case "C":
        this.#column = Math.min(this.columns - 1, this.#column + n(0, 1));
        return;
      case "D":
        this.#column = Math.max(0, this.#column - n(0, 1));
        return;
      case "K": {
        const line = this.#grid[this.#row]!;
        const mode = n(0, 0);
        const [from, to] = mode === 0
          ? [this.#column, this.columns]
          : mode === 1
          ? [0, this.#column + 1]
          : [0, this.columns];
        for (let x = from; x < to; x++) line[x] = " ";
        return;
      }
      case "J": {
        const mode = n(0, 0);
        if (mode === 2 || mode === 3) {
          for (const line of this.#grid) line.fill(" ");
          return;
        }
        const rows = mode === 0 ? [this.#row + 1, this.rows] : [0, this.#row];
        for (let y = rows[0]!; y < rows[1]!; y++) this.#grid[y]!.fill(" ");
        const line = this.#grid[this.#row]!;
        if (mode === 0) { for (let x = this.#column; x < this.columns; x++) line[x] = " "; }
        else for (let x = 0; x <= this.#column; x++) line[x] = " ";
        return;
      }
      case "m":
        return; // colours and attributes: not kept
      default:
        this.unknown.push(whole);
    }
  }

  #saved = { row: 0, column: 0 };

  #switchScreen(on: boolean): void {
    if (on === this.alternate) return;
    this.alternate = on;
    // xterm's 1049 saves the cursor and shows a cleared alternate screen; leaving restores both.
    if (on) this.#saved = { row: this.#row, column: this.#column };
    else ({ row: this.#row, column: this.#column } = this.#saved);
    this.#alternate = on ? this.#blank() : null;
  }
}
