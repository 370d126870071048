#!/usr/bin/env bash
# Operating the proxy: SIGKILL leaves kernel-path connections alone while
# new connections to STRICT workloads fail closed (and work again once a
# proxy is back); upgrades of the outbound and the inbound proxy under a
# steady stream of connections, by handing the listening sockets to the new
# process, refuse and fail nothing.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init pxops
CASES=(ops/through-proxy ops/policy-before-next-connection ops/policy-removed
	ops/kill-kernel-path-unaffected ops/kill-strict-fails-closed
	ops/restart-serves ops/upgrade-outbound-no-failures ops/upgrade-outbound-old-exits
	ops/upgrade-inbound-no-failures ops/upgrade-inbound-old-exits)
. "$T_LIB/mesh.sh"
mesh_require "${CASES[@]}"
mesh_world
# A Service with no mesh policy in its namespace stays on the kernel path.
cat >"$T_TMP/plain.yaml" <<Y
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: plain}
spec:
  clusterIP: 10.96.0.30
  ports:
  - {name: tcp, port: 90, targetPort: 9090}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: plain-1, namespace: plain, labels: {kubernetes.io/service-name: plain}}
addressType: IPv4
endpoints:
- addresses: [$POD_B1]
ports:
- {name: tcp, port: 9090, protocol: TCP}
Y
mesh_apply "$T_TMP/plain.yaml"
mesh_certs a nodejs-app api-client other
mesh_certs b nodejs-app nodejs-api
pod_server srv b1 "$POD_B1:8080=hello-b1" "$POD_B1:9090=plain-b1"
mesh_proxy a pxa --certs "$T_TMP/certs-a" --control "$T_TMP/ctl-a"
mesh_proxy b pxb --certs "$T_TMP/certs-b" --control "$T_TMP/ctl-b"

pod_client a1 -j -n 2 "$VIP:80" >"$T_TMP/ok.json" 2>"$T_TMP/ok.err"
check_eq ops/through-proxy "$(count hello-b1 "$T_TMP/ok.json")" 2 "($(head -c 200 "$T_TMP/ok.err"))"

# --- a new policy decides the very next connection ------------------------------
# No pause after the apply: each proxy compares the published generation
# with its own before every decision and reloads first.
cat >"$T_TMP/deny.yaml" <<'Y'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-client, namespace: nodejs-app}
spec:
  action: DENY
  rules: [{from: [{source: {principals: ["cluster.local/ns/nodejs-app/sa/api-client"]}}]}]
Y
mesh_apply "$T_TMP/deny.yaml"
pod_client a1 -j -n 2 -w 2000 "$VIP:80" >"$T_TMP/deny.json" 2>"$T_TMP/deny.err"
check_eq ops/policy-before-next-connection "$(jq -r '"\(.ok)/\(.failed)"' "$T_TMP/deny.json")" 0/2 \
	"api-client right after a DENY was applied ($(head -c 200 "$T_TMP/deny.err"))"
for n in a b; do
	"$SLUICE" delete --pin-root "$PIN-$n" -f "$T_TMP/deny.yaml" >/dev/null 2>&1
done
pod_client a1 -j -n 2 "$VIP:80" >"$T_TMP/undeny.json" 2>"$T_TMP/undeny.err"
check_eq ops/policy-removed "$(count hello-b1 "$T_TMP/undeny.json")" 2 "($(head -c 200 "$T_TMP/undeny.err"))"

# --- SIGKILL ---------------------------------------------------------------------
# held: connect, read the identity, wait 3 s (the kill happens then), send.
pod_client a1 -j -n 1 -d 3000 -b 4000 -w 8000 10.96.0.30:90 >"$T_TMP/held.json" 2>"$T_TMP/held.err" &
HELD=$!
sleep 1
kill -KILL "$PID_pxa"
wait "$PID_pxa" 2>/dev/null
wait "$HELD"
check_eq ops/kill-kernel-path-unaffected "$(jq -r '"\(.ok) \(.bytes_sent)"' "$T_TMP/held.json")" "1 4000" \
	"kernel-path connection across the proxy's SIGKILL ($(head -c 200 "$T_TMP/held.err"))"
pod_client a1 -j -n 3 -e ECONNREFUSED "$VIP:80" >"$T_TMP/dead.json" 2>"$T_TMP/dead.err"
check_eq ops/kill-strict-fails-closed "$(jq -r '"\(.ok)/\(.attempts)"' "$T_TMP/dead.json")" 3/3 \
	"connections to the STRICT service refused while the proxy is down ($(head -c 200 "$T_TMP/dead.err"))"
mesh_proxy a pxa --certs "$T_TMP/certs-a" --control "$T_TMP/ctl-a"
pod_client a1 -j -n 2 "$VIP:80" >"$T_TMP/re.json" 2>"$T_TMP/re.err"
check_eq ops/restart-serves "$(count hello-b1 "$T_TMP/re.json")" 2 "($(head -c 200 "$T_TMP/re.err"))"

# --- upgrades under load ----------------------------------------------------------
# upgrade N OLD-TAG NEW-TAG: start the successor with --takeover while a
# client loop runs; the loop must see no failure and the old process exit.
upgrade() {
	local n=$1 old=$2 new=$3 case=$4 pid
	pod_client a1 -j -l -t 8 -i 5 -w 5000 "$VIP:80" >"$T_TMP/$case.json" 2>"$T_TMP/$case.err" &
	local loop=$!
	sleep 2
	eval "pid=\$PID_$old"
	mesh_proxy "$n" "$new" --certs "$T_TMP/certs-$n" --takeover "$T_TMP/ctl-$n" \
		--control "$T_TMP/ctl-$n.2" --drain 20
	wait "$loop"
	check_eq "ops/upgrade-$case-no-failures" "$(jq -r '"\(.failed) \(.ok > 200)"' "$T_TMP/$case.json")" \
		"0 true" "failed connections across the hand-over ($(head -c 300 "$T_TMP/$case.err"))"
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	check_eq "ops/upgrade-$case-old-exits" "$(kill -0 "$pid" 2>/dev/null && echo running || echo exited)" \
		exited "the old proxy after draining ($(tail -n 2 "$T_TMP/$old.out"))"
}
upgrade a pxa pxa2 outbound
upgrade b pxb pxb2 inbound
t_done
