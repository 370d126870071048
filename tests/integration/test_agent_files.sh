#!/usr/bin/env bash
# The agent's config directory and its state (tools/sluiced/confdir.c,
# sync.c, routes.c). sluiced runs without CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH (setpriv), so file modes bind it as they would bind
# an unprivileged reader.
#   - an entry that cannot be read rejects the whole directory, like a file
#     that does not parse: a symlink whose target is gone, a directory named
#     x.yaml, a file it may not read (mode 000), a FIFO named x.yaml (which
#     must not hang it). Each time the last good policy stays (the services
#     of the unreadable file too, generation unchanged), the agent's gauge
#     sluice_agent_policy_rejected is 1, rejections{reason="read"} counts
#     it, the log names the entry, /readyz answers 503 naming the rejection;
#     once the entry is fixed, all of it returns to normal;
#   - SIGHUP re-reads the directory (here a change inotify cannot see: the
#     target of a symlink outside it) and the agent lives on;
#   - /healthz fails while a map pin is missing (renamed away) and recovers;
#     /readyz fails when another writer moved the generation (SIGHUP brings
#     it back) and when a program link is detached, while /healthz stays ok;
#   - every log line starts with an RFC 3339 UTC time and a level;
#   - SIGTERM: the agent exits 0 and the data plane stays loaded.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init agentfiles
CASES=(agent_files/starts agent_files/dangling-symlink agent_files/dangling-fixed agent_files/directory
	agent_files/directory-fixed agent_files/unreadable agent_files/unreadable-fixed agent_files/fifo
	agent_files/fifo-fixed agent_files/sighup agent_files/healthz-pins agent_files/readyz-other-writer
	agent_files/readyz-detached agent_files/log-format agent_files/sigterm)
require_kernel "${CASES[@]}"
SLUICED=${SLUICED:-$BUILD/sluiced}
for tool in curl setpriv bpftool; do
	command -v $tool >/dev/null || { fail agent_files/starts "$tool not installed (tools/install-deps.sh)"; exit 1; }
done
t_netns || { fail agent_files/starts "cannot create netns"; exit 1; }
t_cgroup || { fail agent_files/starts "cannot create cgroup"; exit 1; }

CONF=$T_TMP/conf EXT=$T_TMP/ext PORT=15090
URL=http://127.0.0.1:$PORT
mkdir "$CONF" "$EXT"
# web.yaml is a symlink into EXT (as ConfigMap volumes are): changing its
# target is invisible to inotify on CONF.
{ yaml_service web 10.100.0.10 80 8080; yaml_pod web-a web 127.0.1.1; } >"$EXT/web.yaml"
ln -s "$EXT/web.yaml" "$CONF/web.yaml"
{ yaml_service db 10.100.0.20 5432 5432; yaml_pod db-a db 127.0.2.1; } >"$EXT/db.yaml"

"${IN_NS[@]}" setpriv --bounding-set -dac_override,-dac_read_search \
	"$SLUICED" --pin-root "$PIN" --cgroup "$CG" --config-dir "$CONF" \
	--metrics 127.0.0.1:$PORT >"$T_TMP/agent.log" 2>&1 &
AGENT=$!
T_PIDS+=("$AGENT")

code() { in_ns curl -s -o "$T_TMP/body" -w '%{http_code}' --max-time 5 "$URL$1"; }
probe() { echo "$(code "$1") $(head -c 300 "$T_TMP/body")"; } # "CODE BODY"
metric() { in_ns curl -s --max-time 5 "$URL/metrics" | awk -v n="$1" '$1 == n {print $2; exit}'; }
READS='sluice_agent_apply_rejections_total{reason="read"}'
gen() { sl get services -o json 2>/dev/null | jq -r '.generation // 0'; }
svcs() { sl get services -o json 2>/dev/null | jq -r '[.services[].name] | unique | sort | join(",")'; }
eps() { sl get endpoints -o json 2>/dev/null | jq -r '[.endpoints[].address] | sort | join(",")'; }
agent_log() { tail -n 3 "$T_TMP/agent.log" | tr '\n' ' '; }
until_ok() { # SECONDS CMD...: poll CMD every 50 ms for SECONDS (a deadline:
	local end=$((SECONDS + $1)) # a CMD that hangs until curl's timeout counts)
	shift
	while ! "$@"; do ((SECONDS < end)) || return 1; sleep 0.05; done
}
metric_is() { [ "$(metric "$1")" = "$2" ]; }
ready() { [ "$(code /readyz)" = 200 ]; }
state() { echo "gen=$(gen) svcs=$(svcs) eps=$(eps) rejected=$(metric sluice_agent_policy_rejected) reads=$(metric "$READS")"; }

