#!/usr/bin/env bash
# Apply benchmark (issue 10): what an apply costs against what it changes,
# side by side in one run, at N services x 4 endpoints (default 10,000):
#
#   a. a one-object change, the data-plane part: the write of the inactive
#      slot + the switch, as `sluice apply` reports it;
#   b. the same `sluice apply -f ONE-OBJECT.yaml`, end to end (process
#      start to exit); b2. the same for one new object of other kinds (a
#      VirtualService with new endpoint pairs, a Kubernetes Service and its
#      EndpointSlice, an AuthorizationPolicy with a selector); b3. in a pin
#      root of N Kubernetes Services with 2 Pods each, a new NetworkPolicy,
#      a relabelled Pod, a new Pod;
#   c. the agent: sluiced watching a directory of one file per service;
#      one file renamed into place, from rename() to the switch (the
#      generation in sl_config changing, read in a tight loop on another
#      CPU), and the agent's own apply time from its log; the same for new
#      files of the kinds of b2; c3. the same on b3's world, one file per
#      Kubernetes Service: a Pod relabelled, a Service's port moved, a new
#      Pod;
#   d. a full apply from YAML into an empty pin root, against libyaml alone
#      parsing the same file (the floor: sl-bench-yaml) and
#      iptables-restore (legacy and nft) of kube-proxy's rules for the same
#      services into an empty nat table (a fresh netns each);
#   e. `sluice metrics` of the pin root a and b left (N services), SCRAPES
#      times: wall time and the size of the answer (no alternative to put
#      beside it: the figure is for the operator's scrape budget).
# Rounds of (d) are interleaved (floor, sluice, legacy, nft, floor, ...).
# Writes the generated "Applies (issue 10)" section of bench/RESULTS.md and
# bench/RESULTS-apply-raw.tsv.
#
#   bench/run-apply.sh [BUILD_DIR]
#
# Knobs: BENCH_APPLY_N (10000), BENCH_APPLY_ROUNDS (3), BENCH_APPLY_CHANGES
# (10), BENCH_SCRAPES (5), BENCH_IPT ("legacy nft"), BENCH_AGENT_CPU (0), BENCH_WATCH_CPU (1),
# BENCH_OUT (bench/RESULTS.md).
#
# Pin roots, cgroups and netns are named sl-bench-apply-<pid>-<random> and
# removed on exit whatever happened; the agent and the CLI attach only to
# this run's own cgroup, never to the root cgroup.
set -u -o pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" 2>/dev/null && pwd) || { echo "bench: no build dir ${1:-$SRC/build}" >&2; exit 2; }
N=${BENCH_APPLY_N:-10000}
ROUNDS=${BENCH_APPLY_ROUNDS:-3}
CHANGES=${BENCH_APPLY_CHANGES:-10}
SCRAPES=${BENCH_SCRAPES:-5}
IPT_WANT=${BENCH_IPT:-"legacy nft"}
AGENT_CPU=${BENCH_AGENT_CPU:-0}
WATCH_CPU=${BENCH_WATCH_CPU:-1}
OUT=${BENCH_OUT:-$SRC/bench/RESULTS.md}

ID=sl-bench-apply-$$-$RANDOM
. "$SRC/bench/lib.sh"

