# Two simulated nodes and the mesh CA, for the proxy and mTLS tests. Source
# common.sh, call t_init, then source this file:
#
#   mesh_require CASES...   skip every case when the kernel or tools lack something
#   mesh_world              the netns below, pin roots, `sluice load` on both
#                           nodes, the CA directory ($CA_DIR), the policy applied
#   mesh_certs N NS SA...   `ca issue` into $T_TMP/certs-N/NS/SA
#   mesh_proxy N TAG [ARGS] sluice-proxy on node N (a|b); identities from
#                           $T_TMP/certs-N unless ARGS say otherwise
#   pod_server TAG POD L... sl-server in pod netns POD
#   pod_client POD ARGS     sl-client in pod POD (a1, a2, b1) and its node's cgroup
#   mesh_metric N FAMILY RE sum of a family's samples in node N's proxy metrics
#                           (its file: proxy_prom N)
#
#     wire netns ($NS): bridge br0 10.10.0.254/24, where the CA serves (:15012)
#        |                                   |
#   node a ($NS-a) 10.10.0.1           node b ($NS-b) 10.10.0.2
#   proxy :15001 (hand-off), :15008    proxy :15001 (hand-off), :15008
#     pa1 -- pod a1 10.244.1.2 (sa api-client)   pb1 -- pod b1 10.244.2.2
#     pa2 -- pod a2 10.244.1.3 (sa other)             (sa nodejs-api, :8080)
#                                                pb2 -- pod b2 10.244.2.3 (sa api-client)
#                                                pb3 -- pod b3 10.244.2.4 (sa other)
#
# Nodes route each other's pod /24 over the wire; pods route everything to
# their node. Pods of node N are processes in pod netns and in cgroup
# $CG/N, where node N's data plane is attached. Pin roots: $PIN-a, $PIN-b.
# shellcheck shell=bash

MESH_EXTRA_NS=()
MESH_PINS=()
MESH_LOAD_ARGS_A=()
MESH_LOAD_ARGS_B=()
PROXY_BIN=${PROXY_BIN:-$BUILD/sluice-proxy-asan}
MARK=0x5110
VIP=10.96.0.20
IP_A=10.10.0.1
IP_B=10.10.0.2
IP_W=10.10.0.254
POD_A1=10.244.1.2
POD_A2=10.244.1.3
POD_B1=10.244.2.2
POD_B2=10.244.2.3
POD_B3=10.244.2.4
CA_DIR=$T_TMP/ca
CA_ADDR=$IP_W:15012

eval "$(declare -f _our_pids | sed '1s/^_our_pids/_mesh_common_our_pids/')"
eval "$(declare -f cleanup | sed '1s/^cleanup/_mesh_common_cleanup/')"

_our_pids() {
	local n
	_mesh_common_our_pids
	for n in "${MESH_EXTRA_NS[@]}"; do
		ip netns pids "$n" 2>/dev/null
	done
}

cleanup() {
	local was=$T_CLEANED n p
	_mesh_common_cleanup
	[ "$was" = 1 ] && return 0
	for p in "${MESH_PINS[@]}"; do
		"$SLUICE" unload --pin-root "$p" >/dev/null 2>&1
		rm -rf "$p"
		rm -f "/run/sluice/$(printf %s "$p" | tr / _).proxy.prom"
	done
	for n in "${MESH_EXTRA_NS[@]}"; do
		ip netns del "$n" 2>/dev/null
	done
	return 0
}

mesh_require() {
	require_kernel "$@"
	ip link add "sl$$v0" type veth peer name "sl$$v1" 2>/dev/null || skip_all "veth interfaces" "$@"
	ip link del "sl$$v0" 2>/dev/null
	[ -x "$PROXY_BIN" ] || { echo "FAIL $T_NAME: $PROXY_BIN not built (run make)"; exit 1; }
}

in_n() {
	local n=$1
	shift
	nsenter --net="/run/netns/$n" -- "$@"
}

_mesh_netns() {
	local n=$1
	if [ "$n" != "$NS" ]; then
		MESH_EXTRA_NS+=("$n")
		[ -n "${SL_T_REGISTRY:-}" ] && echo "$n" >>"$SL_T_REGISTRY"
	fi
	ip netns add "$n" || return 1
	ip -n "$n" link set lo up
	in_n "$n" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="10000 65000" \
		net.ipv6.conf.all.disable_ipv6=1 >/dev/null
}

