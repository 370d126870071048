#!/usr/bin/env bash
# vmtests/selftest.sh: the verdict run.sh gives a VM, from fixture outputs,
# without booting anything (< 1 s; `make vmtest` runs it first). A VM must
# not pass for the wrong reason: a variant whose check failed or is missing,
# a lockdown VM with a SKIP line that does not name the tracing feature, a
# VM that timed out. Prints "ok NAME" / "FAIL NAME: why" per case (the
# project's test contract); exit 1 if any failed.
# shellcheck disable=SC2317 # run.sh's main (and its exit) is skipped when sourced so
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=vmtests/run.sh
VMTEST_SOURCE_ONLY=1 . "$HERE/run.sh"
TMP=$(mktemp -d /tmp/sluice-vmtests-selftest.XXXXXX) || exit 2
trap 'rm -rf "$TMP"' EXIT
EXEC="" RECORD=$TMP/record.md COMMIT=abc1234 VM_TIMEOUT=1800
: >"$TMP/qemu.err"
: >"$TMP/console.log"
FAILS=0

VARIANT_OK='vmtest: variant ok (lockdown confidentiality, live_flows unavailable: EINVAL)'
TRACING_SKIP='SKIP flowbytes/live: missing live_flows (tracing iterator): EPERM'

# verdict NAME VARIANT QEMU_RC WANT_BAD WANT_TEXT_RE LINE...: feed LINEs to
# vm_verdict as the VM's runner output and check the row it adds.
verdict() {
	local name=$1 variant=$2 rc=$3 want_bad=$4 want_re=$5 row rel v text secs bad
	shift 5
	printf '%s\n' "$@" >"$TMP/out.log"
	RESULTS=()
	vm_verdict 6.1.0-57-amd64 "$variant" "$TMP/out.log" "$TMP/console.log" "$rc" 42 >"$TMP/said" 2>&1
	row=${RESULTS[0]:-}
	IFS=$US read -r rel v text secs bad <<<"$row"
	if [ "$rel/$v" != "6.1.0-57-amd64/$variant" ]; then
		echo "FAIL $name: row '${row//$US/|}'"
	elif [ "${bad:+bad}" != "$want_bad" ]; then
		echo "FAIL $name: failed='${bad}', want '${want_bad}' (text: $text)"
	elif ! [[ $text =~ $want_re ]]; then
		echo "FAIL $name: text '$text' does not match '$want_re'"
	else
		echo "ok $name"
		return
	fi
	FAILS=$((FAILS + 1))
}

verdict verdict/lockdown-tracing-skip-passes lockdown 0 "" \
	'^2 passed, 0 failed, 1 skipped \(lockdown confidentiality' \
	"$VARIANT_OK" 'PASS a' 'PASS b' "$TRACING_SKIP" '2 passed, 0 failed, 1 skipped' 'vmtest: exit 0'
verdict verdict/lockdown-other-skip-fails lockdown 0 bad \
	'SKIP lines not naming the tracing feature: metrics/x: missing promtool' \
	"$VARIANT_OK" 'PASS a' "$TRACING_SKIP" 'SKIP metrics/x: missing promtool' \
	'1 passed, 0 failed, 2 skipped' 'vmtest: exit 0'
verdict verdict/lockdown-malformed-skip-fails lockdown 0 bad \
	'not naming the tracing feature: odd/case tracing' \
	"$VARIANT_OK" 'SKIP odd/case tracing' '0 passed, 0 failed, 1 skipped' 'vmtest: exit 0'
verdict verdict/normal-other-skip-passes normal 0 "" '^1 passed, 0 failed, 1 skipped' \
	'vmtest: variant ok (lockdown none, live_flows available: source iterator)' 'PASS a' \
	'SKIP metrics/x: missing promtool' '1 passed, 0 failed, 1 skipped' 'vmtest: exit 0'
verdict verdict/check-failed-fails lockdown 0 bad \
	"variant check failed: lockdown is 'none'" \
	"vmtest: variant failed: lockdown is 'none', want 'confidentiality'" 'PASS a' \
	'1 passed, 0 failed, 0 skipped' 'vmtest: exit 0'
verdict verdict/check-missing-fails normal 0 bad 'no variant check result' \
	'PASS a' '1 passed, 0 failed, 0 skipped' 'vmtest: exit 0'
verdict verdict/test-failure-fails normal 0 bad '^1 passed, 1 failed, 0 skipped' \
	'vmtest: variant ok (lockdown none, live_flows available: source iterator)' 'PASS a' \
	'FAIL b: no' '1 passed, 1 failed, 0 skipped' 'vmtest: exit 1'
verdict verdict/timeout-fails lockdown 124 bad 'VM timed out after 1800s' \
	"$VARIANT_OK" 'PASS a'
verdict verdict/nothing-matched-fails normal 0 bad 'no test matched the pattern' \
	'vmtest: variant ok (lockdown none, live_flows available: source iterator)' \
	'0 passed, 0 failed, 0 skipped' 'vmtest: exit 0'

# The record: one Markdown row per VM, with the counts split out.
row=$(grep -c '^| 6.1.0-57-amd64 | lockdown | 2 / 0 / 1 | pass | 42s | [0-9-]* | abc1234 | ' "$RECORD")
if [ "$row" = 1 ] && [ "$(wc -l <"$RECORD")" = 9 ]; then
	echo "ok verdict/record-rows"
else
	echo "FAIL verdict/record-rows: $(head -n 3 "$RECORD" | tr '\n' ' ')"
	FAILS=$((FAILS + 1))
fi
[ "$FAILS" = 0 ]
