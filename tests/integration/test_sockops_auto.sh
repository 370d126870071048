#!/usr/bin/env bash
# `--sockops auto`, the default (docs/KERNEL.md, "When sockops is
# attached"): sockops is attached to the cgroup exactly while the live
# policy hands a service off to the configured proxy, whichever way the
# policy gets there (the first apply, an incremental change, a whole one,
# a delete, a reload), and the node is whole in every state.
#
# - an L4-only policy: no sockops program on the cgroup (the kernel's own
#   list, not only our pins); a connection counts as opened when it ends;
# - a change that adds a hand-off attaches it before the switch: the very
#   first handed-off connection finds its record at the proxy;
# - while attached, an L4 connection counts as opened at establishment,
#   and once only when it closes;
# - a delete that takes the last hand-off away detaches it; so does a
#   whole publication (a change too large to apply incrementally); one
#   killed before its detach leaves it to the next sweep (`sluice status`,
#   the agent's every few seconds);
# - a reload decides from the live policy, and mends a link lost while the
#   policy hands off (`sluice status` says it is missing); with `--proxy
#   none` nothing is handed off, so nothing is attached; `--sockops on`
#   keeps it attached whatever the policy, and a reload back to the
#   default detaches it.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init sockops-auto
CASES=(sockops-auto/l4-detached sockops-auto/l4-opened-at-close sockops-auto/handoff-attached
	sockops-auto/l4-while-attached sockops-auto/delete-detaches sockops-auto/whole-detaches
	sockops-auto/leftover-mended sockops-auto/reload-decides sockops-auto/lost-link
	sockops-auto/proxy-none sockops-auto/on-stays sockops-auto/reload-detaches)
require_kernel "${CASES[@]}"
for f in close_at_release rto_total; do
	why=$(feature_missing "$f") && skip_all "$why (--sockops auto keeps sockops attached)" "${CASES[@]}"
done
command -v bpftool >/dev/null || { fail sockops-auto/l4-detached "bpftool not installed"; exit 1; }
PROXY=127.0.0.1:15097 WEB=10.96.0.10 PLAIN=10.96.0.11
t_world --proxy $PROXY

# NODE: "SOCKOPS-IN-STATUS/SOCKOPS-PROGRAMS-ON-THE-CGROUP/COMPLETE/METRIC".
node() {
	local kernel
	kernel=$(bpftool -j cgroup show "$CG" | jq '[.[] | select(.name == "sl_sockops")] | length')
	echo "$(sl status -o json | jq -r '"\(.load.sockops_mode):\(.load.sockops)"')/$kernel/$(sl status -o json | jq -r .complete)/$(sl metrics | awk '$1 == "sluice_sockops_attached" { print $2 }')"
}
ep() { # SERVICE FIELD of its only endpoint
	sl get endpoints -o json | jq -r --arg s "sl-test/$1" "[.endpoints[] | select(.service == \$s) | .$2] | add // 0"
}
DETACHED="auto:false/0/true/0" ATTACHED="auto:true/1/true/1"

{
	yaml_service web $WEB 80 8080
	yaml_pod web-a web 127.0.1.1
	yaml_service plain $PLAIN 80 8080
	yaml_pod plain-a plain 127.0.1.2
} >"$T_TMP/l4.yaml"
yaml_vs_canary web >"$T_TMP/vs.yaml"
start_server eps 127.0.1.1:8080=web-a 127.0.1.2:8080=plain-a
"${IN_NS[@]}" "$TOOLS/sl-origdst" -P "$PIN" -r "$T_TMP/proxy.ready" -l "$T_TMP/proxy.log" $PROXY \
	>"$T_TMP/proxy.out" 2>&1 &
T_PIDS+=("$!")
wait_file "$T_TMP/proxy.ready" 10 || { fail sockops-auto/handoff-attached "sl-origdst: $(cat "$T_TMP/proxy.out")"; exit 1; }

# --- L4 only ----------------------------------------------------------------
apply_or_die sockops-auto/l4-detached "$T_TMP/l4.yaml"
check_eq sockops-auto/l4-detached "$(node)" "$DETACHED" \
	"status mode:attached / sock_ops programs on the cgroup / complete / metric"

hold_conns l4 -k 1 $PLAIN:80
open_opened=$(ep plain opened)
stop_proc l4
wait_eq 1 ep plain opened
check_eq sockops-auto/l4-opened-at-close "$open_opened/$(ep plain opened)/$(ep plain active)" "0/1/0" \
	"plain opened while open / after close / active after close"

# --- a change hands off: attached before the switch -------------------------
sl apply -f "$T_TMP/vs.yaml" >"$T_TMP/a1.out" 2>&1 || fail sockops-auto/handoff-attached "apply: $(cat "$T_TMP/a1.out")"
client -j -n 1 $WEB:80 >"$T_TMP/r1.json" 2>"$T_TMP/r1.err"
check_eq sockops-auto/handoff-attached \
	"$(node)/$(grep -c 'sockops attached' "$T_TMP/a1.out")/$(count "ORIG $WEB:80" "$T_TMP/r1.json")" \
	"$ATTACHED/1/1" "node / apply says attached / the first handed-off connection answered by the proxy ($(head -c 200 "$T_TMP/r1.err") $(tail -n 2 "$T_TMP/proxy.out"))"

# --- L4 with sockops there: opened at establishment, counted once -----------
hold_conns l4b -k 1 $PLAIN:80
open_opened=$(ep plain opened)
stop_proc l4b
wait_eq 0 ep plain active
sleep 0.2
check_eq sockops-auto/l4-while-attached "$open_opened/$(ep plain opened)" "2/2" \
	"plain opened while open (live, by sockops) / after close (not again)"

