import { assert, assertEquals, assertThrows } from "@std/assert";
import { sleep } from "../../tests/_support/async.ts";
import { Deadline } from "./deadline.ts";

Deno.test("a deadline fires once, at the earliest time asked for", async () => {
  let fired = 0;
  const deadline = new Deadline(() => fired++);
  deadline.atMost(200);
  deadline.atMost(20);
  deadline.atMost(500);
  const t0 = performance.now();
  while (fired === 0) await sleep(5);
  const elapsed = performance.now() - t0;
  assert(elapsed < 150, `fired after ${elapsed} ms`);
  deadline.atMost(0);
  await sleep(30);
  assertEquals(fired, 1);
});

Deno.test("a deadline beyond setTimeout's range waits instead of firing at once", async () => {
  let fired = false;
  const deadline = new Deadline(() => (fired = true));
  deadline.atMost(2147484 * 1000); // the grace that once killed a job after 0.01 s
  await sleep(50);
  assertEquals(fired, false);
  assert(deadline.remainingMs > 2147483 * 1000);
  deadline.cancel();
  deadline.atMost(0);
  await sleep(10);
  assertEquals(fired, false, "a cancelled deadline never fires");
  assertThrows(() => new Deadline(() => {}).atMost(-1), RangeError);
  assertThrows(() => new Deadline(() => {}).atMost(Number.NaN), RangeError);
});
