#!/usr/bin/env bash
# Pinned maps of another layout (an older or a newer Sluice) are refused
# before anything is loaded, with a message that names the version and
# says to unload first; the pin root and the cgroup stay as they were.
#  - older-layout: a root holding ABI 3's 88-byte sl_config record
#  - other-version: a loaded root whose record names another version
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init abi
require_kernel abi/older-layout abi/older-layout-unchanged abi/other-version \
	abi/other-version-unchanged abi/reload-after-restore
t_world

progs() { bpftool -j cgroup show "$CG" | jq -r '[.[].id] | sort | join(",")'; }
ids0=$(progs)

# Bytes of a record: magic "SLCE" little-endian, VERSION, zeros up to SIZE.
record() { # VERSION SIZE
	local b=(0x45 0x43 0x4c 0x53 $(($1 & 255)) $(($1 >> 8 & 255)) 0 0) i
	for ((i = 8; i < $2; i++)); do b+=(0); done
	echo "${b[@]}"
}

OLD=$PIN-old
mkdir -p "$OLD/maps"
bpftool map create "$OLD/maps/sl_config" type array key 4 value 88 entries 1 name sl_config &&
	bpftool map update pinned "$OLD/maps/sl_config" key 0 0 0 0 value $(record 3 88) ||
	fail abi/older-layout "cannot make an ABI 3 sl_config"
if "$SLUICE" load --pin-root "$OLD" --cgroup "$CG" >"$T_TMP/old.out" 2>&1; then
	fail abi/older-layout "loaded over ABI 3 maps"
elif grep -q "ABI version 3" "$T_TMP/old.out" && grep -q "sluice unload" "$T_TMP/old.out"; then
	ok abi/older-layout
else
	fail abi/older-layout "message: $(head -c 300 "$T_TMP/old.out")"
fi
left=$(cd "$OLD" && find . -mindepth 1 | sort | tr '\n' ' ')
check_eq abi/older-layout-unchanged "$left/$(progs)" "./maps ./maps/sl_config /$ids0" \
	"entries under the old root / cgroup programs"

# The live root, its record rewritten to say version 999.
size=$(bpftool -j map show pinned "$PIN/maps/sl_config" | jq .bytes_value)
orig=$(bpftool -j map lookup pinned "$PIN/maps/sl_config" key 0 0 0 0 | jq -r '.value | join(" ")')
bpftool map update pinned "$PIN/maps/sl_config" key 0 0 0 0 value $(record 999 "$size") ||
	fail abi/other-version "cannot rewrite the record"
if sl load --cgroup "$CG" "${T_LOAD_ARGS[@]}" >"$T_TMP/v.out" 2>&1; then
	fail abi/other-version "loaded over maps of version 999"
elif grep -q "ABI version 999" "$T_TMP/v.out"; then
	ok abi/other-version
else
	fail abi/other-version "message: $(head -c 300 "$T_TMP/v.out")"
fi
check_eq abi/other-version-unchanged "$(progs)" "$ids0" "cgroup programs"
bpftool map update pinned "$PIN/maps/sl_config" key 0 0 0 0 value $orig
if sl load --cgroup "$CG" "${T_LOAD_ARGS[@]}" >"$T_TMP/r.out" 2>&1; then ok abi/reload-after-restore
else fail abi/reload-after-restore "$(head -c 300 "$T_TMP/r.out")"; fi
t_done
