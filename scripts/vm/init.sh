#!/bin/sh
# /init of the test VM (busybox sh: no bash here). One script, two stages:
#  1. in the initramfs (it holds /etc/jobworker-vm-initramfs): load the virtio
#     modules the cloud kernel builds as modules, mount the ext4 disk /dev/vda
#     and switch_root into it, so `/` of the tests is a real block device;
#  2. on the disk: mount the kernel file systems and cgroup2 (alone: the
#     kernel runs with cgroup_no_v1=all), run the selected tests, print
#     JOBWORKER_VM_EXIT=<code> for the host and power off.
# Anything unexpected prints JOBWORKER_VM_ERROR=<why> and powers off, so the
# host never waits for its timeout on a guest that is stuck at boot.
set -eu
set -o pipefail

fail() {
  echo "JOBWORKER_VM_ERROR=$*"
  sync
  poweroff -f
  sleep 60
}
trap 'fail "init stopped unexpectedly (line ${LINENO:-?})"' EXIT

mount_kernel_fs() {
  mount -t proc proc /proc || fail "cannot mount /proc"
  mount -t sysfs sysfs /sys || fail "cannot mount /sys"
  mount -t devtmpfs devtmpfs /dev || fail "cannot mount /dev"
}

if [ -e /etc/jobworker-vm-initramfs ]; then
  mkdir -p /proc /sys /dev /newroot
  mount_kernel_fs
  # Dependencies come first in the order file (the host resolved them).
  while read -r module; do
    insmod "/modules/$module.ko" || fail "cannot load module $module"
  done </modules/order
  i=0
  while [ ! -b /dev/vda ]; do
    i=$((i + 1))
    [ "$i" -le 100 ] || fail "no /dev/vda after 10 s (is the disk attached with if=virtio?)"
    sleep 0.1
  done
  mount -t ext4 /dev/vda /newroot || fail "cannot mount /dev/vda (ext4)"
  umount /proc /sys /dev
  trap - EXIT
  exec switch_root /newroot /init
fi

mount_kernel_fs
mkdir -p /sys/fs/cgroup /dev/pts /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2"
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
hostname jobworker-vm
ip link set lo up || fail "cannot bring lo up"

# JOBWORKER_VM_PROJECT, JOBWORKER_VM_TESTS, written by scripts/vm/run.sh.
. /etc/jobworker-vm.env

echo "JOBWORKER_VM_KERNEL=$(uname -r) ($(cat /proc/version))"
echo "cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "/ is $(grep ' / / ' /proc/self/mountinfo | head -n 1)"
echo "JOBWORKER_VM_BOOTED uptime=$(cut -d' ' -f1 /proc/uptime)s"

cd "$JOBWORKER_VM_PROJECT" || fail "no project at $JOBWORKER_VM_PROJECT"
trap - EXIT
set +e
# TMPDIR is on / (the ext4 disk), so the tests' temp dirs and files are on /dev/vda.
# --no-check: type checking is the host's job (deno task check), and slow under TCG.
# shellcheck disable=SC2086 # JOBWORKER_VM_TESTS is a list of paths without spaces.
env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin TMPDIR=/tmp \
  DENO_DIR=/deno-dir DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 LANG=C.UTF-8 \
  JOBWORKER_TEST_CERTS=/etc/jobworker-test-certs \
  deno test --allow-all --cached-only --no-check $JOBWORKER_VM_TESTS
rc=$?
echo "JOBWORKER_VM_TESTS_DONE uptime=$(cut -d' ' -f1 /proc/uptime)s"
echo "JOBWORKER_VM_EXIT=$rc"
sync
poweroff -f
sleep 60
