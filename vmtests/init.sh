#!/bin/sh
# /init of the initramfs vmtests/run.sh builds (busybox sh, PID 1 in the VM).
#
# Loads the kernel's own virtio/9p modules, mounts the host's root file
# system (shared read-only by qemu over virtio-9p, mount tag "hostroot") at
# /newroot, puts writable tmpfs and the kernel file systems the tests need on
# top of it, chroots there and runs the project's test runner. The runner's
# output goes to the second serial port (ttyS1) so that kernel messages on
# the console (ttyS0) cannot interleave with it; the host prints it. Then the
# VM powers off. /vmtest.env (written by run.sh) gives SRC, BUILD, PATTERN,
# TEST_TIMEOUT, EXEC, MODDIR and VARIANT (normal, lockdown: what the kernel
# command line asked for; vmtests/check-variant.sh verifies it took effect
# before the runner starts and says so with "vmtest: variant ...").
#
# Lines starting with "vmtest:" on the console are ours; the host looks for
# "vmtest: exit N" on ttyS1 to know the runner finished with status N.

/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin /proc /sys /dev /newroot
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

OUT=/dev/ttyS1

say() { echo "vmtest: $*"; }

# Nothing after a fatal error would be useful: report on both ports, stop.
die() {
	say "$*"
	echo "vmtest: error: $*" >"$OUT"
	echo "vmtest: exit 125" >"$OUT"
	sync
	poweroff -f
	sleep 5
}

# shellcheck disable=SC1091 # written by run.sh into the initramfs
. /vmtest.env || die "no /vmtest.env in the initramfs"

# modules/order lists the .ko files dependencies first (run.sh resolved
# them from each module's modinfo "depends=").
while read -r m; do
	[ -n "$m" ] || continue
	insmod "/modules/$m" 2>/tmp/insmod.err ||
		grep -q 'File exists' /tmp/insmod.err ||
		say "insmod $m: $(cat /tmp/insmod.err)"
done </modules/order

# cache=loose: the share is read-only and the VM lives for one run, so
# caching host files in the guest is safe and makes exec much faster.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=loose,ro \
	hostroot /newroot || die "cannot mount the host root over 9p"

R=/newroot
# The kernel runs request_module()'s /sbin/modprobe in PID 1's root, this
# initramfs (busybox modprobe): give it the kernel's module tree, which
# run.sh prepared with modules.dep, so iptables, veth & co load on demand.
mkdir -p "/lib/modules/$(uname -r)"
mount --bind "$R$MODDIR" "/lib/modules/$(uname -r)" ||
	say "no module tree at $MODDIR: modules will not load on demand"
mount -t proc proc $R/proc || die "mount proc"
mount -t sysfs sysfs $R/sys || die "mount sysfs"
mount -t devtmpfs devtmpfs $R/dev || die "mount devtmpfs"
# devtmpfs lacks what udev adds; bash's <(...) needs /dev/fd.
ln -sf /proc/self/fd $R/dev/fd
ln -sf /proc/self/fd/0 $R/dev/stdin
ln -sf /proc/self/fd/1 $R/dev/stdout
ln -sf /proc/self/fd/2 $R/dev/stderr
mkdir -p $R/dev/pts $R/dev/shm 2>/dev/null
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
# Where the runner and the tests write: temp files, netns pins, HOME.
for d in tmp var/tmp; do
	mount -t tmpfs -o mode=1777 tmpfs $R/$d || die "tmpfs on /$d"
done
for d in run root; do
	mount -t tmpfs -o mode=0755 tmpfs $R/$d || die "tmpfs on /$d"
done
mkdir -p $R/run/netns $R/run/lock
mount -t bpf -o mode=0700 bpf $R/sys/fs/bpf || die "mount bpffs"
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup || die "mount cgroup2"
# securityfs, as systemd mounts it: the lockdown mode is read there (by
# check-variant.sh, and by sluice to name the cause of a refusal).
mount -t securityfs securityfs $R/sys/kernel/security || say "cannot mount securityfs"
mount -t debugfs debugfs $R/sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs $R/sys/kernel/tracing 2>/dev/null

hostname "vmtest-$(uname -r)"
# in_root CMD...: CMD chrooted in the host root with a clean environment.
in_root() {
	chroot $R /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root TERM=dumb LANG=C.UTF-8 TEST_TIMEOUT="$TEST_TIMEOUT" \
		BUILD="$BUILD" SLUICE="$BUILD/sluice" "$@" </dev/null 2>&1
}
# EXEC (vmtests/run.sh --exec) replaces the runner with a command of one's
# own, run by bash in the checkout with BUILD and SLUICE set.
# shellcheck disable=SC2016 # expanded by the bash in the chroot
if [ -n "${EXEC:-}" ]; then
	CMD='cd "$1" && eval "$4"'
	say "kernel $(uname -r), running: $EXEC"
else
	CMD='cd "$1" && exec tests/run.sh "$2" ${3:+"$3"}'
	say "kernel $(uname -r), running tests/run.sh $BUILD ${PATTERN:-'(all)'}"
fi
{
	echo "vmtest: kernel $(uname -r) up $(cut -d' ' -f1 /proc/uptime)"
	# shellcheck disable=SC2016 # expanded by the bash in the chroot
	in_root /bin/bash -c 'cd "$1" && exec bash vmtests/check-variant.sh "$2"' vmtest \
		"$SRC" "${VARIANT:-normal}"
	in_root /bin/bash -c "$CMD" vmtest "$SRC" "$BUILD" "$PATTERN" "${EXEC:-}"
	echo "vmtest: exit $?"
} >"$OUT" 2>&1
sync
say "done, powering off"
poweroff -f
sleep 5
