/**
 * The real CLI's `top` against the real server: `--once` shows a job
 * burning CPU with its CPU %, and the live view on a pseudo-terminal (see
 * ./_pty.ts) draws its table, sorts by a key press, follows a resize, and
 * gives the terminal back exactly as it was (`stty -g`, the main screen,
 * the cursor) after q, Ctrl-C and SIGTERM.
 */
import { assert, assertEquals, assertGreater, assertStringIncludes } from "@std/assert";
import {
  cliCommand,
  decoder,
  ok,
  rootTest,
  type ServerContext,
  startedId,
  waitUntil,
  withServer,
} from "./_fixture.ts";
import { PtyProcess, PYTHON } from "./_pty.ts";

/** A job that keeps one CPU busy. */
const BURN = ["--", "sh", "-c", "while :; do :; done"];
/** A job that holds 64 MiB (a file in its private /tmp, a tmpfs charged to it) and sleeps. */
const FAT = [
  "--",
  "sh",
  "-c",
  "dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>/dev/null; echo ready; sleep 600",
];

/** Starts the two jobs as alice; resolves with their ids once the fat one holds its memory. */
async function busyAndFat(ctx: ServerContext): Promise<{ burner: string; fat: string }> {
  const burner = startedId(await ctx.cli("alice", ["start", "--label", "kind=burn", ...BURN]));
  const fat = startedId(await ctx.cli("alice", ["start", "--label", "kind=fat", ...FAT]));
  await waitUntil(
    async () => decoder.decode(ok(await ctx.cli("alice", ["logs", fat]), "logs").stdout) !== "",
    "the fat job has its memory",
    20_000,
    200,
  );
  return { burner, fat };
}

/** The table's rows as cells (split at runs of spaces), by id. */
function rowsOf(table: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of table.split("\n")) {
    const cells = line.trim().split(/ +/);
    if (/^[0-9a-f]{8}/.test(cells[0] ?? "")) rows.set(cells[0]!, cells);
  }
  return rows;
}

rootTest("CLI top --once: running jobs with CPU %, memory against the limit, labels", async () => {
  await withServer(async (ctx) => {
    const { burner, fat } = await busyAndFat(ctx);
    const done = startedId(await ctx.cli("alice", ["start", "--", "true"]));

    const once = ok(await ctx.cli("alice", ["top", "--once"]), "top --once");
    assertEquals(once.stderr, "");
    assert(!once.out.includes("\x1b"), "no terminal control");
    const [header] = once.out.split("\n");
    assertEquals(
      header!.split(/ +/),
      [
        "ID",
        "OWNER",
        "CPU%",
        "MEM",
        "MEM%",
        "PEAK",
        "LIMIT",
        "READ/s",
        "WRITE/s",
        "TASKS",
        "AGE",
        "COMMAND",
      ],
    );
    const rows = rowsOf(once.out);
    assertEquals([...rows.keys()], [burner, fat], "running jobs only, the busiest first");
    const busy = rows.get(burner)!;
    const cpu = Number(busy[2]);
    // One core, measured over a second (a loaded host may give it less).
    assert(cpu > 20 && cpu <= 110, `CPU % of the burner: ${busy.join(" ")}`);
    assertEquals(busy[6], "512MiB", "the default memory limit");
    const big = rows.get(fat)!;
    assert(Number(big[4]) >= 12, `64 MiB is at least 12 % of 512 MiB: ${big.join(" ")}`);
    assert(!rows.has(done));

    const byMemory = rowsOf(
      ok(await ctx.cli("alice", ["top", "--once", "--sort", "memory"]), "").out,
    );
    assertEquals([...byMemory.keys()], [fat, burner]);
    const labelled = rowsOf(
      ok(await ctx.cli("alice", ["top", "--once", "--label", "kind=fat"]), "").out,
    );
    assertEquals([...labelled.keys()], [fat]);
    // Bob runs nothing: the header alone.
    assertEquals(ok(await ctx.cli("bob", ["top", "--once"]), "").out.split("\n").length, 2);

    // Not a terminal, no --once: told what to do, nothing asked.
    const piped = await ctx.cli("alice", ["top"]);
    assertEquals([piped.code, piped.out], [2, ""]);
    assertStringIncludes(piped.stderr, "top needs a terminal");
    assertStringIncludes(piped.stderr, "top --once");
  });
});

