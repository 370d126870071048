#!/usr/bin/env bash
# make demo: Sluice on the policy the project was first described with.
#
# A demo "node" is a network namespace (no default route: a VIP the kernel
# failed to translate cannot leave it), a cgroup the clients run in, and a
# pin root. The nodejs-api replicas are real TCP servers on loopback
# addresses inside the namespace. Everything is removed on exit.
set -euo pipefail

B=${1:?usage: demo.sh BUILD_DIR}
TOP=$(cd "$(dirname "$0")/.." && pwd)
SLUICE="$B/sluice"
SRV="$B/tests/tools/sl-server"
CLIENT="$B/tests/tools/sl-client"
ORIGDST="$B/tests/tools/sl-origdst"
ID="sluice-demo-$$"
PIN="/sys/fs/bpf/$ID"
NS="$ID"
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CG="$CGROOT/$ID"
TMP=$(mktemp -d /tmp/$ID.XXXX)
PIDS=()

cleanup() {
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$SLUICE" --pin-root "$PIN" unload 2>/dev/null
	rm -rf "$PIN"
	if [ -d "$CG" ]; then
		while read -r p; do echo "$p" > "$CGROOT/cgroup.procs"; done < "$CG/cgroup.procs" 2>/dev/null
		rmdir "$CG"
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
sl() { echo "\$ sluice $*" >&2; "$SLUICE" --pin-root "$PIN" "$@"; }
# A client: in the demo netns and in the demo cgroup.
# Commands enter the namespace with nsenter: `ip netns exec` would remount
# /sys and hide the cgroup tree and the pin root from them. A client joins
# the cgroup first, then enters the namespace; every exec keeps the pid.
CLIENT_CMD=(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG" nsenter --net="/run/netns/$NS" "$CLIENT")
client() { "${CLIENT_CMD[@]}" "$@"; }
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
echo "per-flow counters of the held connections (live, read from the sockets):"
sl flows | awk 'NR == 1 || (/established/ && n++ < 5)'
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
step "Done: cleaning up"
