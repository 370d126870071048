#!/usr/bin/env bash
# HBONE interoperability with code no one here wrote: tests/interop/hbone.py
# (Python ssl + h2) drives node b's inbound side as a client, and stands in
# for node b's proxy as a server for node a's outbound side. Also: the
# certificates a proxy must refuse (another CA, expired, the wrong SPIFFE
# ID) on both sides.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init interop
CASES=(interop/inbound-allowed interop/inbound-two-streams interop/inbound-denied
	interop/inbound-foreign-ca interop/inbound-expired interop/inbound-not-this-node
	interop/inbound-wrong-identity-sni interop/outbound-to-python interop/outbound-wrong-spiffe-id
	interop/outbound-foreign-ca interop/outbound-expired interop/refusals-counted)
. "$T_LIB/mesh.sh"
mesh_require "${CASES[@]}"
PY=/usr/bin/python3
$PY -c 'import h2, ssl' 2>/dev/null || skip_all "python3-h2" "${CASES[@]}"
HB=$T_SRC/tests/interop/hbone.py
mesh_world
mesh_certs a nodejs-app api-client other
mesh_certs b nodejs-app nodejs-api
"$SLUICE" ca init --dir "$T_TMP/foreign" >/dev/null
"$SLUICE" ca issue --dir "$T_TMP/foreign" --ns nodejs-app --sa api-client --out "$T_TMP/foreign-client" >/dev/null
"$SLUICE" ca issue --dir "$T_TMP/foreign" --ns nodejs-app --sa nodejs-api --out "$T_TMP/foreign-server" >/dev/null
"$SLUICE" ca issue --dir "$CA_DIR" --ns nodejs-app --sa api-client --expired --out "$T_TMP/expired-client" >/dev/null
"$SLUICE" ca issue --dir "$CA_DIR" --ns nodejs-app --sa nodejs-api --expired --out "$T_TMP/expired-server" >/dev/null
"$SLUICE" ca issue --dir "$CA_DIR" --ns nodejs-app --sa impostor --out "$T_TMP/impostor" >/dev/null
SRV_ID=spiffe://cluster.local/ns/nodejs-app/sa/nodejs-api

pod_server srv b1 "$POD_B1:8080=hello-b1"
mesh_proxy b pxb

# hb_client CERTS AUTHORITY [ARGS]: from node a's netns to node b's :15008
hb_client() {
	local certs=$1 auth=$2
	shift 2
	in_n "$NS-a" $PY "$HB" client --certs "$certs" --connect "$IP_B:15008" \
		--sni nodejs-api.nodejs-app --expect-id "$SRV_ID" --authority "$auth" "$@"
}

hb_client "$T_TMP/certs-a/nodejs-app/api-client" "$POD_B1:8080" >"$T_TMP/in1.json" 2>&1
check_eq interop/inbound-allowed "$(jq -r '"\(.handshake) \(.streams[0].status) \(.streams[0].data)"' "$T_TMP/in1.json" 2>/dev/null)" \
	"ok 200 hello-b1" "$(head -c 300 "$T_TMP/in1.json")"
hb_client "$T_TMP/certs-a/nodejs-app/api-client" "$POD_B1:8080" --streams 2 >"$T_TMP/in2.json" 2>&1
check_eq interop/inbound-two-streams "$(jq -r '[.streams[].status] | join(",")' "$T_TMP/in2.json" 2>/dev/null)" \
	"200,200" "two CONNECT streams on one connection ($(head -c 300 "$T_TMP/in2.json"))"
hb_client "$T_TMP/certs-a/nodejs-app/other" "$POD_B1:8080" >"$T_TMP/in3.json" 2>&1
check_eq interop/inbound-denied "$(jq -r '"\(.handshake) \(.streams[0].status)"' "$T_TMP/in3.json" 2>/dev/null)" \
	"ok 403" "sa 'other' ($(head -c 300 "$T_TMP/in3.json"))"
# TLS 1.3: the client's side of the handshake ends before the server has
# checked the client's certificate; the refusal arrives as an alert or an
# EOF instead of a response, and node b counts it by reason.
hb_client "$T_TMP/foreign-client" "$POD_B1:8080" >"$T_TMP/in4.json" 2>&1
hb_client "$T_TMP/expired-client" "$POD_B1:8080" >"$T_TMP/in5.json" 2>&1
sleep 1.2
check_eq interop/inbound-foreign-ca "$(jq -r '.streams[0].status // "none"' "$T_TMP/in4.json") $(mesh_metric b sluice_proxy_handshakes_total 'side="server",result="unknown_ca"')" \
	"none 1" "client cert of another CA: response, server handshakes unknown_ca ($(head -c 300 "$T_TMP/in4.json"))"
