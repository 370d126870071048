#!/usr/bin/env bash
# The agent applies a change of a few files as a change of their objects
# (tools/sluiced/files.c, sync.c), and the result is always what the whole
# directory gives:
#   - a file renamed into place changes only its objects (the log says
#     "the changed files"), the others stay;
#   - a file removed takes its services with it;
#   - an object moved from one file to another in one change (an identity
#     in two files at once) is applied through the whole directory;
#   - a file with errors is rejected and the last good policy stays; fixed,
#     it applies;
#   - after another writer's apply, the next change makes the data plane
#     equal to the directory again (the other writer's service goes);
#   - a ConfigMap-style ..data swap (no YAML name in the event) reads the
#     whole directory;
#   - new files named to sort first, last and in between, then all three
#     removed: changes of those files alone;
#   - NetworkPolicy: Pods joining and leaving the admitted set, a new Pod,
#     a change of a Service alone in between, the policy removed: each a
#     change of its files, and after each the live slot is what the store
#     compiles to (`sluice get dataplane --verify`). The agent keeps the
#     live NetworkPolicy tables and compiles only the new state's, so a
#     stale kept table shows here as a slot that differs;
#   - `sluice load` again with another --svc-cidr (in place: the
#     generation stays): the next change gives what the whole directory
#     gives under it, every allocated VIP in the new range, not the kept
#     model's mix of old and new;
#   - under --sockops auto, a file that hands a service off to the proxy
#     attaches sockops and its removal detaches it.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init agentchange
CASES=(agent_change/starts agent_change/rename-one agent_change/remove-file agent_change/move-object
	agent_change/bad-file agent_change/bad-fixed agent_change/other-writer agent_change/configmap-swap
	agent_change/new-files-sorted agent_change/netpol-start agent_change/netpol-join
	agent_change/netpol-service-between agent_change/netpol-leave agent_change/netpol-new-pod
	agent_change/netpol-pod-gone agent_change/netpol-removed agent_change/reload-svc-cidr
	agent_change/sockops-attached agent_change/sockops-detached)
require_kernel "${CASES[@]}"
t_netns || { fail agent_change/starts "cannot create netns"; exit 1; }
t_cgroup || { fail agent_change/starts "cannot create cgroup"; exit 1; }

CONF=$T_TMP/conf
mkdir "$CONF"
put() { # FILE: stdin renamed into CONF/FILE
	cat >"$CONF/.$1.tmp" && mv "$CONF/.$1.tmp" "$CONF/$1"
}
{ yaml_service a 10.100.0.1 80 8080; yaml_pod a-1 a 127.0.1.1; } | put a.yaml
{ yaml_service b 10.100.0.2 80 8080; yaml_pod b-1 b 127.0.2.1; } | put b.yaml
yaml_service c 10.100.0.3 80 8080 | put c.yaml

"${IN_NS[@]}" "$BUILD/sluiced" --pin-root "$PIN" --cgroup "$CG" --config-dir "$CONF" \
	>"$T_TMP/agent.log" 2>&1 &
T_PIDS+=("$!")

svcs() { sl get services -o json 2>/dev/null | jq -r '[.services[].name] | unique | sort | join(",")'; }
eps() { sl get endpoints -o json 2>/dev/null | jq -r '[.endpoints[].address] | sort | join(",")'; }
state() { echo "$(svcs) $(eps)"; }
last_log() { tail -n 1 "$T_TMP/agent.log"; }
logs() { tail -n 3 "$T_TMP/agent.log" | tr '\n' ' '; }
until_state() { # WANT: poll up to 10 s
	for _ in $(seq 200); do [ "$(state)" = "$1" ] && return 0; sleep 0.05; done
	return 1
}
# expect NAME WANT-STATE LOG-REGEX
expect() {
	if until_state "$2" && sleep 0.2 && [[ $(last_log) =~ $3 ]]; then ok "$1"
	else fail "$1" "state '$(state)', want '$2'; log: $(logs)"; fi
}
# The whole directory as a fresh apply would hold it, for comparison.
WANT0="a,b,c 127.0.1.1:8080,127.0.2.1:8080"
if until_state "$WANT0"; then ok agent_change/starts
else fail agent_change/starts "state '$(state)'; log: $(logs)"; exit 1; fi

{ yaml_service b 10.100.0.2 80 8080; yaml_pod b-2 b 127.0.2.2; } | put b.yaml
expect agent_change/rename-one "a,b,c 127.0.1.1:8080,127.0.2.2:8080" "generation [0-9]+: 5 objects.*\(the changed files\)"

