#!/usr/bin/env bash
# The agent's HTTP endpoint (tools/sluiced/http.c) against hostile clients,
# with real sockets in the test netns:
#   - /metrics, /healthz, /readyz answer 200; any other path 404 (/metricsXYZ
#     too); methods other than GET and HEAD 405 with Allow; HEAD has no body;
#     promtool accepts the metrics, which carry the agent's own families;
#   - with 1,000 idle connections, a slowloris and a client that pipelines
#     64 scrapes and never reads, all open at once: scrapes answer within
#     100 ms (median of 5) and a config change is in the data plane within
#     0.5 s of the file's rename (the agent's own apply timestamp); then the
#     agent closes the idle and never-reading connections after its idle
#     timeout (--http-timeout 6);
#   - with a 450-service policy (4.8 MB of metrics, more than the kernel
#     buffers), one client asks for /metrics and never reads: the answer
#     sits in the agent's send queue, yet a config change waits for nothing
#     but the debounce (the time from the rename to the applied generation,
#     less the apply's own duration, is under 0.3 s; compiling 450 services
#     is the rest), probes answer within 100 ms, and the connection is
#     dropped after the timeout.
# Figures are printed on "# " lines. SLUICED=path runs another agent binary
# (the one before this change fails every abuse case).
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init agenthttp
CASES=(agent_http/starts agent_http/paths agent_http/methods agent_http/head agent_http/promtool
	agent_http/agent-metrics agent_http/abuse-open agent_http/abuse-scrape agent_http/abuse-change
	agent_http/abuse-timeouts agent_http/noread-stuck agent_http/noread-change
	agent_http/noread-probes agent_http/noread-dropped)
require_kernel "${CASES[@]}"
SLUICED=${SLUICED:-$BUILD/sluiced}
for tool in curl promtool ss; do
	command -v $tool >/dev/null || { fail agent_http/starts "$tool not installed (tools/install-deps.sh)"; exit 1; }
done
[ -x "$TOOLS/sl-http-abuse" ] && [ -x "$BUILD/bench/sl-bench-gen" ] ||
	{ fail agent_http/starts "sl-http-abuse or sl-bench-gen not built (run make)"; exit 1; }
t_netns || { fail agent_http/starts "cannot create netns"; exit 1; }
t_cgroup || { fail agent_http/starts "cannot create cgroup"; exit 1; }

VIP=10.100.0.10 CONF=$T_TMP/conf PORT=15090 TIMEOUT_S=6
URL=http://127.0.0.1:$PORT
mkdir "$CONF"
web_yaml() { # POD-IP...: the web service with one pod per address
	local i=0 ip
	yaml_service web $VIP 80 8080
	for ip in "$@"; do yaml_pod "web-$((i++))" web "$ip"; done
}
web_yaml 127.0.1.1 >"$CONF/web.yaml"
"${IN_NS[@]}" "$SLUICED" --pin-root "$PIN" --cgroup "$CG" --config-dir "$CONF" \
	--metrics 127.0.0.1:$PORT --http-timeout $TIMEOUT_S >"$T_TMP/agent.log" 2>&1 &
AGENT=$!
T_PIDS+=("$AGENT")

# http PATH [CURL ARGS]: "CODE SECONDS" of one request; the body in $T_TMP/body.
http() {
	in_ns curl -s -o "$T_TMP/body" -w '%{http_code} %{time_total}' --max-time 5 "${@:2}" "$URL$1"
}
code() { http "$@" | cut -d' ' -f1; }
# metric SERIES: its value in one scrape ("" when absent or no answer).
metric() {
	in_ns curl -s --max-time 5 "$URL/metrics" | awk -v n="$1" '$1 == n {print $2; exit}'
}
# srv_conns: connections the agent holds open (server side, established).
srv_conns() { in_ns ss -Htn state established "( sport = :$PORT )" | wc -l; }
conns_at_most() { [ "$(srv_conns)" -le "$1" ]; }
agent_log() { tail -n 4 "$T_TMP/agent.log" | tr '\n' ' '; }
until_ok() { # SECONDS CMD...: poll CMD every 50 ms for SECONDS (a deadline:
	local end=$((SECONDS + $1)) # a CMD that hangs until curl's timeout counts)
	shift
	while ! "$@"; do ((SECONDS < end)) || return 1; sleep 0.05; done
}
gen_above() { local g; g=$(metric sluice_agent_policy_generation); [ -n "$g" ] && [ "$g" -gt "$1" ]; }
serving() { [ "$(sl get services -o json 2>/dev/null | jq -r '.services | length')" = 1 ] && [ "$(code /metrics)" = 200 ]; }

if until_ok 20 serving; then ok agent_http/starts
else fail agent_http/starts "/metrics $(code /metrics), log: $(agent_log)"; exit 1; fi