web_live() { [ "$(svcs)" = web ]; }
if until_ok 20 web_live; then ok agent_files/starts
else fail agent_files/starts "$(state), log: $(agent_log)"; exit 1; fi

# The db service comes from a second entry; it is live before each case
# breaks that entry.
add_db() { # CASE link|file
	if [ "$2" = link ]; then ln -sfn "$EXT/db.yaml" "$CONF/zz-db.yaml"
	else cp "$EXT/db.yaml" "$CONF/zz-db.tmp" && mv "$CONF/zz-db.tmp" "$CONF/zz-db.yaml"; fi
	until_ok 10 db_live || fail "agent_files/$1" "db not applied first: $(state), log: $(agent_log)"
}
db_live() { [ "$(svcs)" = db,web ] && [ "$(metric sluice_agent_policy_rejected)" = 0 ] && ready; }
reads_above() { local r; r=$(metric "$READS"); [ -n "$r" ] && [ "$r" -gt "$1" ]; }

# rejected_case NAME ENTRY WHY-REGEX BREAK-CMD...: BREAK-CMD makes ENTRY
# unreadable; the last good policy must stay and the rejection show.
rejected_case() {
	local name=$1 entry=$2 why=$3 g0 r0 st rz
	shift 3
	g0=$(gen) r0=$(metric "$READS")
	"$@"
	if ! until_ok 10 reads_above "${r0:-0}"; then
		fail "agent_files/$name" "no read rejection counted: $(state), log: $(agent_log)"
		return
	fi
	st=$(state) rz=$(probe /readyz)
	if [ "$st" = "gen=$g0 svcs=db,web eps=127.0.1.1:8080,127.0.2.1:5432 rejected=1 reads=$((r0 + 1))" ] &&
		[[ $rz == "503 "*"rejected (read)"* ]] &&
		grep -Eq "^[0-9-]{10}T[0-9:.]{12}Z error +$CONF rejected \(read\): $CONF/$entry: $why; the data plane keeps the last good policy" "$T_TMP/agent.log"; then
		ok "agent_files/$name"
	else
		fail "agent_files/$name" "$st (want gen=$g0, db,web kept, rejected=1, reads=$((r0 + 1))), /readyz $rz, log: $(agent_log)"
	fi
}
# fixed_case NAME FIX-CMD...: after FIX-CMD the directory applies again.
fixed_case() {
	local name=$1 g0
	shift
	g0=$(gen)
	"$@"
	if until_ok 10 metric_is sluice_agent_policy_rejected 0 && until_ok 5 ready && [ "$(gen)" -gt "$g0" ]; then
		ok "agent_files/$name"
	else fail "agent_files/$name" "$(state), /readyz $(probe /readyz)"; fi
}

add_db dangling-symlink link
rejected_case dangling-symlink zz-db.yaml "No such file or directory" ln -sfn "$EXT/gone.yaml" "$CONF/zz-db.yaml"
fixed_case dangling-fixed rm "$CONF/zz-db.yaml"

add_db directory file
rejected_case directory zz-dir.yaml "a directory, not a regular file" mkdir "$CONF/zz-dir.yaml"
fixed_case directory-fixed rmdir "$CONF/zz-dir.yaml"

rejected_case unreadable zz-db.yaml "Permission denied" chmod 000 "$CONF/zz-db.yaml"
fixed_case unreadable-fixed chmod 644 "$CONF/zz-db.yaml"

