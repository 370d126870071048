#!/usr/bin/env bash
# Bounded state: thousands of services added and deleted for several rounds
# (whole-slot and incremental applies and deletes, with subsets, route
# weights, node-ingress frontends and NetworkPolicy) leave every map at the
# fill it had before and `sluice metrics` at its series count: nothing a
# service, group, endpoint or policy owned outlives it (sl_group_state
# leaked once, and its leftovers showed as service="unknown/unknown").
# State ids of pairs that left the policy are freed once they have been
# idle for the grace (2 s) by the next sweep: a whole apply, a repair
# (`sluice load` again, the agent's tick), or an id shortage (docs/APPLY.md).
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init churn
CASES=(churn/grows churn/maps-back-to-baseline churn/series-back-to-baseline churn/slots-equal-store)
require_kernel "${CASES[@]}"
t_world

N=${CHURN_SERVICES:-1500}
ROUNDS=${CHURN_ROUNDS:-5}

# gen FIRST COUNT WEIGHT: services c-FIRST.. with two pods each; every 10th
# has subsets split WEIGHT/100-WEIGHT, every 50th an externalIP, every
# 100th a NetworkPolicy.
gen() {
	awk -v first="$1" -v n="$2" -v w="$3" 'BEGIN {
	for (i = first; i < first + n; i++) {
		a = int(i / 250); b = i % 250 + 1; p = int(i / 120); q = (i % 120) * 2 + 1
		printf "---\napiVersion: v1\nkind: Service\nmetadata: {name: c-%d, namespace: churn}\n", i
		printf "spec:\n  clusterIP: 10.97.%d.%d\n  selector: {app: c-%d}\n", a, b, i
		if (i % 50 == 0)
			printf "  externalIPs: [198.18.%d.%d]\n", a, b
		printf "  ports: [{port: 80, targetPort: 8080}]\n"
		for (k = 0; k < 2; k++)
			printf "---\napiVersion: v1\nkind: Pod\nmetadata: {name: c-%d-%d, namespace: churn, labels: {app: c-%d, version: v%d}}\nstatus: {phase: Running, podIP: 10.100.%d.%d}\n", i, k, i, k + 1, p, q + k
		if (i % 10 == 0) {
			printf "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: c-%d, namespace: churn}\n", i
			printf "spec:\n  host: c-%d\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n", i
			printf "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: c-%d, namespace: churn}\n", i
			printf "spec:\n  hosts: [c-%d]\n  tcp:\n  - route:\n    - {destination: {host: c-%d, subset: v1}, weight: %d}\n    - {destination: {host: c-%d, subset: v2}, weight: %d}\n", i, i, w, i, 100 - w
		}
		if (i % 100 == 0) {
			printf "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: c-%d, namespace: churn}\n", i
			printf "spec:\n  podSelector: {matchLabels: {app: c-%d}}\n  policyTypes: [Ingress]\n  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}}], ports: [{protocol: TCP, port: 8080}]}]\n", i
		}
	}}'
}

run_sl() { # what args...
	if ! sl "${@:2}" >"$T_TMP/out" 2>"$T_TMP/err"; then
		fail churn/grows "$1: $(grep -v warning "$T_TMP/err" | head -c 400)"
		t_done
	fi
}

fill() { sl metrics | grep '^sluice_map_entries' | sort; }
series() { sl metrics | grep -vc '^#'; }

gen 2000 1 50 >"$T_TMP/base.yaml"
gen 0 "$N" 50 >"$T_TMP/all.yaml"
# A small change (incremental): new weights for 5 routed services.
for i in 0 10 20 30 40; do gen "$i" 1 20; done >"$T_TMP/change.yaml"
# A small delete (incremental): 5 services with their pods, rules, policy.
gen 100 5 50 >"$T_TMP/some.yaml"

run_sl "apply base" apply -f "$T_TMP/base.yaml"
fill >"$T_TMP/fill0"
series0=$(series)
grew=0
for r in $(seq "$ROUNDS"); do
	run_sl "round $r: apply $N services" apply -f "$T_TMP/all.yaml"
	grep -q incremental "$T_TMP/out" && fail churn/grows "round $r: adding $N services was incremental"
	run_sl "round $r: change 5" apply -f "$T_TMP/change.yaml"
	grep -q "incremental write" "$T_TMP/out" || fail churn/grows "round $r: a 5-service change was not incremental"
	run_sl "round $r: delete 5" delete -f "$T_TMP/some.yaml"
	[ "$r" = 1 ] && fill >"$T_TMP/fill1" && grew=$(series)
	run_sl "round $r: delete all" delete -f "$T_TMP/all.yaml"
done

groups0=$(awk -F'[ "]' '/sl_group_ids/ {print $NF}' "$T_TMP/fill0")
groups1=$(awk -F'[ "]' '/sl_group_ids/ {print $NF}' "$T_TMP/fill1")
check churn/grows "the churn did not fill the maps (group records $groups0 -> $groups1, series $series0 -> $grew)" \
	test "$groups1" -gt "$groups0" -a "$grew" -gt "$series0"
sleep 2.2
"$SLUICE" load --pin-root "$PIN" --cgroup "$CG" >"$T_TMP/load.out" 2>&1 ||
	fail churn/maps-back-to-baseline "sluice load (repair): $(tail -n 3 "$T_TMP/load.out")"
fill >"$T_TMP/fill2"
check churn/maps-back-to-baseline "map fill after $ROUNDS rounds differs: $(diff "$T_TMP/fill0" "$T_TMP/fill2" | grep '^[<>]' | tr '\n' ' ')" \
	cmp -s "$T_TMP/fill0" "$T_TMP/fill2"
series2=$(series)
check_eq churn/series-back-to-baseline "$series2" "$series0" "metrics series"
sl get dataplane --slot active >"$T_TMP/a.json" && sl get dataplane --slot inactive >"$T_TMP/b.json"
check churn/slots-equal-store "slots differ from each other or from the store: $(sl get dataplane --verify 2>&1)" \
	eval 'cmp -s "$T_TMP/a.json" "$T_TMP/b.json" && sl get dataplane --verify >/dev/null'
t_done
