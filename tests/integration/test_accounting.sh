#!/usr/bin/env bash
# Accounting cases of the socket path (docs/KERNEL.md "Accounting
# lifecycle"): what holds a unit of an active count, whose count it is, and
# that every count returns to exactly 0.
#
# - direct: a socket that dials an endpoint's own address is never counted,
#   and closing it gives nothing back (a release found from the peer address
#   alone would take the VIP connection's unit);
# - shared: one endpoint behind two services is counted under the service
#   that was dialled, and given back there;
# - SYN_SENT: connections still connecting count against maxConnections
#   (the endpoint drops SYNs, so they stay in SYN_SENT); the next connect()
#   is refused at once; their SYN timeouts count as RTOs; closing them before
#   they were established gives the units back and counts connect failures;
# - retry: a socket refused by its endpoint (nothing listens) that
#   connect()s again on the same socket is counted as two failures, wherever
#   the kernel settles a connection's end (docs/KERNEL.md); one whose
#   endpoint has no route fails before any SYN and is no failure of the
#   endpoint, again either way;
# - reload: connections opened under one way of settling their end and
#   closed after a reload that switched to the other are still ended once,
#   their units given back and their slots freed;
# - at the end every endpoint and group is back at 0 and the socket table
#   holds no open record.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init accounting
CASES=(accounting/direct-not-counted accounting/direct-close accounting/shared-split
	accounting/shared-release accounting/synsent-limit accounting/synsent-refused
	accounting/synsent-rto accounting/close-before-established accounting/retry-same-socket
	accounting/no-route-no-failure accounting/reload-switch accounting/all-zero
	accounting/socket-table-empty accounting/load-mode accounting/sockops-off-refused)
require_kernel "${CASES[@]}"
command -v iptables >/dev/null || { fail accounting/synsent-limit "iptables not installed"; exit 1; }
t_world

# The node says whether sockops runs, and is whole either way.
want=true
sockops_off && want=false
check_eq accounting/load-mode \
	"$(sl status -o json | jq -r '"\(.load.sockops)/\(.complete)"')/$(sl metrics | awk '$1 == "sluice_sockops_attached" { print $2 }')" \
	"$want/true/$([ $want = true ] && echo 1 || echo 0)" "status: sockops attached / complete / metric sluice_sockops_attached"
# Without sockops nothing writes the proxy's hand-off record: a load that
# asks for both is refused before it changes anything; so is one on a
# kernel without the RTO total (refused here as a kernel would). The
# refusal names the first feature missing: close_at_release where the
# kernel lacks that too (before 6.2), else rto_total.
missing=rto_total
SLUICE_TEST_REFUSE=rto_total feature_missing close_at_release >/dev/null && missing=close_at_release
if sl load --cgroup "$CG" --sockops off >"$T_TMP/refused.out" 2>&1; then
	fail accounting/sockops-off-refused "a load with --sockops off and a proxy succeeded"
elif SLUICE_TEST_REFUSE=rto_total sl load --cgroup "$CG" --sockops off --proxy none \
	>"$T_TMP/refused2.out" 2>&1; then
	fail accounting/sockops-off-refused "a load with --sockops off and rto_total refused succeeded"
else
	check_eq accounting/sockops-off-refused \
		"$(grep -c -- '--proxy none' "$T_TMP/refused.out")/$(grep -c "$missing is unavailable" "$T_TMP/refused2.out")/$(sl status -o json | jq -r '"\(.load.sockops)/\(.complete)"')" \
		"1/1/$want/true" "errors naming --proxy none / $missing / status after: sockops attached, complete"
fi

WEB=10.96.0.10 API=10.96.0.11 SLOW=10.96.0.12 EP=127.0.1.1:8080 SLOW_EP=127.0.1.9:8080
GONE=10.96.0.13 GONE_EP=127.0.1.5:8080
NOROUTE=10.96.0.14 NOROUTE_EP=10.250.0.1:8080
{
	yaml_service web $WEB 80 8080
	# api selects the same pod as web: one endpoint, two services.
	cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: sl-test}