preflight() {
	local f
	[ "$(id -u)" = 0 ] || die "needs root (BPF, cgroups, netns, iptables)"
	[ -n "$CG2" ] || die "no cgroup v2 mount in /proc/mounts"
	[ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ] || die "bpffs not mounted at /sys/fs/bpf"
	for f in sluice sluiced bench/sl-bench-gen bench/sl-bench-yaml bench/sl-bench-watch; do
		[ -x "$BUILD/$f" ] || die "$BUILD/$f not built (run make)"
	done
	for f in ip nsenter taskset; do
		command -v "$f" >/dev/null || die "$f not installed (tools/install-deps.sh)"
	done
	[ "$(nproc)" -gt "$AGENT_CPU" ] && [ "$(nproc)" -gt "$WATCH_CPU" ] ||
		die "CPUs $AGENT_CPU/$WATCH_CPU do not exist (BENCH_AGENT_CPU, BENCH_WATCH_CPU)"
	IPTS=()
	for f in $IPT_WANT; do
		if command -v "iptables-$f-restore" >/dev/null; then IPTS+=("$f")
		else log "iptables-$f-restore missing: variant ipt-$f skipped"; fi
	done
	# Private copies: a `make` in this tree during the run must not swap them.
	mkdir -p "$TMP/bin" && cp "$BUILD/sluice" "$BUILD/sluiced" "$BUILD"/bench/sl-bench-* "$TMP/bin/" ||
		die "copy binaries"
	SLUICE=$TMP/bin/sluice SLUICED=$TMP/bin/sluiced BB=$TMP/bin
	COMMIT=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
	DIRTY=$(git -C "$SRC" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
	mkdir -p "$CG/cli" "$CG/agent" || die "cgroups under $CG"
}

in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" -- "$@"; }


sluice_load() { # PIN CGROUP
	PINS+=("$1")
	"$SLUICE" load --pin-root "$1" --cgroup "$2" >"$TMP/load.out" 2>&1 ||
		die "sluice load --pin-root $1: $(tail -n 5 "$TMP/load.out")"
}
sluice_unload() { "$SLUICE" unload --pin-root "$1" >/dev/null 2>&1; rm -rf "$1"; }

# The CLI's report line: "... (parse+compile X ms, <kind> write of K changed
# services W ms, switch S ms, store T ms, replay R ms; ...)" -> X W S T R,
# tab-separated: a data row is KIND ROUND VARIANT WALL-MS X W S T R.
cli_parts() {
	sed -n 's/.*parse+compile \([0-9.]*\) ms, .* write of [0-9]* changed services \([0-9.]*\) ms, switch \([0-9.]*\) ms, store \([0-9.]*\) ms, replay \([0-9.]*\) ms.*/\1\t\2\t\3\t\4\t\5/p' "$1" | head -n 1
}

gen_inputs() {
	log "generating $N services"
	"$BB/sl-bench-gen" yaml "$N" >"$TMP/svc.yaml" || die "sl-bench-gen yaml"
	"$BB/sl-bench-gen" iptables "$N" >"$TMP/ipt.rules" || die "sl-bench-gen iptables"
	"$BB/sl-bench-gen" yaml-change "$N" 1 >"$TMP/chg-1.yaml"
	"$BB/sl-bench-gen" yaml-change "$N" 0 >"$TMP/chg-0.yaml"
	# The agent's directory: one file per service (its ServiceEntry and
	# DestinationRule), as GitOps tools write them.
	mkdir -p "$TMP/conf"
	awk -v dir="$TMP/conf" 'BEGIN { RS = "---\n" }
		NR > 1 && /kind: ServiceEntry/ {
			match($0, /name: svc-[0-9]+/)
			if (f) close(f)
			f = dir "/" substr($0, RSTART + 6, RLENGTH - 6) ".yaml"
		}
		NR > 1 && f { printf "---\n%s", $0 > f }' "$TMP/svc.yaml"
	LAST=$(printf 'svc-%05d' $((N - 1)))
	[ "$(find "$TMP/conf" -name '*.yaml' | wc -l)" = "$N" ] || die "split into $N files"
	# The changed file: the ServiceEntry with the moved endpoint, the same rule.
	for v in 0 1; do
		{ cat "$TMP/chg-$v.yaml"
		  awk 'BEGIN { RS = "---\n" } /kind: DestinationRule/ { printf "---\n%s", $0 }' "$TMP/conf/$LAST.yaml"
		} >"$TMP/agent-chg-$v.yaml"
	done
}

# --- d. full apply ---------------------------------------------------------------

# The kernel tears a network namespace down, and frees an unloaded pin
# root's maps, on a work queue after the command returns. With the
# namespaces deleted inside the rounds, even the one-thread floor jumped
# from 116 to 207-232 ms in some rounds (2026-12-06); with them kept until
# the end (cleanup) and a pause before every timed variant it stayed
# within 114-146 ms.
settle() { sleep 1; }

bench_full() {
	local r f ms pin ns out
	for ((r = 1; r <= ROUNDS; r++)); do
		settle
		out=$("$BB/sl-bench-yaml" "$TMP/svc.yaml") || die "sl-bench-yaml"
		ms=$(sed 's/.*"ms": \([0-9.]*\).*/\1/' <<<"$out")
		printf 'full\t%s\tlibyaml\t%s\t\n' "$r" "$ms" >>"$DATA"
		log " round $r: libyaml parse $ms ms"
		pin=/sys/fs/bpf/$ID-full-$r
		sluice_load "$pin" "$CG/cli"
		settle
		timed ms "$SLUICE" apply --pin-root "$pin" -f "$TMP/svc.yaml" >"$TMP/apply.out" 2>"$TMP/apply.err" ||
			die "sluice apply: $(head -c 800 "$TMP/apply.err")"
		printf 'full\t%s\tsluice\t%s\t%s\n' "$r" "$ms" "$(cli_parts "$TMP/apply.out")" >>"$DATA"
		printf 'fullline\t%s\t%s\n' "$r" "$(head -n 1 "$TMP/apply.out")" >>"$DATA"
		log " round $r: sluice apply $ms ms: $(head -n 1 "$TMP/apply.out")"
		[ "$r" -lt "$ROUNDS" ] && sluice_unload "$pin"
		for f in "${IPTS[@]}"; do
			ns=$ID-$f-$r
			ip netns add "$ns" || die "ip netns add $ns"
			NSS+=("$ns")
			settle
			timed ms in_ns "$ns" "iptables-$f-restore" <"$TMP/ipt.rules" || die "iptables-$f-restore"
			printf 'full\t%s\tipt-%s\t%s\t\n' "$r" "$f" "$ms" >>"$DATA"
			log " round $r: iptables-$f-restore $ms ms"
		done
	done
	CLI_PIN=$pin
}

# --- a, b. one object through the CLI --------------------------------------------

bench_cli_change() {
	local r v ms moved got
	for ((r = 1; r <= CHANGES; r++)); do
		v=$((r % 2))
		timed ms "$SLUICE" apply --pin-root "$CLI_PIN" -f "$TMP/chg-$v.yaml" >"$TMP/apply.out" 2>"$TMP/apply.err" ||
			die "sluice apply (change): $(head -c 800 "$TMP/apply.err")"
		grep -q "incremental write of 1 changed services" "$TMP/apply.out" ||
			log "  change $r was not a one-service incremental write: $(head -n 1 "$TMP/apply.out")"
		printf 'cli\t%s\tsluice\t%s\t%s\n' "$r" "$ms" "$(cli_parts "$TMP/apply.out")" >>"$DATA"
	done
	printf 'cliline\t%s\n' "$(head -n 1 "$TMP/apply.out")" >>"$DATA"
	# The last change must be live: endpoint 3 of the last service moved
	# (variant 1) or back (0).
	moved=$(printf '127.2.%d.%d' $(((N - 1 + 1) >> 8 & 255)) $(((N - 1 + 1) & 255)))
	got=$("$SLUICE" get endpoints --pin-root "$CLI_PIN" -o json | grep -c -F "\"$moved:" || true)
	if { [ $((CHANGES % 2)) = 1 ] && [ "$got" -lt 1 ]; } || { [ $((CHANGES % 2)) = 0 ] && [ "$got" != 0 ]; }; then
		die "the last CLI change is not live ($moved seen $got times)"
	fi
	log " $CHANGES one-object applies done"
}

# --- b2. one object of other kinds --------------------------------------------------

# OBJ KIND R: one object of KIND, new in round R (new names, new pairs):
#   route    a VirtualService splitting svc-A 70/30 with svc-B: the pairs of
#            svc-A with B's endpoints are new, so they need state ids;
#   service  a Kubernetes Service and its EndpointSlice (2 endpoints);
#   authz    an AuthorizationPolicy whose selector no workload has.
other_obj() {
	local kind=$1 r=$2 a b
	a=$(printf 'svc-%05d' $(((r * 7919) % N))) b=$(printf 'svc-%05d' $(((r * 7919 + 1) % N)))
	case $kind in
	route) cat <<-EOF
		apiVersion: networking.istio.io/v1beta1
		kind: VirtualService
		metadata: {name: other-$r, namespace: bench}
		spec:
		  hosts: [$a.bench.svc.cluster.local]
		  tcp:
		  - route:
		    - {destination: {host: $a.bench.svc.cluster.local}, weight: 70}
		    - {destination: {host: $b.bench.svc.cluster.local}, weight: 30}
		EOF
		;;
	service) cat <<-EOF
		apiVersion: v1
		kind: Service
		metadata: {name: other-$r, namespace: bench}
		spec:
		  clusterIP: 10.99.$((r / 250)).$((r % 250 + 1))
		  ports: [{name: tcp, port: 80, targetPort: 8080}]
		---
		apiVersion: discovery.k8s.io/v1
		kind: EndpointSlice
		metadata: {name: other-$r-x, namespace: bench, labels: {kubernetes.io/service-name: other-$r}}
		addressType: IPv4
		ports: [{name: tcp, port: 8080}]
		endpoints: [{addresses: [127.5.$((r / 250)).$((r % 250 + 1))]}, {addresses: [127.6.$((r / 250)).$((r % 250 + 1))]}]
		EOF
		;;
	authz) cat <<-EOF
		apiVersion: security.istio.io/v1
		kind: AuthorizationPolicy
		metadata: {name: other-$r, namespace: bench}
		spec:
		  selector: {matchLabels: {app: other-$r}}
		  action: ALLOW
		  rules: [{from: [{source: {principals: [x]}}]}]
		EOF
		;;
	esac
}

