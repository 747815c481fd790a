import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { parseProbeAnswer, parseProbeConfig, PROBE_MARKER } from "./_probe_protocol.ts";
import { defaultProbeCommand, runProbe } from "./_probe_run.ts";

Deno.test("parseProbeConfig takes an absolute dir and a uid above 0", () => {
  assertEquals(parseProbeConfig('{"dir":"/tmp/x","uid":65519}'), { dir: "/tmp/x", uid: 65519 });
  for (const bad of [undefined, "", "{", '{"dir":"rel","uid":1}', '{"dir":"/x","uid":0}', "null"]) {
    assertThrows(() => parseProbeConfig(bad), Error, "Cannot run the probe");
  }
});

Deno.test("parseProbeAnswer finds the marked line and keeps only well-formed steps", () => {
  const line = JSON.stringify({
    marker: PROBE_MARKER,
    steps: {
      pidfd: { outcome: "ok", text: "works" },
      "ns.pid": { outcome: "weird", text: "x" },
      bogus: { outcome: "ok", text: "x" },
    },
  });
  assertEquals(parseProbeAnswer(`noise\n${line}\n`), { pidfd: { outcome: "ok", text: "works" } });
  assertEquals(parseProbeAnswer('{"marker":"other","steps":{}}'), null);
  assertEquals(parseProbeAnswer("nothing"), null);
});

Deno.test("runProbe: a command that cannot start, gives no answer, or hangs", async () => {
  const missing = await runProbe(["/nonexistent/probe"], { uid: 65519 });
  assert(!missing.ran);
  assertStringIncludes(missing.error, "Cannot start /nonexistent/probe");
  const silent = await runProbe(["sh", "-c", "echo oops >&2; exit 3"], { uid: 65519 });
  assert(!silent.ran);
  assertEquals(silent.error, "it exited with 3 without an answer: oops");
  const hung = await runProbe(["sh", "-c", "exec sleep 30"], { uid: 65519, timeoutMs: 200 });
  assert(!hung.ran);
  assertStringIncludes(hung.error, "did not answer within 200 ms and was killed");
});

Deno.test("runProbe: the real probe answers every step (root: tries them; else skips)", async () => {
  const run = await runProbe(defaultProbeCommand(), { uid: 65519 });
  assert(run.ran, run.ran ? "" : run.error);
  assertEquals(run.steps.pidfd?.outcome, "ok");
  assertEquals(run.steps.seccomp?.outcome, "ok");
  const expected = Deno.uid() === 0 ? "ok" : "skipped";
  assertEquals(run.steps["ns.net"]?.outcome, expected);
  assertEquals(run.steps.pivot_root?.outcome, expected);
});
