#!/usr/bin/env bash
# A one-object apply compiles the services it can change and no others
# (issue 10: applies that cost what they change; docs/APPLY.md, "What a
# change affects"). N services in one namespace, each with two pods; a few
# pods carry a `track: canary` label. Security policies with a selector
# change only the services whose workloads carry the selector's labels, so
# `sluice apply` of one compiles those (its "compiled K affected services")
# and the result is what the whole compile gives (`get services`):
#
#   selector-policy  an AuthorizationPolicy selecting app=s-7: 1 service,
#                    s-7 handed off (authz), no other;
#   label-policy     a PeerAuthentication STRICT selecting track=canary, a
#                    label no Service selects by: the 3 services of the
#                    canary pods, mtls-strict on them only;
#   no-match         a RequestAuthentication whose selector no workload has:
#                    0 services;
#   deletes          each deleted again: the same services back, nothing
#                    handed off;
#   netpol-relabel   a NetworkPolicy selecting app=s-7 and admitting
#                    track=canary pods; a pod relabelled canary is applied
#                    incrementally (the NetworkPolicy tables compile from
#                    the pods' summaries, not a whole compile) and its
#                    address is admitted, beside the three it had;
#   netpol-unlabel   a canary pod relabelled without it: its address goes;
#   namespace-wide   an AuthorizationPolicy without selector: every service
#                    of the namespace handed off (compiled whole or all N).
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init apply-scope
CASES=(selector-policy label-policy no-match deletes netpol-relabel netpol-unlabel namespace-wide)
require_kernel "${CASES[@]/#/apply-scope/}"
t_world --proxy 127.0.0.1:15099

N=${APPLY_SCOPE_SERVICES:-400}
awk -v n="$N" 'BEGIN {
	for (i = 0; i < n; i++) {
		printf "---\napiVersion: v1\nkind: Service\nmetadata: {name: s-%d, namespace: scope}\n", i
		printf "spec:\n  clusterIP: 10.98.%d.%d\n  selector: {app: s-%d}\n", int(i / 250), i % 250 + 1, i
		printf "  ports: [{port: 80, targetPort: 8080}]\n"
		for (k = 0; k < 2; k++) {
			track = (k == 1 && (i == 3 || i == 11 || i == 250)) ? ", track: canary" : ""
			printf "---\napiVersion: v1\nkind: Pod\nmetadata: {name: s-%d-%d, namespace: scope, labels: {app: s-%d%s}}\n", i, k, i, track
			printf "status: {phase: Running, podIP: 10.101.%d.%d}\n", int(i / 120), (i % 120) * 2 + k + 1
		}
	}
}' >"$T_TMP/base.yaml"
apply_or_die apply-scope/selector-policy "$T_TMP/base.yaml"

policy() { # KIND NAME SELECTOR-LINE SPEC-LINES
	printf 'apiVersion: security.istio.io/v1\nkind: %s\nmetadata: {name: %s, namespace: scope}\nspec:\n%s%s\n' \
		"$1" "$2" "$3" "$4"
}
policy AuthorizationPolicy az-s7 '  selector: {matchLabels: {app: s-7}}
' '  action: ALLOW
  rules: [{from: [{source: {principals: [x]}}]}]' >"$T_TMP/az.yaml"
policy PeerAuthentication pa-canary '  selector: {matchLabels: {track: canary}}
' '  mtls: {mode: STRICT}' >"$T_TMP/pa.yaml"
policy RequestAuthentication ra-none '  selector: {matchLabels: {app: nobody}}
' '  jwtRules: [{issuer: "https://issuer.example", jwksUri: "https://issuer.example/jwks"}]' >"$T_TMP/ra.yaml"
policy AuthorizationPolicy az-all '' '  action: ALLOW
  rules: [{from: [{source: {principals: [x]}}]}]' >"$T_TMP/az-all.yaml"