check_eq interop/inbound-expired "$(jq -r '.streams[0].status // "none"' "$T_TMP/in5.json") $(mesh_metric b sluice_proxy_handshakes_total 'side="server",result="expired"')" \
	"none 1" "expired client cert: response, server handshakes expired ($(head -c 300 "$T_TMP/in5.json"))"
hb_client "$T_TMP/certs-a/nodejs-app/api-client" "$POD_A1:8080" >"$T_TMP/in6.json" 2>&1
check_eq interop/inbound-not-this-node "$(jq -r '.streams[0].status' "$T_TMP/in6.json" 2>/dev/null)" \
	404 "a pod of node a asked of node b ($(head -c 300 "$T_TMP/in6.json"))"
in_n "$NS-a" $PY "$HB" client --certs "$T_TMP/certs-a/nodejs-app/api-client" --connect "$IP_B:15008" \
	--sni other.nodejs-app --expect-id "$SRV_ID" --authority "$POD_B1:8080" >"$T_TMP/in7.json" 2>&1
check_eq interop/inbound-wrong-identity-sni "$(jq -r '.handshake | startswith("ok")' "$T_TMP/in7.json" 2>/dev/null)" \
	false "SNI of an identity node b does not hold ($(head -c 300 "$T_TMP/in7.json"))"

# --- outbound: node a's proxy against the Python server as "node b" ----------
stop_proc pxb
py_server() { # TAG CERTS
	rm -f "$T_TMP/$1.ready"
	nsenter --net="/run/netns/$NS-b" -- $PY "$HB" server --certs "$2" --listen "$IP_B:15008" \
		--log "$T_TMP/$1.log" --ready "$T_TMP/$1.ready" >"$T_TMP/$1.out" 2>&1 &
	T_PIDS+=("$!")
	eval "PID_$1=$!"
	wait_file "$T_TMP/$1.ready" 10 || { fail interop/outbound-to-python "server: $(cat "$T_TMP/$1.out")"; exit 1; }
}
mesh_proxy a pxa
py_server pys "$T_TMP/certs-b/nodejs-app/nodejs-api"
pod_client a1 -j -n 2 "$VIP:80" >"$T_TMP/o1.json" 2>"$T_TMP/o1.err"
seen=$(jq -r 'select(.peer_id) | "\(.peer_id) \(.method) \(.authority)"' "$T_TMP/pys.log" | sort | uniq -c | sed 's/^ *//')
check_eq interop/outbound-to-python "$(count interop-server "$T_TMP/o1.json")|$seen" \
	"2|2 spiffe://cluster.local/ns/nodejs-app/sa/api-client CONNECT $POD_B1:8080" \
	"($(head -c 300 "$T_TMP/o1.err"))"
stop_proc pys

refused_out() { # CASE CERTS WHAT
	py_server "py$1" "$2"
	pod_client a1 -j -n 2 -w 2000 "$VIP:80" >"$T_TMP/o$1.json" 2>"$T_TMP/o$1.err"
	check_eq "interop/outbound-$4" "$(jq -r '"\(.ok)/\(.failed)"' "$T_TMP/o$1.json") $(grep -c CONNECT "$T_TMP/py$1.log")" \
		"0/2 0" "$3: connections ok/failed, CONNECTs the server saw"
	stop_proc "py$1"
}
refused_out wrongid "$T_TMP/impostor" "server presents sa impostor" wrong-spiffe-id
refused_out foreignca "$T_TMP/foreign-server" "server cert of another CA" foreign-ca
refused_out expired "$T_TMP/expired-server" "expired server cert" expired

sleep 1.2
check_eq interop/refusals-counted \
	"$(mesh_metric a sluice_proxy_handshakes_total 'result="wrong_identity"') $(( $(mesh_metric a sluice_proxy_handshakes_total 'side="client",result="(unknown_ca|expired|bad_certificate|handshake)"') >= 2 ))" \
	"2 1" "client handshakes refused for the wrong identity / the bad certificates"
t_done
