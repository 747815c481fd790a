/**
 * Loading an eBPF cgroup device program and attaching it to a cgroup v2
 * directory: how cgroup v2 restricts device access (v1 has the devices
 * controller's files instead). Building the program is not this file's
 * business: it takes the instructions as bytes.
 *
 * @module
 */
import { cstr, libc, syscallNumber } from "./_libc.ts";
import { check, SyscallError } from "./errors.ts";

const BPF_PROG_LOAD = 5n;
const BPF_PROG_ATTACH = 8n;
const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
const BPF_CGROUP_DEVICE = 6;
/** Several programs may be attached to one cgroup; all of them must allow. */
const BPF_F_ALLOW_MULTI = 2;
/** sizeof(struct bpf_insn). */
export const BPF_INSN_SIZE = 8;
/** Enough of union bpf_attr for both commands; the rest must be zero. */
const ATTR_SIZE = 128;
const O_RDONLY_DIRECTORY_CLOEXEC = 0o2000000 | 0o200000;

function pointerValue(buf: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}

/**
 * Loads `instructions` (struct bpf_insn[], 8 bytes each) as a
 * BPF_PROG_TYPE_CGROUP_DEVICE program and returns its file descriptor.
 * A program the verifier refuses throws with the verifier's log.
 */
export function loadDeviceProgram(instructions: Uint8Array): number {
  if (instructions.length === 0 || instructions.length % BPF_INSN_SIZE !== 0) {
    throw new RangeError(`A BPF program is a multiple of 8 bytes, got ${instructions.length}`);
  }
  const insns = new Uint8Array(instructions);
  const license = cstr("GPL");
  const log = new Uint8Array(16 * 1024);
  const attr = new DataView(new ArrayBuffer(ATTR_SIZE));
  attr.setUint32(0, BPF_PROG_TYPE_CGROUP_DEVICE, true);
  attr.setUint32(4, insns.length / BPF_INSN_SIZE, true);
  attr.setBigUint64(8, pointerValue(insns), true);
  attr.setBigUint64(16, pointerValue(license), true);
  attr.setUint32(24, 1, true); // log_level
  attr.setUint32(28, log.length, true);
  attr.setBigUint64(32, pointerValue(log), true);
  const fd = Number(
    libc().syscall_bpf(
      syscallNumber("bpf"),
      BPF_PROG_LOAD,
      new Uint8Array(attr.buffer),
      BigInt(ATTR_SIZE),
    ),
  );
  try {
    check(fd, "bpf(BPF_PROG_LOAD, cgroup device)");
  } catch (err) {
    const end = log.indexOf(0);
    const text = new TextDecoder().decode(log.subarray(0, end < 0 ? log.length : end)).trim();
    if (err instanceof SyscallError && text !== "") err.message += `: ${text}`;
    throw err;
  }
  void [insns, license, log];
  return fd;
}

/**
 * Attaches device program `programFd` to the cgroup v2 directory `cgroupDir`
 * (alongside any program already there: every one must allow an access).
 * The attachment lives as long as the cgroup; `programFd` may be closed after.
 */
export function attachDeviceProgram(cgroupDir: string, programFd: number): void {
  const dirFd = check(
    libc().open(cstr(cgroupDir), O_RDONLY_DIRECTORY_CLOEXEC, 0),
    `open(${cgroupDir})`,
  );
  try {
    const attr = new DataView(new ArrayBuffer(ATTR_SIZE));
    attr.setUint32(0, dirFd, true);
    attr.setUint32(4, programFd, true);
    attr.setUint32(8, BPF_CGROUP_DEVICE, true);
    attr.setUint32(12, BPF_F_ALLOW_MULTI, true);
    check(
      Number(
        libc().syscall_bpf(
          syscallNumber("bpf"),
          BPF_PROG_ATTACH,
          new Uint8Array(attr.buffer),
          BigInt(ATTR_SIZE),
        ),
      ),
      `bpf(BPF_PROG_ATTACH, ${cgroupDir})`,
    );
  } finally {
    libc().close(dirFd);
  }
}
