#!/usr/bin/env bash
# make demo: Sluice on the policy the project was first described with, then
# traffic from outside a node.
#
# A demo "node" is a network namespace (no default route: a VIP the kernel
# failed to translate cannot leave it), a cgroup the clients run in, and a
# pin root. The nodejs-api replicas are real TCP servers on loopback
# addresses inside the namespace. Part 3 builds a second node with veths:
# a client namespace outside it and one namespace per pod behind it.
# Everything is removed on exit, on failure and on Ctrl-C.
set -euo pipefail

B=${1:?usage: demo.sh BUILD_DIR}
TOP=$(cd "$(dirname "$0")/.." && pwd)
SLUICE="$B/sluice"
SRV="$B/tests/tools/sl-server"
CLIENT="$B/tests/tools/sl-client"
HOLD="$B/tests/tools/sl-hold"
ORIGDST="$B/tests/tools/sl-origdst"
ID="sluice-demo-$$"
PIN="/sys/fs/bpf/$ID"
NS="$ID"
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CG="$CGROOT/$ID"
TMP=$(mktemp -d /tmp/$ID.XXXX)
PIDS=()
# Part 3: the node, its client outside and its pods (netns names $ID-...).
NODE="$ID-node"
OUTSIDE="$ID-client"
PIN3="$PIN-node"
CG3="$CG-node"
ALL_NS=("$NS")
CLEANED=0

