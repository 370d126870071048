/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Publishing compiled tables into the pinned maps, atomically and crash
 * consistently (the protocol: docs/APPLY.md).
 *
 * Policy maps (sl_services, sl_backends, sl_store, the node-ingress and
 * NetworkPolicy tables) hold two slots; the names (sl_svc_meta,
 * sl_ep_meta) one set for both (names.h). An apply writes the inactive
 * slot while the programs read the active one, then flips
 * sl_config.active_slot, then bumps the generation (readers check it,
 * docs/KERNEL.md). A reader sees the whole old policy or the whole new one.
 * active_slot only ever holds 0 or 1, so even a torn read of the config
 * value yields a valid slot.
 *
 * sl_config.synced_gen == generation says "the inactive slot equals the
 * active one". It is cleared before the inactive slot is touched and set
 * again only when both slots hold the new policy, so a process killed at
 * any point leaves either a slot known to be whole or one known to be
 * unsynced, which the next apply (or sl_publish_repair) rewrites whole.
 *
 * State that must survive applies (sl_ep_state, sl_group_state) is indexed
 * by ids that do not depend on the slot (user/stateid.c); ids of endpoints
 * and groups that left the policy are freed once no connection holds them.
 */
#ifndef SLUICE_PUBLISH_H
#define SLUICE_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mapio.h"
#include "pins.h"
#include "policy.h"
#include "store.h"
#include "storefmt.h"

struct sl_node_report {
	size_t n_ingress; /* node-ingress frontends of the policy */
	size_t n_rings, n_cells; /* Maglev rings and cells written */
	size_t ingress_writes; /* frontend entries written or deleted (difference) */
	size_t port_words; /* port-bitmap words written */
	size_t n_np_pods, n_np_prefixes, n_np_portsets; /* of the policy */
	size_t np_writes; /* NetworkPolicy entries written or deleted */
	bool whole_ingress; /* frontends and rings rewritten whole */
	bool np_changed; /* NetworkPolicy tables differ from what was live */
	__u64 np_revoked; /* flow admissions cleared for re-judging */
};

struct sl_publish_report {
	uint32_t generation;
	uint32_t slot;
	double write_ms; /* writing the inactive slot (policy maps) */
	double store_ms; /* writing the policy store */
	double flip_ms; /* the config update */
	double sync_ms; /* replaying the change on the other slot */
	bool incremental; /* only changed services were written */
	size_t changed; /* services written or removed */
	size_t n_services, n_backends;
	size_t store_bytes, store_raw_bytes;
	size_t stale_removed; /* state records of endpoints and groups no longer present */
	unsigned long writes; /* map writes of the whole publication (user/mapio.c) */
	bool replay_deferred; /* the other slot needs a whole write: left unsynced */
	int sockops; /* under --sockops auto: 1 attached, -1 detached, 0 as it was */
	__u32 sockops_late; /* handed-off connections still connecting at the detach */
	struct sl_node_report node; /* node-ingress and NetworkPolicy tables */
};

/* What to publish. The caller holds the pin-root lock. NEW is the policy
 * to publish; OLD, when not NULL, is what is live now (the stored policy
 * compiled again), which lets the publisher write only what changed.
 * STORE is the store's write for the new policy (sls_fits() must hold).
 *
 * PARTIAL: OLD and NEW hold only the services an incremental compile
 * recompiled (sl_incr_compile), and their NetworkPolicy tables only when
 * NP; OLD_PORTS and NEW_PORTS are the port bitmaps (sl_fe_port_bitmap) of
 * the whole old and new policies.
 *
 * ROOT, when set, is the pin root: under `--sockops auto` the publisher
 * attaches sockops before a switch to a policy that hands off and
 * detaches it after one to a policy that does not (sockops_link.h). */
struct sl_pub {
	const struct sl_tables *old, *new;
	const char *root;
	const struct sls_write *store;
	/* When set, STORE is still being made: called (it waits) before STORE
	 * is first read, its error fails the publication before the switch. */
	int (*store_wait)(void *arg);
	void *store_arg;
	bool partial, np;
	const __u64 *old_ports, *new_ports;
};

/* Returns 0; -EINVAL when a map turned out to be full (D names the map,
 * the sizes and the services; nothing live changed); -EAGAIN (partial
 * only) when the publication needs every service: nothing live changed,
 * the caller publishes whole; another -errno on a system failure (nothing
 * live changed unless r->generation is set). */
int sl_publish(struct sl_maps *m, const struct sl_pub *pub, struct sl_diags *d,
	       struct sl_publish_report *r);

/* Would NEW fit in the maps next to OLD (what is live)? Checks every
 * policy map from counts, before anything is written; STATE_WALK also
 * counts the state maps (a key walk: sl_ep_state, sl_group_state), which
 * `--dry-run` and whole-slot publications do. Adds one error per full map
 * to D (the map, the entries needed and free, and the services that need
 * them) and returns -EINVAL, else 0. */
int sl_publish_check(struct sl_maps *m, const struct sl_tables *old, const struct sl_tables *new,
		     bool state_walk, struct sl_diags *d);