# TAG PIN GEN KIND...: CHANGES rounds of one object of each KIND (GEN KIND
# ROUND writes it) through `sluice apply` into PIN; a data row each: TAG
# ROUND KIND WALL-MS, the CLI's parts, 1 if it was a whole compile.
apply_rounds() {
	local tag=$1 pin=$2 gen=$3 r kind ms
	shift 3
	for ((r = 1; r <= CHANGES; r++)); do
		for kind in "$@"; do
			"$gen" "$kind" "$r" >"$TMP/obj.yaml"
			timed ms "$SLUICE" apply --pin-root "$pin" -f "$TMP/obj.yaml" >"$TMP/apply.out" 2>"$TMP/apply.err" ||
				die "sluice apply ($kind $r): $(head -c 800 "$TMP/apply.err")"
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tag" "$r" "$kind" "$ms" "$(cli_parts "$TMP/apply.out")" \
				"$(grep -c 'whole compile' "$TMP/apply.out")" >>"$DATA"
		done
	done
	log " $CHANGES rounds of $* applies done"
}

bench_other() { apply_rounds other "$CLI_PIN" other_obj route service authz; }

# --- b3. NetworkPolicy and Pods at N Kubernetes services ----------------------------

# A pin root of its own holding what an API server holds for N services
# (sl-bench-gen k8s: a Service, its EndpointSlice and 2 Pods each, labels
# app, role (10 values) and shard (1,000 values), one NetworkPolicy). In
# round R, one object of each KIND through `sluice apply`:
#   netpol   a new NetworkPolicy selecting one service's pods and admitting
#            one shard's (20 pods);
#   relabel  a Pod moved to another shard (a label the policies there
#            mostly do not read: their tables are not compiled);
#   relabel-np  a Pod moved into or out of role r1, which the first
#            NetworkPolicy admits (its tables are compiled again);
#   newpod   a new Pod of a service (an address no slice names).
k8s_pod_ip() { # SERVICE J
	local x=$((2 * $1 + $2 + 1))
	printf '10.%d.%d.%d' $((128 + (x >> 16))) $(((x >> 8) & 255)) $((x & 255))
}
k8s_obj() {
	local kind=$1 r=$2 a
	a=$(((r * 7919) % N))
	case $kind in
	netpol) cat <<-EOF
		apiVersion: networking.k8s.io/v1
		kind: NetworkPolicy
		metadata: {name: np-$r, namespace: bench-k8s}
		spec:
		  podSelector: {matchLabels: {app: $(printf 'svc-%05d' "$a")}}
		  ingress: [{from: [{podSelector: {matchLabels: {shard: s$((r % 1000))}}}]}]
		EOF
		;;
	relabel) cat <<-EOF
		apiVersion: v1
		kind: Pod
		metadata: {name: $(printf 'svc-%05d' "$a")-0, namespace: bench-k8s, labels: {app: $(printf 'svc-%05d' "$a"), role: r$((a % 10)), shard: s$(((a + r) % 1000))}}
		status: {phase: Running, podIP: $(k8s_pod_ip "$a" 0)}
		EOF
		;;
	relabel-np) a=$(((r * 7919 + 3) % N)) && cat <<-EOF
		apiVersion: v1
		kind: Pod
		metadata: {name: $(printf 'svc-%05d' "$a")-1, namespace: bench-k8s, labels: {app: $(printf 'svc-%05d' "$a"), role: r$(((a % 10 == 1) + 1)), shard: s$((a % 1000))}}
		status: {phase: Running, podIP: $(k8s_pod_ip "$a" 1)}
		EOF
		;;
	newpod) cat <<-EOF
		apiVersion: v1
		kind: Pod
		metadata: {name: extra-$r, namespace: bench-k8s, labels: {app: $(printf 'svc-%05d' "$a"), role: r$((a % 10)), shard: s$((r % 1000))}}
		status: {phase: Running, podIP: 10.132.$((r >> 8 & 255)).$((r & 255))}
		EOF
		;;
	esac
}

