import { assertEquals } from "@std/assert";
import { join } from "node:path";
import { runningProgram } from "./launch.ts";

Deno.test("runningProgram: the path as it is, /proc/self/exe once the file was replaced", () => {
  assertEquals(
    runningProgram("/usr/local/bin/jobworker-server"),
    "/usr/local/bin/jobworker-server",
  );
  assertEquals(runningProgram("/usr/local/bin/jobworker-server (deleted)"), "/proc/self/exe");
});

Deno.test("runningProgram: a program whose file was deleted can still start itself", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jobworker-test-launch-" });
  try {
    const copy = join(dir, "deno");
    await Deno.copyFile(Deno.execPath(), copy);
    const launch = new URL("./launch.ts", import.meta.url).href;
    const script = `
      import { runningProgram } from ${JSON.stringify(launch)};
      await Deno.remove(${JSON.stringify(copy)});
      const out = await new Deno.Command(runningProgram(), {
        args: ["eval", "console.log('started by', Deno.version.deno)"],
      }).output();
      console.log(Deno.execPath().endsWith(" (deleted)"), new TextDecoder().decode(out.stdout).trim());
    `;
    const out = await new Deno.Command(copy, {
      args: ["eval", "--no-config", script],
      stderr: "inherit",
    }).output();
    assertEquals(out.code, 0);
    assertEquals(
      new TextDecoder().decode(out.stdout).trim(),
      `true started by ${Deno.version.deno}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
