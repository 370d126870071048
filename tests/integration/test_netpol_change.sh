#!/usr/bin/env bash
# Established connections and NetworkPolicy changes. After every apply that
# changes NetworkPolicy, `sluice apply` runs sl_pflows_revoke: every pod flow
# record loses its admission and the connection is judged again, under the
# new policy, at its next packet (docs/KERNEL.md, "Pod interfaces and
# NetworkPolicy"). Held connections (sl-hold: open, wait, then echo a
# per-connection pattern) show what a change does to them:
#   (a) admitted by v1 and v2: keeps exchanging data after v2;
#   (b) admitted by v1 only (ingress of the server pod): the next exchange
#       fails, and sluice_drops_total{reason=policy_ingress} of its pod
#       interface grows;
#   (c) an apply that changes only a Service revokes nothing (the records
#       keep their admission) and held connections keep working;
#   (d) as (b), for the client pod's egress (reason=policy_egress);
#   (e) no window: 20 applies alternating v1/v2 (both refuse ep3 -> ep2:8080
#       and admit ep1 -> ep2:8080) under a connect loop of each: no refused
#       connection ever connects (every SYN is counted as a policy drop) and
#       no admitted one fails; a connection held across them still echoes;
#   and `sluice delete` of the policy that admitted a held connection, or a
#   Pod apply that takes its pod out of the selected set, refuses it too.
#
# Pods (namespace sl-test): ep1 web, ep2 db, ep3 other (no policy selects it).
# v1: db-in   app=db,  Ingress from app=web on TCP 8080, from app=other on 9090
#     web-out app=web, Egress to app=db on TCP 8080, to app=other on TCP 8080
# v2: db-in   from app=web (and 192.0.2.2/32) on TCP 8080 only
#     web-out to app=db on TCP 8080 only
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init npchg
CASES=(netpol_change/v1-admits netpol_change/unrelated-no-revoke netpol_change/unrelated-held
	netpol_change/change-revokes netpol_change/still-admitted-held netpol_change/readmitted
	netpol_change/now-denied-held netpol_change/now-denied-drops netpol_change/egress-denied-held
	netpol_change/egress-denied-drops netpol_change/nowindow-applies netpol_change/nowindow-denied
	netpol_change/nowindow-denied-drops netpol_change/nowindow-allowed
	netpol_change/nowindow-held netpol_change/delete-denies-held netpol_change/relabel-denies-held
	netpol_change/delete-relabel-control)
. "$(dirname "$0")/../lib/node.sh"
node_require "${CASES[@]}"
node_world 3
ep_server 2 ep2 -e "$(ep_ip 2):8080=ep2-8080" "$(ep_ip 2):9090=ep2-9090"
ep_server 3 ep3 -e "$(ep_ip 3):8080=ep3-8080"

# np_doc 1|2: the two NetworkPolicies of that version.
np_doc() {
	local web_src="" other_in="" web_to_other=""
	if [ "$1" = 1 ]; then
		other_in="  - from:
    - podSelector:
        matchLabels: {app: other}
    ports:
    - {protocol: TCP, port: 9090}"
		web_to_other="  - to:
    - podSelector:
        matchLabels: {app: other}
    ports:
    - {protocol: TCP, port: 8080}"
	else
		web_src="    - ipBlock:
        cidr: $CLIENT_IP/32"
	fi
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
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels: {app: web}
$web_src
    ports:
    - {protocol: TCP, port: 8080}
$other_in
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-out
  namespace: sl-test
spec:
  podSelector:
    matchLabels: {app: web}
  policyTypes: [Egress]
  egress:
  - to:
    - podSelector:
        matchLabels: {app: db}
    ports:
    - {protocol: TCP, port: 8080}
$web_to_other
EOF
}

{
	yaml_namespace sl-test team=red
	yaml_ns_pod web-1 sl-test "$(ep_ip 1)" app=web
	yaml_ns_pod db-1 sl-test "$(ep_ip 2)" app=db
	yaml_ns_pod other-1 sl-test "$(ep_ip 3)" app=other
	np_doc 1
} >"$T_TMP/v1.yaml"
np_doc 2 >"$T_TMP/v2.yaml"
# A second policy for db, admitting app=other on 9090 again, on its own
# (`sluice delete` removes it); and other-1 relabelled out of app=other.
cat >"$T_TMP/other-in.yaml" <<EOF
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-in-other
  namespace: sl-test