bench_k8s() {
	local pin=/sys/fs/bpf/$ID-k8s ms
	"$BB/sl-bench-gen" k8s "$N" >"$TMP/k8s.yaml" || die "sl-bench-gen k8s"
	mkdir -p "$CG/k8s" || die "cgroup $CG/k8s"
	sluice_load "$pin" "$CG/k8s"
	timed ms "$SLUICE" apply --pin-root "$pin" -f "$TMP/k8s.yaml" >"$TMP/apply.out" 2>"$TMP/apply.err" ||
		die "sluice apply (k8s world): $(head -c 800 "$TMP/apply.err")"
	printf 'k8sfull\t%s\t%s\n' "$ms" "$(head -n 1 "$TMP/apply.out")" >>"$DATA"
	log " k8s world applied in $ms ms"
	apply_rounds k8s "$pin" k8s_obj netpol relabel relabel-np newpod
	printf 'k8sline\t%s\n' "$(head -n 2 "$TMP/apply.out" | tr '\n' ' ')" >>"$DATA"
	sluice_unload "$pin"
}

# --- e. a metrics scrape of the same pin root ---------------------------------------

bench_scrape() {
	local r ms
	for ((r = 1; r <= SCRAPES; r++)); do
		timed ms "$SLUICE" metrics --pin-root "$CLI_PIN" >"$TMP/metrics.txt" 2>"$TMP/metrics.err" ||
			die "sluice metrics: $(head -c 400 "$TMP/metrics.err")"
		printf 'scrape	%s	sluice	%s	%s	%s
' "$r" "$ms" "$(wc -l <"$TMP/metrics.txt")" \
			"$(wc -c <"$TMP/metrics.txt")" >>"$DATA"
	done
	log " $SCRAPES scrapes done"
}

