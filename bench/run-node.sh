#!/usr/bin/env bash
# Sluice node-ingress benchmark (issue 3): the per-packet cost of sl_xdp_lb
# against a parse-only floor, at 1 and 10,000 frontends; the packet rate
# through a veth with a live-frames generator against XDP_DROP and the
# kernel's own forwarding and iptables DNAT; the cost of the pod-interface
# flow counters. See bench/README.md, "Node ingress (issue 3)".
#
#   bench/run-node.sh [BUILD_DIR]
#
# Knobs (environment): NODE_PARTS ("cost pflow rate"), NODE_ROUNDS (5),
# NODE_COUNTS ("1 10000" frontends), NODE_KINDS ("tcp4 udp4 tcp6"),
# NODE_CALLS (20000 one-packet calls per figure), NODE_REPEAT (200000),
# NODE_FRAMES (2000000 per rate round), NODE_FLOWS (64), NODE_CPU (1),
# NODE_RATE_VARIANTS ("gen drop redirect lb lb-redirect fwd ipt-legacy ipt-nft"),
# NODE_RAW (bench/RESULTS-raw.tsv: the rows are appended there).
#
# The rate part creates network namespaces sl-node-<pid>-<random>-*, removed
# on exit whatever happened (trap); iptables rules exist only inside them.
# Prints the tables (with the ratios the issue sets targets for) on stdout.
set -u -o pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" 2>/dev/null && pwd) || { echo "bench: no build dir ${1:-$SRC/build}" >&2; exit 2; }
BB=$BUILD/bench
PARTS=${NODE_PARTS:-"cost pflow rate"}
ROUNDS=${NODE_ROUNDS:-5}
COUNTS=${NODE_COUNTS:-"1 10000"}
KINDS=${NODE_KINDS:-"tcp4 udp4 tcp6"}
CALLS=${NODE_CALLS:-20000}
REPEAT=${NODE_REPEAT:-200000}
FRAMES=${NODE_FRAMES:-2000000}
FLOWS=${NODE_FLOWS:-64}
CPU=${NODE_CPU:-1}
RATE_VARIANTS=${NODE_RATE_VARIANTS:-"gen drop redirect lb lb-redirect fwd ipt-legacy ipt-nft"}
RAW=${NODE_RAW:-$SRC/bench/RESULTS-raw.tsv}

ID=sl-node-$$-$RANDOM
. "$SRC/bench/lib.sh"
FAILED=0

