#!/usr/bin/env bash
# PeerAuthentication STRICT enforced in the kernel: node b's pod interface
# admits a new connection into a STRICT port of nodejs-api only from node
# b's proxy (the proxy mark), so every way around the proxy is refused:
# the pod IP dialled from the other node, from a pod of the other node, from
# node b itself, a UDP datagram, and a pod that sends with another pod's
# address. portLevelMtls PERMISSIVE opens one port to plaintext. The proxy
# path keeps working throughout.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init strict
CASES=(strict/proxy-path strict/pod-ip-from-other-node strict/pod-ip-from-other-pod
	strict/pod-ip-from-same-node strict/udp-datagram strict/spoofed-source
	strict/port-level-permissive strict/drops-counted strict/disable-opens
	strict/disable-proxy-sends-plaintext)
. "$T_LIB/mesh.sh"
mesh_require "${CASES[@]}"
MESH_LOAD_ARGS_A=(--pod-iface pa1 --pod-iface pa2)
MESH_LOAD_ARGS_B=(--pod-iface pb1)
mesh_world
cat >"$T_TMP/ports.yaml" <<'Y'
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: api-ports, namespace: nodejs-app}
spec:
  selector: {matchLabels: {app: nodejs-api}}
  mtls: {mode: STRICT}
  portLevelMtls:
    9090: {mode: PERMISSIVE}
Y
mesh_apply "$T_TMP/ports.yaml"
mesh_certs a nodejs-app api-client other
mesh_certs b nodejs-app nodejs-api
pod_server srv b1 "$POD_B1:8080=hello-b1" "udp:$POD_B1:8080=udp-b1" "$POD_B1:9090=open-9090"
mesh_proxy a pxa
mesh_proxy b pxb
sleep 1.5 # the proxies write sl_mtls for the generation they loaded

pod_client a1 -j -n 3 "$VIP:80" >"$T_TMP/ok.json" 2>"$T_TMP/ok.err"
check_eq strict/proxy-path "$(count hello-b1 "$T_TMP/ok.json")" 3 "($(head -c 300 "$T_TMP/ok.err"))"

# refused CASE NETNS [CGROUP] -- SL-CLIENT ARGS: every attempt must fail
refused() {
	local name=$1 ns=$2 cg=$3
	shift 4
	if [ -n "$cg" ]; then
		run_in "$ns" "$cg" "$TOOLS/sl-client" -j -w 1500 "$@" >"$T_TMP/r.json" 2>"$T_TMP/r.err"
	else
		in_n "$ns" "$TOOLS/sl-client" -j -w 1500 "$@" >"$T_TMP/r.json" 2>"$T_TMP/r.err"
	fi
	check_eq "$name" "$(jq -r '"\(.ok)/\(.attempts)"' "$T_TMP/r.json")" "0/$(jq -r .attempts "$T_TMP/r.json")" \
		"plaintext reached the STRICT workload ($(head -c 200 "$T_TMP/r.err"))"
}
refused strict/pod-ip-from-other-node "$NS-a" "" -- -n 2 "$POD_B1:8080"
refused strict/pod-ip-from-other-pod "$NS-a1" "$CG/a" -- -n 2 "$POD_B1:8080"
refused strict/pod-ip-from-same-node "$NS-b" "" -- -n 2 "$POD_B1:8080"
refused strict/udp-datagram "$NS-a" "" -- -u -n 2 "$POD_B1:8080"

# Pod a2 (sa other, which the policy denies) sends with pod a1's address to
# borrow api-client's identity at node a's proxy: node a's pod interface
# drops it as spoofed before it gets anywhere.
tc_drops() { # NODE REASON
	"$SLUICE" metrics --pin-root "$PIN-$1" |
		awk -v r="reason=\"$2\"" '/^sluice_drops_total/ && /hook="tc_pod"/ && index($0, r) {s += $NF} END {print s + 0}'
}
before=$(tc_drops a spoofed)
ip -n "$NS-a2" addr add "$POD_A1/32" dev e0 # a pod with NET_ADMIN can do this
run_in "$NS-a2" "$CG/a" /usr/bin/python3 - "$POD_A1" "$VIP" >"$T_TMP/spoof.out" 2>&1 <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1.5)
s.bind((sys.argv[1], 0))
try:
    s.connect((sys.argv[2], 80))
    print("connected", s.recv(64))
except OSError as e:
    print("refused", e)
PY
after=$(tc_drops a spoofed)
check_eq strict/spoofed-source "$(cut -d' ' -f1 "$T_TMP/spoof.out") $((after > before))" "refused 1" \
	"a2 as a1: $(cat "$T_TMP/spoof.out"); spoofed drops $before -> $after"

in_n "$NS-a" "$TOOLS/sl-client" -j -n 2 "$POD_B1:9090" >"$T_TMP/p.json" 2>"$T_TMP/p.err"
check_eq strict/port-level-permissive "$(count open-9090 "$T_TMP/p.json")" 2 \
	"plaintext to the PERMISSIVE port ($(head -c 200 "$T_TMP/p.err"))"

check_range strict/drops-counted "$(tc_drops b policy_ingress)" 8 100000 "policy_ingress drops on node b"

# DISABLE for the namespace at the workload level: the kernel stops checking
# once the proxy has loaded the new generation.
sed -i 's/mode: STRICT}/mode: DISABLE}/' "$T_TMP/ports.yaml"
mesh_apply "$T_TMP/ports.yaml"
sleep 2
in_n "$NS-a" "$TOOLS/sl-client" -j -n 2 "$POD_B1:8080" >"$T_TMP/d.json" 2>"$T_TMP/d.err"
check_eq strict/disable-opens "$(count hello-b1 "$T_TMP/d.json")" 2 "($(head -c 200 "$T_TMP/d.err"))"
# The VIP is still handed to node a's proxy (authorization), which now
# sends plaintext straight to the pod instead of a tunnel.
pod_client a1 -j -n 3 "$VIP:80" >"$T_TMP/v.json" 2>"$T_TMP/v.err"
sleep 1.2
check_eq strict/disable-proxy-sends-plaintext \
	"$(count hello-b1 "$T_TMP/v.json") $(mesh_metric a istio_tcp_connections_opened_total 'connection_security_policy="none"')" \
	"3 3" "through node a's proxy without TLS ($(head -c 200 "$T_TMP/v.err"))"
t_done