/** `top` as alice on a pty of `rows` × `columns`. */
function topOnPty(ctx: ServerContext, rows: number, columns: number): PtyProcess {
  const pty = new PtyProcess(
    [Deno.execPath(), "run", "--allow-all", "--quiet", ...cliCommand(ctx, "alice"), "top"],
    { rows, columns, env: { TERM: "xterm" }, cwd: ctx.root },
  );
  ctx.defer(() => pty.stop());
  return pty;
}

/** The ids of the table's rows on the screen, top to bottom. */
function screenOrder(text: string): string[] {
  return [...rowsOf(text).keys()];
}

/** The exit went well: status 0, the terminal's modes, screen and cursor as they were. */
async function restoredAfter(pty: PtyProcess, what: string): Promise<void> {
  const exit = await pty.exited;
  assertEquals(exit.code, 0, `${what}: exit status; screen:\n${pty.screen.text()}`);
  assertEquals(exit.after, exit.before, `${what}: the terminal's modes (stty -g) are restored`);
  assert(exit.before.length > 0);
  // It took the alternate screen and hid the cursor, and gave both back, last of all.
  assertStringIncludes(pty.transcript, "\x1b[?1049h");
  assert(
    pty.transcript.endsWith("\x1b[?25h\x1b[?1049l"),
    JSON.stringify(pty.transcript.slice(-40)),
  );
  assert(!pty.screen.alternate && pty.screen.cursorVisible, what);
}

rootTest(
  "CLI top on a terminal: the table, a sort key, a resize, q; the terminal restored",
  async () => {
    await withServer(async (ctx) => {
      const { burner, fat } = await busyAndFat(ctx);
      const short = (id: string) => id.slice(0, 8);
      const pty = topOnPty(ctx, 30, 160);
      // Wide enough for whole ids; CPU % once two refreshes were made.
      const first = await pty.waitFor(
        (text) => new RegExp(`^${burner} +alice +\\d+\\.\\d`, "m").test(text),
        "a CPU % for the burner",
      );
      assertStringIncludes(first, "jobworker top  2 running jobs, sorted by CPU");
      assertStringIncludes(first, "c CPU  m memory  i IO  a age  n id  q quit");
      assertEquals(screenOrder(first), [burner, fat]);
      const busy = rowsOf(first).get(burner)!;
      assertGreater(Number(busy[2]), 0, busy.join(" "));

      await pty.type("m");
      const byMemory = await pty.waitFor((t) => t.includes("sorted by memory"), "sorted by memory");
      assertEquals(screenOrder(byMemory), [fat, burner]);

      // A narrow window: fewer columns, short ids, no line wider than the window.
      await pty.resize(20, 60);
      const narrow = await pty.waitFor(
        (t) => screenOrder(t).length === 2 && screenOrder(t)[0] === short(fat),
        "redrawn at 60 columns",
      );
      assert(narrow.split("\n").every((line) => line.length <= 60), narrow);
      assert(!narrow.includes("LIMIT"), narrow);

      await pty.type("q");
      await restoredAfter(pty, "q");
    });
  },
  { skip: PYTHON === null ? "python3 (for a pseudo-terminal) is not installed" : null },
);

rootTest(
  "CLI top on a terminal: Ctrl-C and SIGTERM quit too, and restore the terminal",
  async () => {
    await withServer(async (ctx) => {
      startedId(await ctx.cli("alice", ["start", "--", "sleep", "600"]));
      for (
        const [what, quit] of [
          ["Ctrl-C", (pty: PtyProcess) => pty.type("\x03")],
          ["SIGTERM", (pty: PtyProcess) => pty.signal("TERM")],
        ] as const
      ) {
        const pty = topOnPty(ctx, 24, 100);
        await pty.waitFor((t) => t.includes("1 running job,"), `${what}: the first frame`);
        await quit(pty);
        await restoredAfter(pty, what);
      }
    });
  },
  { skip: PYTHON === null ? "python3 (for a pseudo-terminal) is not installed" : null },
);
