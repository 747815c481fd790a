/**
 * Installing a seccomp filter (a classic BPF program over struct
 * seccomp_data) on the calling thread. Building the program is not this
 * file's business: it takes the instructions as bytes.
 *
 * @module
 */
import { libc } from "./_libc.ts";
import { check } from "./errors.ts";

const PR_SET_SECCOMP = 22;
const SECCOMP_MODE_FILTER = 2;
/** sizeof(struct sock_filter): u16 code, u8 jt, u8 jf, u32 k. */
export const SOCK_FILTER_SIZE = 8;

/**
 * Installs `program` (struct sock_filter[], 8 bytes each) as a seccomp
 * filter of the calling thread; processes it spawns afterwards inherit it,
 * and it can never be removed. Needs no_new_privs (or CAP_SYS_ADMIN).
 */
export function installSeccompFilter(program: Uint8Array): void {
  if (program.length === 0 || program.length % SOCK_FILTER_SIZE !== 0) {
    throw new RangeError(`A seccomp program is a multiple of 8 bytes, got ${program.length}`);
  }
  const filter = new Uint8Array(program); // a private copy that stays put during the call
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; } (16 bytes on 64-bit)
  const fprog = new DataView(new ArrayBuffer(16));
  fprog.setUint16(0, program.length / SOCK_FILTER_SIZE, true);
  fprog.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(filter))), true);
  check(
    libc().prctl_ptr(
      PR_SET_SECCOMP,
      BigInt(SECCOMP_MODE_FILTER),
      new Uint8Array(fprog.buffer),
      0n,
      0n,
    ),
    "prctl(PR_SET_SECCOMP)",
  );
  void filter; // must stay referenced until prctl returned
}
