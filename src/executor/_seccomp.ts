/**
 * The job's seccomp filter: a classic BPF program over struct seccomp_data
 * that refuses the system calls a job has no business making, on top of
 * having no capabilities (which already makes most of them fail). It is
 * what keeps an unprivileged job away from kernel-wide state that plain
 * permissions leave open: keyrings, user namespaces, io_uring, the kernel
 * log (where dmesg_restrict is off), perf events, userfaultfd.
 *
 * | group (systemd's name)           | system calls                                    | answer |
 * | -------------------------------- | ----------------------------------------------- | ------ |
 * | @keyring                         | add_key, request_key, keyctl                    | EPERM  |
 * | @mount                           | mount, umount2, pivot_root, move_mount, open_tree, fsopen, fsconfig, fsmount, fspick, mount_setattr | EPERM |
 * | namespaces                       | unshare, setns; clone with any CLONE_NEW* flag  | EPERM  |
 * | clone3 (flags behind a pointer)  | clone3                                          | ENOSYS (libc falls back to clone) |
 * | @module, @reboot, @swap, @raw-io | init/finit/delete_module, kexec_load, kexec_file_load, reboot, swapon, swapoff, iopl, ioperm | EPERM |
 * | @clock                           | settimeofday, clock_settime, adjtimex, clock_adjtime | EPERM |
 * | kernel log, tracing              | syslog, perf_event_open, bpf, userfaultfd, lookup_dcookie, acct, quotactl, quotactl_fd | EPERM |
 * | file handles                     | name_to_handle_at, open_by_handle_at            | EPERM  |
 * | io_uring (bypasses this filter)  | io_uring_setup, io_uring_enter, io_uring_register | EPERM |
 * | terminal injection               | ioctl TIOCSTI, TIOCLINUX                        | EPERM  |
 * | another ABI                      | any call not of the native architecture, x32    | kill   |
 *
 * x86-64 only: other architectures fail closed (the executor refuses to
 * start the job) until their system call numbers are added here.
 *
 * @module
 */

const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;

/** x86-64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
const NR = {
  ioctl: 16,
  clone: 56,
  syslog: 103,
  acct: 163,
  settimeofday: 164,
  mount: 165,
  umount2: 166,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  iopl: 172,
  ioperm: 173,
  init_module: 175,
  delete_module: 176,
  quotactl: 179,
  pivot_root: 155,
  adjtimex: 159,
  lookup_dcookie: 212,
  clock_settime: 227,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  unshare: 272,
  perf_event_open: 298,
  name_to_handle_at: 303,
  open_by_handle_at: 304,
  clock_adjtime: 305,
  setns: 308,
  finit_module: 313,
  kexec_file_load: 320,
  bpf: 321,
  userfaultfd: 323,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  clone3: 435,
  mount_setattr: 442,
  quotactl_fd: 443,
} as const;

/** Refused outright with EPERM. */
const DENIED: readonly (keyof typeof NR)[] = [
  "add_key",
  "request_key",
  "keyctl",
  "mount",
  "umount2",
  "pivot_root",
  "move_mount",
  "open_tree",
  "fsopen",
  "fsconfig",
  "fsmount",
  "fspick",
  "mount_setattr",
  "unshare",
  "setns",
  "init_module",
  "finit_module",
  "delete_module",
  "kexec_load",
  "kexec_file_load",
  "reboot",
  "swapon",
  "swapoff",
  "iopl",
  "ioperm",
  "settimeofday",
  "clock_settime",
  "adjtimex",
  "clock_adjtime",
  "syslog",
  "perf_event_open",
  "bpf",
  "userfaultfd",
  "lookup_dcookie",
  "acct",
  "quotactl",
  "quotactl_fd",
  "name_to_handle_at",
  "open_by_handle_at",
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
];

/** Every CLONE_NEW* flag: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (and TIME, 0x80). */
const CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 |
  0x20000000 | 0x40000000 | 0x00000080;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

const EPERM = 1;
const ENOSYS = 38;

// Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const retErrno = (errno: number) => 0x00050000 | errno;

// Offsets in struct seccomp_data { int nr; u32 arch; u64 ip; u64 args[6]; } (little endian).
const OFF_NR = 0;
const OFF_ARCH = 4;
const argLow = (i: number) => 16 + 8 * i;

type Jump = number | string;
type Insn = { code: number; jt: Jump; jf: Jump; k: number };

/** What {@link jobSeccompFilter} answers for a call, for tests and documentation. */
export const SECCOMP_DENIED_CALLS: readonly string[] = Object.freeze([...DENIED, "clone3"]);

/**
 * The job's seccomp filter as struct sock_filter[] bytes, for ffi's
 * installSeccompFilter. Throws on architectures it has no numbers for.
 */
export function jobSeccompFilter(arch: string = Deno.build.arch): Uint8Array {
  if (arch !== "x86_64") {
    throw new Error(`The job seccomp filter has no system call table for ${arch}`);
  }
  const insns: Insn[] = [];
  const labels = new Map<string, number>();
  const emit = (code: number, k: number, jt: Jump = 0, jf: Jump = 0) =>
    insns.push({ code, jt, jf, k });
  const label = (name: string) => labels.set(name, insns.length);

  emit(LD_W_ABS, OFF_ARCH);
  emit(JEQ_K, AUDIT_ARCH_X86_64, 0, "kill");
  emit(LD_W_ABS, OFF_NR);
  emit(JGE_K, X32_SYSCALL_BIT, "kill", 0);
  for (const name of DENIED) emit(JEQ_K, NR[name], "eperm", 0);
  emit(JEQ_K, NR.clone3, "enosys", 0);
  emit(JEQ_K, NR.clone, "clone", 0);
  emit(JEQ_K, NR.ioctl, "ioctl", 0);
  emit(RET_K, RET_ALLOW);

  label("clone");
  emit(LD_W_ABS, argLow(0)); // the flags
  emit(JSET_K, CLONE_NEW_ANY, "eperm", 0);
  emit(RET_K, RET_ALLOW);

  label("ioctl");
  // The kernel takes the request as an unsigned int: comparing the low 32 bits is exact.
  emit(LD_W_ABS, argLow(1));
  emit(JEQ_K, TIOCSTI, "eperm", 0);
  emit(JEQ_K, TIOCLINUX, "eperm", 0);
  emit(RET_K, RET_ALLOW);

  label("eperm");
  emit(RET_K, retErrno(EPERM));
  label("enosys");
  emit(RET_K, retErrno(ENOSYS));
  label("kill");
  emit(RET_K, RET_KILL_PROCESS);

  const bytes = new Uint8Array(insns.length * 8);
  const view = new DataView(bytes.buffer);
  const target = (jump: Jump, at: number): number => {
    if (typeof jump === "number") return jump;
    const to = labels.get(jump);
    if (to === undefined) throw new Error(`seccomp filter: no label ${jump}`);
    const offset = to - (at + 1);
    if (offset < 0 || offset > 255) throw new Error(`seccomp filter: jump to ${jump} out of range`);
    return offset;
  };
  insns.forEach((insn, i) => {
    view.setUint16(i * 8, insn.code, true);
    view.setUint8(i * 8 + 2, target(insn.jt, i));
    view.setUint8(i * 8 + 3, target(insn.jf, i));
    view.setUint32(i * 8 + 4, insn.k, true);
  });
  return bytes;
}
