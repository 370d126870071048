# Shell helpers for the integration tests. Source it, then:
#
#   t_init NAME            names, temp dir, the one cleanup trap
#   t_world [LOAD ARGS]    netns + cgroup + `sluice load` on a fresh pin root
#   start_server TAG ARGS  sl-server in the netns (not in the cgroup)
#   run_in NS CG CMD...    CMD inside NS with the process in cgroup CG
#   client ARGS...         sl-client in the test netns and cgroup
#   ok/fail/skip/check_*   result lines; t_done exits 1 if anything failed
#
# A "node" is a network namespace with only lo up and no default route (a
# VIP that is not translated fails locally with ENETUNREACH instead of
# leaving the machine), a cgroup the clients live in, and a pin root. All
# three carry the unique id sl-t-<test>-<pid>-<random>, and cleanup() removes
# them whatever state the test died in; it is safe to run more than once.
# shellcheck shell=bash

T_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T_SRC=$(cd "$T_LIB/../.." && pwd)
BUILD=${BUILD:-$T_SRC/build}
SLUICE=${SLUICE:-$BUILD/sluice}
TOOLS=${TOOLS:-$BUILD/tests/tools}
T_FAILS=0
T_PIDS=()
T_CLEANED=0

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: ${2//$'\n'/ }"; T_FAILS=$((T_FAILS + 1)); }
# Only for a kernel (or system) feature this machine lacks.
skip() { echo "skip $1: missing $2"; }

# Print a skip line for every case of the test and stop successfully.
skip_all() {
	local feature=$1 c
	shift
	for c in "$@"; do skip "$c" "$feature"; done
	exit 0
}

t_done() {
	cleanup
	[ "$T_FAILS" -eq 0 ]
	exit $?
}

t_init() {
	T_NAME=$1
	T_ID=sl-t-$T_NAME-$$-$RANDOM
	# The runner checks these ids for leftovers after the run.
	[ -n "${SL_T_REGISTRY:-}" ] && echo "$T_ID" >>"$SL_T_REGISTRY"
	NS=$T_ID
	PIN=/sys/fs/bpf/$T_ID
	T_TMP=$(mktemp -d "/tmp/$T_ID.XXXXXX")
	CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
	CG=${CG2:+$CG2/$T_ID}
	# Command prefixes for background processes: "${IN_NS[@]}" CMD & (or
	# "${IN_CG[@]}" CMD &) is one simple command, so $! is CMD's own pid
	# (sh and nsenter exec) and stop_proc/wait act on CMD itself.
	IN_NS=(nsenter --net="/run/netns/$NS" --)
	# shellcheck disable=SC2016
	IN_CG=(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG" "${IN_NS[@]}")
	trap cleanup EXIT
	trap 'cleanup; exit 130' INT TERM
}

# --- the test world -------------------------------------------------------

# bpffs is where every pin root lives; tests/run.sh mounts it before the
# first test, and a test run on its own mounts it here (the standard
# location, shared by all).
ensure_bpffs() {
	[ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ] && return 0
	mkdir -p /sys/fs/bpf 2>/dev/null
	mount -t bpf bpf /sys/fs/bpf 2>/dev/null
	[ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ]
}

# A test's own failure to set up is a FAIL of the test, never a skip.
setup_fail() {
	echo "FAIL $T_NAME: $1"
	exit 1
}

# feature_missing FEATURE [sluice features ARGS]: prints "FEATURE (ERRNO)"
# and succeeds when `sluice features` probes FEATURE as unavailable on this
# kernel; fails (prints nothing) when it is available.
feature_missing() {
	local f=$1 line
	shift
	line=$("$SLUICE" features -o json "$@" 2>/dev/null |
		jq -r --arg f "$f" '.features[] | select(.name == $f and .status != "available") |
			"\(.name) [\(.what)]: \(.reason)"')
	[ -n "$line" ] || return 1
	echo "$line"
}

# Kernel probes: skip (not fail) on kernels without what Sluice needs;
# everything else a test needs is prepared or is a failure.
require_kernel() {
	local f why
	[ "$(id -u)" = 0 ] || setup_fail "needs root (BPF, cgroups, network namespaces)"
	if [ -z "$CG2" ]; then
		grep -qw cgroup2 /proc/filesystems || skip_all "cgroup2 (not in /proc/filesystems)" "$@"
		setup_fail "cgroup2 is not mounted (mount -t cgroup2 none /sys/fs/cgroup/unified)"
	fi
	ensure_bpffs || setup_fail "cannot mount bpffs at /sys/fs/bpf"
	command -v ip >/dev/null || setup_fail "iproute2 missing (tools/install-deps.sh)"
	if [ ! -x "$SLUICE" ] || [ ! -x "$TOOLS/sl-client" ] || [ ! -x "$TOOLS/sl-server" ]; then
		setup_fail "$SLUICE or $TOOLS/sl-* not built (run make)"
	fi
	for f in sock_addr sock_release sockops sk_storage syscall_prog; do
		why=$(feature_missing "$f") && skip_all "$why" "$@"
	done
	if sockops_off; then
		for f in close_at_release rto_total; do
			why=$(feature_missing "$f") && skip_all "$why" "$@"
		done
	fi
	return 0
}

t_netns() {
	ip netns add "$NS" || return 1
	ip -n "$NS" link set lo up || return 1
	# Tests open thousands of short connections to one endpoint; reuse
	# TIME_WAIT ports instead of running out of them. Only in our netns.
	in_ns sysctl -qw net.ipv4.tcp_tw_reuse=1 \
		net.ipv4.ip_local_port_range="10000 65000" >/dev/null
}

t_cgroup() {
	mkdir "$CG"
}

# SL_T_LOAD_ARGS: `sluice load` arguments of the whole test run (tests/run.sh
# runs some tests again with "--sockops on" and "--sockops off --proxy none");
# t_world and the
# tests' own reloads pass them on as T_LOAD_ARGS.
read -r -a T_LOAD_ARGS <<<"${SL_T_LOAD_ARGS:-}"

# Does sockops leave this run's connections to close() (docs/KERNEL.md, "When
# sockops is attached")? With `--sockops off`, and under `auto` (the
# default) while nothing hands off to the proxy, where close() can count
# (close_at_release and rto_total; elsewhere auto keeps sockops on). The
# tests that ask apply policies that hand nothing off.
sockops_off() {
	if [ -z "${T_SOCKOPS_OFF:-}" ]; then
		T_SOCKOPS_OFF=0
		if [[ " ${SL_T_LOAD_ARGS:-} " == *" --sockops off "* ]]; then
			T_SOCKOPS_OFF=1
		elif [[ " ${SL_T_LOAD_ARGS:-} " != *" --sockops on "* ]] &&
			! feature_missing close_at_release >/dev/null &&
			! feature_missing rto_total >/dev/null; then
			T_SOCKOPS_OFF=1
		fi
	fi
	[ "$T_SOCKOPS_OFF" = 1 ]
}

# t_world [extra `sluice load` args]: netns, cgroup, and the data plane
# attached to the cgroup. On failure prints FAIL for the test and exits.
t_world() {
	t_netns || { fail "$T_NAME" "cannot create netns $NS"; exit 1; }
	t_cgroup || { fail "$T_NAME" "cannot create cgroup $CG"; exit 1; }
	if ! "$SLUICE" load --pin-root "$PIN" --cgroup "$CG" "${T_LOAD_ARGS[@]}" "$@" >"$T_TMP/load.out" 2>&1; then
		fail "$T_NAME" "sluice load --pin-root $PIN --cgroup $CG ${T_LOAD_ARGS[*]} $*: $(tail -n 5 "$T_TMP/load.out" | tr '\n' ' ')"
		exit 1
	fi
}

# --- processes ----------------------------------------------------------

# in_ns CMD...: CMD in the test netns. nsenter, not `ip netns exec`: the
# latter remounts /sys, which hides the cgroup2 mount and /sys/fs/bpf (the
# pin root) from the command.
in_ns() {
	nsenter --net="/run/netns/$NS" -- "$@"
}

# run_in NS CGROUP CMD...: CMD in netns NS, as a member of cgroup CGROUP.
# The shell joins the cgroup before it execs nsenter (which execs CMD), so
# CMD's very first connect() is already seen by the programs attached there.
run_in() {
	local ns=$1 cg=$2
	shift 2
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" \
		nsenter --net="/run/netns/$ns" -- "$@"
}

# client ARGS...: sl-client in the test netns and cgroup (foreground).
client() {
	run_in "$NS" "$CG" "$TOOLS/sl-client" "$@"
}

# wait_file PATH [SECONDS]: until PATH exists.
wait_file() {
	local i n=$(( ${2:-10} * 20 ))
	for ((i = 0; i < n; i++)); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# flip_start: sl-flip (tests/tools) switching this test's pin root on
# CPU 0 in the background until stop_proc flip; FLIP_CPU_OTHER is the CPU
# for the traffic (1 when there is one). Exits the test if it cannot start.
flip_start() {
	FLIP_CPU_OTHER=0
	[ "$(nproc)" -ge 2 ] && FLIP_CPU_OTHER=1
	taskset -c 0 "$TOOLS/sl-flip" -t 60000 -r "$T_TMP/flip.ready" "$PIN" \
		>"$T_TMP/flip.json" 2>"$T_TMP/flip.err" &
	T_PIDS+=("$!")
	PID_flip=$!
	wait_file "$T_TMP/flip.ready" 10 || { fail "$T_NAME/flipping" "sl-flip did not start: $(cat "$T_TMP/flip.err")"; exit 1; }
}

# flip_judge BEFORE AFTER WHAT: after stop_proc flip, the cases
# $T_NAME/flipping (at least 1,000 switches made) and $T_NAME/retried (the
# slot_moved counter went from BEFORE to more; skipped with one CPU, where
# a switch cannot land inside a program run).
flip_judge() {
	local flips
	flips=$(jq -r '.flips // 0' "$T_TMP/flip.json" 2>/dev/null)
	if [ "${flips:-0}" -ge 1000 ]; then ok "$T_NAME/flipping"
	else fail "$T_NAME/flipping" "sl-flip made ${flips:-no} switches: $(cat "$T_TMP/flip.json" "$T_TMP/flip.err" | tr '\n' ' ')"; fi
	if [ "$(nproc)" -lt 2 ]; then
		skip "$T_NAME/retried" "a second CPU (switches cannot land inside a program run)"
	elif [ "$(($2 - $1))" -gt 0 ]; then ok "$T_NAME/retried"
	else fail "$T_NAME/retried" "slot_moved $1 -> $2 over $3 and $flips switches"; fi
}

# start_server TAG SL-SERVER-ARGS...: an sl-server in the netns, logging to
# $T_TMP/TAG.log; returns once every listener is up. Servers stay outside
# the cgroup: they only accept, and the data plane is about clients.
start_server() {
	local tag=$1
	shift
	"${IN_NS[@]}" "$TOOLS/sl-server" -r "$T_TMP/$tag.ready" -l "$T_TMP/$tag.log" "$@" \
		>"$T_TMP/$tag.out" 2>&1 &
	T_PIDS+=("$!")
	eval "PID_$tag=$!"
	wait_file "$T_TMP/$tag.ready" 10 || {
		fail "$T_NAME" "sl-server $tag did not start: $(cat "$T_TMP/$tag.out")"
		exit 1
	}
}

# hold_conns TAG SL-CLIENT-ARGS...: a background sl-client -k that holds its
# connections open (in netns and cgroup) until stop_proc TAG; returns when
# they are open. Its output lands in $T_TMP/TAG.json.
hold_conns() {
	local tag=$1
	shift
	"${IN_CG[@]}" "$TOOLS/sl-client" -j -r "$T_TMP/$tag.ready" "$@" \
		>"$T_TMP/$tag.json" 2>"$T_TMP/$tag.err" &
	T_PIDS+=("$!")
	eval "PID_$tag=$!"
	wait_file "$T_TMP/$tag.ready" 30 || {
		fail "$T_NAME" "sl-client $tag did not get ready: $(cat "$T_TMP/$tag.err")"
		exit 1
	}
}

# stop_proc TAG: SIGTERM the background process started under TAG, wait.
stop_proc() {
	local pid
	eval "pid=\${PID_$1:-}"
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# --- cleanup ------------------------------------------------------------

_kill_pids() {
	local sig=$1
	shift
	[ $# -gt 0 ] && kill "-$sig" "$@" 2>/dev/null
}

# Every process we may have started: tracked pids, members of the test
# cgroup (and its children), and anything still running in the netns.
_our_pids() {
	local p
	printf '%s\n' "${T_PIDS[@]}"
	[ -n "${CG:-}" ] && [ -d "$CG" ] && find "$CG" -name cgroup.procs -exec cat {} + 2>/dev/null
	ip netns pids "$NS" 2>/dev/null
	for p in $(pgrep -f "$T_ID" 2>/dev/null); do
		echo "$p"
	done
}

_remove_cgroup() {
	local d p
	[ -n "${CG:-}" ] && [ -d "$CG" ] || return 0
	# Children first; a member still alive is moved to the root so rmdir works.
	while IFS= read -r d; do
		for p in $(cat "$d/cgroup.procs" 2>/dev/null); do
			echo "$p" >"$CG2/cgroup.procs" 2>/dev/null
		done
		rmdir "$d" 2>/dev/null
	done < <(find "$CG" -depth -type d 2>/dev/null)
}

cleanup() {
	local pids i p
	[ "$T_CLEANED" = 1 ] && return 0
	T_CLEANED=1
	trap - EXIT INT TERM
	[ -n "${T_ID:-}" ] || return 0
	mapfile -t pids < <(_our_pids | sort -u | grep -v "^$$\$" | grep .)
	_kill_pids TERM "${pids[@]}"
	for ((i = 0; i < 20; i++)); do
		mapfile -t pids < <(_our_pids | sort -u | grep -v "^$$\$" | grep . |
			while read -r p; do kill -0 "$p" 2>/dev/null && echo "$p"; done)
		[ ${#pids[@]} -eq 0 ] && break
		sleep 0.1
	done
	_kill_pids KILL "${pids[@]}"
	wait 2>/dev/null
	# The pin root, and any other pin root a test made beside it ($PIN-*).
	for p in "$PIN" "$PIN"-*; do
		[ -e "$p" ] || continue
		[ -x "$SLUICE" ] && "$SLUICE" unload --pin-root "$p" >/dev/null 2>&1
		rm -rf "$p"
	done
	_remove_cgroup
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T_TMP"
	return 0
}

# --- assertions ----------------------------------------------------------

# check NAME WHY CMD...: ok when CMD succeeds, else FAIL with WHY.
check() {
	local name=$1 why=$2
	shift 2
	if "$@"; then ok "$name"; else fail "$name" "$why"; fi
}

check_eq() { # NAME GOT WANT [WHAT]
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "${4:-value}: got '$2', want '$3'"; fi
}

# check_range NAME VALUE LOW HIGH [WHAT]: LOW <= VALUE <= HIGH (awk numbers).
check_range() {
	if awk -v v="$2" -v lo="$3" -v hi="$4" 'BEGIN { exit !(v + 0 >= lo + 0 && v + 0 <= hi + 0) }'; then
		ok "$1"
	else
		fail "$1" "${5:-value} $2 not in [$3, $4]"
	fi
}

# --- sluice --------------------------------------------------------------

sl() { "$SLUICE" "$1" --pin-root "$PIN" "${@:2}"; }

# apply_file NAME FILE: apply or FAIL NAME with the CLI's stderr and exit.
apply_or_die() {
	if ! sl apply -f "$2" >"$T_TMP/apply.out" 2>"$T_TMP/apply.err"; then
		fail "$1" "sluice apply -f $2 failed: $(head -c 600 "$T_TMP/apply.err")"
		exit 1
	fi
}

# json_endpoint FIELD ADDRESS: FIELD of the endpoint ADDRESS in `get endpoints`.
json_endpoint() {
	sl get endpoints -o json | jq -r --arg a "$2" \
		"[.endpoints[] | select(.address == \$a) | .$1] | add // 0"
}

# count IDENTITY FILE: count of IDENTITY in an sl-client -j result.
count() {
	jq -r --arg i "$1" '.identities[$i] // 0' "$2"
}

# wait_eq WANT CMD...: until CMD prints WANT (5 s); 1 if it never does.
wait_eq() {
	local want=$1 _
	shift
	for _ in $(seq 50); do [ "$("$@")" = "$want" ] && return 0; sleep 0.1; done
	return 1
}

# --- policy YAML -----------------------------------------------------------
# Small generators so each test states only what it is about. The namespace
# is "sl-test"; endpoints are Pods with podIP on 127/8, which work on lo.

yaml_service() { # NAME VIP PORT TARGETPORT [PROTO]
	cat <<EOF
---
apiVersion: v1
kind: Service
metadata:
  name: $1
  namespace: sl-test
spec:
  clusterIP: $2
  selector:
    app: $1
  ports:
  - name: p$3
    port: $3
    targetPort: $4
    protocol: ${5:-TCP}
EOF
}

# yaml_vs_canary HOST: a VirtualService whose http routes match a header
# (`canary: "true"`), which hands HOST off to the proxy (http-match).
yaml_vs_canary() {
	cat <<EOF
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: $1
  namespace: sl-test
spec:
  hosts: [$1]
  http:
  - match:
    - headers:
        canary:
          exact: "true"
    route:
    - destination: {host: $1}
  - route:
    - destination: {host: $1}
EOF
}

yaml_pod() { # NAME APP IP [VERSION]
	cat <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  name: $1
  namespace: sl-test
  labels:
    app: $2
    version: ${4:-v1}
status:
  phase: Running
  podIP: $3
EOF
}

# yaml_dr HOST LB [EXTRA TRAFFICPOLICY YAML, indented 4] [SUBSETS...]
yaml_dr() {
	local host=$1 lb=$2 extra=${3:-} s
	shift 3 2>/dev/null || shift $#
	cat <<EOF
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: $host
  namespace: sl-test
spec:
  host: $host
  trafficPolicy:
    loadBalancer:
      simple: $lb
EOF
	[ -n "$extra" ] && printf '%s\n' "$extra"
	if [ $# -gt 0 ]; then
		echo "  subsets:"
		for s in "$@"; do
			printf '  - name: %s\n    labels:\n      version: %s\n' "$s" "$s"
		done
	fi
}

# yaml_se NAME VIP LB ADDR:WEIGHT...: a ServiceEntry NAME.example at VIP:80
# with STATIC endpoints ADDR:8080 of the weights given, and a
# DestinationRule with load balancer LB for it.
yaml_se() {
	local name=$1 vip=$2 lb=$3 e
	shift 3
	cat <<YML
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: $name, namespace: sl-test}
spec:
  hosts: [$name.example]
  addresses: [$vip]
  ports: [{number: 80, name: tcp, protocol: TCP, targetPort: 8080}]
  resolution: STATIC
  endpoints:
YML
	for e in "$@"; do echo "  - {address: ${e%:*}, weight: ${e#*:}}"; done
	yaml_dr "$name.example" "$lb"
}
