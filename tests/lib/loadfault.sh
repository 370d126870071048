# The world of the load-fault tests (test_load_faults, test_load_upgrade_faults):
# a node from tests/lib/node.sh with two pods and their servers, a policy
# with a VIP (socket LB) and an externalIP (XDP), the steps of a real load
# recorded with SLUICE_TEST_STEPS, and state(): what is attached and pinned.
#
# The loader logs every step it takes (SLUICE_TEST_STEPS) and can be made to
# fail at any one of them (SLUICE_TEST_FAIL: a program named by load:PROG is
# made invalid so the kernel's verifier rejects it; other steps fail before
# acting) or be SIGKILLed there (SLUICE_TEST_KILL). The steps come from a
# real load of this node (socket hooks on the test cgroup, XDP and TC on the
# uplink, pod hooks on two pod veths), so a new step is covered without
# editing the tests.
#
# Source after common.sh, t_init and node.sh; then lf_world CASES...
# shellcheck shell=bash

VIP=10.96.0.10

# What is attached and pinned: cgroup programs, XDP/TC programs per
# interface in the node netns, and every pin with the id of its object.
state() {
	local k
	bpftool -j cgroup show "$CG" 2>/dev/null | jq -c '[.[] | "\(.attach_type):\(.id)"] | sort'
	in_node bpftool -j net show 2>/dev/null |
		jq -c '[.. | objects | select(has("id") and has("devname")) | "\(.devname):\(.kind // .name // ""):\(.id)"] | sort'
	if [ -d "$PIN" ]; then
		find "$PIN" -mindepth 1 -type d | sort
		# Every pin under the pin root with the id of its object, from one
		# walk of bpffs per object kind (bpftool -f).
		for k in map prog link; do
			bpftool -j -f "$k" show 2>/dev/null | jq -r --arg p "$PIN/" \
				'.[] | .id as $id | (.pinned // [])[] | select(startswith($p)) | "\(.) \($id)"'
		done | sort
	else
		echo "no pin root"
	fi
}

load() { in_node env "$@" "$SLUICE" load --pin-root "$PIN" "${LOADARGS[@]}"; }
status_complete() { nsl status -o json 2>/dev/null | jq -r .complete; }

# Optional parts (the live-flow iterator) degrade instead of failing.
optional() { [[ $1 == *sl_flows_iter* ]]; }

_lf_policy() {
	yaml_ingress_service web 80 8080 30080
	yaml_pod web-1 web "$(ep_ip 1)"
	yaml_pod web-2 web "$(ep_ip 2)"
	cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: vip, namespace: sl-test}
spec:
  clusterIP: $VIP
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
EOF
}

# lf_world FIRST-CASE: the node, the policy file, STEPS (every step of a
# fresh load) and KILLS (a spread of them: kills are costlier, a repair load
# each). Leaves the node unloaded. FIRST-CASE reports the recorded steps.
lf_world() {
	local stride i k s
	NODE_V6=0
	node_world 2
	ep_servers 8080
	LOADARGS=(--cgroup "$CG" --iface n0 --pod-iface p1 --pod-iface p2)
	_lf_policy >"$T_TMP/policy.yaml"
	nsl unload >/dev/null 2>&1
	load SLUICE_TEST_STEPS="$T_TMP/steps" >/dev/null 2>&1
	nsl unload >/dev/null 2>&1
	mapfile -t STEPS <"$T_TMP/steps"
	if [ "${#STEPS[@]}" -ge 30 ] && grep -q '^attach:sl_connect4$' "$T_TMP/steps" &&
		grep -q '^attach:xdp@n0$' "$T_TMP/steps" && grep -q '^attach:tc_pod_to@p2$' "$T_TMP/steps" &&
		grep -q '^load:sl_sockops$' "$T_TMP/steps" && grep -q '^map:sl_load:complete$' "$T_TMP/steps"; then
		ok "$1"
	else
		fail "$1" "${#STEPS[@]} steps: $(tr '\n' ' ' <"$T_TMP/steps")"
	fi
	KILLS=()
	stride=$(((${#STEPS[@]} + 9) / 10))
	for ((i = 0; i < ${#STEPS[@]}; i += stride)); do KILLS+=("${STEPS[$i]}"); done
	KILLS+=("${STEPS[$((${#STEPS[@]} - 1))]}")
	for k in pin: attach:tc_pod map:sl_config; do
		s=$(grep -m1 "^$k" "$T_TMP/steps") && KILLS+=("$s")
	done
}
