/**
 * Host-level settings inside a job's namespaces: hostname and the
 * loopback interface.
 *
 * @module
 */
import { cstr, libc } from "./_libc.ts";
import { check } from "./errors.ts";

/** Sets the hostname of the calling thread's UTS namespace. */
export function sethostname(name: string): void {
  const bytes = new TextEncoder().encode(name);
  if (bytes.length === 0 || bytes.length > 64) {
    throw new RangeError(`Hostname must be 1 to 64 bytes, got ${bytes.length}`);
  }
  check(libc().sethostname(cstr(name), BigInt(bytes.length)), `sethostname(${name})`);
}

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SIOCGIFFLAGS = 0x8913n;
const SIOCSIFFLAGS = 0x8914n;
const IFF_UP = 0x1;
/** sizeof(struct ifreq) on Linux: 16 bytes of name, then a 24-byte union. */
const IFREQ_SIZE = 40;
const IFNAMSIZ = 16;

/**
 * Sets a network interface UP in the calling thread's network namespace
 * (SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP), like `ip link set lo up`.
 */
export function interfaceUp(name = "lo"): void {
  const nameBytes = new TextEncoder().encode(name);
  if (nameBytes.length >= IFNAMSIZ) throw new RangeError(`Interface name too long: ${name}`);
  const fd = check(libc().socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket(AF_INET)");
  try {
    const ifreq = new Uint8Array(IFREQ_SIZE);
    ifreq.set(nameBytes);
    check(libc().ioctl(fd, SIOCGIFFLAGS, ifreq), `ioctl(${name}, SIOCGIFFLAGS)`);
    const view = new DataView(ifreq.buffer);
    view.setInt16(IFNAMSIZ, view.getInt16(IFNAMSIZ, true) | IFF_UP, true);
    check(libc().ioctl(fd, SIOCSIFFLAGS, ifreq), `ioctl(${name}, SIOCSIFFLAGS)`);
  } finally {
    libc().close(fd);
  }
}
