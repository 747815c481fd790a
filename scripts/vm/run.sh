#!/usr/bin/env bash
# `deno task test:vm`: runs the root integration tests on a real cgroup v2
# kernel. Builds a guest from Debian's and npm's registries only, caches the
# slow parts under .cache/vm/, boots it under qemu (TCG), streams the serial
# console here, and exits with the tests' exit code.
#
# Cached (built once, then used with no network): the Debian cloud kernel and
# the virtio modules it needs (.cache/vm/kernel/), and a DENO_DIR holding every
# npm dependency (.cache/vm/deno-dir/). Remade on every run from the cache and
# the work tree, in a few seconds and without network: the initramfs and the
# ext4 disk image (made with mkfs.ext4 -d), so each run boots a clean disk that
# holds the current sources.
#
# Environment: JOBWORKER_VM_TESTS (test files, default below),
# JOBWORKER_VM_TIMEOUT (seconds for the whole boot, default 900),
# JOBWORKER_VM_CACHE (default <repo>/.cache/vm).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${JOBWORKER_VM_CACHE:-$root/.cache/vm}"
timeout_s="${JOBWORKER_VM_TIMEOUT:-900}"
# The tests that need no python3/bash/procps (the guest is busybox only) and
# cover what differs on v2: the driver itself, limits, stop, IO throttling,
# and the job sandbox (hostile jobs and ordinary work).
tests="${JOBWORKER_VM_TESTS:-src/cgroup/conformance_test.ts tests/job/limits_test.ts tests/job/stop_test.ts tests/job/io_test.ts tests/sandbox/hostile_test.ts tests/sandbox/workload_test.ts tests/doctor_test.ts tests/server/supervise_test.ts tests/job/control_test.ts tests/job/interactive_test.ts}"
# virtio_pci finds the disk, virtio_blk drives it; ext4 is built into the cloud kernel.
modules_wanted=(virtio_pci virtio_blk)

die() {
  echo "test:vm: $*" >&2
  exit 1
}
step() { echo "test:vm: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get, mkfs and the VM's tests need it)"
[ "$(uname -m)" = x86_64 ] || die "needs an x86-64 host (the guest is Debian's amd64 kernel)"

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" -eq 0 ]; then
    step "apt-get update"
    apt-get update -q >&2 || die "apt-get update failed (is Debian's apt repository reachable?)"
    apt_updated=1
  fi
}

