#!/usr/bin/env bash
# Outlier ejection in the kernel.
# Part 1: live endpoint A and dead endpoint D (no server: connect() to it is
# refused). consecutive5xxErrors 3 (at L4: consecutive connect failures)
# ejects D on its 3rd failure, whatever the order of picks, because only a
# success on D resets its counter. During baseEjectionTime (5 s: long
# enough for the checks inside it to finish on a slow VM) no connection
# reaches D (every attempt succeeds); afterwards D is picked again
# by itself (failures reappear) without anything done in userspace; its
# second ejection lasts twice as long (baseEjectionTime x times ejected).
# Part 2: 4 endpoints, 2 dead, maxEjectionPercent 25: only one is ejected,
# the other dead one keeps being picked.
# Part 3: outcomes reported from userspace (`sluice outcome`, the path the
# proxy takes): two 5xx in a row eject a live endpoint of a third service
# with consecutive5xxErrors 2; connections then avoid it.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init outlier
require_kernel outlier/ejected-after-3 outlier/no-traffic-while-ejected \
	outlier/returns outlier/multiplier-ejected outlier/multiplier-length outlier/multiplier-duration \
	outlier/max-ejection-percent outlier/other-dead-still-picked \
	outlier/reported-5xx-ejects outlier/reported-ejected-avoided
t_world

{
	yaml_service web 10.96.0.10 80 8080
	yaml_pod web-a web 127.0.1.1
	yaml_pod web-d web 127.0.1.2
	yaml_dr web ROUND_ROBIN "    outlierDetection:
      consecutive5xxErrors: 3
      interval: 10s
      baseEjectionTime: 5s
      maxEjectionPercent: 100"
	yaml_service pool 10.96.0.20 80 8080
	yaml_pod pool-1 pool 127.0.2.1
	yaml_pod pool-2 pool 127.0.2.2
	yaml_pod pool-3 pool 127.0.2.3
	yaml_pod pool-4 pool 127.0.2.4
	yaml_dr pool ROUND_ROBIN "    outlierDetection:
      consecutive5xxErrors: 2
      interval: 10s
      baseEjectionTime: 300s
      maxEjectionPercent: 25"
	yaml_service rep 10.96.0.30 80 8080
	yaml_pod rep-1 rep 127.0.3.1
	yaml_pod rep-2 rep 127.0.3.2
	yaml_dr rep ROUND_ROBIN "    outlierDetection:
      consecutive5xxErrors: 2
      interval: 10s
      baseEjectionTime: 300s
      maxEjectionPercent: 50"
} >"$T_TMP/policy.yaml"
start_server eps 127.0.1.1:8080=A 127.0.2.1:8080=P1 127.0.2.2:8080=P2 127.0.3.1:8080=R1 \
	127.0.3.2:8080=R2
apply_or_die outlier/ejected-after-3 "$T_TMP/policy.yaml"

ep() { # FIELD ADDRESS for service web
	sl get endpoints -o json | jq -r --arg a "$2" \
		"[.endpoints[] | select(.address == \$a and (.service | endswith(\"/web\"))) | .$1][0]"
}

client -j -w 1000 -n 20 10.96.0.10:80 >"$T_TMP/r1.json" 2>/dev/null
check_eq outlier/ejected-after-3 \
	"$(jq -r .failed "$T_TMP/r1.json")/$(ep ejected 127.0.1.2:8080)/$(ep ejections 127.0.1.2:8080)" \
	"3/true/1" "failed connects / D ejected / D ejections"

# Still inside the 5 s ejection: 50 connects take well under a second.
fails_before=$(ep connect_failures 127.0.1.2:8080)
client -j -w 1000 -n 50 10.96.0.10:80 >"$T_TMP/r2.json" 2>/dev/null
check_eq outlier/no-traffic-while-ejected \
	"$(jq -r '"\(.ok)/\(.failed)"' "$T_TMP/r2.json")/$(ep connect_failures 127.0.1.2:8080)" \
	"50/0/$fails_before" "ok/failed while D ejected / D connect_failures"

sleep 5.5
client -j -w 1000 -n 20 10.96.0.10:80 >"$T_TMP/r3.json" 2>/dev/null
f=$(jq -r .failed "$T_TMP/r3.json")
if [ "$f" -ge 1 ] && [ "$f" -le 3 ]; then ok outlier/returns
else fail outlier/returns "after baseEjectionTime D got $f failed connects, want 1..3"; fi

# Those failures ejected D a second time, now for 2 x baseEjectionTime (no
# decay: D was healthy for less than one interval). 5.5 s into it D must
# still be out, where a first ejection would have ended. The 5.5 s count
# from the ejection's start as the data plane reports it, not from here:
# the CLI calls in between take seconds of their own under emulation.
check_eq outlier/multiplier-ejected "$(ep ejected 127.0.1.2:8080)/$(ep ejections 127.0.1.2:8080)" "true/2" \
	"D ejected / ejections after the 3 new failures"
check_eq outlier/multiplier-length "$(ep ejection_ms 127.0.1.2:8080)" 10000 \
	"length of D's second ejection, ms (2 x baseEjectionTime 5 s)"
left=$(ep ejected_for_ms 127.0.1.2:8080)
sleep "$(awk -v l="$left" 'BEGIN { w = 5.5 - (10000 - l) / 1000; printf "%.3f", (w > 0 ? w : 0) }')"
client -j -w 1000 -n 20 10.96.0.10:80 >"$T_TMP/r4.json" 2>/dev/null
check_eq outlier/multiplier-duration "$(jq -r .failed "$T_TMP/r4.json")/$(ep ejected 127.0.1.2:8080)" "0/true" \
	"failed connects 5.5 s into the second (10 s) ejection / D still ejected after them"

client -j -w 1000 -n 200 10.96.0.20:80 >"$T_TMP/p1.json" 2>/dev/null
n_ej=$(sl get endpoints -o json | jq '[.endpoints[] | select((.service | endswith("/pool")) and .ejected)] | length')
check_eq outlier/max-ejection-percent "$n_ej" 1 "ejected endpoints of pool (maxEjectionPercent 25 of 4)"

client -j -w 1000 -n 40 10.96.0.20:80 >"$T_TMP/p2.json" 2>/dev/null
f=$(jq -r .failed "$T_TMP/p2.json")
if [ "$f" -ge 1 ]; then ok outlier/other-dead-still-picked
else fail outlier/other-dead-still-picked "no failed connect in 40: the second dead endpoint was ejected too"; fi

r=$(for _ in 1 2; do sl outcome --service 10.96.0.30:80 --endpoint 127.0.3.1:8080 5xx 2>&1; done | tr '\n' ' ')
ej=$(sl get endpoints -o json | jq -r '[.endpoints[] | select(.address == "127.0.3.1:8080") | .ejected][0]')
check_eq outlier/reported-5xx-ejects "$r/$ej" "recorded ejected /true" "outcome answers / R1 ejected"
client -j -w 1000 -n 20 10.96.0.30:80 >"$T_TMP/rep.json" 2>/dev/null
check_eq outlier/reported-ejected-avoided "$(count R1 "$T_TMP/rep.json")/$(count R2 "$T_TMP/rep.json")" "0/20" \
	"connections to R1/R2 after the ejection"
t_done
