#!/usr/bin/env bash
# The data plane outlives the process that loaded it: `sluice load` runs
# under a wrapper shell that is SIGKILLed (and the CLI itself has exited by
# then). The programs stay attached through links pinned under the pin
# root; connections established before the kill keep moving bytes after it,
# and new connections are still balanced across both endpoints.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init survive
require_kernel survive/loader-gone survive/links-pinned survive/attached \
	survive/established-keep-working survive/new-balanced
t_netns || { fail survive/loader-gone "cannot create netns"; exit 1; }
t_cgroup || { fail survive/loader-gone "cannot create cgroup"; exit 1; }

setsid sh -c '"$0" load --pin-root "$1" --cgroup "$2" >"$3/load.out" 2>&1; echo $? >"$3/load.rc"; exec sleep 600' \
	"$SLUICE" "$PIN" "$CG" "$T_TMP" &
wrapper=$!
T_PIDS+=("$wrapper")
wait_file "$T_TMP/load.rc" 30
if [ "$(cat "$T_TMP/load.rc" 2>/dev/null)" != 0 ]; then
	fail survive/loader-gone "sluice load failed: $(cat "$T_TMP/load.out")"
	exit 1
fi

{
	yaml_service web 10.96.0.10 80 8080
	yaml_pod web-a web 127.0.1.1
	yaml_pod web-b web 127.0.1.2
	yaml_dr web ROUND_ROBIN ""
} >"$T_TMP/policy.yaml"
start_server eps -e 127.0.1.1:8080=A 127.0.1.2:8080=B
apply_or_die survive/loader-gone "$T_TMP/policy.yaml"

# Four connections, established now, exchange their bytes 3 s from now.
"${IN_CG[@]}" "$TOOLS/sl-client" -j -n 4 -d 3000 -b 50000 -w 10000 10.96.0.10:80 \
	>"$T_TMP/est.json" 2>"$T_TMP/est.err" &
est=$!
sleep 0.5

kill -KILL "$wrapper"
wait "$wrapper" 2>/dev/null
if kill -0 "$wrapper" 2>/dev/null || pgrep -f "load --pin-root $PIN" >/dev/null; then
	fail survive/loader-gone "loader or its wrapper still running"
else
	ok survive/loader-gone
fi

links=$(bpftool -f link show 2>/dev/null | grep -c "pinned $PIN/")
if [ "$links" -ge 1 ]; then ok survive/links-pinned
else fail survive/links-pinned "no bpftool link shows a pin under $PIN: $(find "$PIN" -maxdepth 2 | head -20 | tr '\n' ' ')"; fi
# sockops too, unless the mode leaves it out for a policy that hands
# nothing off (the default where close() can count).
progs=$(bpftool cgroup show "$CG" 2>/dev/null)
want_so=1
sockops_off && want_so=0
if grep -Eq "connect4|inet4_connect" <<<"$progs" && [ "$(grep -c sock_ops <<<"$progs")" = $want_so ]; then
	ok survive/attached
else
	fail survive/attached "want $want_so sock_ops: bpftool cgroup show $CG: $(tr '\n' ' ' <<<"$progs")"
fi

wait "$est"
check_eq survive/established-keep-working \
	"$(jq -r '"\(.ok)/\(.failed)/\(.bytes_sent)/\(.bytes_received)"' "$T_TMP/est.json")" \
	"4/0/200000/200008" "ok/failed/sent/received after the kill ($(head -c 200 "$T_TMP/est.err"))"

client -j -n 200 10.96.0.10:80 >"$T_TMP/new.json" 2>"$T_TMP/new.err"
a=$(count A "$T_TMP/new.json") b=$(count B "$T_TMP/new.json")
if [ "$(jq -r .failed "$T_TMP/new.json")" = 0 ] && [ "$a" -ge 60 ] && [ "$b" -ge 60 ]; then
	ok survive/new-balanced
else
	fail survive/new-balanced "A=$a B=$b failed=$(jq -r .failed "$T_TMP/new.json") ($(head -c 200 "$T_TMP/new.err"))"
fi
t_done