# --- paths, methods, format ------------------------------------------------
got=""
for p in /metrics /healthz /readyz /metricsXYZ /metrics/ / /healthzX /readyz/x; do got+="$p=$(code $p) "; done
check_eq agent_http/paths "$got" \
	"/metrics=200 /healthz=200 /readyz=200 /metricsXYZ=404 /metrics/=404 /=404 /healthzX=404 /readyz/x=404 "

got=""
for m in POST PUT DELETE OPTIONS; do
	got+="$m=$(in_ns curl -s -o /dev/null -D - -X $m --max-time 5 "$URL/metrics" |
		awk 'NR == 1 {c = $2} tolower($1) == "allow:" {a = $2 $3} END {printf "%s:%s", c, a}' | tr -d '\r') "
done
check_eq agent_http/methods "$got" "POST=405:GET,HEAD PUT=405:GET,HEAD DELETE=405:GET,HEAD OPTIONS=405:GET,HEAD "

head=$(in_ns curl -s -I --max-time 5 "$URL/metrics" | tr -d '\r')
body=$(in_ns curl -s --max-time 5 -X HEAD "$URL/metrics" 2>/dev/null | wc -c)
if grep -q '^HTTP/1.1 200' <<<"$head" && grep -qi '^content-length: [1-9]' <<<"$head" &&
	grep -qi '^content-type: text/plain; version=0.0.4' <<<"$head" && [ "$body" = 0 ]; then
	ok agent_http/head
else fail agent_http/head "headers '$head', body bytes $body"; fi

in_ns curl -s --max-time 5 "$URL/metrics" >"$T_TMP/metrics.txt"
if promtool check metrics <"$T_TMP/metrics.txt" >"$T_TMP/promtool.out" 2>&1; then ok agent_http/promtool
else fail agent_http/promtool "$(head -c 400 "$T_TMP/promtool.out")"; fi

live=$(sl get services -o json | jq -r .generation)
got=$(awk '/^sluice_agent_(policy_generation|policy_rejected|applies_total|apply_rejections_total|dataplane_metrics_up)/ {printf "%s=%s ", $1, $2}' "$T_TMP/metrics.txt")
want="sluice_agent_policy_generation=$live sluice_agent_policy_rejected=0 sluice_agent_applies_total=1 "
want+='sluice_agent_apply_rejections_total{reason="read"}=0 sluice_agent_apply_rejections_total{reason="invalid"}=0 '
want+='sluice_agent_apply_rejections_total{reason="capacity"}=0 sluice_agent_apply_rejections_total{reason="system"}=0 '
want+="sluice_agent_dataplane_metrics_up=1 "
ts=$(awk '$1 == "sluice_agent_last_apply_success_timestamp_seconds" {print $2}' "$T_TMP/metrics.txt")
now=$(date +%s.%N)
if [ "$got" = "$want" ] && awk -v t="$ts" -v n="$now" 'BEGIN { exit !(t > n - 60 && t <= n) }'; then
	ok agent_http/agent-metrics
else fail agent_http/agent-metrics "got '$got' last-success '$ts' (now $now), want '$want'"; fi

# --- 1,000 idle + slowloris + never-reader, all at once ------------------
# start_abuse TAG ARGS...: sl-http-abuse in the netns until stop_proc TAG.
start_abuse() {
	local tag=$1
	shift
	"${IN_NS[@]}" "$TOOLS/sl-http-abuse" -r "$T_TMP/$tag.ready" "$@" 127.0.0.1:$PORT \
		>"$T_TMP/$tag.json" 2>"$T_TMP/$tag.err" &
	T_PIDS+=("$!")
	eval "PID_$tag=$!"
	wait_file "$T_TMP/$tag.ready" 30
}
# change_latency POD-IP...: rewrite web.yaml (rename, as editors and
# ConfigMaps do); "SECONDS APPLY" from the rename to the end of the agent's
# apply, and the apply's own duration.
change_latency() {
	local g t0
	g=$(metric sluice_agent_policy_generation)
	web_yaml "$@" >"$T_TMP/new.yaml"
	t0=$(date +%s.%N)
	mv "$T_TMP/new.yaml" "$CONF/web.yaml"
	until_ok 10 gen_above "${g:-0}" || { echo "99 0"; return; }
	in_ns curl -s --max-time 5 "$URL/metrics" | awk -v t0="$t0" '
		$1 == "sluice_agent_last_apply_success_timestamp_seconds" {ts = $2}
		$1 == "sluice_agent_last_apply_duration_seconds" {d = $2}
		END {printf "%.3f %.3f", ts - t0, d}'
}
eps() { sl get endpoints -o json | jq -r '[.endpoints[].address] | sort | join(",")'; }

