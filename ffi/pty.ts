/**
 * Pseudo-terminals: a new one from /dev/ptmx (of the mount namespace the
 * caller is in: a job's sandbox has a devpts instance of its own) and its
 * window size.
 *
 * @module
 */
import { libc } from "./_libc.ts";
import { check } from "./errors.ts";
import { O_CLOEXEC, O_NOCTTY, O_NONBLOCK, O_RDWR, openFd } from "./files.ts";

// <asm-generic/ioctls.h>
const TIOCSPTLCK = 0x40045431n;
const TIOCGPTN = 0x80045430n;
const TIOCSWINSZ = 0x5414n;

/** A terminal's size in character cells. */
export interface WindowSize {
  rows: number;
  cols: number;
}

/**
 * Opens a new pseudo-terminal: its master (non-blocking, close-on-exec,
 * never the caller's controlling terminal) and the path of its slave,
 * unlocked, for the process that will use it to open.
 *
 * @example
 * ```ts ignore
 * const { master, slavePath } = openPty(); // slavePath e.g. "/dev/pts/0"
 * ```
 */
export function openPty(): { master: number; slavePath: string } {
  const master = openFd("/dev/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  const arg = new Int32Array(1);
  check(libc().ioctl(master, TIOCSPTLCK, new Uint8Array(arg.buffer)), "ioctl(TIOCSPTLCK)");
  check(libc().ioctl(master, TIOCGPTN, new Uint8Array(arg.buffer)), "ioctl(TIOCGPTN)");
  return { master, slavePath: `/dev/pts/${arg[0]}` };
}

/** Sets the window size of the terminal `fd` belongs to; its foreground processes get SIGWINCH. */
export function setWindowSize(fd: number, size: WindowSize): void {
  // struct winsize { unsigned short ws_row, ws_col, ws_xpixel, ws_ypixel; }
  const winsize = new Uint16Array([size.rows, size.cols, 0, 0]);
  check(libc().ioctl(fd, TIOCSWINSZ, new Uint8Array(winsize.buffer)), "ioctl(TIOCSWINSZ)");
}
