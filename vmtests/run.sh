#!/usr/bin/env bash
# Run Sluice's tests inside VMs booted on other kernels.
#
#   vmtests/run.sh [--kernel K]... [--variant V]... [--host] [--list] [--exec CMD] [PATTERN]
#
# K is a kernel series known to apt ("6.1": Debian 12's linux-image-amd64,
# "6.12": bookworm-backports'), a full release already on this machine
# (/boot/vmlinuz-K and /lib/modules/K) or in the cache, or "all" (the
# default: every series in $VMTEST_KERNELS). PATTERN is tests/run.sh's
# PATTERN; the default is the unit tests, the fuzz corpus and a few
# integration tests (TCG is slow); pass '' or '.' to run everything.
# V is how each kernel boots: "normal", "lockdown" (lockdown=confidentiality
# on the command line: the kernel refuses Sluice's tracing iterator, so the
# degraded load is tested), "integrity" (lockdown=integrity, Secure Boot's
# mode: the iterator still loads) or "all" (the default: $VMTEST_VARIANTS,
# "normal lockdown"). Every VM first checks that its variant took effect
# (vmtests/check-variant.sh); a lockdown VM also fails on any SKIP line that
# does not name the tracing feature.
# --host also runs the same tests (same snapshot) on this machine's own
# kernel, outside any VM, as a reference row in the summary. --list prints
# the kernel releases that would be booted (downloading them) and exits.
# --exec CMD runs CMD (bash, in the checkout, BUILD and SLUICE set) in each
# VM instead of the runner, e.g. to see a verifier log on an old kernel.
#
# Each VM boots the kernel with this machine's root file system shared
# read-only over virtio-9p, a small initramfs (busybox-static, the kernel's
# own virtio/9p modules, vmtests/init.sh) mounts it, adds tmpfs/bpffs/cgroup2
# where tests write, and runs `tests/run.sh BUILD PATTERN` for the checkout
# this script lives in. We print the runner's output prefixed with the
# kernel release and variant, then one summary line per (kernel, variant).
# Exit status: 0 if every VM ran, passed and passed its variant check, 1 if
# any had a failure, failed its check or did not finish, 2 on a usage or
# setup error. One VM runs at a time. vmtests/README.md has the
# details, timings and recorded results.
#
# Environment: VMTEST_KERNELS (default "6.1 6.12"), VMTEST_VARIANTS
# (default "normal lockdown"), VMTEST_RECORD (append one Markdown table row
# per VM to this file: kernel, variant, counts, duration, date, commit),
# VMTEST_BUILD (default
# <checkout>/build), VMTEST_CACHE (kernel cache, default
# /var/cache/sluice-vmtests), VMTEST_MEM (2G), VMTEST_SMP (2),
# VMTEST_TIMEOUT (seconds per VM, default 1800), TEST_TIMEOUT (per test
# program inside the VM, default 1200), VMTEST_LOGS (keep the console and
# runner logs of every VM in this directory), VMTEST_MODULES (modules to
# load at boot; others load on demand as usual), VMTEST_SNAPSHOT
# (default 1: every VM runs a copy of the checkout and build taken once at
# the start, so that all kernels test the same binaries while people keep
# editing and rebuilding; 0 runs the live tree).
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BUILD=$(cd "${VMTEST_BUILD:-$SRC/build}" 2>/dev/null && pwd) || BUILD=${VMTEST_BUILD:-$SRC/build}
CACHE=${VMTEST_CACHE:-/var/cache/sluice-vmtests}
MEM=${VMTEST_MEM:-2G}
SMP=${VMTEST_SMP:-2}
VM_TIMEOUT=${VMTEST_TIMEOUT:-1800}
IN_VM_TIMEOUT=${TEST_TIMEOUT:-1200}
SERIES_ALL=${VMTEST_KERNELS:-6.1 6.12}
VARIANTS_ALL=${VMTEST_VARIANTS:-normal lockdown}
RECORD=${VMTEST_RECORD:-}
# In a lockdown VM the only SKIP lines allowed are those naming the tracing
# feature the kernel refuses (tests print "skip NAME: missing FEATURE").
TRACING_SKIP_RE='tracing|live_flows|live-flow|iterator'
# The base set the initramfs needs to reach the host root; their
# dependencies (netfs, 9pnet, virtio, ...) are resolved from modinfo.
BASE_MODULES="virtio_pci 9pnet_virtio 9p"
EXTRA_MODULES=${VMTEST_MODULES:-}
DEFAULT_PATTERN='^(unit/|bpf/|fuzz/|integration/test_(getpeername|flowbytes|rto|accounting|ingress|netpol|podflows)$)'

