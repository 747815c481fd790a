/**
 * The hop of ./hop.ts over plain files standing in for control files. The
 * hop itself runs in a child process: it unshares the cgroup namespace of
 * the calling thread, which must not happen to the test runner.
 */
import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { openSpawnPlan } from "./hop.ts";
import type { SpawnPlan } from "./types.ts";
import { withTempDir } from "../../tests/_support/fs.ts";
import { fdCount } from "../../tests/_support/proc.ts";

/** Runs `fn` with a plan over empty files in a new temporary directory, removed afterwards. */
function withTempPlan(fn: (plan: SpawnPlan, dir: string) => Promise<void> | void): Promise<void> {
  return withTempDir(async (dir) => {
    const plan: SpawnPlan = {
      join: [`${dir}/job-cpu-tasks`, `${dir}/job-memory-tasks`],
      home: [`${dir}/home-tasks`],
      afterSpawn: [{ path: `${dir}/pids.max`, value: "20" }],
    };
    for (const file of [...plan.join, ...plan.home, ...plan.afterSpawn.map((w) => w.path)]) {
      await Deno.writeTextFile(file, "");
    }
    await fn(plan, dir);
  }, { prefix: "jobworker-hop-" });
}

Deno.test("openSpawnPlan names a file it cannot open and closes those it opened", async () => {
  await withTempPlan((plan, dir) => {
    const before = fdCount();
    const missing = `${dir}/gone/cgroup.procs`;
    assertThrows(() => openSpawnPlan({ ...plan, home: [missing] }), Error, missing);
    assertEquals(fdCount(), before);
  });
});

/** Runs `spawnInCgroup` over `plan` in a child process; returns its stdout (JSON). */
async function hopInChild(plan: SpawnPlan, spawn: "return" | "throw"): Promise<unknown> {
  const hop = new URL("./hop.ts", import.meta.url).href;
  const proc = new URL("../../tests/_support/proc.ts", import.meta.url).href;
  const code = `
    import { openSpawnPlan, spawnInCgroup } from ${JSON.stringify(hop)};
    import { fdCount } from ${JSON.stringify(proc)};
    const plan = ${JSON.stringify(plan)};
    const before = fdCount();
    const open = openSpawnPlan(plan);
    const opened = fdCount() - before;
    let result;
    try {
      result = spawnInCgroup(open, () => {
        if (${JSON.stringify(spawn)} === "throw") throw new Error("spawn failed");
        // Inside: the join files are written, the after-spawn ones not yet.
        return [...plan.join, ...plan.afterSpawn.map((w) => w.path)]
          .map((f) => Deno.readTextFileSync(f));
      });
    } catch (err) {
      result = String(err);
    }
    console.log(JSON.stringify({ opened, leftOpen: fdCount() - before, result }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", "--no-lock", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, stderr);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test({
  name: "spawnInCgroup joins, spawns, writes the after-spawn limits, goes home, closes the files",
  // A new cgroup namespace needs CAP_SYS_ADMIN.
  ignore: Deno.uid() !== 0,
  fn: () =>
    withTempPlan(async (plan, dir) => {
      assertEquals(await hopInChild(plan, "return"), {
        opened: 4,
        leftOpen: 0,
        result: ["0", "0", ""],
      });
      for (const file of [...plan.join, ...plan.home]) {
        assertEquals(await Deno.readTextFile(file), "0", file);
      }
      assertEquals(await Deno.readTextFile(`${dir}/pids.max`), "20");
    }),
});

Deno.test({
  name: "spawnInCgroup goes home and closes the files when the spawn throws",
  ignore: Deno.uid() !== 0,
  fn: () =>
    withTempPlan(async (plan, dir) => {
      const { leftOpen, result } = await hopInChild(plan, "throw") as {
        leftOpen: number;
        result: string;
      };
      assertEquals(leftOpen, 0);
      assertStringIncludes(result, "spawn failed");
      assertEquals(await Deno.readTextFile(plan.home[0]!), "0");
      assertEquals(await Deno.readTextFile(`${dir}/pids.max`), "", "no limits after a failure");
    }),
});
