#!/usr/bin/env bash
# A failed upgrade leaves the running data plane as it was, serving.
# (tests/lib/loadfault.sh: the world and how steps are injected.)
#
# On a node that runs the data plane, with clients connecting in a loop
# through a VIP (socket LB, in the node's cgroup) and through an externalIP
# (XDP, from the client netns):
# - a load that fails at each step of a real load: the cgroup and the
#   interfaces run the same program ids, the pins are the same objects;
# - a load SIGKILLed at a spread of steps: if `sluice status` finds the node
#   incomplete, `sluice load` repairs it;
# - 0 failed connections on both paths across all of it.
# sl-timeout: 900
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init loadupg
CASES=(loadupg/steps-recorded loadupg/upgrade-failures loadupg/upgrade-kills
	loadupg/no-failed-connection)
. "$(dirname "$0")/../lib/node.sh"
. "$(dirname "$0")/../lib/loadfault.sh"
node_require "${CASES[@]}"
lf_world loadupg/steps-recorded

# --- running node: failed upgrades --------------------------------------------------
load >/dev/null 2>&1 || { fail loadupg/upgrade-failures "load: $(cat "$T_TMP/err")"; t_done; }
nsl apply -f "$T_TMP/policy.yaml" >/dev/null 2>&1 || fail loadupg/upgrade-failures "apply failed"
"${IN_CG[@]}" "$TOOLS/sl-client" -j -l -t 600 -w 2000 $VIP:80 >"$T_TMP/vip.json" 2>"$T_TMP/vip.err" &
T_PIDS+=("$!")
PID_vip=$!
nsenter --net="/run/netns/$NS_C" -- "$TOOLS/sl-client" -j -l -t 600 -w 2000 "$FE_IP:80" \
	>"$T_TMP/xdp.json" 2>"$T_TMP/xdp.err" &
T_PIDS+=("$!")
PID_xdp=$!
sleep 0.5
before=$(state)
bad=()
for s in "${STEPS[@]}"; do
	optional "$s" && continue
	load SLUICE_TEST_FAIL="$s" >/dev/null 2>"$T_TMP/err" && bad+=("$s:succeeded")
	[ "$(state)" = "$before" ] || { bad+=("$s:changed"); state >"$T_TMP/upgrade.$s.state"; }
done
check_eq loadupg/upgrade-failures "${bad[*]}" "" "steps whose failure changed the running node"

# --- SIGKILL during an upgrade: traffic goes on, repair -----------------------------
bad=()
for s in "${KILLS[@]}"; do
	load SLUICE_TEST_KILL="$s" >/dev/null 2>&1
	if [ "$(status_complete)" != true ]; then
		load >/dev/null 2>&1 || bad+=("$s:repair-failed")
		[ "$(status_complete)" = true ] || bad+=("$s:still-incomplete")
	fi
done
sleep 0.3
stop_proc vip
stop_proc xdp
check_eq loadupg/upgrade-kills "${bad[*]}" "" "upgrade killed at a step, then repaired"
r1=$(jq -r '"\(.attempts) \(.failed)"' "$T_TMP/vip.json")
r2=$(jq -r '"\(.attempts) \(.failed)"' "$T_TMP/xdp.json")
if [ "${r1#* }" = 0 ] && [ "${r1% *}" -ge 20 ] && [ "${r2#* }" = 0 ] && [ "${r2% *}" -ge 20 ]; then
	ok loadupg/no-failed-connection
else
	fail loadupg/no-failed-connection "VIP attempts/failed $r1, externalIP $r2 ($(head -c 300 "$T_TMP/vip.err") $(head -c 300 "$T_TMP/xdp.err"))"
fi

t_done
