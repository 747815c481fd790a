/**
 * The doctor's probe: a short-lived child process that tries, on itself,
 * every kernel feature the job sandbox builds on, in the order the
 * executor uses them, and prints one JSON line saying how each went. It
 * is a process of its own because what it tries cannot be undone: new
 * namespaces, a pivot_root, a dropped bounding set, a seccomp filter, a
 * uid switch. Its mounts live in its own mount namespace and vanish with
 * it; nothing of the host changes.
 *
 * It uses ffi/ directly, not src/executor, so that a mistake there cannot
 * hide itself here. Only synchronous file calls are used once namespaces
 * change: Deno runs asynchronous ones on other threads, which stay in the
 * host's namespaces.
 *
 * @module
 */
import {
  chdir,
  CLONE_NEWCGROUP,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWUTS,
  closeFd,
  dropBoundingAndAmbient,
  getpid,
  installSeccompFilter,
  interfaceUp,
  kill,
  lastCapability,
  loadDeviceProgram,
  makeCharDevice,
  MNT_DETACH,
  mount,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_NOSUID,
  MOUNT_ATTR_RDONLY,
  mountSetattr,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_REC,
  openPidfd,
  pivotRoot,
  sethostname,
  setNoNewPrivs,
  setThreadGids,
  setThreadGroups,
  setThreadUids,
  signalPidfd,
  spawnInNewPidNamespace,
  SyscallError,
  umount,
  unshare,
} from "../../ffi/mod.ts";
import { messageOf } from "./_check.ts";
import { parseIds, parseMountinfo, parseStatus } from "./_proc.ts";
import {
  parseProbeConfig,
  PROBE_MARKER,
  type ProbeConfig,
  type ProbeStepName,
  type ProbeSteps,
} from "./_probe_protocol.ts";

/** `kill` by architecture: the call the test seccomp filter refuses. */
const NR_KILL: Readonly<Record<string, number>> = { x86_64: 62, aarch64: 129 };
/** errno the test filter answers with: one that kill(2) never gives by itself. */
const EDQUOT = 122;
const HOSTNAME = "jobworker-doctor";

const decoder = new TextDecoder();

class Probe {
  readonly steps: ProbeSteps = {};

  /** Runs `fn` as step `name`: its return value is the step's text, a throw its failure. */
  step(name: ProbeStepName, fn: () => string): boolean {
    try {
      this.steps[name] = { outcome: "ok", text: fn() };
      return true;
    } catch (err) {
      this.steps[name] = { outcome: "failed", text: messageOf(err) };
      return false;
    }
  }

  async stepAsync(name: ProbeStepName, fn: () => Promise<string>): Promise<boolean> {
    try {
      this.steps[name] = { outcome: "ok", text: await fn() };
      return true;
    } catch (err) {
      this.steps[name] = { outcome: "failed", text: messageOf(err) };
      return false;
    }
  }

  skip(names: readonly ProbeStepName[], reason: string): void {
    for (const name of names) this.steps[name] ??= { outcome: "skipped", text: reason };
  }
}

function status(path = "/proc/self/status"): Map<string, string> {
  return parseStatus(Deno.readTextFileSync(path));
}

/** unshare(flag) and proof that the main thread's namespace `ns` really changed. */
function newNamespace(flag: number, ns: string): string {
  const path = `/proc/self/ns/${ns}`;
  const before = Deno.readLinkSync(path);
  unshare(flag);
  const after = Deno.readLinkSync(path);
  if (after === before) throw new Error(`unshare returned, but ${path} is still ${before}`);
  return `new ${after}`;
}

function pidfdStep(): string {
  const fd = openPidfd(getpid());
  if (fd === null) throw new Error("pidfd_open found no process for its own PID");
  try {
    signalPidfd(fd, 0);
  } finally {
    closeFd(fd);
  }
  return "pidfd_open and pidfd_send_signal work";
}

