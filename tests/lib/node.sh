# Node-ingress topology for the XDP/TC integration tests. Source common.sh,
# call t_init, then source this file (NODE_V6=0: no IPv6 at all;
# NODE_TCP_PLAIN=1: 20-byte TCP headers; NODE_XDP_MODE: load's --xdp-mode):
#
#   node_require CASES...   skip every case when XDP/TC/veth are missing
#   node_world [N]          client, node and N (default 3) endpoint netns,
#                           wired and addressed; `sluice load` in the node
#   node_add_ep I           one more endpoint netns (pod interface pI) and
#                           `sluice load` again with it as --pod-iface
#   node_client_route D [S] client route to D via the node, source S
#   node_static_neigh       permanent neighbour entries on every veth
#   ep_server I TAG ARGS    sl-server inside endpoint I ($T_TMP/TAG.log)
#   ep_servers [-e] PORT... one per endpoint, identities ep1, ep2, ...
#   cl ARGS / cl_from I ARGS  sl-client in the client / endpoint I netns
#   cl_hold TAG [NETNS] -- ARGS; wait_hold TAG   sl-hold, then its exchange
#   nsl CMD ARGS            sluice CMD --pin-root $PIN inside the node netns
#   metric_sum FAMILY [RE]  sum of `sluice metrics` samples; pod_flows FILE
#
#        client netns                node netns ($NS)              endpoint netns I
#   c0 192.0.2.2/32, .3/32  ---  n0 192.0.2.1/24 [XDP, TC egress]
#   routes: /32s via the node        pI 10.244.I.1/24 [TC both]  ---  e0 10.244.I.2/24
#                                    ip_forward=1                     default via .1
#
# The client has no default route: only /32 routes to the addresses a test
# dials, via the node. A packet the data plane failed to translate is routed
# by the node, which has no route for a frontend address: it cannot reach an
# endpoint by accident. The endpoints' default route leads only to the node.
#
# Names: the node netns is common.sh's $NS (the test id); the others are
# $NS-c and $NS-eI, registered for the runner's leftover check like the id.
# Interface names are local to each netns, so they are short and fixed.
# shellcheck shell=bash

CLIENT_IP=192.0.2.2
CLIENT_IP2=192.0.2.3
NODE_IP=192.0.2.1
FE_IP=198.51.100.10 # the Service's externalIP
NOT_NODE_IP=198.51.100.99 # routed to the node, but neither frontend nor node address
NS_C=$NS-c
NODE_EXTRA_NS=()
NODE_POD_IFACES=()
NODE_EP_MAX=0

CLIENT_IP6=2001:db8:1::2
NODE_IP6=2001:db8:1::1
FE_IP6=2001:db8:100::10
ep_ip() { echo "10.244.$1.2"; }
ep_ip6() { echo "fd00:244:$1::2"; }
ns_ep() { echo "$NS-e$1"; }

in_node() { nsenter --net="/run/netns/$NS" -- "$@"; }
in_client() { nsenter --net="/run/netns/$NS_C" -- "$@"; }
in_ep() { local i=$1; shift; nsenter --net="/run/netns/$(ns_ep "$i")" -- "$@"; }

# sluice inside the node netns: interface names in its output (pod flows,
# metrics) and --iface/--pod-iface resolve there; bpffs is still visible
# because nsenter, unlike `ip netns exec`, does not remount /sys.
nsl() { in_node "$SLUICE" "$1" --pin-root "$PIN" "${@:2}"; }

# --- cleanup: also the extra namespaces --------------------------------------

eval "$(declare -f _our_pids | sed '1s/^_our_pids/_node_common_our_pids/')"
eval "$(declare -f cleanup | sed '1s/^cleanup/_node_common_cleanup/')"

_our_pids() {
	local n
	_node_common_our_pids
	for n in "${NODE_EXTRA_NS[@]}"; do
		ip netns pids "$n" 2>/dev/null
	done
}

cleanup() {
	local was=$T_CLEANED n
	_node_common_cleanup
	[ "$was" = 1 ] && return 0
	for n in "${NODE_EXTRA_NS[@]}"; do
		ip netns del "$n" 2>/dev/null
	done
	return 0
}

