#!/usr/bin/env bash
# The node proxy benchmark (issue 9), side by side in one run, in the
# two-node world of the tests (tests/lib/mesh.sh; no pod-interface hooks,
# so the "direct" path to the pod exists):
#
#   handshake  full mutual TLS 1.3 handshakes (P-256, no resumption) against
#              node b's sluice-proxy (:15008), `openssl s_server` and
#              HAProxy 2.6 (`verify required`) with the same certificates;
#              server CPU per handshake from /proc/PID/task/*/schedstat,
#              against the crypto floor from `openssl speed`
#   bulk       BYTES one way: direct to the pod, plaintext through node a's
#              proxy (splice), the HBONE tunnel through both proxies, and an
#              HAProxy-to-HAProxy mTLS tunnel; Gbit/s and proxy CPU per byte
#   rr         64-byte request/response on one connection: p50/p99
#   conn       connection setup until the server's first byte: p50/p99
#
# Proxies and HAProxies run one worker/thread each ("one core").
#   bench/run-proxy.sh [BUILD_DIR]   knobs: BENCH_HS (2000), BENCH_BYTES
#   (400000000), BENCH_RR (20000), BENCH_CONN (2000), BENCH_REPEAT (3),
#   BENCH_OUT (bench/RESULTS.md)
set -u -o pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$SRC/build}" && pwd)
HS_N=${BENCH_HS:-2000}
BYTES=${BENCH_BYTES:-400000000}
RR_N=${BENCH_RR:-20000}
CONN_N=${BENCH_CONN:-2000}
REPEAT=${BENCH_REPEAT:-3}
PARTS=${BENCH_PARTS:-"hs bulk rr"} # a subset for quick looks; RESULTS.md wants all
OUT=${BENCH_OUT:-$SRC/bench/RESULTS.md}
TB=$B/bench/sl-bench-tunnel
export BUILD=$B SLUICE=$B/sluice TOOLS=$B/tests/tools PROXY_BIN=$B/sluice-proxy
for t in haproxy openssl jq; do
	command -v $t >/dev/null || { echo "bench: $t missing (tools/install-deps.sh)" >&2; exit 2; }
done
. "$SRC/tests/lib/common.sh"
t_init bench-proxy
. "$SRC/tests/lib/mesh.sh"
fail() { echo "bench: $1: $2" >&2; }
ok() { :; }
RAW=$T_TMP/raw.jsonl

# --- the world ---------------------------------------------------------------------
mesh_world
mesh_certs a nodejs-app api-client other
mesh_certs b nodejs-app nodejs-api
PLAIN_IP=10.244.2.9 # an address of pod b1 that is no mesh workload
ip -n "$NS-b1" addr add "$PLAIN_IP/24" dev e0
ip -n "$NS-b" route add "$PLAIN_IP/32" dev pb1
cat >"$T_TMP/bench.yaml" <<Y
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: nodejs-app}
spec:
  clusterIP: 10.96.0.22
  selector: {app: nodejs-api}
  ports: [{name: tcp, port: 82, targetPort: 8082}]
---
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: plainproxy}
spec:
  clusterIP: 10.96.0.40
  ports: [{name: tcp, port: 80, targetPort: 8080}, {name: echo, port: 82, targetPort: 8082}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: plain-1, namespace: plainproxy, labels: {kubernetes.io/service-name: plain}}
addressType: IPv4
endpoints: [{addresses: [$PLAIN_IP]}]
ports: [{name: tcp, port: 8080, protocol: TCP}, {name: echo, port: 8082, protocol: TCP}]
---
# an L4 policy hands the namespace's services to the proxy; DISABLE keeps
# them plaintext: "plaintext through the same proxy"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: any, namespace: plainproxy}
spec:
  rules: [{from: [{source: {ipBlocks: [0.0.0.0/0]}}]}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: off, namespace: plainproxy}
