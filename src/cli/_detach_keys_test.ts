// The detach key sequence: docker's syntax, and finding it in typed input
// across reads, with a sequence begun but not finished passed on to the job.
import { assertEquals, assertThrows } from "@std/assert";
import {
  DEFAULT_DETACH_KEYS,
  describeDetachKeys,
  DetachKeyMatcher,
  parseDetachKeys,
} from "./_detach_keys.ts";

const bytes = (...codes: number[]) => Uint8Array.from(codes);
const typed = (text: string) => new TextEncoder().encode(text);

Deno.test("parseDetachKeys: docker's syntax", () => {
  assertEquals(parseDetachKeys(DEFAULT_DETACH_KEYS), bytes(0x10, 0x11));
  assertEquals(parseDetachKeys("ctrl-a,d"), bytes(0x01, 0x64));
  assertEquals(
    parseDetachKeys("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_"),
    bytes(0, 27, 28, 29, 30, 31),
  );
  assertEquals(parseDetachKeys("ctrl-Z,Q,1"), bytes(0x1a, 0x51, 0x31));
  assertEquals(parseDetachKeys(""), bytes());
  for (const bad of ["ctrl-", "ctrl-1", "ctrl-ab", "ab", "a,,b", " ", "é", "alt-a"]) {
    assertThrows(() => parseDetachKeys(bad), Error, "is not a key");
  }
  assertEquals(describeDetachKeys(bytes(0x10, 0x11)), "Ctrl-P Ctrl-Q");
  assertEquals(describeDetachKeys(parseDetachKeys("ctrl-a,d,ctrl-\\")), "Ctrl-A d Ctrl-\\");
});

Deno.test("DetachKeyMatcher: the sequence detaches; what came before it goes to the job", () => {
  const keys = new DetachKeyMatcher(bytes(0x10, 0x11));
  const plain = typed("ls -l\r");
  // No key of the sequence: the same bytes, not a copy.
  assertEquals(keys.scan(plain).input === plain, true);
  assertEquals(keys.scan(typed("ab\x10\x11cd")), { input: typed("ab"), detach: true });
  // Across reads: the first key is held back, then the second completes it.
  assertEquals(keys.scan(typed("x\x10")), { input: typed("x"), detach: false });
  assertEquals(keys.scan(typed("\x11")), { input: bytes(), detach: true });
});

Deno.test("DetachKeyMatcher: a sequence begun but not finished goes to the job, as typed", () => {
  const keys = new DetachKeyMatcher(bytes(0x10, 0x11));
  assertEquals(keys.scan(typed("\x10")), { input: bytes(), detach: false });
  // Ctrl-P then "k" (a shell's previous-line key, then a letter): both go.
  assertEquals(keys.scan(typed("k")), { input: typed("\x10k"), detach: false });
  // Ctrl-P Ctrl-P Ctrl-Q: the first Ctrl-P goes, the other two detach.
  assertEquals(keys.scan(typed("\x10\x10\x11")), { input: typed("\x10"), detach: true });
  // Held at the end of input: flushed to the job.
  keys.scan(typed("\x10"));
  assertEquals(keys.flush(), typed("\x10"));
  assertEquals(keys.flush(), bytes());

  // A longer sequence that repeats its own beginning: "a a b" inside "a a a b".
  const aab = new DetachKeyMatcher(typed("aab"));
  assertEquals(aab.scan(typed("xaaab")), { input: typed("xa"), detach: true });
  assertEquals(aab.scan(typed("aa")), { input: bytes(), detach: false });
  assertEquals(aab.scan(typed("c")), { input: typed("aac"), detach: false });

  // No sequence: everything goes, nothing is held.
  const none = new DetachKeyMatcher(bytes());
  assertEquals(none.scan(typed("\x10\x11")), { input: typed("\x10\x11"), detach: false });
  assertEquals(none.flush(), bytes());
});
