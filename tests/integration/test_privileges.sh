#!/usr/bin/env bash
# Least privilege, proven (docs/PRIVILEGES.md). Every command runs as uid 0
# under setpriv with exactly the capability set the docs give for it (bounding
# set = that set, no inheritable or ambient capabilities, so the effective set
# is exactly it) and must work, with traffic through the data plane; then,
# for each capability of a set, the command runs with that one dropped and
# must fail with an error naming it, and a refused load must leave nothing
# behind (no pin root, nothing attached).
#
# The sets, as this file checks them (keep docs/PRIVILEGES.md in step):
#   sluice load, sluiced        CAP_BPF CAP_NET_ADMIN CAP_PERFMON, in every mode
#   apply get status metrics    none where bpf() checks capabilities only to
#   flows unload                load (Linux 6.5 and later); CAP_BPF where it
#                               checks every call (probed below)
# Modes: sock (socket load balancing only), node (--iface: XDP and TC
# reverse NAT, --pod-iface: pod hooks), live (the live-flow iterator: skipped,
# naming the errno, where the kernel refuses tracing programs even with every
# capability), agent (sluiced with node ingress and pod discovery).
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init privileges
. "$(dirname "$0")/../lib/node.sh"
MODES=(sock node)
CMDS=(load apply dataplane get status metrics flows unload)
CASES=(privileges/setpriv)
for m in "${MODES[@]}"; do
	for c in "${CMDS[@]}"; do CASES+=("privileges/$m/$c"); done
	for c in bpf net_admin perfmon; do CASES+=("privileges/$m/load-without-$c"); done
done
CASES+=(privileges/sock/apply-handoff)
LIVE_CASES=(privileges/live/load privileges/live/flows privileges/live/load-without-perfmon)
AGENT_CASES=(privileges/agent/starts privileges/agent/pod-hooks privileges/agent/dataplane
	privileges/agent/metrics)
for c in bpf net_admin perfmon; do AGENT_CASES+=("privileges/agent/without-$c"); done
node_require "${CASES[@]}" "${LIVE_CASES[@]}" "${AGENT_CASES[@]}"
command -v setpriv >/dev/null || {
	fail privileges/setpriv "setpriv (util-linux) not installed (tools/install-deps.sh)"
	exit 1
}
[ -x "$BUILD/sluiced" ] || { fail privileges/agent/starts "$BUILD/sluiced not built (run make)"; exit 1; }

LOAD_SET=bpf,net_admin,perfmon
VIP=10.96.0.10

# --- running with exactly a set ---------------------------------------------

# as CAPS CMD...: CMD in the node netns with exactly CAPS (comma-separated,
# lower case, without CAP_; empty for none) effective. The netns is entered
# first: setns() itself needs CAP_SYS_ADMIN, which the command must not have.
as() {
	local caps=$1
	shift
	in_node setpriv --bounding-set="-all${caps:+,+${caps//,/,+}}" --inh-caps=-all \
		--ambient-caps=-all -- "$@"
}

# minus SET CAP: SET without CAP.
minus() {
	local out=() all=() c
	IFS=, read -ra all <<<"$1"
	for c in "${all[@]}"; do [ "$c" != "$2" ] && out+=("$c"); done
	(IFS=,; echo "${out[*]}")
}

capname() { echo "CAP_${1^^}"; }

# slx CAPS CMD ARGS...: sluice CMD on this test's pin root with exactly CAPS;
# stdout in $T_TMP/out, stderr in $T_TMP/err.
slx() {
	local caps=$1 cmd=$2
	shift 2
	as "$caps" "$SLUICE" "$cmd" --pin-root "$PIN" "$@" >"$T_TMP/out" 2>"$T_TMP/err"
}

why() { echo "exit $1: $(tail -n 3 "$T_TMP/err" | tr '\n' ' ' | head -c 600)"; }

# Programs attached to the test cgroup, seen with every capability.
cgroup_progs() { bpftool cgroup show "$CG" 2>/dev/null | grep -c "sl_" || true; }
# Sluice hooks on the node's interfaces (XDP, tcx, cls_bpf).
iface_hooks() { in_node bpftool net show -j 2>/dev/null | grep -o '"sl_[a-z_]*' | wc -l; }

# --- the world --------------------------------------------------------------

_node_netns "$NS" || { fail privileges/sock/load "cannot create netns $NS"; exit 1; }
in_node sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
	net.ipv4.conf.default.rp_filter=0 >/dev/null