spec:
  podSelector:
    matchLabels: {app: db}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels: {app: other}
    ports:
    - {protocol: TCP, port: 9090}
EOF
yaml_ns_pod other-1 sl-test "$(ep_ip 3)" app=third >"$T_TMP/relabel.yaml"
# A change of a Service alone: the NetworkPolicy tables stay the same.
yaml_ingress_service db 80 8080 30080 >"$T_TMP/svc.yaml"
node_apply_or_die netpol_change/v1-admits "$T_TMP/v1.yaml"

# --- helpers ------------------------------------------------------------------

# hold TAG FROM DEST: 3 connections from endpoint FROM to DEST, held (echo
# of 1,000 bytes each, 1.5 s timeout) until go TAG.
hold() {
	cl_hold "$1" "$(ns_ep "$2")" -- -n 3 -b 1000 -w 1500 "$3"
	if [ "$(jq -r .held "$T_TMP/$1.ready" 2>/dev/null)" != 3 ]; then
		fail "netpol_change/$1" "sl-hold $1 from ep$2 to $3 did not open 3: $(cat "$T_TMP/$1.ready") $(head -c 300 "$T_TMP/$1.err")"
		exit 1
	fi
}

# held TAG: let TAG exchange (in this shell: wait needs its own child),
# then HELD is "ok/failed" of its 3 connections.
held() {
	wait_hold "$1"
	HELD=$(jq -r '"\(.ok)/\(.failed)"' "$T_TMP/$1.json" 2>/dev/null)
	HELD=${HELD:-no-output}
}

# admitted_records: TCP pod flow records of the test's ports (8080, 9090)
# that carry an admission (ALLOW flag), over every pod interface.
admitted_records() {
	pod_flows "$T_TMP/flows.json" || { echo "error"; return; }
	jq '[.[] | select(.proto == "tcp" and (.src + " " + .dst | test(":(8080|9090)( |$)"))
		and (.allowed_ingress or .allowed_egress))] | length' "$T_TMP/flows.json"
}

# drops IFACE REASON: sluice_drops_total of the pod hook on IFACE.
drops() { metric_sum sluice_drops_total "iface=\"$1\",reason=\"$2\""; }

# --- v1: the connections of the test are admitted -------------------------------
pre=$(cl_from 1 -j -b 100 "$(ep_ip 2):8080" 2>/dev/null | jq -r .ok)
pre+=$(cl_from 3 -j -b 100 "$(ep_ip 2):9090" 2>/dev/null | jq -r .ok)
pre+=$(cl_from 1 -j -b 100 "$(ep_ip 3):8080" 2>/dev/null | jq -r .ok)
check_eq netpol_change/v1-admits "$pre" 111 \
	"ok of ep1->ep2:8080, ep3->ep2:9090, ep1->ep3:8080 under v1"

# --- (c) an apply that changes a Service only ---------------------------------
hold c1 1 "$(ep_ip 2):8080"
hold c2 3 "$(ep_ip 2):9090"
hold c3 1 "$(ep_ip 3):8080"
a0=$(admitted_records)
node_apply_or_die netpol_change/unrelated-no-revoke "$T_TMP/svc.yaml"
a1=$(admitted_records)
# 9 held connections, each with a record on both pod interfaces it crosses
# (and the 3 closed ones above): nothing is sent between the two reads.
if [ "$a0" = "$a1" ] && [ "$a0" -ge 18 ] 2>/dev/null; then ok netpol_change/unrelated-no-revoke
else fail netpol_change/unrelated-no-revoke "admitted TCP records before/after a Service-only apply: $a0/$a1 (want equal, >= 18)"; fi
r=""
for t in c1 c2 c3; do held $t; r+="$HELD "; done
check_eq netpol_change/unrelated-held "$r" "3/0 3/0 3/0 " \
	"ok/failed of held ep1->ep2:8080, ep3->ep2:9090, ep1->ep3:8080 after a Service-only apply"

