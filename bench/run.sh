#!/usr/bin/env bash
# Sluice benchmark: connection setup through a service VIP with no mesh,
# with kube-proxy-style iptables and with Sluice; the connect program's own
# cost; the time to apply policy. Writes the generated section of
# bench/RESULTS.md. See bench/README.md for what is measured and how.
#
#   bench/run.sh [BUILD_DIR]        (`make bench` passes the build dir)
#
# Knobs (environment): BENCH_COUNTS ("1 1000 10000"), BENCH_ROUNDS (10),
# BENCH_CONNS (10000 per round), BENCH_WARMUP (500 per round),
# BENCH_APPLY_ROUNDS (3), BENCH_CHANGE_ROUNDS (6), BENCH_IPT ("legacy nft"),
# BENCH_LAYOUTS ("split same": servers on BENCH_SERVER_CPU, or on the client's),
# BENCH_STATS_LAYOUTS (part 2, "split same"),
# BENCH_CLIENT_CPU (1), BENCH_SERVER_CPU (0), BENCH_OUT (bench/RESULTS.md).
#
# Everything runs in network namespaces, cgroups and pin roots named
# sl-bench-<pid>-<random>, removed on exit whatever happened (trap). The
# iptables rules exist only inside those namespaces.
set -u -o pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" 2>/dev/null && pwd) || { echo "bench: no build dir ${1:-$SRC/build}" >&2; exit 2; }
SLUICE=$BUILD/sluice
BB=$BUILD/bench
COUNTS=${BENCH_COUNTS:-"1 1000 10000"}
ROUNDS=${BENCH_ROUNDS:-10}
CONNS=${BENCH_CONNS:-10000}
WARMUP=${BENCH_WARMUP:-500}
APPLY_ROUNDS=${BENCH_APPLY_ROUNDS:-3}
CHANGE_ROUNDS=${BENCH_CHANGE_ROUNDS:-6}
IPT_WANT=${BENCH_IPT:-"legacy nft"}
LAYOUTS=${BENCH_LAYOUTS:-"split same"}
# Part 2's layouts: in `split` the client's CPU idles while the server
# works, so every connection starts with colder caches; `same` keeps it busy.
STATS_LAYOUTS=${BENCH_STATS_LAYOUTS:-"split same"}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
OUT=${BENCH_OUT:-$SRC/bench/RESULTS.md}

ID=sl-bench-$$-$RANDOM
. "$SRC/bench/lib.sh"
FAILED=0

# --- preflight ---------------------------------------------------------------

preflight() {
	local f
	[ "$(id -u)" = 0 ] || die "needs root (netns, cgroups, BPF, iptables)"
	[ -n "$CG2" ] || die "no cgroup v2 mount in /proc/mounts"
	[ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ] || die "bpffs not mounted at /sys/fs/bpf"
	for f in sl-bench-client sl-bench-server sl-bench-gen sl-bench-progstat sl-bench-floor; do
		[ -x "$BB/$f" ] || die "$BB/$f not built (run make)"
	done
	[ -x "$SLUICE" ] || die "$SLUICE not built (run make)"
	for f in ip nsenter taskset jq; do
		command -v "$f" >/dev/null || die "$f not installed (tools/install-deps.sh)"
	done
	[ "$(nproc)" -gt "$CLIENT_CPU" ] && [ "$(nproc)" -gt "$SERVER_CPU" ] ||
		die "CPUs $CLIENT_CPU/$SERVER_CPU do not exist (BENCH_CLIENT_CPU, BENCH_SERVER_CPU)"
	IPTS=()
	for f in $IPT_WANT; do
		if command -v "iptables-$f-restore" >/dev/null; then
			IPTS+=("$f")
		else
			log "iptables-$f-restore missing: variant ipt-$f skipped"
		fi
	done
	snapshot_binaries
	COUNTS=$(tr ' ' '\n' <<<"$COUNTS" | grep . | sort -n | tr '\n' ' ')
	MAXN=$(tr ' ' '\n' <<<"$COUNTS" | grep . | tail -n 1)
}

