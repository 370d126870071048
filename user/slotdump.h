/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A canonical dump of one policy slot: every entry every policy map holds
 * for the slot (services with their groups and backend rows, service and
 * endpoint names, node-ingress frontends with their Maglev rings, the
 * frontend port bitmap, NetworkPolicy pods, prefixes and port sets, and the
 * policy store), with slot-specific placement resolved away (backend row
 * numbers, ring offsets, the slot bit of NetworkPolicy ids) and every list
 * sorted by key. Two slots, or two nodes, that hold the same policy print
 * the same bytes, so `diff` or `jq` compare them; entries that nothing
 * refers to (left over by an interrupted write) show up too.
 *
 * The same form can be made from compiled tables, which is how a slot is
 * checked against the policy store (sl_slot_verify). The JSON shape is
 * documented in docs/CLI.md (`sluice get dataplane`).
 */
#ifndef SLUICE_SLOTDUMP_H
#define SLUICE_SLOTDUMP_H

#include <stdio.h>

#include "pins.h"
#include "policy.h"

/* The canonical JSON of SLOT, one object, newline-terminated. */
int sl_slot_dump(struct sl_maps *m, __u32 slot, FILE *out);

/* The canonical JSON a slot holding T (compiled from the serialized policy
 * SRC) would print, with the Maglev ring sizes that slot SIZES holds. */
int sl_tables_dump(struct sl_maps *m, const struct sl_tables *t, const char *src, size_t len,
		   __u32 sizes, FILE *out);

/* Does SLOT hold exactly what the store of the active slot says? 1 yes,
 * 0 no (with WHY, when not NULL, set to a malloc'd unified description of
 * the first difference), or -errno. */
int sl_slot_verify(struct sl_maps *m, __u32 slot, char **why);

#endif
