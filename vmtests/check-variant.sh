#!/usr/bin/env bash
# vmtests/check-variant.sh VARIANT: inside a vmtests VM (in the chroot, before
# the test runner), show and verify that the kernel is in the state VARIANT
# asks for, so that a variant whose boot option did not take effect fails
# instead of passing for the wrong reason.
#
#   normal    no lockdown; Sluice's live-flow iterator (a BPF tracing
#             program) loads: status live_flows "available".
#   lockdown  /sys/kernel/security/lockdown says [confidentiality] and the
#             kernel refuses the iterator: status live_flows "unavailable".
#   integrity [integrity] (what Secure Boot gives Debian's kernels) and the
#             iterator still loads: live_flows "available".
#
# What it shows: the lockdown mode and the active LSMs, bpftool's verdict on
# the tracing program type and on bpf_probe_read_kernel (the helper
# confidentiality mode takes away), then what one real `sluice load` into a
# scratch cgroup made of the live_flows feature (status, source, errno,
# reason). Lines for people start with "variant: "; the last line is
# "vmtest: variant ok" or "vmtest: variant failed: WHY" for run.sh.
# Needs BUILD (or SLUICE) in the environment, as init.sh sets them.
set -u

VARIANT=${1:?usage: check-variant.sh normal|lockdown}
SLUICE=${SLUICE:-$BUILD/sluice}
SEC=/sys/kernel/security
ID=vmtest-variant-$$
PROBLEMS=()

say() { echo "variant: $*"; }
problem() { PROBLEMS+=("$*"); }

# lockdown_mode: the bracketed word of /sys/kernel/security/lockdown, or
# "unreadable" (securityfs missing, or a kernel without the lockdown LSM).
lockdown_mode() {
	local m
	m=$(sed -n 's/.*\[\([a-z]*\)\].*/\1/p' "$SEC/lockdown" 2>/dev/null)
	echo "${m:-unreadable}"
}

show_kernel() {
	say "kernel $(uname -r), command line: $(cat /proc/cmdline)"
	say "lockdown: $(cat "$SEC/lockdown" 2>/dev/null || echo "unreadable ($SEC/lockdown)")"
	say "active LSMs: $(cat "$SEC/lsm" 2>/dev/null || echo unreadable)"
}

# show_bpftool: bpftool's verdict on the tracing program type and on its
# helpers. Informational: confidentiality mode does not refuse the program
# type (a minimal tracing program loads); it takes helpers such as
# bpf_probe_read_kernel away, which the verifier then rejects (shown by
# live_flows below). bpftool cannot probe a tracing program's helpers.
show_bpftool() {
	local probe
	command -v bpftool >/dev/null || { say "bpftool: not installed"; return; }
	probe=$(bpftool feature probe kernel 2>/dev/null)
	say "bpftool: $(grep -m 1 'program_type tracing' <<<"$probe" || echo 'no line for program_type tracing')"
	say "bpftool: helpers for program type tracing: $(grep -A 1 'helpers supported for program type tracing:' <<<"$probe" |
		sed -n '2s/^[[:space:]]*//p')"
}

# show_load OUT: sluice's own lines from a load's output, the kernel's
# reason for refusing a program (the verifier log's verdict), and how many
# lines of libbpf log came with them.
show_load() {
	sed -n 's/^\(sluice\|loaded\)/variant: sluice load: &/p' "$1"
	grep -E 'unknown func|cannot use helper|Permission denied|Operation not permitted|failed to load: ' "$1" |
		sed 's/^/variant: kernel refused: /'
	say "sluice load: $(grep -cvE '^(sluice|loaded)' "$1") lines of libbpf output besides"
}

# live_flows: load Sluice into a scratch cgroup and pin root, print what its
# status says of the live_flows feature, unload. Sets LIVE (the feature's
# status, or "load failed") and LIVE_WHY (its errno or source).
live_flows() {
	local cg2 cg pin out entry
	LIVE="load failed" LIVE_WHY=""
	cg2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
	cg=$cg2/$ID pin=/sys/fs/bpf/$ID out=/tmp/$ID.load
	mkdir "$cg" || { problem "cannot create cgroup $cg"; return; }
	if "$SLUICE" load --pin-root "$pin" --cgroup "$cg" >"$out" 2>&1; then
		show_load "$out"
		entry=$("$SLUICE" --pin-root "$pin" status -o json 2>&1 |
			jq -c '.features[] | select(.name == "live_flows")' 2>&1)
		LIVE=$(jq -r '.status' <<<"$entry" 2>/dev/null)
		LIVE_WHY=$(jq -r 'if .errno then .errno else "source \(.source)" end' <<<"$entry" 2>/dev/null)
		say "sluice status: live_flows $(jq -r '"\(.status), source \(.source), errno \(.errno), reason \(.reason)"' <<<"$entry" 2>/dev/null || echo "unreadable: $entry")"
		"$SLUICE" --pin-root "$pin" unload >"$out" 2>&1 ||
			problem "sluice unload failed: $(tr '\n' ' ' <"$out")"
	else
		show_load "$out"
		problem "sluice load --cgroup $cg failed"
	fi
	[ -e "$pin" ] && { problem "$pin left behind"; rm -rf "$pin"; }
	rmdir "$cg" 2>/dev/null
	rm -f "$out"
}

T0=$SECONDS
show_kernel
show_bpftool
live_flows
mode=$(lockdown_mode)
say "check took $((SECONDS - T0)) s"
case $VARIANT in
normal | integrity)
	want=none
	[ "$VARIANT" = integrity ] && want=integrity
	[ "$mode" = "$want" ] || problem "lockdown is '$mode', want '$want'"
	[ "$LIVE" = available ] || problem "live_flows is '$LIVE' with lockdown '$mode', want 'available'"
	;;
lockdown)
	[ "$mode" = confidentiality ] ||
		problem "lockdown is '$mode', want 'confidentiality' (lockdown=confidentiality did not take effect)"
	[ "$LIVE" = unavailable ] ||
		problem "live_flows is '$LIVE' under lockdown, want 'unavailable' (tracing was not refused)"
	;;
*)
	problem "unknown variant '$VARIANT'"
	;;
esac
if [ ${#PROBLEMS[@]} -eq 0 ]; then
	echo "vmtest: variant ok (lockdown $mode, live_flows $LIVE: $LIVE_WHY)"
else
	for p in "${PROBLEMS[@]}"; do say "problem: $p"; done
	echo "vmtest: variant failed: $(printf '%s; ' "${PROBLEMS[@]}" | sed 's/; $//')"
fi
