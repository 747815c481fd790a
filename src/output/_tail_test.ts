import { assert, assertEquals } from "@std/assert";
import { bytes, text, withTempDir } from "../../tests/output/_fixture.ts";
import { SharedTail } from "./_tail.ts";

function active(tail: SharedTail): SharedTail {
  tail.activate(true);
  return tail;
}

/** Runs `fn` with the path of a file (not made yet) in a new temporary directory. */
function withFile(fn: (path: string) => Promise<void>): Promise<void> {
  return withTempDir((dir) => fn(`${dir}/out`), { prefix: "jobworker-tail-test-" });
}

Deno.test("the tail starts where the file ended and follows what is appended", async () => {
  await withFile(async (path) => {
    await Deno.writeFile(path, bytes("old!"));
    const tail = active(new SharedTail(path));
    try {
      assertEquals(tail.at(0, 10), "ahead", "nothing is known before the first refresh");
      await tail.refresh();
      assertEquals(tail.at(0, 10), "behind", "bytes before the first refresh are the file's");
      assertEquals(tail.at(4, 10), "ahead");
      await Deno.writeFile(path, bytes("new bytes"), { append: true });
      assertEquals(tail.at(4, 10), "ahead", "unseen until the next refresh");
      await tail.refresh();
      assertEquals(text(tail.at(4, 100) as Uint8Array), "new bytes");
      assertEquals(text(tail.at(8, 3) as Uint8Array), "byt", "at most maxBytes, from the offset");
      assertEquals(tail.at(13, 10), "ahead");
    } finally {
      tail.close();
    }
  });
});

Deno.test("the tail keeps only its newest keepBytes", async () => {
  await withFile(async (path) => {
    await Deno.writeFile(path, new Uint8Array());
    const tail = active(new SharedTail(path, { keepBytes: 8, readBytes: 4 }));
    try {
      await tail.refresh();
      await Deno.writeFile(path, bytes("0123456789abcdef"));
      await tail.refresh(); // reads at most keepBytes: 0..7
      assertEquals(text(tail.at(0, 100) as Uint8Array), "0123");
      await tail.refresh(); // 8..15; 0..7 dropped
      assertEquals(tail.at(0, 100), "behind");
      assertEquals(tail.at(7, 100), "behind");
      assertEquals(text(tail.at(8, 100) as Uint8Array), "89ab");
      assertEquals(text(tail.at(12, 100) as Uint8Array), "cdef");
      assertEquals(tail.at(16, 100), "ahead");
    } finally {
      tail.close();
    }
  });
});

Deno.test("a refresh called while one runs still sees bytes written before the call", async () => {
  await withFile(async (path) => {
    await Deno.writeFile(path, new Uint8Array());
    const tail = active(new SharedTail(path));
    try {
      await tail.refresh();
      const first = tail.refresh();
      await Deno.writeFile(path, bytes("late"), { append: true });
      const second = tail.refresh();
      const third = tail.refresh();
      await Promise.all([first, second, third]);
      assertEquals(text(tail.at(0, 10) as Uint8Array), "late");
    } finally {
      tail.close();
    }
  });
});

Deno.test("a tail whose file vanished sends every reader to the file", async () => {
  await withFile(async (path) => {
    const tail = active(new SharedTail(path));
    try {
      await tail.refresh(); // ENOENT: broken, not thrown
      assertEquals(tail.at(0, 10), "behind");
      await Deno.writeFile(path, bytes("x"));
      await tail.refresh();
      assertEquals(tail.at(0, 10), "behind", "a broken tail stays out of the way");
    } finally {
      tail.close();
    }
  });
});

Deno.test("reset drops the bytes and the handle; the next refresh starts at the end", async () => {
  await withFile(async (path) => {
    await Deno.writeFile(path, bytes("ab"));
    const tail = active(new SharedTail(path));
    try {
      await tail.refresh();
      await Deno.writeFile(path, bytes("cd"), { append: true });
      await tail.refresh();
      assert(tail.at(2, 10) instanceof Uint8Array);
      tail.reset();
      assertEquals(tail.at(2, 10), "ahead");
      await tail.refresh();
      assertEquals(tail.at(2, 10), "behind");
      assertEquals(tail.at(4, 10), "ahead");
    } finally {
      tail.close();
    }
  });
});

Deno.test("an inactive tail sends readers to the file and holds nothing", async () => {
  await withFile(async (path) => {
    await Deno.writeFile(path, bytes("ab"));
    const tail = new SharedTail(path);
    try {
      assert(!tail.active);
      await tail.refresh();
      assertEquals(tail.at(0, 10), "behind");
      assertEquals(tail.at(2, 10), "behind");
      tail.activate(true);
      assertEquals(tail.at(2, 10), "ahead");
      await tail.refresh();
      await Deno.writeFile(path, bytes("cd"), { append: true });
      await tail.refresh();
      assertEquals(text(tail.at(2, 10) as Uint8Array), "cd");
      tail.activate(false);
      assertEquals(tail.at(2, 10), "behind", "off again: the bytes are gone");
    } finally {
      tail.close();
    }
  });
});
