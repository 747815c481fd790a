/**
 * The messages a client streams to the server, one at a time. Not the
 * stream's own async iterator: that destroys the call once the client
 * half-closes, while a duplex call still has output to send.
 *
 * @module
 */

/** The readable side of a grpc-js call, as far as this needs it. */
interface MessageSource<T> {
  on(event: "data", listener: (message: T) => void): unknown;
  on(event: "end" | "close", listener: () => void): unknown;
  on(event: "error", listener: (err: unknown) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/**
 * Yields the messages of `source` until the client half-closes (then
 * returns) or the call fails or closes otherwise (then throws). The stream is paused while a
 * message waits, so a consumer that takes its time holds the client back
 * (HTTP/2 flow control) instead of letting messages pile up here.
 */
export async function* clientMessages<T>(source: MessageSource<T>): AsyncGenerator<T> {
  const queue: T[] = [];
  let ended = false;
  let failure: { err: unknown } | null = null;
  let wake: (() => void) | null = null;
  const poke = () => {
    wake?.();
    wake = null;
  };
  source.on("data", (message) => {
    queue.push(message);
    source.pause();
    poke();
  });
  source.on("end", () => {
    ended = true;
    poke();
  });
  source.on("close", () => {
    // Closed without the client's half-close: cancelled or cut off.
    if (!ended) failure ??= { err: new Error("the call closed before the client's end") };
    poke();
  });
  source.on("error", (err) => {
    failure = { err };
    poke();
  });
  for (;;) {
    const next = queue.shift();
    if (next !== undefined) {
      yield next;
      if (queue.length === 0) source.resume();
      continue;
    }
    if (failure !== null) throw (failure as { err: unknown }).err;
    if (ended) return;
    await new Promise<void>((resolve) => (wake = resolve));
  }
}
