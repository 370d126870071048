#!/usr/bin/env bash
# make demo, part 4 (run by tools/demo.sh): the node proxy between two nodes.
#
# Two simulated nodes (network namespaces on a bridge, each with its own pin
# root, data plane, proxy and pods) and the mesh CA in a third. The policy
# is the project's own examples/mtls-policy.yaml, unchanged, beside the
# workloads: api-client on node a may call nodejs-api on node b, another
# service account may not, a plaintext client is refused by the kernel, and
# the bytes between the nodes are TLS. The world is the one the integration
# tests use (tests/lib/mesh.sh); everything is removed on exit.
set -euo pipefail
B=${1:?usage: demo-mesh.sh BUILD_DIR}
TOP=$(cd "$(dirname "$0")/.." && pwd)
export BUILD=$B SLUICE=$B/sluice TOOLS=$B/tests/tools PROXY_BIN=$B/sluice-proxy
set +eu # the test library keeps its own error handling
. "$TOP/tests/lib/common.sh"
t_init demo
. "$TOP/tests/lib/mesh.sh"
# the library's result lines are for tests; the demo narrates instead
fail() { echo "demo: $1: $2" >&2; }
ok() { :; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { echo "\$ $*"; }

step "Part 4: mTLS between two nodes, with examples/mtls-policy.yaml unchanged"
MESH_LOAD_ARGS_A=(--pod-iface pa1 --pod-iface pa2)
MESH_LOAD_ARGS_B=(--pod-iface pb1)
mesh_world || exit 1
echo "node a ($IP_A): pods api-client-1 $POD_A1 (sa api-client), other-1 $POD_A2 (sa other)"
echo "node b ($IP_B): pod nodejs-api-1 $POD_B1 (sa nodejs-api), behind Service $VIP:80"
echo "the apply warned about the example's rules that need HTTP (they fail closed at L4):"
grep -h "needs HTTP\|not an L4 attribute" "$T_TMP/apply-a.out" | sed 's/^/  /'

step "The CA in its own namespace; each node proxy holds only its node identity"
show sluice ca init --dir ca ';' sluice ca issue --dir ca --node node-a --out node-a
"$SLUICE" ca issue --dir "$CA_DIR" --node node-a --out "$T_TMP/node-a" | sed 's/^/  /'
"$SLUICE" ca issue --dir "$CA_DIR" --node node-b --out "$T_TMP/node-b" | sed 's/^/  /'
mkdir "$T_TMP/ca-policy"
cp "$T_TMP/world.yaml" "$TOP/examples/mtls-policy.yaml" "$T_TMP/ca-policy/"
nsenter --net="/run/netns/$NS" -- "$SLUICE" ca serve --dir "$CA_DIR" --listen "$CA_ADDR" \
	--policy "$T_TMP/ca-policy" --ready "$T_TMP/ca.ready" >"$T_TMP/ca.log" 2>&1 &
T_PIDS+=("$!")
wait_file "$T_TMP/ca.ready" 10
pod_server srv b1 "$POD_B1:8080=nodejs-api-1"
mesh_proxy a pxa --ca "$CA_ADDR" --node-cert "$T_TMP/node-a"
mesh_proxy b pxb --ca "$CA_ADDR" --node-cert "$T_TMP/node-b"
echo "the CA's log: what it issued, to whom"
sed 's/^/  /' "$T_TMP/ca.log"
echo "node a asking for node b's workload:"
nsenter --net="/run/netns/$NS-a" -- "$SLUICE" ca fetch --ca "$CA_ADDR" --node-cert "$T_TMP/node-a" \
	--ns nodejs-app --sa nodejs-api --out "$T_TMP/stolen" 2>&1 | sed 's/^/  /' || true

step "api-client -> nodejs-api: allowed (HBONE from node a's proxy to node b's)"
nsenter --net="/run/netns/$NS" -- tcpdump -i br0 -n -s 0 -U -w "$T_TMP/wire.pcap" tcp port 15008 \
	>/dev/null 2>&1 &
DUMP=$!
T_PIDS+=("$DUMP")
sleep 1
pod_client a1 -j -n 20 -b 1000 "$VIP:80" >"$T_TMP/ok.json" 2>/dev/null || true
jq -r '"  \(.ok) of \(.attempts) connected, identities \(.identities), \(.bytes_sent) bytes sent"' "$T_TMP/ok.json"

step "other -> nodejs-api: denied by the AuthorizationPolicy"
pod_client a2 -j -n 3 -w 2000 "$VIP:80" >"$T_TMP/deny.json" 2>/dev/null || true
jq -r '"  \(.ok) of \(.attempts) connected, errors \(.errors)"' "$T_TMP/deny.json"

step "A plaintext client dialling the pod itself from node a: refused in the kernel (STRICT)"
nsenter --net="/run/netns/$NS-a" -- "$TOOLS/sl-client" -j -n 2 -w 1000 "$POD_B1:8080" \
	>"$T_TMP/plain.json" 2>/dev/null || true
jq -r '"  \(.ok) of \(.attempts) connected, errors \(.errors)"' "$T_TMP/plain.json"
"$SLUICE" metrics --pin-root "$PIN-b" |
	awk '/^sluice_drops_total/ && /hook="tc_pod"/ && /policy_ingress/ {s += $NF}
	     END {print "  node b pod interface drops (policy_ingress): " s}'

step "The wire between the nodes"
sleep 0.5
kill -INT "$DUMP" 2>/dev/null
wait "$DUMP" 2>/dev/null
echo "TCP segments to or from :15008: $(tcpdump -r "$T_TMP/wire.pcap" -n 2>/dev/null | wc -l)"
echo "TLS application-data records among them:" \
	"$(tcpdump -r "$T_TMP/wire.pcap" -n 'tcp[((tcp[12] & 0xf0) >> 2)] = 0x17' 2>/dev/null | wc -l)"
echo "segments whose payload shows the server's reply 'nodejs-api-1' or the client's bytes 'xxxx...':" \
	"$(tcpdump -r "$T_TMP/wire.pcap" -n -A 2>/dev/null | grep -c -e 'nodejs-api-1' -e 'xxxxxxxxxxxxxxxx' || true)"
echo "one data segment, as it crossed:"
tcpdump -r "$T_TMP/wire.pcap" -n -X -c 40 'tcp[((tcp[12] & 0xf0) >> 2)] = 0x17' 2>/dev/null |
	awk '/^[0-9]/ {n++} n == 2' | head -6 | sed 's/^/  /'

step "Proxy metrics, served with the kernel's by sluice metrics (Istio's TCP series with both principals)"
sleep 1.2
show sluice metrics --pin-root "$PIN-b" "| grep -e 'reporter=\"sluice-proxy\"' -e ^sluice_proxy_"
"$SLUICE" metrics --pin-root "$PIN-b" |
	grep -e '^istio_tcp_connections_opened_total{reporter="sluice-proxy"' -e '^sluice_proxy_' | sed 's/^/  /'
t_done