# --- c. the agent ------------------------------------------------------------------

agent_gen() { sed -n 's/.*info  generation \([0-9]*\): .*/\1/p' "$TMP/agent.log" | tail -n 1; }

bench_agent() {
	local pin=/sys/fs/bpf/$ID-agent r v out us t0
	sluice_unload "$CLI_PIN"
	PINS+=("$pin")
	taskset -c "$AGENT_CPU" "$SLUICED" --pin-root "$pin" --cgroup "$CG/agent" --config-dir "$TMP/conf" \
		>"$TMP/agent.log" 2>&1 &
	PIDS+=("$!")
	t0=$SECONDS
	until [ -n "$(agent_gen)" ]; do
		((SECONDS - t0 < 120)) || die "the agent did not apply $N files: $(tail -n 3 "$TMP/agent.log")"
		sleep 0.2
	done
	printf 'agentstart\t%s\n' "$(grep 'info  generation' "$TMP/agent.log" | tail -n 1)" >>"$DATA"
	log " agent applied $N files: $(grep 'info  generation' "$TMP/agent.log" | tail -n 1)"
	for ((r = 1; r <= CHANGES; r++)); do
		v=$((r % 2))
		cp "$TMP/agent-chg-$v.yaml" "$TMP/conf/.chg.tmp"
		sleep 0.3 # quiet: no change waiting, the last apply > 100 ms ago
		out=$(taskset -c "$WATCH_CPU" "$BB/sl-bench-watch" "$pin" "$TMP/conf/.chg.tmp" "$TMP/conf/$LAST.yaml") ||
			die "sl-bench-watch: no switch ($(tail -n 3 "$TMP/agent.log"))"
		us=$(sed 's/.*"us": \([0-9.]*\).*/\1/' <<<"$out")
		sleep 0.05
		printf 'agent\t%s\t%s\t%s\n' "$r" "$us" \
			"$(grep 'info  generation' "$TMP/agent.log" | tail -n 1 | sed -n 's/.* in \([0-9.]*\) ms (\(.*\))$/\1\t\2/p')" >>"$DATA"
	done
	grep -q "(the changed files)" "$TMP/agent.log" || die "the agent never applied only the changed files"
	printf 'agentline\t%s\n' "$(grep 'info  generation' "$TMP/agent.log" | tail -n 1)" >>"$DATA"
	log " $CHANGES agent changes done"
	bench_agent_other "$pin"
}

# c2. New files of the kinds of b2, renamed into the agent's directory.
bench_agent_other() {
	local pin=$1 r kind out us gen
	for ((r = 1; r <= CHANGES; r++)); do
		for kind in route service authz; do
			other_obj "$kind" $((r + 1000)) >"$TMP/conf/.other.tmp"
			sleep 0.3
			out=$(taskset -c "$WATCH_CPU" "$BB/sl-bench-watch" "$pin" "$TMP/conf/.other.tmp" \
				"$TMP/conf/other-$kind-$r.yaml") ||
				die "sl-bench-watch ($kind $r): no switch ($(tail -n 3 "$TMP/agent.log"))"
			us=$(sed 's/.*"us": \([0-9.]*\).*/\1/' <<<"$out")
			gen=$(sed 's/.*"generation": \([0-9]*\).*/\1/' <<<"$out")
			# The log line of this apply, not the last one's.
			for _ in $(seq 100); do [ "$(agent_gen)" -ge "$gen" ] 2>/dev/null && break; sleep 0.02; done
			printf 'agentother\t%s\t%s\t%s\t%s\n' "$r" "$kind" "$us" \
				"$(grep 'info  generation' "$TMP/agent.log" | tail -n 1 | sed -n 's/.* in \([0-9.]*\) ms (\(.*\))$/\1\t\2/p')" >>"$DATA"
		done
	done
	log " $CHANGES rounds of new route, service and authz files done"
}

