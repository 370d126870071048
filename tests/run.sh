#!/usr/bin/env bash
# Sluice test runner: tests/run.sh BUILD_DIR [PATTERN]
#
# Runs, in order: every BUILD/tests/unit/test_* binary, every
# BUILD/tests/bpf/test_* binary (BPF_PROG_TEST_RUN tables), the fuzz corpus
# regressions (BUILD/tests/fuzz/fuzz_NAME_standalone tests/fuzz/corpus/NAME),
# then every tests/integration/test_*.sh (with BUILD and SLUICE in the
# environment; SLUICE defaults to the ASan+UBSan build of the CLI, so the
# integration tests also check the CLI for memory errors and leaks). PATTERN (an extended regex) keeps only the programs whose
# name (unit/test_x, fuzz/policy-corpus, integration/test_x) matches.
#
# Each program prints one line per test case: "ok NAME", "FAIL NAME: why" or
# "skip NAME: missing FEATURE". We echo them as PASS/FAIL/SKIP, show the
# captured output of a failing program (last 40 lines, indented), and count
# as a FAIL of its own a program that exits non-zero without a FAIL line,
# crashes, times out (TEST_TIMEOUT seconds, default 300) or prints nothing.
# The last line is always "N passed, N failed, N skipped"; exit 1 if any
# failed. docs/TESTING.md has the whole contract.
set -u

usage() {
	echo "usage: tests/run.sh BUILD_DIR [PATTERN]" >&2
	exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
[ -d "$1" ] || { echo "tests/run.sh: no build directory '$1' (run make first)" >&2; exit 2; }
BUILD=$(cd "$1" && pwd)
PATTERN=${2:-}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TIMEOUT=${TEST_TIMEOUT:-300}
DEFAULT_TIMEOUT=$TIMEOUT
PASSED=0 FAILED=0 SKIPPED=0 RAN_INTEGRATION=0 T_PREFIX=""
OUT=$(mktemp /tmp/sluice-run.XXXXXX)
SL_T_REGISTRY=$(mktemp /tmp/sluice-run-ids.XXXXXX)
export SL_T_REGISTRY
trap 'rm -f "$OUT" "$SL_T_REGISTRY"' EXIT

selected() {
	[ -z "$PATTERN" ] || [[ $1 =~ $PATTERN ]]
}

show_output() {
	tail -n 40 "$OUT" | sed 's/^/    /'
}

# Turn one program's result lines into PASS/FAIL/SKIP lines and counts.
# Prints the number of FAIL lines and of result lines seen, "F R".
translate() {
	local line f=0 r=0
	while IFS= read -r line; do
		case $line in
		"ok "*)   echo "PASS $T_PREFIX${line#ok }" >&3; PASSED=$((PASSED + 1)); r=$((r + 1)) ;;
		"FAIL "*) echo "FAIL $T_PREFIX${line#FAIL }" >&3; FAILED=$((FAILED + 1)); f=$((f + 1)); r=$((r + 1)) ;;
		"skip "*) echo "SKIP $T_PREFIX${line#skip }" >&3; SKIPPED=$((SKIPPED + 1)); r=$((r + 1)) ;;
		esac
	done < <(tr -d '\r' <"$OUT")
	T_F=$f T_R=$r
}

# run_prog NAME CMD...: run one test program and account for it.
run_prog() {
	local name=$1 rc why=""
	shift
	selected "$name" || return 0
	# The braces keep bash's own "Segmentation fault" notice out of the
	# summary; the crash is reported below from the exit status.
	{ timeout -k 10 "$TIMEOUT" "$@" >"$OUT" 2>&1 </dev/null; } 2>/dev/null
	rc=$?
	translate 3>&1
	if [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ "$T_F" -eq 0 ]; }; then
		why="timed out after ${TIMEOUT}s"
	elif [ "$rc" -gt 128 ]; then
		why="crashed (signal $((rc - 128)))"
	elif [ "$rc" -ne 0 ] && [ "$T_F" -eq 0 ]; then
		why="exited with status $rc without reporting a failure"
	elif [ "$T_R" -eq 0 ]; then
		why="printed no result line"
	fi
	if [ -n "$why" ]; then
		echo "FAIL $name: $why"
		FAILED=$((FAILED + 1))
	fi
	if [ -n "$why" ] || [ "$T_F" -gt 0 ]; then
		show_output
	fi
}

# A program that should exist but does not is a failure, not a silent skip.
missing() {
	selected "$1" || return 0
	echo "FAIL $1: $2 not found (build it with make)"
	FAILED=$((FAILED + 1))
}

run_units() {
	local t found=0
	for t in "$BUILD"/tests/unit/test_*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		found=1
		run_prog "unit/$(basename "$t")" "$t"
	done
	if [ $found = 0 ] && compgen -G "$SRC/tests/unit/test_*.c" >/dev/null; then
		missing unit "$BUILD/tests/unit/test_*"
	fi
}

# BPF_PROG_TEST_RUN tables (tests/bpf): run as root against freshly loaded
# objects, each with its own pin root.
run_bpf_tables() {
	local t
	for t in "$BUILD"/tests/bpf/test_*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		run_prog "bpf/$(basename "$t")" "$t"
	done
}