SNAPSHOT=${VMTEST_SNAPSHOT:-1}
EXEC=""
TMP=""
SNAP=""
VM_PID=""
SHOW_PID=""
declare -a KERNELS=() VARIANTS=() RESULTS=()
US=$'\x1f' # field separator of RESULTS entries (texts may hold anything else)
COMMIT=""
declare -A MODPATH=() SEEN=()

usage() {
	sed -n '2,/^set -u/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2
	exit 2
}

err() { echo "vmtests: $*" >&2; }

# shellcheck disable=SC2317 # called from the traps
cleanup() {
	if [ -n "$VM_PID" ] && kill -0 "$VM_PID" 2>/dev/null; then
		kill "$VM_PID" 2>/dev/null
		wait "$VM_PID" 2>/dev/null
	fi
	# The pid file names qemu itself, in case timeout(1) was gone first.
	if [ -n "$TMP" ] && [ -s "$TMP/qemu.pid" ]; then
		kill "$(cat "$TMP/qemu.pid")" 2>/dev/null
	fi
	# The output pipeline ends by itself (tail --pid) once qemu is gone.
	[ -n "$SHOW_PID" ] && wait "$SHOW_PID" 2>/dev/null
	[ -n "$TMP" ] && rm -rf "$TMP"
	[ -n "$SNAP" ] && rm -rf "$SNAP"
}

