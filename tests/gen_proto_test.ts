/**
 * src/api/generated/ is exactly what `deno task gen:proto` makes from the
 * .proto file today: regenerated into a temporary directory, every file
 * must be there with the same bytes, and no other file.
 */
import { assertEquals } from "@std/assert";
import { join } from "node:path";
import { GENERATED_DIR, generateProtoTypes, listFiles } from "../scripts/gen_proto.ts";

Deno.test("the committed proto types are what deno task gen:proto makes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jobworker-gen-proto-test-" });
  try {
    const fresh = join(dir, "generated");
    await generateProtoTypes(fresh);
    const files = await listFiles(fresh);
    const hint = "src/api/generated/ is stale: run `deno task gen:proto` and commit the result";
    assertEquals(await listFiles(GENERATED_DIR), files, hint);
    for (const file of files) {
      assertEquals(
        await Deno.readTextFile(join(GENERATED_DIR, file)),
        await Deno.readTextFile(join(fresh, file)),
        `${file}: ${hint}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
