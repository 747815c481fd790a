/**
 * The real CLI's `events` against the real server: lines for a job's start
 * and end with its exit code, JSON lines, label filters and owners, a
 * second watcher resuming with `--since` that gets exactly the later
 * events, and a watcher whose connection is cut (by a TCP relay between
 * it and the server) that resumes by itself after the last event it saw
 * (or, cut before its first, after the newest event when it began), then
 * gives up when the server stays away.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import {
  CLI_MAIN,
  rootTest,
  type ServerContext,
  startedId,
  tlsFlags,
  waitEnded,
  waitUntil,
  watchCli,
  WatchedProcess,
  withServer,
} from "./_fixture.ts";

const TIME = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ";

/** The events a watcher printed: SEQ, TYPE, ID and the rest of each line. */
function parsed(out: string): { seq: number; type: string; id: string; rest: string }[] {
  return out.split("\n").filter((l) => l !== "").map((line) => {
    const m = new RegExp(`^(\\d+) ${TIME} ([a-z-]+) +(\\S+)(?: (.*))?$`).exec(line);
    assert(m !== null, `not an event line: ${JSON.stringify(line)}`);
    return { seq: Number(m[1]), type: m[2]!, id: m[3]!, rest: m[4] ?? "" };
  });
}

/** Waits until `proc` printed a line with `type` for job `id`. */
function waitForEvent(proc: WatchedProcess, type: string, id: string): Promise<void> {
  return waitUntil(
    () => parsed(proc.stdout).some((e) => e.type === type && e.id === id),
    `a ${type} event of ${id}; stdout ${JSON.stringify(proc.stdout)}, stderr ${proc.stderr}`,
    20_000,
  );
}

/** Ctrl-C: the watcher ends with 0 and nothing on stderr. */
async function interrupt(proc: WatchedProcess): Promise<void> {
  proc.kill("SIGINT");
  const status = await proc.status;
  assertEquals(status.code, 0, `events after Ctrl-C: stderr ${proc.stderr}`);
}

rootTest("CLI events: started and exited with the code; --since resumes exactly", async () => {
  await withServer(async (ctx) => {
    // --since 0: everything the (new) server holds, then live; nothing can slip by at the start.
    const watcher = watchCli(ctx, "alice", ["events", "--since", "0"]);
    const first = startedId(
      await ctx.cli("alice", ["start", "--label", "team=infra", "--", "sh", "-c", "exit 3"]),
    );
    await waitForEvent(watcher, "exited", first);
    await interrupt(watcher);
    assertEquals(watcher.stderr, "");
    const seen = parsed(watcher.stdout);
    assertEquals(seen.map((e) => [e.type, e.id, e.rest]), [
      ["started", first, "team=infra"],
      ["exited", first, "exit 3 team=infra"],
    ]);
    assertMatch(watcher.stdout, new RegExp(`^\\d+ ${TIME} started    ${first} team=infra\n`));
    const last = seen.at(-1)!.seq;
    assertEquals(seen.map((e) => e.seq), [last - 1, last]);

    // While nobody watches: a job that is stopped, one killed by a signal.
    const api = await ctx.client("alice");
    const stopped = startedId(await ctx.cli("alice", ["start", "--", "sleep", "600"]));
    await api.stop(stopped, { graceSeconds: 5 });
    const killed = startedId(await ctx.cli("alice", ["start", "--", "sh", "-c", "kill -9 $$"]));
    await waitEnded(api, killed);

    // Resuming after the last event seen: exactly the later ones, in order.
    const resumed = watchCli(ctx, "alice", ["events", "--since", String(last)]);
    await waitForEvent(resumed, "exited", killed);
    await interrupt(resumed);
    const later = parsed(resumed.stdout);
    assertEquals(later.map((e) => [e.type, e.id, e.rest]), [
      ["started", stopped, ""],
      ["stopped", stopped, "signal SIGTERM"],
      ["started", killed, ""],
      ["exited", killed, "signal SIGKILL"],
    ]);
    assertEquals(later.map((e) => e.seq), [last + 1, last + 2, last + 3, last + 4]);

    // JSON lines, with the labels asked for (AND); other owners' jobs are not shown, but to admins.
    const json = watchCli(ctx, "alice", [
      "events",
      "--since",
      "0",
      "--json",
      "--label",
      "team=infra",
    ]);
    const bobs = startedId(await ctx.cli("bob", ["start", "--label", "team=infra", "--", "true"]));
    const admin = watchCli(ctx, "admin", ["events", "--since", "0", "--json"]);
    await waitUntil(
      () => admin.stdout.includes(`"id":"${bobs}","owner":"bob","type":"exited"`),
      `the admin sees bob's job end: ${admin.stdout}`,
      20_000,
    );
    await interrupt(admin);
    await interrupt(json);
    const events = json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    assertEquals(events.map((e) => [e.type, e.id]), [["started", first], ["exited", first]]);
    assertEquals(events[1], {
      seq: last,
      time: events[1].time,
      id: first,
      owner: "alice",
      type: "exited",
      exitCode: 3,
      signal: null,
      error: null,
      labels: { team: "infra" },
    });
    assert(!Number.isNaN(Date.parse(events[1].time)));
    const seenByAdmin = admin.stdout.trimEnd().split("\n").map((l) => JSON.parse(l).id);
    assert(seenByAdmin.includes(first) && seenByAdmin.includes(bobs));

    // A sequence number the server does not have: refused, exit 1.
    const beyond = await ctx.cli("alice", ["events", "--since", "100000"]);
    assertEquals([beyond.code, beyond.out], [1, ""]);
    assertStringIncludes(beyond.stderr, "jobworker: cannot replay events after 100000");
  });
});

