import { assertEquals, assertThrows } from "@std/assert";
import { parseBind, sandboxOptions } from "./_sandbox_flags.ts";

Deno.test("sandbox flags become JobManager options", () => {
  assertEquals(
    sandboxOptions({
      uidRange: "70000-70999",
      allowRunAs: ["1000-1999", "3000"],
      adminRunAs: ["0-65535"],
      masks: ["/etc/jobworker"],
      roBinds: ["/opt/tools:/tools"],
      binds: ["/srv/shared"],
    }),
    {
      manager: {
        jobUidRange: { first: 70000, last: 70999 },
        allowRunAs: [{ first: 1000, last: 1999 }, { first: 3000, last: 3000 }],
        masks: ["/etc/jobworker"],
        binds: [
          { source: "/opt/tools", target: "/tools", readOnly: true },
          { source: "/srv/shared", target: "/srv/shared", readOnly: false },
        ],
      },
      adminRunAs: [{ first: 0, last: 65535 }],
    },
  );
  assertEquals(sandboxOptions({}), { manager: { masks: [], binds: [] }, adminRunAs: undefined });
});

Deno.test("bad sandbox flags name the flag", () => {
  assertThrows(() => sandboxOptions({ uidRange: "1-2,3-4" }), RangeError, "one FIRST-LAST");
  assertThrows(() => sandboxOptions({ allowRunAs: ["x"] }), RangeError, "--allow-run-as");
  assertThrows(() => sandboxOptions({ adminRunAs: ["9-1"] }), RangeError, "--admin-run-as");
  assertThrows(() => parseBind("/a:tools", { readOnly: true }), TypeError, "--ro-bind");
  assertThrows(() => parseBind(":/x", { readOnly: false }), TypeError, "--bind :/x");
});