# --- a delete takes the hand-off away: detached ------------------------------
sl delete -f "$T_TMP/vs.yaml" >"$T_TMP/d1.out" 2>&1 || fail sockops-auto/delete-detaches "delete: $(cat "$T_TMP/d1.out")"
client -j -n 1 $WEB:80 >"$T_TMP/r2.json" 2>"$T_TMP/r2.err"
check_eq sockops-auto/delete-detaches \
	"$(node)/$(grep -c 'sockops detached' "$T_TMP/d1.out")/$(count web-a "$T_TMP/r2.json")" \
	"$DETACHED/1/1" "node / delete says detached / web straight to its endpoint ($(head -c 200 "$T_TMP/r2.err"))"

# --- a delete killed after its last map write, before its detach: sockops
# is left attached with nothing to hand off; the sweep of `sluice status`
# (as the agent's every few seconds) detaches it -------------------------------
writes=$(grep -o '[0-9]* map writes' "$T_TMP/d1.out" | cut -d' ' -f1)
sl apply -f "$T_TMP/vs.yaml" >/dev/null 2>&1
SLUICE_TEST_KILL_AFTER_WRITE=${writes:-0} sl delete -f "$T_TMP/vs.yaml" >"$T_TMP/d3.out" 2>&1
left=$([ -e "$PIN/links/sl_sockops" ] && echo linked || echo gone)
sl status >/dev/null 2>&1
check_eq sockops-auto/leftover-mended \
	"${writes:-?}/$left/$(sl get services -o json | jq '[.services[] | select(.handoff)] | length')/$(node)" \
	"${writes:-?}/linked/0/$DETACHED" \
	"the delete's writes / link after a delete killed after its last write / services handed off / node after a status"

# --- a whole publication: many services and the VirtualService without its
# match (nothing to hand off) in one apply, after it was attached again ------
sl apply -f "$T_TMP/vs.yaml" >/dev/null 2>&1
# The same VirtualService without its match: nothing to hand off.
{
	yaml_vs_canary web | sed '/- match:/,/^  - route:$/{/^  - route:$/!d}'
	for i in $(seq 1 40); do yaml_service "many$i" "10.96.1.$i" 80 8080; done
} >"$T_TMP/whole.yaml"
before=$(node)
sl apply -f "$T_TMP/whole.yaml" >"$T_TMP/w.out" 2>&1 || fail sockops-auto/whole-detaches "apply: $(cat "$T_TMP/w.out")"
check_eq sockops-auto/whole-detaches \
	"$before/$(node)/$(grep -c 'whole compile' "$T_TMP/w.out")/$(sl get services -o json | jq '[.services[] | select(.handoff)] | length')" \
	"$ATTACHED/$DETACHED/1/0" "node before / after / a whole compile / services handed off ($(head -c 300 "$T_TMP/w.out"))"

# --- reloads decide from the live policy ----------------------------------------
sl apply -f "$T_TMP/vs.yaml" >/dev/null 2>&1
sl load --cgroup "$CG" --proxy $PROXY >"$T_TMP/l1.out" 2>&1 || fail sockops-auto/reload-decides "reload: $(cat "$T_TMP/l1.out")"
s1=$(node)
sl delete -f "$T_TMP/vs.yaml" >/dev/null 2>&1
sl apply -f "$T_TMP/vs.yaml" >/dev/null 2>&1
check_eq sockops-auto/reload-decides "$s1/$(node)" "$ATTACHED/$ATTACHED" \
	"after a reload with a hand-off live / after removing and adding it again"

# A link lost while the policy hands off is a problem; a load mends it.
rm -f "$PIN/links/sl_sockops"
lost=$(sl status -o json | jq -r '"\(.complete)/\([.problems[] | select(test("sl_sockops.*hands off"))] | length)"')
sl load --cgroup "$CG" --proxy $PROXY >"$T_TMP/l4.out" 2>&1 || fail sockops-auto/lost-link "reload: $(cat "$T_TMP/l4.out")"
check_eq sockops-auto/lost-link "$lost/$(node)" "false/1/$ATTACHED" \
	"status with the pin removed: complete / problems naming sl_sockops; node after a load"

sl load --cgroup "$CG" --proxy none >"$T_TMP/l2.out" 2>&1 || fail sockops-auto/proxy-none "reload: $(cat "$T_TMP/l2.out")"
client -j -n 1 -e ECONNREFUSED $WEB:80 >"$T_TMP/r3.json" 2>"$T_TMP/r3.err"
check_eq sockops-auto/proxy-none "$(node)/$(jq -r .ok "$T_TMP/r3.json")" "$DETACHED/1" \
	"node with --proxy none and a hand-off policy / connect refused (nothing to hand off to)"

sl load --cgroup "$CG" --proxy $PROXY --sockops on >"$T_TMP/l3.out" 2>&1 || fail sockops-auto/on-stays "reload: $(cat "$T_TMP/l3.out")"
sl delete -f "$T_TMP/vs.yaml" >"$T_TMP/d2.out" 2>&1
check_eq sockops-auto/on-stays "$(node)/$(grep -c 'sockops' "$T_TMP/d2.out")" "on:true/1/true/1/0" \
	"node after the last hand-off went under --sockops on / apply mentions sockops"

# Back to the default with nothing to hand off: the load detaches it.
sl load --cgroup "$CG" --proxy $PROXY >"$T_TMP/l5.out" 2>&1 || fail sockops-auto/reload-detaches "reload: $(cat "$T_TMP/l5.out")"
check_eq sockops-auto/reload-detaches "$(node)" "$DETACHED" "node after a reload with the default and an L4 policy"
t_done
