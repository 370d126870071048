#!/usr/bin/env bash
# mTLS between two nodes over HBONE, with examples/mtls-policy.yaml applied
# unchanged (PeerAuthentication STRICT for nodejs-app, an AuthorizationPolicy
# allowing cluster.local/ns/nodejs-app/sa/api-client): the allowed principal
# reaches the workload on the other node, another service account is denied,
# the bytes between the nodes are TLS only, tunnels share one HTTP/2
# connection, and the metrics name both principals.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init mtls
CASES=(mtls/allowed mtls/denied-other-sa mtls/wire-is-tls mtls/one-session
	mtls/bulk-half-close mtls/same-node-allowed mtls/same-node-denied
	mtls/metrics-principals mtls/handshake-metrics mtls/served-with-kernel-metrics)
. "$T_LIB/mesh.sh"
mesh_require "${CASES[@]}"
command -v tcpdump >/dev/null || skip_all "tcpdump" "${CASES[@]}"
mesh_world
mesh_certs a nodejs-app api-client other
mesh_certs b nodejs-app nodejs-api api-client other
pod_server srv b1 "$POD_B1:8080=hello-b1"
# one worker per proxy: "one HTTP/2 connection per node pair" is then exact
mesh_proxy a pxa --workers 1 --certs "$T_TMP/certs-a"
mesh_proxy b pxb --workers 1 --certs "$T_TMP/certs-b"

nsenter --net="/run/netns/$NS" -- tcpdump -i br0 -n -s 0 -U -w "$T_TMP/wire.pcap" tcp >/dev/null 2>&1 &
PID_dump=$!
T_PIDS+=("$PID_dump")
sleep 1

pod_client a1 -j -n 5 "$VIP:80" >"$T_TMP/ok.json" 2>"$T_TMP/ok.err"
check_eq mtls/allowed "$(count hello-b1 "$T_TMP/ok.json")" 5 \
	"api-client -> nodejs-api through both proxies ($(head -c 300 "$T_TMP/ok.err"); $(tail -n 3 "$T_TMP/pxa.out"))"

pod_client a2 -j -n 3 -w 2000 "$VIP:80" >"$T_TMP/deny.json" 2>"$T_TMP/deny.err"
check_eq mtls/denied-other-sa "$(jq -r '"\(.ok)/\(.failed)"' "$T_TMP/deny.json")" 0/3 \
	"sa 'other' is not an allowed principal"

# 2 MB each way through one tunnel; the server echoes, the client reads to EOF
# after its own half-close.
pod_server echo b1 -e "$POD_B1:8081=echo"
cat >"$T_TMP/echo.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: nodejs-app}
spec:
  clusterIP: 10.96.0.21
  selector: {app: nodejs-api}
  ports:
  - {name: tcp, port: 81, targetPort: 8081}
Y
mesh_apply "$T_TMP/echo.yaml"
pod_client a1 -j -n 2 -b 2000000 10.96.0.21:81 >"$T_TMP/bulk.json" 2>"$T_TMP/bulk.err"
check_eq mtls/bulk-half-close "$(jq -r '"\(.ok) \(.bytes_sent) \(.bytes_received >= .bytes_sent)"' "$T_TMP/bulk.json")" \
	"2 4000000 true" "echo through the tunnel ($(head -c 300 "$T_TMP/bulk.err"))"

# Same node: both workloads on node b. No wire, but identities and policy.
pod_client b2 -j -n 4 "$VIP:80" >"$T_TMP/s1.json" 2>"$T_TMP/s1.err"
check_eq mtls/same-node-allowed "$(count hello-b1 "$T_TMP/s1.json")" 4 "api-client-2 on node b ($(head -c 200 "$T_TMP/s1.err"))"
pod_client b3 -j -n 2 -w 2000 "$VIP:80" >"$T_TMP/s2.json" 2>"$T_TMP/s2.err"
check_eq mtls/same-node-denied "$(jq -r '"\(.ok)/\(.failed)"' "$T_TMP/s2.json")" 0/2 "other-2 on node b"

sleep 0.5
kill -INT "$PID_dump" 2>/dev/null
wait "$PID_dump" 2>/dev/null
# Every TCP segment between the nodes goes to or from port 15008, and no
# payload carries the server's identity line or the client's bytes in clear.
# (The TLS ClientHello names the destination service account in its SNI:
# docs/SECURITY.md.)
other=$(tcpdump -r "$T_TMP/wire.pcap" -n 'tcp and not port 15008 and not port 15012' 2>/dev/null | wc -l)
clear=$(tcpdump -r "$T_TMP/wire.pcap" -n -A 'tcp port 15008' 2>/dev/null | grep -c -e 'hello-b1' -e 'xxxxxxxxxxxxxxxx' || true)
tls=$(tcpdump -r "$T_TMP/wire.pcap" -n -x 'tcp port 15008 and (tcp[((tcp[12] & 0xf0) >> 2)] = 0x17)' 2>/dev/null | grep -c 'IP ' || true)
if [ "$other" = 0 ] && [ "$clear" = 0 ] && [ "$tls" -gt 0 ]; then
	ok mtls/wire-is-tls
else
	fail mtls/wire-is-tls "segments off 15008: $other, clear-text hits: $clear, TLS application records: $tls"
fi

# Five + two connections and one denied, one worker each: one client
# session per identity pair (api-client -> nodejs-api, other -> nodejs-api).
sessions=$(tcpdump -r "$T_TMP/wire.pcap" -n 'tcp dst port 15008 and tcp[tcpflags] & tcp-syn != 0' 2>/dev/null | wc -l)
check_eq mtls/one-session "$sessions" 2 "TCP connections to :15008 (one per identity pair)"

sleep 1.5 # the metrics file is rewritten every second
src='source_principal="cluster.local/ns/nodejs-app/sa/api-client"'
dst='destination_principal="cluster.local/ns/nodejs-app/sa/nodejs-api"'
check_eq mtls/metrics-principals \
	"$(mesh_metric b istio_tcp_connections_opened_total "$src.*$dst.*mutual_tls") $(mesh_metric a istio_tcp_connections_closed_total "$src")" \
	"11 7" "opened on b (7 over HBONE, 4 from node b itself) / closed on a for api-client -> nodejs-api"
check_eq mtls/handshake-metrics \
	"$(mesh_metric b sluice_proxy_handshakes_total 'side="server",result="ok"') $(mesh_metric b sluice_proxy_authz_total 'deny')" \
	"2 5" "server handshakes ok / authorization denials on b (3 HBONE, 2 same node)"
# `sluice metrics` carries the proxy's samples in Istio's families, valid text
"$SLUICE" metrics --pin-root "$PIN-b" >"$T_TMP/all.prom" 2>&1
in_families=$(awk '/^# TYPE istio_tcp_connections_opened_total/ {f = 1; next} /^# / {f = 0} f && /reporter="sluice-proxy"/' "$T_TMP/all.prom" | wc -l)
promtool_rc=0
command -v promtool >/dev/null && { promtool check metrics <"$T_TMP/all.prom" >"$T_TMP/promtool.out" 2>&1 || promtool_rc=$?; }
check_eq mtls/served-with-kernel-metrics "$((in_families > 0)) $(grep -c '^sluice_proxy_handshakes_total' "$T_TMP/all.prom") $promtool_rc" \
	"1 1 0" "proxy samples in the kernel's family / handshake series / promtool ($(head -c 300 "$T_TMP/promtool.out" 2>/dev/null))"
t_done
