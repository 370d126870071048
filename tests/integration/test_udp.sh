#!/usr/bin/env bash
# UDP services: unconnected sockets are balanced per datagram by the sendmsg
# hook and the reply appears to come from the VIP (recvmsg hook restores the
# source, checked by sl-client -U on every recvfrom); connected UDP works too.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init udp
require_kernel udp/sendmsg-delivered udp/reply-from-vip udp/balanced udp/connected
t_world

{
	yaml_service dns 10.96.0.53 53 5353 UDP
	yaml_pod dns-a dns 127.0.1.1
	yaml_pod dns-b dns 127.0.1.2
} >"$T_TMP/policy.yaml"
start_server eps udp:127.0.1.1:5353=u1 udp:127.0.1.2:5353=u2
apply_or_die udp/sendmsg-delivered "$T_TMP/policy.yaml"

client -j -U -w 1000 -n 200 10.96.0.53:53 >"$T_TMP/r.json" 2>"$T_TMP/r.err"
u1=$(count u1 "$T_TMP/r.json") u2=$(count u2 "$T_TMP/r.json")
check_eq udp/sendmsg-delivered "$(( u1 + u2 ))" 200 \
	"answered datagrams ($(jq -c .errors "$T_TMP/r.json") $(head -c 200 "$T_TMP/r.err"))"
check_eq udp/reply-from-vip "$(jq -r '.errors["reply-source"] // 0' "$T_TMP/r.json")" 0 \
	"replies whose source was not the VIP ($(head -c 200 "$T_TMP/r.err"))"
# Per-datagram choice between two: each ~Binomial(200, 0.5); 50 is 7 sd off.
if [ "$u1" -ge 50 ] && [ "$u2" -ge 50 ]; then ok udp/balanced
else fail udp/balanced "u1=$u1 u2=$u2, want both >= 50"; fi

client -j -u -p -w 1000 -n 20 10.96.0.53:53 >"$T_TMP/c.json" 2>"$T_TMP/c.err"
check_eq udp/connected "$(jq -r '"\(.ok)/\(.failed)"' "$T_TMP/c.json")" 20/0 \
	"connected UDP ok/failed ($(head -c 200 "$T_TMP/c.err"))"
t_done
