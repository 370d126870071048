/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The service table of a slot: sl_services rows behind the bucketed index
 * sl_svc_index (the layout and why: include/sluice_abi.h). The one owner
 * of both maps: every reader and writer of services goes through here.
 *
 * Rows come from a per-slot bump allocator (*HWM, kept in
 * sl_config.svc_hwm by the publisher): a changed service keeps its row, a
 * new one takes the next, a removed one leaves its row behind. When rows
 * or a bucket pair run out, sl_svc_put() returns -ENOSPC and the publisher
 * rewrites the slot whole (sl_svc_write_slot), which packs the rows again,
 * as it does for backend rows.
 */
#ifndef SLUICE_SVCTAB_H
#define SLUICE_SVCTAB_H

#include <stddef.h>
#include <linux/types.h>

#include "sluice_abi.h"
#include "pins.h"

struct sl_svctab {
	int rows; /* sl_services */
	int index; /* sl_svc_index */
};

static inline struct sl_svctab sl_svctab_of(const struct sl_maps *m)
{
	return (struct sl_svctab){ .rows = m->fd[SL_MAP_SERVICES], .index = m->fd[SL_MAP_SVC_INDEX] };
}

/* The service K names: 0 with *V filled, -ENOENT, or -errno. */
int sl_svc_get(struct sl_svctab t, const struct sl_svc_key *k, struct sl_svc_val *v);
/* Writes K's row: in place when K is there, else a new row (*HWM) and an
 * index way; -ENOSPC when the slot has no row or no way left for it. */
int sl_svc_put(struct sl_svctab t, const struct sl_svc_key *k, const struct sl_svc_val *v,
	       __u32 *hwm);
/* Removes K from the index (its row is left behind); absent is not an error. */
int sl_svc_del(struct sl_svctab t, const struct sl_svc_key *k);
/* Replaces SLOT whole: rows 0..N-1 and every bucket of the slot. -EOVERFLOW
 * (with a message) when the frontends cannot be placed, before any write. */
int sl_svc_write_slot(struct sl_svctab t, __u32 slot, const struct sl_l4addr *fes,
		      const struct sl_svc_val *vals, size_t n);
/* Every service of SLOT, in index order (malloc'd arrays; *N of them). */
int sl_svc_list(struct sl_svctab t, __u32 slot, struct sl_svc_key **keys, struct sl_svc_val **vals,
		size_t *n);
/* Services indexed in both slots, or -errno. */
long sl_svc_count(struct sl_svctab t);

#endif
