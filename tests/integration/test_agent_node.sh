#!/usr/bin/env bash
# The node agent on a node (tests/lib/node.sh topology): sluiced runs in the
# node netns with --iface n0 --pod-ifaces 'p*' --ct-gc 1, started before any
# pod interface exists. It must
#   - attach tc_pod_from/tc_pod_to to each endpoint veth as it appears (it
#     scans every 2 s): links listed by `sluice status`, traffic counted in
#     sluice_pod_packets_total;
#   - re-judge established connections when its config directory gains a
#     NetworkPolicy that refuses them (its apply runs sl_pflows_revoke too);
#   - forget a deleted interface: its link pins and its totals (also under
#     the "ifN" name metrics give a gone ifindex) disappear, the others stay;
#   - attach to a new interface that got the name of a deleted one (a pod
#     recreated with the same veth name, as CNIs name them by pod) even when
#     both happen between two scans;
#   - run the connection-tracking GC: a closed TCP flow's entry is gone after
#     the closed timeout (10 s); an idle UDP entry survives well within the
#     UDP timeout the agent is given (--ct-udp-idle 20) and is gone after it.
#     `sluice ct gc --udp-idle 0.5` removes an entry idle for 1 s and keeps a
#     fresh one.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init agentnode
CASES=(agent_node/starts agent_node/no-pod-links-yet agent_node/links-attached
	agent_node/traffic-counted agent_node/config-change-revokes agent_node/removed-links agent_node/removed-totals
	agent_node/others-kept agent_node/same-name-reattached agent_node/same-name-policy agent_node/cli-gc-udp
	agent_node/gc-closed-tcp agent_node/gc-udp-kept agent_node/gc-udp-idle)
. "$(dirname "$0")/../lib/node.sh"
node_require "${CASES[@]}"
[ -x "$BUILD/sluiced" ] || { fail agent_node/starts "$BUILD/sluiced not built (run make)"; exit 1; }

# The node without endpoints: node_world's first half.
_node_netns "$NS" || { fail agent_node/starts "cannot create netns $NS"; exit 1; }
in_node sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
	net.ipv4.conf.default.rp_filter=0 >/dev/null
in_node sysctl -qw net.ipv6.conf.all.forwarding=1 >/dev/null
_node_client || { fail agent_node/starts "cannot build the client side"; exit 1; }
t_cgroup || { fail agent_node/starts "cannot create cgroup $CG"; exit 1; }
node_client_route 10.244.0.0/16

CONF=$T_TMP/conf
mkdir "$CONF"
{
	yaml_namespace sl-test
	for i in 1 2 3; do yaml_ns_pod "web-$i" sl-test "$(ep_ip $i)" app=web "name=web-$i"; done
	yaml_ingress_service web 80 8080 30080 53 5353 30053
} >"$CONF/node.yaml"

"${IN_NS[@]}" "$BUILD/sluiced" --pin-root "$PIN" --cgroup "$CG" --config-dir "$CONF" \
	--iface n0 --pod-ifaces 'p*' --ct-gc 1 --ct-udp-idle 20 -v >"$T_TMP/agent.log" 2>&1 &
AGENT=$!
T_PIDS+=("$AGENT")

# until_ok SECONDS CMD...: poll CMD every 0.1 s for up to SECONDS (at
# least once, also when SECONDS is already used up).
until_ok() {
	local n=$(($1 * 10))
	shift
	while :; do
		"$@" && return 0
		((n-- > 0)) || return 1
		sleep 0.1
	done
}
gen() { nsl get services -o json 2>/dev/null | jq -r '.generation // 0'; }
gen_ge1() { [ "$(gen)" -ge 1 ] 2>/dev/null; }
agent_log() { tail -n 4 "$T_TMP/agent.log" | tr '\n' ' '; }

if until_ok 15 gen_ge1 && kill -0 "$AGENT" 2>/dev/null; then ok agent_node/starts
else fail agent_node/starts "generation $(gen), agent log: $(agent_log)"; exit 1; fi