# take_snapshot: copy the checkout (without .git) under $CACHE, not /tmp:
# the VM puts a tmpfs over /tmp. Points SRC and BUILD at the copy.
take_snapshot() {
	local rel_build
	case $BUILD in
	"$SRC"/*) rel_build=${BUILD#"$SRC"/} ;;
	*) err "VMTEST_BUILD outside the checkout: use VMTEST_SNAPSHOT=0"; return 1 ;;
	esac
	mkdir -p "$CACHE" && SNAP=$(mktemp -d "$CACHE/snapshot.XXXXXX") || return 1
	tar -C "$SRC" --exclude=./.git -cf - . | tar -C "$SNAP" -xf - || return 1
	echo "vmtests: testing a snapshot of $SRC (and $BUILD) taken $(date -u +%H:%M:%S) UTC in $SNAP"
	SRC=$SNAP
	BUILD=$SNAP/$rel_build
}

# --- host packages ----------------------------------------------------------

# apt_install PKG...: install what is missing; refresh the lists only if
# the first attempt cannot find a package.
apt_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "vmtests: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 && return 0
	apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

host_deps() {
	[ "$(id -u)" = 0 ] || { err "must run as root (tests need root; apt-get too)"; exit 2; }
	apt_install qemu-system-x86 busybox-static cpio xz-utils zstd gzip ||
		{ err "cannot install qemu-system-x86 busybox-static cpio"; exit 2; }
}

# --- kernels ----------------------------------------------------------------

# series_package S: the linux-image-X package that the newest
# linux-image-amd64 of series S (e.g. 6.1) depends on, from apt's lists.
series_package() {
	apt-cache show linux-image-amd64 2>/dev/null |
		awk '/^Version:/ {v = $2} /^Depends:/ {print v, $2}' |
		awk -v p="linux-image-$1." 'index($2, p) == 1' |
		sort -V | tail -n 1 | cut -d' ' -f2
}

# fetch_kernel PKG: download PKG and unpack it into $CACHE/kernels/RELEASE
# (vmlinuz and modules only; nothing is installed, no postinst runs, the
# bootloader is not touched). Prints RELEASE.
fetch_kernel() {
	local pkg=$1 rel=${1#linux-image-} dir dl
	dir=$CACHE/kernels/$rel
	if [ ! -d "$dir" ]; then
		echo "vmtests: downloading $pkg into $dir" >&2
		mkdir -p "$CACHE/kernels" || return 1
		rm -rf "$dir" "$dir.part"
		dl=$(mktemp -d "$CACHE/download.XXXXXX") || return 1
		if ! (cd "$dl" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
			! dpkg-deb -x "$dl"/*.deb "$dir.part"; then
			rm -rf "$dl" "$dir.part"
			return 1
		fi
		rm -rf "$dl"
		[ -f "$dir.part/boot/vmlinuz-$rel" ] && [ -d "$dir.part/lib/modules/$rel" ] ||
			{ err "$pkg has no boot/vmlinuz-$rel"; rm -rf "$dir.part"; return 1; }
		mv "$dir.part" "$dir" || return 1
	fi
	ensure_depmod "$dir" "$rel" && touch "$dir/.complete" || return 1
	echo "$rel"
}

# ensure_depmod ROOT REL: the package ships no modules.dep (its postinst
# makes it); the VM's modprobe (busybox, for the kernel's module
# autoloading: iptables, veth, ...) needs it. Once per kernel, ~15 s.
ensure_depmod() {
	[ -s "$1/lib/modules/$2/modules.dep" ] && return 0
	echo "vmtests: busybox depmod for $2" >&2
	busybox depmod -b "$1" "$2"
}

# resolve_kernel K: prints the release K names, fetching it if needed.
resolve_kernel() {
	local k=$1 pkg c
	if [ -e "$CACHE/kernels/$k/.complete" ] ||
		{ [ -f "/boot/vmlinuz-$k" ] && [ -s "/lib/modules/$k/modules.dep" ]; }; then
		echo "$k"
		return 0
	fi
	pkg=$(series_package "$k")
	if [ -z "$pkg" ]; then
		apt-get update -q >&2
		pkg=$(series_package "$k")
	fi
	if [ -n "$pkg" ]; then
		fetch_kernel "$pkg" && return 0
	fi
	# No package (offline?): the newest cached release of that series.
	c=$(find "$CACHE/kernels" -mindepth 2 -maxdepth 2 -name .complete 2>/dev/null |
		awk -F/ '{print $(NF - 1)}' | awk -v p="$k." 'index($0, p) == 1' | sort -V | tail -n 1)
	[ -n "$c" ] && { echo "$c"; return 0; }
	err "no kernel '$k': not a release in /boot or $CACHE, nor a series apt knows (apt-cache show linux-image-amd64)"
	return 1
}

# kernel_files REL: set VMLINUZ and MODDIR.
kernel_files() {
	if [ -e "$CACHE/kernels/$1/.complete" ]; then
		VMLINUZ=$CACHE/kernels/$1/boot/vmlinuz-$1
		MODDIR=$CACHE/kernels/$1/lib/modules/$1
		ensure_depmod "$CACHE/kernels/$1" "$1"
	else
		VMLINUZ=/boot/vmlinuz-$1
		MODDIR=/lib/modules/$1
	fi
}

# --- initramfs ----------------------------------------------------------------

index_modules() {
	local p n
	MODPATH=() SEEN=()
	while IFS= read -r p; do
		n=${p##*/}
		n=${n%%.ko*}
		MODPATH[${n//-/_}]=$p
	done < <(find "$MODDIR/kernel" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
}

is_builtin() {
	[ -f "$MODDIR/modules.builtin" ] &&
		sed 's,.*/,,; s,\.ko$,,; s,-,_,g' "$MODDIR/modules.builtin" | grep -qx "$1"
}

# add_module NAME STAGE: copy NAME (uncompressed: busybox insmod takes plain
# .ko) and, first, its dependencies into STAGE/modules; append it to the
# load order. Built-in modules need nothing.
add_module() {
	local n=${1//-/_} stage=$2 p out deps d
	[ -n "${SEEN[$n]:-}" ] && return 0
	SEEN[$n]=1
	p=${MODPATH[$n]:-}
	if [ -z "$p" ]; then
		is_builtin "$n" && return 0
		return 1
	fi
	out=$stage/modules/$n.ko
	case $p in
	*.xz) xz -dc "$p" >"$out" ;;
	*.zst) zstd -q -dc "$p" >"$out" ;;
	*.gz) gzip -dc "$p" >"$out" ;;
	*) cp "$p" "$out" ;;
	esac || return 1
	deps=$(tr '\0' '\n' <"$out" | sed -n 's/^depends=//p' | head -n 1)
	for d in ${deps//,/ }; do
		add_module "$d" "$stage" || { err "$n needs $d, not found in $MODDIR"; return 1; }
	done
	echo "$n.ko" >>"$stage/modules/order"
}