# --- capability probes --------------------------------------------------------

node_require() {
	local f why
	require_kernel "$@"
	for f in xdp tc; do
		why=$(feature_missing "$f" --iface) && skip_all "$why" "$@"
	done
	why=$(ip link add "sl$$v0" type veth peer name "sl$$v1" 2>&1) ||
		skip_all "veth interfaces (ip link add: ${why//$'\n'/ })" "$@"
	ip link del "sl$$v0" 2>/dev/null
	[ -x "$TOOLS/sl-hold" ] || {
		echo "FAIL $T_NAME: $TOOLS/sl-hold not built (run make)"
		exit 1
	}
}

# --- building the world -----------------------------------------------------

# _node_netns NAME: a netns with lo up, registered for the leftover check.
_node_netns() {
	local n=$1
	if [ "$n" != "$NS" ]; then
		NODE_EXTRA_NS+=("$n")
		[ -n "${SL_T_REGISTRY:-}" ] && echo "$n" >>"$SL_T_REGISTRY"
	fi
	ip netns add "$n" || return 1
	ip -n "$n" link set lo up
	# NODE_V6=0: no IPv6 at all, so no ND/MLD packet ever crosses a pod
	# interface (test_podflows compares exact per-interface totals).
	if [ "${NODE_V6:-1}" = 0 ]; then
		nsenter --net="/run/netns/$n" -- sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1 >/dev/null
	fi
}

# Sysctls of a socket-owning netns (client, endpoints). NODE_TCP_PLAIN=1
# turns off timestamps, SACK and window scaling: every TCP header is then 20
# bytes except SYN and SYN-ACK (24: MSS), so L3 bytes follow from payload
# and packet counts exactly.
_node_sock_sysctls() {
	local n=$1
	nsenter --net="/run/netns/$n" -- sysctl -qw net.ipv4.tcp_tw_reuse=1 \
		net.ipv4.ip_local_port_range="10000 65000" >/dev/null
	if [ "${NODE_TCP_PLAIN:-0}" = 1 ]; then
		nsenter --net="/run/netns/$n" -- sysctl -qw net.ipv4.tcp_timestamps=0 \
			net.ipv4.tcp_sack=0 net.ipv4.tcp_window_scaling=0 >/dev/null
	fi
}

# A veth end that sends full checksums: with the default (checksum offload)
# a veth hands the peer CHECKSUM_PARTIAL packets that no receiver verifies,
# so a wrong incremental update in XDP/TC would go unnoticed. With tx
# checksumming off the sender computes the checksum and the receiving
# endpoint (or client) verifies it in software, as behind a real NIC.
_node_full_csum() {
	command -v ethtool >/dev/null || return 0
	nsenter --net="/run/netns/$1" -- ethtool -K "$2" tx off >/dev/null 2>&1
}

_node_client() {
	_node_netns "$NS_C" || return 1
	_node_sock_sysctls "$NS_C"
	ip -n "$NS" link add n0 type veth peer name c0 netns "$NS_C" || return 1
	ip -n "$NS_C" addr add "$CLIENT_IP/32" dev c0
	ip -n "$NS_C" addr add "$CLIENT_IP2/32" dev c0
	ip -n "$NS_C" link set c0 up
	ip -n "$NS" addr add "$NODE_IP/24" dev n0
	ip -n "$NS" link set n0 up
	ip -n "$NS_C" route add "$NODE_IP/32" dev c0 src "$CLIENT_IP" || return 1
	node_client_route "$FE_IP" || return 1
	node_client_route "$NOT_NODE_IP" || return 1
	_node_full_csum "$NS_C" c0
	if [ "${NODE_V6:-1}" != 0 ]; then
		ip -n "$NS_C" addr add "$CLIENT_IP6/128" dev c0 nodad
		ip -n "$NS" addr add "$NODE_IP6/64" dev n0 nodad
		ip -n "$NS_C" route add "$NODE_IP6/128" dev c0 src "$CLIENT_IP6" || return 1
		node_client_route "$FE_IP6" || return 1
	fi
}