# pod_links: the tc_pod link names `sluice status` lists, sorted, one line.
pod_links() {
	nsl status -o json 2>/dev/null |
		jq -r '.links[] | select((.name | startswith("tc_pod_")) and .status == "attached") | .name' |
		sort | tr '\n' ' '
}
# links_are WANT: pod_links equals WANT.
links_are() { [ "$(pod_links)" = "$1" ]; }
want_links() { # IFACE...
	local i
	for i in "$@"; do printf 'tc_pod_from@%s\ntc_pod_to@%s\n' "$i" "$i"; done | sort | tr '\n' ' '
}
# pins_of IFACE: link pin files of IFACE under the pin root.
pins_of() { find "$PIN/links" -name "*@$1" 2>/dev/null | wc -l; }

check_eq agent_node/no-pod-links-yet "$(pod_links)" "" "pod links before any endpoint exists"

# --- endpoints appear ----------------------------------------------------------
for i in 1 2 3; do
	_node_ep "$i" || { fail agent_node/links-attached "cannot build endpoint $i"; exit 1; }
done
t0=$(date +%s.%N)
if until_ok 8 links_are "$(want_links p1 p2 p3)"; then
	ok agent_node/links-attached
	echo "# observed: pod links for 3 new interfaces after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
else
	fail agent_node/links-attached "status lists '$(pod_links)', want '$(want_links p1 p2 p3)' ($(agent_log))"
fi

ep_servers -e 8080 udp:5353

# pkts IFACE DIR: sluice_pod_packets_total{iface=IFACE,direction=DIR}, or
# "none" when there is no such sample.
pkts() {
	nsl metrics 2>/dev/null | awk -v l="sluice_pod_packets_total{iface=\"$1\",direction=\"$2\"}" '
		$1 == l { v = $2; f = 1 } END { print f ? v : "none" }'
}

# traffic_counted I: a 1,000-byte echo from the client to endpoint I adds
# at least 5 packets each way on pI (handshake, data, FIN).
traffic_counted() {
	local i=$1 f0 t0 f1 t1 out
	f0=$(pkts "p$i" from_pod)
	t0=$(pkts "p$i" to_pod)
	out=$(cl -j -b 1000 "$(ep_ip "$i"):8080" 2>&1 | jq -r .ok 2>/dev/null)
	f1=$(pkts "p$i" from_pod)
	t1=$(pkts "p$i" to_pod)
	if [ "$out" = 1 ] && [[ "$f0$t0$f1$t1" != *none* ]] &&
		[ $((f1 - f0)) -ge 5 ] && [ $((t1 - t0)) -ge 5 ]; then
		echo ok
	else
		echo "p$i: connection ok=$out, from_pod $f0 -> $f1, to_pod $t0 -> $t1"
	fi
}
r=""
for i in 1 2 3; do
	x=$(traffic_counted "$i")
	[ "$x" = ok ] || r+="$x; "
done
check_eq agent_node/traffic-counted "$r" "" "pod totals of each interface"

# --- a NetworkPolicy added to the config directory ------------------------------
# The agent's apply re-judges established connections too: web-2 admits
# only 192.0.2.0/24 from now on, so a held connection from ep1 stops.
cl_hold q "$(ns_ep 1)" -- -n 3 -b 1000 -w 1500 "$(ep_ip 2):8080"
g0=$(gen)
cat >"$T_TMP/np.yaml" <<EOF
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-2-in
  namespace: sl-test
spec:
  podSelector:
    matchLabels: {name: web-2}
  policyTypes: [Ingress]
  ingress:
  - from:
    - ipBlock:
        cidr: 192.0.2.0/24
EOF
mv "$T_TMP/np.yaml" "$CONF/np.yaml"
gen_moved() { [ "$(gen)" -gt "$g0" ] 2>/dev/null; }
if ! until_ok 10 gen_moved; then
	fail agent_node/config-change-revokes "generation still $(gen) 10 s after np.yaml was added ($(agent_log))"
else
	wait_hold q
	check_eq agent_node/config-change-revokes "$(jq -r '"\(.held) \(.ok)/\(.failed)"' "$T_TMP/q.json" 2>/dev/null)" "3 0/3" \
		"held / ok/failed of ep1->ep2:8080 after the agent applied a policy refusing it ($(head -c 300 "$T_TMP/q.json"))"
