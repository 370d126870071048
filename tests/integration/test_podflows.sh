#!/usr/bin/env bash
# Pod-interface flow records (sl_tc_pod_from/to, `sluice flows --pods`)
# count what the sockets moved. Three connections from the client netns,
# through the node-ingress frontend, to ep1 (sl-server -e echoes), sending
# 1,000, 65,536 and 1,000,000 bytes. The server logs each connection's peer
# (the client's real address and port: the record's "src") and the bytes it
# read and wrote, which are what the client wrote and read.
#
# - payload bytes (L4 payload, "payload_fwd"/"payload_rev") equal the
#   server's bytes_in / bytes_out exactly;
# - L3 bytes ("bytes_fwd"/"bytes_rev": IP header + payload) follow exactly
#   from payload and packet counts: timestamps, SACK and window scaling are
#   off in the client and endpoint netns (NODE_TCP_PLAIN), so every TCP
#   header is 20 bytes except SYN and SYN-ACK (24: the MSS option) and every
#   IPv4 header 20: bytes = payload + 40 * packets + 4 each way. (A GRO or
#   GSO packet is one skb with one header, so this holds per skb as well.)
# - packets > 0 both ways; TCP flags SYN and FIN each way; first <= last;
# - the record is on ep1's pod interface only;
# - exact totals: over the test window the per-interface totals
#   (sluice_pod_packets_total / sluice_pod_bytes_total for p1) grow by
#   exactly the sum of the three records. IPv6 is off and neighbours are
#   static, so nothing else crosses p1 meanwhile.
# shellcheck disable=SC2016 # awk programs in single quotes
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init podflows
CASES=(podflows/records podflows/payload-fwd podflows/payload-rev podflows/l3-bytes
	podflows/packets-both-ways podflows/tcp-flags podflows/proto podflows/times podflows/own-iface-only
	podflows/totals-packets podflows/totals-bytes)
# shellcheck disable=SC2034 # read by node.sh
NODE_V6=0 NODE_TCP_PLAIN=1
. "$(dirname "$0")/../lib/node.sh"
node_require "${CASES[@]}"
node_world 2
ep_servers -e 8080
{
	yaml_ingress_service web 80 8080 30080
	yaml_pod web-1 web "$(ep_ip 1)"
} >"$T_TMP/policy.yaml"
node_apply_or_die podflows/records "$T_TMP/policy.yaml"
node_static_neigh || { fail podflows/records "cannot set static neighbour entries"; exit 1; }
P1=$(ip -n "$NS" -j link show dev p1 | jq -r '.[0].ifindex')
P2=$(ip -n "$NS" -j link show dev p2 | jq -r '.[0].ifindex')
IFRE="iface=\"(p1|$P1)\""

# A first connection warms up routes and caches outside the window.
cl -b 10 "$FE_IP:80" >/dev/null 2>&1
sleep 0.3
: >"$T_TMP/ep1.log"
pk0=$(metric_sum sluice_pod_packets_total "$IFRE")
by0=$(metric_sum sluice_pod_bytes_total "$IFRE")

conn_err=""
for k in 1000 65536 1000000; do
	cl -j -b "$k" "$FE_IP:80" >"$T_TMP/c$k.json" 2>"$T_TMP/c$k.err" ||
		conn_err+="connection sending $k bytes: $(head -c 200 "$T_TMP/c$k.err"); "
done
sleep 0.5 # the server logs at EOF; the last ACKs are through
pk1=$(metric_sum sluice_pod_packets_total "$IFRE")
by1=$(metric_sum sluice_pod_bytes_total "$IFRE")
pod_flows "$T_TMP/flows.json" ||
	{ fail podflows/records "sluice flows --pods -o json: $(head -c 300 "$T_TMP/flows.json.err")"; t_done; }

# One line per logged connection: peer bytes_in bytes_out, joined with its
# record on p1 (or "missing").
jq -r --slurpfile f "$T_TMP/flows.json" --arg p1 "$P1" '
	. as [$id, $peer, $in, $out] |
	[$f[0][] | select(.src == $peer and ((.iface | tostring) == "p1" or (.iface | tostring) == $p1))] as $r |
	if ($r | length) != 1 then "\($peer) \($in) \($out) records=\($r | length)"
	else $r[0] | "\($peer) \($in) \($out) records=1 \(.dst) \(.packets_fwd) \(.packets_rev) \(.bytes_fwd) \(.bytes_rev) \(.payload_fwd) \(.payload_rev) \(.tcp_flags_fwd | tostring | gsub(" "; "")) \(.tcp_flags_rev | tostring | gsub(" "; "")) \(.first_ns) \(.last_ns) \(.proto)"
	end' < <(awk '{ printf "[\"%s\",\"%s\",%s,%s]\n", $1, $2, $3, $4 }' "$T_TMP/ep1.log") \
	>"$T_TMP/joined.txt" 2>"$T_TMP/joined.err"