# c3. The agent on the world of b3, one file per Service (its EndpointSlice
# and Pods with it; the NetworkPolicy in the last one). In round R, one
# file of each KIND renamed into place:
#   relabel  a Service's file with its first Pod moved to another shard;
#   relabel-np  the same with its second Pod moved into or out of role r1;
#   svc      a Service's file with its port moved (80 <-> 81);
#   newpod   a new file holding a new Pod of a service.
k8s_agent_file() { # KIND R DIR: writes DIR/.k8s.tmp, prints the target name
	local kind=$1 r=$2 dir=$3 a f
	a=$(((r * 7919) % N))
	case $kind in
	relabel) f=$(printf 'svc-%05d' "$a").yaml
		sed "/name: $(printf 'svc-%05d' "$a")-0,/s/shard: s[0-9]*/shard: s$(((a + r + 500) % 1000))/" \
			"$dir/$f" >"$dir/.k8s.tmp" ;;
	relabel-np) a=$(((r * 7919 + 3) % N)) f=$(printf 'svc-%05d' "$a").yaml
		if grep -q "name: $(printf 'svc-%05d' "$a")-1,.*role: r1," "$dir/$f"; then
			sed "/name: $(printf 'svc-%05d' "$a")-1,/s/role: r[0-9]*/role: r$((a % 10 == 1 ? 2 : a % 10))/" "$dir/$f"
		else
			sed "/name: $(printf 'svc-%05d' "$a")-1,/s/role: r[0-9]*/role: r1/" "$dir/$f"
		fi >"$dir/.k8s.tmp" ;;
	svc) a=$(((r * 104729 + 1) % N)) f=$(printf 'svc-%05d' "$a").yaml
		if grep -q 'port: 80, targetPort' "$dir/$f"; then
			sed 's/port: 80, targetPort/port: 81, targetPort/' "$dir/$f"
		else
			sed 's/port: 81, targetPort/port: 80, targetPort/' "$dir/$f"
		fi >"$dir/.k8s.tmp" ;;
	newpod) f=extra-$r.yaml
		{ echo ---; k8s_obj newpod "$r"; } >"$dir/.k8s.tmp" ;;
	esac
	echo "$f"
}

bench_agent_k8s() {
	local pin=/sys/fs/bpf/$ID-agentk8s dir=$TMP/k8sconf r kind f out us gen t0
	mkdir -p "$dir" "$CG/agentk8s" || die "k8s agent directory"
	awk -v dir="$dir" 'BEGIN { RS = "---\n" }
		NR > 1 && /\nkind: Service\n/ {
			match($0, /name: svc-[0-9]+/)
			if (f) close(f)
			f = dir "/" substr($0, RSTART + 6, RLENGTH - 6) ".yaml"
		}
		NR > 1 && f { printf "---\n%s", $0 > f }' "$TMP/k8s.yaml"
	[ "$(find "$dir" -name '*.yaml' | wc -l)" = "$N" ] || die "k8s world split into $N files"
	PINS+=("$pin")
	: >"$TMP/agentk8s.log"
	taskset -c "$AGENT_CPU" "$SLUICED" --pin-root "$pin" --cgroup "$CG/agentk8s" --config-dir "$dir" \
		>"$TMP/agentk8s.log" 2>&1 &
	PIDS+=("$!")
	t0=$SECONDS
	until grep -q 'info  generation' "$TMP/agentk8s.log"; do
		((SECONDS - t0 < 180)) || die "the agent did not apply the k8s world: $(tail -n 3 "$TMP/agentk8s.log")"
		sleep 0.2
	done
	printf 'agentk8sstart\t%s\n' "$(grep 'info  generation' "$TMP/agentk8s.log" | tail -n 1)" >>"$DATA"
	for ((r = 1; r <= CHANGES; r++)); do
		for kind in relabel relabel-np svc newpod; do
			f=$(k8s_agent_file "$kind" "$r" "$dir")
			sleep 0.3
			out=$(taskset -c "$WATCH_CPU" "$BB/sl-bench-watch" "$pin" "$dir/.k8s.tmp" "$dir/$f") ||
				die "sl-bench-watch (k8s $kind $r): no switch ($(tail -n 3 "$TMP/agentk8s.log"))"
			us=$(sed 's/.*"us": \([0-9.]*\).*/\1/' <<<"$out")
			gen=$(sed 's/.*"generation": \([0-9]*\).*/\1/' <<<"$out")
			for _ in $(seq 100); do
				grep -q "info  generation $gen:" "$TMP/agentk8s.log" && break
				sleep 0.02
			done
			printf 'agentk8s\t%s\t%s\t%s\t%s\n' "$r" "$kind" "$us" \
				"$(grep "info  generation $gen:" "$TMP/agentk8s.log" | sed -n 's/.* in \([0-9.]*\) ms (\(.*\))$/\1\t\2/p')" >>"$DATA"
		done
	done
	log " $CHANGES rounds of relabel, relabel-np, svc and newpod files done"
}

# --- report ---------------------------------------------------------------------------

stats3() { # min median max of the numbers on stdin
	sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "- - -"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print v[1], m, v[NR] }'
}
col() { awk -F'\t' -v k="$1" -v w="$2" -v c="$3" '$1 == k && $3 == w { print $c }' "$DATA"; }
med() { stats3 | awk '{ print $2 }'; }

BEGIN_MARK='<!-- BEGIN GENERATED by bench/run-apply.sh: everything up to END GENERATED apply is overwritten -->'
END_MARK='<!-- END GENERATED apply -->'