spec:
  clusterIP: $API
  selector: {app: web}
  ports: [{name: p80, port: 80, targetPort: 8080, protocol: TCP}]
EOF
	yaml_pod web-a web 127.0.1.1
	yaml_service slow $SLOW 80 8080
	yaml_pod slow-a slow 127.0.1.9
	yaml_service gone $GONE 80 8080
	yaml_pod gone-a gone 127.0.1.5
	# The test namespace has only lo: no route to this endpoint.
	yaml_service noroute $NOROUTE 80 8080
	yaml_pod noroute-a noroute 10.250.0.1
	yaml_dr slow ROUND_ROBIN "    connectionPool:
      tcp:
        maxConnections: 2"
} >"$T_TMP/policy.yaml"
start_server eps $EP=A $SLOW_EP=S
apply_or_die accounting/direct-not-counted "$T_TMP/policy.yaml"

ep() { # SERVICE ADDRESS FIELD
	sl get endpoints -o json | jq -r --arg s "sl-test/$1" --arg a "$2" \
		"[.endpoints[] | select(.service == \$s and .address == \$a) | .$3] | add // 0"
}
group() { # SERVICE FIELD of its only group
	sl get services -o json | jq -r --arg n "$1" ".services[] | select(.name == \$n) | .groups[0].$2"
}
open_flows() {
	sl flows -o json | jq '[.flows[] | select(.state == "established" or .state == "connecting")] | length'
}

# --- direct -----------------------------------------------------------------
hold_conns vip -k 1 $WEB:80
hold_conns direct -k 1 $EP
check_eq accounting/direct-not-counted "$(ep web $EP active)/$(ep api $EP active)/$(group web active)" \
	"1/0/1" "web/api active on $EP, web group active (one VIP connection, one direct)"
stop_proc direct
sleep 0.3
check_eq accounting/direct-close "$(ep web $EP active)/$(group web active)" "1/1" \
	"web active and group active after the direct connection closed"

# --- shared -----------------------------------------------------------------
hold_conns api2 -k 2 $API:80
check_eq accounting/shared-split \
	"$(ep web $EP active)/$(ep api $EP active)/$(group web active)/$(group api active)" "1/2/1/2" \
	"web/api endpoint active, web/api group active"
stop_proc vip
wait_eq 0 ep web $EP active
# Without sockops a connection counts as opened when it ends.
api_opened=2
sockops_off && api_opened=0
check_eq accounting/shared-release \
	"$(ep web $EP active)/$(ep api $EP active)/$(ep web $EP opened)/$(ep api $EP opened)/$(ep web $EP closed)" \
	"0/2/1/$api_opened/1" "web/api active, web/api opened, web closed"
stop_proc api2

# --- SYN_SENT ----------------------------------------------------------------
in_ns iptables -w -A OUTPUT -p tcp -d 127.0.1.9 --dport 8080 --syn -j DROP || {
	fail accounting/synsent-limit "iptables in netns failed"
	exit 1
}
hold_conns syn -k 2 -s -t 60 $SLOW:80
check_eq accounting/synsent-limit "$(jq -r .ok "$T_TMP/syn.ready")/$(group slow active)/$(ep slow $SLOW_EP active)" \
	"2/2/2" "connects in progress, slow group active, endpoint active"
client -j -e ECONNREFUSED $SLOW:80 >"$T_TMP/r3.json" 2>"$T_TMP/r3.err"
check_eq accounting/synsent-refused "$(jq -r .ok "$T_TMP/r3.json")/$(group slow overflow)" "1/1" \
	"third connect refused with ECONNREFUSED / overflow ($(head -c 200 "$T_TMP/r3.err"))"