# cleanup: safe to run twice; every step tolerates a half-built world.
cleanup() {
	local p n i live
	[ "$CLEANED" = 1 ] && return 0
	CLEANED=1
	# A second Ctrl-C must not cut the cleanup short.
	trap - EXIT
	trap '' INT TERM
	set +e
	# Our processes: the ones started here and anything left in our netns.
	live=("${PIDS[@]}")
	for n in "${ALL_NS[@]}"; do
		mapfile -t -O "${#live[@]}" live < <(ip netns pids "$n" 2>/dev/null)
	done
	[ ${#live[@]} -gt 0 ] && kill "${live[@]}" 2>/dev/null
	for i in $(seq 30); do
		n=0
		for p in "${live[@]}"; do kill -0 "$p" 2>/dev/null && n=1; done
		[ $n = 0 ] && break
		sleep 0.1
	done
	[ ${#live[@]} -gt 0 ] && kill -KILL "${live[@]}" 2>/dev/null
	wait 2>/dev/null
	[ -e "$PIN" ] && "$SLUICE" --pin-root "$PIN" unload >/dev/null 2>&1
	rm -rf "$PIN"
	# Part 3's links are on interfaces of the node netns: unload there.
	if [ -e "$PIN3" ]; then
		if [ -e "/run/netns/$NODE" ]; then
			nsenter --net="/run/netns/$NODE" "$SLUICE" --pin-root "$PIN3" unload >/dev/null 2>&1
		else
			"$SLUICE" --pin-root "$PIN3" unload >/dev/null 2>&1
		fi
		rm -rf "$PIN3"
	fi
	for n in "$CG" "$CG3"; do
		[ -d "$n" ] || continue
		while read -r p; do echo "$p" > "$CGROOT/cgroup.procs"; done < "$n/cgroup.procs" 2>/dev/null
		rmdir "$n"
	done
	for n in "${ALL_NS[@]}"; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$TMP"
	return 0
}
trap cleanup EXIT
# fd 3: the demo's own stderr; a signal may arrive while a step's output is
# redirected into a file.
exec 3>&2
on_signal() { printf '\ndemo: interrupted, cleaning up\n' >&3; cleanup; exit "$1"; }
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# fg_run CMD...: CMD in the foreground, as far as output and exit status go.
# It runs as a background job that the shell waits for: sl-client handles
# SIGINT (it stops and prints its tally), and a shell whose foreground child
# handled the Ctrl-C does not run its own INT trap; `wait` is interrupted at
# once, so Ctrl-C always stops the demo and cleans up.
fg_run() { "$@" & wait $!; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
sl() { echo "\$ sluice $*" >&2; "$SLUICE" --pin-root "$PIN" "$@"; }
# A client: in the demo netns and in the demo cgroup.
# Commands enter the namespace with nsenter: `ip netns exec` would remount
# /sys and hide the cgroup tree and the pin root from them. A client joins
# the cgroup first, then enters the namespace; every exec keeps the pid.
CLIENT_CMD=(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG" nsenter --net="/run/netns/$NS" "$CLIENT")
client() { fg_run "${CLIENT_CMD[@]}" "$@"; }
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }

[ -n "$CGROOT" ] || { echo "demo: no cgroup v2 mount in /proc/mounts" >&2; exit 1; }
ip netns add "$NS"
in_ns ip link set lo up
mkdir "$CG"

step "Load the data plane into cgroup $CG (pin root $PIN)"
sl load --cgroup "$CG" --proxy 127.0.0.1:15001

step "Start nodejs-api: three v1 replicas and one v2, real TCP servers"
nsenter --net="/run/netns/$NS" "$SRV" -r "$TMP/ready" 127.0.10.1:3000=v1-a 127.0.10.2:3000=v1-b \
	127.0.10.3:3000=v1-c 127.0.10.4:3000=v2-a &
PIDS+=($!)
for _ in $(seq 50); do [ -e "$TMP/ready" ] && break; sleep 0.1; done

step "Part 1: the kernel path. The example DestinationRule, the example's 90/10 route alone"
sl apply -f "$TOP/examples/demo/pods.yaml" -f "$TOP/examples/demo/kernel-path.yaml"
sl get services
VIP=$(sl get services -o json | jq -r '.services[] | select(.name=="nodejs-api") | .frontend' | sed 's|/tcp$||')
echo "nodejs-api has no clusterIP in the example, so it got $VIP from the service CIDR"

step "3,000 connections to $VIP from a client in the cgroup"
client -n 3000 "$VIP" | tee "$TMP/tally"
awk '/^v1/ { v1 += $2 } /^v2/ { v2 += $2 } END {
	t = v1 + v2; printf "split: v1 %.1f%%  v2 %.1f%%  (route weights 90/10)\n", 100*v1/t, 100*v2/t }' "$TMP/tally"

step "Least connections: hold 30 connections open and look at the endpoints"
"${CLIENT_CMD[@]}" -k 30 -t 60 -r "$TMP/held" "$VIP" > /dev/null &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$TMP/held" ] && break; sleep 0.1; done
sl get endpoints
if [ "$("$SLUICE" --pin-root "$PIN" flows -o json | jq -r .live_counters.available)" = true ]; then
	echo "per-flow counters of the held connections (live, read from the sockets):"
else
	echo "per-flow records of the held connections; this kernel refuses the tracing iterator,"
	echo "so there are no live byte counters of open flows (why: sluice status, 'live_flows'):"
fi
sl flows 2>&1 | awk 'NR == 1 || /live counters/ || (/established/ && n++ < 5)'
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'

step "Outlier ejection: kill replica v1-c; 3 consecutive connect failures eject it"
pkill -f "127.0.10.3:3000=v1-c" || true
nsenter --net="/run/netns/$NS" "$SRV" 127.0.10.1:3000=v1-a 127.0.10.2:3000=v1-b 127.0.10.4:3000=v2-a >/dev/null 2>&1 &
kill "${PIDS[0]}" 2>/dev/null || true
PIDS[0]=$!
sleep 0.3
client -n 300 "$VIP" | tee "$TMP/tally2" || true
sl get endpoints
echo "v1-c failed $(sl get endpoints -o json | jq '.endpoints[] | select(.address=="127.0.10.3:3000") | .connect_failures') connects, then was ejected for baseEjectionTime (30s)"

step "Metrics (Prometheus text, Istio names), a few lines"
sl metrics | awk '/^(istio_tcp_connections_opened_total|sluice_endpoint_ejected|sluice_endpoint_active)/ && n++ < 12'

step "Part 2: the two example files, unchanged"
sl apply -f "$TOP/examples/istio-config.yaml" -f "$TOP/examples/mtls-policy.yaml"
sl get services
sl get policies

step "Handed-off traffic goes to the proxy address with its original destination recorded"
nsenter --net="/run/netns/$NS" "$ORIGDST" -P "$PIN" -r "$TMP/proxy-ready" 127.0.0.1:15001 > /dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -e "$TMP/proxy-ready" ] && break; sleep 0.1; done
client -n 1 "$VIP" || true
echo
echo "(the stand-in proxy answered with the VIP the client dialled; the real proxy"
echo " that terminates mTLS and routes on headers is a later issue)"
# --- Part 3: traffic from outside the node (XDP, TC, NetworkPolicy) ---------
#
#   client netns            node netns                       pod netns web-I
#   c0 192.0.2.2/32  ---  n0 192.0.2.1/24 [XDP + TC]
#      192.0.2.3/32         pI 10.244.I.1/24 [TC both ways] ---  e0 10.244.I.2/24
#   /32 routes via the node  ip_forward=1                       default via .1
#
# The client has no default route, only /32s via the node, and the node has
# no route for the frontend address: a packet XDP did not translate goes
# nowhere. IPv6 is off in all of them (no ND/MLD chatter in the flow lists).
FE=198.51.100.10
NODE_IP=192.0.2.1
CLIENT_IP=192.0.2.2
CLIENT_IP2=192.0.2.3

ns_run() { local n=$1; shift; nsenter --net="/run/netns/$n" "$@"; }
die() { echo "demo: $*" >&2; exit 1; }
# wait_ready FILE PID WHAT: until FILE is non-empty (10 s), or die if PID ended.
wait_ready() {
	for _ in $(seq 100); do
		[ -s "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	[ -s "$1" ] || die "$3 did not start: $(cat "$1.err" 2>/dev/null)"
}
pod_ns() { echo "$ID-web$1"; }
nsl() { echo "\$ sluice $*" >&2; ns_run "$NODE" "$SLUICE" --pin-root "$PIN3" "$@"; }
cl() { fg_run ns_run "$OUTSIDE" "$CLIENT" "$@"; }

# mkns NAME: a netns with lo up, IPv6 off, sockets tuned for many short
# connections; registered for cleanup before it exists.
mkns() {
	ALL_NS+=("$1")
	ip netns add "$1"
	ip -n "$1" link set lo up
	ns_run "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
		net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="10000 65000" >/dev/null
}
# Veths send full checksums (no offload), so every endpoint and the client
# verify the checksums XDP and TC rewrote, as behind a real NIC.
full_csum() { ns_run "$1" ethtool -K "$2" tx off >/dev/null 2>&1 || true; }

# add_pod I: pod netns web-I behind pod interface pI, with a real server.
POD_IFACES=()
add_pod() {
	local i=$1 n
	n=$(pod_ns "$i")
	mkns "$n"
	ip -n "$NODE" link add "p$i" type veth peer name e0 netns "$n"
	ip -n "$n" addr add "10.244.$i.2/24" dev e0
	ip -n "$n" link set e0 up
	ip -n "$n" route add default via "10.244.$i.1"
	ip -n "$NODE" addr add "10.244.$i.1/24" dev "p$i"
	ip -n "$NODE" link set "p$i" up
	full_csum "$n" e0
	POD_IFACES+=(--pod-iface "p$i")
	touch "$TMP/web$i.log"
	ns_run "$n" "$SRV" -e -r "$TMP/web$i.ready" -l "$TMP/web$i.log" "10.244.$i.2:8080=web-$i" \
		> "$TMP/web$i.ready.err" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do
		[ -e "$TMP/web$i.ready" ] && return 0
		kill -0 "${PIDS[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	die "the server of web-$i did not start: $(cat "$TMP/web$i.ready.err")"
}
# load: (re)load the node's data plane: XDP + TC on n0, TC on every pod
# interface so far (loading again adds the new ones).
# Kernels without tcx (before 6.6) get cls_bpf on a clsact qdisc; libbpf
# then relays the kernel's note that the qdisc exists already, once per
# hook: harmless, and filtered here.
node_load() {
	nsl load --cgroup "$CG3" --iface n0 "${POD_IFACES[@]}" 2>&1 |
		grep -v '^libbpf: Kernel error message: Exclusivity flag on, cannot modify$'
}

# tally FILE: one line from an sl-client -j result.
tally() {
	jq -r '(.identities | to_entries | sort_by(.key) | map("\(.key) \(.value)") | join("   "))
		+ "   (ok \(.ok), failed \(.failed))"' "$1"
}

step "Part 3: node ingress. A client outside the node, XDP + TC on the node's interface, three pods"
mkns "$NODE"
ns_run "$NODE" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
	net.ipv4.conf.default.rp_filter=0 >/dev/null
mkns "$OUTSIDE"
ip -n "$NODE" link add n0 type veth peer name c0 netns "$OUTSIDE"
ip -n "$OUTSIDE" addr add "$CLIENT_IP/32" dev c0
ip -n "$OUTSIDE" addr add "$CLIENT_IP2/32" dev c0
ip -n "$OUTSIDE" link set c0 up
ip -n "$NODE" addr add "$NODE_IP/24" dev n0
ip -n "$NODE" link set n0 up
ip -n "$OUTSIDE" route add "$NODE_IP/32" dev c0 src "$CLIENT_IP"
ip -n "$OUTSIDE" route add "$FE/32" via "$NODE_IP" dev c0 src "$CLIENT_IP"
full_csum "$OUTSIDE" c0
for i in 1 2 3; do add_pod "$i"; done
mkdir "$CG3"
echo "client $CLIENT_IP (netns $OUTSIDE) -- n0 $NODE_IP [node $NODE] -- p1..p3 -- pods web-1..3 at 10.244.{1,2,3}.2:8080"
echo "the client's routes (no default): $(ip -n "$OUTSIDE" route | awk '{ printf "%s%s %s %s", (NR > 1 ? "; " : ""), $1, $2, $3 }')"
node_load
ns_run "$NODE" bpftool -j net show > "$TMP/attached" 2>/dev/null || true
jq -r '.[0] | "attached: " + ([.xdp[] | "XDP (\(.mode)) on \(.devname)"] + [.tc | map(.kind |= sub("^[a-z]+/"; "") | .name |= sub(":\\[[0-9]+\\]$"; ""))
	| group_by([.name, .kind])[] | "\(.[0].name) at \(.[0].kind) of \(map(.devname) | join(" "))"] | join("; "))' \
	"$TMP/attached" 2>/dev/null || true
nsl apply -f "$TOP/examples/demo/node-ingress.yaml" | sed 's/ in [0-9.]* ms (.*//'
nsl get services
echo "frontends for traffic from outside, in XDP: the externalIP $FE:80, and the NodePort :30080 on the node's address"

step "1,000 connections from the client to the externalIP $FE:80 (VirtualService: v1 80%, v2 20%)"
cl -j -p -n 1000 "$FE:80" > "$TMP/fe.json" 2> "$TMP/fe.err" || true
tally "$TMP/fe.json"
jq -r '.identities as $i | (($i["web-1"] // 0) + ($i["web-2"] // 0)) as $v1 | ($i["web-3"] // 0) as $v2 |
	($v1 + $v2 | if . > 0 then . else 1 end) as $t | def pct(x): 1000 * x / $t | round / 10;
	"split: v1 (web-1, web-2) \(pct($v1))%   v2 (web-3) \(pct($v2))%"' "$TMP/fe.json"
echo "getpeername() of the client's socket was $FE:80, never a pod address: $(jq -r .ok "$TMP/fe.json") of 1000 (sl-client -p)"
# A server logs a connection when it sees the client's FIN: wait for all.
for _ in $(seq 30); do [ "$(cat "$TMP"/web[123].log | wc -l)" -ge 1000 ] && break; sleep 0.1; done
echo "the pods saw the client's own address (no SNAT): $(cat "$TMP"/web[123].log | awk '{ sub(/:[0-9]+$/, "", $2); print $2 }' |
	sort | uniq -c | awk '{ printf "%s from %s ", $1, $2 }')"

step "NodePort 30080 on the node's address $NODE_IP, 300 connections"
cl -j -p -n 300 "$NODE_IP:30080" > "$TMP/np.json" 2> "$TMP/np.err" || true
tally "$TMP/np.json"
echo "(each socket's peer, as the client saw it: $NODE_IP:30080)"

step "Hold 30 connections open, then add a fourth pod (web-4, v1)"
ns_run "$OUTSIDE" "$HOLD" -n 30 -b 2000 -r "$TMP/hold.ready" -g "$TMP/hold.go" "$FE:80" \
	> "$TMP/hold.json" 2> "$TMP/hold.ready.err" &
HOLD_PID=$!
PIDS+=("$HOLD_PID")
wait_ready "$TMP/hold.ready" "$HOLD_PID" "sl-hold (30 connections to $FE:80)"
echo "held: $(jq -r '.identities | to_entries | sort_by(.key) | map("\(.key) \(.value)") | join(", ")' "$TMP/hold.ready")"
# One held connection as each end's socket sees it (ss in the client netns
# and, for the pod that has it, in the pod's netns).
ns_run "$OUTSIDE" ss -Htn state established "( dport = :80 )" > "$TMP/ss.client"
port=$(awk 'NR == 1 { n = split($3, a, ":"); print a[n] }' "$TMP/ss.client")
echo "one of them, seen by each end's socket (ss):"
awk 'NR == 1 { printf "  client: %s -> %s\n", $3, $4 }' "$TMP/ss.client"
for i in 1 2 3; do
	[ -n "$port" ] || break
	ns_run "$(pod_ns "$i")" ss -Htn state established "( dport = :$port )" |
		awk -v w="web-$i" '{ printf "  %s:  %s <- %s\n", w, $3, $4 }' || true
done
nsl ct list > "$TMP/ct"
awk -v p="$CLIENT_IP:$port/" 'NR == 1 || index($1, p) == 1' "$TMP/ct"
echo "($(awk 'NR > 1' "$TMP/ct" | wc -l) tracked flows: $(awk 'NR > 1 { print $4 }' "$TMP/ct" | sort | uniq -c |
	awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }'))"
