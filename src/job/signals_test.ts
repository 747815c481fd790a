import { assertEquals, assertThrows } from "@std/assert";
import { JobArgumentError } from "./errors.ts";
import { JOB_SIGNALS, parseJobSignal } from "./signals.ts";

Deno.test("parseJobSignal: names in any case, with or without SIG, and numbers", () => {
  assertEquals(parseJobSignal("hup"), { name: "SIGHUP", number: 1 });
  assertEquals(parseJobSignal("SIGUSR1"), { name: "SIGUSR1", number: 10 });
  assertEquals(parseJobSignal(" Usr2 "), { name: "SIGUSR2", number: 12 });
  assertEquals(parseJobSignal("9"), { name: "SIGKILL", number: 9 });
  assertEquals(parseJobSignal("28"), { name: "SIGWINCH", number: 28 });
  for (const name of JOB_SIGNALS) assertEquals(parseJobSignal(name).name, `SIG${name}`);
});

Deno.test("parseJobSignal: kernel-only signals, unknown names and numbers are refused", () => {
  for (const bad of ["SEGV", "sigbus", "11", "CHLD", "PIPE", "0", "65", "-1", "", "FOO", "1.5"]) {
    const err = assertThrows(() => parseJobSignal(bad), JobArgumentError);
    assertEquals(err.message.startsWith("Cannot signal job: "), true, err.message);
  }
});
