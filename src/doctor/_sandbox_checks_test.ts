import { assertEquals, assertStringIncludes } from "@std/assert";
import { parseStatus } from "./_proc.ts";
import { PROBE_STEPS, type ProbeSteps } from "./_probe_protocol.ts";
import { sandboxChecks, type SandboxContext } from "./_sandbox_checks.ts";
import type { CheckResult } from "./types.ts";

const CONTEXT: SandboxContext = {
  root: true,
  release: "6.18.44",
  status: parseStatus("Seccomp:\t0\nNoNewPrivs:\t0\n"),
  seccompActions: [
    "kill_process",
    "kill_thread",
    "trap",
    "errno",
    "user_notif",
    "trace",
    "log",
    "allow",
  ],
};

function allSteps(outcome: "ok" | "skipped" = "ok", text = "fine"): ProbeSteps {
  return Object.fromEntries(PROBE_STEPS.map((s) => [s, { outcome, text }]));
}

const byId = (results: CheckResult[]) => Object.fromEntries(results.map((r) => [r.id, r]));

Deno.test("sandboxChecks: every step ok gives every check ok; user namespaces are not checked", () => {
  const results = sandboxChecks({ ran: true, steps: allSteps(), ms: 50 }, CONTEXT);
  const notOk = results.filter((r) => r.status !== "ok").map((r) => r.id);
  assertEquals(notOk, ["ns.user"]);
  const user = byId(results)["ns.user"]!;
  assertEquals(user.status, "skip");
  assertStringIncludes(user.detail, "not used");
  assertEquals(results.length, 6 + 1 + 1 + 9);
});

Deno.test("sandboxChecks: a failed step fails its check with the error", () => {
  const steps = allSteps();
  steps["ns.net"] = { outcome: "failed", text: "unshare(CLONE_NEWNET) failed: EPERM" };
  steps.pivot_root = { outcome: "skipped", text: "needs a tmpfs: mount(/x, tmpfs) failed: EPERM" };
  const results = byId(sandboxChecks({ ran: true, steps, ms: 50 }, CONTEXT));
  assertEquals(results["ns.net"]!.status, "fail");
  assertStringIncludes(results["ns.net"]!.detail, "EPERM");
  // As root, a skipped step means something it builds on failed.
  assertEquals(results["sandbox.pivot_root"]!.status, "fail");
  assertStringIncludes(results["sandbox.pivot_root"]!.detail, "not tried: needs a tmpfs");
});

Deno.test("sandboxChecks: not root, the root-only steps are skipped with the reason", () => {
  const steps = allSteps("skipped", "needs root");
  steps.pidfd = { outcome: "ok", text: "pidfd_open works" };
  steps.seccomp = { outcome: "ok", text: "a filter installs" };
  steps.no_new_privs = { outcome: "ok", text: "holds" };
  const results = sandboxChecks({ ran: true, steps, ms: 50 }, { ...CONTEXT, root: false });
  const skipped = results.filter((r) => r.status === "skip");
  assertEquals(results.filter((r) => r.status === "fail"), []);
  assertEquals(skipped.length, 6 + 1 + 6);
  assertStringIncludes(byId(results)["ns.pid"]!.detail, "needs root (run the doctor as root");
});

Deno.test("sandboxChecks: a probe that did not run fails as root, its checks skipped", () => {
  const results = byId(sandboxChecks({ ran: false, error: "exited with 1" }, CONTEXT));
  assertEquals(results["sandbox.probe"]!.status, "fail");
  assertStringIncludes(results["sandbox.probe"]!.detail, "Cannot run the probe child: exited");
  assertEquals(results["ns.pid"]!.status, "skip");
  assertStringIncludes(results["ns.pid"]!.detail, "see sandbox.probe");
});

Deno.test("sandboxChecks: what the kernel lacks fails whatever the probe says", () => {
  const old = byId(
    sandboxChecks({ ran: true, steps: allSteps(), ms: 1 }, { ...CONTEXT, release: "5.4.0" }),
  );
  assertEquals(old["sandbox.mount_setattr"]!.status, "fail");
  assertStringIncludes(old["sandbox.mount_setattr"]!.detail, "Linux 5.12+");
  assertEquals(old["sandbox.proc_hidepid"]!.status, "fail");
  assertEquals(old["sandbox.pidfd"]!.status, "ok");
  const noKill = byId(sandboxChecks({ ran: true, steps: allSteps(), ms: 1 }, {
    ...CONTEXT,
    seccompActions: ["kill_thread", "errno", "allow"],
  }));
  assertEquals(noKill["sandbox.seccomp"]!.status, "fail");
  assertStringIncludes(noKill["sandbox.seccomp"]!.detail, "kill_process");
  const noSeccomp = byId(sandboxChecks({ ran: true, steps: allSteps(), ms: 1 }, {
    ...CONTEXT,
    status: parseStatus("Name:\tx\n"),
  }));
  assertEquals(noSeccomp["sandbox.seccomp"]!.status, "fail");
});

Deno.test("sandboxChecks: a filter the doctor already runs under is noted", () => {
  const results = byId(sandboxChecks({ ran: true, steps: allSteps(), ms: 1 }, {
    ...CONTEXT,
    status: parseStatus("Seccomp:\t2\n"),
  }));
  assertEquals(results["sandbox.seccomp"]!.status, "ok");
  assertStringIncludes(results["sandbox.seccomp"]!.detail, "which jobs inherit");
});

Deno.test("sandboxChecks: not root, a probe that did not run only warns", () => {
  const results = byId(
    sandboxChecks({ ran: false, error: "exited with 1" }, { ...CONTEXT, root: false }),
  );
  assertEquals(results["sandbox.probe"]!.status, "warn");
});
