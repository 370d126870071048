#!/usr/bin/env bash
# A slot switched away while a program reads it (docs/KERNEL.md, "A slot
# rewritten under a reader"): connect() and sendmsg() that meet a switch
# read the slot now live once more, and that read is the one acted on.
#
# sl-flip switches the live slot back and forth as the publisher does (two
# config writes), thousands of times a second, on one CPU, while clients
# on the other CPU connect through the VIP (TCP, LEAST_CONN with a
# connection limit) and send through another (UDP). Both slots hold the
# same policy, so nothing a client sees may change, and:
#
#   - retried: reads that met a switch happened (sl_stats.slot_moved grew),
#     so the path under test ran; flipping at all is checked first;
#   - tcp-all-reached: every connection succeeded and reached one of the
#     service's endpoints;
#   - udp-all-answered: every datagram was answered, from the VIP;
#   - no-drift: the endpoints' and the group's active counts are back to 0
#     once the connections are closed (a read done again must not count
#     twice, nor leave its reservation behind);
#   - consistent: both slots still equal the stored policy.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init slotflip
require_kernel slotflip/flipping slotflip/retried slotflip/tcp-all-reached \
	slotflip/udp-all-answered slotflip/no-drift slotflip/consistent
t_world

VIP=10.96.0.10
DNS=10.96.0.53
N=3000
{
	yaml_service web $VIP 80 8080
	yaml_pod web-a web 127.0.1.1
	yaml_pod web-b web 127.0.1.2
	yaml_pod web-c web 127.0.1.3
	yaml_dr web LEAST_CONN "    connectionPool:
      tcp:
        maxConnections: 100"
	yaml_service dns $DNS 53 5353 UDP
	yaml_pod dns-a dns 127.0.1.4
} >"$T_TMP/policy.yaml"
start_server eps 127.0.1.1:8080=A 127.0.1.2:8080=B 127.0.1.3:8080=C udp:127.0.1.4:5353=U
apply_or_die slotflip/flipping "$T_TMP/policy.yaml"

moved() { sl metrics | awk '$1 == "sluice_datapath_events_total{event=\"slot_moved\"}" { print $2 }'; }
group() { sl get services -o json | jq -r ".services[] | select(.name == \"web\") | .groups[0].$1"; }

# Flipper and clients on different CPUs when there are two, so that
# switches land inside program runs rather than between them.
before=$(moved)
flip_start
client_on() { # CPU SL-CLIENT-ARGS...
	local cpu=$1
	shift
	run_in "$NS" "$CG" taskset -c "$cpu" "$TOOLS/sl-client" "$@"
}
client_on $FLIP_CPU_OTHER -j -n $N $VIP:80 >"$T_TMP/tcp.json" 2>"$T_TMP/tcp.err"
client_on $FLIP_CPU_OTHER -j -U -n 500 $DNS:53 >"$T_TMP/udp.json" 2>"$T_TMP/udp.err"
stop_proc flip
after=$(moved)

flip_judge "$before" "$after" "$N connections"

a=$(count A "$T_TMP/tcp.json") b=$(count B "$T_TMP/tcp.json") c=$(count C "$T_TMP/tcp.json")
check_eq slotflip/tcp-all-reached "$((a + b + c))/$(jq -r .failed "$T_TMP/tcp.json")" "$N/0" \
	"connections to A+B+C/failed (A=$a B=$b C=$c; $(head -c 200 "$T_TMP/tcp.err"))"
check_eq slotflip/udp-all-answered \
	"$(count U "$T_TMP/udp.json")/$(jq -r '.errors["reply-source"] // 0' "$T_TMP/udp.json")" "500/0" \
	"datagrams answered by U/replies not from the VIP ($(head -c 200 "$T_TMP/udp.err"))"

drift() { echo "$(json_endpoint active 127.0.1.1:8080)/$(json_endpoint active 127.0.1.2:8080)/$(json_endpoint active 127.0.1.3:8080)/$(group active)"; }
for _ in $(seq 50); do [ "$(drift)" = 0/0/0/0 ] && break; sleep 0.1; done
check_eq slotflip/no-drift "$(drift)" 0/0/0/0 "active A/B/C/group after close"

v=$(sl get dataplane --slot active --verify 2>&1 && sl get dataplane --slot inactive --verify 2>&1)
if [ $? = 0 ]; then ok slotflip/consistent
else fail slotflip/consistent "$(head -c 400 <<<"$v")"; fi
t_done