# compiled OUT: the number of services the apply compiled, "whole" for a
# whole compile.
compiled() {
	if grep -q "whole compile" "$1"; then echo whole; return; fi
	sed -n 's/.*compiled \([0-9]*\) affected services.*/\1/p' "$1" | head -n 1
}
# handed REASON: the handed-off services with REASON, sorted, on one line.
handed() {
	sl get services -o json |
		jq -r --arg r "$1" '[.services[] | select(.handoff and (.handoff_reasons | index($r))) | .name] | sort | join(" ")'
}
step() { # NAME VERB FILE: apply or delete FILE, output in $T_TMP/step.out
	if ! sl "$2" -f "$3" >"$T_TMP/step.out" 2>"$T_TMP/step.err"; then
		fail "$1" "sluice $2 -f $3: $(head -c 400 "$T_TMP/step.err")"
		return 1
	fi
}

if step apply-scope/selector-policy apply "$T_TMP/az.yaml"; then
	check_eq apply-scope/selector-policy "$(compiled "$T_TMP/step.out") | $(handed authorization)" \
		"1 | s-7" "services compiled | handed off for authorization ($(head -n 1 "$T_TMP/step.out"))"
fi
if step apply-scope/label-policy apply "$T_TMP/pa.yaml"; then
	check_eq apply-scope/label-policy "$(compiled "$T_TMP/step.out") | $(handed mtls-strict)" \
		"3 | s-11 s-250 s-3" "services compiled | handed off for mtls-strict ($(head -n 1 "$T_TMP/step.out"))"
fi
if step apply-scope/no-match apply "$T_TMP/ra.yaml"; then
	check_eq apply-scope/no-match "$(compiled "$T_TMP/step.out") | $(handed jwt)" \
		"0 | " "services compiled | handed off for jwt ($(head -n 1 "$T_TMP/step.out"))"
fi
got=''
for f in az pa ra; do
	step apply-scope/deletes delete "$T_TMP/$f.yaml" || break
	got+="$(compiled "$T_TMP/step.out") "
done
check_eq apply-scope/deletes "$got| $(sl get services -o json | jq '[.services[] | select(.handoff)] | length')" \
	"1 3 0 | 0" "services compiled by the three deletes | handed off after"
# NetworkPolicy: the addresses admitted to s-7's pods, sorted.
cat >"$T_TMP/np.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np-s7, namespace: scope}
spec:
  podSelector: {matchLabels: {app: s-7}}
  ingress: [{from: [{podSelector: {matchLabels: {track: canary}}}]}]
EOF
pod() { # NAME APP IP [EXTRA-LABELS]
	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: scope, labels: {app: %s%s}}\n' "$1" "$2" "${4:-}"
	printf 'status: {phase: Running, podIP: %s}\n' "$3"
}
admitted() {
	sl get dataplane --slot active | jq -r '[.np_prefixes[] | select(.portset != 0) | .prefix] | sort | join(" ")'
}
pod s-20-1 s-20 10.101.0.42 ', track: canary' >"$T_TMP/relabel.yaml"
pod s-3-1 s-3 10.101.0.8 >"$T_TMP/unlabel.yaml"
if step apply-scope/netpol-relabel apply "$T_TMP/np.yaml" && step apply-scope/netpol-relabel apply "$T_TMP/relabel.yaml"; then
	check_eq apply-scope/netpol-relabel "$(compiled "$T_TMP/step.out") | $(admitted)" \
		"1 | 10.101.0.24/32 10.101.0.42/32 10.101.0.8/32 10.101.2.22/32" \
		"services compiled | admitted to s-7 ($(head -n 2 "$T_TMP/step.out" | tr '\n' ' '))"
fi
if step apply-scope/netpol-unlabel apply "$T_TMP/unlabel.yaml"; then
	check_eq apply-scope/netpol-unlabel "$(compiled "$T_TMP/step.out") | $(admitted)" \
		"1 | 10.101.0.24/32 10.101.0.42/32 10.101.2.22/32" \
		"services compiled | admitted to s-7 ($(head -n 2 "$T_TMP/step.out" | tr '\n' ' '))"
fi
step apply-scope/netpol-unlabel delete "$T_TMP/np.yaml" || true
if step apply-scope/namespace-wide apply "$T_TMP/az-all.yaml"; then
	n=$(compiled "$T_TMP/step.out")
	[ "$n" = whole ] && n=$N
	check_eq apply-scope/namespace-wide "$n | $(sl get services -o json | jq '[.services[] | select(.handoff)] | length')" \
		"$N | $N" "services compiled | handed off ($(head -n 1 "$T_TMP/step.out"))"
fi
t_done
