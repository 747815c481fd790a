import { assert, assertEquals, assertLess } from "@std/assert";
import { ChangeNotifier } from "./_waiters.ts";
import { sleep, within, withTempDir } from "../../tests/output/_fixture.ts";

/** Runs `fn` with the path of an empty file in a new temporary directory. */
function withFile(fn: (path: string) => Promise<void>): Promise<void> {
  return withTempDir(async (dir) => {
    const path = `${dir}/f`;
    await Deno.writeFile(path, new Uint8Array());
    await fn(path);
  }, { prefix: "jobworker-waiters-test-" });
}

/** A scripted stand-in for Deno.FsWatcher. */
function fakeWatcher(events: Deno.FsEvent[], options: { end: boolean }): Deno.FsWatcher {
  let closed = false;
  let wakeClosed = () => {};
  const closedPromise = new Promise<void>((resolve) => wakeClosed = resolve);
  const watcher = {
    close() {
      closed = true;
      wakeClosed();
    },
    async *[Symbol.asyncIterator]() {
      for (const event of events) {
        if (closed) return;
        await sleep(1);
        yield event;
      }
      if (!options.end) await closedPromise;
    },
    [Symbol.dispose]() {
      this.close();
    },
  };
  return watcher as unknown as Deno.FsWatcher;
}

Deno.test("the watch lives only while someone waits", async () => {
  await withFile(async (path) => {
    const notifier = new ChangeNotifier(path);
    assertEquals(notifier.watching, false);
    const a = notifier.wait();
    const b = notifier.wait();
    assert(notifier.watching);
    assertEquals(notifier.waiting, 2);
    a.cancel();
    a.cancel();
    assert(notifier.watching, "b still waits");
    b.cancel();
    assertEquals(notifier.watching, false);
    await a.promise;
    await b.promise;
    await notifier.close();
  });
});

Deno.test("an append wakes every waiter and the watch stops until the next wait", async () => {
  await withFile(async (path) => {
    const notifier = new ChangeNotifier(path);
    const waiters = [notifier.wait(), notifier.wait()];
    const start = performance.now();
    await Deno.writeTextFile(path, "x", { append: true });
    await Promise.all(waiters.map((w) => w.promise));
    assertLess(performance.now() - start, 50);
    assertEquals(notifier.waiting, 0);
    assertEquals(notifier.watching, false);
    await notifier.close();
  });
});

Deno.test("access events alone do not wake; modify does", async () => {
  await withFile(async (path) => {
    const access: Deno.FsEvent = { kind: "access", paths: [path] };
    const modify: Deno.FsEvent = { kind: "modify", paths: [path] };
    const notifier = new ChangeNotifier(path, {
      watch: () => fakeWatcher([access, access], { end: false }),
    });
    const waiter = notifier.wait();
    assertEquals(await within(waiter.promise, 30), "timeout");
    waiter.cancel();
    const notifier2 = new ChangeNotifier(path, {
      watch: () => fakeWatcher([access, modify], { end: false }),
    });
    assertEquals(await within(notifier2.wait().promise, 30), undefined);
    await notifier.close();
    await notifier2.close();
  });
});

Deno.test("without a watch, a single timer wakes waiters (fallback)", async () => {
  await withFile(async (path) => {
    let attempts = 0;
    const notifier = new ChangeNotifier(path, {
      watch: () => {
        attempts++;
        throw new Error("No space left on device (os error 28)");
      },
      fallbackDelayMs: 10,
    });
    const start = performance.now();
    const waiters = [notifier.wait(), notifier.wait()];
    assert(notifier.watching);
    await Promise.all(waiters.map((w) => w.promise));
    const elapsed = performance.now() - start;
    assert(elapsed >= 8 && elapsed < 50, `woken after ${elapsed} ms`);
    assertEquals(attempts, 1, "one attempt for the whole group of waiters");
    // The timer is cleared when the last waiter leaves (the sanitizer checks).
    const waiter = notifier.wait();
    assertEquals(attempts, 2, "a watch is tried again on the next wait");
    waiter.cancel();
    assertEquals(notifier.watching, false);
    await notifier.close();
  });
});

Deno.test("a watch that ends by itself wakes waiters; later waits use the timer", async () => {
  await withFile(async (path) => {
    let attempts = 0;
    const notifier = new ChangeNotifier(path, {
      watch: () => {
        attempts++;
        return fakeWatcher([], { end: true });
      },
      fallbackDelayMs: 10,
    });
    assertEquals(await within(notifier.wait().promise, 30), undefined);
    const waiter = notifier.wait();
    assertEquals(attempts, 1, "no new watch that could end at once and spin");
    await waiter.promise;
    await notifier.close();
  });
});

Deno.test("close() wakes waiters; later waits are settled at once", async () => {
  await withFile(async (path) => {
    const notifier = new ChangeNotifier(path);
    const waiter = notifier.wait();
    await notifier.close();
    await waiter.promise;
    const late = notifier.wait();
    assertEquals(notifier.watching, false);
    await late.promise;
  });
});