# shq STR: STR quoted for sh.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# build_initramfs REL VARIANT PATTERN OUT
build_initramfs() {
	local rel=$1 variant=$2 pattern=$3 out=$4 stage=$TMP/initramfs m
	rm -rf "$stage"
	mkdir -p "$stage/bin" "$stage/modules" "$stage/tmp" || return 1
	: >"$stage/modules/order"
	cp /bin/busybox "$stage/bin/busybox" && ln -s busybox "$stage/bin/sh" &&
		cp "$HERE/init.sh" "$stage/init" && chmod 755 "$stage/init" || return 1
	index_modules
	for m in $BASE_MODULES; do
		add_module "$m" "$stage" || { err "$rel: module $m not found"; return 1; }
	done
	for m in $EXTRA_MODULES; do
		add_module "$m" "$stage" || err "$rel: optional module $m not found, not loading it"
	done
	{
		echo "SRC=$(shq "$SRC")"
		echo "BUILD=$(shq "$BUILD")"
		echo "PATTERN=$(shq "$pattern")"
		echo "TEST_TIMEOUT=$(shq "$IN_VM_TIMEOUT")"
		echo "EXEC=$(shq "$EXEC")"
		echo "MODDIR=$(shq "$MODDIR")"
		echo "VARIANT=$(shq "$variant")"
	} >"$stage/vmtest.env"
	(cd "$stage" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$out"
}

# --- one VM -------------------------------------------------------------------

accel_args() {
	# /dev/kvm can exist without hardware virtualisation (nested guests).
	if [ -w /dev/kvm ] && grep -qE '^flags.*\b(vmx|svm)\b' /proc/cpuinfo; then
		echo "-accel kvm -cpu host"
	else
		echo "-accel tcg,thread=multi -cpu max"
	fi
}

# variant_cmdline V: what variant V adds to the kernel command line.
# lockdown: the lockdown LSM is in the default lsm= list of Debian's 6.1 and
# 6.12 (CONFIG_LSM="landlock,lockdown,yama,..."), so the parameter alone
# turns it on; confidentiality mode takes bpf_probe_read_kernel away from
# tracing programs, which Sluice's live-flow iterator needs. integrity (not
# in the default set) is the mode Secure Boot gives Debian's kernels
# (CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT=y): the iterator must still load.
variant_cmdline() {
	case $1 in
	normal) echo "" ;;
	lockdown) echo "lockdown=confidentiality" ;;
	integrity) echo "lockdown=integrity" ;;
	*) return 1 ;;
	esac
}

