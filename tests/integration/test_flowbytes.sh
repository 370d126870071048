#!/usr/bin/env bash
# Per-flow byte counters (sluice flows -o json) and the endpoint totals
# (get endpoints -o json) equal what the client sent and received: each of 3
# connections sends 100,000 bytes to an echo server and reads back the
# identity line ("ep1\n", 4 bytes) plus the 100,000 echoed bytes. Then
# connections that end with data still in flight, and the open flows.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init flowbytes
require_kernel flowbytes/client flowbytes/per-flow flowbytes/flow-state \
	flowbytes/endpoint-totals flowbytes/endpoint-lifecycle flowbytes/in-flight-client \
	flowbytes/in-flight-flows flowbytes/in-flight-totals flowbytes/open-flows \
	flowbytes/live-counters flowbytes/no-iterator flowbytes/refused-iterator
t_world

VIP=10.96.0.10 EP=127.0.1.1:8080 B=100000 N=3
VIP2=10.96.0.11 EP2=127.0.1.2:8080 BIG=1000000
{
	yaml_service web $VIP 80 8080
	yaml_pod web-a web 127.0.1.1
	yaml_service sink $VIP2 80 8080
	yaml_pod sink-a sink 127.0.1.2
} >"$T_TMP/policy.yaml"
start_server eps -e $EP=ep1
start_server sink $EP2=ep2
apply_or_die flowbytes/client "$T_TMP/policy.yaml"

client -j -n $N -b $B $VIP:80 >"$T_TMP/r.json" 2>"$T_TMP/r.err"
sent=$(jq -r .bytes_sent "$T_TMP/r.json") rcvd=$(jq -r .bytes_received "$T_TMP/r.json")
check_eq flowbytes/client "$(jq -r .ok "$T_TMP/r.json")/$sent/$rcvd" "$N/$((N * B))/$((N * (B + 4)))" \
	"client ok/sent/received ($(head -c 200 "$T_TMP/r.err"))"

# Frontend and endpoint may carry a "/tcp" suffix; compare the IP:PORT part.
flows() { # [FRONTEND]
	sl flows -o json | jq -c --arg fe "${1:-$VIP:80}" \
		'[.flows[] | .frontend |= sub("/.*$"; "") | .endpoint |= sub("/.*$"; "") | select(.frontend == $fe)]'
}
# The last counters are written when each socket closes; give that a moment.
for _ in $(seq 50); do
	[ "$(flows | jq '[.[] | select(.end_ns != 0)] | length')" = "$N" ] && break
	sleep 0.1
done
flows >"$T_TMP/flows.json"
check_eq flowbytes/per-flow \
	"$(jq -r 'map("\(.endpoint) \(.bytes_sent) \(.bytes_received)") | sort | join(",")' "$T_TMP/flows.json")" \
	"$(for _ in $(seq $N); do printf '%s %s %s,' "$EP" $B $((B + 4)); done | sed 's/,$//')" \
	"flows (endpoint bytes_sent bytes_received)"
check_eq flowbytes/flow-state "$(jq -r 'map(.state | ascii_downcase) | unique | join(",")' "$T_TMP/flows.json")" closed \
	"flow states"
check_eq flowbytes/endpoint-totals \
	"$(json_endpoint bytes_sent $EP)/$(json_endpoint bytes_received $EP)" "$sent/$rcvd" \
	"endpoint bytes_sent/bytes_received"
check_eq flowbytes/endpoint-lifecycle \
	"$(json_endpoint opened $EP)/$(json_endpoint closed $EP)/$(json_endpoint active $EP)" "$N/$N/0" \
	"endpoint opened/closed/active"

# Connections closed with data still in flight, to a server that reads and
# discards: two closed right after the last send (no shutdown), two right
# after shutting down writing. Wherever the kernel settles their end (at
# close() or at TCP_CLOSE, docs/KERNEL.md), each sent exactly BIG bytes and
# received the identity line.
client -j -n 2 -b $BIG -c close $VIP2:80 >"$T_TMP/c1.json" 2>"$T_TMP/c1.err"
client -j -n 2 -b $BIG -c half $VIP2:80 >"$T_TMP/c2.json" 2>"$T_TMP/c2.err"
check_eq flowbytes/in-flight-client \
	"$(jq -s -r 'map("\(.ok)/\(.bytes_sent)/\(.bytes_received)") | join(",")' "$T_TMP/c1.json" "$T_TMP/c2.json")" \
	"2/$((2 * BIG))/8,2/$((2 * BIG))/8" "client ok/sent/received, close and half ($(head -c 200 "$T_TMP/c1.err" "$T_TMP/c2.err"))"
