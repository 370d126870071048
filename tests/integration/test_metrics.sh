#!/usr/bin/env bash
# `sluice metrics` is valid Prometheus text (promtool check metrics) and its
# Istio TCP metrics count what happened: 10 connections to web opened and
# closed.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init metrics
require_kernel metrics/promtool metrics/opened-total metrics/closed-total
command -v promtool >/dev/null || setup_fail "promtool missing (Debian package prometheus, tools/install-deps.sh)"
t_world

{
	yaml_service web 10.96.0.10 80 8080
	yaml_pod web-a web 127.0.1.1
	yaml_pod web-b web 127.0.1.2
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
t_done