# Run private copies: a `make` in the build directory while the benchmark
# runs (other people work in this tree) must not swap the data plane or the
# CLI halfway through. The report names what was measured.
snapshot_binaries() {
	mkdir -p "$TMP/bin/bench" || die "$TMP/bin"
	cp "$SLUICE" "$TMP/bin/sluice" && cp "$BB"/sl-bench-* "$TMP/bin/bench/" ||
		die "copy binaries to $TMP/bin"
	if [ -n "$SLUICE_OLD_SRC" ]; then
		cp "$SLUICE_OLD_SRC" "$TMP/bin/sluice-old" || die "copy $SLUICE_OLD_SRC"
		SLUICE_OLD_ID="$(sha256sum "$SLUICE_OLD_SRC" | cut -c1-12) ($SLUICE_OLD_SRC${BENCH_SLUICE_OLD_OPTS:+, loaded with $BENCH_SLUICE_OLD_OPTS})"
	fi
	SLUICE_ID="$(sha256sum "$SLUICE" | cut -c1-12), built $(date -u -r "$SLUICE" +%Y-%m-%dT%H:%M:%SZ)"
	SLUICE=$TMP/bin/sluice
	BB=$TMP/bin/bench
	COMMIT=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
	DIRTY=$(git -C "$SRC" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
}

# --- the world -----------------------------------------------------------------

# A netns with only lo up and no default route: a VIP nothing translates
# fails locally (ENETUNREACH) instead of leaving the machine.
mk_netns() {
	ip netns add "$1" || die "ip netns add $1"
	NSS+=("$1")
	ip -n "$1" link set lo up || die "lo up in $1"
}

# iptables DNAT happens in nat OUTPUT, after the routing decision of
# connect(): the VIP range needs a route for that first lookup. `src
# 127.0.0.1` matters: lo's only address has host scope, so a plain `dev lo`
# route selects no source (0.0.0.0) and the server's FIN never comes back.
# route_localnet is not needed: the packets stay on lo.
mk_ipt_netns() {
	mk_netns "$1"
	ip -n "$1" route add 10.96.0.0/12 dev lo src 127.0.0.1 || die "VIP route in $1"
}

in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" -- "$@"; }

# The variants, each in its own netns, so that no variant pays for
# another's hooks (a netns with a nat table runs conntrack on every packet,
# and kube-proxy's KUBE-SERVICES walk would also run for connections Sluice
# already translated), and the BPF ones each in its own cgroup:
#   direct             the client dials the endpoints itself, no program
#   ipt-legacy/-nft    kube-proxy's rules
#   empty              the client dials the endpoints, an empty connect4 runs
#   floor, floor-rnd   bench/bpf/sock_floor.bpf.c, LEAST_CONN / RANDOM
#   floor-so           floor plus an empty sockops program (what sockops
#                      costs by being attached at all)
#   sluice, sluice-rnd the data plane as `sluice load` loads it by default,
#                      DestinationRule LEAST_CONN / RANDOM (`--sockops auto`:
#                      the policy hands nothing off, so where the kernel lets
#                      close() count, no sockops program; docs/KERNEL.md)
#   sluice-so, sluice-so-rnd
#                      the same with sockops always attached (`--sockops on`):
#                      what an L4 connection costs on a node whose policy
#                      hands something else off to the proxy
#   floor-sk, floor-hash, floor-tab
#                      floor plus a per-connection record: socket storage,
#                      a preallocated hash keyed by cookie, an array slot
#                      (part 2 only; BENCH_RECORDS=0 leaves them out)
BPF_VARIANTS=(empty floor floor-so floor-rnd sluice sluice-rnd sluice-so sluice-so-rnd)
FLOOR_VARIANTS=(empty floor floor-so floor-rnd)
STATS_ONLY=()
# BENCH_SLUICE_OLD=PATH: another build's CLI (e.g. the commit before a
# change) as variant sluice-old, LEAST_CONN, measured in the same rounds;
# BENCH_SLUICE_OLD_OPTS: its load options ("--sockops on" to set it beside
# sluice-so rather than sluice).
SLUICE_OLD_SRC=${BENCH_SLUICE_OLD:-}
read -r -a SLUICE_OLD_OPTS <<<"${BENCH_SLUICE_OLD_OPTS:-}"
[ -n "$SLUICE_OLD_SRC" ] && BPF_VARIANTS+=(sluice-old)
if [ "${BENCH_RECORDS:-1}" != 0 ]; then
	STATS_ONLY=(floor-sk floor-hash floor-tab)
	BPF_VARIANTS+=("${STATS_ONLY[@]}")
	FLOOR_VARIANTS+=("${STATS_ONLY[@]}")
fi
setup_world() {
	local f v
	mkdir -p "$CG/plain" "$CG/idle" || die "cgroups under $CG"
	VARIANTS=(direct)
	mk_netns "$ID-direct"
	for f in "${IPTS[@]}"; do
		mk_ipt_netns "$ID-ipt-$f"
		VARIANTS+=("ipt-$f")
	done
	for v in "${BPF_VARIANTS[@]}"; do
		mkdir -p "$CG/$v" || die "cgroup $CG/$v"
		mk_netns "$ID-$v"
		VARIANTS+=("$v")
	done
}

is_bpf_variant() { [[ " ${BPF_VARIANTS[*]} " == *" $1 "* ]]; }

ns_of() { echo "$ID-$1"; }

# A fresh pin root with the data plane attached to cgroup $2 (CLI $3,
# default this build's).
sluice_load() {
	local pin=$1 cg=$2 cli=${3:-$SLUICE}
	shift $(($# < 3 ? $# : 3))
	PINS+=("$pin")
	"$cli" load --pin-root "$pin" --cgroup "$cg" "$@" >"$TMP/load.out" 2>&1 ||
		die "$cli load --pin-root $pin --cgroup $cg $*: $(tail -n 5 "$TMP/load.out")"
}

sluice_unload() {
	"${2:-$SLUICE}" unload --pin-root "$1" >/dev/null 2>&1
	rm -rf "$1"
}

# --- servers and clients -------------------------------------------------------

# Start one sl-bench-server per variant netns on the endpoints of the
# measured service; outside the mesh cgroup (the mesh is about clients).
start_servers() {
	local n=$1 v ns
	for v in "${VARIANTS[@]}"; do
		ns=$(ns_of "$v")
		rm -f "$TMP/ready-$v"
		# Joins the cgroup, then execs: $! is the server itself, and
		# SIGTERM must reach it so that it writes its counts.
		# shellcheck disable=SC2086
		sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/plain" \
			nsenter --net="/run/netns/$ns" -- taskset -c "$SERVER_CPU" \
			"$BB/sl-bench-server" -r "$TMP/ready-$v" -c "$TMP/counts-$n-$v" $EPS \
			>"$TMP/server-$v.out" 2>&1 &
		PIDS+=($!)
		eval "SPID_${v//-/_}=$!"
	done
	for v in "${VARIANTS[@]}"; do
		local i
		for ((i = 0; i < 100; i++)); do
			[ -e "$TMP/ready-$v" ] && break
			sleep 0.05
		done
		[ -e "$TMP/ready-$v" ] || die "server $v did not start: $(cat "$TMP/server-$v.out")"
	done
}

# pin_servers LAYOUT: split = servers on SERVER_CPU, same = on CLIENT_CPU.
# On two CPUs, split pays a cross-CPU wake-up per connection (an IPI, dear
# in a VM) and same has client and server compete for one CPU; the mesh's
# extra CPU work shows more plainly in the latter.
# The row type of part 2's statistics in layout $1.
prog_row() { if [ "$1" = split ]; then echo prog; else echo "prog-$1"; fi; }

pin_servers() {
	local v pid cpu=$SERVER_CPU
	[ "$1" = same ] && cpu=$CLIENT_CPU
	for v in "${VARIANTS[@]}"; do
		eval "pid=\${SPID_${v//-/_}:-}"
		taskset -a -p -c "$cpu" "$pid" >/dev/null || die "taskset server $v"
	done
}

stop_servers() {
	local v pid
	for v in "${VARIANTS[@]}"; do
		eval "pid=\${SPID_${v//-/_}:-}"
		[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
}

# client_cmd VARIANT: CMD=(one client run of the variant). The shell joins
# the cgroup and then execs, so the cgroup's programs see its first connect().
client_cmd() {
	local v=$1 cg=$CG/plain
	local -a targets=("$VIP")
	[ "$v" = direct ] || [ "$v" = empty ] && read -r -a targets <<<"$EPS"
	is_bpf_variant "$v" && cg=$CG/$v
	CMD=(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg"
		nsenter --net="/run/netns/$(ns_of "$v")" -- taskset -c "$CLIENT_CPU"
		"$BB/sl-bench-client" -n "$CONNS" -w "$WARMUP" "${targets[@]}")
}

jnum() { jq -r ".$1" <<<"$2"; }

# One measured run; its numbers go into $DATA as a "conn" row.
measure() {
	local n=$1 l=$2 r=$3 v=$4 out rc stats
	client_cmd "$v"
	stats=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo ?)
	out=$("${CMD[@]}" 2>>"$TMP/client.err")
	rc=$?
	[ -n "$out" ] || out='{"n":0,"failed":-1,"ns_per_conn":0,"conn_per_s":0,"p50_ns":0,"p99_ns":0,"first_error":"client did not run"}'
	printf 'conn\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$l" "$r" "$v" \
		"$(jnum ns_per_conn "$out")" "$(jnum conn_per_s "$out")" \
		"$(jnum p50_ns "$out")" "$(jnum p99_ns "$out")" \
		"$(jnum failed "$out")" "$stats" "$(jnum first_error "$out")" >>"$DATA"
	if [ "$rc" != 0 ]; then
		FAILED=1
		log "  $l $v: FAILED: $(jnum first_error "$out")"
	else
		log "  $l $v: $(printf '%.0f' "$(jnum ns_per_conn "$out")") ns/conn"
	fi
}

# --- part 1 and 2: connection setup and the connect program's cost ---------------

# The iptables rules for N services, replacing the whole nat table.
ipt_load() {
	local f=$1 n=$2
	in_ns "$(ns_of "ipt-$f")" "iptables-$f-restore" <"$TMP/ipt-$n.rules" ||
		die "iptables-$f-restore of $n services"
}

sluice_apply_or_die() {
	"${3:-$SLUICE}" apply --pin-root "$1" -f "$2" >"$TMP/apply.out" 2>"$TMP/apply.err" ||
		die "sluice apply -f $2: $(head -c 800 "$TMP/apply.err")"
}

netns_counters() {
	local n=$1 v ns ct
	for v in "${VARIANTS[@]}"; do
		ns=$(ns_of "$v")
		# Drops that would make a round measure retransmissions.
		in_ns "$ns" nstat -az TcpExtListenOverflows TcpExtListenDrops \
			TcpExtTCPTimeWaitOverflow TcpExtTCPSynRetrans 2>/dev/null |
			awk -v n="$n" -v v="$v" 'NR > 1 && $2 > 0 {printf "nstat\t%s\t%s\t%s\t%s\n", n, v, $1, $2}' >>"$DATA"
		ct=$(in_ns "$ns" cat /proc/net/stat/nf_conntrack 2>/dev/null)
		# One line of hex counters per CPU (mawk has no strtonum).
		[ -n "$ct" ] && awk -v n="$n" -v v="$v" '
			function hex(s,   i, x) { x = 0; s = tolower(s)
				for (i = 1; i <= length(s); i++) x = x * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
				return x }
			NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; next }
			{ for (i = 1; i <= NF; i++) s[i] += hex($i) }
			END { for (i in h) if (h[i] ~ /^(drop|early_drop|insert_failed)$/ && s[i] > 0)
				printf "nstat\t%s\t%s\tconntrack_%s\t%d\n", n, v, h[i], s[i] }' <<<"$ct" >>"$DATA"
	done
}

# floor_start TAG MODE CGROUP N: sl-bench-floor in MODE on CGROUP until
# floor_stop TAG (its output: $TMP/floor-TAG.out).
floor_start() {
	local tag=$1 i
	rm -f "$TMP/floor-ready-$tag"
	"$BB/sl-bench-floor" -m "$2" -r "$TMP/floor-ready-$tag" "$3" "$4" \
		>"$TMP/floor-$tag.out" 2>&1 &
	PIDS+=($!)
	eval "FPID_${tag//-/_}=$!"
	for ((i = 0; i < 200; i++)); do
		[ -e "$TMP/floor-ready-$tag" ] && return 0
		sleep 0.05
	done
	die "sl-bench-floor $tag did not start: $(cat "$TMP/floor-$tag.out")"
}

floor_stop() {
	local pid
	eval "pid=\${FPID_${1//-/_}:-}"
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	eval "FPID_${1//-/_}="
}

floor_mode() {
	case $1 in
	empty) echo empty ;;
	floor-rnd) echo random ;;
	floor-so) echo least-sockops ;;
	floor-sk) echo least-sk ;;
	floor-hash) echo least-hash ;;
	floor-tab) echo least-table ;;
	*) echo least ;;
	esac
}

