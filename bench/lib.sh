# shellcheck shell=bash
# What the bench scripts share, sourced by each after it set ID (the run's
# name, e.g. sl-bench-$$-$RANDOM) and BUILD: the temporary directory, the
# run's cgroup name, log and die, and a cleanup that removes everything the
# run created, in any state, on exit or interrupt. A script records what
# it creates in PIDS (processes), PINS (pin roots, unloaded with $SLUICE),
# NSS (network namespaces) and the directory $CG (its cgroup tree).

CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
CG=${CG2:+$CG2/$ID}
TMP=$(mktemp -d "/tmp/$ID.XXXXXX")
# shellcheck disable=SC2034 # read by the scripts that source this
DATA=$TMP/data.tsv
PIDS=() PINS=() NSS=()
CLEANED=0

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

cleanup() {
	local p d ns pin
	[ "$CLEANED" = 1 ] && return 0
	CLEANED=1
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	# Anything still in the run's cgroups (a client cut short) goes too.
	if [ -n "$CG" ] && [ -d "$CG" ]; then
		find "$CG" -name cgroup.procs -exec cat {} + 2>/dev/null |
			while read -r p; do kill -KILL "$p" 2>/dev/null; done
		sleep 0.2
		while IFS= read -r d; do rmdir "$d" 2>/dev/null; done \
			< <(find "$CG" -depth -type d 2>/dev/null)
	fi
	for pin in "${PINS[@]}"; do
		[ -e "$pin" ] || continue
		"$SLUICE" unload --pin-root "$pin" >/dev/null 2>&1
		rm -rf "$pin"
	done
	for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP"
	return 0
}
trap cleanup EXIT
trap 'log "interrupted"; cleanup; exit 130' INT TERM

# now_us: microseconds, from bash's own clock (no fork around the timed command).
now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }

timed() { # OUTVAR CMD... ; OUTVAR = wall ms of CMD, returns CMD's status
	local __v=$1 t0 t1 rc
	shift
	t0=$(now_us)
	"$@"
	rc=$?
	t1=$(now_us)
	printf -v "$__v" '%d.%03d' $(((t1 - t0) / 1000)) $(((t1 - t0) % 1000))
	return $rc
}

# splice_report NEW FILE BEGIN END: replace the section of FILE between the
# marker lines BEGIN and END with NEW (which holds both), or append NEW
# when FILE has none; everything else in FILE stays.
splice_report() {
	local new=$1 file=$2 begin=$3 end=$4
	if [ -f "$file" ] && grep -qF "$begin" "$file"; then
		awk -v b="$begin" -v e="$end" -v new="$new" '
			$0 == b { while ((getline l < new) > 0) print l; skip = 1; next }
			skip && $0 == e { skip = 0; next }
			!skip' "$file" >"$file.tmp" && mv "$file.tmp" "$file"
	else
		{ echo; cat "$new"; } >>"$file"
	fi
}
