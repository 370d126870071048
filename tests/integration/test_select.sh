#!/usr/bin/env bash
# Weighted endpoint selection over a group deep enough that a draw's binary
# search takes every one of its steps: 64 endpoints with weights 1, 2, 3, 4
# in turn (total 160), one ServiceEntry per load-balancing policy.
#
# - ROUND_ROBIN walks the cumulative weights one unit per connection, so
#   any 320 consecutive connections give every endpoint exactly twice its
#   weight: a search that ends one position off anywhere shows as a
#   count off by one or more.
# - RANDOM and LEAST_CONN (sequential connections, every endpoint idle: the
#   pair ties and the first draw wins) draw in proportion to the weights:
#   3,200 connections reach every endpoint (the lightest expects 20; none
#   at all is e^-20), and each weight class gets its share of 10/20/30/40 %
#   within 4 points (sd under 1 point).
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init select
require_kernel select/rr-exact select/random-reached select/random-weights \
	select/leastconn-reached select/leastconn-weights
t_world

N_EPS=64
weighted=() eps=()
for ((i = 1; i <= N_EPS; i++)); do
	weighted+=("127.0.2.$i:$(((i - 1) % 4 + 1))")
	eps+=("127.0.2.$i:8080=e$i")
done
{
	yaml_se rr 10.96.0.11 ROUND_ROBIN "${weighted[@]}"
	yaml_se rnd 10.96.0.12 RANDOM "${weighted[@]}"
	yaml_se lc 10.96.0.13 LEAST_CONN "${weighted[@]}"
} >"$T_TMP/policy.yaml"
start_server eps "${eps[@]}"
apply_or_die select/rr-exact "$T_TMP/policy.yaml"

# per_endpoint FILE: "i count" per endpoint, from sl-client -j.
per_endpoint() {
	jq -r --argjson n "$N_EPS" \
		'range(1; $n + 1) as $i | "\($i) \(.identities["e\($i)"] // 0)"' "$1"
}

client -j -n 320 10.96.0.11:80 >"$T_TMP/rr.json" 2>"$T_TMP/rr.err"
off=$(per_endpoint "$T_TMP/rr.json" |
	awk '{ w = ($1 - 1) % 4 + 1; if ($2 != 2 * w) printf "e%d=%d(want %d) ", $1, $2, 2 * w }')
check_eq select/rr-exact "${off:-none}/$(jq -r .failed "$T_TMP/rr.json")" none/0 \
	"endpoints off their 2 x weight/failed ($(head -c 200 "$T_TMP/rr.err"))"

# judge NAME FILE: every endpoint reached, and the weight classes' shares.
judge() {
	local name=$1 f=$2 missing shares bad
	missing=$(per_endpoint "$f" | awk '$2 == 0 { printf "e%d ", $1 }')
	check_eq "select/$name-reached" "${missing:-none}/$(jq -r .failed "$f")" none/0 \
		"endpoints never chosen/failed"
	shares=$(per_endpoint "$f" | awk '{ c[($1 - 1) % 4 + 1] += $2; t += $2 }
		END { for (w = 1; w <= 4; w++) printf "%.1f ", t ? 100 * c[w] / t : 0 }')
	bad=$(awk -v s="$shares" 'BEGIN { n = split(s, a, " ")
		for (w = 1; w <= n; w++) if (a[w] < 10 * w - 4 || a[w] > 10 * w + 4) print "x" }')
	if [ -z "$bad" ]; then ok "select/$name-weights"
	else fail "select/$name-weights" "shares of weights 1/2/3/4: $shares% (want 10/20/30/40 +-4)"; fi
}
client -j -n 3200 10.96.0.12:80 >"$T_TMP/rnd.json" 2>"$T_TMP/rnd.err"
judge random "$T_TMP/rnd.json"
client -j -n 3200 10.96.0.13:80 >"$T_TMP/lc.json" 2>"$T_TMP/lc.err"
judge leastconn "$T_TMP/lc.json"
t_done
