import { assertEquals, assertThrows } from "@std/assert";
import {
  endNote,
  EXIT_JOB_FAILED,
  EXIT_WAIT_FAILURE,
  exitCodeOf,
  signalNumber,
} from "./_exit_code.ts";
import { jobStatus, runningStatus } from "../../tests/cli/_fixture.ts";

Deno.test("exitCodeOf: the job's code, 128 + signal, 143 for a stop, 126 for a failure", () => {
  const ended = (overrides: Parameters<typeof jobStatus>[0]) => exitCodeOf(jobStatus(overrides));
  assertEquals(ended({ exitCode: 0 }), 0);
  assertEquals(ended({ exitCode: 1 }), 1);
  assertEquals(ended({ exitCode: 255 }), 255);
  assertEquals(ended({ exitCode: null, signal: "SIGKILL" }), 137);
  assertEquals(ended({ exitCode: null, signal: "SIGKILL", oomKilled: true }), 137);
  assertEquals(ended({ exitCode: null, signal: "SIGSEGV" }), 139);
  assertEquals(ended({ exitCode: null, signal: "SIG34" }), 162);
  assertEquals(ended({ state: "stopped", exitCode: null, signal: "SIGTERM" }), 143);
  assertEquals(ended({ state: "stopped", exitCode: null, signal: "SIGKILL" }), 137);
  // Stopped, and it exited by itself after SIGTERM: never a success.
  assertEquals(ended({ state: "stopped", exitCode: 0 }), 143);
  assertEquals(ended({ state: "stopped", exitCode: 3 }), 143);
  assertEquals(ended({ state: "failed", exitCode: null, error: "x" }), EXIT_JOB_FAILED);
  assertEquals(ended({ exitCode: null, signal: "SIGNOPE" }), EXIT_WAIT_FAILURE);
  assertEquals(ended({ exitCode: 300 }), EXIT_WAIT_FAILURE);
  assertThrows(() => exitCodeOf(runningStatus()), Error, "still runs");
});

Deno.test("signalNumber: Linux numbers, SIG<n>, null for anything else", () => {
  assertEquals(signalNumber("SIGHUP"), 1);
  assertEquals(signalNumber("SIGTERM"), 15);
  assertEquals(signalNumber("SIGSYS"), 31);
  assertEquals(signalNumber("SIG64"), 64);
  assertEquals(signalNumber("SIG65"), null);
  assertEquals(signalNumber("SIG0"), null);
  assertEquals(signalNumber("TERM"), null);
});

Deno.test("endNote: nothing for a clean exit, one line otherwise", () => {
  const id = jobStatus().id;
  assertEquals(endNote(jobStatus()), null);
  assertEquals(endNote(jobStatus({ exitCode: 2 })), `job ${id} exited with code 2`);
  assertEquals(
    endNote(jobStatus({ exitCode: null, signal: "SIGKILL", oomKilled: true })),
    `job ${id} was killed by SIGKILL (out of memory)`,
  );
  assertEquals(
    endNote(jobStatus({ state: "stopped", exitCode: 0 })),
    `job ${id} was stopped (it exited with 0)`,
  );
  assertEquals(
    endNote(jobStatus({ state: "failed", exitCode: null, error: "bad\nthing" })),
    `job ${id} failed: bad\\nthing`,
  );
});