start_abuse abuse -i 1000 -s 1 -n 1 -P 64 -w 5000
opened=$(jq -c '[.idle.connected, .slow.connected, .noread.connected]' "$T_TMP/abuse.ready" 2>/dev/null)
sleep 0.5 # the agent accepts them and reads the pipelined requests
held=$(srv_conns)
check_eq agent_http/abuse-open "$opened/$((held >= 1002))" "[1000,1,1]/1" "connected [idle,slow,noread]/agent holds >= 1002 ($held)"

times=()
for _ in 1 2 3 4 5; do times+=("$(http /metrics)"); done
median=$(printf '%s\n' "${times[@]}" | awk '{print $2}' | sort -n | sed -n 3p)
codes=$(printf '%s\n' "${times[@]}" | awk '{printf "%s", $1 == 200 ? "" : $1 " "}')
echo "# scrapes under abuse (code seconds): ${times[*]}"
if [ -z "$codes" ] && awk -v m="$median" 'BEGIN { exit !(m < 0.1) }'; then ok agent_http/abuse-scrape
else fail agent_http/abuse-scrape "median ${median}s (want < 0.1 s), answers: ${times[*]}"; fi

lat=$(change_latency 127.0.1.2)
held2=$(srv_conns)
echo "# config change under abuse (seconds, apply's own): $lat; agent held $held then $held2 connections"
lat=${lat% *}
if awk -v l="$lat" 'BEGIN { exit !(l >= 0 && l < 0.5) }' && [ "$(eps)" = 127.0.1.2:8080 ] &&
	[ "$held2" -ge 1002 ]; then
	ok agent_http/abuse-change
else fail agent_http/abuse-change "applied after ${lat}s (want < 0.5 s), endpoints $(eps), agent held $held2 connections"; fi

# The idle and never-reading connections go after the idle timeout; the
# slowloris sends a byte a second, so it stays (one slot of --http-max-conns).
if until_ok $((TIMEOUT_S + 10)) conns_at_most 1; then
	stop_proc abuse
	if [ "$(jq -c '[.idle.closed, .slow.closed]' "$T_TMP/abuse.json")" = "[1000,0]" ]; then
		ok agent_http/abuse-timeouts
	else fail agent_http/abuse-timeouts "client saw $(cat "$T_TMP/abuse.json")"; fi
else
	fail agent_http/abuse-timeouts "agent still holds $(srv_conns) connections $((TIMEOUT_S + 10)) s later"
	stop_proc abuse
fi

# --- a never-reading client of a large answer ----------------------------
"$BUILD/bench/sl-bench-gen" yaml 450 >"$T_TMP/big.yaml"
g=$(metric sluice_agent_policy_generation)
mv "$T_TMP/big.yaml" "$CONF/big.yaml"
until_ok 20 gen_above "${g:-0}" || { fail agent_http/noread-stuck "450 services not applied: $(agent_log)"; exit 1; }
size=$(in_ns curl -s --max-time 10 "$URL/metrics" | wc -c)
start_abuse big -n 1 -P 1
# Stuck: the agent has an answer it cannot send (Send-Q of its socket).
sendq() { in_ns ss -Htn state established "( sport = :$PORT )" | awk '{s += $2} END {print s + 0}'; }
sendq_pos() { [ "$(sendq)" -gt 0 ]; }
until_ok 5 sendq_pos
q=$(sendq)
echo "# metrics of 450 services: $size bytes; left in the agent's send queue: $q"
if [ "$q" -gt 0 ]; then ok agent_http/noread-stuck; else fail agent_http/noread-stuck "send queue $q, answer $size bytes"; fi

lat=$(change_latency 127.0.1.3)
echo "# config change with a never-reader of $size bytes (seconds, apply's own): $lat"
if awk -v l="${lat% *}" -v d="${lat#* }" 'BEGIN { exit !(l >= 0 && l - d < 0.3) }'; then
	ok agent_http/noread-change
else fail agent_http/noread-change "applied after ${lat% *}s of which ${lat#* }s applying (want < 0.3 s of waiting); log: $(agent_log)"; fi

h=$(http /healthz) r=$(http /readyz) m=$(http /metrics)
echo "# with the never-reader: /healthz $h, /readyz $r, /metrics $m"
if [ "${h% *}" = 200 ] && [ "${r% *}" = 200 ] && [ "${m% *}" = 200 ] &&
	awk -v a="${h#* }" -v b="${r#* }" 'BEGIN { exit !(a < 0.1 && b < 0.1) }'; then
	ok agent_http/noread-probes
else fail agent_http/noread-probes "/healthz $h, /readyz $r, /metrics $m (want 200s, probes < 0.1 s)"; fi

if until_ok $((TIMEOUT_S + 10)) conns_at_most 0; then ok agent_http/noread-dropped
else fail agent_http/noread-dropped "agent still holds $(srv_conns) connections (send queue $(sendq))"; fi
stop_proc big
t_done