# Every tests/fuzz/corpus/NAME runs through BUILD/tests/fuzz/fuzz_NAME_standalone.
run_fuzz_corpus() {
	local corpus name bin
	for corpus in "$SRC"/tests/fuzz/corpus/*/; do
		corpus=${corpus%/}
		name=$(basename "$corpus")
		bin=$BUILD/tests/fuzz/fuzz_${name}_standalone
		if [ ! -x "$bin" ]; then
			missing "fuzz/$name-corpus" "$bin"
			continue
		fi
		run_prog "fuzz/$name-corpus" "$bin" "$corpus"
	done
}

# A test that needs longer than TEST_TIMEOUT says so in a line
# "# sl-timeout: SECONDS" (never shorter than TEST_TIMEOUT).
test_timeout() {
	local t
	t=$(sed -n 's/^# sl-timeout: \([0-9]\+\)$/\1/p' "$1" | head -n 1)
	[ -n "$t" ] && [ "$t" -gt "$DEFAULT_TIMEOUT" ] && echo "$t" || echo "$DEFAULT_TIMEOUT"
}

run_integration() {
	local t
	for t in "$SRC"/tests/integration/test_*.sh; do
		[ -f "$t" ] || continue
		selected "integration/$(basename "$t" .sh)" || continue
		RAN_INTEGRATION=1
		TIMEOUT=$(test_timeout "$t")
		run_prog "integration/$(basename "$t" .sh)" \
			env BUILD="$BUILD" SLUICE="${SLUICE:-$BUILD/sluice-asan}" bash "$t"
	done
	TIMEOUT=$DEFAULT_TIMEOUT
}

# Every integration test must leave nothing behind; check it once at the end
# so that a leak fails the run even when each test passed. Tests register
# their unique ids in $SL_T_REGISTRY (see t_init), so only what this run
# created is checked, and a concurrent run elsewhere cannot confuse us.
# Where the kernel lets close() read a socket's TCP counters, connections
# end there and sockops arms no STATE callbacks (docs/KERNEL.md); elsewhere
# sockops ends them at TCP_CLOSE. The tests of what a connection's end
# settles run again as on a kernel without the first way (at-tcp-close/),
# on a node whose sockops is always attached (sockops-on/: the first pass
# loads with the default, `--sockops auto`, and its policies hand nothing
# off, so there close() reads whether the connection was established and
# its RTOs), and on a node loaded without sockops at all (no-sockops/).
AGAIN="accounting flowbytes leastconn maxconns outlier rto"
# run_integration_again PREFIX ENV...: the AGAIN tests, named PREFIX/...,
# with ENV (NAME=VALUE) added.
run_integration_again() {
	local prefix=$1 n t
	shift
	for n in $AGAIN; do
		t=$SRC/tests/integration/test_$n.sh
		selected "integration/$prefix/test_$n" || continue
		RAN_INTEGRATION=1
		TIMEOUT=$(test_timeout "$t")
		T_PREFIX=$prefix/
		run_prog "integration/$prefix/test_$n" env BUILD="$BUILD" \
			SLUICE="${SLUICE:-$BUILD/sluice-asan}" "$@" bash "$t"
		T_PREFIX=""
	done
	TIMEOUT=$DEFAULT_TIMEOUT
}

check_leftovers() {
	local id cg2 left=""
	[ "$RAN_INTEGRATION" = 1 ] || return 0
	cg2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
	while IFS= read -r id; do
		[ -n "$id" ] || continue
		[ -e "/sys/fs/bpf/$id" ] && left+=" pin:$id"
		[ -e "/run/netns/$id" ] && left+=" netns:$id"
		[ -n "$cg2" ] && [ -d "$cg2/$id" ] && left+=" cgroup:$id"
		compgen -G "/tmp/$id.*" >/dev/null && left+=" tmp:$id"
		pgrep -f -- "$id" >/dev/null && left+=" processes:$id($(pgrep -d, -f -- "$id"))"
	done <"$SL_T_REGISTRY"
	if [ -n "$left" ]; then
		echo "FAIL runner/leftovers:$left"
		FAILED=$((FAILED + 1))
	else
		echo "PASS runner/leftovers"
		PASSED=$((PASSED + 1))
	fi
}

# What every test needs is prepared once, before the first test runs, so
# that no test finds the machine half ready: bpffs where pins live.
prepare() {
	[ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ] && return 0
	mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf 2>/dev/null && return 0
	echo "tests/run.sh: cannot mount bpffs at /sys/fs/bpf (run as root)" >&2
}

prepare
run_units
run_bpf_tables
run_fuzz_corpus
run_integration
run_integration_again at-tcp-close \
	SLUICE_TEST_REFUSE="${SLUICE_TEST_REFUSE:+$SLUICE_TEST_REFUSE,}close_at_release"
run_integration_again sockops-on SL_T_LOAD_ARGS="--sockops on"
run_integration_again no-sockops SL_T_LOAD_ARGS="--sockops off --proxy none"
check_leftovers
# A pattern that selects nothing is a mistake, not a pass.
if [ $((PASSED + FAILED + SKIPPED)) -eq 0 ]; then
	echo "FAIL runner/selection: no test matched '${PATTERN}'"
	FAILED=1
fi
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
