/**
 * The real CLI's `list` filters (--state, --owner), the wide output of
 * `list` and `status`, and colour: on a real terminal (a pty made by
 * util-linux `script`), never through a pipe or with NO_COLOR.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import {
  cliCommand,
  decoder,
  ok,
  rootTest,
  type ServerContext,
  startedId,
  waitEnded,
  which,
  withServer,
} from "./_fixture.ts";

/** The ids of a table's rows. */
function ids(table: string): string[] {
  return table.split("\n").slice(1).filter((line) => line !== "").map((line) =>
    line.split(" ")[0]!
  );
}

rootTest("CLI list --state and --owner filter, as a user and as an admin", async () => {
  await withServer(async (ctx) => {
    const api = await ctx.client("alice");
    const done = startedId(await ctx.cli("alice", ["start", "--", "true"]));
    const sleeping = startedId(await ctx.cli("alice", ["start", "--", "sleep", "600"]));
    const bobs = startedId(await ctx.cli("bob", ["start", "--", "true"]));
    await waitEnded(api, done);
    await waitEnded(await ctx.client("bob"), bobs);

    const list = async (user: string, args: string[]) =>
      ids(ok(await ctx.cli(user, ["list", ...args]), `list ${args.join(" ")}`).out);
    assertEquals(await list("alice", []), [done, sleeping]);
    assertEquals(await list("alice", ["--state", "exited"]), [done]);
    assertEquals(await list("alice", ["--state", "running"]), [sleeping]);
    assertEquals(await list("alice", ["--state", "running,exited"]), [done, sleeping]);
    assertEquals(await list("alice", ["--state", "failed", "--state", "stopped"]), []);
    // Only admins see other owners' jobs; the filter finds none of bob's for alice.
    assertEquals(await list("alice", ["--owner", "bob"]), []);
    assertEquals(await list("admin", ["--owner", "bob"]), [bobs]);
    assertEquals(await list("admin", ["--owner", "alice", "--state", "running"]), [sleeping]);
    assertEquals(await list("admin", ["--owner", "alice", "--owner", "bob", "--state", "exited"]), [
      done,
      bobs,
    ]);
    const json = JSON.parse(
      ok(await ctx.cli("admin", ["list", "-o", "json", "--owner", "bob"]), "").out,
    );
    assertEquals(json.map((j: { id: string }) => j.id), [bobs]);

    const bad = await ctx.cli("alice", ["list", "--state", "done"]);
    assertEquals([bad.code, bad.out], [2, ""]);
    assertEquals(
      bad.stderr,
      'jobworker: --state: "done" is not a job state (running, exited, stopped, failed)\n',
    );
  });
});

rootTest("CLI list and status --output wide: the extra columns, whole commands", async () => {
  await withServer(async (ctx) => {
    const long = "x".repeat(80);
    const id = startedId(await ctx.cli("alice", ["start", "--", "echo", long]));
    await waitEnded(await ctx.client("alice"), id);
    const table = ok(await ctx.cli("alice", ["list", "--output", "wide"]), "list -o wide").out;
    const [header, row] = table.split("\n");
    assertMatch(
      header!,
      /^ID +OWNER +STATE +EXIT +STARTED +ENDED +DURATION +CPU +MEMORY +OUTPUT +COMMAND$/,
    );
    const time = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ";
    assertMatch(
      row!,
      new RegExp(
        `^${id} +alice +exited +0 +${time} +${time} +\\d+\\.\\ds +[\\d.]+s +\\S+ +81B +echo ${long}$`,
      ),
    );
    const status = ok(await ctx.cli("alice", ["status", id, "-o", "wide"]), "status -o wide").out;
    assertEquals(status, `${header}\n${row}\n`);
    // --json is kept, as --output json.
    const json = ok(await ctx.cli("alice", ["status", id, "--json"]), "status --json").out;
    assertEquals(json, ok(await ctx.cli("alice", ["status", id, "-o", "json"]), "").out);
    assertEquals(JSON.parse(json).args, [long]);
  });
});

/** `word` quoted for sh. */
const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** The CLI as `user` on a pty (util-linux `script`), with `env` set in it; its screen output. */
async function onTerminal(
  ctx: ServerContext,
  options: { user: string; args: string[]; env: string[] },
): Promise<{ code: number; screen: string }> {
  const command = [
    "env",
    "-u",
    "NO_COLOR",
    ...options.env,
    Deno.execPath(),
    "run",
    "--allow-all",
    "--quiet",
    ...cliCommand(ctx, options.user),
    ...options.args,
  ].map(quote).join(" ");
  const output = await new Deno.Command("script", {
    args: ["-q", "-e", "-c", command, "/dev/null"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  return { code: output.code, screen: decoder.decode(output.stdout) };
}

const hasScript = which("script") !== null;

rootTest(
  "CLI colour: the state is coloured on a terminal, not with NO_COLOR or TERM=dumb, not in a pipe",
  async () => {
    await withServer(async (ctx) => {
      const id = startedId(await ctx.cli("alice", ["start", "--", "true"]));
      await waitEnded(await ctx.client("alice"), id);
      const colored = await onTerminal(ctx, { user: "alice", args: ["list"], env: ["TERM=xterm"] });
      assertEquals(colored.code, 0, colored.screen);
      assertStringIncludes(colored.screen, "\x1b[32mexited\x1b[0m");
      const status = await onTerminal(ctx, {
        user: "alice",
        args: ["status", id],
        env: ["TERM=xterm"],
      });
      assertMatch(status.screen, new RegExp("^State: +\x1b\\[32mexited\x1b\\[0m\r?$", "m"));
      for (const env of [["TERM=xterm", "NO_COLOR=1"], ["TERM=dumb"]]) {
        const plain = await onTerminal(ctx, { user: "alice", args: ["list"], env });
        assertEquals(plain.code, 0, plain.screen);
        assertStringIncludes(plain.screen, id, env.join(" "));
        assert(
          !plain.screen.includes("\x1b["),
          `${env.join(" ")}: ${JSON.stringify(plain.screen)}`,
        );
      }
      // Not a terminal (a pipe to the test), even without NO_COLOR.
      const piped = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--quiet",
          ...cliCommand(ctx, "alice"),
          "list",
        ],
        // Everything this process has (the Deno cache, say) but NO_COLOR.
        clearEnv: true,
        env: Object.fromEntries(
          Object.entries({ ...Deno.env.toObject(), TERM: "xterm" }).filter(([name]) =>
            name !== "NO_COLOR"
          ),
        ),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      const pipedOut = decoder.decode(piped.stdout);
      assertStringIncludes(pipedOut, id);
      assert(!pipedOut.includes("\x1b["), JSON.stringify(pipedOut));
    });
  },
  { skip: hasScript ? null : "util-linux script (for a pty) is not installed" },
);