rm "$CONF/c.yaml"
expect agent_change/remove-file "a,b 127.0.1.1:8080,127.0.2.2:8080" "\(the changed files\)"

# Pod a-1 moves to b.yaml, then leaves a.yaml: for a moment it is in both.
{ yaml_service b 10.100.0.2 80 8080; yaml_pod b-2 b 127.0.2.2; yaml_pod a-1 a 127.0.1.1; } | put b.yaml
yaml_service a 10.100.0.1 80 8080 | put a.yaml
expect agent_change/move-object "a,b 127.0.1.1:8080,127.0.2.2:8080" "\(the whole directory\)"

printf 'apiVersion: v1\nkind: Service\nmetadata: {name: d, namespace: sl-test}\nspec: {ports: [{port: 0}]}\n' | put d.yaml
if until_state "a,b 127.0.1.1:8080,127.0.2.2:8080" && sleep 0.3 &&
	grep -q "rejected (invalid): 1 errors" "$T_TMP/agent.log" && grep -q "d.yaml:4:" "$T_TMP/agent.log"; then
	ok agent_change/bad-file
else fail agent_change/bad-file "state '$(state)'; log: $(logs)"; fi
yaml_service d 10.100.0.4 80 8080 | put d.yaml
expect agent_change/bad-fixed "a,b,d 127.0.1.1:8080,127.0.2.2:8080" "generation"

# New files that sort first, last and in between (the agent keeps its
# entries sorted by name and finds them by binary search), then all
# three removed: each a change of the files alone.
yaml_service f 10.100.0.6 80 8080 | put 0.yaml
yaml_service g 10.100.0.7 80 8080 | put zz.yaml
yaml_service h 10.100.0.8 80 8080 | put ba.yaml
if until_state "a,b,d,f,g,h 127.0.1.1:8080,127.0.2.2:8080"; then
	rm "$CONF/0.yaml" "$CONF/ba.yaml" "$CONF/zz.yaml"
	expect agent_change/new-files-sorted "a,b,d 127.0.1.1:8080,127.0.2.2:8080" "\(the changed files\)"
else
	fail agent_change/new-files-sorted "f, g, h not applied: $(state); log: $(logs)"
	rm "$CONF/0.yaml" "$CONF/ba.yaml" "$CONF/zz.yaml"
fi

# NetworkPolicy: db admits app=web on TCP 8080. Each step waits for the
# agent's next generation, which must come from the changed files, then
# compares the live slot with the store.
np_file() {
	cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-in, namespace: sl-test}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{protocol: TCP, port: 8080}]}]
EOF
}
gens() { grep -c 'info  generation' "$T_TMP/agent.log"; }
# np_step NAME: the next generation is of the changed files and the live
# slot equals the store's compile.
np_step() {
	local v
	for _ in $(seq 200); do [ "$(gens)" -gt "$G" ] && break; sleep 0.05; done
	G=$(gens)
	if ! [[ $(grep 'info  generation' "$T_TMP/agent.log" | tail -n 1) =~ \(the\ changed\ files\) ]]; then
		fail "$1" "not a change of the files: $(logs)"
	elif v=$(sl get dataplane --verify 2>&1); then ok "$1"
	else fail "$1" "the live slot is not the store's compile: $(head -c 400 <<<"$v")"; fi
}
G=$(gens)
{ np_file; yaml_pod db-1 db 127.0.9.1; yaml_pod w-1 web 127.0.9.2; yaml_pod w-2 other 127.0.9.3; } | put np.yaml
np_step agent_change/netpol-start
{ np_file; yaml_pod db-1 db 127.0.9.1; yaml_pod w-1 web 127.0.9.2; yaml_pod w-2 web 127.0.9.3; } | put np.yaml
np_step agent_change/netpol-join
yaml_service d 10.100.0.4 81 8080 | put d.yaml
np_step agent_change/netpol-service-between
{ np_file; yaml_pod db-1 db 127.0.9.1; yaml_pod w-1 other 127.0.9.2; yaml_pod w-2 web 127.0.9.3; } | put np.yaml
np_step agent_change/netpol-leave
yaml_pod w-3 web 127.0.9.4 | put np2.yaml
np_step agent_change/netpol-new-pod
rm "$CONF/np2.yaml"
np_step agent_change/netpol-pod-gone
rm "$CONF/np.yaml"
np_step agent_change/netpol-removed

