#!/usr/bin/env bash
# Limits through the CLI: an oversize apply (16,000 services selecting 256
# pods: 4 M backend rows) is rejected from counts, in a few hundred
# milliseconds and in memory proportional to its input (it once took 2.4 GB
# and 7 s); a policy over the 32 MiB store is an error that names the store,
# the sizes and the largest objects, in --dry-run too (it once printed
# "Argument list too long", and --dry-run accepted it); pathological YAML is
# rejected at once. Nothing changes on any of them.
#
# The big inputs run the release build: the limits are about the program,
# and the sanitizers' own memory would hide what it uses.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init limits
CASES=(limits/oversize-rejected limits/oversize-memory limits/oversize-time
	limits/store-named limits/store-dry-run limits/unclosed-brackets limits/nothing-changed)
require_kernel "${CASES[@]}"
t_world
REL=$BUILD/sluice
rel() { "$REL" "$1" --pin-root "$PIN" "${@:2}"; }

awk 'BEGIN {
	for (i = 0; i < 256; i++)
		printf "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p-%d, namespace: big, labels: {app: x}}\nstatus: {phase: Running, podIP: 10.20.%d.%d}\n", i, int(i / 250), i % 250 + 1
	for (i = 0; i < 16000; i++)
		printf "---\napiVersion: v1\nkind: Service\nmetadata: {name: s-%d, namespace: big}\nspec: {clusterIP: 10.%d.%d.%d, selector: {app: x}, ports: [{port: 80, targetPort: 8080}]}\n", i, 100 + int(i / 62500), int(i / 250) % 250, i % 250 + 1
}' >"$T_TMP/big.yaml"
gen0=$(sl get services -o json | jq -r .generation)

# Address space capped at 384 MiB: the old code needed six times that.
TIMEFORMAT='%U %S'
{ time prlimit --as=$((384 << 20)) "$REL" apply --pin-root "$PIN" -f "$T_TMP/big.yaml" \
	>"$T_TMP/big.out" 2>"$T_TMP/big.err"; } 2>"$T_TMP/big.time"
rc=$?
check limits/oversize-rejected "exit $rc: $(tail -c 300 "$T_TMP/big.err")" \
	grep -q "error: metadata.name: too many endpoints: at least [0-9]* backend rows, the limit is 131072 (SL_MAX_BACKENDS, one slot of sl_backends)" "$T_TMP/big.err"
check limits/oversize-memory "not rejected within 384 MiB of address space (exit $rc)" test "$rc" = 1
cpu=$(awk '{ print $1 + $2 }' "$T_TMP/big.time")
check_range limits/oversize-time "$cpu" 0 5 "CPU seconds to reject 4 M rows"

# 48 MB of base64 noise in three annotations compresses past 32 MiB.
noise() { head -c $((12 << 20)) /dev/urandom | base64 -w0; }
for s in 0 1 2; do
	printf -- '---\napiVersion: v1\nkind: Service\nmetadata:\n  name: n-%d\n  namespace: big\n  annotations:\n    blob: "%s"\nspec: {clusterIP: 10.96.9.%d, ports: [{port: 80}]}\n' \
		"$s" "$(noise)" "$((s + 1))"
done >"$T_TMP/noise.yaml"
for mode in dry-run apply; do
	args=(-f "$T_TMP/noise.yaml")
	[ $mode = dry-run ] && args+=(--dry-run)
	rel apply "${args[@]}" >"$T_TMP/noise.out" 2>"$T_TMP/noise.err"
	rc=$?
	name=limits/store-named
	[ $mode = dry-run ] && name=limits/store-dry-run
	check $name "$mode: exit $rc: $(grep -v warning "$T_TMP/noise.err" | head -c 400)" eval \
		'[ $rc = 1 ] && grep -q "<policy>: error: sl_store: the policy is [0-9]* bytes of YAML and compresses to [0-9]* bytes; one slot of the policy store holds 33554432 bytes" "$T_TMP/noise.err" &&
		 grep -q "noise.yaml:2:1: note: Service big/n-0 is [0-9]* bytes of YAML" "$T_TMP/noise.err" &&
		 ! grep -q "Argument list too long" "$T_TMP/noise.err"'
done

head -c $((200 << 10)) /dev/zero | tr '\0' '[' >"$T_TMP/brackets.yaml"
{ time rel apply -f "$T_TMP/brackets.yaml" >/dev/null 2>"$T_TMP/br.err"; } 2>"$T_TMP/br.time"
rc=$?
cpu=$(awk '{ print ($1 + $2) * 1000 }' "$T_TMP/br.time")
check limits/unclosed-brackets "exit $rc in $cpu ms of CPU: $(head -c 300 "$T_TMP/br.err")" eval \
	'[ $rc = 1 ] && grep -q "brackets.yaml:1:66: error: nesting too deep" "$T_TMP/br.err" && [ "${cpu%.*}" -lt 100 ]'

check_eq limits/nothing-changed "$(sl get services -o json | jq -r .generation)" "$gen0" "generation"
t_done
