import { assertEquals, assertThrows } from "@std/assert";
import { checkLabels, matchesLabels, MAX_LABELS } from "./labels.ts";

Deno.test("labels: Kubernetes-style keys and values pass, sorted by key", () => {
  assertEquals(
    checkLabels({ team: "infra", "example.com/tier": "batch", "a.b-c_d": "", "x": "1.2_3-4" }),
    { "a.b-c_d": "", "example.com/tier": "batch", team: "infra", x: "1.2_3-4" },
  );
  assertEquals(checkLabels(undefined), {});
  assertEquals(checkLabels({ ["k".repeat(63)]: "v".repeat(63) }), {
    ["k".repeat(63)]: "v".repeat(63),
  });
});

Deno.test("labels: bad keys, values, counts and sizes are refused, naming the label", () => {
  const bad: [unknown, string][] = [
    [{ "": "x" }, 'label key "" is invalid'],
    [{ "-team": "x" }, "starting and ending"],
    [{ ["k".repeat(64)]: "x" }, "1 to 63"],
    [{ "Example.com/x": "y" }, "DNS subdomain"],
    [{ "/x": "y" }, "prefix must be 1 to 253"],
    [{ "a b": "y" }, 'label key "a b"'],
    [{ team: "in fra" }, 'label "team" has an invalid value "in fra"'],
    [{ team: "x".repeat(64) }, "invalid value"],
    [{ team: 5 }, "must have a string value"],
    [["team=x"], "object of strings"],
    [
      Object.fromEntries(Array.from({ length: MAX_LABELS + 1 }, (_, i) => [`k${i}`, ""])),
      "at most 32",
    ],
  ];
  for (const [labels, message] of bad) {
    assertThrows(() => checkLabels(labels), Error, message);
  }
  const big = Object.fromEntries(
    Array.from({ length: 32 }, (_, i) => [`p${i}.example.com/${"k".repeat(60)}`, "v".repeat(63)]),
  );
  assertThrows(() => checkLabels(big), RangeError, "at most 4096");
});

Deno.test("labels: a selector matches when every pair is present", () => {
  const labels = { team: "infra", tier: "batch" };
  assertEquals(matchesLabels(labels, {}), true);
  assertEquals(matchesLabels(labels, { team: "infra" }), true);
  assertEquals(matchesLabels(labels, { team: "infra", tier: "batch" }), true);
  assertEquals(matchesLabels(labels, { team: "infra", tier: "web" }), false);
  assertEquals(matchesLabels(labels, { owner: "" }), false);
});