# A static busybox is what the guest runs as its whole userland.
static_busybox() {
  [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1
}

ensure_host_tools() {
  local missing=()
  command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
  static_busybox || missing+=(busybox-static)
  command -v cpio >/dev/null || missing+=(cpio)
  command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
  [ "${#missing[@]}" -eq 0 ] && return 0
  apt_update_once
  step "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
    die "cannot install ${missing[*]}"
  static_busybox || die "/bin/busybox is not a static binary after installing busybox-static"
}

# The .ko behind module `name` in `moddir` (module names treat - and _ alike).
module_file() {
  local moddir="$1" name="$2" f
  f="$(find "$moddir" -name "$name.ko" -o -name "${name//_/-}.ko" | head -n 1)"
  [ -n "$f" ] || return 1
  printf '%s\n' "$f"
}

# Appends `name` to the load order after its dependencies (from each .ko's
# .modinfo "depends=": there is no depmod on the host and no modules.dep in
# the package). Built-in modules have no .ko and need nothing.
declare -A module_seen=()
module_order=()
add_module() {
  local moddir="$1" name="$2" f deps dep
  [ -z "${module_seen[$name]:-}" ] || return 0
  module_seen[$name]=1
  if ! f="$(module_file "$moddir" "$name")"; then
    grep -qE "/${name}\.ko\$" "$moddir/modules.builtin" || die "kernel module $name not found"
    return 0
  fi
  deps="$(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | head -n 1)"
  for dep in ${deps//,/ }; do add_module "$moddir" "$dep"; done
  module_order+=("$name")
  cp "$f" "$cache/kernel/modules.new/$name.ko"
}

build_kernel() {
  [ -f "$cache/kernel/complete" ] && return 0
  apt_update_once
  local pkg tmp moddir
  pkg="$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[^ ]*-cloud-amd64\)$/\1/p' | head -n 1)"
  [ -n "$pkg" ] || die "cannot resolve linux-image-cloud-amd64 to a kernel package"
  step "downloading $pkg"
  tmp="$cache/tmp"
  rm -rf "$tmp" "$cache/kernel"
  mkdir -p "$tmp" "$cache/kernel/modules.new"
  chmod 0777 "$tmp" # apt-get download runs as _apt where it can
  (cd "$tmp" && apt-get download -q "$pkg" >&2) || die "apt-get download $pkg failed"
  dpkg -x "$tmp"/"$pkg"_*.deb "$tmp/x"
  cp "$tmp"/x/boot/vmlinuz-* "$cache/kernel/vmlinuz"
  moddir="$(find "$tmp/x/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
  [ -n "$moddir" ] || die "no modules in $pkg"
  for m in "${modules_wanted[@]}"; do add_module "$moddir" "$m"; done
  printf '%s\n' "${module_order[@]}" >"$cache/kernel/modules.new/order"
  mv "$cache/kernel/modules.new" "$cache/kernel/modules"
  printf '%s %s\n' "$(basename "$moddir")" \
    "$(dpkg-deb -f "$tmp"/"$pkg"_*.deb Version)" >"$cache/kernel/release"
  rm -rf "$tmp"
  touch "$cache/kernel/complete"
}

# Every TypeScript file of the project, so the DENO_DIR has all npm packages
# (and transpiled code) the guest could ask for; the guest runs --cached-only.
build_deno_dir() {
  local files
  mapfile -t files < <(cd "$root" && git ls-files -co --exclude-standard -- 'src/*.ts' 'tests/*.ts' 'ffi/*.ts')
  [ "${#files[@]}" -gt 0 ] || die "no TypeScript files found (is $root a git work tree?)"
  local offline=()
  # Once complete, nothing may be fetched: running in a network namespace of
  # its own (no interface but a down lo) proves it, and fails loudly if not.
  [ -f "$cache/deno-dir.complete" ] && offline=(unshare --net --)
  step "deno cache (${#files[@]} files${offline:+, without network})"
  (cd "$root" && NO_COLOR=1 DENO_DIR="$cache/deno-dir" "${offline[@]}" ./scripts/deno cache "${files[@]}" >&2) ||
    die "deno cache failed${offline:+ without network: the cache lacks something; delete $cache/deno-dir.complete to refill it}"
  touch "$cache/deno-dir.complete"
}

build_initramfs() {
  local dir="$cache/initramfs"
  rm -rf "$dir"
  mkdir -p "$dir/bin" "$dir/etc" "$dir/modules"
  cp /bin/busybox "$dir/bin/busybox"
  for applet in sh mount umount insmod sleep switch_root poweroff mkdir; do
    ln -s busybox "$dir/bin/$applet"
  done
  cp "$root/scripts/vm/init.sh" "$dir/init"
  chmod 0755 "$dir/init"
  touch "$dir/etc/jobworker-vm-initramfs"
  cp "$cache/kernel/modules/"* "$dir/modules/"
  (cd "$dir" && find . | cpio -o -H newc --quiet | gzip -1) >"$cache/initramfs.cpio.gz"
  rm -rf "$dir"
}

build_disk() {
  local dir="$cache/rootfs" deno lib applet size_mb
  rm -rf "$dir"
  mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,root,tmp,proc,sys,dev}
  chmod 1777 "$dir/tmp"
  cp /bin/busybox "$dir/bin/busybox"
  while read -r applet; do
    [ "$applet" = bin/busybox ] || ln -sf /bin/busybox "$dir/$applet"
  done < <(/bin/busybox --list-full)
  cp "$root/scripts/vm/init.sh" "$dir/init"
  chmod 0755 "$dir/init"
  deno="$(readlink -f "$root/.deno/bin/deno")"
  cp "$deno" "$dir/usr/local/bin/deno"
  # deno's shared libraries, at the paths the dynamic loader looks for them.
  while read -r lib; do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done < <(ldd "$deno" | grep -oE '/[^ ]+' | sort -u)
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
  printf '127.0.0.1 localhost\n::1 localhost\n' >"$dir/etc/hosts"
  # The sandbox's workload test reads it, as ordinary jobs do.
  cp /etc/os-release "$dir/etc/os-release"
  # The project at the host's path, so DENO_DIR's caches keyed by file URL hit.
  mkdir -p "$dir$root"
  (cd "$root" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -C "$dir$root" -xf -
  cp -a "$cache/deno-dir" "$dir/deno-dir"
  # The guest has no openssl: tests that start a server copy these (tests/_support/certs.ts).
  "$root/scripts/deno" run --allow-all "$root/src/certs/main.ts" --dir "$dir/etc/jobworker-test-certs" \
    --client alice --client bob --client admin >&2 || die "cannot make the test certificates"
  printf 'JOBWORKER_VM_PROJECT=%q\nJOBWORKER_VM_TESTS=%q\n' "$root" "$tests" >"$dir/etc/jobworker-vm.env"
  # Room for the tests' files (output, the IO test's 6 MiB, temp dirs).
  size_mb=$(($(du -sm "$dir" | cut -f1) + 512))
  rm -f "$cache/disk.img"
  mkfs.ext4 -q -F -L jobworker-vm -d "$dir" "$cache/disk.img" "${size_mb}M" ||
    die "mkfs.ext4 of the disk image failed"
  rm -rf "$dir"
}

# Prints the guest's exit code from its console log, or fails saying why there is none.
exit_code_of() {
  local log="$1" code
  code="$(grep -aoE 'JOBWORKER_VM_EXIT=[0-9]+' "$log" | tail -n 1 | cut -d= -f2)"
  if [ -n "$code" ]; then
    printf '%s\n' "$code"
    return 0
  fi
  local err
  err="$(grep -aoE 'JOBWORKER_VM_ERROR=.*' "$log" | tail -n 1 | cut -d= -f2-)"
  [ -z "$err" ] || echo "test:vm: the guest failed before the tests ended: $err" >&2
  return 1
}

main() {
  mkdir -p "$cache"
  local t0 t1 t2 log rc=0 code
  t0=$(date +%s)
  ensure_host_tools
  [ -x "$root/.deno/bin/deno" ] || "$root/scripts/deno" --version >/dev/null
  build_kernel
  build_deno_dir
  step "building initramfs and disk image"
  build_initramfs
  build_disk
  t1=$(date +%s)
  step "guest kernel $(cat "$cache/kernel/release"); build took $((t1 - t0)) s; booting (timeout ${timeout_s} s)"
  log="$cache/console.log"
  # TCG: nested KVM is unusably slow on these hosts. The console is the serial
  # port on stdio; stdin is /dev/null so qemu never touches the terminal.
  timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 -accel tcg -machine q35 -cpu max \
    -m 3072 -smp 2 -nodefaults -display none -no-reboot -serial stdio -monitor none \
    -kernel "$cache/kernel/vmlinuz" -initrd "$cache/initramfs.cpio.gz" \
    -drive "file=$cache/disk.img,format=raw,if=virtio,cache=writeback" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3 cgroup_no_v1=all rdinit=/init" \
    </dev/null 2>&1 | sed -u 's/\r$//' | tee "$log" || rc=$?
  t2=$(date +%s)
  step "the VM ran $((t2 - t1)) s (total $((t2 - t0)) s)"
  if ! code="$(exit_code_of "$log")"; then
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      die "timed out after ${timeout_s} s without the exit marker (qemu killed); log: $log"
    fi
    die "qemu ended (status $rc) without the JOBWORKER_VM_EXIT marker; log: $log"
  fi
  step "guest tests exited with $code"
  exit "$code"
}

main "$@"