# How often each sockops callback runs per connection of variant V: one more
# round with the op-counting program attached beside the variant's own.
count_ops() {
	local n=$1 v=$2
	floor_start "ops-$v" opcount "$CG/$v" 1
	client_cmd "$v"
	"${CMD[@]}" >/dev/null 2>>"$TMP/client.err" || { FAILED=1; log "  opcount $v failed"; }
	floor_stop "ops-$v"
	awk -v n="$n" -v v="$v" -v c="$((CONNS + WARMUP))" \
		'$1 == "op" { printf "ops\t%s\t%s\t%s\t%s\t%s\n", n, v, $2, $3, c }' \
		"$TMP/floor-ops-$v.out" >>"$DATA"
}

bench_count() {
	local n=$1 r v f l pin=/sys/fs/bpf/$ID-$1 vip='' eps=''
	log "== $n services"
	eval "$("$BB/sl-bench-gen" targets "$n" | grep -v ^weights=)" # vip, eps
	VIP=$vip EPS=$eps
	"$BB/sl-bench-gen" yaml "$n" >"$TMP/svc-$n.yaml"
	"$BB/sl-bench-gen" --lb RANDOM yaml "$n" >"$TMP/svc-rnd-$n.yaml"
	"$BB/sl-bench-gen" iptables "$n" >"$TMP/ipt-$n.rules"
	for f in "${IPTS[@]}"; do ipt_load "$f" "$n"; done
	sluice_load "$pin" "$CG/sluice"
	sluice_apply_or_die "$pin" "$TMP/svc-$n.yaml"
	printf 'applyfirst\t%s\t%s\n' "$n" "$(head -n 1 "$TMP/apply.out")" >>"$DATA"
	sluice_load "$pin-rnd" "$CG/sluice-rnd"
	sluice_apply_or_die "$pin-rnd" "$TMP/svc-rnd-$n.yaml"
	sluice_load "$pin-so" "$CG/sluice-so" "$SLUICE" --sockops on
	sluice_apply_or_die "$pin-so" "$TMP/svc-$n.yaml"
	sluice_load "$pin-so-rnd" "$CG/sluice-so-rnd" "$SLUICE" --sockops on
	sluice_apply_or_die "$pin-so-rnd" "$TMP/svc-rnd-$n.yaml"
	if [ -n "$SLUICE_OLD_SRC" ]; then
		sluice_load "$pin-old" "$CG/sluice-old" "$TMP/bin/sluice-old" "${SLUICE_OLD_OPTS[@]}"
		sluice_apply_or_die "$pin-old" "$TMP/svc-$n.yaml" "$TMP/bin/sluice-old"
	fi
	for v in "${FLOOR_VARIANTS[@]}"; do floor_start "$v" "$(floor_mode "$v")" "$CG/$v" "$n"; done
	start_servers "$n"
	for ((r = 1; r <= ROUNDS; r++)); do
		log " round $r/$ROUNDS"
		for l in $LAYOUTS; do
			pin_servers "$l"
			for v in "${VARIANTS[@]}"; do
				[[ " ${STATS_ONLY[*]} " == *" $v "* ]] || measure "$n" "$l" "$r" "$v"
			done
		done
	done
	# Part 2: the BPF variants again with run-time statistics on (they cost
	# time themselves, so never during the rounds above), interleaved too,
	# in each layout of STATS_LAYOUTS: rows "prog" (split) and "prog-same".
	for ((r = 1; r <= ROUNDS; r++)); do
		for l in $STATS_LAYOUTS; do
			pin_servers "$l"
			for v in "${BPF_VARIANTS[@]}"; do
				client_cmd "$v"
				"$BB/sl-bench-progstat" -o "$TMP/prog.json" "$CG/$v" -- "${CMD[@]}" \
					>/dev/null 2>>"$TMP/client.err" || { FAILED=1; log "  progstat $v failed"; }
				jq -r --arg k "$(prog_row "$l")" --arg n "$n" --arg r "$r" --arg v "$v" \
					--arg c "$((CONNS + WARMUP))" \
					'select(.run_cnt > 0) | [$k, $n, $r, $v, .name, .run_cnt, .ns_per_run, .run_time_ns, $c] | @tsv' \
					"$TMP/prog.json" >>"$DATA"
			done
		done
		log " stats round $r/$ROUNDS"
	done
	pin_servers split
	# Only variants with a sockops program of their own: the counting
	# program would make the five callbacks run where none ran before.
	for v in floor-so sluice-so sluice-so-rnd ${SLUICE_OLD_SRC:+sluice-old}; do
		is_bpf_variant "$v" && count_ops "$n" "$v"
	done
	stop_servers
	for v in "${FLOOR_VARIANTS[@]}"; do floor_stop "$v"; done
	for v in "${VARIANTS[@]}"; do
		awk -v n="$n" -v v="$v" '{printf "accept\t%s\t%s\t%s\t%s\n", n, v, $1, $2}' \
			"$TMP/counts-$n-$v" >>"$DATA" 2>/dev/null
	done
	netns_counters "$n"
	sluice_unload "$pin"
	sluice_unload "$pin-rnd"
	sluice_unload "$pin-so"
	sluice_unload "$pin-so-rnd"
	[ -n "$SLUICE_OLD_SRC" ] && sluice_unload "$pin-old" "$TMP/bin/sluice-old"
}