in_node sysctl -qw net.ipv6.conf.all.forwarding=1 >/dev/null
in_node sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="10000 65000" >/dev/null
_node_client || { fail privileges/node/load "cannot build the client side"; exit 1; }
for i in 1 2; do _node_ep "$i" || { fail privileges/node/load "cannot build endpoint $i"; exit 1; }; done
t_cgroup || { fail privileges/sock/load "cannot create cgroup $CG"; exit 1; }

# The setpriv recipe gives exactly the set, nothing more.
eff=$(as bpf,net_admin sh -c 'grep CapEff /proc/self/status' | awk '{print $2}')
check_eq privileges/setpriv "$eff" 0000008000001000 "CapEff under setpriv with CAP_BPF,CAP_NET_ADMIN"

# Reading commands: does this kernel's bpf() let a process without
# capabilities open a pinned map (Linux >= 6.5), or does it want CAP_BPF for
# every call while unprivileged BPF is off? Probed with bpftool on a map of
# a data plane loaded with every capability; the same load tells whether the
# kernel runs tracing programs at all (the live mode).
if ! "$SLUICE" load --pin-root "$PIN" --cgroup "$CG" >"$T_TMP/probe.out" 2>&1; then
	fail privileges/sock/load "load with every capability: $(tail -n 3 "$T_TMP/probe.out" | tr '\n' ' ')"
	exit 1
fi
if as "" bpftool map show pinned "$PIN/maps/sl_config" >/dev/null 2>&1; then READ_SET=""; else READ_SET=bpf; fi
live=$("$SLUICE" status --pin-root "$PIN" -o json | jq -c '.features[] | select(.name == "live_flows")')
"$SLUICE" unload --pin-root "$PIN" >/dev/null 2>&1
echo "# reading commands need: ${READ_SET:-no capability}; live_flows with every capability: $live"

# --- one mode ---------------------------------------------------------------

# load_refused MODE CAP LOAD-ARGS...: load without CAP fails naming it, and
# leaves neither a pin root nor a hook behind.
load_refused() {
	local mode=$1 cap=$2 rc
	shift 2
	slx "$(minus "$LOAD_SET" "$cap")" load "$@"
	rc=$?
	if [ "$rc" = 0 ]; then
		fail "privileges/$mode/load-without-$cap" "load succeeded without $(capname "$cap")"
	elif ! tail -n 1 "$T_TMP/err" | grep -q "$(capname "$cap") is not in the effective capability set"; then
		fail "privileges/$mode/load-without-$cap" "the error does not name $(capname "$cap"): $(why $rc)"
	elif [ -e "$PIN" ] || [ "$(cgroup_progs)" != 0 ] || [ "$(iface_hooks)" != 0 ]; then
		fail "privileges/$mode/load-without-$cap" "left behind: pin root $(ls -d "$PIN" 2>/dev/null), $(cgroup_progs) cgroup programs, $(iface_hooks) interface hooks"
	else
		ok "privileges/$mode/load-without-$cap"
	fi
}

# read_cmds MODE FLOWS-ARGS: apply already done; get, status, metrics,
# flows with READ_SET (and, where READ_SET is not empty, without each of it).
check_cmd() { # NAME CMD ARGS...: rc 0 with READ_SET
	local name=$1 rc
	shift
	slx "$READ_SET" "$@"
	rc=$?
	[ "$rc" = 0 ] || { fail "$name" "sluice $* with {${READ_SET}}: $(why $rc)"; return 1; }
	return 0
}

read_refused() { # MODE CMD ARGS...: every capability of READ_SET is needed
	local mode=$1 cmd=$2 cap rc caps=()
	shift 2
	IFS=, read -ra caps <<<"$READ_SET"
	for cap in "${caps[@]}"; do
		slx "$(minus "$READ_SET" "$cap")" "$cmd" "$@"
		rc=$?
		if [ "$rc" != 0 ] && grep -q "$(capname "$cap") is not in the effective capability set" "$T_TMP/err"; then
			ok "privileges/$mode/$cmd-without-$cap"
		else
			fail "privileges/$mode/$cmd-without-$cap" "$(why $rc)"
		fi
	done
}

# --- socket load balancing only ----------------------------------------------