preflight() {
	local f
	[ "$(id -u)" = 0 ] || die "needs root (BPF, netns)"
	for f in sl-xdp-cost sl-xdp-rate; do
		[ -x "$BB/$f" ] || die "$BB/$f not built (run make)"
	done
	for f in ip ethtool; do
		command -v "$f" >/dev/null || die "$f not installed (tools/install-deps.sh)"
	done
	[ "$(nproc)" -gt "$CPU" ] || die "CPU $CPU does not exist (NODE_CPU)"
	# Private copies: a make in this tree while we run must not swap the
	# programs under test (the skeletons are inside the binaries).
	mkdir -p "$TMP/bin" && cp "$BB/sl-xdp-cost" "$BB/sl-xdp-rate" "$TMP/bin/" || die "copy binaries"
	# What was measured: the objects the skeletons were generated from.
	PROGS_ID=$(for f in xdp_lb tc_pod; do
		printf '%s.bpf.o %s (%s) ' "$f" "$(sha256sum "$BUILD/bpf/$f.bpf.o" | cut -c1-12)" \
			"$(date -u -r "$BUILD/bpf/$f.bpf.o" +%H:%M:%SZ)"; done)
	[ "$BUILD/bpf/xdp_lb.bpf.o" -nt "$BB/sl-xdp-cost" ] &&
		log "warning: build/bpf/xdp_lb.bpf.o is newer than sl-xdp-cost: make first"
	BB=$TMP/bin
	COMMIT=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
	DIRTY=$(git -C "$SRC" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
	QEMU=$(pgrep -c qemu 2>/dev/null || true)
	[ "${QEMU:-0}" -gt 0 ] && log "warning: $QEMU qemu processes running: figures will be noisy"
}

# --- per-packet cost -----------------------------------------------------------

# tool OUT ERR CMD...: CMD's rows appended to OUT; in the background, so
# that an interrupted run stops it (its links detach when it exits) before
# the namespaces go.
tool() {
	local out=$1 err=$2 rc
	shift 2
	"$@" >>"$out" 2>"$err" &
	PIDS+=("$!")
	wait "$!"
	rc=$?
	unset 'PIDS[-1]' # ended: nothing left to stop at cleanup
	return $rc
}

part_cost() {
	log "== per-packet cost: sl_xdp_lb vs floor; frontends $COUNTS; kinds $KINDS; $ROUNDS rounds"
	tool "$DATA" "$TMP/cost.err" "$BB/sl-xdp-cost" xdp -f "$COUNTS" -k "$KINDS" -r "$ROUNDS" \
		-c "$CALLS" -R "$REPEAT" ||
		{ FAILED=1; log "sl-xdp-cost xdp FAILED: $(tail -n 20 "$TMP/cost.err")"; }
}

part_pflow() {
	log "== flow counters: sl_tc_pod_* count_flows 1 vs 0; $ROUNDS rounds"
	tool "$DATA" "$TMP/pflow.err" "$BB/sl-xdp-cost" pflow -r "$ROUNDS" -R "$REPEAT" ||
		{ FAILED=1; log "sl-xdp-cost pflow FAILED: $(tail -n 20 "$TMP/pflow.err")"; }
}

# --- packet rate -------------------------------------------------------------------

mk_netns() {
	ip netns add "$1" || die "ip netns add $1"
	NSS+=("$1")
	in_ns "$1" ip link set lo up
	# No IPv6: no router solicitations or MLD reports among the frames.
	in_ns "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# gen (10.200.1.2, slg0) == veth == (sln0 10.200.1.1) node (slx0 10.200.2.1)
#   == veth == (sle0 10.200.2.2) ep. The endpoints 10.200.2.2-5 are all
# behind sle0 (permanent neighbour entries: no ARP during the runs); the
# sink on sle0 drops whatever arrives. GRO on sln0 lets the veth take
# redirected frames when no XDP program is attached there.
mk_world() {
	local w=$1 g=$1-g n=$1-n e=$1-e mac i
	mk_netns "$g"
	mk_netns "$n"
	mk_netns "$e"
	ip link add slg0 netns "$g" type veth peer name sln0 netns "$n" || die "veth gen-node"
	ip link add slx0 netns "$n" type veth peer name sle0 netns "$e" || die "veth node-ep"
	in_ns "$g" ip addr add 10.200.1.2/24 dev slg0
	in_ns "$n" ip addr add 10.200.1.1/24 dev sln0
	in_ns "$n" ip addr add 10.200.2.1/24 dev slx0
	in_ns "$e" ip addr add 10.200.2.2/24 dev sle0
	in_ns "$g" ip link set slg0 up
	in_ns "$n" ip link set sln0 up
	in_ns "$n" ip link set slx0 up
	in_ns "$e" ip link set sle0 up
	in_ns "$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.sln0.rp_filter=0 || die "sysctl in $n"
	in_ns "$n" ethtool -K sln0 gro on >/dev/null || die "gro on sln0"
	mac=$(in_ns "$e" cat /sys/class/net/sle0/address)
	for i in 2 3 4 5; do
		in_ns "$n" ip neigh replace "10.200.2.$i" lladdr "$mac" dev slx0 nud permanent ||
			die "neighbour 10.200.2.$i"
	done
}

# kube-proxy's shape for one UDP service of 4 endpoints (equal shares), in
# the nat table of the node namespace: PREROUTING -> KUBE-SERVICES ->
# KUBE-SVC -> KUBE-SEP -> DNAT.
ipt_rules() {
	cat <<'EOF'
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-BENCH - [0:0]
:KUBE-SEP-BENCH1 - [0:0]
:KUBE-SEP-BENCH2 - [0:0]
:KUBE-SEP-BENCH3 - [0:0]
:KUBE-SEP-BENCH4 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 198.18.0.1/32 -p udp -m comment --comment "bench/svc external IP" -m udp --dport 80 -j KUBE-SVC-BENCH
-A KUBE-SVC-BENCH -m statistic --mode random --probability 0.25000000000 -j KUBE-SEP-BENCH1
-A KUBE-SVC-BENCH -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-BENCH2
-A KUBE-SVC-BENCH -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-BENCH3
-A KUBE-SVC-BENCH -j KUBE-SEP-BENCH4
-A KUBE-SEP-BENCH1 -p udp -m udp -j DNAT --to-destination 10.200.2.2:8080
-A KUBE-SEP-BENCH2 -p udp -m udp -j DNAT --to-destination 10.200.2.3:8080
-A KUBE-SEP-BENCH3 -p udp -m udp -j DNAT --to-destination 10.200.2.4:8080
-A KUBE-SEP-BENCH4 -p udp -m udp -j DNAT --to-destination 10.200.2.5:8080
COMMIT
EOF
}

rate_variant() {
	local v=$1 w=$ID-$1 mode dst=198.18.0.1 extra=()
	case $v in
	gen) mode=gen ;;
	drop) mode=drop ;;
	redirect) mode=redirect extra=(-o slx0) ;;
	lb) mode=lb ;;
	lb-redirect) mode=lb extra=(-R) ;;
	fwd) mode=plain dst=10.200.2.2 ;;
	ipt-*)
		mode=plain
		command -v "iptables-${v#ipt-}-restore" >/dev/null || { log " $v: iptables-${v#ipt-}-restore missing, skipped"; return 0; }
		;;
	*) log " unknown rate variant $v"; FAILED=1; return 0 ;;
	esac
	mk_world "$w"
	if [ "${v#ipt-}" != "$v" ]; then
		ipt_rules | in_ns "$w-n" "iptables-${v#ipt-}-restore" || die "iptables-${v#ipt-}-restore"
	fi
	log " $v"
	tool "$DATA" "$TMP/rate-$v.err" "$BB/sl-xdp-rate" -m "$mode" -v "$v" -g "$w-g:slg0" \
		-x "$w-n:sln0" -e "$w-e:sle0" -d "$dst" -p 80 -n "$FRAMES" -r "$ROUNDS" -F "$FLOWS" \
		-c "$CPU" "${extra[@]}" ||
		{ FAILED=1; log " $v FAILED: $(tail -n 20 "$TMP/rate-$v.err")"; }
	ip netns del "$w-g"
	ip netns del "$w-n"
	ip netns del "$w-e"
}

