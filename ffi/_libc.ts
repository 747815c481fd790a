/**
 * The one place that opens libc. Every symbol the project binds is listed
 * here with its C signature, so a reader can check the FFI types against the
 * manual page at a glance. Nothing outside ffi/ imports this file.
 *
 * @module
 */

const symbols = {
  // int *__errno_location(void);
  __errno_location: { parameters: [], result: "pointer" },
  // int unshare(int flags);
  unshare: { parameters: ["i32"], result: "i32" },
  // int setns(int fd, int nstype);
  setns: { parameters: ["i32", "i32"], result: "i32" },
  // int open(const char *pathname, int flags, mode_t mode);
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  // ssize_t write(int fd, const void *buf, size_t count);
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // ssize_t read(int fd, void *buf, size_t count);
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // int close(int fd);
  close: { parameters: ["i32"], result: "i32" },
  // int mount(const char *source, const char *target, const char *filesystemtype,
  //           unsigned long mountflags, const void *data);
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  // int umount2(const char *target, int flags);
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  // int sethostname(const char *name, size_t len);
  sethostname: { parameters: ["buffer", "usize"], result: "i32" },
  // int kill(pid_t pid, int sig);
  kill: { parameters: ["i32", "i32"], result: "i32" },
  // pid_t getpid(void);
  getpid: { parameters: [], result: "i32" },
  // pid_t waitpid(pid_t pid, int *wstatus, int options);
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  // int socket(int domain, int type, int protocol);
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int ioctl(int fd, unsigned long request, void *argp);
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  // int posix_spawnp(pid_t *pid, const char *file,
  //                  const posix_spawn_file_actions_t *file_actions,
  //                  const posix_spawnattr_t *attrp,
  //                  char *const argv[], char *const envp[]);
  posix_spawnp: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  // int posix_spawn_file_actions_init(posix_spawn_file_actions_t *file_actions);
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  // int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *file_actions);
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  // int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *file_actions,
  //                                      int fildes, const char *path, int oflag, mode_t mode);
  posix_spawn_file_actions_addopen: {
    parameters: ["buffer", "i32", "buffer", "i32", "u32"],
    result: "i32",
  },
  // int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *file_actions,
  //                                      int fildes, int newfildes);
  posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  // int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *file_actions,
  //                                          const char *path);
  posix_spawn_file_actions_addchdir_np: { parameters: ["buffer", "buffer"], result: "i32" },
  // int posix_spawnattr_init(posix_spawnattr_t *attr);
  posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
  // int posix_spawnattr_destroy(posix_spawnattr_t *attr);
  posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
  // int posix_spawnattr_setflags(posix_spawnattr_t *attr, short flags);
  posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
  // int posix_spawnattr_setsigmask(posix_spawnattr_t *attr, const sigset_t *sigmask);
  posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
  // int posix_spawnattr_setsigdefault(posix_spawnattr_t *attr, const sigset_t *sigdefault);
  posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
  // int sigemptyset(sigset_t *set);
  sigemptyset: { parameters: ["buffer"], result: "i32" },
  // int sigfillset(sigset_t *set);
  sigfillset: { parameters: ["buffer"], result: "i32" },
  // int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *file_actions,
  //                                              int from);            (glibc >= 2.34)
  posix_spawn_file_actions_addclosefrom_np: { parameters: ["buffer", "i32"], result: "i32" },
  // int chdir(const char *path);
  chdir: { parameters: ["buffer"], result: "i32" },
  // int mknod(const char *pathname, mode_t mode, dev_t dev);
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  // int prctl(int option, unsigned long arg2, unsigned long arg3,
  //           unsigned long arg4, unsigned long arg5);
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  // The same prctl(2), for options whose arg3 is a pointer (PR_SET_SECCOMP).
  prctl_ptr: { name: "prctl", parameters: ["i32", "u64", "buffer", "u64", "u64"], result: "i32" },
  // int capget(cap_user_header_t hdrp, cap_user_data_t datap);   (one thread)
  capget: { parameters: ["buffer", "buffer"], result: "i32" },
  // int capset(cap_user_header_t hdrp, const cap_user_data_t datap);   (one thread)
  capset: { parameters: ["buffer", "buffer"], result: "i32" },
  // long syscall(long number, ...);  with three integer arguments. The raw
  // system call, not glibc's wrapper: setresuid(2) & co. through glibc change
  // the credentials of EVERY thread of the process (glibc's setxid
  // broadcast); the raw call changes only the calling thread.
  syscall3: { name: "syscall", parameters: ["i64", "i64", "i64", "i64"], result: "i64" },
  // long syscall(long number, ...);  pivot_root(const char *new_root, const char *put_old)
  syscall_pivot_root: { name: "syscall", parameters: ["i64", "buffer", "buffer"], result: "i64" },
  // long syscall(long number, ...);  setgroups(size_t size, const gid_t *list)
  syscall_setgroups: { name: "syscall", parameters: ["i64", "i64", "buffer"], result: "i64" },
  // long syscall(long number, ...);  mount_setattr(int dirfd, const char *path,
  //                                  unsigned int flags, struct mount_attr *attr, size_t size)
  syscall_mount_setattr: {
    name: "syscall",
    parameters: ["i64", "i64", "buffer", "i64", "buffer", "i64"],
    result: "i64",
  },
  // long syscall(long number, ...);  bpf(int cmd, union bpf_attr *attr, unsigned int size)
  syscall_bpf: { name: "syscall", parameters: ["i64", "i64", "buffer", "i64"], result: "i64" },
  // int pipe2(int pipefd[2], int flags);
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  // int dup2(int oldfd, int newfd);
  dup2: { parameters: ["i32", "i32"], result: "i32" },
  // int mkfifo(const char *pathname, mode_t mode);
  mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
  // int fcntl(int fd, int cmd, int arg);
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // ssize_t splice(int fd_in, off64_t *off_in, int fd_out, off64_t *off_out,
  //                size_t len, unsigned int flags);
  splice: { parameters: ["i32", "pointer", "i32", "pointer", "usize", "u32"], result: "isize" },
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout);  on a worker thread: it blocks,
  // and errno cannot be read afterwards (another thread), so only its count is used.
  poll_blocking: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // int fallocate(int fd, int mode, off_t offset, off_t len);
  fallocate: { parameters: ["i32", "i32", "i64", "i64"], result: "i32" },
  // int statvfs(const char *path, struct statvfs *buf);
  statvfs: { parameters: ["buffer", "buffer"], result: "i32" },
  // long syscall(long number, ...);  pidfd_open(pid_t pid, unsigned int flags)
  //                                   pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags)
  syscall4: { name: "syscall", parameters: ["i64", "i64", "i64", "i64", "i64"], result: "i64" },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * System call numbers of the calls glibc has no wrapper for, or whose
 * wrapper does more than the project wants (see `syscall3` above).
 */
