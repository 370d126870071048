#!/usr/bin/env bash
# Hostile names (issue 8, cases 2 and 6). A directory holding a file whose
# name has an invalid UTF-8 byte, a NEL, a line separator, an ESC sequence
# and a newline is applied; the stored policy must read back, so get,
# another apply, a second load, status and delete all keep working, and the
# warning that names the file prints it escaped. metadata.name with an ESC
# and a newline, or "../../etc/passwd", is rejected with FILE:LINE:COL.
# Input text that does get in (a JWT issuer) reaches `get policies` escaped,
# and its JSON is valid.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init storenames
CASES=(apply warning-escaped get get-json apply-again load-again status delete
	name-escape-rejected name-path-rejected table-escaped json-escaped)
require_kernel "${CASES[@]/#/storenames/}"
t_world

export LC_ALL=C
dir=$T_TMP/policy
mkdir "$dir"
hostile=$'bad\xff\xc2\x85\xe2\x80\xa8\x1b[31m\nname.yaml'
escaped='bad\xff\u0085\u2028\x1b[31m\nname.yaml'
{
	yaml_service web 10.96.0.10 80 8080
	yaml_pod web-a web 127.0.1.1
	# circuitBreaker: a warning, so a diagnostic names the file.
	yaml_dr web ROUND_ROBIN $'    circuitBreaker:\n      consecutiveErrors: 3'
} >"$dir/$hostile"

# raw FILE: FILE holds an ESC, an invalid UTF-8 byte or a C1 control.
raw() { grep -q $'\x1b\|\xff\|\xc2\x85' "$1"; }

sl apply -f "$dir" >"$T_TMP/apply.out" 2>"$T_TMP/apply.err"
check_eq storenames/apply "$?" 0 "exit status ($(head -c 300 "$T_TMP/apply.err" | od -c | head -3))"
if raw "$T_TMP/apply.err"; then
	fail storenames/warning-escaped "raw control bytes on stderr: $(od -c "$T_TMP/apply.err" | head -5)"
elif ! grep -qF "$dir/$escaped:" "$T_TMP/apply.err" ||
	! grep -q ": warning: spec.trafficPolicy.circuitBreaker:" "$T_TMP/apply.err"; then
	fail storenames/warning-escaped "no warning naming '$dir/$escaped': $(head -c 400 "$T_TMP/apply.err")"
else
	ok storenames/warning-escaped
fi

sl get services >"$T_TMP/get.out" 2>"$T_TMP/get.err"
if [ $? = 0 ] && grep -q "^sl-test/web " "$T_TMP/get.out"; then ok storenames/get
else fail storenames/get "get services: $(head -c 300 "$T_TMP/get.err") $(head -c 300 "$T_TMP/get.out")"; fi
check_eq storenames/get-json "$(sl get services -o json 2>&1 | jq -r '.services[0].name' 2>&1)" web

yaml_pod web-b web 127.0.1.2 >"$T_TMP/more.yaml"
sl apply -f "$T_TMP/more.yaml" >/dev/null 2>"$T_TMP/apply2.err"
check_eq storenames/apply-again "$?" 0 "exit status ($(head -c 300 "$T_TMP/apply2.err"))"
"$SLUICE" load --pin-root "$PIN" --cgroup "$CG" >"$T_TMP/load2.out" 2>&1
check_eq storenames/load-again "$?" 0 "second load ($(tail -n 3 "$T_TMP/load2.out"))"
sl status >"$T_TMP/status.out" 2>&1
check_eq storenames/status "$?" 0 "status ($(tail -n 3 "$T_TMP/status.out"))"

sl delete -f "$dir/$hostile" >/dev/null 2>"$T_TMP/delete.err"
rc=$?
n=$(sl get services -o json | jq '.services | length')
if [ $rc = 0 ] && [ "$n" = 0 ]; then ok storenames/delete
else fail storenames/delete "exit $rc, $n services left: $(head -c 300 "$T_TMP/delete.err")"; fi

# rejected NAME FILE REGEX: apply FILE exits 1 with a line "FILE:L:C: error:
# REGEX" on stderr, and nothing raw.
rejected() {
	local name=$1 f=$2 re=$3 rc
	sl apply -f "$f" >/dev/null 2>"$T_TMP/$name.err"
	rc=$?
	if [ $rc != 1 ]; then
		fail "storenames/$name" "exit $rc, want 1"
	elif raw "$T_TMP/$name.err"; then
		fail "storenames/$name" "raw control bytes on stderr: $(od -c "$T_TMP/$name.err" | head -5)"
	elif ! grep -Eq "^$f:[0-9]+:[0-9]+: error: $re" "$T_TMP/$name.err"; then
		fail "storenames/$name" "no 'FILE:L:C: error: $re' in: $(head -c 400 "$T_TMP/$name.err")"
	else
		ok "storenames/$name"
	fi
}
sed 's/^  name: web$/  name: "w\\e[31m\\nx"/' <(yaml_service web 10.96.0.10 80 8080) >"$T_TMP/esc.yaml"
rejected name-escape-rejected "$T_TMP/esc.yaml" \
	'metadata\.name: invalid Service name "w\\x1b\[31m\\nx": must be an RFC 1035 label'
sed 's|^  name: web-a$|  name: ../../etc/passwd|' <(yaml_pod web-a web 127.0.1.1) >"$T_TMP/path.yaml"
rejected name-path-rejected "$T_TMP/path.yaml" \
	'metadata\.name: invalid Pod name "\.\./\.\./etc/passwd": must be an RFC 1123 subdomain'

# A JWT issuer is free text: it shows in `get policies`, escaped.
cat >"$T_TMP/ra.yaml" <<'EOF'
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: jwt
  namespace: sl-test
spec:
  jwtRules:
  - issuer: "https://x\e[2J\nFAKE\N"
    jwksUri: https://x.example/jwks
EOF
apply_or_die storenames/table-escaped "$T_TMP/ra.yaml"
sl get policies >"$T_TMP/pol.out" 2>&1
if raw "$T_TMP/pol.out" || [ "$(wc -l <"$T_TMP/pol.out")" != 2 ]; then
	fail storenames/table-escaped "raw bytes or a broken line: $(od -c "$T_TMP/pol.out" | head -8)"
elif ! grep -qF 'issuer https://x\x1b[2J\nFAKE\u0085' "$T_TMP/pol.out"; then
	fail storenames/table-escaped "issuer not shown escaped: $(cat "$T_TMP/pol.out")"
else
	ok storenames/table-escaped
fi
got=$(sl get policies -o json | jq -r '.policies[0].summary' | od -An -c | tr -s ' ')
check_eq storenames/json-escaped "$got" "$(printf 'issuer https://x\033[2J\nFAKE\302\205\n' | od -An -c | tr -s ' ')" "decoded summary"
t_done