/* Does the inactive slot equal the active one? False after an apply that
 * was interrupted (killed, or failed) before it finished. */
bool sl_slots_synced(const struct sl_config *cfg);

/* Bring the inactive slot back to the active policy after an interrupted
 * apply: compile the store of the active slot, rewrite the inactive slot
 * whole from it, remove state records nothing owns. The caller holds the
 * pin-root lock. Returns 1 when it repaired something, 0 when the slots
 * were in sync, or -errno. `sluice load` calls it after loading; the agent
 * and `sluice status` through sl_repair() (apply.h). SWEEP: in sync, free
 * the state ids due (sl_stateid_sweep_due: a walk of both directories,
 * tens of ms at 10,000 services). */
int sl_publish_repair(struct sl_maps *m, bool sweep);

/* ---- between the publisher's own files --------------------------------- */

/* What a node-table write of a slot starts from (user/publish_node.c). */
struct sl_node_change {
	const struct sl_tables *old; /* what the slot holds; NULL: unknown, write whole */
	const struct sl_tables *new;
	/* OLD and NEW hold some services only (see struct sl_pub): a change
	 * that moves the ring layout is -EAGAIN, the port bitmaps come from
	 * OLD_PORTS and NEW_PORTS, and the NetworkPolicy tables are written
	 * only when NP. */
	bool partial, np;
	const __u64 *old_ports, *new_ports;
	/* Cluster frontends whose entry or rows the service write of the slot
	 * changed, sorted: their rings are rebuilt. */
	const struct sl_l4addr *moved;
	size_t n_moved;
};

/* Node-ingress and NetworkPolicy tables: turns SLOT into CH->new, as a
 * difference from CH->old or whole. LIVE is the slot whose Maglev ring
 * sizes are kept (the active one), so sizes stay stable across applies and
 * equal in both slots. Fills R. */
int sl_publish_node(struct sl_maps *m, const struct sl_node_change *ch, __u32 slot, __u32 live,
		    struct sl_node_report *r);

/* Would sl_publish_node() write CH into SLOT as a difference? -EAGAIN when
 * the ring layout would change (a ring that comes, goes or resizes),
 * checked before anything is written. */
int sl_publish_node_check(struct sl_maps *m, const struct sl_node_change *ch, __u32 slot,
			  __u32 live);

/* The NetworkPolicy part (user/publish_np.c): nothing when OLD (what SLOT
 * holds; NULL: unknown) has the same tables, else the difference (OLD
 * NULL: the slot's entries cleared, then NEW written). */
int sl_publish_np(struct sl_maps *m, const struct sl_tables *old, const struct sl_tables *new,
		  __u32 slot, struct sl_node_report *r);

/* Maglev cells T's rings need, with the ring sizes of slot LIVE kept. */
size_t sl_ring_cells(struct sl_maps *m, const struct sl_tables *t, __u32 live);

/* Maglev entries of service S of T, whose group G's rows start at row
 * FIRST[G] of a slot (EPS has room for SL_MAX_GROUPS *
 * SL_MAX_GROUP_BACKENDS). 0 for a service XDP does not balance. */
struct sl_maglev_ep;
size_t sl_ring_eps(const struct sl_tables *t, size_t s, const __u32 *first,
		   struct sl_maglev_ep *eps);

/* The port bitmap of T's node-ingress frontends, as slot 0 of sl_fe_ports
 * holds it. */
void sl_fe_port_bitmap(const struct sl_tables *t, __u64 words[2 * SL_FE_PORT_WORDS]);

/* Do A and B hold the same NetworkPolicy tables? (A may be NULL: no.) */
bool sl_np_same(const struct sl_tables *a, const struct sl_tables *b);

/* Endpoint and group state (user/publish_state.c). */
/* Retire the state ids of the pairs of service OI of OLD that service NI
 * of NEW (-1: none, the service is gone) no longer has. Adds the endpoint
 * pairs to *REMOVED. */
void sl_state_reap_svc(struct sl_maps *m, const struct sl_tables *old, size_t oi,
		       const struct sl_tables *new, ssize_t ni, size_t *removed);
/* Free at once the ids a failed partial write gave to the pairs of
 * service NI of NEW that service OI of OLD (-1: none) does not hold. */
void sl_state_undo_svc(struct sl_maps *m, const struct sl_tables *new, size_t ni,
		       const struct sl_tables *old, ssize_t oi);
/* Retire every pair T (NULL: none) does not own and free the ids of those
 * idle past the grace (a walk of the directories). */
int sl_state_reap_all(struct sl_maps *m, const struct sl_tables *t, size_t *removed);
/* Free the ids a failed write gave to pairs LIVE (NULL: none) does not
 * hold. */
void sl_state_undo(struct sl_maps *m, const struct sl_tables *live);
/* The state-map part of sl_publish_check(). */
int sl_state_check(struct sl_maps *m, const struct sl_tables *old, const struct sl_tables *new,
		   struct sl_diags *d);

/* "Service ns/a, Service ns/b and 3 more" for the services I[0..N) of T. */
void sl_fmt_services(const struct sl_tables *t, const size_t *idx, size_t n, char *buf,
		     size_t len);

#endif