# The first SYN retransmission timer fires after 1 s.
for _ in $(seq 30); do [ "$(ep slow $SLOW_EP rto)" -ge 2 ] && break; sleep 0.1; done
stop_proc syn
wait_eq 0 group slow active
# Each RTO counted once for the endpoint and once for its flow.
flow_rto=$(sl flows -o json | jq --arg e "$SLOW_EP" '[.flows[] | select(.endpoint | startswith($e)) | .rto] | add // 0')
rto=$(ep slow $SLOW_EP rto)
if [ "$rto" -ge 2 ] && [ "$rto" = "$flow_rto" ]; then ok accounting/synsent-rto
else fail accounting/synsent-rto "endpoint RTOs $rto (want >= 2), RTOs of its flows $flow_rto"; fi
check_eq accounting/close-before-established \
	"$(group slow active)/$(ep slow $SLOW_EP active)/$(ep slow $SLOW_EP connect_failures)/$(ep slow $SLOW_EP opened)" \
	"0/0/2/0" "group/endpoint active, connect failures, opened after closing in SYN_SENT"

# --- retry on the same socket ---------------------------------------------------
client -j -n 3 -e ECONNREFUSED -a $GONE:80 >"$T_TMP/r4.json" 2>"$T_TMP/r4.err"
wait_eq 6 ep gone $GONE_EP connect_failures
check_eq accounting/retry-same-socket \
	"$(jq -r .ok "$T_TMP/r4.json")/$(ep gone $GONE_EP connect_failures)/$(ep gone $GONE_EP opened)/$(ep gone $GONE_EP active)/$(group gone active)" \
	"6/6/0/0/0" "refusals seen by the client (3 sockets, 2 connects each), endpoint connect failures/opened/active, group active ($(head -c 200 "$T_TMP/r4.err"))"

# --- no route: connect() fails before any SYN -------------------------------------
client -j -n 2 -e ENETUNREACH -a $NOROUTE:80 >"$T_TMP/r5.json" 2>"$T_TMP/r5.err"
sleep 0.3
check_eq accounting/no-route-no-failure \
	"$(jq -r .ok "$T_TMP/r5.json")/$(ep noroute $NOROUTE_EP connect_failures)/$(ep noroute $NOROUTE_EP active)/$(group noroute active)/$(open_flows)" \
	"4/0/0/0/0" "ENETUNREACH seen by the client (2 sockets, 2 connects each), endpoint connect failures/active, group active, open flows ($(head -c 200 "$T_TMP/r5.err"))"

# --- a reload that switches where connections end --------------------------------
# Under SLUICE_TEST_REFUSE=close_at_release (the at-tcp-close pass) the
# node ends connections at TCP_CLOSE, else at close(); reload the other way.
# A node without sockops (the no-sockops pass) is reloaded with it instead
# (sockops cannot be off where close() does not end connections).
if [[ ${SLUICE_TEST_REFUSE:-} == *close_at_release* ]] || sockops_off; then other=""; else other=close_at_release; fi
closed0=$(ep web $EP closed)
hold_conns sw -k 3 -t 60 $WEB:80
# `--sockops on` attaches sockops again on a node where it was not (the
# default's with this policy, or the no-sockops pass's).
SLUICE_TEST_REFUSE=$other sl load --cgroup "$CG" --sockops on >"$T_TMP/reload.out" 2>&1 ||
	fail accounting/reload-switch "reload: $(tail -n 3 "$T_TMP/reload.out" | tr '\n' ' ')"
[ "$(sl status -o json | jq -r .load.sockops)" = true ] ||
	fail accounting/reload-switch "after a reload with --sockops on, status says sockops is not attached"
stop_proc sw
wait_eq 0 ep web $EP active
wait_eq $((closed0 + 3)) ep web $EP closed
check_eq accounting/reload-switch \
	"$(ep web $EP active)/$(group web active)/$(( $(ep web $EP closed) - closed0 ))/$(open_flows)" "0/0/3/0" \
	"web endpoint/group active, connections closed since, open flows (reloaded with SLUICE_TEST_REFUSE='$other')"

# --- the end -------------------------------------------------------------------
all=$(sl get endpoints -o json | jq -r '[.endpoints[].active] | map(tostring) | join(",")')
groups=$(sl get services -o json | jq -r '[.services[].groups[].active] | map(tostring) | join(",")')
check_eq accounting/all-zero "$all/$groups" "0,0,0,0,0/0,0,0,0,0" "every endpoint / group active"
wait_eq 0 open_flows
check_eq accounting/socket-table-empty "$(open_flows)" 0 "open records in the socket table"
t_done
