#!/usr/bin/env bash
# The two example files in examples/ (copies of the project's first policy)
# apply unchanged, with the expected warnings, and `get services -o json`
# shows nodejs-api handed to the proxy for all four reasons: the header
# match, STRICT mTLS, the AuthorizationPolicy and the RequestAuthentication.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init examples
require_kernel examples/istio-config examples/mtls-policy examples/warnings examples/handoff-reasons
t_world

EX=$T_SRC/examples
for f in istio-config mtls-policy; do
	if [ ! -f "$EX/$f.yaml" ]; then
		fail "examples/$f" "$EX/$f.yaml missing"
		continue
	fi
	if sl apply -f "$EX/$f.yaml" >"$T_TMP/$f.out" 2>"$T_TMP/$f.err"; then ok "examples/$f"
	else fail "examples/$f" "apply exit $?: $(head -c 400 "$T_TMP/$f.err")"; fi
done

# The legacy circuitBreaker alias and the one-clause authorization rules.
w=$(cat "$T_TMP"/*.err 2>/dev/null)
if grep -qi 'warning: .*circuitBreaker' <<<"$w" && grep -Eqi 'warning: .*(from|to|when)' <<<"$w"; then
	ok examples/warnings
else
	fail examples/warnings "want warnings for circuitBreaker and the AuthorizationPolicy rules, got: $(head -c 400 <<<"$w")"
fi

sl get services -o json >"$T_TMP/svc.json"
# Exactly these four (names as documented for `get services -o json`):
# no http-feature (the routes carry no retries/timeouts...), no tls-route.
r=$(jq -r '[.services[] | select(.name == "nodejs-api") | .handoff_reasons[]] | unique | join(",")' "$T_TMP/svc.json")
h=$(jq -r '[.services[] | select(.name == "nodejs-api") | .handoff] | unique | join(",")' "$T_TMP/svc.json")
check_eq examples/handoff-reasons "$h $r" "true authorization,http-match,jwt,mtls-strict" \
	"nodejs-api handoff and reasons"
t_done