/**
 * A TCP relay to the server that the test can cut: {@link cut} closes the
 * port and every connection (as a server or a network going away would),
 * {@link restore} listens on the same port again.
 */
class Relay {
  #listener: Deno.Listener | null = null;
  readonly #connections = new Set<Deno.Conn>();
  readonly port: number;

  constructor(readonly target: number) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (listener.addr as Deno.NetAddr).port;
    this.#serve(listener);
  }

  #serve(listener: Deno.Listener): void {
    this.#listener = listener;
    (async () => {
      for await (const conn of listener) {
        let upstream: Deno.Conn;
        try {
          upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.target });
        } catch {
          conn.close();
          continue;
        }
        this.#connections.add(conn);
        this.#connections.add(upstream);
        const close = () => {
          for (const c of [conn, upstream]) {
            this.#connections.delete(c);
            try {
              c.close();
            } catch {
              // Closed already.
            }
          }
        };
        const pump = async (from: Deno.Conn, to: Deno.Conn) => {
          const buffer = new Uint8Array(64 * 1024);
          try {
            for (;;) {
              const n = await from.read(buffer);
              if (n === null) break;
              for (let at = 0; at < n;) at += await to.write(buffer.subarray(at, n));
            }
          } catch {
            // Cut.
          } finally {
            close();
          }
        };
        pump(conn, upstream);
        pump(upstream, conn);
      }
    })().catch(() => {});
  }

  /** Stops listening and drops every connection. */
  async cut(): Promise<void> {
    try {
      this.#listener?.close();
    } catch {
      // Closed already.
    }
    this.#listener = null;
    for (const conn of this.#connections) {
      // close() alone leaves the socket open while a read is pending on it (Deno 2.8):
      // shutting down the write side first sends the FIN that ends the connection.
      await conn.closeWrite().catch(() => {});
      try {
        conn.close();
      } catch {
        // Closed already.
      }
    }
    this.#connections.clear();
  }

  /** Listens on the same port again. */
  restore(): void {
    this.#serve(Deno.listen({ hostname: "127.0.0.1", port: this.port }));
  }
}

/** `events ARGS` as alice through `relay` (killed at teardown if still running). */
function eventsThrough(ctx: ServerContext, relay: Relay, args: string[]): WatchedProcess {
  const command = [CLI_MAIN, "--addr", `127.0.0.1:${relay.port}`, ...tlsFlags(ctx.tlsFor("alice"))];
  const proc = new WatchedProcess([...command, "events", ...args], { cwd: ctx.root });
  ctx.defer(() => proc.stop());
  return proc;
}

