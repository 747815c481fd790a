import { assertEquals } from "@std/assert";
import { paintState, shouldColor } from "./_color.ts";
import { jobStatus, runningStatus } from "../../tests/cli/_fixture.ts";

Deno.test("shouldColor: a terminal, and neither NO_COLOR (non-empty) nor TERM=dumb", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assertEquals(shouldColor({ isTerminal: true, env: env({}) }), true);
  assertEquals(shouldColor({ isTerminal: false, env: env({}) }), false);
  assertEquals(shouldColor({ isTerminal: true, env: env({ NO_COLOR: "1" }) }), false);
  assertEquals(shouldColor({ isTerminal: true, env: env({ NO_COLOR: "false" }) }), false);
  assertEquals(shouldColor({ isTerminal: true, env: env({ NO_COLOR: "" }) }), true);
  assertEquals(shouldColor({ isTerminal: true, env: env({ TERM: "dumb" }) }), false);
  assertEquals(shouldColor({ isTerminal: true, env: env({ TERM: "xterm-256color" }) }), true);
});

Deno.test("paintState: green for success, red for trouble, yellow stopped, cyan running", () => {
  assertEquals(paintState("exited", jobStatus()), "\x1b[32mexited\x1b[0m");
  assertEquals(paintState("exited", jobStatus({ exitCode: 1 })), "\x1b[31mexited\x1b[0m");
  assertEquals(paintState("exited", jobStatus({ oomKilled: true })), "\x1b[31mexited\x1b[0m");
  assertEquals(paintState("stopped", jobStatus({ state: "stopped" })), "\x1b[33mstopped\x1b[0m");
  assertEquals(paintState("failed", jobStatus({ state: "failed" })), "\x1b[1;31mfailed\x1b[0m");
  assertEquals(paintState("running", runningStatus()), "\x1b[36mrunning\x1b[0m");
});