# node_client_route DEST [SRC]: a route in the client netns to DEST (an
# address or prefix) via the node, with source SRC (default the client's
# first address). Run again to change the source.
node_client_route() {
	local dst=$1 src=${2:-} via=$NODE_IP
	if [[ $dst == *:* ]]; then
		via=$NODE_IP6
		src=${src:-$CLIENT_IP6}
	else
		src=${src:-$CLIENT_IP}
	fi
	[[ $dst == */* ]] || { [[ $dst == *:* ]] && dst=$dst/128 || dst=$dst/32; }
	ip -n "$NS_C" route replace "$dst" via "$via" dev c0 src "$src"
}

# _node_ep I: endpoint netns I behind pod interface pI of the node.
_node_ep() {
	local i=$1 n
	n=$(ns_ep "$i")
	_node_netns "$n" || return 1
	_node_sock_sysctls "$n"
	ip -n "$NS" link add "p$i" type veth peer name e0 netns "$n" || return 1
	ip -n "$n" addr add "$(ep_ip "$i")/24" dev e0
	ip -n "$n" link set e0 up
	ip -n "$NS" addr add "10.244.$i.1/24" dev "p$i"
	ip -n "$NS" link set "p$i" up
	ip -n "$n" route add default via "10.244.$i.1" || return 1
	_node_full_csum "$n" e0
	if [ "${NODE_V6:-1}" != 0 ]; then
		ip -n "$n" addr add "fd00:244:$i::2/64" dev e0 nodad
		ip -n "$NS" addr add "fd00:244:$i::1/64" dev "p$i" nodad
		ip -n "$n" route add default via "fd00:244:$i::1" || return 1
	fi
	NODE_POD_IFACES+=("p$i")
	[ "$i" -gt "$NODE_EP_MAX" ] && NODE_EP_MAX=$i
	return 0
}

# node_load: `sluice load` in the node netns with every pod interface made
# so far (running it again adds the new ones). The socket-LB part goes to
# the test's own cgroup: load's default is the cgroup v2 root.
node_load() {
	local args=(--cgroup "$CG" --iface n0) p
	for p in "${NODE_POD_IFACES[@]}"; do
		args+=(--pod-iface "$p")
	done
	if ! in_node "$SLUICE" load --pin-root "$PIN" "${args[@]}" ${NODE_XDP_MODE:+--xdp-mode "$NODE_XDP_MODE"} \
		>"$T_TMP/load.out" 2>&1; then
		fail "$T_NAME" "sluice load ${args[*]} (in the node netns): $(tail -n 5 "$T_TMP/load.out" | tr '\n' ' ')"
		exit 1
	fi
}

# node_world [N]: the whole topology with N endpoints, and the data plane.
# On failure prints FAIL for the test and exits.
node_world() {
	local n=${1:-3} i
	_node_netns "$NS" || { fail "$T_NAME" "cannot create netns $NS"; exit 1; }
	in_node sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 >/dev/null
	[ "${NODE_V6:-1}" != 0 ] && in_node sysctl -qw net.ipv6.conf.all.forwarding=1 >/dev/null
	_node_client || { fail "$T_NAME" "cannot build the client side"; exit 1; }
	for ((i = 1; i <= n; i++)); do
		_node_ep "$i" || { fail "$T_NAME" "cannot build endpoint $i"; exit 1; }
	done
	t_cgroup || { fail "$T_NAME" "cannot create cgroup $CG"; exit 1; }
	node_load
}

node_add_ep() {
	_node_ep "$1" || { fail "$T_NAME" "cannot build endpoint $1"; exit 1; }
	node_load
}

# --- processes ------------------------------------------------------------

# ep_server I TAG SL-SERVER-ARGS...: sl-server inside endpoint I, logging
# 'identity peer bytes_in bytes_out' per closed connection to $T_TMP/TAG.log.
ep_server() {
	local i=$1 tag=$2
	shift 2
	nsenter --net="/run/netns/$(ns_ep "$i")" -- "$TOOLS/sl-server" -r "$T_TMP/$tag.ready" \
		-l "$T_TMP/$tag.log" "$@" >"$T_TMP/$tag.out" 2>&1 &
	T_PIDS+=("$!")
	eval "PID_$tag=$!"
	wait_file "$T_TMP/$tag.ready" 10 || {
		fail "$T_NAME" "sl-server $tag did not start: $(cat "$T_TMP/$tag.out")"
		exit 1
	}
	touch "$T_TMP/$tag.log"
}

# ep_servers [-e] PORT...: in every endpoint I so far one sl-server with a
# listener on 10.244.I.2:PORT (and [fd00:244:I::2]:PORT with IPv6) for each
# PORT ("8080" TCP, "udp:5353" UDP), all answering "epI"; tags ep1, ep2...
ep_servers() {
	local i p opts=() ports=() l
	for p in "$@"; do
		if [[ $p == -* ]]; then opts+=("$p"); else ports+=("$p"); fi
	done
	for ((i = 1; i <= NODE_EP_MAX; i++)); do
		ep_server_ports "$i" "${opts[@]}" "${ports[@]}"
	done
}

# ep_server_ports I [-e] PORT...: the same for endpoint I alone.
ep_server_ports() {
	local i=$1 p proto l=() opts=()
	shift
	for p in "$@"; do
		if [[ $p == -* ]]; then opts+=("$p"); continue; fi
		proto=
		[[ $p == udp:* ]] && { proto=udp:; p=${p#udp:}; }
		l+=("$proto$(ep_ip "$i"):$p=ep$i")
		[ "${NODE_V6:-1}" != 0 ] && l+=("${proto}[$(ep_ip6 "$i")]:$p=ep$i")
	done
	ep_server "$i" "ep$i" "${opts[@]}" "${l[@]}"
}

# cl SL-CLIENT-ARGS...: sl-client in the client netns (foreground).
cl() { in_client "$TOOLS/sl-client" "$@"; }

# cl_from I SL-CLIENT-ARGS...: sl-client inside endpoint I (pod to pod).
cl_from() { local i=$1; shift; in_ep "$i" "$TOOLS/sl-client" "$@"; }

# cl_hold TAG [NETNS] -- SL-HOLD-ARGS...: a background sl-hold (default in
# the client netns); returns once its connections are open. Create
# $T_TMP/TAG.go to make it exchange data, then wait_hold TAG.
cl_hold() {
	local tag=$1 n=$NS_C
	shift
	if [ "$1" != -- ]; then n=$1; shift; fi
	shift
	nsenter --net="/run/netns/$n" -- "$TOOLS/sl-hold" -r "$T_TMP/$tag.ready" -g "$T_TMP/$tag.go" \
		"$@" >"$T_TMP/$tag.json" 2>"$T_TMP/$tag.err" &
	T_PIDS+=("$!")
	eval "PID_$tag=$!"
	wait_file "$T_TMP/$tag.ready" 60 || {
		fail "$T_NAME" "sl-hold $tag did not get ready: $(cat "$T_TMP/$tag.err")"
		exit 1
	}
}

# wait_hold TAG: let TAG exchange its data and wait until it is done.
wait_hold() {
	local pid
	eval "pid=\${PID_$1:-}"
	touch "$T_TMP/$1.go"
	wait "$pid" 2>/dev/null
	return 0
}

# --- results --------------------------------------------------------------

# log_count TAG [REGEX]: connections the server TAG logged (closed), whose
# line matches REGEX.
log_count() {
	grep -c -E -- "${2:-.}" "$T_TMP/$1.log" 2>/dev/null || true
}

# metric_sum FAMILY [LABEL_REGEX]: sum of the samples of FAMILY in `sluice
# metrics` (read now) whose label set matches LABEL_REGEX.
metric_sum() {
	nsl metrics 2>/dev/null | awk -v m="$1" -v re="${2:-}" '
		index($1, m "{") == 1 || $1 == m {
			name = $0; sub(/ [^ ]+$/, "", name)
			if (re == "" || name ~ re) s += $NF
		}
		END { printf "%d\n", s }'
}

# jcount KEY FILE: count of KEY under .identities (sl-client -j output).
jcount() { jq -r --arg i "$1" '.identities[$i] // 0' "$2"; }

# --- policy YAML ----------------------------------------------------------

# yaml_ingress_service NAME PORT TARGETPORT NODEPORT [UDPPORT UDPTARGET UDPNODEPORT]:
# a NodePort Service with externalIP $FE_IP (and $FE_IP6 when IPv6 is on),
# selecting app=NAME in namespace sl-test.
yaml_ingress_service() {
	local name=$1 port=$2 tport=$3 np=$4
	cat <<EOF
---
apiVersion: v1
kind: Service
metadata:
  name: $name
  namespace: sl-test
spec:
  type: NodePort
  externalIPs:
  - $FE_IP
  selector:
    app: $name
  ports:
  - name: tcp-$port
    port: $port
    targetPort: $tport
    nodePort: $np
    protocol: TCP
EOF
	if [ $# -ge 7 ]; then
		cat <<EOF
  - name: udp-$5
    port: $5
    targetPort: $6
    nodePort: $7
    protocol: UDP
EOF
	fi
}

# yaml_ns_pod NAME NAMESPACE IP LABEL=VALUE...: a running Pod.
yaml_ns_pod() {
	local name=$1 ns=$2 ip=$3 kv
	shift 3
	printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels:\n' \
		"$name" "$ns"
	for kv in "$@"; do
		printf '    %s: %s\n' "${kv%%=*}" "${kv#*=}"
	done
	printf 'status:\n  phase: Running\n  podIP: %s\n' "$ip"
}

# yaml_namespace NAME LABEL=VALUE...
yaml_namespace() {
	local name=$1 kv
	shift
	printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n' "$name"
	printf '    kubernetes.io/metadata.name: %s\n' "$name"
	for kv in "$@"; do
		printf '    %s: %s\n' "${kv%%=*}" "${kv#*=}"
	done
}

# node_apply_or_die NAME FILE: sluice apply in the node netns, or FAIL NAME
# with its stderr and exit.
node_apply_or_die() {
	if ! nsl apply -f "$2" >"$T_TMP/apply.out" 2>"$T_TMP/apply.err"; then
		fail "$1" "sluice apply -f $2 failed: $(head -c 600 "$T_TMP/apply.err")"
		exit 1
	fi
}

# node_static_neigh: permanent neighbour entries on both ends of every veth,
# so no ARP frame crosses an interface during a measurement (pod-interface
# totals count every packet TC sees).
node_static_neigh() {
	local i n
	_node_neigh_pair "$NS_C" c0 "$CLIENT_IP" "$NS" n0 "$NODE_IP" || return 1
	ip -n "$NS" neigh replace "$CLIENT_IP2" lladdr "$(_node_mac "$NS_C" c0)" dev n0 nud permanent
	for ((i = 1; i <= NODE_EP_MAX; i++)); do
		n=$(ns_ep "$i")
		_node_neigh_pair "$n" e0 "$(ep_ip "$i")" "$NS" "p$i" "10.244.$i.1" || return 1
	done
}

_node_mac() { ip -n "$1" -j link show dev "$2" | jq -r '.[0].address'; }

# _node_neigh_pair NS_A IF_A ADDR_A NS_B IF_B ADDR_B: each side knows the
# other's MAC for good.
_node_neigh_pair() {
	ip -n "$1" neigh replace "$6" lladdr "$(_node_mac "$4" "$5")" dev "$2" nud permanent &&
		ip -n "$4" neigh replace "$3" lladdr "$(_node_mac "$1" "$2")" dev "$5" nud permanent
}

# pod_flows FILE: `sluice flows --pods -o json` (run in the node netns) as a
# JSON array in FILE; non-zero when the command fails.
pod_flows() {
	nsl flows --pods -o json >"$1.raw" 2>"$1.err" || return 1
	jq 'if type == "array" then . else (.pod_flows // .flows // []) end' "$1.raw" >"$1"
}