# check_skips OUT: the SKIP lines of a lockdown VM whose feature (after
# ": missing ") does not name the tracing feature, "NAME: FEATURE" joined
# with "; "; empty when every SKIP line is allowed.
check_skips() {
	tr -d '\r' <"$1" | sed -n 's/^SKIP //p' |
		awk -v re="$TRACING_SKIP_RE" '{
			i = index($0, ": missing ")
			f = i ? substr($0, i + 10) : ""
			if (f == "" || tolower(f) !~ re) printf "%s%s", (n++ ? "; " : ""), $0
		}'
}

# add_result REL VARIANT TEXT SECS BAD SUMMARY: one row of the summary (and
# of $VMTEST_RECORD). BAD is non-empty when the row failed.
add_result() {
	RESULTS+=("$1$US$2$US$3$US$4$US$5")
	[ -n "$RECORD" ] || return 0
	local counts=$6 verdict=pass
	[ -n "$5" ] && verdict=FAIL
	[[ $counts =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]] &&
		counts="${BASH_REMATCH[1]} / ${BASH_REMATCH[2]} / ${BASH_REMATCH[3]}"
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "${counts:-none}" \
		"$verdict" "${4%%,*}" "$(date -u +%Y-%m-%d)" "$COMMIT" "${3//|/\\|}" >>"$RECORD"
}

