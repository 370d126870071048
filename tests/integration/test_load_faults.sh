#!/usr/bin/env bash
# A failed load changes nothing; an interrupted one is seen and repaired;
# loads that would harm a node are refused. (tests/lib/loadfault.sh: the
# world and how steps are injected; test_load_upgrade_faults.sh: the same
# on a running node under traffic.)
#
# - fresh node: after a failure at each step of a real load, nothing is
#   attached to the cgroup or the interfaces and no pin root is left;
# - SIGKILL at a spread of steps (every kind, first and last): `sluice
#   status` says incomplete (exit 1), then `sluice load` repairs it (status
#   complete, traffic flows) or `sluice unload` removes everything;
# - refusals that change nothing: a missing cgroup or interface, a second
#   pin root on the same cgroup, the same pin root on another cgroup, a pin
#   root owned by another user or writable by others; ours is mode 0700;
# - unload finds links whose pins were moved inside or out of the pin root.
# sl-timeout: 900
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init loadfault
CASES=(loadfault/steps-recorded loadfault/fresh-failures loadfault/fresh-kills
	loadfault/missing-cgroup loadfault/missing-iface loadfault/second-pin-root
	loadfault/other-cgroup loadfault/pin-root-foreign-owner loadfault/pin-root-world-writable
	loadfault/pin-root-mode loadfault/unload-moved-pins)
. "$(dirname "$0")/../lib/node.sh"
. "$(dirname "$0")/../lib/loadfault.sh"
node_require "${CASES[@]}"
lf_world loadfault/steps-recorded

# --- fresh node ------------------------------------------------------------------
before=$(state)
bad=()
for s in "${STEPS[@]}"; do
	if optional "$s"; then
		load SLUICE_TEST_FAIL="$s" >/dev/null 2>"$T_TMP/err" || bad+=("$s:exit")
		nsl unload >/dev/null 2>&1
	elif load SLUICE_TEST_FAIL="$s" >/dev/null 2>"$T_TMP/err"; then
		bad+=("$s:succeeded")
		nsl unload >/dev/null 2>&1
	fi
	[ "$(state)" = "$before" ] || { bad+=("$s:changed"); state >"$T_TMP/fresh.$s.state"; nsl unload >/dev/null 2>&1; }
done
check_eq loadfault/fresh-failures "${bad[*]}" "" "steps whose failure left something behind"

# --- SIGKILL during a fresh load: status says so; repair or unload ------------------
bad=()
i=0
for s in "${KILLS[@]}"; do
	nsl unload >/dev/null 2>&1
	empty=$(state)
	load SLUICE_TEST_KILL="$s" >/dev/null 2>&1
	if [ -d "$PIN" ] && [ "$(status_complete)" != false ]; then
		bad+=("$s:status-not-incomplete")
	fi
	if [ -d "$PIN" ] && nsl status >/dev/null 2>&1; then
		bad+=("$s:status-exit-0")
	fi
	if [ $((i % 2)) = 0 ]; then
		load >/dev/null 2>&1 || bad+=("$s:repair-failed")
		[ "$(status_complete)" = true ] || bad+=("$s:repair-incomplete")
		nsl apply -f "$T_TMP/policy.yaml" >/dev/null 2>&1 || bad+=("$s:apply-failed")
		n=$(client -j -n 10 $VIP:80 2>/dev/null | jq -r .ok)
		[ "$n" = 10 ] || bad+=("$s:traffic-$n")
	else
		nsl unload >/dev/null 2>&1 || bad+=("$s:unload-failed")
		[ "$(state)" = "$empty" ] || bad+=("$s:unload-left")
	fi
	i=$((i + 1))
done
check_eq loadfault/fresh-kills "${bad[*]}" "" "fresh load killed at a step"