rootTest(
  "CLI events: a cut connection is resumed after the last event; a server gone for good ends it",
  async () => {
    await withServer(async (ctx) => {
      const relay = new Relay(ctx.port);
      ctx.defer(() => relay.cut());
      const watcher = eventsThrough(ctx, relay, ["--since", "0"]);
      const start = async (script: string) =>
        startedId(await ctx.cli("alice", ["start", "--", "sh", "-c", script]));
      const a = await start("exit 1");
      await waitForEvent(watcher, "exited", a);
      const before = parsed(watcher.stdout);

      await relay.cut();
      await waitUntil(
        () => watcher.stderr.includes("lost the event stream"),
        `the watcher notices: ${watcher.stderr}`,
        10_000,
      );
      // What happens while it is away is not lost.
      const b = await start("exit 2");
      await waitEnded(await ctx.client("alice"), b);
      relay.restore();
      await waitForEvent(watcher, "exited", b);

      const all = parsed(watcher.stdout);
      assertEquals(all.map((e) => [e.type, e.id, e.rest]), [
        ["started", a, ""],
        ["exited", a, "exit 1"],
        ["started", b, ""],
        ["exited", b, "exit 2"],
      ]);
      const first = all[0]!.seq;
      assertEquals(
        all.map((e) => e.seq),
        [first, first + 1, first + 2, first + 3],
        "none missed, none twice",
      );
      assertMatch(
        watcher.stderr,
        new RegExp(
          `^jobworker: lost the event stream \\(.+\\); resuming after event ${
            before.at(-1)!.seq
          } in 0.5 s \\(attempt 1 of 5\\)$`,
          "m",
        ),
      );

      // Gone for good: five attempts (0.5 + 1 + 2 + 4 + 8 s apart), then exit 1 saying where to resume.
      await relay.cut();
      const status = await watcher.status;
      assertEquals(status.code, 1, watcher.stderr);
      assertStringIncludes(
        watcher.stderr,
        `; gave up after 5 attempts (to resume: jobworker events --since ${first + 3})\n`,
      );
      assertStringIncludes(watcher.stderr, "(attempt 5 of 5)");
    }, { timeoutMs: 90_000 });
  },
);

rootTest(
  "CLI events: a watch cut before its first event resumes where it began: nothing missed",
  async () => {
    await withServer(async (ctx) => {
      // Counts the watches the server holds (it calls the manager's watchEvents for each).
      let watches = 0;
      const watchEvents = ctx.manager.watchEvents.bind(ctx.manager);
      ctx.manager.watchEvents = (listener, options) => (watches++, watchEvents(listener, options));
      const earlier = startedId(await ctx.cli("alice", ["start", "--", "true"]));
      await waitEnded(await ctx.client("alice"), earlier);

      const relay = new Relay(ctx.port);
      ctx.defer(() => relay.cut());
      const watcher = eventsThrough(ctx, relay, []);
      await waitUntil(() => watches === 1, "the server holds the watch", 20_000);
      // The server's answer (the newest event then) is on its way with the watch's headers.
      await new Promise((r) => setTimeout(r, 500));
      await relay.cut();
      await waitUntil(
        () => watcher.stderr.includes("lost the event stream"),
        `the watcher notices: ${watcher.stderr}`,
        10_000,
      );
      // Started and ended while the watcher is away, before it saw any event.
      const b = startedId(await ctx.cli("alice", ["start", "--", "sh", "-c", "exit 2"]));
      await waitEnded(await ctx.client("alice"), b);
      relay.restore();
      await waitForEvent(watcher, "exited", b);
      assertEquals(parsed(watcher.stdout).map((e) => [e.type, e.id, e.rest]), [
        ["started", b, ""],
        ["exited", b, "exit 2"],
      ], "the earlier job's events are not replayed; the later ones are not missed");
      assertMatch(watcher.stderr, /resuming after event \d+ in 0\.5 s/);
      await interrupt(watcher);
    });
  },
);
