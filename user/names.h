/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The names readers put on services and (service, endpoint) pairs
 * (sl_svc_meta, sl_ep_meta: metrics labels, `sluice get`), written once
 * for both slots instead of once per slot (docs/APPLY.md, "Names"): a
 * whole apply at 10,000 services wrote 100,000 hash entries for them, now
 * 50,000.
 *
 * A name is an entry with slot SL_NAMES_BOTH. A reader of slot S takes
 * the entry for S when there is one (an override), else the one for both,
 * and only for pairs slot S holds. A publication:
 *   - before the switch: adds the names of new pairs (for both: no live
 *     pair has them), and writes an override for the inactive slot of
 *     every pair whose name changes;
 *   - after the switch: writes the changed names for both, then removes
 *     every override and the names of pairs that left.
 * So whatever instant a publication is killed at, each slot reads the
 * names of the policy it holds. While the slots are synced there is no
 * override and the maps hold exactly the live policy's names, so a
 * publication works from the difference of the services that changed;
 * otherwise (after a kill) it reads the maps.
 */
#ifndef SLUICE_NAMES_H
#define SLUICE_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "pins.h"
#include "policy.h"

/* One entry: its key and where its value is (the tables', or a map read
 * the set owns). */
struct sl_name_ent {
	struct sl_meta_key key;
	__u32 ord; /* the order entries were added in, for a stable sort */
	const void *val;
};

/* Entries of one names map, sorted by key. Values are not copied: a set
 * of 40,000 pairs' names copied is 9 MB of fresh pages. */
struct sl_name_set {
	struct sl_name_ent *v;
	size_t n, vsz;
	void *own_keys, *own_vals; /* a map read: what V points into */
};

/* What one publication does to the names, per map (0 services, 1 pairs). */
struct sl_names_change {
	struct sl_name_set before[2]; /* names of new pairs, overrides */
	struct sl_name_set after[2]; /* changed names for both slots */
	struct sl_name_set gone[2]; /* removed after (values unused) */
	bool written; /* BEFORE is (partly) written */
};

/* One service of a difference: T's service I. */
struct sl_names_svc {
	const struct sl_tables *t;
	size_t i;
};

/* The change from OLD's services to NEW's (either may be empty), for a
 * publication that writes slot INACTIVE. TRUSTED: the maps hold OLD's
 * names and no override (the slots are synced); else they are read, and
 * NEW must hold every service of the policy. */
int sl_names_diff(struct sl_maps *m, const struct sl_names_svc *old, size_t n_old,
		  const struct sl_names_svc *new, size_t n_new, bool trusted, __u32 inactive,
		  struct sl_names_change *c);
/* Every service of NEW, from what the maps hold (a repair, a publication
 * after a kill). */
int sl_names_diff_all(struct sl_maps *m, const struct sl_tables *new, __u32 inactive,
		      struct sl_names_change *c);
/* Before the switch. */
int sl_names_before(struct sl_maps *m, struct sl_names_change *c);
/* A publication that failed before its switch: remove what
 * sl_names_before wrote (new pairs' names and overrides of the slot that
 * stays inactive, which no reader of the live slot reads). */
void sl_names_undo(struct sl_maps *m, struct sl_names_change *c);
/* After the switch. */
int sl_names_after(struct sl_maps *m, const struct sl_names_change *c);
void sl_names_change_free(struct sl_names_change *c);

/* Every entry of names map ID (SL_MAP_SVC_META or SL_MAP_EP_META), sorted
 * by key, for readers. */
int sl_names_load(struct sl_maps *m, enum sl_map_id id, struct sl_name_set *out);
/* The name slot SLOT reads for (FE, EP) (EP NULL: the service's), or NULL. */
const void *sl_names_find(const struct sl_name_set *s, const struct sl_l4addr *fe,
			  const struct sl_l4addr *ep, __u32 slot);
void sl_name_set_free(struct sl_name_set *s);

#endif
