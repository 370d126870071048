#!/usr/bin/env bash
# Kubernetes NetworkPolicy enforced by TC on the pod interfaces
# (sl_tc_pod_from/to), checked with real TCP connections between endpoint
# netns (pod to pod, routed by the node) and from the client netns (directly
# and through a node-ingress frontend, so the policy sees the client's real
# address). A denied connection is a connect() that times out (-e
# EINPROGRESS -w 700: no SYN-ACK and no RST ever came back) with no accept at
# the server; an allowed one echoes its bytes exactly.
#
# Pods: ep1 web (sl-test), ep2 db (sl-test), ep3 other (sl-other, team=blue).
# Policy v1:
#   db-in     app=db:  Ingress from app=web or 192.0.2.2/32 on TCP 8080, from
#                      namespaces team=blue on TCP 9000-9100 (endPort);
#                      Egress: none allowed (its replies must still pass)
#   web-lock  app=web: Ingress: none allowed (replies must still pass);
#                      Egress to app=db on TCP 8080 and 9090
#   other-in  sl-other, every pod: Ingress from 192.0.2.0/24 except
#                      192.0.2.3/32, and from 10.244.1.2/32 (so that ep1 ->
#                      ep3 is refused by ep1's egress alone)
# Policy v2 = v1 with db-in admitting app=web on 9090 instead of 8080.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init netpol
CASES=(netpol/allow-peer netpol/allowed-replies netpol/deny-peer netpol/namespace-endport
	netpol/deny-port netpol/drops-ingress netpol/egress-deny netpol/egress-deny-all
	netpol/drops-egress netpol/udp-allow netpol/udp-deny netpol/protocol-match
	netpol/ipv6-allow-peer netpol/ipv6-deny-peer netpol/ipblock-allow netpol/ipblock-except netpol/frontend-allowed
	netpol/frontend-denied netpol/rejected-exit netpol/rejected-unchanged
	netpol/reapply-now-allowed netpol/reapply-now-denied netpol/flip-allowed-stays
	netpol/flip-denied-stays)
. "$(dirname "$0")/../lib/node.sh"
node_require "${CASES[@]}"
node_world 3
for i in 1 2 3; do
	ep_server "$i" "ep$i" -e "$(ep_ip $i):8080=ep$i-8080" "$(ep_ip $i):9090=ep$i-9090" \
		"[$(ep_ip6 $i)]:8080=ep$i-8080" "udp:$(ep_ip $i):5353=ep$i-u5353"
done
node_client_route 10.244.0.0/16

# --- policy -----------------------------------------------------------------
# np_doc VERSION: the three NetworkPolicies; VERSION 2 moves web's port into
# db from 8080 to 9090; BAD=1 adds an unknown field.
np_doc() {
	local web_port=8080 bad=""
	[ "$1" = 2 ] && web_port=9090
	[ "${BAD:-0}" = 1 ] && bad="    fromm: []"
	cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-in
  namespace: sl-test
spec:
  podSelector:
    matchLabels: {app: db}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - podSelector:
        matchLabels: {app: web}
    - ipBlock:
        cidr: $CLIENT_IP/32
    ports:
    - {protocol: TCP, port: $web_port}
$bad
  - from:
    - namespaceSelector:
        matchLabels: {team: blue}
    ports:
    - {protocol: TCP, port: 9000, endPort: 9100}
    - {protocol: UDP, port: 5353}
  egress: []
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-lock
  namespace: sl-test
spec:
  podSelector:
    matchLabels: {app: web}
  policyTypes: [Ingress, Egress]
  egress:
  - to:
    - podSelector:
        matchLabels: {app: db}
    ports:
    - {protocol: TCP, port: 8080}
    - {protocol: TCP, port: 9090}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: other-in
  namespace: sl-other
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - from:
    - ipBlock:
        cidr: 192.0.2.0/24
        except: [$CLIENT_IP2/32]
    - ipBlock:
        cidr: $(ep_ip 1)/32
EOF
}

{
	yaml_namespace sl-test team=red
	yaml_namespace sl-other team=blue
	yaml_ns_pod web-1 sl-test "$(ep_ip 1)" app=web
	printf '  podIPs: [{ip: %s}, {ip: "%s"}]\n' "$(ep_ip 1)" "$(ep_ip6 1)"
	yaml_ns_pod db-1 sl-test "$(ep_ip 2)" app=db
	printf '  podIPs: [{ip: %s}, {ip: "%s"}]\n' "$(ep_ip 2)" "$(ep_ip6 2)"
	yaml_ns_pod other-1 sl-other "$(ep_ip 3)" app=other
	printf '  podIPs: [{ip: %s}, {ip: "%s"}]\n' "$(ep_ip 3)" "$(ep_ip6 3)"
	cat <<EOF
---
apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: sl-test
spec:
  externalIPs: [$FE_IP]
  selector: {app: db}
  ports:
  - {name: tcp, port: 80, targetPort: 8080, protocol: TCP}
EOF
	np_doc 1
} >"$T_TMP/v1.yaml"
np_doc 2 >"$T_TMP/v2.yaml"
BAD=1 np_doc 2 >"$T_TMP/bad.yaml"
node_apply_or_die netpol/allow-peer "$T_TMP/v1.yaml"

