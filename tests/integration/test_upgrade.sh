#!/usr/bin/env bash
# Programs are replaced without a window: `sluice load` on a loaded pin root
# swaps every program of the pinned links with bpf_link_update(), keeping
# maps (policy, counters, socket storage). 20 reloads (UPGRADE_RELOADS) while
# a client connects in a loop: no failed connection, the links now run new
# programs, the policy and the endpoint counters are the ones from before,
# and every connection of the loop is counted exactly once: opened, closed,
# no connect failure, no unit left active.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init upgrade
require_kernel upgrade/reloads upgrade/no-failed-connection upgrade/new-programs \
	upgrade/state-kept
t_world

VIP=10.96.0.10
{
	yaml_service web $VIP 80 8080
	yaml_pod web-a web 127.0.1.1
	yaml_pod web-b web 127.0.1.2
	yaml_dr web ROUND_ROBIN ""
} >"$T_TMP/policy.yaml"
start_server eps 127.0.1.1:8080=A 127.0.1.2:8080=B
apply_or_die upgrade/reloads "$T_TMP/policy.yaml"
client -j -n 50 $VIP:80 >/dev/null 2>&1
gen0=$(sl get services -o json | jq -r .generation)
# Sums over the endpoints: opened closed connect_failures active.
totals() {
	sl get endpoints -o json |
		jq -r '[.endpoints | (map(.opened), map(.closed), map(.connect_failures), map(.active)) | add | tostring] | join(" ")'
}
read -r opened0 closed0 fail0 _ < <(totals)
ids0=$(bpftool -j cgroup show "$CG" | jq -r '[.[].id] | sort | join(",")')

"${IN_CG[@]}" "$TOOLS/sl-client" -j -l -t 600 -w 2000 $VIP:80 >"$T_TMP/loop.json" 2>"$T_TMP/loop.err" &
T_PIDS+=("$!")
PID_loop=$!
sleep 0.3
bad=0
for _ in $(seq "${UPGRADE_RELOADS:-20}"); do
	sl load --cgroup "$CG" >/dev/null 2>"$T_TMP/load.err" || { bad=$((bad + 1)); cp "$T_TMP/load.err" "$T_TMP/load.bad"; }
done
sleep 0.3
stop_proc loop
check_eq upgrade/reloads "$bad" 0 "failed reloads of ${UPGRADE_RELOADS:-20} ($(head -c 300 "$T_TMP/load.bad" 2>/dev/null))"

r=$(jq -r '"\(.attempts) \(.failed)"' "$T_TMP/loop.json")
if [ "${r#* }" = 0 ] && [ "${r% *}" -ge 50 ]; then ok upgrade/no-failed-connection
else fail upgrade/no-failed-connection "attempts/failed during ${UPGRADE_RELOADS:-20} reloads: $r ($(head -c 300 "$T_TMP/loop.err"))"; fi

ids1=$(bpftool -j cgroup show "$CG" | jq -r '[.[].id] | sort | join(",")')
n1=$(bpftool -j cgroup show "$CG" | jq 'length')
if [ "$ids1" != "$ids0" ] && [ "$n1" = "$(tr ',' '\n' <<<"$ids0" | wc -l)" ]; then ok upgrade/new-programs
else fail upgrade/new-programs "program ids before [$ids0] after [$ids1] ($n1 attached)"; fi

gen1=$(sl get services -o json | jq -r .generation)
read -r opened1 closed1 fail1 active1 < <(totals)
attempts=$(jq -r .attempts "$T_TMP/loop.json")
events=$(sl metrics | awk -F'"' '/^sluice_datapath_events_total/ { split($3, v, " "); if (v[2] != 0) printf "%s=%s ", $2, v[2] }')
check_eq upgrade/state-kept "$gen1 $((opened1 - opened0)) $((closed1 - closed0)) $((fail1 - fail0)) $active1" \
	"$gen0 $attempts $attempts 0 0" \
	"generation, then the loop's connections opened, closed, failed, and units active (the loop made $attempts; datapath events: $events)"
t_done
