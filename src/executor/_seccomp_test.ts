import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { fileURLToPath } from "node:url";
import { jobSeccompFilter, SECCOMP_DENIED_CALLS } from "./_seccomp.ts";
import { succeeds } from "../../tests/_support/commands.ts";

Deno.test("the job filter is whole sock_filter instructions and refuses unknown architectures", () => {
  const program = jobSeccompFilter("x86_64");
  assertEquals(program.length % 8, 0);
  const view = new DataView(program.buffer);
  const last = view.getUint16(program.length - 8, true);
  assertEquals(last, 0x06, "the program ends with a return");
  assert(SECCOMP_DENIED_CALLS.includes("keyctl") && SECCOMP_DENIED_CALLS.includes("clone3"));
  assertThrows(() => jobSeccompFilter("aarch64"), Error, "no system call table for aarch64");
});

const hasUnshare = succeeds("unshare", ["--help"]);

Deno.test({
  name: "under the filter, a user namespace is refused while ordinary programs run",
  ignore: Deno.build.arch !== "x86_64" || !(await hasUnshare),
  async fn() {
    // In a process of its own: a seccomp filter can never be removed.
    const ffi = fileURLToPath(new URL("../../ffi/mod.ts", import.meta.url));
    const filter = fileURLToPath(new URL("./_seccomp.ts", import.meta.url));
    const program = `
      import { installSeccompFilter, setNoNewPrivs } from "${ffi}";
      import { jobSeccompFilter } from "${filter}";
      setNoNewPrivs();
      installSeccompFilter(jobSeccompFilter());
      const run = async (cmd, args) => {
        const o = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
        return o.code + " " + new TextDecoder().decode(o.stderr).trim();
      };
      console.log(await run("true", []));
      console.log(await run("unshare", ["--user", "true"]));`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", program],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const [plain, userns] = text.trim().split("\n");
    assertEquals(plain, "0 ");
    assertStringIncludes(userns ?? "", "Operation not permitted");
  },
});
if (!(await hasUnshare)) console.log("SKIPPED seccomp subprocess test: no unshare(1) here");