# --- refusals that change nothing ----------------------------------------------------
nsl unload >/dev/null 2>&1
empty=$(state)
in_node "$SLUICE" load --pin-root "$PIN" --cgroup "$CG-none" >/dev/null 2>"$T_TMP/err"
rc=$?
check_eq loadfault/missing-cgroup "$rc/$(state | md5sum)/$(grep -c "$CG-none" "$T_TMP/err")" \
	"1/$(md5sum <<<"$empty")/1" "exit/state/error naming the cgroup"
in_node "$SLUICE" load --pin-root "$PIN" --cgroup "$CG" --iface nosuch0 >/dev/null 2>"$T_TMP/err"
rc=$?
check_eq loadfault/missing-iface "$rc/$(state | md5sum)/$(grep -c nosuch0 "$T_TMP/err")" \
	"1/$(md5sum <<<"$empty")/1" "exit/state/error naming the interface"

load >/dev/null 2>&1
running=$(state)
in_node "$SLUICE" load --pin-root "$PIN-2" --cgroup "$CG" >/dev/null 2>"$T_TMP/err"
rc=$?
left=$([ -e "$PIN-2" ] && echo left || echo none)
check_eq loadfault/second-pin-root "$rc/$left/$([ "$(state)" = "$running" ] && echo same)/$(grep -c 'already runs Sluice' "$T_TMP/err")" \
	"1/none/same/1" "exit/second pin root/state/message"
mkdir "$CG/other"
in_node "$SLUICE" load --pin-root "$PIN" --cgroup "$CG/other" >/dev/null 2>"$T_TMP/err"
rc=$?
n=$(bpftool -j cgroup show "$CG/other" 2>/dev/null | jq length)
check_eq loadfault/other-cgroup "$rc/$([ "$(state)" = "$running" ] && echo same)/${n:-0}" \
	"1/same/0" "exit/state/programs on the other cgroup ($(head -c 200 "$T_TMP/err"))"
rmdir "$CG/other"

# A pin root someone else controls is refused; ours is 0700.
mkdir "$PIN-x"
chown 65534 "$PIN-x"
in_node "$SLUICE" load --pin-root "$PIN-x" --cgroup "$CG" >/dev/null 2>"$T_TMP/err"
rc=$?
check_eq loadfault/pin-root-foreign-owner "$rc/$(grep -c 'owned by uid 65534' "$T_TMP/err")/$(find "$PIN-x" -mindepth 1 | wc -l)" \
	"1/1/0" "exit/message/pins created"
chown 0 "$PIN-x"
chmod 0777 "$PIN-x"
in_node "$SLUICE" load --pin-root "$PIN-x" --cgroup "$CG" >/dev/null 2>"$T_TMP/err"
rc=$?
check_eq loadfault/pin-root-world-writable "$rc/$(grep -c 'writable by others' "$T_TMP/err")/$(find "$PIN-x" -mindepth 1 | wc -l)" \
	"1/1/0" "exit/message/pins created"
rmdir "$PIN-x"
check_eq loadfault/pin-root-mode "$(stat -c %a "$PIN")/$(stat -c %a "$PIN/links")" "700/700" "pin root/links mode"

# --- unload with pins moved ------------------------------------------------------------
# Inside the pin root (a renamed directory) and out of it (bpffs names may
# not contain dots).
moved=$PIN-moved
mv "$PIN/links" "$PIN/links_moved" && mkdir "$PIN/links" && mkdir "$moved" &&
	mv "$PIN/links_moved/sl_connect4" "$PIN/links_moved/xdp@n0" "$moved/"
if [ -e "$moved/sl_connect4" ] && [ -e "$PIN/links_moved/sl_connect6" ]; then
	nsl unload >/dev/null 2>"$T_TMP/err"
	rc=$?
	check_eq loadfault/unload-moved-pins "$rc/$(state | md5sum)" "0/$(md5sum <<<"$empty")" \
		"exit/state after unload ($(head -c 300 "$T_TMP/err"))"
else
	fail loadfault/unload-moved-pins "could not move the pins to set the case up"
fi
rm -rf "$moved"
t_done
