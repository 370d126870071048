#!/usr/bin/env bash
# Per-flow byte counters (sluice flows -o json) and the endpoint totals
# (get endpoints -o json) equal what the client sent and received: each of 3
# connections sends 100,000 bytes to an echo server and reads back the
# identity line ("ep1\n", 4 bytes) plus the 100,000 echoed bytes.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init flowbytes
require_kernel flowbytes/client flowbytes/per-flow flowbytes/flow-state \
	flowbytes/endpoint-totals flowbytes/endpoint-lifecycle flowbytes/live
t_world

VIP=10.96.0.10 EP=127.0.1.1:8080 B=100000 N=3
{ yaml_service web $VIP 80 8080; yaml_pod web-a web 127.0.1.1; } >"$T_TMP/policy.yaml"
start_server eps -e $EP=ep1
apply_or_die flowbytes/client "$T_TMP/policy.yaml"

client -j -n $N -b $B $VIP:80 >"$T_TMP/r.json" 2>"$T_TMP/r.err"
sent=$(jq -r .bytes_sent "$T_TMP/r.json") rcvd=$(jq -r .bytes_received "$T_TMP/r.json")
check_eq flowbytes/client "$(jq -r .ok "$T_TMP/r.json")/$sent/$rcvd" "$N/$((N * B))/$((N * (B + 4)))" \
	"client ok/sent/received ($(head -c 200 "$T_TMP/r.err"))"

# Frontend and endpoint may carry a "/tcp" suffix; compare the IP:PORT part.
flows() {
	sl flows -o json | jq -c --arg fe "$VIP:80" \
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

# Live counters: two connections held open have each received the identity
# line (4 bytes) and sent nothing; `sluice flows` reads that from the
# sockets themselves while they are established.
hold_conns held -k 2 -t 60 $VIP:80
live=$(flows | jq -r '[.[] | select(.state == "established") | "\(.bytes_sent)/\(.bytes_received)"] | sort | join(",")')
stop_proc held
check_eq flowbytes/live "$live" "0/4,0/4" "established flows bytes_sent/bytes_received"
t_done
