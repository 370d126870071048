#!/usr/bin/env bash
# Hand-off to the proxy: a service whose VirtualService has an http header
# match is redirected to the proxy address given to `load --proxy`, where
# sl-origdst (the proxy stand-in) finds the original VIP:port in the pinned
# sl_handoff map from the accepted socket's addresses. A socket carrying the
# proxy mark (SO_MARK, `--proxy-mark`) is the proxy's own upstream and is
# not redirected: it reaches the endpoint.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init handoff
require_kernel handoff/services-json handoff/redirected handoff/getpeername \
	handoff/marked-not-redirected handoff/other-mark-redirected handoff/plain-service-direct
PROXY=127.0.0.1:15099 MARK=0x5a11
t_world --proxy $PROXY --proxy-mark $MARK

{
	yaml_service web 10.96.0.10 80 8080
	yaml_pod web-a web 127.0.1.1
	yaml_service plain 10.96.0.11 80 8080
	yaml_pod plain-a plain 127.0.1.2
	yaml_vs_canary web
} >"$T_TMP/policy.yaml"
start_server eps 127.0.1.1:8080=web-a 127.0.1.2:8080=plain-a
"${IN_NS[@]}" "$TOOLS/sl-origdst" -P "$PIN" -r "$T_TMP/proxy.ready" -l "$T_TMP/proxy.log" $PROXY \
	>"$T_TMP/proxy.out" 2>&1 &
T_PIDS+=("$!")
wait_file "$T_TMP/proxy.ready" 10 || { fail handoff/redirected "sl-origdst: $(cat "$T_TMP/proxy.out")"; exit 1; }
apply_or_die handoff/services-json "$T_TMP/policy.yaml"

check_eq handoff/services-json \
	"$(sl get services -o json | jq -r '.services[] | select(.name == "web") | "\(.handoff) \(.handoff_reasons | join(","))"')" \
	"true http-match" "web handoff / handoff_reasons"

client -j -n 3 10.96.0.10:80 >"$T_TMP/r.json" 2>"$T_TMP/r.err"
check_eq handoff/redirected "$(count "ORIG 10.96.0.10:80" "$T_TMP/r.json")" 3 \
	"answers 'ORIG 10.96.0.10:80' ($(jq -c .identities "$T_TMP/r.json") $(head -c 200 "$T_TMP/r.err") $(tail -n 3 "$T_TMP/proxy.out"))"

client -j -p -n 2 10.96.0.10:80 >"$T_TMP/p.json" 2>"$T_TMP/p.err"
check_eq handoff/getpeername "$(jq -r '"\(.ok)/\(.failed)"' "$T_TMP/p.json")" 2/0 \
	"getpeername is the VIP on a handed-off socket ($(head -c 200 "$T_TMP/p.err"))"

client -j -n 3 -m $MARK 10.96.0.10:80 >"$T_TMP/m.json" 2>"$T_TMP/m.err"
check_eq handoff/marked-not-redirected "$(count web-a "$T_TMP/m.json")" 3 \
	"marked socket reached web-a ($(jq -c .identities "$T_TMP/m.json") $(head -c 200 "$T_TMP/m.err"))"

client -j -n 2 -m 0x1 10.96.0.10:80 >"$T_TMP/o.json" 2>"$T_TMP/o.err"
check_eq handoff/other-mark-redirected "$(count "ORIG 10.96.0.10:80" "$T_TMP/o.json")" 2 \
	"a socket with another mark is still handed off"

client -j -n 3 10.96.0.11:80 >"$T_TMP/d.json" 2>"$T_TMP/d.err"
check_eq handoff/plain-service-direct "$(count plain-a "$T_TMP/d.json")" 3 \
	"service without L7 policy goes straight to its endpoint"
t_done