check_eq podflows/records "$(awk '$4 == "records=1" && $5 == "'"$(ep_ip 1)"':8080"' "$T_TMP/joined.txt" | wc -l)" 3 \
	"connections with exactly one record on p1 to $(ep_ip 1):8080 (${conn_err}$(head -c 400 "$T_TMP/joined.txt") $(head -c 200 "$T_TMP/joined.err"))"

# Every line of the join must pass an awk condition; prints the ones that do
# not, or that there are not 3 lines to judge (nothing passes vacuously).
bad_lines() {
	[ "$(wc -l <"$T_TMP/joined.txt")" = 3 ] || { echo "not 3 connections to judge"; return; }
	awk "!($1)" "$T_TMP/joined.txt" | head -n 3 | tr '\n' ';'
}
check_eq podflows/payload-fwd "$(bad_lines '$10 == $2')" "" "records whose payload_fwd != bytes the server read"
check_eq podflows/payload-rev "$(bad_lines '$11 == $3')" "" "records whose payload_rev != bytes the server wrote"
check_eq podflows/l3-bytes "$(bad_lines '$8 == $10 + 40 * $6 + 4 && $9 == $11 + 40 * $7 + 4')" "" \
	"records whose bytes != payload + 40 * packets + 4 (peer in out n dst pf pr bf br plf plr ...)"
check_eq podflows/packets-both-ways "$(bad_lines '$6 >= 3 && $7 >= 3')" "" \
	"records with fewer than 3 packets a way (SYN, data or ACK, FIN)"

# Flags as a number (bit mask), as letters (tcpdump's F S R P . U E W or
# A C) or as names; SYN and FIN both ways.
has_syn_fin() { # FLAGS
	if [[ $1 =~ ^[0-9]+$ ]]; then (( ($1 & 3) == 3 ))
	elif [[ $1 =~ ^[FSRPAUECW.]+$ ]]; then [[ $1 == *S* && $1 == *F* ]]
	else [[ ${1^^} == *SYN* && ${1^^} == *FIN* ]]; fi
}
flag_bad=$(bad_lines 1)
while read -r peer _ _ _ _ _ _ _ _ _ _ ff fr _; do
	has_syn_fin "$ff" && has_syn_fin "$fr" || flag_bad+="$peer fwd=$ff rev=$fr; "
done <"$T_TMP/joined.txt"
check_eq podflows/tcp-flags "$flag_bad" "" "records without SYN and FIN each way"
check_eq podflows/proto "$(bad_lines '$16 == "tcp"')" "" "records whose proto is not \"tcp\""
# The connections ran one after the other, so each record starts no earlier
# than the previous one ended. Not strict: the timestamps may come from the
# coarse clock (bpf_ktime_get_coarse_ns, one tick is several ms).
times_bad=$(bad_lines 1)
[ -n "$times_bad" ] || times_bad=$(awk '!($14 > 0 && $14 <= $15 && (NR == 1 || $14 >= last)) { print $1, $14, $15, "prev_last=" last ";" } { last = $15 }' \
	"$T_TMP/joined.txt")
check_eq podflows/times "$times_bad" "" \
	"records with first_ns not in (0, last_ns), or starting before the previous one ended"

other=$(jq --arg p2 "$P2" --arg c "$CLIENT_IP:" \
	'[.[] | select(((.iface | tostring) == "p2" or (.iface | tostring) == $p2) and (.src | startswith($c)))] | length' \
	"$T_TMP/flows.json")
check_eq podflows/own-iface-only "$other" 0 "records of the client's flows on p2 (ep2's interface)"

# Sums over the three records vs totals growth.
read -r sp sb < <(awk '{ p += $6 + $7; b += $8 + $9 } END { print p + 0, b + 0 }' "$T_TMP/joined.txt")
if [ -n "$(bad_lines 1)" ] || [ "$sp" = 0 ]; then sp="(3 records with packets)" sb=$sp; fi
check_eq podflows/totals-packets $((pk1 - pk0)) "$sp" \
	"growth of sluice_pod_packets_total{p1} vs packets in the 3 records"
check_eq podflows/totals-bytes $((by1 - by0)) "$sb" \
	"growth of sluice_pod_bytes_total{p1} vs bytes in the 3 records"
t_done
