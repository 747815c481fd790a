import { assertEquals } from "@std/assert";
import { resolveCommand } from "./_resolve.ts";

Deno.test("a name is found in the given search path, first match wins", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/b`);
    await Deno.writeTextFile(`${dir}/b/prog`, "#!/bin/sh\n", { mode: 0o755 });
    await Deno.writeTextFile(`${dir}/a/prog`, "#!/bin/sh\n", { mode: 0o644 });
    assertEquals(resolveCommand("prog", { searchPath: `${dir}/a:${dir}/b` }), `${dir}/b/prog`);
    assertEquals(resolveCommand("prog", { searchPath: `${dir}/a` }), "not-executable");
    assertEquals(resolveCommand("prog", { searchPath: "/nonexistent" }), "not-found");
    assertEquals(resolveCommand("prog", { searchPath: ":", cwd: `${dir}/b` }), `${dir}/b/prog`);
    await Deno.mkdir(`${dir}/c/prog`, { recursive: true });
    assertEquals(resolveCommand("prog", { searchPath: `${dir}/c` }), "not-found");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a command with a slash is used as given; no PATH falls back to /bin:/usr/bin", () => {
  assertEquals(resolveCommand("./x", { searchPath: "/nope" }), "./x");
  assertEquals(resolveCommand("/no/such", {}), "/no/such");
  assertEquals(resolveCommand("sh", {}), "/bin/sh");
});