# --- part 3: apply time ------------------------------------------------------------


bench_apply() {
	local n=$MAXN r f ms pin ns v
	log "== apply: $n services x 4 endpoints"
	[ -e "$TMP/svc-$n.yaml" ] || "$BB/sl-bench-gen" yaml "$n" >"$TMP/svc-$n.yaml"
	[ -e "$TMP/ipt-$n.rules" ] || "$BB/sl-bench-gen" iptables "$n" >"$TMP/ipt-$n.rules"
	for ((r = 1; r <= APPLY_ROUNDS; r++)); do
		pin=/sys/fs/bpf/$ID-apply-$r
		sluice_load "$pin" "$CG/idle"
		timed ms "$SLUICE" apply --pin-root "$pin" -f "$TMP/svc-$n.yaml" \
			>"$TMP/apply.out" 2>"$TMP/apply.err" || die "sluice apply: $(head -c 800 "$TMP/apply.err")"
		printf 'apply\t%s\t%s\tsluice\t%s\t%s\n' "$n" "$r" "$ms" "$(head -n 1 "$TMP/apply.out")" >>"$DATA"
		log " round $r: sluice apply $ms ms"
		[ "$r" -lt "$APPLY_ROUNDS" ] && sluice_unload "$pin"
		for f in "${IPTS[@]}"; do
			ns=$ID-apply-$f-$r
			mk_ipt_netns "$ns"
			timed ms in_ns "$ns" "iptables-$f-restore" <"$TMP/ipt-$n.rules" ||
				die "iptables-$f-restore"
			printf 'apply\t%s\t%s\tipt-%s\t%s\t\n' "$n" "$r" "$f" "$ms" >>"$DATA"
			log " round $r: iptables-$f-restore $ms ms"
			[ "$r" -lt "$APPLY_ROUNDS" ] && ip netns del "$ns"
		done
	done
	# One endpoint of the last service moves and back, alternately; the
	# sluice pin root and iptables netns of the last round hold N services.
	"$BB/sl-bench-gen" yaml-change "$n" 1 >"$TMP/chg-1.yaml"
	"$BB/sl-bench-gen" yaml-change "$n" 0 >"$TMP/chg-0.yaml"
	"$BB/sl-bench-gen" iptables-change "$n" 1 >"$TMP/chg-1.rules"
	"$BB/sl-bench-gen" iptables-change "$n" 0 >"$TMP/chg-0.rules"
	for ((r = 1; r <= CHANGE_ROUNDS; r++)); do
		v=$((r % 2))
		timed ms "$SLUICE" apply --pin-root "$pin" -f "$TMP/chg-$v.yaml" \
			>"$TMP/apply.out" 2>"$TMP/apply.err" || die "sluice apply (change): $(head -c 800 "$TMP/apply.err")"
		printf 'change\t%s\t%s\tsluice\t%s\t%s\n' "$n" "$r" "$ms" "$(head -n 1 "$TMP/apply.out")" >>"$DATA"
		# Checked on the first change each way only: dumping 40,000
		# endpoints or 190,000 rules costs more than the changes.
		[ "$r" -le 2 ] && { change_check sluice "$v" "$pin" "" ||
			{ FAILED=1; log " sluice change $r not visible"; }; }
		for f in "${IPTS[@]}"; do
			ns=$ID-apply-$f-$APPLY_ROUNDS
			timed ms in_ns "$ns" "iptables-$f-restore" --noflush <"$TMP/chg-$v.rules" ||
				die "iptables-$f-restore --noflush"
			printf 'change\t%s\t%s\tipt-%s\t%s\t\n' "$n" "$r" "$f" "$ms" >>"$DATA"
			[ "$r" -le 2 ] && { change_check "ipt-$f" "$v" "" "$ns" ||
				{ FAILED=1; log " ipt-$f change $r not visible"; }; }
		done
	done
	log " $CHANGE_ROUNDS endpoint changes done"
}