spec: {mtls: {mode: DISABLE}}
Y
mesh_apply "$T_TMP/bench.yaml"
pod_server sink b1 "$POD_B1:8080=sink" "$PLAIN_IP:8080=sink"
pod_server echo b1 -e "$POD_B1:8082=echo" "$PLAIN_IP:8082=echo"
mesh_proxy a pxa --workers 1 --certs "$T_TMP/certs-a"
mesh_proxy b pxb --workers 1 --certs "$T_TMP/certs-b"

# HAProxy: a client-side one on node a originating TLS with a client
# certificate, a server-side one on node b with `verify required`. The
# client side verifies the server's chain only: HAProxy matches a server
# name against DNS names (with `sni`, it fails on our URI-only
# certificates), where Sluice checks the destination's SPIFFE ID.
C=$T_TMP/certs-a/nodejs-app/api-client
S=$T_TMP/certs-b/nodejs-app/nodejs-api
cat "$C/cert.pem" "$C/key.pem" >"$T_TMP/client.pem"
cat "$S/cert.pem" "$S/key.pem" >"$T_TMP/server.pem"
haproxy_cfg() { # FILE BODY
	cat >"$1" <<H
global
    nbthread 1
    ssl-default-bind-options ssl-min-ver TLSv1.3 no-tls-tickets
    ssl-default-server-options ssl-min-ver TLSv1.3 no-tls-tickets
    tune.ssl.default-dh-param 2048
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
$2
H
}
haproxy_cfg "$T_TMP/ha-a.cfg" "
listen sink
    bind $IP_A:16001
    server b $IP_B:16008 ssl crt $T_TMP/client.pem ca-file $C/root.pem verify required no-ssl-reuse
listen echo
    bind $IP_A:16002
    server b $IP_B:16009 ssl crt $T_TMP/client.pem ca-file $C/root.pem verify required no-ssl-reuse"
haproxy_cfg "$T_TMP/ha-b.cfg" "
listen sink
    bind $IP_B:16008 ssl crt $T_TMP/server.pem ca-file $S/root.pem verify required curves P-256
    server p $POD_B1:8080
listen echo
    bind $IP_B:16009 ssl crt $T_TMP/server.pem ca-file $S/root.pem verify required curves P-256
    server p $POD_B1:8082
listen hs
    bind $IP_B:17009 ssl crt $T_TMP/server.pem ca-file $S/root.pem verify required curves P-256 alpn h2
    tcp-request session reject"
for n in a b; do
	nsenter --net="/run/netns/$NS-$n" -- haproxy -db -f "$T_TMP/ha-$n.cfg" >"$T_TMP/ha-$n.out" 2>&1 &
	T_PIDS+=("$!")
	eval "PID_ha$n=$!"
done
nsenter --net="/run/netns/$NS-b" -- openssl s_server -quiet -accept "$IP_B:17008" -cert "$S/cert.pem" \
	-key "$S/key.pem" -CAfile "$S/root.pem" -Verify 2 -verify_return_error -tls1_3 -num_tickets 0 \
	-alpn h2 -groups P-256 -naccept $(((HS_N + 60) * REPEAT)) </dev/null >"$T_TMP/s_server.out" 2>&1 &
T_PIDS+=("$!")
PID_ssrv=$!
sleep 1

cpu_ns() { # PID: CPU time of all its threads, ns
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'
}
in_a1() { run_in "$NS-a1" "$CG/a" "$@"; }
record() { # KIND NAME JSON
	jq -c --arg k "$1" --arg n "$2" '. + {kind: $k, name: $n}' <<<"$3" >>"$RAW"
}

# --- handshakes ---------------------------------------------------------------------
hs() { # NAME PID ADDR [SNI]
	local name=$1 pid=$2 addr=$3 sni=${4:-} c0 c1 j
	in_a1 "$TB" hs -d "$C" ${sni:+-S "$sni"} -n 50 "$addr" >/dev/null # warm-up
	c0=$(cpu_ns "$pid")
	j=$(in_a1 "$TB" hs -d "$C" ${sni:+-S "$sni"} -n "$HS_N" "$addr")
	c1=$(cpu_ns "$pid")
	record hs "$name" "$(jq -c --argjson c "$((c1 - c0))" '. + {cpu_us: ($c / 1000 / .n)}' <<<"$j")"
}
for r in $(seq "$REPEAT"); do
	[[ " $PARTS " == *" hs "* ]] || break
	hs sluice "$PID_pxb" "$IP_B:15008" nodejs-api.nodejs-app
	hs openssl "$PID_ssrv" "$IP_B:17008"
	hs haproxy "$PID_hab" "$IP_B:17009"