# _mesh_node N IP: node netns $NS-N on the bridge.
_mesh_node() {
	local n=$1 ip=$2
	_mesh_netns "$NS-$n" || return 1
	ip -n "$NS" link add "w$n" type veth peer name eth0 netns "$NS-$n" || return 1
	ip -n "$NS" link set "w$n" master br0 up
	ip -n "$NS-$n" addr add "$ip/24" dev eth0
	ip -n "$NS-$n" link set eth0 up
	in_n "$NS-$n" sysctl -qw net.ipv4.ip_forward=1 >/dev/null
	mkdir -p "$CG/$n"
}

# _mesh_pod N I IP: pod netns $NS-NI behind veth pNI of node N.
_mesh_pod() {
	local n=$1 i=$2 ip=$3 gw
	gw=${ip%.*}.1
	_mesh_netns "$NS-$n$i" || return 1
	ip -n "$NS-$n" link add "p$n$i" type veth peer name e0 netns "$NS-$n$i" || return 1
	ip -n "$NS-$n$i" addr add "$ip/24" dev e0
	ip -n "$NS-$n$i" link set e0 up
	ip -n "$NS-$n$i" route add default via "$gw" dev e0 onlink
	ip -n "$NS-$n" addr add "$gw/32" dev "p$n$i"
	ip -n "$NS-$n" link set "p$n$i" up
	ip -n "$NS-$n" route add "$ip/32" dev "p$n$i"
}

# The workloads; examples/mtls-policy.yaml is applied beside it unchanged.
mesh_policy() {
	local node_a=${1:-node-a}
	cat <<Y
apiVersion: v1
kind: Service
metadata: {name: nodejs-api, namespace: nodejs-app}
spec:
  clusterIP: $VIP
  selector: {app: nodejs-api}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: v1
kind: Pod
metadata: {name: nodejs-api-1, namespace: nodejs-app, labels: {app: nodejs-api}}
spec: {serviceAccountName: nodejs-api, nodeName: node-b}
status: {phase: Running, podIP: $POD_B1}
---
apiVersion: v1
kind: Pod
metadata: {name: api-client-1, namespace: nodejs-app, labels: {app: api-client}}
spec: {serviceAccountName: api-client, nodeName: $node_a}
status: {phase: Running, podIP: $POD_A1}
---
apiVersion: v1
kind: Pod
metadata: {name: other-1, namespace: nodejs-app, labels: {app: other}}
spec: {serviceAccountName: other, nodeName: $node_a}
status: {phase: Running, podIP: $POD_A2}
---
apiVersion: v1
kind: Pod
metadata: {name: api-client-2, namespace: nodejs-app, labels: {app: api-client}}
spec: {serviceAccountName: api-client, nodeName: node-b}
status: {phase: Running, podIP: $POD_B2}
---
apiVersion: v1
kind: Pod
metadata: {name: other-2, namespace: nodejs-app, labels: {app: other}}
spec: {serviceAccountName: other, nodeName: node-b}
status: {phase: Running, podIP: $POD_B3}
Y
}

# mesh_apply FILE...: apply on both nodes (the same policy everywhere).
mesh_apply() {
	local n args=() f
	for f in "$@"; do args+=(-f "$f"); done
	for n in a b; do
		"$SLUICE" apply --pin-root "$PIN-$n" "${args[@]}" >"$T_TMP/apply-$n.out" 2>&1 || {
			fail "$T_NAME" "apply on node $n: $(head -c 600 "$T_TMP/apply-$n.out")"
			exit 1
		}
	done
}

_mesh_load() {
	local n=$1 ip=$2
	shift 2
	MESH_PINS+=("$PIN-$n")
	[ -n "${SL_T_REGISTRY:-}" ] && echo "$T_ID-$n" >>"$SL_T_REGISTRY"
	in_n "$NS-$n" "$SLUICE" load --pin-root "$PIN-$n" --cgroup "$CG/$n" \
		--proxy "$ip:15001" --proxy-mark "$MARK" "$@" >"$T_TMP/load-$n.out" 2>&1 ||
		{ fail "$T_NAME" "load on node $n: $(tail -n 5 "$T_TMP/load-$n.out")"; exit 1; }
}