fi

# --- connection tracking: the CLI's GC, then the agent's -------------------------
# ct_udp_clients: client ends of the UDP entries, sorted, one line.
ct_udp_clients() {
	nsl ct list -o json 2>/dev/null | jq -r '[.ct[] | select(.frontend == "'"$FE_IP"':53/udp") | .client] | sort | join(" ")'
}
cl -j -U -n 2 "$FE_IP:53" >"$T_TMP/u1.json" 2>&1
old=$(ct_udp_clients)
sleep 1
cl -j -U -n 2 "$FE_IP:53" >"$T_TMP/u2.json" 2>&1
all=$(ct_udp_clients)
new=$(comm -13 <(tr ' ' '\n' <<<"$old" | sort) <(tr ' ' '\n' <<<"$all" | sort) | tr '\n' ' ')
nsl ct gc --udp-idle 0.5 >"$T_TMP/gc.out" 2>&1
after=$(ct_udp_clients | tr ' ' '\n' | sort | tr '\n' ' ')
if [ "$(wc -w <<<"$old")" = 2 ] && [ "$(wc -w <<<"$new")" = 2 ] && [ "$after" = "$new" ]; then
	ok agent_node/cli-gc-udp
else
	fail agent_node/cli-gc-udp "UDP entries idle 1 s: '$old', fresh: '$new', after ct gc --udp-idle 0.5: '$after' ($(cat "$T_TMP/gc.out"))"
fi

# For the agent: UDP entries (last packet now) and closed TCP flows.
before=$(ct_udp_clients)
cl -j -U -n 2 "$FE_IP:53" >"$T_TMP/u3.json" 2>&1
udp_t=$(date +%s)
udp_set=$(comm -13 <(tr ' ' '\n' <<<"$before" | sort) <(ct_udp_clients | tr ' ' '\n' | sort) | tr '\n' ' ')
# For a failure report: the entries' times against the clock (/proc/uptime
# is CLOCK_BOOTTIME, which equals CLOCK_MONOTONIC on a machine that never
# suspended).
udp_times="uptime $(cut -d' ' -f1 /proc/uptime) s, last_ns $(nsl ct list -o json 2>/dev/null |
	jq -r '[.ct[] | select(.frontend == "'"$FE_IP"':53/udp") | .last_ns] | join(",")')"
# udp_left: how many of udp_set the table still holds.
udp_left() {
	local now c n=0
	now=" $(ct_udp_clients) "
	for c in $udp_set; do [[ $now == *" $c "* ]] && n=$((n + 1)); done
	echo "$n"
}
cl -j -n 3 -b 100 "$FE_IP:80" >"$T_TMP/t.json" 2>&1
ct_tcp() { # STATE: TCP entries of the frontend in STATE ("" = any)
	nsl ct list -o json 2>/dev/null | jq --arg s "$1" '[.ct[] | select(.frontend == "'"$FE_IP"':80/tcp") |
		select($s == "" or .state == $s)] | length'
}
tcp_closed=$(ct_tcp closed)
tcp_t=$(date +%s)

# --- an interface goes away ----------------------------------------------------
idx3=$(ip -n "$NS" -j link show dev p3 | jq -r '.[0].ifindex')
stop_proc ep3
ip -n "$NS" link del p3
ip netns del "$(ns_ep 3)"
no_p3() { [ "$(pins_of p3)" = 0 ] && links_are "$(want_links p1 p2)"; }
if until_ok 8 no_p3; then ok agent_node/removed-links
else fail agent_node/removed-links "p3 link pins $(pins_of p3), status lists '$(pod_links)' ($(agent_log))"; fi
no_p3_totals() {
	! nsl metrics 2>/dev/null | grep -E "^sluice_pod_packets_total\{iface=\"(p3|if$idx3)\"" >/dev/null
}
if until_ok 8 no_p3_totals; then ok agent_node/removed-totals
else fail agent_node/removed-totals "$(nsl metrics | grep -E "^sluice_pod_packets_total\{iface=\"(p3|if$idx3)\"" | tr '\n' ' ')"; fi
r=""
for i in 1 2; do
	x=$(traffic_counted "$i")
	[ "$x" = ok ] || r+="$x; "
