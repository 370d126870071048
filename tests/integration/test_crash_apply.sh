#!/usr/bin/env bash
# Crash consistency from outside: `sluice apply` of a few thousand services
# killed with SIGKILL at random instants of its publication. After each
# kill the live slot is exactly the old policy or exactly the new one and
# agrees with the policy store; the next apply (a one-service change) leaves
# both slots equal to the store. (tests/unit/test_publish_crash.c kills
# after every single map write; this is the same promise with the kernel's
# own timing, batch writes cut anywhere.)
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init crash
CASES=(crash/live-is-old-or-new crash/store-agrees crash/next-apply-repairs crash/publications-interrupted)
require_kernel "${CASES[@]}"
t_world

N=${CRASH_SERVICES:-2000}
TRIALS=${CRASH_TRIALS:-12}
# Up to this many trials while no kill has cut a publication yet: on a busy
# machine the killed apply runs slower than the clean one the aim is taken
# from, and all of the first 12 can land before its publication starts.
MAX_TRIALS=${CRASH_MAX_TRIALS:-36}
# The applies run the release build: the publisher is the same code, and
# its timing is what the kills aim at. Checks use $SLUICE (sanitizers).
REL=${CRASH_APPLY_CLI:-$BUILD/sluice} # another build, to compare

gen() { # FIRST COUNT VARIANT
	awk -v first="$1" -v n="$2" -v e="$3" 'BEGIN {
	for (i = first; i < first + n; i++) {
		a = int(i / 250); b = i % 250 + 1
		printf "---\napiVersion: v1\nkind: Service\nmetadata: {name: k-%d, namespace: crash}\n", i
		printf "spec:\n  clusterIP: 10.98.%d.%d\n", a, b
		if (i % 100 == 0)
			printf "  externalIPs: [198.18.%d.%d]\n", a, b
		printf "  ports: [{port: 80, targetPort: %d}]\n", 8080 + e
		printf "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		printf "metadata: {name: k-%d, namespace: crash, labels: {kubernetes.io/service-name: k-%d}}\n", i, i
		printf "addressType: IPv4\nports: [{port: %d}]\nendpoints:\n", 8080 + e
		for (k = 0; k < 2 + e; k++)
			printf "- addresses: [10.%d.%d.%d]\n", 101 + k, a, b
	}}'
}

rel() { "$REL" "$1" --pin-root "$PIN" "${@:2}"; }
dump() { sl get dataplane --slot "$1" 2>"$T_TMP/dump.err"; }
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }

gen 0 "$N" 0 >"$T_TMP/A.yaml"
gen 0 "$N" 1 >"$T_TMP/B.yaml"
gen 7 1 2 >"$T_TMP/C.yaml"
rel apply -f "$T_TMP/A.yaml" >/dev/null && rel apply -f "$T_TMP/B.yaml" >/dev/null &&
	dump active >"$T_TMP/dB" && rel apply -f "$T_TMP/A.yaml" >/dev/null && dump active >"$T_TMP/dA" ||
	{ fail crash/live-is-old-or-new "cannot apply the policies without kills"; t_done; }

bad_live="" bad_store="" bad_next="" interrupted=0 finished=0 early=0 t=0
# aim (ms) moves the kills: later after a kill that landed before the
# publication (nothing written), earlier after one that came too late.
aim=0
while [ "$t" -lt "$TRIALS" ] || { [ "$interrupted" = 0 ] && [ "$t" -lt "$MAX_TRIALS" ]; }; do
	t=$((t + 1))
	# Aim at the publication: it starts after the parse and compile and
	# lasts about what the last clean apply reported for it.
	t0=$(now_ms)
	rel apply -f "$T_TMP/B.yaml" >"$T_TMP/clean.out" 2>&1
	wall=$(($(now_ms) - t0))
	rel apply -f "$T_TMP/A.yaml" >/dev/null 2>&1
	read -r total compile < <(sed -n 's/.* in \([0-9.]*\) ms (parse+compile \([0-9.]*\) ms.*/\1 \2/p' "$T_TMP/clean.out")
	start=$(awk -v w="$wall" -v t="${total:-0}" -v c="${compile:-0}" 'BEGIN { print int(w - t + c) }')
	span=$(awk -v t="${total:-0}" -v c="${compile:-0}" 'BEGIN { s = int((t - c) * 1.3); print (s > 0 ? s : 1) }')
	delay=$((start + aim + RANDOM % span))
	[ "$delay" -lt 0 ] && delay=0
	# The binary itself in the background (not a function: its subshell
	# would take the SIGKILL and leave the apply running).
	"$REL" apply --pin-root "$PIN" -f "$T_TMP/B.yaml" >/dev/null 2>&1 &
	pid=$!
	sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	done_first=$?
	[ "$done_first" = 0 ] && finished=$((finished + 1))

	dump active >"$T_TMP/live"
	if ! cmp -s "$T_TMP/live" "$T_TMP/dA" && ! cmp -s "$T_TMP/live" "$T_TMP/dB"; then
		bad_live+=" $t(${delay}ms: $(diff "$T_TMP/live" "$T_TMP/dA" | head -c 300 | tr '\n' ' '))"
	fi
	sl get dataplane --verify >"$T_TMP/v" 2>&1 || bad_store+=" $t:$(head -c 200 "$T_TMP/v")"
	dump inactive >"$T_TMP/other"
	if ! cmp -s "$T_TMP/live" "$T_TMP/other"; then
		interrupted=$((interrupted + 1))
	elif [ "$done_first" = 0 ]; then
		aim=$((aim - span / 2))
	else
		early=$((early + 1)) aim=$((aim + span / 2))
	fi

	rel apply -f "$T_TMP/C.yaml" >/dev/null 2>&1 || bad_next+=" $t:apply"
	dump active >"$T_TMP/a" && dump inactive >"$T_TMP/b"
	cmp -s "$T_TMP/a" "$T_TMP/b" && sl get dataplane --verify >/dev/null 2>&1 || bad_next+=" $t"
	rel apply -f "$T_TMP/A.yaml" >/dev/null 2>&1 || bad_next+=" $t:reset"
done

check crash/live-is-old-or-new "trials where the live slot was neither policy:$bad_live" test -z "$bad_live"
check crash/store-agrees "trials where the store disagreed with the live slot:$bad_store" test -z "$bad_store"
check crash/next-apply-repairs "trials after which the next apply left the slots unequal:$bad_next" test -z "$bad_next"
# The kills must have hit publications, or the trials proved little.
check crash/publications-interrupted "no kill of $t interrupted a publication ($finished finished first, $early came before it)" \
	test "$interrupted" -gt 0
echo "# $t kills: $interrupted interrupted a publication, $finished came after it ended, $early before it began"
t_done
