#!/usr/bin/env bash
# Retransmission timeouts and connect failures are counted per endpoint. An
# endpoint whose SYNs are silently dropped (a DROP rule inside the test
# netns) makes the client's SYN time out: RTO fires (first SYN RTO is 1 s),
# then the client gives up (2.5 s), which is a connect failure
# (SYN_SENT -> CLOSE). The flow record says so too.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init rto
require_kernel rto/timed-out rto/rto-counted rto/connect-failure rto/flow-failed rto/data-rto
command -v iptables >/dev/null || { fail rto/timed-out "iptables not installed"; exit 1; }
t_world

VIP=10.96.0.10 EP=127.0.1.9:8080
{ yaml_service web $VIP 80 8080; yaml_pod web-a web 127.0.1.9; } >"$T_TMP/policy.yaml"
apply_or_die rto/timed-out "$T_TMP/policy.yaml"
start_server eps $EP=ep
in_ns iptables -w -A OUTPUT -p tcp -d 127.0.1.9 --dport 8080 --syn -j DROP || {
	fail rto/timed-out "iptables in netns failed"
	exit 1
}

client -j -n 1 -w 2500 $VIP:80 >"$T_TMP/c.json" 2>"$T_TMP/c.err"
check_eq rto/timed-out "$(jq -r .failed "$T_TMP/c.json")" 1 "failed connects ($(head -c 200 "$T_TMP/c.err"))"
rto=$(json_endpoint rto $EP)
check_range rto/rto-counted "$rto" 1 3 "RTOs on $EP"
for _ in $(seq 20); do [ "$(json_endpoint connect_failures $EP)" = 1 ] && break; sleep 0.1; done
check_eq rto/connect-failure "$(json_endpoint connect_failures $EP)/$(json_endpoint opened $EP)/$(json_endpoint active $EP)" \
	"1/0/0" "connect_failures/opened/active"
check_eq rto/flow-failed "$(sl flows -o json | jq -r '[.flows[] | "\(.state) \(.rto >= 1)"] | join(",")')" \
	"failed true" "flow state, rto >= 1"

# An RTO on an established connection: its SYN goes through, then the
# client's data to the endpoint is dropped on arrival (INPUT: a packet
# dropped on its way out is never in flight, and TCP probes instead of
# timing out) and retransmitted, first after ~200 ms on lo. Where sockops
# runs (armed at connect, or at ESTABLISHED where close() counts the RTOs
# before it) the endpoint counts it while the connection is still open; on
# a node without sockops, when the connection ends (docs/KERNEL.md, "A
# node without sockops"). Then the data is let through and the client
# finishes and closes.
in_ns iptables -w -D OUTPUT -p tcp -d 127.0.1.9 --dport 8080 --syn -j DROP
rto0=$(json_endpoint rto $EP)
"${IN_CG[@]}" "$TOOLS/sl-client" -j -b 1000 -d 1500 -w 20000 $VIP:80 >"$T_TMP/d.json" 2>"$T_TMP/d.err" &
T_PIDS+=("$!")
PID_data=$!
sleep 0.8
in_ns iptables -w -I INPUT -p tcp -d 127.0.1.9 --dport 8080 ! --syn -j DROP
# The kernel's own view: retransmissions of the socket to the endpoint
# (ss: "retrans:IN_FLIGHT/TOTAL").
kernel_retrans() {
	in_ns ss -tin dst 127.0.1.9 | grep -o 'retrans:[0-9]*/[0-9]*' | cut -d/ -f2 | head -n 1
}
live=0
for _ in $(seq 100); do
	kill -0 $PID_data 2>/dev/null || break
	live=$(( $(json_endpoint rto $EP) - rto0 ))
	[ "$live" -ge 1 ] && break
	# Without sockops nothing counts while open: stop once the kernel
	# has retransmitted twice.
	sockops_off && [ "$(kernel_retrans)" -ge 2 ] 2>/dev/null && break
	sleep 0.1
done
open_now=$(kill -0 $PID_data 2>/dev/null && echo open || echo ended)
# Let the data through: the exchange completes and the client closes.
in_ns iptables -w -D INPUT -p tcp -d 127.0.1.9 --dport 8080 ! --syn -j DROP
wait $PID_data 2>/dev/null
for _ in $(seq 30); do [ "$(json_endpoint rto $EP)" -gt "$rto0" ] && break; sleep 0.1; done
after=$(( $(json_endpoint rto $EP) - rto0 ))
if sockops_off; then want="0 open, counted at close"; got="$live $open_now, $([ "$after" -ge 1 ] && echo counted || echo not) at close"
else want="live open, counted at close"; got="$([ "$live" -ge 1 ] && echo live || echo "$live") $open_now, $([ "$after" -ge 1 ] && echo counted || echo not) at close"; fi
check_eq rto/data-rto "$got" "$want" "RTOs of an established connection seen while open / after close ($(head -c 200 "$T_TMP/d.err"))"
t_done