# vm_verdict REL VARIANT OUT CON QEMU_RC SECS: read what the VM printed and
# add its row. Sets nothing else.
vm_verdict() {
	local rel=$1 variant=$2 out=$3 con=$4 rc=$5 secs=$6
	local summary status boot check why="" bad="" text skips
	local -a notes=()
	summary=$(tr -d '\r' <"$out" | grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' | tail -n 1)
	status=$(tr -d '\r' <"$out" | sed -n 's/^vmtest: exit \([0-9]*\)$/\1/p' | tail -n 1)
	boot=$(tr -d '\r' <"$out" | sed -n 's/^vmtest: kernel .* up \([0-9.]*\)$/\1/p' | head -n 1)
	check=$(tr -d '\r' <"$out" | sed -n 's/^vmtest: variant //p' | tail -n 1)
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		why="VM timed out after ${VM_TIMEOUT}s"
	elif [ -z "$status" ]; then
		why="VM stopped before the runner finished (qemu status $rc)"
	elif [ -n "$EXEC" ]; then
		summary="command exited $status"
		[ "$status" = 0 ] || bad=1
	elif [ -z "$summary" ]; then
		why="runner exited $status without a summary"
	elif [ "$status" != 0 ]; then
		bad=1
	elif [ "$summary" = "0 passed, 0 failed, 0 skipped" ]; then
		notes+=("no test matched the pattern")
	fi
	if [ -n "$why" ]; then
		notes+=("$why")
		echo "[$rel/$variant] $why; qemu said: $(tr '\n' ' ' <"$TMP/qemu.err")"
		echo "[$rel/$variant] last console lines:"
		tr -d '\r' <"$con" | tail -n 30 | sed "s|^|[$rel/$variant]   |"
		tr -d '\r' <"$out" | grep '^vmtest: error' | sed "s|^|[$rel/$variant] |"
	fi
	# The variant's own check counts even when every test passed: a lockdown
	# run whose kernel did not refuse tracing tested the normal path twice.
	case $check in
	ok*) ;;
	"") [ -n "$why" ] || notes+=("no variant check result") ;;
	*) notes+=("variant check $check") ;;
	esac
	if [ "$variant" = lockdown ] && [ -z "$EXEC" ]; then
		skips=$(check_skips "$out")
		[ -z "$skips" ] || notes+=("SKIP lines not naming the tracing feature: $skips")
	fi
	[ ${#notes[@]} -eq 0 ] || bad=1
	text=${summary:-no summary}
	[ ${#notes[@]} -eq 0 ] || text+=" ($(printf '%s; ' "${notes[@]}" | sed 's/; $//'))"
	case $check in ok\ *) text+=" ${check#ok }" ;; esac
	add_result "$rel" "$variant" "$text" "${secs}s${boot:+, booted in ${boot}s}" "$bad" "$summary"
}

# run_vm REL VARIANT PATTERN: boot, stream the runner output, record the result.
run_vm() {
	local rel=$1 variant=$2 pattern=$3 initrd=$TMP/initrd.gz out=$TMP/out.log con=$TMP/console.log
	local t0 rc what label=$1/$2 extra
	if ! kernel_files "$rel"; then
		add_result "$rel" "$variant" "setup failed (depmod)" 0s 1 ""
		return
	fi
	echo "[$label] building initramfs"
	if ! build_initramfs "$rel" "$variant" "$pattern" "$initrd"; then
		add_result "$rel" "$variant" "setup failed (initramfs)" 0s 1 ""
		return
	fi
	extra=$(variant_cmdline "$variant")
	: >"$out"
	: >"$con"
	rm -f "$TMP/qemu.pid"
	t0=$(date +%s)
	# shellcheck disable=SC2046
	timeout -k 10 "$VM_TIMEOUT" qemu-system-x86_64 -nodefaults -no-user-config \
		-display none -no-reboot -pidfile "$TMP/qemu.pid" \
		$(accel_args) -m "$MEM" -smp "$SMP" \
		-kernel "$VMLINUZ" -initrd "$initrd" -append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init${extra:+ $extra}" \
		-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
		-serial "file:$con" -serial "file:$out" \
		</dev/null >"$TMP/qemu.err" 2>&1 &
	VM_PID=$!
	if [ -n "$EXEC" ]; then what="command: $EXEC"; else what="pattern '${pattern:-(all)}'"; fi
	echo "[$label] booting ($(accel_args | cut -d' ' -f2), -m $MEM -smp $SMP, $what${extra:+, $extra})"
	# In the background too: bash runs the INT/TERM trap (which stops the
	# VM) only once a foreground pipeline ends, but interrupts `wait`.
	tail -n +1 -F --pid="$VM_PID" "$out" 2>/dev/null |
		sed -u -e 's/\r$//' -e '/^vmtest: /d' -e "s|^|[$label] |" &
	SHOW_PID=$!
	wait "$VM_PID"
	rc=$?
	VM_PID=""
	wait "$SHOW_PID"
	SHOW_PID=""
	if [ -n "${VMTEST_LOGS:-}" ]; then
		mkdir -p "$VMTEST_LOGS" && cp "$con" "$VMTEST_LOGS/console-$rel-$variant.log" &&
			tr -d '\r' <"$out" >"$VMTEST_LOGS/runner-$rel-$variant.log"
	fi
	vm_verdict "$rel" "$variant" "$out" "$con" "$rc" "$(($(date +%s) - t0))"
}

# run_host PATTERN: the same runner on this machine's kernel, no VM.
run_host() {
	local rel t0 secs out=$TMP/host.log summary rc
	rel="host $(uname -r)"
	t0=$(date +%s)
	if [ -n "$EXEC" ]; then
		(cd "$SRC" && env BUILD="$BUILD" SLUICE="$BUILD/sluice" bash -c "$EXEC") </dev/null 2>&1 |
			tee "$out" | sed -u "s/^/[$rel] /"
		rc=${PIPESTATUS[0]}
		add_result "$rel" host "command exited $rc" "$(($(date +%s) - t0))s" \
			"$([ "$rc" = 0 ] || echo 1)" ""
		return
	fi
	(cd "$SRC" && TEST_TIMEOUT=$IN_VM_TIMEOUT tests/run.sh "$BUILD" ${1:+"$1"}) </dev/null 2>&1 |
		tee "$out" | sed -u "s/^/[$rel] /"
	rc=${PIPESTATUS[0]}
	secs=$(($(date +%s) - t0))
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$out" | tail -n 1)
	[ -n "${VMTEST_LOGS:-}" ] && mkdir -p "$VMTEST_LOGS" && cp "$out" "$VMTEST_LOGS/runner-host.log"
	add_result "$rel" host "${summary:-no summary (runner status $rc)}" "${secs}s" \
		"$([ "$rc" = 0 ] || echo 1)" "$summary"
}

# --- main ---------------------------------------------------------------------

# vmtests/selftest.sh sources this file for its functions only.
if [ "${VMTEST_SOURCE_ONLY:-}" = 1 ] && (return 0 2>/dev/null); then
	return 0
fi

PATTERN=$DEFAULT_PATTERN
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) [ $# -ge 2 ] || usage; KERNELS+=("$2"); shift 2 ;;
	--kernel=*) KERNELS+=("${1#--kernel=}"); shift ;;
	-h | --help) usage ;;
	--list) LIST=1; shift ;;
	--host) HOST=1; shift ;;
	--exec) [ $# -ge 2 ] || usage; EXEC=$2; shift 2 ;;
	--variant) [ $# -ge 2 ] || usage; VARIANTS+=("$2"); shift 2 ;;
	--variant=*) VARIANTS+=("${1#--variant=}"); shift ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -le 1 ] || usage
