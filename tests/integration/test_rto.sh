#!/usr/bin/env bash
# Retransmission timeouts and connect failures are counted per endpoint. An
# endpoint whose SYNs are silently dropped (a DROP rule inside the test
# netns) makes the client's SYN time out: RTO fires (first SYN RTO is 1 s),
# then the client gives up (2.5 s), which is a connect failure
# (SYN_SENT -> CLOSE). The flow record says so too.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init rto
require_kernel rto/timed-out rto/rto-counted rto/connect-failure rto/flow-failed
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
t_done
