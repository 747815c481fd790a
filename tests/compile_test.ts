/**
 * `deno task compile` builds working binaries, where the runtime that
 * `deno compile` needs can be had; otherwise the test is skipped, saying why.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { fileURLToPath } from "node:url";
import { NO_DENORT_EXIT_CODE } from "../scripts/compile.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const decoder = new TextDecoder();

const build = await new Deno.Command(Deno.execPath(), {
  args: ["run", "--allow-all", "scripts/compile.ts"],
  cwd: root,
  stdout: "piped",
  stderr: "piped",
}).output();
const unavailable = build.code === NO_DENORT_EXIT_CODE;
if (unavailable) {
  console.log(
    "skipped: compiled binaries: deno compile's runtime (denort) cannot be downloaded on this " +
      "machine and DENORT_BIN is not set",
  );
}

Deno.test({
  name: "deno task compile builds a server and a CLI binary that run",
  ignore: unavailable,
  async fn() {
    assertEquals(build.code, 0, decoder.decode(build.stderr));
    for (
      const [binary, expected] of [["dist/jobworker", "Usage"], ["dist/jobworker-server", "Usage"]]
    ) {
      const out = await new Deno.Command(`${root}/${binary}`, { args: ["--help"], stdout: "piped" })
        .output();
      assert(out.success, `${binary} --help failed`);
      assertStringIncludes(decoder.decode(out.stdout), expected!);
    }
  },
});

Deno.test("without the runtime, deno task compile explains how to point DENORT_BIN at one", () => {
  if (!unavailable) {
    assertEquals(build.code, 0);
    return;
  }
  const stderr = decoder.decode(build.stderr);
  assertStringIncludes(stderr, "DENORT_BIN=");
  assertStringIncludes(stderr, "could not be downloaded");
});
