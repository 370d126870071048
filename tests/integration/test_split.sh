#!/usr/bin/env bash
# 90/10 split across two DestinationRule subsets by VirtualService weights:
# 2,000 connections through the VIP must land within +-3 points of 90/10.
# The group is drawn per connection (uniform random over route weights), so
# the v2 count is Binomial(2000, 0.1): sd 13.4 connections, and +-3 points is
# +-60 connections, 4.5 sd: a correct data plane fails this once in ~10^5.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init split
require_kernel split/connections split/ratio split/kernel-path
t_world

VIP=10.96.0.10
{
	yaml_service web $VIP 80 8080
	yaml_pod web-v1-a web 127.0.1.1 v1
	yaml_pod web-v1-b web 127.0.1.2 v1
	yaml_pod web-v2-a web 127.0.1.3 v2
	yaml_dr web ROUND_ROBIN "" v1 v2
	cat <<'Y'
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: web
  namespace: sl-test
spec:
  hosts: [web]
  http:
  - route:
    - destination: {host: web, subset: v1}
      weight: 90
    - destination: {host: web, subset: v2}
      weight: 10
Y
} >"$T_TMP/policy.yaml"
start_server eps 127.0.1.1:8080=v1-a 127.0.1.2:8080=v1-b 127.0.1.3:8080=v2-a
apply_or_die split/connections "$T_TMP/policy.yaml"

client -j -n 2000 $VIP:80 >"$T_TMP/r.json" 2>"$T_TMP/r.err"
check_eq split/connections "$(jq -r '"\(.ok)/\(.failed)"' "$T_TMP/r.json")" 2000/0 \
	"ok/failed connections ($(head -c 300 "$T_TMP/r.err"))"

v1=$(( $(count v1-a "$T_TMP/r.json") + $(count v1-b "$T_TMP/r.json") ))
v2=$(count v2-a "$T_TMP/r.json")
pct=$(awk -v a="$v1" -v b="$v2" 'BEGIN { if (a + b) printf "%.2f", 100 * a / (a + b); else print -1 }')
check_range split/ratio "$pct" 87 93 "v1 share (v1=$v1 v2=$v2) in percent"

# A weight-only VirtualService stays on the kernel path (no proxy hand-off).
check_eq split/kernel-path \
	"$(sl get services -o json | jq -r '.services[] | select(.name == "web") | .handoff')" false \
	"web handoff"
t_done