mesh_world() {
	_mesh_netns "$NS" || { fail "$T_NAME" "netns"; exit 1; }
	{ ip -n "$NS" link add br0 type bridge && ip -n "$NS" addr add "$IP_W/24" dev br0 &&
		ip -n "$NS" link set br0 up; } || { fail "$T_NAME" "bridge"; exit 1; }
	mkdir -p "$CG"
	{ _mesh_node a "$IP_A" && _mesh_node b "$IP_B"; } || { fail "$T_NAME" "nodes"; exit 1; }
	ip -n "$NS-a" route add 10.244.2.0/24 via "$IP_B"
	ip -n "$NS-b" route add 10.244.1.0/24 via "$IP_A"
	{ _mesh_pod a 1 "$POD_A1" && _mesh_pod a 2 "$POD_A2" && _mesh_pod b 1 "$POD_B1" &&
		_mesh_pod b 2 "$POD_B2" && _mesh_pod b 3 "$POD_B3"; } ||
		{ fail "$T_NAME" "pods"; exit 1; }
	_mesh_load a "$IP_A" "${MESH_LOAD_ARGS_A[@]}"
	_mesh_load b "$IP_B" "${MESH_LOAD_ARGS_B[@]}"
	"$SLUICE" ca init --dir "$CA_DIR" >/dev/null || { fail "$T_NAME" "ca init"; exit 1; }
	mesh_policy >"$T_TMP/world.yaml"
	mesh_apply "$T_TMP/world.yaml" "$T_SRC/examples/mtls-policy.yaml"
}

mesh_certs() { # NODE NS SA...
	local n=$1 ns=$2 sa
	shift 2
	for sa in "$@"; do
		mkdir -p "$T_TMP/certs-$n/$ns"
		"$SLUICE" ca issue --dir "$CA_DIR" --ns "$ns" --sa "$sa" \
			--out "$T_TMP/certs-$n/$ns/$sa" >/dev/null || return 1
	done
}

# mesh_proxy N TAG [ARGS...]: a proxy on node N, logging to $T_TMP/TAG.out.
mesh_proxy() {
	local n=$1 tag=$2 ip args
	shift 2
	[ "$n" = a ] && ip=$IP_A || ip=$IP_B
	args=("$@")
	[ ${#args[@]} -eq 0 ] && args=(--certs "$T_TMP/certs-$n")
	rm -f "$T_TMP/$tag.ready"
	# nsenter itself in the background (not a function): $! is the proxy,
	# and a signal for it never reaches a subshell with the test's traps
	nsenter --net="/run/netns/$NS-$n" -- "$PROXY_BIN" ${MESH_PROXY_V:-} --node "node-$n" --pin-root "$PIN-$n" --outbound "$ip:15001" \
		--hbone "$ip:15008" --mark "$MARK" --peer node-a="$IP_A" --peer node-b="$IP_B" \
		--ready "$T_TMP/$tag.ready" "${args[@]}" \
		>>"$T_TMP/$tag.out" 2>&1 &
	T_PIDS+=("$!")
	eval "PID_$tag=$!"
	wait_file "$T_TMP/$tag.ready" 20 || {
		fail "$T_NAME" "proxy $tag did not start: $(tail -n 5 "$T_TMP/$tag.out")"
		exit 1
	}
}

pod_server() { # TAG POD LISTENER...
	local tag=$1 pod=$2
	shift 2
	nsenter --net="/run/netns/$NS-$pod" -- "$TOOLS/sl-server" -r "$T_TMP/$tag.ready" -l "$T_TMP/$tag.log" "$@" \
		>"$T_TMP/$tag.out" 2>&1 &
	T_PIDS+=("$!")
	eval "PID_$tag=$!"
	wait_file "$T_TMP/$tag.ready" 10 || { fail "$T_NAME" "server $tag: $(cat "$T_TMP/$tag.out")"; exit 1; }
}

pod_client() { # POD SL-CLIENT-ARGS...
	local pod=$1
	shift
	run_in "$NS-$pod" "$CG/${pod:0:1}" "$TOOLS/sl-client" "$@"
}

# The proxy's metrics file: by default where `sluice metrics` reads it.
proxy_prom() { echo "/run/sluice/$(printf %s "$PIN-$1" | tr / _).proxy.prom"; }

mesh_metric() { # NODE FAMILY [REGEX]
	local f
	f=$(proxy_prom "$1")
	[ -f "$f" ] || { echo 0; return; }
	grep "^$2{" "$f" | grep -E "${3:-.}" | awk '{s += $NF} END {print s + 0}'
}
