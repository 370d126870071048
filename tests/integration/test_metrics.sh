#!/usr/bin/env bash
# `sluice metrics` is valid Prometheus text (promtool check metrics) and its
# Istio TCP metrics count what happened: 10 connections to web opened and
# closed; series come in key order (directories are read in hash order),
# so every scrape of the same state is the same text.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init metrics
require_kernel metrics/promtool metrics/opened-total metrics/closed-total metrics/series-in-key-order
command -v promtool >/dev/null || setup_fail "promtool missing (Debian package prometheus, tools/install-deps.sh)"
t_world

{
	yaml_service web 10.96.0.10 80 8080
	yaml_pod web-a web 127.0.1.1
	yaml_pod web-b web 127.0.1.2
	# 24 endpoints in an order no hash keeps
	yaml_service many 10.96.0.11 80 8080
	for i in 7 19 2 23 11 5 16 1 21 9 13 24 3 18 6 22 10 15 4 20 8 14 12 17; do
		yaml_pod "many-$i" many "127.0.2.$i"
	done
} >"$T_TMP/policy.yaml"
start_server eps 127.0.1.1:8080=A 127.0.1.2:8080=B
apply_or_die metrics/promtool "$T_TMP/policy.yaml"
client -j -n 10 10.96.0.10:80 >"$T_TMP/r.json" 2>&1
sleep 0.3

sl metrics >"$T_TMP/m.txt" 2>"$T_TMP/m.err" || fail metrics/promtool "sluice metrics exit $?: $(cat "$T_TMP/m.err")"
if promtool check metrics <"$T_TMP/m.txt" >"$T_TMP/p.out" 2>&1; then ok metrics/promtool
else fail metrics/promtool "$(head -c 500 "$T_TMP/p.out")"; fi

# Sum of a metric's samples whose destination_service names web.
sum_web() {
	awk -v m="$1" '$1 ~ "^" m "\\{" && $1 ~ /destination_service="web[."]/ { s += $NF } END { print s + 0 }' "$T_TMP/m.txt"
}
check_eq metrics/opened-total "$(sum_web istio_tcp_connections_opened_total)" 10 \
	"istio_tcp_connections_opened_total{destination_service=web...} summed"
check_eq metrics/closed-total "$(sum_web istio_tcp_connections_closed_total)" 10 \
	"istio_tcp_connections_closed_total{destination_service=web...} summed"
# The endpoints of `many` as the scrape lists them, and sorted by address.
grep '^sluice_endpoint_active_connections{service="t/many"\|^sluice_endpoint_active_connections{.*frontend="10.96.0.11:80' "$T_TMP/m.txt" |
	sed -n 's/.*endpoint="\([0-9.]*\):.*/\1/p' >"$T_TMP/order"
sort -t. -k1,1n -k2,2n -k3,3n -k4,4n "$T_TMP/order" >"$T_TMP/sorted"
if [ "$(wc -l <"$T_TMP/order")" = 24 ] && cmp -s "$T_TMP/order" "$T_TMP/sorted"; then
	ok metrics/series-in-key-order
else
	fail metrics/series-in-key-order "endpoints of many in scrape order: $(tr '\n' ' ' <"$T_TMP/order")"
fi
t_done