rejected_case fifo zz-fifo.yaml "a FIFO, not a regular file" mkfifo "$CONF/zz-fifo.yaml"
fixed_case fifo-fixed rm "$CONF/zz-fifo.yaml"

# --- SIGHUP -------------------------------------------------------------
g0=$(gen)
{ yaml_service web 10.100.0.10 80 8080; yaml_pod web-b web 127.0.1.2; } >"$EXT/web.tmp"
mv "$EXT/web.tmp" "$EXT/web.yaml"
sleep 1 # inotify on CONF sees nothing: nothing changes
unseen="$(gen) $(eps)"
kill -HUP "$AGENT"
eps_b() { [ "$(eps)" = 127.0.1.2:8080,127.0.2.1:5432 ]; }
if [ "$unseen" = "$g0 127.0.1.1:8080,127.0.2.1:5432" ] && until_ok 5 eps_b && kill -0 "$AGENT" 2>/dev/null &&
	grep -q "info  SIGHUP: reading $CONF again" "$T_TMP/agent.log"; then
	ok agent_files/sighup
else fail agent_files/sighup "before SIGHUP '$unseen' (want '$g0 127.0.1.1:8080,...'), after $(state), alive: $(kill -0 "$AGENT" 2>&1 && echo yes)"; fi

# --- probes -------------------------------------------------------------
mv "$PIN/maps/sl_services" "$PIN/maps/sl_services_away"
h_bad=$(probe /healthz) r_bad=$(probe /readyz)
mv "$PIN/maps/sl_services_away" "$PIN/maps/sl_services"
h_ok=$(probe /healthz)
if [[ $h_bad == "503 maps/sl_services: No such file or directory"* ]] && [[ $r_bad == "503 "* ]] &&
	[ "$h_ok" = "200 ok" ]; then
	ok agent_files/healthz-pins
else fail agent_files/healthz-pins "pin away: /healthz '$h_bad' /readyz '$r_bad'; back: /healthz '$h_ok'"; fi

{ yaml_service other 10.100.0.30 80 8080; } >"$T_TMP/other.yaml"
sl apply -f "$T_TMP/other.yaml" >/dev/null 2>&1
r_other=$(probe /readyz)
kill -HUP "$AGENT"
if [[ $r_other == "503 the data plane runs generation "*"(applied by another writer)"* ]] &&
	until_ok 5 ready && [ "$(svcs)" = db,web ]; then
	ok agent_files/readyz-other-writer
else fail agent_files/readyz-other-writer "after another apply: /readyz '$r_other'; after SIGHUP $(state) /readyz $(probe /readyz)"; fi

bpftool link detach pinned "$PIN/links/sl_connect4" 2>"$T_TMP/detach.err"
r_det=$(probe /readyz) h_det=$(probe /healthz)
if [ "$r_det" = "503 links/sl_connect4: detached" ] && [ "$h_det" = "200 ok" ]; then
	ok agent_files/readyz-detached
else fail agent_files/readyz-detached "/readyz '$r_det', /healthz '$h_det' ($(cat "$T_TMP/detach.err"))"; fi

bad_lines=$(grep -Evc '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z (error|warn |info |debug) ' "$T_TMP/agent.log")
check_eq agent_files/log-format "$bad_lines" 0 "log lines without time and level ($(grep -Ev '^[0-9]{4}-' "$T_TMP/agent.log" | head -n 2 | tr '\n' ' '))"

kill -TERM "$AGENT"
rc=timeout
for _ in $(seq 50); do kill -0 "$AGENT" 2>/dev/null || { wait "$AGENT"; rc=$?; break; }; sleep 0.1; done
if [ "$rc" = 0 ] && [ -e "$PIN/links/sl_connect6" ] && [ "$(svcs)" = db,web ] &&
	grep -q "exiting; the data plane stays loaded" "$T_TMP/agent.log"; then
	ok agent_files/sigterm
else fail agent_files/sigterm "exit status $rc, services $(svcs), log: $(agent_log)"; fi
t_done
