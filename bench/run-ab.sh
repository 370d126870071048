#!/usr/bin/env bash
# A/B of the connect path between builds: BPF ns per connection of two or
# more `sluice` CLIs, each loaded into its own pin root and cgroup, the
# clients of all of them in one netns with one server, interleaved round by
# round. For deciding whether a change to the programs is worth keeping on
# a machine whose noise is larger than the change (bench/README.md, "A/B of
# two builds").
#
#   bench/run-ab.sh [-n SERVICES] [-c CONNS] [-r ROUNDS] [-l LB] CLI_A CLI_B [CLI...]
#
# Each round runs every build once (CONNS connections, 100 more as warm-up,
# under sl-bench-progstat) and reverses the order on every second round.
# Build 0 is loaded twice, first and last (its twin), so that the report
# shows what two loads of the same programs differ by in the same rounds:
# a difference between builds smaller than that is not one. Printed per
# build: the median over rounds of (connect4 ns / the mean of build 0 and
# its twin in that round), the same for the whole connection (connect4 +
# release), and in how many rounds it was the cheaper.
#
# Everything is named sl-bench-ab-<pid>-<random> and removed on exit (the
# trap in bench/lib.sh). The BPF variants of bench/run.sh (the floor and
# the rest) are the place for targets; this compares builds only.
set -u -o pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_AB_BUILD:-$SRC/build}
BB=$BUILD/bench
N=1000 CONNS=2000 ROUNDS=21 LB=LEAST_CONN
while getopts n:c:r:l: o; do
	case $o in
	n) N=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	l) LB=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || { sed -n '9p' "$0" >&2; exit 2; }
CLIS=("$@" "$1")
# shellcheck disable=SC2034 # read by bench/lib.sh's cleanup (unload)
SLUICE=$1

ID=sl-bench-ab-$$-$RANDOM
. "$SRC/bench/lib.sh"

[ "$(id -u)" = 0 ] || die "needs root"
[ -n "$CG2" ] || die "no cgroup v2 mount in /proc/mounts"
for f in sl-bench-client sl-bench-server sl-bench-gen sl-bench-progstat; do
	[ -x "$BB/$f" ] || die "$BB/$f not built (run make)"
done
command -v jq >/dev/null || die "jq not installed (tools/install-deps.sh)"

NS=$ID
ip netns add "$NS" || die "netns $NS"
NSS+=("$NS")
ip -n "$NS" link set lo up || die "lo up in $NS"
mkdir -p "$CG/server" || die "cgroup $CG"
vip='' eps=''
eval "$("$BB/sl-bench-gen" targets "$N" | grep -v ^weights=)"
"$BB/sl-bench-gen" --lb "$LB" yaml "$N" >"$TMP/svc.yaml"
for i in "${!CLIS[@]}"; do
	mkdir -p "$CG/v$i" || die "cgroup $CG/v$i"
	PINS+=("/sys/fs/bpf/$ID-$i")
	"${CLIS[$i]}" load --pin-root "/sys/fs/bpf/$ID-$i" --cgroup "$CG/v$i" >"$TMP/load.out" 2>&1 ||
		die "${CLIS[$i]} load: $(tail -n 3 "$TMP/load.out")"
	"${CLIS[$i]}" apply --pin-root "/sys/fs/bpf/$ID-$i" -f "$TMP/svc.yaml" >"$TMP/apply.out" 2>&1 ||
		die "${CLIS[$i]} apply: $(tail -n 3 "$TMP/apply.out")"
done
# shellcheck disable=SC2086,SC2016 # eps is a list; $$, $0, $@ are the inner shell's
sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/server" \
	nsenter --net="/run/netns/$NS" -- "$BB/sl-bench-server" -r "$TMP/ready" $eps \
	>"$TMP/server.out" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do [ -e "$TMP/ready" ] && break; sleep 0.05; done
[ -e "$TMP/ready" ] || die "server did not start: $(cat "$TMP/server.out")"

log "$N services, $LB, $ROUNDS rounds of $CONNS connections; builds: ${CLIS[*]}"
for ((r = 1; r <= ROUNDS; r++)); do
	order=("${!CLIS[@]}")
	((r % 2 == 0)) && mapfile -t order < <(printf '%s\n' "${!CLIS[@]}" | tac)
	for i in "${order[@]}"; do
		# shellcheck disable=SC2016 # $$, $0 and $@ are the inner shell's
		"$BB/sl-bench-progstat" -o "$TMP/ps.json" "$CG/v$i" -- \
			sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/v$i" \
			nsenter --net="/run/netns/$NS" -- \
			"$BB/sl-bench-client" -n "$CONNS" -w 100 "$vip" >/dev/null ||
			die "round $r build $i: the client or progstat failed"
		jq -r -s --argjson r "$r" --argjson i "$i" --argjson n $((CONNS + 100)) \
			'[$r, $i, ([.[] | select(.attach == "connect4") | .run_time_ns] | add / $n),
			  ([.[] | .run_time_ns] | add / $n)] | @tsv' "$TMP/ps.json" >>"$DATA"
	done
	log "round $r/$ROUNDS"
done

# Per build: medians over rounds of its cost / the mean of build 0 and its twin.
awk -v last=$((${#CLIS[@]} - 1)) -F'\t' '
	{ c[$1, $2] = $3; t[$1, $2] = $4; if ($1 > R) R = $1 }
	function median(a, n,   i, j, x) {
		for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		for (r = 1; r <= R; r++) ab[r] = c[r, 0]
		printf "%-8s connect4 %6.0f ns\n", "build 0", median(ab, R)
		for (i = 1; i <= last; i++) {
			wins = 0
			for (r = 1; r <= R; r++) {
				bc = i == last ? c[r, 0] : (c[r, 0] + c[r, last]) / 2
				bt = i == last ? t[r, 0] : (t[r, 0] + t[r, last]) / 2
				rc[r] = c[r, i] / bc; rt[r] = t[r, i] / bt; wins += rc[r] < 1
				ab[r] = c[r, i]
			}
			printf "%-8s connect4 %6.0f ns, / build 0: %.3f, whole connection %.3f, cheaper in %d of %d rounds\n",
				i == last ? "twin" : "build " i, median(ab, R), median(rc, R), median(rt, R), wins, R
		}
	}' "$DATA"