done
check_eq agent_node/others-kept "$r" "" "pod totals of the remaining interfaces"

# --- the same name again, between two scans -----------------------------------
# A new pod veth is built under a temporary name in a new netns (the same
# pod address), then the old p2 is deleted and the new one renamed to p2:
# milliseconds apart, so no 2 s scan of the agent can fall in between.
N2=$NS-e2b
_node_netns "$N2" || { fail agent_node/same-name-reattached "cannot create netns $N2"; exit 1; }
ip -n "$NS" link add p2new type veth peer name e0 netns "$N2" &&
	ip -n "$N2" addr add "$(ep_ip 2)/24" dev e0 && ip -n "$N2" link set e0 up &&
	ip -n "$N2" route add default via 10.244.2.1 || {
	fail agent_node/same-name-reattached "cannot build the new endpoint 2"
	exit 1
}
_node_full_csum "$N2" e0
stop_proc ep2
ip -n "$NS" link del p2 && ip -n "$NS" link set p2new name p2 &&
	ip -n "$NS" addr add 10.244.2.1/24 dev p2 && ip -n "$NS" link set p2 up || {
	fail agent_node/same-name-reattached "cannot put the new p2 in place of the old one"
	exit 1
}
ip netns del "$(ns_ep 2)"
nsenter --net="/run/netns/$N2" -- "$TOOLS/sl-server" -e -r "$T_TMP/ep2b.ready" \
	"$(ep_ip 2):8080=ep2" >"$T_TMP/ep2b.out" 2>&1 &
T_PIDS+=("$!")
wait_file "$T_TMP/ep2b.ready" 10 || { fail agent_node/same-name-reattached "sl-server in $N2 did not start"; exit 1; }
sleep 5 # two scans and more
x=$(traffic_counted 2)
check_eq agent_node/same-name-reattached "$x" ok \
	"traffic through the new p2 counted 5 s after it replaced the old one ($(agent_log))"
# web-2-in still selects the pod behind the new p2: ep1 stays refused.
x=$(cl_from 1 -j -n 1 -w 700 -e EINPROGRESS "$(ep_ip 2):8080" 2>/dev/null | jq -r '"\(.ok)/\(.failed)"')
check_eq agent_node/same-name-policy "$x" 1/0 \
	"connects from ep1 to the re-created ep2:8080 that timed out / did not (web-2-in admits only 192.0.2.0/24)"

# --- the agent's connection-tracking GC ------------------------------------------
gone_closed() { [ "$(ct_tcp closed)" = 0 ]; }
if until_ok $((tcp_t + 15 - $(date +%s))) gone_closed; then
	check_range agent_node/gc-closed-tcp "$tcp_closed" 3 3 "closed TCP entries before the GC"
else
	fail agent_node/gc-closed-tcp "closed TCP entries: $tcp_closed, still $(ct_tcp closed) $(( $(date +%s) - tcp_t )) s later"
fi
# Well within 20 s of idleness: the UDP entries are still there.
check_eq agent_node/gc-udp-kept "$(wc -w <<<"$udp_set") $(udp_left)" "2 2" \
	"UDP entries made / still there, ($udp_set) $(( $(date +%s) - udp_t )) s after their last packet"
left=$((udp_t + 15 - $(date +%s)))
[ "$left" -gt 0 ] && sleep "$left"
u58=$(udp_left)
gone_udp() { [ "$(udp_left)" = 0 ]; }
if [ "$(wc -w <<<"$udp_set")" = 2 ] && [ "$u58" = 2 ] && until_ok 8 gone_udp; then
	ok agent_node/gc-udp-idle
else
	fail agent_node/gc-udp-idle "of the UDP entries '$udp_set' (want 2): $u58 left at 15 s (want 2), $(udp_left) at $(( $(date +%s) - udp_t )) s (want 0); made at $udp_times; agent: $(grep -i "connection-tracking" "$T_TMP/agent.log" | tr '\n' ' ' | tail -c 600)"
fi
t_done
