/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Publishing compiled tables into the pinned maps, atomically.
 *
 * Policy maps (sl_services, sl_backends, sl_svc_meta, sl_ep_meta, sl_store)
 * hold two slots. An apply writes the inactive slot while the programs read
 * the active one, then flips sl_config.active_slot (and bumps the
 * generation) with one map update. A reader sees the whole old policy or the
 * whole new one. active_slot only ever holds 0 or 1, so even a torn read of
 * the 64-byte config value yields a valid slot. State that must survive
 * applies (sl_ep_state, sl_group_state) is indexed by ids that do not
 * depend on the slot (user/stateid.c).
 */
#ifndef SLUICE_PUBLISH_H
#define SLUICE_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pins.h"
#include "policy.h"

struct sl_node_report {
	size_t n_ingress, n_rings, n_cells;
	size_t n_np_pods, n_np_prefixes, n_np_portsets;
	bool np_changed; /* NetworkPolicy tables differ from what was live */
	__u64 np_revoked; /* flow admissions cleared for re-judging */
};

struct sl_publish_report {
	uint32_t generation;
	uint32_t slot;
	double write_ms; /* writing the inactive slot (policy maps) */
	double store_ms; /* compressing and writing the policy store */
	double flip_ms; /* the config update */
	double sync_ms; /* replaying the change on the other slot */
	bool incremental; /* only changed services were written */
	size_t changed; /* services written or removed */
	size_t n_services, n_backends;
	size_t store_bytes, store_raw_bytes;
	size_t stale_removed; /* state records of endpoints no longer present */
	struct sl_node_report node; /* node-ingress and NetworkPolicy tables */
};

/* The caller holds the pin-root lock. NEW is what to publish; OLD, when
 * not NULL, is what is live now (the stored policy compiled again), which
 * lets the publisher write only what changed. SRC is the serialized policy
 * that produced NEW (stored compressed so later CLIs can read it back).
 *
 * Writes go to the inactive slot, then one config update switches slots,
 * then the same changes are replayed on the other slot so the next apply
 * can again be incremental. Backend rows of a slot are placed by a bump
 * allocator (sl_config.backend_hwm); when it runs out, or when the slots are
 * not known to be equal, the slot is rewritten whole. */
int sl_publish(struct sl_maps *m, const struct sl_tables *old, const struct sl_tables *new,
	       const char *src, size_t src_len, struct sl_publish_report *r);

/* The serialized policy of the active slot (malloc'd, NUL-terminated; an
 * empty string when nothing was applied yet) and the config record. */
int sl_read_store(struct sl_maps *m, char **src, size_t *len, struct sl_config *cfg);

int sl_read_config(struct sl_maps *m, struct sl_config *cfg);

/* Compile options of this node: defaults plus the service CIDR that
 * `sluice load --svc-cidr` recorded in the config. */
void sl_node_compile_opts(const struct sl_config *cfg, struct sl_compile_opts *o);

/* Node-ingress and NetworkPolicy tables (user/publish_node.c): writes them
 * into SLOT (the inactive one) before the flip. ACTIVE is the live slot,
 * read for the current Maglev ring sizes so that they stay stable. */
int sl_publish_node(struct sl_maps *m, const struct sl_tables *t, __u32 slot, __u32 active,
		    struct sl_node_report *r);

/* Do A and B hold the same NetworkPolicy tables? (A may be NULL: no.) */
bool sl_np_same(const struct sl_tables *a, const struct sl_tables *b);

/* Helpers shared by the publishers. */
/* Every key of a map (malloc'd array of *N keys; NULL on ENOMEM). */
void *sl_map_keys(int fd, size_t key_size, size_t *n);
/* Delete every key for which MATCH(key, CTX) holds. */
int sl_clear_where(int fd, size_t key_size, bool (*match)(const void *key, const void *ctx),
		   const void *ctx);
/* Delete every key of a hash map whose __u32 at SLOT_OFF equals SLOT. */
int sl_clear_slot(int fd, size_t key_size, size_t slot_off, __u32 slot);
/* Batch update with a per-element fallback (batch ops need 5.6+). */
int sl_put_many(int fd, const void *keys, const void *vals, size_t n, size_t ksz, size_t vsz);

#endif