for _ in $(seq 100); do
	[ "$(flows $VIP2:80 | jq '[.[] | select(.end_ns != 0)] | length')" = 4 ] && break
	sleep 0.1
done
check_eq flowbytes/in-flight-flows \
	"$(flows $VIP2:80 | jq -r 'map("\(.bytes_sent) \(.bytes_received) \(.state | ascii_downcase)") | join(",")')" \
	"$BIG 4 closed,$BIG 4 closed,$BIG 4 closed,$BIG 4 closed" "flows (bytes_sent bytes_received state)"
check_eq flowbytes/in-flight-totals \
	"$(json_endpoint bytes_sent $EP2)/$(json_endpoint bytes_received $EP2)/$(json_endpoint closed $EP2)/$(json_endpoint active $EP2)" \
	"$((4 * BIG))/16/4/0" "endpoint bytes_sent/bytes_received/closed/active"

# Open flows: two connections held open are listed as established, from
# the socket table. Where the kernel runs the tracing iterator, their
# counters are read live from the sockets (each has received the identity
# line, 4 bytes, and sent nothing); where it refuses it, open flows have no
# counters (null, "none") and `sluice flows` says why.
hold_conns held -k 2 -t 60 $VIP:80
sl flows -o json >"$T_TMP/open.json"
# Without sockops nor the iterator nothing says an open flow got
# established: it is listed as "open".
st=established
sockops_off && [ "$(jq -r .live_counters.source "$T_TMP/open.json")" != iterator ] && st=open
live=$(flows | jq -r --arg st $st '[.[] | select(.state == $st) | "\(.bytes_sent)/\(.bytes_received)/\(.counters)"] | sort | join(",")')
stop_proc held
src=$(jq -r .live_counters.source "$T_TMP/open.json")
if [ "$src" = iterator ]; then
	check_eq flowbytes/open-flows "$live" "0/4/live,0/4/live" \
		"established flows bytes_sent/bytes_received/counters"
	ok flowbytes/live-counters
else
	check_eq flowbytes/open-flows "$live/$src" "null/null/none,null/null/none/sockops" \
		"established flows bytes_sent/bytes_received/counters and source"
	why=$(feature_missing live_flows) ||
		fail flowbytes/live-counters "flows are not live but the live_flows probe passes"
	[ -n "$why" ] && skip flowbytes/live-counters "$why"
fi

# The same node without the iterator (its load made to fail, as on a kernel
# that refuses tracing programs): open flows are still listed, from the
# socket table, without counters; ended ones keep their final counts.
SLUICE_TEST_FAIL=load:sl_flows_iter sl load --cgroup "$CG" "${T_LOAD_ARGS[@]}" >"$T_TMP/reload.out" 2>&1 ||
	fail flowbytes/no-iterator "reload: $(tail -n 3 "$T_TMP/reload.out" | tr '\n' ' ')"
ended() { flows | jq '[.[] | select(.counters == "final")] | length'; }
for _ in $(seq 50); do # the N first connections and the 2 held ones
	[ "$(ended)" = $((N + 2)) ] && break
	sleep 0.1
done
hold_conns held2 -k 2 -t 60 $VIP:80
sl flows -o json >"$T_TMP/open2.json"
st=established
sockops_off && st=open
live=$(flows | jq -r --arg st $st '[.[] | select(.state == $st) | "\(.bytes_sent)/\(.bytes_received)/\(.counters)"] | sort | join(",")')
check_eq flowbytes/no-iterator \
	"$live/$(jq -r .live_counters.source "$T_TMP/open2.json")/$(ended)" \
	"null/null/none,null/null/none/sockops/$((N + 2))" \
	"established flows bytes_sent/bytes_received/counters, source, ended flows"
stop_proc held2

# A kernel that refuses the iterator before the verifier (lockdown): the
# probe says so (EPERM), the load completes without it and says why, and
# `sluice flows` names the socket table as the source and the reason.
SLUICE_TEST_REFUSE=live_flows sl load --cgroup "$CG" "${T_LOAD_ARGS[@]}" >"$T_TMP/reload3.out" 2>&1 ||
	fail flowbytes/refused-iterator "reload: $(tail -n 3 "$T_TMP/reload3.out" | tr '\n' ' ')"
sl flows -o json >"$T_TMP/open3.json"
check_eq flowbytes/refused-iterator \
	"$(grep -c 'live_flows.*EPERM' "$T_TMP/reload3.out")/$(jq -r '"\(.live_counters.available)/\(.live_counters.source)"' "$T_TMP/open3.json")/$(jq -r .live_counters.reason "$T_TMP/open3.json" | grep -c EPERM)" \
	"1/false/sockops/1" \
	"load warnings naming live_flows and EPERM / live counters available, source / reason naming EPERM"
t_done
