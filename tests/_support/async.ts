/**
 * Time in tests: waiting, polling and bounding how long a promise may take.
 *
 * @module
 */

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What {@linkcode raceTimer} resolves with when the timer wins. */
const TIMED_OUT: unique symbol = Symbol("timed out");

/** `promise`, or {@linkcode TIMED_OUT} once `ms` have passed; the timer never outlives the race. */
function raceTimer<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Rejects with a clear message if `promise` has not settled after `ms`.
 * (Three positional parameters, unlike the usual style, because many test
 * assertions call it this way.)
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const result = await raceTimer(promise, ms);
  if (result === TIMED_OUT) throw new Error(`${what} did not finish within ${ms} ms`);
  return result;
}

/**
 * What `promise` settles to within `ms`, or the string "timeout": for
 * asserting that something has NOT happened yet.
 */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  const result = await raceTimer(promise, ms);
  return result === TIMED_OUT ? "timeout" : result;
}

/** Options of {@linkcode eventually}. */
export interface PollOptions {
  /** How long to keep trying; default 5 s. */
  timeoutMs?: number;
  /** The pause between two checks; default 10 ms. */
  stepMs?: number;
}

/** Polls `check` until it returns true; returns false if it has not after `options.timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  options: PollOptions = {},
): Promise<boolean> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) return false;
    await sleep(options.stepMs ?? 10);
  }
  return true;
}

/**
 * Polls `check` every `stepMs` until it returns true; fails after `timeoutMs`.
 * (Positional, unlike the usual style, because the tests call it this way.)
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5_000,
  stepMs = 10,
): Promise<void> {
  if (!(await eventually(check, { timeoutMs, stepMs }))) {
    throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
  }
}