# --- (e) no window ----------------------------------------------------------------
# ep3 -> ep2:8080 is refused by v1 and v2, ep1 -> ep2:8080 admitted by both.
# The refused loop gives each connect 5 ms (a SYN-ACK on these veths takes
# well under 1 ms), so it makes a new connection every ~5 ms; each attempt
# sends exactly one SYN (the first retransmit is 1 s away), and each must be
# a policy drop on p2: a SYN that got through would be missing there even if
# its SYN-ACK came too late for the connect. This runs before (b): its
# refused connections, closed while unacknowledged, would retransmit into
# p2 for seconds (more drops there could hide a missing one).
hold e 1 "$(ep_ip 2):8080"
dd0=$(drops p2 policy_ingress)
# nsenter itself, not a shell function: $! must be sl-client's pid (nsenter
# execs it), so that SIGTERM makes it print its tally.
nsenter --net="/run/netns/$(ns_ep 3)" -- "$TOOLS/sl-client" -j -l -t 120 -w 5 -e EINPROGRESS \
	"$(ep_ip 2):8080" >"$T_TMP/nwd.json" 2>"$T_TMP/nwd.err" &
PID_nwd=$!
nsenter --net="/run/netns/$(ns_ep 1)" -- "$TOOLS/sl-client" -j -l -t 120 -i 2 -w 2000 \
	"$(ep_ip 2):8080" >"$T_TMP/nwa.json" 2>"$T_TMP/nwa.err" &
PID_nwa=$!
T_PIDS+=("$PID_nwd" "$PID_nwa")
sleep 0.3
applies=0
for _ in $(seq 10); do
	nsl apply -f "$T_TMP/v2.yaml" >/dev/null 2>&1 && applies=$((applies + 1))
	sleep 0.05
	nsl apply -f "$T_TMP/v1.yaml" >/dev/null 2>&1 && applies=$((applies + 1))
	sleep 0.05
done
sleep 0.3
stop_proc nwd
stop_proc nwa
sleep 0.3
dd1=$(drops p2 policy_ingress)
check_eq netpol_change/nowindow-applies "$applies" 20 "applies that succeeded"
EP3_RE=$(ep_ip 3 | sed 's/\./\\./g')
nwd_att=$(jq -r .attempts "$T_TMP/nwd.json" 2>/dev/null)
[[ $nwd_att =~ ^[0-9]+$ ]] || nwd_att=-1
check_eq netpol_change/nowindow-denied \
	"$(jq -r '"\(.failed) \(.attempts >= 50)"' "$T_TMP/nwd.json" 2>/dev/null) accepted=$(log_count ep2 "^ep2-8080 ${EP3_RE}:")" \
	"0 true accepted=0" \
	"connects that did not time out, at least 50 attempts, ep2 accepts from ep3 on 8080 ($(head -c 300 "$T_TMP/nwd.json") $(head -c 200 "$T_TMP/nwd.err"))"
# (-1: no tally; no growth can pass for "at least that many".)
check_range netpol_change/nowindow-denied-drops $((dd1 - dd0)) "$((nwd_att < 0 ? 100000001 : nwd_att))" 100000000 \
	"policy_ingress drops on p2 over $nwd_att refused attempts (one SYN each)"
check_eq netpol_change/nowindow-allowed \
	"$(jq -r '"\(.failed) \(.ok >= 50)"' "$T_TMP/nwa.json" 2>/dev/null)" "0 true" \
	"failed connects, at least 50 ok, ep1->ep2:8080 across the applies ($(head -c 300 "$T_TMP/nwa.json") $(head -c 200 "$T_TMP/nwa.err"))"
echo "# observed: no window: $nwd_att refused attempts, $((dd1 - dd0)) policy drops on p2, $(jq -r .ok "$T_TMP/nwa.json" 2>/dev/null) admitted connections"
held e
check_eq netpol_change/nowindow-held "$HELD" 3/0 \
	"ok/failed of ep1->ep2:8080 held across 20 applies ($(head -c 300 "$T_TMP/e.json"))"
