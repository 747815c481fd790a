import { assert, assertEquals } from "@std/assert";
import { concat } from "./mod.ts";

Deno.test("concat joins the parts in order into a new array", () => {
  const one = new Uint8Array([1, 2]);
  assertEquals(concat([one, new Uint8Array(), new Uint8Array([3])]), new Uint8Array([1, 2, 3]));
  assertEquals(concat([]), new Uint8Array());
  const copy = concat([one]);
  assertEquals(copy, one);
  assert(copy !== one, "a single part is copied, not returned");
});
