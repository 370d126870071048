#!/usr/bin/env bash
# getpeername() on a translated socket returns the VIP the application
# dialled, not the endpoint: TCP over IPv4 and IPv6, and connected UDP.
# (sl-client -p fails any attempt whose getpeername differs from the dialled
# address; an untranslated VIP cannot connect at all in the test netns.)
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init getpeername
require_kernel getpeername/tcp4 getpeername/udp4-connected getpeername/tcp6
t_world

{
	yaml_service web 10.96.0.10 80 8080
	yaml_service dns 10.96.0.11 53 5353 UDP
	yaml_pod web-a web 127.0.1.1
	yaml_pod dns-a dns 127.0.1.2
	cat <<'Y'
---
apiVersion: v1
kind: Service
metadata:
  name: web6
  namespace: sl-test
spec:
  clusterIP: fd00:96::10
  selector:
    app: web6
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: web6-a
  namespace: sl-test
  labels: {app: web6}
status:
  phase: Running
  podIP: "::1"
Y
} >"$T_TMP/policy.yaml"
start_server eps 127.0.1.1:8080=web-a udp:127.0.1.2:5353=dns-a '[::1]:8080=web6-a'
apply_or_die getpeername/tcp4 "$T_TMP/policy.yaml"

peer_case() { # NAME IDENTITY SL-CLIENT-ARGS...
	local name=$1 id=$2
	shift 2
	client -j -p -n 5 "$@" >"$T_TMP/$name.json" 2>"$T_TMP/$name.err"
	check_eq "getpeername/$name" "$(jq -r --arg i "$id" '"\(.identities[$i] // 0)/\(.failed)"' "$T_TMP/$name.json")" \
		5/0 "answered by $id / failed ($(head -c 300 "$T_TMP/$name.err"))"
}
peer_case tcp4 web-a 10.96.0.10:80
peer_case udp4-connected dns-a -u 10.96.0.11:53
peer_case tcp6 web6-a '[fd00:96::10]:80'
t_done
