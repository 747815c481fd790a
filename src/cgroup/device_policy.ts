/**
 * The devices a job may use, and that policy in the two forms the kernel
 * takes: the v1 devices controller's allow lines, and a cgroup v2 device
 * program (eBPF, BPF_PROG_TYPE_CGROUP_DEVICE). Everything else is denied,
 * mknod of any device included.
 *
 * @module
 */

/** One character device a job may read and write. */
export interface JobDevice {
  /** Its name below /dev in the job's view. */
  name: string;
  major: number;
  /** A minor number, or "*" for every minor of `major`. */
  minor: number | "*";
}

/**
 * The minimal /dev of a job, like systemd's PrivateDevices and the OCI
 * runtimes' default: null, zero, full, random, urandom, tty, and the
 * job's own pseudo-terminals (ptmx and the devpts slaves).
 */
export const JOB_DEVICES: readonly JobDevice[] = Object.freeze([
  { name: "null", major: 1, minor: 3 },
  { name: "zero", major: 1, minor: 5 },
  { name: "full", major: 1, minor: 7 },
  { name: "random", major: 1, minor: 8 },
  { name: "urandom", major: 1, minor: 9 },
  { name: "tty", major: 5, minor: 0 },
  { name: "pts/ptmx", major: 5, minor: 2 },
  { name: "pts/*", major: 136, minor: "*" },
]);

/**
 * The v1 devices controller's writes: `a` to devices.deny first (which
 * empties the allow list), then one `c MAJ:MIN rw` line per device to
 * devices.allow.
 *
 * @example
 * ```ts
 * deviceAllowLines(); // ["c 1:3 rw", "c 1:5 rw", ..., "c 136:* rw"]
 * ```
 */
export function deviceAllowLines(devices: readonly JobDevice[] = JOB_DEVICES): string[] {
  return devices.map((d) => `c ${d.major}:${d.minor} rw`);
}

// eBPF opcodes (linux/bpf.h) used below.
const LDX_MEM_W = 0x61; // dst = *(u32 *)(src + off)
const ALU64_MOV_X = 0xbf; // dst = src
const ALU64_MOV_K = 0xb7; // dst = imm
const ALU64_AND_K = 0x57; // dst &= imm
const ALU64_RSH_K = 0x77; // dst >>= imm
const JMP_JEQ_K = 0x15; // if dst == imm goto +off
const JMP_JNE_K = 0x55; // if dst != imm goto +off
const JMP_JSET_K = 0x45; // if dst & imm goto +off
const JMP_EXIT = 0x95;

const BPF_DEVCG_DEV_CHAR = 2;
const BPF_DEVCG_ACC_MKNOD = 1;

type Insn = { code: number; dst: number; src: number; off: number | string; imm: number };

/**
 * The cgroup v2 device program for `devices`: it returns 1 (allow) for a
 * read or write of one of them and 0 (deny) for everything else.
 *
 * The context is struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
 * u32 minor; }; access_type holds the device type in its low 16 bits and
 * the access (mknod, read, write) in its high 16 bits.
 *
 * @returns struct bpf_insn[] as bytes, ready for ffi's loadDeviceProgram.
 */
export function deviceProgram(devices: readonly JobDevice[] = JOB_DEVICES): Uint8Array {
  const r0 = 0, r1 = 1, r2 = 2, r3 = 3, r4 = 4, r5 = 5;
  const insns: Insn[] = [];
  const labels = new Map<string, number>();
  const emit = (code: number, dst: number, src: number, off: number | string, imm: number) =>
    insns.push({ code, dst, src, off, imm });

  emit(LDX_MEM_W, r2, r1, 0, 0); // access_type
  emit(ALU64_MOV_X, r3, r2, 0, 0);
  emit(ALU64_RSH_K, r3, 0, 0, 16); // the access bits
  emit(JMP_JSET_K, r3, 0, "deny", BPF_DEVCG_ACC_MKNOD);
  emit(ALU64_AND_K, r2, 0, 0, 0xffff); // the device type
  emit(JMP_JNE_K, r2, 0, "deny", BPF_DEVCG_DEV_CHAR);
  emit(LDX_MEM_W, r4, r1, 4, 0); // major
  emit(LDX_MEM_W, r5, r1, 8, 0); // minor
  devices.forEach((d, i) => {
    labels.set(`device${i}`, insns.length);
    const next = i + 1 < devices.length ? `device${i + 1}` : "deny";
    if (d.minor === "*") {
      emit(JMP_JEQ_K, r4, 0, "allow", d.major);
    } else {
      emit(JMP_JNE_K, r4, 0, next, d.major);
      emit(JMP_JEQ_K, r5, 0, "allow", d.minor);
    }
  });
  labels.set("deny", insns.length);
  emit(ALU64_MOV_K, r0, 0, 0, 0);
  emit(JMP_EXIT, 0, 0, 0, 0);
  labels.set("allow", insns.length);
  emit(ALU64_MOV_K, r0, 0, 0, 1);
  emit(JMP_EXIT, 0, 0, 0, 0);

  const bytes = new Uint8Array(insns.length * 8);
  const view = new DataView(bytes.buffer);
  insns.forEach((insn, i) => {
    // A jump's offset counts instructions after the jump itself.
    const off = typeof insn.off === "number" ? insn.off : labels.get(insn.off)! - (i + 1);
    view.setUint8(i * 8, insn.code);
    view.setUint8(i * 8 + 1, (insn.src << 4) | insn.dst);
    view.setInt16(i * 8 + 2, off, true);
    view.setInt32(i * 8 + 4, insn.imm, true);
  });
  return bytes;
}
