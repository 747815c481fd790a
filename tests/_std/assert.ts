/**
 * A stand-in for the `@std/assert` functions this project uses, built on
 * `node:assert/strict`, because the JSR registry cannot be reached from the
 * build machines. Where JSR is reachable, point `@std/assert` in deno.json's
 * import map at `jsr:@std/assert@1` instead; call sites do not change.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Throws when `expr` is falsy. */
export function assert(expr: unknown, msg?: string): asserts expr {
  nodeAssert.ok(expr, msg as string);
}

/** Deep, strict equality. */
export function assertEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  nodeAssert.deepStrictEqual(actual, expected, msg as string);
}

/** Deep, strict inequality. */
export function assertNotEquals(actual: unknown, expected: unknown, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg as string);
}

/** `actual` must be strictly identical (`Object.is`) to `expected`. */
export function assertStrictEquals<T>(
  actual: unknown,
  expected: T,
  msg?: string,
): asserts actual is T {
  nodeAssert.strictEqual(actual, expected, msg as string);
}

/** `actual` must contain `expected` as a substring. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (!actual.includes(expected)) {
    throw new nodeAssert.AssertionError({
      message: msg ?? `Expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
    });
  }
}

/** `actual` must match `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  nodeAssert.match(actual, expected, msg as string);
}

/** `actual` must not match `expected`. */
export function assertNotMatch(actual: string, expected: RegExp, msg?: string): void {
  nodeAssert.doesNotMatch(actual, expected, msg as string);
}

/** Throws when `expr` is truthy. */
export function assertFalse(expr: unknown, msg?: string): void {
  nodeAssert.ok(!expr, msg as string);
}

/** `actual` must be greater than `expected`. */
export function assertGreater(actual: number, expected: number, msg?: string): void {
  if (!(actual > expected)) {
    throw new nodeAssert.AssertionError({ message: msg ?? `Expected ${actual} > ${expected}` });
  }
}

/** `actual` must be less than `expected`. */
export function assertLess(actual: number, expected: number, msg?: string): void {
  if (!(actual < expected)) {
    throw new nodeAssert.AssertionError({ message: msg ?? `Expected ${actual} < ${expected}` });
  }
}

/** `actual` must be greater than or equal to `expected`. */
export function assertGreaterOrEqual(actual: number, expected: number, msg?: string): void {
  if (!(actual >= expected)) {
    throw new nodeAssert.AssertionError({ message: msg ?? `Expected ${actual} >= ${expected}` });
  }
}

/** `actual` must be less than or equal to `expected`. */
export function assertLessOrEqual(actual: number, expected: number, msg?: string): void {
  if (!(actual <= expected)) {
    throw new nodeAssert.AssertionError({ message: msg ?? `Expected ${actual} <= ${expected}` });
  }
}

/** `value` must be an instance of `type`. */
export function assertInstanceOf<T extends abstract new (...args: never[]) => unknown>(
  value: unknown,
  type: T,
  msg?: string,
): asserts value is InstanceType<T> {
  if (!(value instanceof type)) {
    throw new nodeAssert.AssertionError({
      message: msg ?? `Expected an instance of ${type.name}, got ${String(value)}`,
    });
  }
}

/** Unconditionally fails. */
export function fail(msg?: string): never {
  nodeAssert.fail(msg ?? "Failed assertion");
}

// deno-lint-ignore no-explicit-any
type ErrorClass = new (...args: any[]) => Error;

function checkError(err: unknown, errorClass?: ErrorClass, msgIncludes?: string): Error {
  const cls: (new (...args: never[]) => unknown) | undefined = errorClass;
  if (!(err instanceof Error)) {
    throw new nodeAssert.AssertionError({
      message: `Expected an Error to be thrown, got ${String(err)}`,
    });
  }
  if (cls && !(err instanceof cls)) {
    throw new nodeAssert.AssertionError({
      message:
        `Expected error to be instance of "${cls.name}", but was "${err.constructor.name}": ${err.message}`,
    });
  }
  if (msgIncludes !== undefined && !err.message.includes(msgIncludes)) {
    throw new nodeAssert.AssertionError({
      message: `Expected error message to include ${JSON.stringify(msgIncludes)}, but got ${
        JSON.stringify(err.message)
      }`,
    });
  }
  return err;
}

/** `fn` must throw (optionally an instance of `errorClass` whose message includes `msgIncludes`). */
export function assertThrows(fn: () => unknown, msg?: string): unknown;
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  errorClass: new (...args: any[]) => E,
  msgIncludes?: string,
): E;
export function assertThrows(
  fn: () => unknown,
  errorClassOrMsg?: ErrorClass | string,
  msgIncludes?: string,
): unknown {
  try {
    fn();
  } catch (err) {
    if (typeof errorClassOrMsg === "string" || errorClassOrMsg === undefined) return err;
    return checkError(err, errorClassOrMsg, msgIncludes);
  }
  throw new nodeAssert.AssertionError({
    message: typeof errorClassOrMsg === "string" ? errorClassOrMsg : "Expected function to throw.",
  });
}

/** `fn` must reject (optionally with an instance of `errorClass` whose message includes `msgIncludes`). */
export function assertRejects(fn: () => PromiseLike<unknown>, msg?: string): Promise<unknown>;
export function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  // deno-lint-ignore no-explicit-any
  errorClass: new (...args: any[]) => E,
  msgIncludes?: string,
): Promise<E>;
export async function assertRejects(
  fn: () => PromiseLike<unknown>,
  errorClassOrMsg?: ErrorClass | string,
  msgIncludes?: string,
): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    if (typeof errorClassOrMsg === "string" || errorClassOrMsg === undefined) return err;
    return checkError(err, errorClassOrMsg, msgIncludes);
  }
  throw new nodeAssert.AssertionError({
    message: typeof errorClassOrMsg === "string" ? errorClassOrMsg : "Expected function to reject.",
  });
}
