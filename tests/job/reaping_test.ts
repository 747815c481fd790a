/**
 * The executor is PID 1 of the job: orphans are reparented to it and must
 * be reaped, or they pile up as zombies.
 */
import { assertEquals, assertGreater, assertLessOrEqual } from "@std/assert";
import { outputText, rootTest, sh, withManager } from "./_fixture.ts";

rootTest("500 orphaned children are reaped: no zombie is left", async () => {
  await withManager(async ({ manager }) => {
    const job = await manager.start(sh(
      `for i in $(seq 500); do (sleep 0.01 &); done; echo spawned
       sleep 1.5
       echo "processes: $(ps -eo stat= | wc -l)"
       echo "zombies: $(ps -eo stat= | grep -c Z)"`,
    ));
    const status = await job.wait();
    const out = await outputText(job);
    assertEquals(status.exitCode, 0, out);
    const lines = out.trim().split("\n");
    assertEquals(lines[0], "spawned");
    assertEquals(lines.at(-1), "zombies: 0", out);
    // Left: the executor, sh, the $(...) subshell, ps and wc; none of the 500.
    const processes = Number(/processes: (\d+)/.exec(out)?.[1]);
    assertGreater(processes, 0);
    assertLessOrEqual(processes, 5, out);
  });
});