add_pod 4
node_load
nsl apply -f "$TOP/examples/demo/node-ingress-web-4.yaml" | sed 's/ in [0-9.]* ms (.*//'
touch "$TMP/hold.go"
wait "$HOLD_PID" || true
echo "after the apply each held connection sent 2,000 bytes and read them back:"
jq -r '"  \(.ok) of \(.held) echoed, \(.failed) failed (" +
	(.ok_by_identity | to_entries | sort_by(.key) | map("\(.key) \(.value)") | join(", ")) + ")"' "$TMP/hold.json"
cl -j -n 1000 "$FE:80" > "$TMP/fe4.json" 2> "$TMP/fe4.err" || true
echo "1,000 new connections (v1's 80% now over web-1, web-2, web-4; v2's 20% on web-3):"
tally "$TMP/fe4.json"

step "NetworkPolicy on the pod interfaces: web-3 admits only the client $CLIENT_IP, on TCP 8080"
nsl apply -f "$TOP/examples/demo/node-netpol.yaml" | sed 's/ in [0-9.]* ms (.*//'
ip -n "$OUTSIDE" route add 10.244.3.2/32 via "$NODE_IP" dev c0 src "$CLIENT_IP"
drops0=$(nsl metrics 2>/dev/null | awk '/^sluice_drops_total\{.*reason="policy_ingress"/ { s += $NF } END { print s + 0 }')
echo "allowed: the client $CLIENT_IP -> web-3 10.244.3.2:8080, 100,000 bytes echoed"
cl -j -b 100000 10.244.3.2:8080 > "$TMP/allow.json" 2> "$TMP/allow.err" || true
jq -r '"  ok \(.ok), failed \(.failed), sent \(.bytes_sent), received \(.bytes_received) (identity line + echo)"' "$TMP/allow.json"
# A refused connect times out: sl-client -e EINPROGRESS counts a connect
# still in progress after -w ms (no SYN-ACK and no RST came back) as success.
timed_out() {
	jq -r '"  \(.ok) of \(.attempts) connects timed out after 1 s (no SYN-ACK, no RST)" +
		(if .failed > 0 then ", \(.failed) did not: \(.errors)" else "" end)' "$1"
}
echo "denied: pod web-1 10.244.1.2 -> web-3 10.244.3.2:8080"
fg_run ns_run "$(pod_ns 1)" "$CLIENT" -j -n 2 -w 1000 -e EINPROGRESS 10.244.3.2:8080 > "$TMP/deny.json" 2> "$TMP/deny.err" || true
timed_out "$TMP/deny.json"
echo "denied: the client's other address $CLIENT_IP2 -> web-3 10.244.3.2:8080"
ip -n "$OUTSIDE" route replace 10.244.3.2/32 via "$NODE_IP" dev c0 src "$CLIENT_IP2"
cl -j -n 2 -w 1000 -e EINPROGRESS 10.244.3.2:8080 > "$TMP/deny2.json" 2> "$TMP/deny2.err" || true
timed_out "$TMP/deny2.json"
ip -n "$OUTSIDE" route replace 10.244.3.2/32 via "$NODE_IP" dev c0 src "$CLIENT_IP"
sleep 0.2
echo "  web-3's server accepted $(awk '$2 ~ /^(10\.244\.1\.2|192\.0\.2\.3):/' "$TMP/web3.log" | wc -l) connections from either"
echo "through the frontend the policy sees the client's own address, so web-3 still answers it:"
cl -j -n 300 "$FE:80" > "$TMP/fe5.json" 2> "$TMP/fe5.err" || true
tally "$TMP/fe5.json"
nsl metrics | awk '/^sluice_drops_total\{.*reason="policy_ingress"/' > "$TMP/drops"
awk '$NF != 0' "$TMP/drops"
echo "(grew by $(awk -v d="$drops0" '{ s += $NF } END { print s - d }' "$TMP/drops") during the 4 refused connects:" \
	"their SYNs and retransmits, dropped in TC on p3)"
echo "per-flow counters on p3 for the allowed connection (the record with the 100,000 bytes):"
nsl flows --pods > "$TMP/pflows"
awk 'NR == 1' "$TMP/pflows"
awk 'NR > 1 && $1 == "p3"' "$TMP/pflows" | sort -k7,7nr -k8,8nr | awk 'NR == 1'

# Part 4: the node proxy between two nodes (its own world and cleanup).
bash "$TOP/tools/demo-mesh.sh" "$B"

step "Done: cleaning up"
