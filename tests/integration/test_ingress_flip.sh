#!/usr/bin/env bash
# Node ingress (sl_xdp_lb) while the live slot is switched under it: the
# XDP counterpart of integration/slotflip (docs/KERNEL.md, "A slot
# rewritten under a reader"). sl-flip switches the node's slots back and
# forth the way the publisher does, on CPU 0, while the client netns opens
# 2,000 connections to the external IP from CPU 1 (veth runs XDP on the
# sender's CPU). Both slots hold the same policy, so:
#
#   - retried: new flows whose ring, row or group read met a switch were
#     chosen once more (sluice_xdp_packets_total{result="slot_moved"} grew);
#   - all-reached: every connection completed, at one of the endpoints;
#   - no-drift: the group's count against its limit is back to 0 once the
#     connections are closed (a flow chosen again holds one unit, not two);
#   - consistent: both slots still equal the stored policy.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init ingressflip
CASES=(ingressflip/flipping ingressflip/retried ingressflip/all-reached ingressflip/no-drift
	ingressflip/consistent)
. "$(dirname "$0")/../lib/node.sh"
node_require "${CASES[@]}"
node_world 2
ep_servers -e 8080

N=2000
{
	yaml_ingress_service web 80 8080 30080
	yaml_pod web-1 web "$(ep_ip 1)"
	yaml_pod web-2 web "$(ep_ip 2)"
	yaml_dr web ROUND_ROBIN "    connectionPool:
      tcp:
        maxConnections: 100"
} >"$T_TMP/policy.yaml"
node_apply_or_die ingressflip/flipping "$T_TMP/policy.yaml"
sleep 0.3

moved() { metric_sum sluice_xdp_packets_total 'result="slot_moved"'; }
group() { nsl get services -o json | jq -r '.services[] | select(.name == "web") | .groups[0].active'; }
before=$(moved)
flip_start
in_client sysctl -qw net.ipv4.tcp_tw_reuse=1
in_client taskset -c $FLIP_CPU_OTHER "$TOOLS/sl-client" -j -n $N "$FE_IP:80" >"$T_TMP/c.json" 2>"$T_TMP/c.err"
stop_proc flip
after=$(moved)

flip_judge "$before" "$after" "$N connections"
reached=$(( $(jcount ep1 "$T_TMP/c.json") + $(jcount ep2 "$T_TMP/c.json") ))
check_eq ingressflip/all-reached "$reached/$(jq -r .failed "$T_TMP/c.json")" "$N/0" \
	"connections reaching ep1+ep2/failed ($(head -c 200 "$T_TMP/c.err"))"
for _ in $(seq 50); do [ "$(group)" = 0 ] && break; sleep 0.1; done
check_eq ingressflip/no-drift "$(group)" 0 "group active after close"
v=$(nsl get dataplane --slot active --verify 2>&1 && nsl get dataplane --slot inactive --verify 2>&1)
if [ $? = 0 ]; then ok ingressflip/consistent
else fail ingressflip/consistent "$(head -c 400 <<<"$v")"; fi
t_done