# TAG KIND...: the table of apply_rounds TAG's rows.
rounds_table() {
	local tag=$1 k
	shift
	echo "| object | \`sluice apply\` end to end | write + switch | parse + compile | whole compiles |"
	echo "|---|---|---|---|---:|"
	for k in "$@"; do
		echo "| $k | $(col "$tag" "$k" 4 | stats3 | sed 's/ / \/ /g') | $(awk -F'\t' -v t="$tag" -v k="$k" '$1 == t && $3 == k { print $6 + $7 }' "$DATA" | stats3 | sed 's/ / \/ /g') | $(col "$tag" "$k" 5 | stats3 | sed 's/ / \/ /g') | $(col "$tag" "$k" 10 | awk '{ s += $1 } END { print s + 0 }') |"
	done
}

write_report() {
	local f floor sl
	echo "$BEGIN_MARK"
	echo
	echo "## Applies (issue 10): run of $START_DATE"
	echo
	echo "\`bench/run-apply.sh\`, ${ELAPSED} s; commit \`$COMMIT\`$([ "$DIRTY" -gt 0 ] && echo " with $DIRTY modified files")."
	echo "Kernel $(uname -r), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), load average $LOAD_BEFORE at the start, $LOAD_AFTER at the end."
	echo "$N services × 4 endpoints (\`sl-bench-gen\`: a ServiceEntry and a DestinationRule each, $(wc -c <"$TMP/svc.yaml") bytes of YAML)."
	echo
	echo "### a, b. One object changed through \`sluice apply\` ($CHANGES applies, min / median / max)"
	echo
	echo "| part | ms |"
	echo "|---|---|"
	echo "| data plane: write of the inactive slot + switch | $(awk -F'\t' '$1 == "cli" { print $6 + $7 }' "$DATA" | stats3 | sed 's/ / \/ /g') |"
	echo "| parse + compile (incremental) | $(col cli sluice 5 | stats3 | sed 's/ / \/ /g') |"
	echo "| replay on the other slot (after the switch) | $(col cli sluice 9 | stats3 | sed 's/ / \/ /g') |"
	echo "| \`sluice apply\` end to end (process wall time) | $(col cli sluice 4 | stats3 | sed 's/ / \/ /g') |"
	echo
	echo "Last CLI line: \`$(awk -F'\t' '$1 == "cliline" { print $2 }' "$DATA")\`"
	echo
	echo "### b2. One new object of other kinds through \`sluice apply\` ($CHANGES of each, after b)"
	echo
	echo "route: a VirtualService splitting one service with another (new endpoint pairs); service: a Kubernetes Service with its EndpointSlice; authz: an AuthorizationPolicy whose selector no workload has. Min / median / max, ms."
	echo
	rounds_table other route service authz
	echo
	echo "### b3. NetworkPolicy and Pods at $N Kubernetes services ($CHANGES of each)"
	echo
	echo "A pin root of its own: $N Services, each with an EndpointSlice and 2 Pods ($((4 * N + 1)) objects, \`sl-bench-gen k8s\`; the whole apply took $(awk -F'\t' '$1 == "k8sfull" { print $2 }' "$DATA") ms). netpol: a new NetworkPolicy selecting one service's pods and admitting one shard's 20; relabel: a Pod moved to another shard (a label no policy's selector answers differently for it, mostly: the NetworkPolicy tables are not compiled); relabel-np: a Pod moved into or out of role r1, which the first policy admits (they are); newpod: a new Pod of a service. Min / median / max, ms."
	echo
	rounds_table k8s netpol relabel relabel-np newpod
	echo
	echo "Last line: \`$(awk -F'\t' '$1 == "k8sline" { print $2 }' "$DATA")\`"
	echo
	echo "### c. The agent: one file of $N renamed into place ($CHANGES changes)"
	echo
	echo "| measure | ms (min / median / max) |"
	echo "|---|---|"
	echo "| rename() to switch (sl_config generation, polled on CPU $WATCH_CPU; agent on CPU $AGENT_CPU) | $(awk -F'\t' '$1 == "agent" { print $3 / 1000 }' "$DATA" | stats3 | sed 's/ / \/ /g') |"
	echo "| the agent's own apply time (its log) | $(awk -F'\t' '$1 == "agent" { print $4 }' "$DATA" | stats3 | sed 's/ / \/ /g') |"
	echo
	echo "Applies that took only the changed files: $(awk -F'\t' '$1 == "agent" && $5 == "the changed files"' "$DATA" | wc -l) of $CHANGES. Start (whole directory): \`$(awk -F'\t' '$1 == "agentstart" { print $2 }' "$DATA" | sed 's/^[^ ]* //')\`"
	echo
	echo "New files of the kinds of b2 renamed into the directory ($CHANGES of each), ms (min / median / max):"
	echo
	echo "| new file | rename() to switch | the agent's own apply time |"
	echo "|---|---|---|"
	for k in route service authz; do
		echo "| $k | $(awk -F'\t' -v k="$k" '$1 == "agentother" && $3 == k { print $4 / 1000 }' "$DATA" | stats3 | sed 's/ / \/ /g') | $(awk -F'\t' -v k="$k" '$1 == "agentother" && $3 == k { print $5 }' "$DATA" | stats3 | sed 's/ / \/ /g') |"
	done
	echo
	echo "### c3. The agent at $N Kubernetes services: one file of $N renamed into place ($CHANGES of each)"
	echo
	echo "The world of b3, one file per Service with its EndpointSlice and Pods, in a pin root of its own (start: \`$(awk -F'\t' '$1 == "agentk8sstart" { print $2 }' "$DATA" | sed 's/^[^ ]* //')\`). relabel: a file with its first Pod moved to another shard; relabel-np: a file with its second Pod moved into or out of role r1, which the NetworkPolicy admits; svc: a file with its Service's port moved; newpod: a new file holding a new Pod. ms (min / median / max):"
	echo
	echo "| file | rename() to switch | the agent's own apply time | applies of the changed files only |"
	echo "|---|---|---|---:|"
	for k in relabel relabel-np svc newpod; do
		echo "| $k | $(awk -F'\t' -v k="$k" '$1 == "agentk8s" && $3 == k { print $4 / 1000 }' "$DATA" | stats3 | sed 's/ / \/ /g') | $(awk -F'\t' -v k="$k" '$1 == "agentk8s" && $3 == k { print $5 }' "$DATA" | stats3 | sed 's/ / \/ /g') | $(awk -F'\t' -v k="$k" '$1 == "agentk8s" && $3 == k && $6 == "the changed files"' "$DATA" | wc -l) of $CHANGES |"
	done
	echo
	echo "### e. \`sluice metrics\` of the same pin root ($SCRAPES scrapes)"
	echo
	echo "| measure | min / median / max |"
	echo "|---|---|"
	echo "| process wall time, ms | $(col scrape sluice 4 | stats3 | sed 's/ / \/ /g') |"
	echo "| lines / bytes of the answer | $(col scrape sluice 5 | med) / $(col scrape sluice 6 | med) |"
	echo
	echo "### d. Full apply into an empty pin root ($ROUNDS interleaved rounds, ms)"
	echo
	echo "| variant | min / median / max | ÷ Sluice (medians) |"
	echo "|---|---|---|"
	sl=$(col full sluice 4 | med)
	floor=$(col full libyaml 4 | med)
	echo "| libyaml alone, parsing the same file (floor) | $(col full libyaml 4 | stats3 | sed 's/ / \/ /g') | $(awk -v a="$floor" -v b="$sl" 'BEGIN { printf "%.2f", a / b }') |"
	echo "| \`sluice apply\` end to end | $(col full sluice 4 | stats3 | sed 's/ / \/ /g') | 1 |"
	for f in "${IPTS[@]}"; do
		echo "| \`iptables-$f-restore\` | $(col full "ipt-$f" 4 | stats3 | sed 's/ / \/ /g') | $(awk -v a="$(col full "ipt-$f" 4 | med)" -v b="$sl" 'BEGIN { printf "%.2f", a / b }') |"
	done
	echo
	echo "Sluice's parts (medians, ms): parse+compile $(col full sluice 5 | med), write of the inactive slot $(col full sluice 6 | med), switch $(col full sluice 7 | med), store $(col full sluice 8 | med), replay $(col full sluice 9 | med). Sluice ÷ floor: $(awk -v a="$sl" -v b="$floor" 'BEGIN { printf "%.2f", a / b }')×; parse+compile ÷ floor: $(awk -v a="$(col full sluice 5 | med)" -v b="$floor" 'BEGIN { printf "%.2f", a / b }')×."
	echo
	echo "$END_MARK"
}

main() {
	local t0
	preflight
	START_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	t0=$SECONDS
	gen_inputs
	log "== d. full apply, $ROUNDS rounds"
	bench_full
	log "== a, b. one object through the CLI"
	bench_cli_change
	log "== e. metrics scrapes"
	bench_scrape
	log "== b2. one object of other kinds"
	bench_other
	log "== b3. NetworkPolicy and Pods at $N Kubernetes services"
	bench_k8s
	log "== c. the agent"
	bench_agent
	log "== c3. the agent at $N Kubernetes services"
	bench_agent_k8s
	LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
	ELAPSED=$((SECONDS - t0))
	write_report >"$TMP/generated.md" || die "report"
	splice_report "$TMP/generated.md" "$OUT" "$BEGIN_MARK" "$END_MARK"
	cp "$DATA" "$SRC/bench/RESULTS-apply-raw.tsv"
	cat "$TMP/generated.md" >&2
	log "done in ${ELAPSED}s; results in $OUT"
}

main