[ $# -eq 1 ] && PATTERN=$1
[ "$PATTERN" = . ] && PATTERN=""
[ ${#KERNELS[@]} -eq 0 ] && KERNELS=(all)
EXPANDED=()
for k in "${KERNELS[@]}"; do
	if [ "$k" = all ]; then
		read -r -a s <<<"$SERIES_ALL"
		EXPANDED+=("${s[@]}")
	else
		EXPANDED+=("$k")
	fi
done

[ ${#VARIANTS[@]} -eq 0 ] && VARIANTS=(all)
VARS=()
for v in "${VARIANTS[@]}"; do
	if [ "$v" = all ]; then
		read -r -a s <<<"$VARIANTS_ALL"
		VARS+=("${s[@]}")
	else
		VARS+=("$v")
	fi
done
for v in "${VARS[@]}"; do
	variant_cmdline "$v" >/dev/null || { err "unknown variant '$v' (normal, lockdown, integrity, all)"; exit 2; }
done

host_deps
RELS=()
for k in "${EXPANDED[@]}"; do
	r=$(resolve_kernel "$k") || exit 2
	RELS+=("$r")
done
if [ -n "${LIST:-}" ]; then
	printf '%s\n' "${RELS[@]}"
	exit 0
fi
if [ ! -x "$BUILD/sluice" ] || [ ! -d "$BUILD/tests" ]; then
	err "no build in $BUILD (run make first)"
	exit 2
fi

# The commit under test, for $VMTEST_RECORD ("+dirty": uncommitted changes
# to tracked files were tested too).
COMMIT=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null) || COMMIT=unknown
[ "$COMMIT" = unknown ] || [ -z "$(git -C "$SRC" status --porcelain --untracked-files=no 2>/dev/null)" ] ||
	COMMIT+="+dirty"
TMP=$(mktemp -d /tmp/sluice-vmtests.XXXXXX) || exit 2
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM HUP
if [ "$SNAPSHOT" = 1 ]; then
	take_snapshot || { err "cannot copy $SRC under $CACHE"; exit 2; }
fi

for r in "${RELS[@]}"; do
	for v in "${VARS[@]}"; do
		run_vm "$r" "$v" "$PATTERN"
	done
done
[ -n "${HOST:-}" ] && run_host "$PATTERN"

echo "vmtests summary (pattern '${PATTERN:-(all)}'):"
FAILED=0
for res in "${RESULTS[@]}"; do
	IFS=$US read -r rel variant text secs bad <<<"$res"
	case $text in
	*" 0 failed"* | "command exited 0"*) [ -n "$bad" ] && FAILED=1 ;;
	*) FAILED=1 ;;
	esac
	printf '  %-24s %-9s %s  [%s]\n' "$rel" "$variant" "$text" "$secs"
done
exit $FAILED
