#!/usr/bin/env bash
# Apply is atomic: the policy re-applied 100 times (alternating the LB
# algorithm, so the tables really change) while a client connects in a loop
# loses no connection. Then an endpoint is deleted: connections made after
# `sluice delete` returns never reach it; re-added, it gets traffic again;
# deleted again, none again. Concurrent applies are serialised. A reload
# with another --svc-cidr (in place, the generation stays) and then an
# apply: every allocated VIP in the new range, in the live slot as in the
# store's compile (the slot is written whole: the stored policy compiled
# under the new options is not what it held).
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init reapply
require_kernel reapply/applies reapply/no-failed-connection reapply/generation reapply/concurrent \
	reapply/removed-not-reached reapply/readded reapply/removed-again reapply/svc-cidr-reload
t_world

VIP=10.96.0.10
for lb in ROUND_ROBIN RANDOM; do
	{
		yaml_service web $VIP 80 8080
		yaml_pod web-a web 127.0.1.1
		yaml_pod web-b web 127.0.1.2
		yaml_pod web-c web 127.0.1.3
		yaml_dr web $lb ""
	} >"$T_TMP/$lb.yaml"
done
yaml_pod web-c web 127.0.1.3 >"$T_TMP/pod-c.yaml"
start_server eps 127.0.1.1:8080=A 127.0.1.2:8080=B 127.0.1.3:8080=C
apply_or_die reapply/applies "$T_TMP/ROUND_ROBIN.yaml"
gen0=$(sl get services -o json | jq -r .generation)

# loop_client TAG: sl-client -l in the background until stop_proc TAG.
loop_client() {
	"${IN_CG[@]}" "$TOOLS/sl-client" -j -l -t 600 -w 2000 $VIP:80 \
		>"$T_TMP/$1.json" 2>"$T_TMP/$1.err" &
	T_PIDS+=("$!")
	eval "PID_$1=$!"
	sleep 0.3
}

loop_client during
bad=0
for i in $(seq 100); do
	f=$T_TMP/ROUND_ROBIN.yaml
	[ $((i % 2)) = 0 ] || f=$T_TMP/RANDOM.yaml
	sl apply -f "$f" >/dev/null 2>"$T_TMP/apply.err" || { bad=$((bad + 1)); cp "$T_TMP/apply.err" "$T_TMP/apply.bad"; }
done
sleep 0.3
stop_proc during
check_eq reapply/applies "$bad" 0 "failed applies ($(head -c 300 "$T_TMP/apply.bad" 2>/dev/null))"
r=$(jq -r '"\(.attempts) \(.failed)"' "$T_TMP/during.json")
if [ "${r#* }" = 0 ] && [ "${r% *}" -ge 100 ]; then ok reapply/no-failed-connection
else fail reapply/no-failed-connection "attempts/failed during 100 applies: $r ($(head -c 300 "$T_TMP/during.err"))"; fi
check_eq reapply/generation "$(sl get services -o json | jq -r .generation)" $((gen0 + 100)) "generation"

# Two CLIs applying at once are serialised by the pin-root lock: 2 x 20
# concurrent applies all succeed and each gets its own generation.
gen1=$(sl get services -o json | jq -r .generation)
workers=()
for w in 1 2; do
	(
		n=0
		for _ in $(seq 20); do sl apply -f "$T_TMP/RANDOM.yaml" >/dev/null 2>>"$T_TMP/conc.err" || n=$((n + 1)); done
		echo $n >"$T_TMP/conc.$w"
	) &
	workers+=($!)
done
wait "${workers[@]}"
check_eq reapply/concurrent \
	"$(cat "$T_TMP/conc.1")+$(cat "$T_TMP/conc.2")/$(sl get services -o json | jq -r .generation)" \
	"0+0/$((gen1 + 40))" "failed applies / generation ($(head -c 200 "$T_TMP/conc.err"))"

# After removal (delete returned), loop 1.5 s: C must get nothing.
phase() { # NAME: loop 1.5 s, leave the JSON in $T_TMP/NAME.json
	loop_client "$1"
	sleep 1.2
	stop_proc "$1"
}
sl delete -f "$T_TMP/pod-c.yaml" >/dev/null 2>"$T_TMP/del.err" || fail reapply/removed-not-reached "delete: $(cat "$T_TMP/del.err")"
phase gone1
check_eq reapply/removed-not-reached "$(count C "$T_TMP/gone1.json")/$(jq -r .failed "$T_TMP/gone1.json")" 0/0 \
	"connections to removed C / failed (A=$(count A "$T_TMP/gone1.json") B=$(count B "$T_TMP/gone1.json") $(head -c 300 "$T_TMP/gone1.err"))"
apply_or_die reapply/readded "$T_TMP/pod-c.yaml"
phase back
c=$(count C "$T_TMP/back.json")
if [ "$c" -gt 0 ] && [ "$(jq -r .failed "$T_TMP/back.json")" = 0 ]; then ok reapply/readded
else fail reapply/readded "C got $c connections after re-adding, failed $(jq -r '"\(.failed) \(.errors)"' "$T_TMP/back.json") $(head -c 300 "$T_TMP/back.err")"; fi
sl delete -f "$T_TMP/pod-c.yaml" >/dev/null 2>&1
phase gone2
check_eq reapply/removed-again "$(count C "$T_TMP/gone2.json")/$(jq -r .failed "$T_TMP/gone2.json")" 0/0 \
	"connections to removed C / failed ($(head -c 300 "$T_TMP/gone2.err"))"

vip_of() { sl get services -o json 2>/dev/null | jq -r --arg n "$1" '[.services[] | select(.name == $n) | .frontend][0] // empty'; }
for n in j k; do
	printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: sl-test}\nspec: {selector: {app: %s}, ports: [{port: 80, targetPort: 8080}]}\n' "$n" "$n" >"$T_TMP/$n.yaml"
done
apply_or_die reapply/svc-cidr-reload "$T_TMP/j.yaml"
j0=$(vip_of j)
if ! "$SLUICE" load --pin-root "$PIN" --cgroup "$CG" "${T_LOAD_ARGS[@]}" --svc-cidr 10.201.0.0/16 >"$T_TMP/load2.out" 2>&1; then
	fail reapply/svc-cidr-reload "sluice load --svc-cidr: $(tail -n 3 "$T_TMP/load2.out" | tr '\n' ' ')"
else
	apply_or_die reapply/svc-cidr-reload "$T_TMP/k.yaml"
	if [[ $j0 != 10.201.* && $(vip_of j) == 10.201.* && $(vip_of k) == 10.201.* ]] && v=$(sl get dataplane --verify 2>&1); then
		ok reapply/svc-cidr-reload
	else fail reapply/svc-cidr-reload "j $j0 -> '$(vip_of j)', k '$(vip_of k)' (want both in 10.201.0.0/16); slot: $(head -c 300 <<<"${v:-}")"; fi
fi
t_done
