/**
 * The hostile job's own tool: a Deno program that runs INSIDE a job and
 * tries system calls a contained job must not be able to make, printing
 * one JSON line per attempt: `{"probe", "tried", "answer"}` where answer is
 * "ok" or the errno name the kernel gave.
 *
 * It is the attacker's program, not the project's: it binds libc itself
 * (an attacker would not use the project's ffi/) and imports nothing, so
 * it runs from any directory the test binds it into.
 *
 *   deno run --allow-all --no-config --no-lock _attack.ts PROBE...
 *
 * @module
 */

const libc = Deno.dlopen("libc.so.6", {
  syscall: { parameters: ["i64", "i64", "i64", "i64", "i64", "i64", "i64"], result: "i64" },
  __errno_location: { parameters: [], result: "pointer" },
});

const ERRNO: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  6: "ENXIO",
  9: "EBADF",
  13: "EACCES",
  14: "EFAULT",
  22: "EINVAL",
  25: "ENOTTY",
  30: "EROFS",
  38: "ENOSYS",
  95: "EOPNOTSUPP",
  111: "ECONNREFUSED",
};

function errno(): number {
  const p = libc.symbols.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

type Arg = number | bigint | Uint8Array;

function ptr(arg: Arg): bigint {
  if (arg instanceof Uint8Array) {
    return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(arg)));
  }
  return BigInt(arg);
}

/** A raw system call; "ok" or the errno name. */
function sys(nr: number, ...args: Arg[]): string {
  const a = [...args.map(ptr), 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6);
  const result = Number(libc.symbols.syscall(BigInt(nr), a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!));
  if (result !== -1) return "ok";
  const e = errno();
  return ERRNO[e] ?? `errno ${e}`;
}

/** The errno name of an error Deno threw. */
function errorName(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") return code;
  const n = /os error (\d+)/.exec(String(err))?.[1];
  return n === undefined ? String(err) : ERRNO[Number(n)] ?? `errno ${n}`;
}

const cstr = (s: string) => new TextEncoder().encode(s + "\0");

// x86-64 system call numbers.
const NR = {
  ioctl: 16,
  ptrace: 101,
  syslog: 103,
  kill: 62,
  mount: 165,
  umount2: 166,
  reboot: 169,
  sethostname: 170,
  init_module: 175,
  clock_settime: 227,
  add_key: 248,
  keyctl: 250,
  unshare: 272,
  perf_event_open: 298,
  open_by_handle_at: 304,
  finit_module: 313,
  bpf: 321,
  userfaultfd: 323,
  io_uring_setup: 425,
  clone3: 435,
};

/** Each probe: what it tries (for the log), and the attempt. */
const PROBES: Record<string, { tried: string; run: () => string | Promise<string> }> = {
  keyring: {
    tried: 'add_key("user", "jw-attack", "x", KEY_SPEC_USER_KEYRING)',
    run: () => sys(NR.add_key, cstr("user"), cstr("jw-attack"), cstr("x"), 1, -4),
  },
  "keyring-session": {
    tried: "keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)",
    run: () => sys(NR.keyctl, 1, 0),
  },
  reboot: {
    tried: "reboot(LINUX_REBOOT_CMD_CAD_OFF)",
    run: () => sys(NR.reboot, 0xfee1dead, 672274793, 0),
  },
  module: {
    tried: 'finit_module(-1, "", 0) and init_module(NULL, 0, "")',
    run: () => `${sys(NR.finit_module, -1, cstr(""), 0)},${sys(NR.init_module, 0, 0, cstr(""))}`,
  },
  clock: {
    tried: "clock_settime(CLOCK_REALTIME, now)",
    run: () => {
      const now = Date.now();
      const ts = new BigInt64Array([BigInt(Math.floor(now / 1000)), BigInt((now % 1000) * 1e6)]);
      return sys(NR.clock_settime, 0, new Uint8Array(ts.buffer));
    },
  },
  hostname: {
    tried: 'sethostname("pwned")',
    run: () => sys(NR.sethostname, cstr("pwned"), 5),
  },
  mount: {
    tried: 'mount("none", "/tmp", "tmpfs", 0, NULL)',
    run: () => sys(NR.mount, cstr("none"), cstr("/tmp"), cstr("tmpfs"), 0, 0),
  },
  "umount-proc": {
    tried: 'umount2("/proc", MNT_DETACH)',
    run: () => sys(NR.umount2, cstr("/proc"), 2),
  },
  userns: {
    tried: "unshare(CLONE_NEWUSER)",
    run: () => sys(NR.unshare, 0x10000000),
  },
  "clone3": {
    tried: "clone3(NULL, 0)",
    run: () => sys(NR.clone3, 0, 0),
  },
  "ptrace-pid1": {
    tried: "ptrace(PTRACE_ATTACH, 1)  (PID 1 is the executor)",
    run: () => sys(NR.ptrace, 16, 1, 0, 0),
  },
  "signal-pid1": {
    tried: "kill(1, SIGTERM) and kill(1, SIGKILL)  (PID 1 is the executor)",
    run: () => `${sys(NR.kill, 1, 15)},${sys(NR.kill, 1, 9)}`,
  },
  syslog: {
    tried: "syslog(SYSLOG_ACTION_READ_ALL)  (what dmesg does)",
    run: () => sys(NR.syslog, 3, new Uint8Array(4096), 4096),
  },
  bpf: {
    tried: "bpf(BPF_MAP_CREATE)",
    run: () => sys(NR.bpf, 0, new Uint8Array(128), 128),
  },
  perf: {
    tried: "perf_event_open(cpu-clock, pid 0)",
    run: () => {
      const attr = new Uint32Array(32); // type 1 (software), size 128, config 0 (cpu-clock)
      attr[0] = 1;
      attr[1] = 128;
      return sys(NR.perf_event_open, new Uint8Array(attr.buffer), 0, -1, -1, 0);
    },
  },
  userfaultfd: { tried: "userfaultfd(0)", run: () => sys(NR.userfaultfd, 0) },
  "io_uring": {
    tried: "io_uring_setup(1, params)",
    run: () => sys(NR.io_uring_setup, 1, new Uint8Array(120)),
  },
  "open-by-handle": {
    tried: "open_by_handle_at(AT_FDCWD, handle, O_RDONLY)",
    run: () => sys(NR.open_by_handle_at, -100, new Uint8Array(136), 0),
  },
  tiocsti: {
    tried: 'ioctl(0, TIOCSTI, "x")  (inject input into a terminal)',
    run: () => sys(NR.ioctl, 0, 0x5412, cstr("x")),
  },
  "dev-tty": {
    tried: 'open("/dev/tty")  (a controlling terminal?)',
    run: () => {
      try {
        Deno.openSync("/dev/tty", { read: true }).close();
        return "ok";
      } catch (err) {
        return errorName(err);
      }
    },
  },
  connect: {
    tried: "connect(127.0.0.1:$JW_ATTACK_PORT)  (a port the server listens on, on the host)",
    run: async () => {
      const port = Number(Deno.env.get("JW_ATTACK_PORT"));
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return "ok";
      } catch (err) {
        return errorName(err);
      }
    },
  },
};

for (const name of Deno.args) {
  const probe = PROBES[name];
  if (probe === undefined) {
    console.log(JSON.stringify({ probe: name, tried: "?", answer: "unknown probe" }));
    continue;
  }
  let answer: string;
  try {
    answer = await probe.run();
  } catch (err) {
    answer = `threw ${err instanceof Error ? err.message : String(err)}`;
  }
  console.log(JSON.stringify({ probe: name, tried: probe.tried, answer }));
}
