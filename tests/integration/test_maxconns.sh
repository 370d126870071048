#!/usr/bin/env bash
# connectionPool.tcp.maxConnections: 5 with 5 connections held open, the 6th
# connect() fails at once (< 100 ms) with ECONNREFUSED; after one of the
# held connections closes, a new one succeeds; the overflow counter shows
# up in `get services -o json` and in `sluice metrics`.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init maxconns
require_kernel maxconns/hold-five maxconns/refused-at-once maxconns/overflow-json \
	maxconns/overflow-metrics maxconns/after-close maxconns/limit-again
t_world

VIP=10.96.0.10
{
	yaml_service web $VIP 80 8080
	yaml_pod web-a web 127.0.1.1
	yaml_pod web-b web 127.0.1.2
	yaml_dr web ROUND_ROBIN "    connectionPool:
      tcp:
        maxConnections: 5"
} >"$T_TMP/policy.yaml"
start_server eps 127.0.1.1:8080=A 127.0.1.2:8080=B
apply_or_die maxconns/hold-five "$T_TMP/policy.yaml"

group() { # FIELD of web's only group
	sl get services -o json | jq -r ".services[] | select(.name == \"web\") | .groups[0].$1"
}

# Four in one holder and one in another, so that exactly one can be closed.
hold_conns four -k 4 $VIP:80
hold_conns one -k 1 $VIP:80
check_eq maxconns/hold-five \
	"$(jq -r .ok "$T_TMP/four.ready")+$(jq -r .ok "$T_TMP/one.ready")/$(group active)" "4+1/5" \
	"held connections / group active"

client -j -e ECONNREFUSED $VIP:80 >"$T_TMP/r6.json" 2>"$T_TMP/r6.err"
ms=$(jq -r .connect_ms_max "$T_TMP/r6.json")
if [ "$(jq -r .ok "$T_TMP/r6.json")" = 1 ] &&
	awk -v m="$ms" 'BEGIN { exit !(m < 100) }'; then
	ok maxconns/refused-at-once
else
	fail maxconns/refused-at-once "6th connect: $(cat "$T_TMP/r6.json" "$T_TMP/r6.err" | tr '\n' ' ')"
fi
check_eq maxconns/overflow-json "$(group overflow)" 1 "groups[0].overflow"

# Some sluice_ metric about overflows carries the refused connect for web.
sl metrics >"$T_TMP/metrics.txt" 2>&1
if grep -E '^sluice_[a-z_]*overflow[a-z_]*\{[^}]*web[^}]*\} +1(\.0+)?$' "$T_TMP/metrics.txt" >/dev/null; then
	ok maxconns/overflow-metrics
else
	fail maxconns/overflow-metrics "no sluice_*overflow* sample = 1 for web: $(grep -i overflow "$T_TMP/metrics.txt" | head -5 | tr '\n' ' ')"
fi

stop_proc one
for _ in $(seq 50); do [ "$(group active)" = 4 ] && break; sleep 0.1; done
client -j $VIP:80 >"$T_TMP/r7.json" 2>"$T_TMP/r7.err"
check_eq maxconns/after-close "$(jq -r .ok "$T_TMP/r7.json")" 1 \
	"connect after one closed ($(head -c 200 "$T_TMP/r7.err"))"

# The limit still holds after the slot was reused.
hold_conns one2 -k 1 $VIP:80
client -j -e ECONNREFUSED $VIP:80 >"$T_TMP/r8.json" 2>"$T_TMP/r8.err"
check_eq maxconns/limit-again "$(jq -r .ok "$T_TMP/r8.json")/$(group overflow)" 1/2 \
	"refused again / overflow ($(head -c 200 "$T_TMP/r8.err"))"
t_done