# A reload with another VIP range leaves the generation as it is; the kept
# model was compiled with the old range. The next change must give what
# the whole directory gives under the new one: every allocated VIP (j's,
# made before the reload, and k's, new) in 10.201.0.0/16, not j in the old
# range and k in the new.
vip_of() { sl get services -o json 2>/dev/null | jq -r --arg n "$1" '[.services[] | select(.name == $n) | .frontend][0] // empty'; }
yaml_noip() { printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: sl-test}\nspec: {selector: {app: %s}, ports: [{port: 80, targetPort: 8080}]}\n' "$1" "$1"; }
yaml_noip j | put j.yaml
for _ in $(seq 200); do [ -n "$(vip_of j)" ] && break; sleep 0.05; done
j0=$(vip_of j)
if [[ $j0 == 10.201.* || -z $j0 ]]; then
	fail agent_change/reload-svc-cidr "j's VIP before the reload: '$j0'"
elif sl load --cgroup "$CG" --svc-cidr 10.201.0.0/16 >/dev/null 2>"$T_TMP/load.err"; then
	yaml_noip k | put k.yaml
	for _ in $(seq 200); do [ -n "$(vip_of k)" ] && break; sleep 0.05; done
	sleep 0.2
	# get services compiles the store under the node's options; the
	# live slot must hold the same (--verify).
	if [[ $(vip_of k) == 10.201.* && $(vip_of j) == 10.201.* ]] && v=$(sl get dataplane --verify 2>&1); then
		ok agent_change/reload-svc-cidr
	else fail agent_change/reload-svc-cidr "j '$(vip_of j)' (was $j0), k '$(vip_of k)', want both in 10.201.0.0/16; slot: $(head -c 300 <<<"${v:-}"); log: $(logs)"; fi
	rm "$CONF/k.yaml" "$CONF/j.yaml"
else
	fail agent_change/reload-svc-cidr "sluice load --svc-cidr: $(head -c 300 "$T_TMP/load.err")"
fi

yaml_service other 10.100.0.9 80 8080 >"$T_TMP/other.yaml"
sl apply -f "$T_TMP/other.yaml" >/dev/null 2>&1
{ yaml_service d 10.100.0.4 80 8080; yaml_pod d-1 d 127.0.4.1; } | put d.yaml
expect agent_change/other-writer "a,b,d 127.0.1.1:8080,127.0.2.2:8080,127.0.4.1:8080" "\(the whole directory\)"

# A ConfigMap volume: files are symlinks into ..data, which is swapped.
mkdir "$CONF/..v1" && yaml_service e 10.100.0.5 80 8080 >"$CONF/..v1/e.yaml"
ln -s ..v1 "$CONF/..data" && ln -s ..data/e.yaml "$CONF/e.yaml"
until_state "a,b,d,e 127.0.1.1:8080,127.0.2.2:8080,127.0.4.1:8080" ||
	fail agent_change/configmap-swap "e not applied first: $(state); log: $(logs)"
mkdir "$CONF/..v2" && { yaml_service e 10.100.0.5 80 8080; yaml_pod e-1 e 127.0.5.1; } >"$CONF/..v2/e.yaml"
ln -s ..v2 "$CONF/..data_tmp" && mv -T "$CONF/..data_tmp" "$CONF/..data"
expect agent_change/configmap-swap "a,b,d,e 127.0.1.1:8080,127.0.2.2:8080,127.0.4.1:8080,127.0.5.1:8080" "\(the whole directory\)"

# --sockops auto (the agent's default): a file that hands a service off to
# the proxy attaches sockops, its removal detaches it, and the log says so.
# Where auto is on (close() cannot count), it is attached throughout.
# Where auto is on (close() cannot count), there is nothing to follow.
so() { sl status -o json 2>/dev/null | jq -r '"\(.load.sockops)/\(.complete)"'; }
until_so() { for _ in $(seq 200); do [ "$(so)" = "$1" ] && return 0; sleep 0.05; done; return 1; }
why=$(feature_missing close_at_release || feature_missing rto_total)
if [ -n "$why" ]; then
	skip agent_change/sockops-attached "$why (--sockops auto is on)"
	skip agent_change/sockops-detached "$why (--sockops auto is on)"
	t_done
fi
yaml_vs_canary a | put vs.yaml
if until_so true/true && grep -q "sockops attached: the live policy hands off" "$T_TMP/agent.log"; then
	ok agent_change/sockops-attached
else fail agent_change/sockops-attached "status sockops/complete '$(so)'; log: $(logs)"; fi
rm "$CONF/vs.yaml"
if until_so false/true && grep -q "sockops detached: the live policy no longer hands off" "$T_TMP/agent.log"; then
	ok agent_change/sockops-detached
else fail agent_change/sockops-detached "status sockops/complete '$(so)', want 'false/true'; log: $(logs)"; fi
t_done