const SYSCALL_NUMBERS = {
  x86_64: {
    setgroups: 116,
    setresuid: 117,
    setresgid: 119,
    pivot_root: 155,
    bpf: 321,
    mount_setattr: 442,
    pidfd_send_signal: 424,
    pidfd_open: 434,
  },
  aarch64: {
    setgroups: 159,
    setresuid: 147,
    setresgid: 149,
    pivot_root: 41,
    bpf: 280,
    mount_setattr: 442,
    pidfd_send_signal: 424,
    pidfd_open: 434,
  },
} as const;

/** The number of system call `name` on this machine's architecture. */
export function syscallNumber(name: keyof (typeof SYSCALL_NUMBERS)["x86_64"]): bigint {
  return BigInt(SYSCALL_NUMBERS[Deno.build.arch][name]);
}

let lib: Deno.DynamicLibrary<typeof symbols> | undefined;

/** The bound libc symbols, opened on first use. */
export function libc(): Deno.DynamicLibrary<typeof symbols>["symbols"] {
  lib ??= Deno.dlopen("libc.so.6", symbols);
  return lib.symbols;
}

/** Reads the calling thread's errno; call it right after the failing call. */
export function errno(): number {
  const ptr = libc().__errno_location();
  if (ptr === null) return 0;
  return new Deno.UnsafePointerView(ptr).getInt32();
}

const encoder = new TextEncoder();

/** A NUL-terminated C string for a `const char *` parameter. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  if (s.includes("\0")) throw new TypeError(`String contains a NUL byte: ${JSON.stringify(s)}`);
  const bytes = encoder.encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/**
 * A NULL-terminated `char *const[]` array. The returned `keep` holds the
 * string buffers: it must stay referenced until the C call returns.
 */
export function cstrArray(items: readonly string[]): {
  array: BigUint64Array<ArrayBuffer>;
  keep: Uint8Array[];
} {
  const keep = items.map(cstr);
  const array = new BigUint64Array(items.length + 1);
  keep.forEach((buf, i) => {
    array[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
  });
  return { array, keep };
}