part_rate() {
	local v
	log "== packet rate: $FRAMES 64-byte frames x $ROUNDS rounds, $FLOWS flows, CPU $CPU"
	for v in $RATE_VARIANTS; do rate_variant "$v"; done
}

# --- report ------------------------------------------------------------------------

# Medians per key and the ratios with targets, from the rows in $DATA.
report() {
	awk -F'\t' -v commit="$COMMIT" -v dirty="$DIRTY" -v kernel="$(uname -r)" -v date="$START_DATE" \
		-v qemu="${QEMU:-0}" -v load="$LOAD_BEFORE / $LOAD_AFTER" -v progs="$PROGS_ID" \
		-f /dev/fd/3 "$DATA" 3<<'EOF'
function med(key,   n, i, j, t, a) {
	n = cnt[key]
	if (!n) return -1
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(key, v) { cnt[key]++; val[key, cnt[key]] = v + 0 }
function ratio(a, b) { return (a >= 0 && b > 0) ? sprintf("%.2fx", a / b) : "-" }
function verdict(ok) { return ok ? "met" : "**not met**" }
$1 == "xdpcost" { add($2 SUBSEP $3 SUBSEP $4 SUBSEP $5, $7); fe[$2] = 1; kind[$3] = 1; if (!($3 in korder)) { korder[$3] = ++nk; kl[nk] = $3 } }
$1 == "pflow" { add("pf" SUBSEP $2 SUBSEP $3, $5); pfr[$2, $3, $4] = $5; if ($4 > pfmax) pfmax = $4 }
$1 == "xdprun" { prun[$2] = sprintf("%s %.1f", $3, $5) }
$1 == "xdprate" { add("rate" SUBSEP $2, $8); add("sent" SUBSEP $2, $6); if (!($2 in vorder)) { vorder[$2] = ++nv; vl[nv] = $2 } }
END {
	printf "node-ingress benchmark: %s, commit %s (%d files modified), kernel %s, qemu processes %d, load %s\n", date, commit, dirty, kernel, qemu, load
	printf "programs: %s\n\n", progs
	nf = 0
	for (f in fe) fl[++nf] = f + 0
	for (i = 2; i <= nf; i++) { t = fl[i]; for (j = i - 1; j >= 1 && fl[j] > t; j--) fl[j + 1] = fl[j]; fl[j + 1] = t }
	if (nk) {
		print "Per-packet cost, ns (median of rounds; kernel's opts.duration)"
		print ""
		print "| kind | frontends | method | empty prog | floor | established | new flow | non-service | est / floor | est / floor, net of empty |"
		print "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
		for (k = 1; k <= nk; k++) for (i = 1; i <= nf; i++) {
			K = kl[k]; F = fl[i]
			fl_c = med(F SUBSEP K SUBSEP "floor" SUBSEP "call"); e_c = med(F SUBSEP K SUBSEP "est" SUBSEP "call")
			printf "| %s | %d | call | - | %.1f | %.1f | %.1f | %.1f | %s | - |\n", K, F, fl_c, e_c,
				med(F SUBSEP K SUBSEP "new" SUBSEP "call"), med(F SUBSEP K SUBSEP "nonsvc" SUBSEP "call"), ratio(e_c, fl_c)
			nop = med(F SUBSEP K SUBSEP "nop" SUBSEP "repeat"); flr = med(F SUBSEP K SUBSEP "floor" SUBSEP "repeat")
			# Replayed cases are net of the replay; add the empty program
			# back to compare with what a direct run reports.
			e_r = med(F SUBSEP K SUBSEP "est" SUBSEP "repeat"); n_r = med(F SUBSEP K SUBSEP "new" SUBSEP "repeat")
			est[K, F] = e_r + nop; estc[K, F] = e_c; flo[K, F] = flr
			printf "| %s | %d | repeat | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %s |\n", K, F, nop, flr, e_r + nop, n_r + nop,
				med(F SUBSEP K SUBSEP "nonsvc" SUBSEP "repeat"), ratio(e_r + nop, flr), ratio(e_r, flr - nop)
		}
		print ""
		print "Targets (repeat method, established flow, as the kernel reports a run):"
		for (k = 1; k <= nk; k++) for (i = 1; i <= nf; i++) {
			K = kl[k]; F = fl[i]
			printf "- %s, %d frontends: established / floor = %s (target <= 2.5x): %s\n", K, F, ratio(est[K, F], flo[K, F]), verdict(est[K, F] <= 2.5 * flo[K, F])
		}
		for (k = 1; k <= nk; k++) if (nf > 1) {
			K = kl[k]; A = fl[1]; B = fl[nf]
			if (!((K, A) in est) || !((K, B) in est)) continue
			printf "- %s: %d vs %d frontends, established: repeat %s, call %s (target <= 1.05x): %s\n", K, B, A,
				ratio(est[K, B], est[K, A]), ratio(estc[K, B], estc[K, A]), verdict(est[K, B] <= 1.05 * est[K, A])
		}
		print ""
	}
	if (cnt["pf" SUBSEP "from" SUBSEP 1]) {
		print "Flow counters (sl_tc_pod_*, established TCP flow, ns per packet, median)"
		print ""
		print "| direction | count_flows=1 | count_flows=0 | difference | same-round differences, median | target <= 15 ns |"
		print "|---|---:|---:|---:|---:|---|"
		split("from to", dirs, " ")
		for (d = 1; d <= 2; d++) {
			a = med("pf" SUBSEP dirs[d] SUBSEP 1); b = med("pf" SUBSEP dirs[d] SUBSEP 0)
			# Rounds alternate 1 and 0: a round's pair shares the machine's state.
			for (rr = 1; rr <= pfmax; rr++)
				if (((dirs[d], 1, rr) in pfr) && ((dirs[d], 0, rr) in pfr))
					add("pfd" SUBSEP dirs[d], pfr[dirs[d], 1, rr] - pfr[dirs[d], 0, rr])
			p = med("pfd" SUBSEP dirs[d])
			printf "| %s pod | %.1f | %.1f | %.1f | %.1f | %s |\n", dirs[d], a, b, a - b, p, verdict(a - b <= 15)
		}
		print ""
	}
	if (nv) {
		print "Packet rate through veth, 64-byte UDP frames, one CPU (median of rounds)"
		print ""
		print "| variant | generated pps | arrived pps | ns per frame | receive side ns | rate vs XDP_DROP |"
		print "|---|---:|---:|---:|---:|---:|"
		drop = med("rate" SUBSEP "drop")
		gen_ns = cnt["sent" SUBSEP "gen"] ? 1e9 / med("sent" SUBSEP "gen") : -1
		for (i = 1; i <= nv; i++) {
			v = vl[i]; sp = med("sent" SUBSEP v); ap = med("rate" SUBSEP v)
			if (v == "gen") {
				printf "| gen (generator alone) | %.0f | - | %.1f | - | - |\n", sp, 1e9 / sp
				continue
			}
			r[v] = ap
			ns = ap > 0 ? 1e9 / ap : -1
			rx[v] = (ns > 0 && gen_ns > 0) ? ns - gen_ns : -1
			printf "| %s | %.0f | %.0f | %.1f | %s | %s |\n", v, sp, ap, ns,
				(rx[v] >= 0 ? sprintf("%.1f", rx[v]) : "-"), ratio(ap, drop)
		}
		ipt = -1
		for (v in r) if (v ~ /^ipt-/ && r[v] > ipt) { ipt = r[v]; iptv = v }
		print ""
		print "(receive side = ns per frame minus the generator's own; everything shares one CPU)"
		print ""
		print "The node-side XDP program's own run time in the live path (kernel run-time statistics, one extra run; they add two clock reads per run):"
		for (i = 1; i <= nv; i++) if (vl[i] in prun) { split(prun[vl[i]], pr, " "); printf "- %s: %s %.1f ns per packet\n", vl[i], pr[1], pr[2] }
		print ""
		for (v in r) if (v ~ /^lb/) {
			if (drop > 0) printf "- %s / drop = %s (target >= 0.9x): %s\n", v, ratio(r[v], drop), verdict(r[v] >= 0.9 * drop)
			if (ipt > 0) printf "- %s / %s (the faster iptables) = %s (target >= 3x): %s\n", v, iptv, ratio(r[v], ipt), verdict(r[v] >= 3 * ipt)
			if (rx[v] > 0 && rx["drop"] > 0) printf "- %s receive side: %s the cost of XDP_DROP's\n", v, ratio(rx[v], rx["drop"])
		}
		if (("lb-redirect" in r) && ("redirect" in r)) {
			printf "- lb-redirect / redirect (XDP forwarding with no lookup) = %s; receive side %s\n",
				ratio(r["lb-redirect"], r["redirect"]), ratio(rx["lb-redirect"], rx["redirect"])
		}
		if (("fwd" in r) && ("lb" in r)) printf "- lb / fwd (plain kernel forwarding, no NAT) = %s\n", ratio(r["lb"], r["fwd"])
	}
}
EOF
}

main() {
	local p
	preflight
	START_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	log "bench $ID: parts $PARTS; commit $COMMIT ($DIRTY files modified); kernel $(uname -r)"
	printf 'node\t%s\t%s\t%s\t%s\tqemu=%s\t%s\n' "$START_DATE" "$COMMIT" "$DIRTY" "$(uname -r)" \
		"${QEMU:-0}" "$PROGS_ID" >"$DATA"
	for p in $PARTS; do
		case $p in
		cost) part_cost ;;
		pflow) part_pflow ;;
		rate) part_rate ;;
		*) die "unknown part $p (NODE_PARTS)" ;;
		esac
	done
	LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
	report || FAILED=1
	cat "$DATA" >>"$RAW" || FAILED=1
	log "rows appended to $RAW"
	[ "$FAILED" = 0 ] || { log "some parts FAILED (see above)"; return 1; }
}

main
