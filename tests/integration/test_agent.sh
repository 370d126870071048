#!/usr/bin/env bash
# The node agent, with a real Prometheus server scraping it. sluiced loads
# the data plane, makes the applied policy equal to its config directory
# (again when a file changes; a bad file leaves the last good policy), and
# serves /metrics, which Prometheus scrapes and answers queries from. Killed
# with SIGKILL, it leaves traffic flowing.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init agent
require_kernel agent/loads-and-applies agent/prometheus-scrape agent/follows-directory \
	agent/bad-file-keeps-policy agent/killed-traffic-flows
for tool in prometheus promtool; do
	command -v $tool >/dev/null || { fail agent/loads-and-applies "$tool not installed (tools/install-deps.sh)"; exit 1; }
done
t_netns || { fail agent/loads-and-applies "cannot create netns"; exit 1; }
t_cgroup || { fail agent/loads-and-applies "cannot create cgroup"; exit 1; }

VIP=10.96.0.10 CONF=$T_TMP/conf
mkdir "$CONF"
{
	yaml_service web $VIP 80 8080
	yaml_pod web-a web 127.0.1.1
	yaml_pod web-b web 127.0.1.2
} >"$CONF/web.yaml"
start_server eps 127.0.1.1:8080=A 127.0.1.2:8080=B

# The agent listens inside the test netns, where Prometheus scrapes it.
"${IN_NS[@]}" "$BUILD/sluiced" --pin-root "$PIN" --cgroup "$CG" --config-dir "$CONF" \
	--metrics 127.0.0.1:15090 >"$T_TMP/agent.log" 2>&1 &
AGENT=$!
T_PIDS+=("$AGENT")
gen_of() { sl get services -o json 2>/dev/null | jq -r '.generation // 0'; }
eps_of() { sl get endpoints -o json 2>/dev/null | jq -r '[.endpoints[].address] | sort | join(",")'; }
wait_for() { # CMD WANT: poll up to 10 s
	for _ in $(seq 100); do [ "$($1)" = "$2" ] && return 0; sleep 0.1; done
	return 1
}
if wait_for eps_of "127.0.1.1:8080,127.0.1.2:8080"; then ok agent/loads-and-applies
else fail agent/loads-and-applies "endpoints '$(eps_of)' ($(tail -n 5 "$T_TMP/agent.log" | tr '\n' ' '))"; fi

client -j -n 40 $VIP:80 >"$T_TMP/c.json" 2>"$T_TMP/c.err"

cat >"$T_TMP/prom.yml" <<YML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: sluice
  static_configs: [{targets: ['127.0.0.1:15090']}]
YML
"${IN_NS[@]}" prometheus --config.file="$T_TMP/prom.yml" --storage.tsdb.path="$T_TMP/tsdb" \
	--web.listen-address=127.0.0.1:19090 >"$T_TMP/prom.log" 2>&1 &
T_PIDS+=("$!")
q='sum(istio_tcp_connections_opened_total{destination_service_name="web"})'
got=""
for _ in $(seq 60); do
	got=$("${IN_NS[@]}" promtool query instant http://127.0.0.1:19090 "$q" 2>/dev/null | sed -n 's/.*=> \([0-9.e+]*\) @.*/\1/p')
	[ "$got" = 40 ] && break
	sleep 0.5
done
check_eq agent/prometheus-scrape "$got" 40 \
	"Prometheus query $q ($(grep -m1 -i error "$T_TMP/prom.log"))"

# Remove web-b from the directory: the agent follows.
{ yaml_service web $VIP 80 8080; yaml_pod web-a web 127.0.1.1; } >"$T_TMP/new.yaml"
mv "$T_TMP/new.yaml" "$CONF/web.yaml"
if wait_for eps_of "127.0.1.1:8080"; then ok agent/follows-directory
else fail agent/follows-directory "endpoints '$(eps_of)'"; fi

g=$(gen_of)
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {ports: [{port: 0}]}\n' >"$CONF/zz-bad.yaml"
sleep 1.5
if [ "$(gen_of)" = "$g" ] && [ "$(eps_of)" = "127.0.1.1:8080" ] &&
	grep -q "zz-bad.yaml:4:.*error" "$T_TMP/agent.log"; then
	ok agent/bad-file-keeps-policy
else
	fail agent/bad-file-keeps-policy "generation $g -> $(gen_of), endpoints $(eps_of), log: $(tail -n 3 "$T_TMP/agent.log" | tr '\n' ' ')"
fi

kill -KILL "$AGENT"
wait "$AGENT" 2>/dev/null
client -j -n 20 $VIP:80 >"$T_TMP/after.json" 2>"$T_TMP/after.err"
check_eq agent/killed-traffic-flows "$(jq -r '"\(.ok)/\(.identities.A)"' "$T_TMP/after.json")" 20/20 \
	"ok/to A after SIGKILL ($(head -c 200 "$T_TMP/after.err"))"
t_done
