import { assertEquals, assertThrows } from "@std/assert";
import { type JobEvent, JobEventLog, JobEventsGoneError, type NewJobEvent } from "./events.ts";

const base: NewJobEvent = {
  id: "5f0c2a1e-0000-4000-8000-000000000001",
  owner: "alice",
  type: "started",
  exitCode: null,
  signal: null,
  error: null,
  labels: { team: "infra" },
};

async function withLog(fn: (path: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "jobworker-events-test-" });
  try {
    await fn(`${dir}/events.jsonl`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("events: numbered in order, replayed after a number, then live, none twice", async () => {
  await withLog((path) => {
    const log = JobEventLog.open(path);
    try {
      assertEquals(log.lastSeq, 0);
      log.record(base);
      log.record({ ...base, type: "exited", exitCode: 0 });
      const seen: JobEvent[] = [];
      const stop = log.watch((e) => seen.push(e), { since: 1 });
      log.record({ ...base, type: "stopped", signal: "SIGTERM" });
      stop();
      log.record(base);
      assertEquals(seen.map((e) => [e.seq, e.type]), [[2, "exited"], [3, "stopped"]]);
      const live: number[] = [];
      const stopLive = log.watch((e) => live.push(e.seq));
      log.record(base);
      stopLive();
      assertEquals(live, [5]);
    } finally {
      log.close();
    }
  });
});

Deno.test("events: kept across a reopen (a restart), numbering goes on; a torn last line is skipped", async () => {
  await withLog((path) => {
    const first = JobEventLog.open(path);
    first.record(base, new Date("2026-12-02T07:00:00.000Z"));
    first.record({ ...base, type: "failed", error: "executor died" });
    first.close();
    Deno.writeTextFileSync(path, '{"seq":3,"id":"x"', { append: true }); // a crash mid-line
    const again = JobEventLog.open(path);
    try {
      assertEquals(again.lastSeq, 2);
      const seen: JobEvent[] = [];
      again.watch((e) => seen.push(e), { since: 0 })();
      assertEquals(seen.map((e) => e.seq), [1, 2]);
      assertEquals(seen[0]!.time.toISOString(), "2026-12-02T07:00:00.000Z");
      assertEquals(seen[1]!.error, "executor died");
      assertEquals(seen[0]!.labels, { team: "infra" });
      Deno.writeTextFileSync(path, "\n", { append: true }); // end the torn line
      assertEquals(again.record(base).seq, 3);
    } finally {
      again.close();
    }
  });
});

Deno.test("events: only the newest are kept; older or future numbers are refused", async () => {
  await withLog((path) => {
    const log = JobEventLog.open(path, { keep: 3 });
    try {
      for (let i = 0; i < 8; i++) log.record(base);
      // Rewritten once the file held twice what is kept.
      assert3Lines(path);
      const seen: number[] = [];
      log.watch((e) => seen.push(e.seq), { since: 5 })();
      assertEquals(seen, [6, 7, 8]);
      assertThrows(
        () => log.watch(() => {}, { since: 4 }),
        JobEventsGoneError,
        "oldest retained is 6",
      );
      assertThrows(() => log.watch(() => {}, { since: 9 }), JobEventsGoneError, "newest is 8");
      const none: number[] = [];
      log.watch((e) => none.push(e.seq), { since: 8 })();
      assertEquals(none, []);
    } finally {
      log.close();
    }
  });
});

function assert3Lines(path: string): void {
  const lines = Deno.readTextFileSync(path).trim().split("\n").length;
  assertEquals(lines <= 6, true, `the file holds ${lines} lines`);
}
