/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Ids of the live state records: sl_ep_state[id] per (frontend, endpoint)
 * and sl_group_state[id] per (frontend, subset tag). The publisher writes
 * the ids into every backend row (sl_backend.state) and group
 * (sl_group.state) so that connect() reaches the state with array lookups.
 *
 * The directories sl_ep_ids / sl_group_ids map each pair to its id
 * (struct sl_state_ref). A pair keeps its id, and so its counters, active
 * count and ejection, for as long as it is in the policy; an endpoint in
 * several services has one id per service. A pair that leaves the policy
 * goes RETIRING (readers ignore it once it has no connection); if it comes
 * back it takes its id back. Its id is freed by a sweep once it has been
 * RETIRING for SL_STATE_GRACE_NS with no connection on it, and only then
 * handed to another pair, with its state zeroed and its generation bumped
 * (socket records carry the generation they saw, see bpf/lib/socktab.h).
 *
 * Free ids (sl_ep_state.in_use, sl_group_state.in_use 0) are found from a
 * hash of the pair: eight runs of 64 ids spread over the id space, each
 * read with one batch lookup; only when all are full does a sweep run,
 * then a scan of the whole array from the hash's start. A whole apply's
 * new pairs take free ids in one batched pass from a hashed start too, so
 * the block it takes never sits where every later search begins.
 * Every function expects the caller to hold the pin-root lock.
 */
#ifndef SLUICE_STATEID_H
#define SLUICE_STATEID_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "sluice_abi.h"
#include "pins.h"
#include "policy.h"

/* The four maps, by fd: what the functions below work on. */
struct sl_state_maps {
	int ep_ids, ep_state, group_ids, group_state;
};

void sl_state_maps_of(const struct sl_maps *m, struct sl_state_maps *s);

/* The id of (FE, EP) / (FE, TAG): the one it holds, or a new one whose
 * state starts at zero. 0 or -errno (-ENOSPC: no id free). */
int sl_stateid_ep(const struct sl_state_maps *s, const struct sl_l4addr *fe,
		  const struct sl_l4addr *ep, __u32 *id);
int sl_stateid_group(const struct sl_state_maps *s, const struct sl_l4addr *fe, __u32 tag,
		     __u32 *id);
/* The ids of (FE, EPS[i]) for N endpoints (duplicates allowed) into IDS:
 * one directory lookup each, the new pairs' ids found and written
 * together (a few batch operations, not a handful of syscalls per pair). */
int sl_stateid_eps(const struct sl_state_maps *s, const struct sl_l4addr *fe,
		   const struct sl_l4addr *eps, size_t n, __u32 *ids);

/* Ids of every row (rows[i] for t->backends[i]) and group (groups[svc *
 * SL_MAX_GROUPS + g]) of T, from one walk of the directories plus one
 * assignment per pair not in them. malloc'd; free with sl_state_ids_free. */
struct sl_state_ids {
	__u32 *rows;
	__u32 *groups;
};

int sl_stateid_assign_all(const struct sl_state_maps *s, const struct sl_tables *t,
			  struct sl_state_ids *out);
void sl_state_ids_free(struct sl_state_ids *ids);

/* The pair left the published policy (after the switch). */
void sl_stateid_retire_ep(const struct sl_state_maps *s, const struct sl_l4addr *fe,
			  const struct sl_l4addr *ep);
void sl_stateid_retire_group(const struct sl_state_maps *s, const struct sl_l4addr *fe, __u32 tag);

/* Every pair of the directories that LIVE (the policy now published) does
 * not hold goes RETIRING; RETIRING ones idle past the grace are freed.
 * Returns the number of endpoint pairs freed. */
size_t sl_stateid_sweep(const struct sl_state_maps *s, const struct sl_tables *live);

/* Only free the ids of pairs RETIRING and idle past the grace (no policy
 * at hand: repair and status run it). Returns endpoint pairs freed. */
size_t sl_stateid_sweep_due(const struct sl_state_maps *s);

/* After a write that failed before its switch: pairs that LIVE (still
 * published) does not hold lose the ids that write gave them at once, so
 * a rejected apply leaves the directories as they were (a pair that held
 * connections from before keeps its id, RETIRING). */
size_t sl_stateid_undo(const struct sl_state_maps *s, const struct sl_tables *live);
/* The same for one pair (a failed partial publication knows its pairs,
 * not the whole live policy). */
void sl_stateid_undo_ep(const struct sl_state_maps *s, const struct sl_l4addr *fe,
			const struct sl_l4addr *ep);
void sl_stateid_undo_group(const struct sl_state_maps *s, const struct sl_l4addr *fe, __u32 tag);

/* Readers. The state of a pair: 0, or -ENOENT when it has no id. REF (may
 * be NULL) gets the directory entry. */
int sl_state_ep_read(const struct sl_state_maps *s, const struct sl_l4addr *fe,
		     const struct sl_l4addr *ep, struct sl_ep_state *st, struct sl_state_ref *ref);
int sl_state_group_read(const struct sl_state_maps *s, const struct sl_l4addr *fe, __u32 tag,
			struct sl_group_state *st, struct sl_state_ref *ref);

/* How many endpoint (EP) or group pairs hold an id as part of the policy
 * (not RETIRING). */
size_t sl_stateid_assigned(const struct sl_state_maps *s, bool ep);

/* A RETIRING pair with no connection left is gone as far as readers go. */
bool sl_state_gone(const struct sl_state_ref *ref, __s64 active);

#endif