# --- helpers ----------------------------------------------------------------
# allowed NAME FROM DEST BYTES: FROM (endpoint number, or "c" for the client)
# connects to DEST, sends BYTES and must get them back after the identity.
allowed() {
	local name=$1 from=$2 dst=$3 bytes=$4 out=$T_TMP/$RANDOM.json
	if [ "$from" = c ]; then cl -j -b "$bytes" "$dst" >"$out" 2>"$out.err"
	else cl_from "$from" -j -b "$bytes" "$dst" >"$out" 2>"$out.err"; fi
	check_eq "$name" "$(jq -r '"\(.ok)/\(.failed) \(.bytes_sent)"' "$out" 2>/dev/null)" \
		"1/0 $bytes" "ok/failed and bytes sent from $from to $dst ($(head -c 300 "$out") $(head -c 300 "$out.err"))"
	LAST_OUT=$out
}

# denied NAME FROM DEST [TAG LISTENER PEER]: two connects from FROM to DEST
# both time out; with TAG, the server TAG logged no connection from PEER on
# its listener LISTENER (an identity such as ep2-8080).
denied() {
	local name=$1 from=$2 dst=$3 tag=${4:-} lst=${5:-} peer=${6:-} out=$T_TMP/$RANDOM.json got
	if [ "$from" = c ]; then cl -j -n 2 -w 700 -e EINPROGRESS "$dst" >"$out" 2>"$out.err"
	else cl_from "$from" -j -n 2 -w 700 -e EINPROGRESS "$dst" >"$out" 2>"$out.err"; fi
	got=$(jq -r '"\(.ok)/\(.failed)"' "$out" 2>/dev/null)
	if [ -n "$tag" ]; then
		sleep 0.2
		got="$got accepted=$(log_count "$tag" "^$lst ${peer//./\\.}:")"
	else
		got="$got accepted=0"
	fi
	check_eq "$name" "$got" "2/0 accepted=0" \
		"timed-out/other connects from $from to $dst, server accepts ($(head -c 300 "$out"))"
}

ID8=9 # "ep2-8080\n"

# --- v1 -----------------------------------------------------------------------
allowed netpol/allow-peer 1 "$(ep_ip 2):8080" 20000
# ep1 is isolated for ingress and ep2 for egress, both with nothing allowed:
# every byte back is a reply of the allowed connection.
check_eq netpol/allowed-replies "$(jq -r .bytes_received "$LAST_OUT")" $((20000 + ID8)) \
	"bytes ep1 received back (identity line + echo)"

di0=$(metric_sum sluice_drops_total 'reason="policy_ingress"')
denied netpol/deny-peer 3 "$(ep_ip 2):8080" ep2 ep2-8080 "$(ep_ip 3)"
allowed netpol/namespace-endport 3 "$(ep_ip 2):9090" 1000
denied netpol/deny-port 1 "$(ep_ip 2):9090" ep2 ep2-9090 "$(ep_ip 1)"
di1=$(metric_sum sluice_drops_total 'reason="policy_ingress"')
# Two refused connections, each at least one SYN (and its retransmit).
check_range netpol/drops-ingress $((di1 - di0)) 4 1000000 \
	"growth of sluice_drops_total{reason=policy_ingress} over 4 refused connects"

de0=$(metric_sum sluice_drops_total 'reason="policy_egress"')
denied netpol/egress-deny 1 "$(ep_ip 3):8080" ep3 ep3-8080 "$(ep_ip 1)"
denied netpol/egress-deny-all 2 "$(ep_ip 1):8080" ep1 ep1-8080 "$(ep_ip 2)"
de1=$(metric_sum sluice_drops_total 'reason="policy_egress"')
check_range netpol/drops-egress $((de1 - de0)) 4 1000000 \
	"growth of sluice_drops_total{reason=policy_egress} over 4 refused connects"

# UDP: team=blue may send to db's UDP 5353 (and gets the answer out of the
# egress-isolated db), the client may not; the UDP rule admits no TCP to
# the same port (no listener there: admitted, it would be refused at once).
out=$T_TMP/udpa.json
cl_from 3 -j -u -n 3 "$(ep_ip 2):5353" >"$out" 2>"$out.err"
check_eq netpol/udp-allow "$(jq -r '"\(.ok)/\(.failed)"' "$out")" 3/0 \
	"UDP datagrams from ep3 to ep2:5353 answered ($(head -c 300 "$out.err"))"
out=$T_TMP/udpd.json
cl -j -u -w 700 -n 2 "$(ep_ip 2):5353" >"$out" 2>"$out.err"
sleep 0.2
check_eq netpol/udp-deny "$(jq -r '"\(.ok)/\(.errors.timeout // 0)"' "$out")/$(log_count ep2 "^ep2-u5353 ${CLIENT_IP//./\\.}:")" \
	0/2/0 "answered / timed out / seen by ep2, UDP from the client to ep2:5353"
out=$T_TMP/tcp5353.json
cl_from 3 -j -w 700 -n 2 -e EINPROGRESS "$(ep_ip 2):5353" >"$out" 2>"$out.err"
check_eq netpol/protocol-match "$(jq -r '"\(.ok)/\(.failed)"' "$out")" 2/0 \
	"TCP connects from ep3 to ep2:5353 that timed out / did not (a UDP rule must not admit TCP; $(jq -c .errors "$out"))"

# IPv6, pod to pod: podSelector peers are matched by every podIP. ep2 is
# isolated for egress with nothing allowed, yet must resolve its gateway
# (neighbour discovery is ICMPv6) to answer.
allowed netpol/ipv6-allow-peer 1 "[$(ep_ip6 2)]:8080" 5000
denied netpol/ipv6-deny-peer 3 "[$(ep_ip6 2)]:8080" ep2 ep2-8080 "\[$(ep_ip6 3)\]"

allowed netpol/ipblock-allow c "$(ep_ip 3):8080" 1000
allowed netpol/frontend-allowed c "$FE_IP:80" 1000
node_client_route 10.244.0.0/16 "$CLIENT_IP2"
node_client_route "$FE_IP" "$CLIENT_IP2"
denied netpol/ipblock-except c "$(ep_ip 3):8080" ep3 ep3-8080 "$CLIENT_IP2"
denied netpol/frontend-denied c "$FE_IP:80" ep2 ep2-8080 "$CLIENT_IP2"
node_client_route 10.244.0.0/16
node_client_route "$FE_IP"

# --- a rejected policy changes nothing -----------------------------------------
nsl apply -f "$T_TMP/bad.yaml" >"$T_TMP/bad.out" 2>&1
rc=$?
if [ "$rc" = 1 ] && grep -q fromm "$T_TMP/bad.out"; then ok netpol/rejected-exit
else fail netpol/rejected-exit "apply of an unknown field: exit $rc, want 1 naming it: $(head -c 300 "$T_TMP/bad.out")"; fi
out=$T_TMP/rej.json
cl_from 1 -j -n 2 -w 700 -e EINPROGRESS "$(ep_ip 2):9090" >"$out.a" 2>/dev/null
cl_from 1 -j -b 100 "$(ep_ip 2):8080" >"$out.b" 2>/dev/null
check_eq netpol/rejected-unchanged "$(jq -r .ok "$out.a")/$(jq -r .ok "$out.b")" 2/1 \
	"ep1->ep2:9090 still refused (of 2) / ep1->ep2:8080 still allowed (of 1)"

# --- a changed policy flips behaviour --------------------------------------
node_apply_or_die netpol/reapply-now-allowed "$T_TMP/v2.yaml"
allowed netpol/reapply-now-allowed 1 "$(ep_ip 2):9090" 1000
denied netpol/reapply-now-denied 1 "$(ep_ip 2):8080"

# --- no window while flipping: ep3 -> ep2:9090 is allowed by v1 and v2,
# ep3 -> ep2:8080 by neither; a connect loop of each runs (until SIGTERM)
# across 10 applies alternating v1 and v2.
nsenter --net="/run/netns/$(ns_ep 3)" -- "$TOOLS/sl-client" -j -l -t 120 -w 2000 \
	"$(ep_ip 2):9090" >"$T_TMP/flipa.json" 2>"$T_TMP/flipa.err" &
PID_flipa=$!
nsenter --net="/run/netns/$(ns_ep 3)" -- "$TOOLS/sl-client" -j -l -t 120 -w 300 -e EINPROGRESS \
	"$(ep_ip 2):8080" >"$T_TMP/flipd.json" 2>"$T_TMP/flipd.err" &
PID_flipd=$!
T_PIDS+=("$PID_flipa" "$PID_flipd")
sleep 0.5
applies=0
for i in 1 2 3 4 5; do
	nsl apply -f "$T_TMP/v1.yaml" >/dev/null 2>&1 && applies=$((applies + 1))
	sleep 0.1
	nsl apply -f "$T_TMP/v2.yaml" >/dev/null 2>&1 && applies=$((applies + 1))
	sleep 0.1
done
sleep 0.5
stop_proc flipa
stop_proc flipd
check_eq netpol/flip-allowed-stays \
	"$(jq -r '"\(.failed) \(.ok > 20)"' "$T_TMP/flipa.json" 2>/dev/null) $applies" "0 true 10" \
	"failed connects, more than 20 ok, applies done, ep3->ep2:9090 across flips ($(head -c 300 "$T_TMP/flipa.json"))"
check_eq netpol/flip-denied-stays \
	"$(jq -r '"\(.failed) \(.ok > 3)"' "$T_TMP/flipd.json" 2>/dev/null)" "0 true" \
	"connects that did not time out, more than 3 timed out, ep3->ep2:8080 across flips ($(head -c 300 "$T_TMP/flipd.json"))"
t_done