function bpfDeviceStep(): string {
  // r0 = 1; exit: the smallest device program, it allows everything.
  const program = new Uint8Array([0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
  closeFd(loadDeviceProgram(program));
  return "a BPF_PROG_TYPE_CGROUP_DEVICE program loads";
}

async function pidStep(): Promise<string> {
  const child = spawnInNewPidNamespace(() =>
    new Deno.Command("sh", {
      args: ["-c", "echo $$"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn()
  );
  const output = await child.output();
  const pid = decoder.decode(output.stdout).trim();
  if (pid !== "1") throw new Error(`a child in the new PID namespace is PID ${pid}, not 1`);
  return "a child started in a new PID namespace is its PID 1";
}

function utsStep(): string {
  const text = newNamespace(CLONE_NEWUTS, "uts");
  sethostname(HOSTNAME);
  const seen = Deno.readTextFileSync("/proc/sys/kernel/hostname").trim();
  if (seen !== HOSTNAME) throw new Error(`sethostname returned, but the hostname is ${seen}`);
  return `${text}; hostname set in it`;
}

function netStep(): string {
  const text = newNamespace(CLONE_NEWNET, "net");
  interfaceUp("lo");
  const interfaces = Deno.readTextFileSync("/proc/self/net/dev").split("\n").slice(2)
    .map((line) => line.split(":")[0]!.trim()).filter((name) => name !== "");
  if (interfaces.join(",") !== "lo") {
    throw new Error(`the new network namespace has interfaces ${interfaces.join(", ")}`);
  }
  return `${text}; only lo, brought up`;
}

function mountNsStep(): string {
  const text = newNamespace(CLONE_NEWNS, "mnt");
  mount("/", { flags: MS_REC | MS_PRIVATE });
  return `${text}; / made private`;
}

function mountSetattrStep(root: string): string {
  Deno.mkdirSync(`${root}/src`);
  Deno.mkdirSync(`${root}/ro`);
  mount(`${root}/ro`, { source: `${root}/src`, flags: MS_BIND | MS_REC });
  mountSetattr(`${root}/ro`, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, {
    recursive: true,
  });
  try {
    Deno.writeFileSync(`${root}/ro/x`, new Uint8Array(1));
  } catch (err) {
    if (/os error 30\b|read-only/i.test(messageOf(err))) {
      return "a bind mount made read-only with mount_setattr refuses writes (EROFS)";
    }
    throw new Error(`writing to the read-only bind failed otherwise: ${messageOf(err)}`);
  }
  throw new Error("mount_setattr(MOUNT_ATTR_RDONLY) returned, but the bind mount is writable");
}

function devStep(root: string): string {
  makeCharDevice(`${root}/null`, { major: 1, minor: 3, mode: 0o666 });
  Deno.mkdirSync(`${root}/pts`);
  mount(`${root}/pts`, {
    source: "devpts",
    fstype: "devpts",
    flags: MS_NOSUID | MS_NOEXEC,
    data: "newinstance,ptmxmode=0666,mode=0620",
  });
  const ptmx = Deno.lstatSync(`${root}/pts/ptmx`);
  if (ptmx.rdev === null || ptmx.rdev === 0) throw new Error("the new devpts has no ptmx device");
  return "mknod of /dev/null works; a devpts newinstance mounts with its own ptmx";
}

function hidepidStep(root: string): string {
  Deno.mkdirSync(`${root}/proc`);
  mount(`${root}/proc`, {
    source: "proc",
    fstype: "proc",
    flags: MS_NOSUID | MS_NODEV | MS_NOEXEC,
    data: "hidepid=invisible",
  });
  const entry = parseMountinfo(Deno.readTextFileSync("/proc/self/mountinfo"))
    .findLast((m) => m.mountPoint === `${root}/proc`);
  const options = [...(entry?.superOptions ?? []), ...(entry?.mountOptions ?? [])];
  if (!options.includes("hidepid=invisible")) {
    throw new Error(`proc mounted, but its options are ${options.join(",") || "unknown"}`);
  }
  return "proc mounts with hidepid=invisible";
}

function pivotStep(root: string): string {
  chdir(root);
  pivotRoot(".", ".");
  umount(".", MNT_DETACH);
  chdir("/");
  const names = [...Deno.readDirSync("/")].map((e) => e.name);
  if (!names.includes("ro")) throw new Error(`after pivot_root / holds ${names.join(", ")}`);
  return "pivot_root into a tmpfs, old root detached";
}

function capsDropStep(lastCap: number): string {
  dropBoundingAndAmbient(lastCap);
  const s = status();
  if (!/^0+$/.test(s.get("CapBnd") ?? "") || !/^0+$/.test(s.get("CapAmb") ?? "0")) {
    throw new Error(`after dropping, CapBnd is ${s.get("CapBnd")}, CapAmb ${s.get("CapAmb")}`);
  }
  return `bounding and ambient sets emptied (capabilities 0-${lastCap})`;
}

function noNewPrivsStep(): string {
  setNoNewPrivs();
  const value = status().get("NoNewPrivs");
  if (value !== "1") throw new Error(`after prctl, NoNewPrivs is ${value ?? "missing"}`);
  return "prctl(PR_SET_NO_NEW_PRIVS) holds";
}

function seccompStep(): string {
  const nr = NR_KILL[Deno.build.arch];
  if (nr === undefined) throw new Error(`no system call number for kill on ${Deno.build.arch}`);
  // ld [nr]; jeq #kill, 0, 1; ret ERRNO(EDQUOT); ret ALLOW
  const program = new Uint8Array(32);
  const view = new DataView(program.buffer);
  const insn = (i: number, f: { code: number; jt?: number; jf?: number; k: number }) => {
    view.setUint16(i * 8, f.code, true);
    view.setUint8(i * 8 + 2, f.jt ?? 0);
    view.setUint8(i * 8 + 3, f.jf ?? 0);
    view.setUint32(i * 8 + 4, f.k, true);
  };
  insn(0, { code: 0x20, k: 0 });
  insn(1, { code: 0x15, jf: 1, k: nr });
  insn(2, { code: 0x06, k: 0x00050000 | EDQUOT });
  insn(3, { code: 0x06, k: 0x7fff0000 });
  installSeccompFilter(program);
  const mode = status().get("Seccomp");
  try {
    kill(getpid(), 0);
  } catch (err) {
    if (err instanceof SyscallError && err.errno === EDQUOT) {
      return `a filter installs (Seccomp: ${mode}) and answers a refused call with its errno`;
    }
    throw err;
  }
  throw new Error("the filter installed, but the call it refuses still succeeds");
}

function setuidStep(uid: number): string {
  setThreadGroups([]);
  setThreadGids(uid, uid, uid);
  setThreadUids(uid, uid, uid);
  const ids = parseIds(status("/proc/thread-self/status").get("Uid"));
  if (ids.length === 0 || ids.some((id) => id !== uid)) {
    throw new Error(`after setresuid(${uid}) the thread's uids are ${ids.join(" ")}`);
  }
  return `the main thread switched to uid ${uid} alone (setresuid, raw system call)`;
}

const MOUNT_STEPS: readonly ProbeStepName[] = [
  "tmpfs",
  "mount_setattr",
  "dev",
  "proc_hidepid",
  "pivot_root",
];
const ROOT_STEPS: readonly ProbeStepName[] = [
  "bpf_device",
  "ns.pid",
  "ns.cgroup",
  "ns.uts",
  "ns.ipc",
  "ns.net",
  "ns.mount",
  ...MOUNT_STEPS,
  "caps_drop",
  "setuid",
];

async function probe(config: ProbeConfig): Promise<ProbeSteps> {
  const p = new Probe();
  const root = Deno.uid() === 0;
  p.step("pidfd", pidfdStep);
  if (!root) p.skip(ROOT_STEPS, "needs root");
  let lastCap = 40;
  if (root) {
    lastCap = lastCapability();
    p.step("bpf_device", bpfDeviceStep);
    await p.stepAsync("ns.pid", pidStep);
    p.step("ns.cgroup", () => newNamespace(CLONE_NEWCGROUP, "cgroup"));
    p.step("ns.uts", utsStep);
    p.step("ns.ipc", () => newNamespace(CLONE_NEWIPC, "ipc"));
    p.step("ns.net", netStep);
    if (!p.step("ns.mount", mountNsStep)) {
      // Mounting outside a private mount namespace would change the host: not tried.
      p.skip(MOUNT_STEPS, "needs its own mount namespace, which could not be made");
    } else {
      const dir = config.dir;
      const mounted = p.step("tmpfs", () => {
        mount(dir, {
          source: "tmpfs",
          fstype: "tmpfs",
          flags: MS_NOSUID | MS_NODEV,
          data: "mode=755,size=1m",
        });
        return "a tmpfs mounts as the new root";
      });
      if (!mounted) {
        p.skip(MOUNT_STEPS, `needs a tmpfs: ${p.steps.tmpfs?.text}`);
      } else {
        p.step("mount_setattr", () => mountSetattrStep(dir));
        p.step("dev", () => devStep(dir));
        if (!p.step("proc_hidepid", () => hidepidStep(dir))) {
          // The later steps read /proc/self/status: they get a plain proc after the pivot.
          try {
            Deno.mkdirSync(`${dir}/proc`, { recursive: true });
            mount(`${dir}/proc`, { source: "proc", fstype: "proc" });
          } catch {
            // Those steps then fail saying what they could not read.
          }
        }
        p.step("pivot_root", () => pivotStep(dir));
      }
    }
    p.step("caps_drop", () => capsDropStep(lastCap));
  }
  p.step("no_new_privs", noNewPrivsStep);
  p.step("seccomp", seccompStep);
  if (root) p.step("setuid", () => setuidStep(config.uid));
  return p.steps;
}

/**
 * The probe child's entry point: `args` is its one argument, the
 * {@link ProbeConfig} as JSON. Prints the answer as one JSON line and
 * returns the exit status (0 once it printed an answer, whatever the steps
 * found; 2 for a bad argument).
 *
 * A compiled binary that runs the doctor hands its probe child here:
 *
 * @example
 * ```ts ignore
 * if (Deno.args[0] === DOCTOR_PROBE_ARG) Deno.exit(await runDoctorProbe(Deno.args.slice(1)));
 * ```
 */
export async function runDoctorProbe(args: readonly string[]): Promise<number> {
  let config: ProbeConfig;
  try {
    config = parseProbeConfig(args[0]);
  } catch (err) {
    console.error(messageOf(err));
    return 2;
  }
  const steps = await probe(config);
  console.log(JSON.stringify({ marker: PROBE_MARKER, steps }));
  return 0;
}