# The moved endpoint (127.2.x.y) is in the live tables exactly when
# variant 1 was applied last. Not timed.
change_check() {
	local what=$1 v=$2 pin=$3 ns=$4 got moved
	# sl-bench-gen: endpoint 3 of service N-1 moves to 127.2.0.1 + (N-1)
	moved=$(printf '127.2.%d.%d' $((MAXN >> 8 & 255)) $((MAXN & 255)))
	if [ "$what" = sluice ]; then
		got=$("$SLUICE" get endpoints --pin-root "$pin" -o json | grep -c -F "$moved")
	else
		got=$(in_ns "$ns" "iptables-${what#ipt-}-save" -t nat | grep -c -- "--to-destination $moved:")
	fi
	[ "$v" = 1 ] && [ "$got" -ge 1 ] && return 0
	[ "$v" = 0 ] && [ "$got" = 0 ] && return 0
	return 1
}

# --- report ---------------------------------------------------------------------

# min median max of the numbers on stdin
stats3() {
	sort -g | awk '{ v[NR] = $1 }
		END { if (!NR) { print "- - -"; exit }
		      m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      print v[1], m, v[NR] }'
}

. "$SRC/bench/report.sh"

main() {
	local n t0
	preflight
	setup_world
	t0=$(date +%s)
	START_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	log "bench $ID: counts $COUNTS; $ROUNDS rounds of $CONNS connections (+$WARMUP warm-up); variants ${VARIANTS[*]}; CPU layouts $LAYOUTS"
	for n in $COUNTS; do bench_count "$n"; done
	bench_apply
	LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
	ELAPSED=$(($(date +%s) - t0))
	write_report >"$TMP/generated.md" || die "report"
	splice_report "$TMP/generated.md" "$OUT" "$BEGIN_MARK" "$END_MARK"
	log "done in ${ELAPSED}s; results in $OUT"
	# The raw rows behind the tables, for anyone who wants other statistics.
	cp "$DATA" "${OUT%.md}-raw.tsv" 2>/dev/null
	[ "$FAILED" = 0 ] || { log "some runs FAILED: see the report"; return 1; }
}

main