# --- (a), (b), (d): v2 (v1 is live: the flips above ended with it) --------------
hold a 1 "$(ep_ip 2):8080"
hold b 3 "$(ep_ip 2):9090"
hold d 1 "$(ep_ip 3):8080"
a0=$(admitted_records)
node_apply_or_die netpol_change/change-revokes "$T_TMP/v2.yaml"
a1=$(admitted_records)
if [ "$a1" = 0 ] && [ "$a0" -ge 18 ] 2>/dev/null; then ok netpol_change/change-revokes
else fail netpol_change/change-revokes "admitted TCP records before/after the NetworkPolicy change: $a0/$a1 (want >= 18 / 0)"; fi

held a
check_eq netpol_change/still-admitted-held "$HELD" 3/0 \
	"ok/failed of held ep1->ep2:8080 (admitted by v1 and v2) after v2 ($(head -c 300 "$T_TMP/a.json"))"
# The exchange judged them again and admitted them: both ends' records.
pod_flows "$T_TMP/flows.json"
got=$(jq -r --arg p "$(ep_ip 1):" --arg d "$(ep_ip 2):8080" '
	[.[] | select(.proto == "tcp" and (.src | startswith($p)) and .dst == $d)] |
	"\([.[] | select(.iface == "p1" and .allowed_egress)] | length) \([.[] | select(.iface == "p2" and .allowed_ingress)] | length)"' \
	"$T_TMP/flows.json" 2>/dev/null)
check_eq netpol_change/readmitted "$got" "3 3" \
	"records of the 3 held ep1->ep2:8080 connections admitted again on p1 (egress) and p2 (ingress)"

di0=$(drops p2 policy_ingress)
held b
check_eq netpol_change/now-denied-held "$HELD" 0/3 \
	"ok/failed of held ep3->ep2:9090 (admitted by v1 only) after v2 ($(head -c 300 "$T_TMP/b.json"))"
di1=$(drops p2 policy_ingress)
check_range netpol_change/now-denied-drops $((di1 - di0)) 3 1000000 \
	"growth of sluice_drops_total{iface=p2,reason=policy_ingress} over 3 refused exchanges"

de0=$(drops p1 policy_egress)
held d
check_eq netpol_change/egress-denied-held "$HELD" 0/3 \
	"ok/failed of held ep1->ep3:8080 (ep1's egress admits it in v1 only) after v2 ($(head -c 300 "$T_TMP/d.json"))"
de1=$(drops p1 policy_egress)
check_range netpol_change/egress-denied-drops $((de1 - de0)) 3 1000000 \
	"growth of sluice_drops_total{iface=p1,reason=policy_egress} over 3 refused exchanges"

# --- a policy deleted, a pod relabelled: also NetworkPolicy changes -------------
# v2 + db-in-other admits ep3 -> ep2:9090 again; deleting db-in-other (db
# stays isolated by db-in) or moving ep3's pod out of app=other refuses it.
node_apply_or_die netpol_change/delete-denies-held "$T_TMP/other-in.yaml"
hold k 1 "$(ep_ip 2):8080" # admitted throughout: the control
hold f 3 "$(ep_ip 2):9090"
if ! nsl delete -f "$T_TMP/other-in.yaml" >"$T_TMP/del.out" 2>&1; then
	fail netpol_change/delete-denies-held "sluice delete: $(head -c 300 "$T_TMP/del.out")"
else
	held f
	check_eq netpol_change/delete-denies-held "$HELD" 0/3 \
		"ok/failed of held ep3->ep2:9090 after sluice delete of the policy that admitted it ($(head -c 300 "$T_TMP/f.json"))"
fi
node_apply_or_die netpol_change/relabel-denies-held "$T_TMP/other-in.yaml"
hold g 3 "$(ep_ip 2):9090"
node_apply_or_die netpol_change/relabel-denies-held "$T_TMP/relabel.yaml"
held g
check_eq netpol_change/relabel-denies-held "$HELD" 0/3 \
	"ok/failed of held ep3->ep2:9090 after its pod lost the label db-in-other admits ($(head -c 300 "$T_TMP/g.json"))"
held k
check_eq netpol_change/delete-relabel-control "$HELD" 3/0 \
	"ok/failed of held ep1->ep2:8080 (admitted by db-in) across the delete and the relabel ($(head -c 300 "$T_TMP/k.json"))"
t_done
