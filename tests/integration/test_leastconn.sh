#!/usr/bin/env bash
# LEAST_CONN: 50 idle connections held on endpoint A, then new connections go
# to B and C only.
#
# The 50 are opened through the VIP while A is the only endpoint, so they
# count against A in the (service, endpoint) state, which survives applies.
# Then B and C are added. The kernel's LEAST_CONN is power of two choices
# with two *distinct* draws among three endpoints, so every choice has at
# least one candidate other than A; that candidate has at most 1 active
# connection (the client below closes each connection before the next),
# while A has 50, so A must never win: the assertion is exactly 0 of 100.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init leastconn
require_kernel leastconn/idle-weights leastconn/held-on-a leastconn/active-count leastconn/none-to-a \
	leastconn/others-balanced leastconn/no-drift leastconn/busy-heavy-never leastconn/busy-heavy-weights
t_world

VIP=10.96.0.10
policy() { # the pods to include
	yaml_service web $VIP 80 8080
	yaml_dr web LEAST_CONN ""
	for p in "$@"; do
		case $p in
		a) yaml_pod web-a web 127.0.1.1 ;;
		b) yaml_pod web-b web 127.0.1.2 ;;
		c) yaml_pod web-c web 127.0.1.3 ;;
		esac
	done
}
start_server eps 127.0.1.1:8080=A 127.0.1.2:8080=B 127.0.1.3:8080=C
policy a >"$T_TMP/a.yaml"
policy a b c >"$T_TMP/abc.yaml"
apply_or_die leastconn/held-on-a "$T_TMP/a.yaml"

hold_conns hold -k 50 $VIP:80
check_eq leastconn/held-on-a "$(jq -r '"\(.identities.A // 0)/\(.failed)"' "$T_TMP/hold.ready")" 50/0 \
	"connections held on A/failed"
apply_or_die leastconn/active-count "$T_TMP/abc.yaml"
check_eq leastconn/active-count "$(json_endpoint active 127.0.1.1:8080)" 50 "active on A"

client -j -n 100 $VIP:80 >"$T_TMP/r.json" 2>"$T_TMP/r.err"
a=$(count A "$T_TMP/r.json") b=$(count B "$T_TMP/r.json") c=$(count C "$T_TMP/r.json")
check_eq leastconn/none-to-a "$a/$(jq -r .failed "$T_TMP/r.json")" 0/0 \
	"new connections to A/failed (B=$b C=$c; $(head -c 200 "$T_TMP/r.err"))"
# B and C tie at 0 active, the first draw wins: each ~Binomial(100, 0.5);
# 20 is 6 sd below the mean.
if [ "$b" -ge 20 ] && [ "$c" -ge 20 ]; then ok leastconn/others-balanced
else fail leastconn/others-balanced "B=$b C=$c, want both >= 20"; fi

# Releasing the held connections brings A back to 0: no drift in the count.
stop_proc hold
for _ in $(seq 50); do [ "$(json_endpoint active 127.0.1.1:8080)" = 0 ] && break; sleep 0.1; done
check_eq leastconn/no-drift "$(json_endpoint active 127.0.1.1:8080)/$(json_endpoint active 127.0.1.2:8080)/$(json_endpoint active 127.0.1.3:8080)" 0/0/0 "active A/B/C after close"
# Endpoint weights still hold when every endpoint is idle: weights 1 and 3
# (ServiceEntry endpoints), short sequential connections, LEAST_CONN.
# Expected share of the weight-3 endpoint is 75 %; 2,000 draws: sd ~1 point.
yaml_se wts 10.96.0.20 LEAST_CONN 127.0.1.1:1 127.0.1.2:3 >"$T_TMP/weighted.yaml"
apply_or_die leastconn/idle-weights "$T_TMP/weighted.yaml"
client -j -n 2000 10.96.0.20:80 >"$T_TMP/w.json" 2>"$T_TMP/w.err"
w1=$(count A "$T_TMP/w.json") w3=$(count B "$T_TMP/w.json")
check_range leastconn/idle-weights "$(awk -v a="$w1" -v b="$w3" 'BEGIN { print (a + b) ? 100 * b / (a + b) : 0 }')" 71 79 \
	"share of the weight-3 endpoint (w1=$w1 w3=$w3) in %"
# The second draw of a pair is distinct from the first *and* weighted over
# the rest: A holds 6 of 10 weight units and 50 idle connections, B 1, C 3.
# A is the first draw 60 % of the time; a second draw that could repeat it
# would make A win 36 % of those connections. A distinct second draw never
# gives A, and B's share of the rest is 0.6 x 1/4 (A first, B second) +
# 0.1 (B first, wins or ties) = 25 %; 400 draws: sd ~2.2 points.
yaml_se heavy 10.96.0.30 LEAST_CONN 127.0.1.1:6 >"$T_TMP/heavy-a.yaml"
yaml_se heavy 10.96.0.30 LEAST_CONN 127.0.1.1:6 127.0.1.2:1 127.0.1.3:3 >"$T_TMP/heavy-abc.yaml"
apply_or_die leastconn/busy-heavy-never "$T_TMP/heavy-a.yaml"
hold_conns heavy -k 50 10.96.0.30:80
apply_or_die leastconn/busy-heavy-never "$T_TMP/heavy-abc.yaml"
client -j -n 400 10.96.0.30:80 >"$T_TMP/h.json" 2>"$T_TMP/h.err"
a=$(count A "$T_TMP/h.json") b=$(count B "$T_TMP/h.json") c=$(count C "$T_TMP/h.json")
check_eq leastconn/busy-heavy-never "$a/$(jq -r .failed "$T_TMP/h.json")" 0/0 \
	"new connections to the busy weight-6 endpoint/failed (B=$b C=$c; $(head -c 200 "$T_TMP/h.err"))"
check_range leastconn/busy-heavy-weights "$(awk -v b="$b" -v c="$c" 'BEGIN { print (b + c) ? 100 * b / (b + c) : 0 }')" 18 32 \
	"share of the weight-1 endpoint among the idle ones (B=$b C=$c) in %"
stop_proc heavy
t_done