done

# --- bulk, rr, conn ----------------------------------------------------------------
two_cpu() { echo $(( $(cpu_ns "$1") + $(cpu_ns "$2") )); }
bulk() { # NAME ADDR CPU-PIDS...
	local name=$1 addr=$2 c0 c1 j
	shift 2
	c0=0
	[ $# -gt 0 ] && c0=$(two_cpu "$@")
	j=$(in_a1 "$TB" bulk -n "$BYTES" "$addr")
	c1=0
	[ $# -gt 0 ] && c1=$(two_cpu "$@")
	record bulk "$name" "$(jq -c --argjson c "$((c1 - c0))" '. + {cpu_ns_per_kb: ($c / (.bytes / 1024))}' <<<"$j")"
}
for r in $(seq "$REPEAT"); do
	[[ " $PARTS " == *" bulk "* ]] || break
	bulk direct "$POD_B1:8080"
	bulk plain-proxy 10.96.0.40:80 "$PID_pxa" "$PID_pxb"
	bulk tunnel "$VIP:80" "$PID_pxa" "$PID_pxb"
	bulk haproxy "$IP_A:16001" "$PID_haa" "$PID_hab"
done
for r in $(seq "$REPEAT"); do
	[[ " $PARTS " == *" rr "* ]] || break
	record rr direct "$(in_a1 "$TB" rr -n "$RR_N" "$POD_B1:8082")"
	record rr plain-proxy "$(in_a1 "$TB" rr -n "$RR_N" 10.96.0.40:82)"
	record rr tunnel "$(in_a1 "$TB" rr -n "$RR_N" 10.96.0.22:82)"
	record rr haproxy "$(in_a1 "$TB" rr -n "$RR_N" "$IP_A:16002")"
	record conn direct "$(in_a1 "$TB" conn -n "$CONN_N" "$POD_B1:8080")"
	record conn plain-proxy "$(in_a1 "$TB" conn -n "$CONN_N" 10.96.0.40:80)"
	record conn tunnel "$(in_a1 "$TB" conn -n "$CONN_N" "$VIP:80")"
	record conn haproxy "$(in_a1 "$TB" conn -n "$CONN_N" "$IP_A:16001")"
done

# --- the crypto floor ------------------------------------------------------------
# server side of a mutual handshake with P-256: one ECDHE key generation and
# one derivation, one signature (CertificateVerify), two verifications (the
# client's CertificateVerify and its certificate's signature)
openssl speed -seconds 3 ecdsap256 ecdhp256 2>/dev/null >"$T_TMP/speed.txt"
floor=$(awk '/ecdsa \(nistp256\)/ {sign = $(NF-1); verify = $NF}
	     /ecdh \(nistp256\)/ {ecdh = $NF}
	     END {printf "%.1f", 1e6 * (1 / sign + 2 / verify + 2 / ecdh)}' "$T_TMP/speed.txt")
record floor openssl-speed "{\"floor_us\": $floor}"

# --- report ------------------------------------------------------------------------
med() { # KIND NAME FIELD: median over the repeats
	jq -s --arg k "$1" --arg n "$2" --arg f "$3" \
		'[.[] | select(.kind == $k and .name == $n) | .[$f]] | sort | .[length / 2 | floor] // 0' "$RAW"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
when=$(date -u +%Y-%m-%dT%H:%M:%SZ)
{
	echo "<!-- PROXY-GENERATED-START -->"
	echo "## Node proxy (issue 9): run of $when"
	echo
	echo "\`bench/run-proxy.sh\`, commit \`$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)\`," \
		"kernel $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo))," \
		"load average $(cut -d' ' -f1 /proc/loadavg) at the end; medians of $REPEAT runs."
	echo
	echo "Handshakes ($HS_N per run; server CPU per full mutual TLS 1.3 handshake, P-256):"
	echo
	echo "| server | CPU µs/handshake | × crypto floor ($floor µs) | × HAProxy |"
	echo "|---|---|---|---|"
	ha=$(med hs haproxy cpu_us)
	for n in sluice openssl haproxy; do
		c=$(med hs "$n" cpu_us)
		printf '| %s | %.0f | %s | %s |\n' "$n" "$c" "$(ratio "$c" "$floor")" "$(ratio "$c" "$ha")"
	done
	echo
	echo "Bulk ($BYTES bytes one way, one connection) and 64-byte request/response ($RR_N round trips):"
	echo
	echo "| path | Gbit/s | proxies' CPU ns/KiB | rr p50 µs | rr p99 µs | setup p50 µs | setup p99 µs |"
	echo "|---|---|---|---|---|---|---|"
	for n in direct plain-proxy tunnel haproxy; do
		printf '| %s | %.2f | %.0f | %.1f | %.1f | %.1f | %.1f |\n' "$n" "$(med bulk "$n" gbit_s)" \
			"$(med bulk "$n" cpu_ns_per_kb)" "$(med rr "$n" p50_us)" "$(med rr "$n" p99_us)" \
			"$(med conn "$n" p50_us)" "$(med conn "$n" p99_us)"
	done
	echo
	echo "Targets:"
	echo
	echo "| target | measured | verdict |"
	echo "|---|---|---|"
	verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN {print (v == 0 ? "no data" : (dir == "le" ? v <= t : v >= t) ? "**met**" : "**not met**")}'; }
	s=$(med hs sluice cpu_us)
	echo "| handshake ≤ 1.3× crypto floor | $(ratio "$s" "$floor")× | $(verdict "$(ratio "$s" "$floor")" 1.3 le) |"
	echo "| handshake ≤ 0.8× HAProxy's CPU | $(ratio "$s" "$ha")× | $(verdict "$(ratio "$s" "$ha")" 0.8 le) |"
	t=$(med bulk tunnel gbit_s)
	echo "| tunnel ≥ 0.6× plaintext through the proxy | $(ratio "$t" "$(med bulk plain-proxy gbit_s)")× | $(verdict "$(ratio "$t" "$(med bulk plain-proxy gbit_s)")" 0.6 ge) |"
	echo "| tunnel ≥ 1.2× HAProxy mTLS tunnel | $(ratio "$t" "$(med bulk haproxy gbit_s)")× | $(verdict "$(ratio "$t" "$(med bulk haproxy gbit_s)")" 1.2 ge) |"
	cb=$(ratio "$(med bulk tunnel cpu_ns_per_kb)" "$(med bulk haproxy cpu_ns_per_kb)")
	echo "| tunnel CPU per byte ≤ 0.8× HAProxy's | ${cb}× | $(verdict "$cb" 0.8 le) |"
	for p in p50_us p99_us; do
		v=$(ratio "$(med rr tunnel $p)" "$(med rr haproxy $p)")
		echo "| request/response ${p%_us} ≤ HAProxy pair's | ${v}× | $(verdict "$v" 1.0 le) |"
	done
	echo
	echo "Raw results (JSON lines) are in bench/RESULTS-proxy-raw.jsonl."
	echo "<!-- PROXY-GENERATED-END -->"
} >"$T_TMP/section.md"
cp "$RAW" "$SRC/bench/RESULTS-proxy-raw.jsonl"
if grep -q "PROXY-GENERATED-START" "$OUT" 2>/dev/null; then
	awk -v f="$T_TMP/section.md" '
		/PROXY-GENERATED-START/ {while ((getline l < f) > 0) print l; skip = 1; next}
		/PROXY-GENERATED-END/ {skip = 0; next}
		!skip' "$OUT" >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
else
	{ echo; cat "$T_TMP/section.md"; } >>"$OUT"
fi
cat "$T_TMP/section.md"
[ -n "${BENCH_KEEP:-}" ] && { echo "bench: world kept in $T_TMP; Enter ends it"; read -r _; }
t_done