{
	yaml_service web $VIP 80 8080
	yaml_pod web-a web 127.0.1.1
	yaml_pod web-b web 127.0.1.2
} >"$T_TMP/sock.yaml"
start_server eps 127.0.1.1:8080=A 127.0.1.2:8080=B

for cap in bpf net_admin perfmon; do load_refused sock $cap --cgroup "$CG"; done

slx "$LOAD_SET" load --cgroup "$CG"
rc=$?
if [ "$rc" = 0 ]; then ok privileges/sock/load; else fail privileges/sock/load "$(why $rc)"; exit 1; fi
check_cmd privileges/sock/apply apply -f "$T_TMP/sock.yaml" && ok privileges/sock/apply
read_refused sock apply -f "$T_TMP/sock.yaml"

client -j -n 40 $VIP:80 >"$T_TMP/c.json" 2>"$T_TMP/c.err"
check_eq privileges/sock/dataplane \
	"$(jq -r '"\(.ok)/\(.failed)/\((.identities.A // 0) + (.identities.B // 0))"' "$T_TMP/c.json")" 40/0/40 \
	"ok/failed/landed on A or B ($(head -c 200 "$T_TMP/c.err"))"

if check_cmd privileges/sock/get get services -o json; then
	check_eq privileges/sock/get "$(jq -r '.services[] | select(.name == "web") | .frontend' "$T_TMP/out" | sed 's/:.*//')" $VIP "web's frontend"
fi
read_refused sock get services
if check_cmd privileges/sock/status status; then
	if grep -q "^state: *complete" "$T_TMP/out" && grep -q "sl_connect4 *attached" "$T_TMP/out"; then
		ok privileges/sock/status
	else
		fail privileges/sock/status "not complete: $(head -c 600 "$T_TMP/out" | tr '\n' ' ')"
	fi
fi
read_refused sock status
# Program run counts come from the pins under progs/: no CAP_SYS_ADMIN.
if check_cmd privileges/sock/metrics metrics; then
	opened=$(awk '/^istio_tcp_connections_opened_total\{/ { s += $NF } END { print s + 0 }' "$T_TMP/out")
	if [ "$opened" = 40 ] && grep -q '^sluice_program_runs_total{program="sl_connect4"}' "$T_TMP/out"; then
		ok privileges/sock/metrics
	else
		fail privileges/sock/metrics "opened $opened (want 40), program runs: $(grep -c '^sluice_program_runs_total' "$T_TMP/out") lines"
	fi
fi
read_refused sock metrics
# Closed flows are recorded at close; give the last ones a moment.
vip_flows() {
	slx "$READ_SET" flows -o json || return 1
	jq --arg fe "$VIP:80" '[.flows[] | select((.frontend | sub("/.*$"; "")) == $fe)] | length' "$T_TMP/out"
}
for _ in $(seq 30); do
	n=$(vip_flows) || break
	[ "$n" -ge 40 ] && break
	sleep 0.1
done
if vip_flows >/dev/null; then check_range privileges/sock/flows "$n" 40 1000000 "flows through the VIP"
else fail privileges/sock/flows "sluice flows with {$READ_SET}: $(why 1)"; fi
read_refused sock flows
# Under --sockops auto an apply that hands a service off attaches the pinned
# sockops program to the recorded cgroup, and the delete that takes the
# hand-off away detaches it: with the same set as any apply.
yaml_vs_canary web >"$T_TMP/vs.yaml"
so_state() { "$SLUICE" status --pin-root "$PIN" -o json | jq -r .load.sockops; }
so_want=true/false
sockops_off || so_want=true/true
if check_cmd privileges/sock/apply-handoff apply -f "$T_TMP/vs.yaml"; then
	so_after_apply=$(so_state)
	check_cmd privileges/sock/apply-handoff delete -f "$T_TMP/vs.yaml" &&
		check_eq privileges/sock/apply-handoff "$so_after_apply/$(so_state)" "$so_want" \
			"sockops attached after the apply / after the delete, with {$READ_SET}"
fi
slx "$READ_SET" unload
rc=$?
if [ "$rc" = 0 ] && [ ! -e "$PIN" ] && [ "$(cgroup_progs)" = 0 ]; then ok privileges/sock/unload
else fail privileges/sock/unload "$(why $rc); pin root $(ls -d "$PIN" 2>/dev/null), $(cgroup_progs) cgroup programs"; fi
stop_proc eps

# --- node ingress and pod interfaces ------------------------------------------

NODE_ARGS=(--cgroup "$CG" --iface n0 --pod-iface p1 --pod-iface p2)
{
	yaml_namespace sl-test
	for i in 1 2; do yaml_ns_pod "web-$i" sl-test "$(ep_ip "$i")" app=web; done
	yaml_ingress_service web 80 8080 30080
} >"$T_TMP/node.yaml"
ep_servers 8080

for cap in bpf net_admin perfmon; do load_refused node $cap "${NODE_ARGS[@]}"; done

slx "$LOAD_SET" load "${NODE_ARGS[@]}"
rc=$?
if [ "$rc" = 0 ]; then ok privileges/node/load; else fail privileges/node/load "$(why $rc)"; exit 1; fi
check_cmd privileges/node/apply apply -f "$T_TMP/node.yaml" && ok privileges/node/apply

cl -j -n 40 $FE_IP:80 >"$T_TMP/n.json" 2>"$T_TMP/n.err"
check_eq privileges/node/dataplane \
	"$(jq -r '"\(.ok)/\(.failed)/\((.identities.ep1 // 0) + (.identities.ep2 // 0))"' "$T_TMP/n.json")" 40/0/40 \
	"ok/failed/landed on ep1 or ep2 through XDP ($(head -c 200 "$T_TMP/n.err"))"

if check_cmd privileges/node/get get services -o json; then
	check_eq privileges/node/get "$(jq -r '[.services[] | select(.name == "web")] | length' "$T_TMP/out")" 1 "web in get services"
fi
if check_cmd privileges/node/status status; then
	want="tc_nat@n0 tc_pod_from@p1 tc_pod_from@p2 tc_pod_to@p1 tc_pod_to@p2 xdp@n0"
	got=$(awk '$2 == "attached" && $1 ~ /@/ { print $1 }' "$T_TMP/out" | sort | tr '\n' ' ' | sed 's/ $//')
	if grep -q "^state: *complete" "$T_TMP/out" && [ "$got" = "$want" ]; then ok privileges/node/status
	else fail privileges/node/status "interface links '$got', want '$want'; $(grep '^state' "$T_TMP/out")"; fi
fi
if check_cmd privileges/node/metrics metrics; then
	xdp=$(awk '/^sluice_xdp_packets_total\{/ { s += $NF } END { print s + 0 }' "$T_TMP/out")
	pod=$(awk '/^sluice_pod_packets_total\{/ { s += $NF } END { print s + 0 }' "$T_TMP/out")
	if [ "$xdp" -gt 0 ] && [ "$pod" -gt 0 ]; then ok privileges/node/metrics
	else fail privileges/node/metrics "sluice_xdp_packets_total $xdp, sluice_pod_packets_total $pod"; fi
fi
if check_cmd privileges/node/flows flows --pods -o json; then
	n=$(jq 'if type == "array" then . else (.pod_flows // .flows // []) end | length' "$T_TMP/out")
	check_range privileges/node/flows "$n" 1 1000000 "pod flow records"
fi
slx "$READ_SET" unload
rc=$?
if [ "$rc" = 0 ] && [ ! -e "$PIN" ] && [ "$(cgroup_progs)" = 0 ] && [ "$(iface_hooks)" = 0 ]; then
	ok privileges/node/unload
else
	fail privileges/node/unload "$(why $rc); pin root $(ls -d "$PIN" 2>/dev/null), $(cgroup_progs) cgroup programs, $(iface_hooks) interface hooks"
fi

# --- live flows: the tracing iterator ------------------------------------------

# Only a kernel that runs tracing programs for a process with every
# capability can show it; on one that refuses them (lockdown, a security
# module), the live mode does not exist and its cases say so with the errno.
if [ "$(jq -r .status <<<"$live")" != available ]; then
	for c in "${LIVE_CASES[@]}"; do
		skip "$c" "BPF tracing programs (live_flows refused with every capability: $(jq -r .errno <<<"$live"))"
	done
else
	load_refused live perfmon --cgroup "$CG"
	slx "$LOAD_SET" load --cgroup "$CG"
	rc=$?
	src=$("$SLUICE" status --pin-root "$PIN" -o json | jq -r '.features[] | select(.name == "live_flows") | "\(.status)/\(.source)"')
	if [ "$rc" = 0 ] && [ "$src" = available/iterator ]; then ok privileges/live/load
	else fail privileges/live/load "$(why $rc); live_flows $src"; fi
	apply_or_die privileges/live/flows "$T_TMP/sock.yaml"
	start_server eps2 127.0.1.1:8080=A 127.0.1.2:8080=B
	hold_conns held -k 5 -t 60 $VIP:80
	if check_cmd privileges/live/flows flows -o json; then
		n=$(jq '[.flows[] | select(.end_ns == 0)] | length' "$T_TMP/out")
		check_range privileges/live/flows "$n" 5 1000000 "open flows read live"
	fi
	stop_proc held
	slx "$READ_SET" unload >/dev/null 2>&1
	stop_proc eps2
fi

# --- the agent -------------------------------------------------------------------

CONF=$T_TMP/conf
mkdir "$CONF"
cp "$T_TMP/node.yaml" "$CONF/node.yaml"

# agent CAPS TAG: sluiced in the node netns with exactly CAPS, node ingress
# on n0 and pod hooks on every p* interface; its log in $T_TMP/TAG.log.
agent() {
	as "$1" "$BUILD/sluiced" --pin-root "$PIN" --cgroup "$CG" --config-dir "$CONF" \
		--iface n0 --pod-ifaces 'p*' --metrics 127.0.0.1:15090 >"$T_TMP/$2.log" 2>&1 &
	T_PIDS+=("$!")
	eval "PID_$2=$!"
}

until_ok() { # SECONDS CMD...
	local n=$(($1 * 10))
	shift
	until "$@"; do ((n-- > 0)) || return 1; sleep 0.1; done
}

for cap in bpf net_admin perfmon; do
	agent "$(minus "$LOAD_SET" "$cap")" "agent_$cap"
	eval "pid=\$PID_agent_$cap"
	# It must give up at once: a load it cannot do is no reason to wait.
	until_ok 20 sh -c "! kill -0 $pid 2>/dev/null"
	wait "$pid" 2>/dev/null
	rc=$?
	if [ "$rc" = 0 ] || ! grep -q "$(capname "$cap") is not in the loader's effective capability set" "$T_TMP/agent_$cap.log"; then
		fail "privileges/agent/without-$cap" "exit $rc: $(tail -n 3 "$T_TMP/agent_$cap.log" | tr '\n' ' ' | head -c 600)"
	elif [ -e "$PIN" ] || [ "$(cgroup_progs)" != 0 ] || [ "$(iface_hooks)" != 0 ]; then
		fail "privileges/agent/without-$cap" "left behind: pin root $(ls -d "$PIN" 2>/dev/null), $(cgroup_progs) cgroup programs, $(iface_hooks) interface hooks"
	else
		ok "privileges/agent/without-$cap"
	fi
done

agent "$LOAD_SET" agent
applied() { "$SLUICE" get services --pin-root "$PIN" -o json 2>/dev/null | jq -e '.services[] | select(.name == "web")' >/dev/null; }
if until_ok 20 applied && kill -0 "$PID_agent" 2>/dev/null; then ok privileges/agent/starts
else fail privileges/agent/starts "$(tail -n 5 "$T_TMP/agent.log" | tr '\n' ' ' | head -c 600)"; fi
pod_links() {
	[ "$("$SLUICE" status --pin-root "$PIN" 2>/dev/null | awk '$2 == "attached" && $1 ~ /^tc_pod_/' | wc -l)" = 4 ]
}
if until_ok 15 pod_links; then ok privileges/agent/pod-hooks
else fail privileges/agent/pod-hooks "$("$SLUICE" status --pin-root "$PIN" | grep tc_pod | tr '\n' ' ')"; fi
cl -j -n 40 $FE_IP:80 >"$T_TMP/a.json" 2>"$T_TMP/a.err"
check_eq privileges/agent/dataplane \
	"$(jq -r '"\(.ok)/\(.failed)/\((.identities.ep1 // 0) + (.identities.ep2 // 0))"' "$T_TMP/a.json")" 40/0/40 \
	"ok/failed/landed through XDP ($(head -c 200 "$T_TMP/a.err"))"
scrape() {
	# shellcheck disable=SC2016
	in_node bash -c 'exec 3<>/dev/tcp/127.0.0.1/15090 && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3' 2>/dev/null
}
check_range privileges/agent/metrics "$(scrape | grep -c '^sluice_program_runs_total{')" 1 1000 \
	"program run samples served by the agent"
stop_proc agent
t_done
