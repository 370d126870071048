#!/usr/bin/env bash
# Every rejected input: `sluice apply` exits 1, stderr carries the error as
# "FILE:LINE:COL: error: PATH: MESSAGE" with the expected field path and
# message, and `get services -o json` / `get endpoints -o json` are
# byte-identical before and after (a rejected policy changes nothing).
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init badinput
CASES=(malformed-yaml unknown-field wrong-type weights-not-100 subset-no-endpoint
	unknown-host unknown-subset port-0 port-70000 too-many-services too-many-endpoints)
require_kernel "${CASES[@]/#/badinput/}"
t_world

{
	yaml_service web 10.96.0.10 80 8080
	yaml_pod web-a web 127.0.1.1 v1
	yaml_pod web-b web 127.0.1.2 v2
	yaml_dr web ROUND_ROBIN "" v1 v2
} >"$T_TMP/base.yaml"
apply_or_die badinput/malformed-yaml "$T_TMP/base.yaml"
snapshot() { sl get services -o json; sl get endpoints -o json; }
vs() { # ROUTE-YAML (the destinations of one http route)
	cat <<Y
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: web
  namespace: sl-test
spec:
  hosts: [web]
  http:
  - route:
$1
Y
}

# bad NAME REGEX: apply $T_TMP/NAME.yaml, expect rejection; REGEX must match
# what follows "FILE:LINE:COL: error: " on one stderr line. The snapshot is
# taken right before, so each case is judged on its own.
bad() {
	local name=$1 re=$2 f=$T_TMP/$1.yaml rc
	snapshot >"$T_TMP/before.json"
	sl apply -f "$f" >"$T_TMP/$name.out" 2>"$T_TMP/$name.err"
	rc=$?
	snapshot >"$T_TMP/after.json"
	if [ $rc != 1 ]; then
		fail "badinput/$name" "exit $rc, want 1: $(head -c 300 "$T_TMP/$name.err")"
	elif ! grep -Eiq "^$f:[0-9]+:[0-9]+: error: $re" "$T_TMP/$name.err"; then
		fail "badinput/$name" "no line 'FILE:L:C: error: $re' in: $(head -c 400 "$T_TMP/$name.err")"
	elif ! cmp -s "$T_TMP/before.json" "$T_TMP/after.json"; then
		fail "badinput/$name" "get services/endpoints changed: $(diff "$T_TMP/before.json" "$T_TMP/after.json" | head -c 300)"
	else
		ok "badinput/$name"
	fi
}

printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  namespace: sl-test\nspec:\n  ports: [ {port: 80\n' \
	>"$T_TMP/malformed-yaml.yaml"
# libyaml's own problem text, with the position.
bad malformed-yaml '.*(did not find|expected|unexpected|while parsing)'

sed 's/^  selector:/  bogusField: 1\n  selector:/' <(yaml_service web2 10.96.0.12 80 8080) >"$T_TMP/unknown-field.yaml"
bad unknown-field 'spec\.bogusField: .*unknown field'

sed 's/port: 80$/port: eighty/' <(yaml_service web2 10.96.0.12 80 8080) >"$T_TMP/wrong-type.yaml"
bad wrong-type 'spec\.ports\[0\]\.port: .*expected (an )?integer'

vs '    - destination: {host: web, subset: v1}
      weight: 60
    - destination: {host: web, subset: v2}
      weight: 30' >"$T_TMP/weights-not-100.yaml"
bad weights-not-100 'spec\.http\[0\]\.route: .*(100.*90|90.*100)'

# A DestinationRule subset that selects none of web's endpoints, routed to.
{ yaml_dr web ROUND_ROBIN "" v1 v2 v9; echo ---; vs '    - destination: {host: web, subset: v9}'; } \
	>"$T_TMP/subset-no-endpoint.yaml"
bad subset-no-endpoint '(spec\.subsets\[2\]|spec\.http\[0\]\.route\[0\][.a-z]*): .*(no endpoint|selects no)'

vs '    - destination: {host: nosuch}' >"$T_TMP/unknown-host.yaml"
bad unknown-host 'spec\.http\[0\]\.route\[0\]\.destination\.host: .*unknown host'

vs '    - destination: {host: web, subset: v7}' >"$T_TMP/unknown-subset.yaml"
bad unknown-subset 'spec\.http\[0\]\.route\[0\]\.destination\.subset: .*unknown subset'

yaml_service web3 10.96.0.13 0 8080 >"$T_TMP/port-0.yaml"
bad port-0 'spec\.ports\[0\]\.port: .*(out of range|1\.\.65535)'
yaml_service web3 10.96.0.13 70000 8080 >"$T_TMP/port-70000.yaml"
bad port-70000 'spec\.ports\[0\]\.port: .*(out of range|1\.\.65535)'

# SL_MAX_SERVICES + 1 frontends, one Service each, no endpoints needed.
awk 'BEGIN { for (i = 0; i <= 16384; i++)
	printf "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s%d\n  namespace: sl-many\nspec:\n  clusterIP: 10.%d.%d.%d\n  ports:\n  - port: 80\n",
		i, 100 + int(i / 65536), int(i / 256) % 256, i % 256 }' >"$T_TMP/too-many-services.yaml"
bad too-many-services '.*(too many|16384)'

# SL_MAX_GROUP_BACKENDS + 1 endpoints behind one service (one group).
{
	yaml_service big 10.96.0.20 80 8080
	for i in $(seq 0 256); do yaml_pod "big-$i" big "127.0.$((10 + i / 250)).$((1 + i % 250))"; done
} >"$T_TMP/too-many-endpoints.yaml"
bad too-many-endpoints '.*(257 endpoints|too many endpoints).*256'
t_done
