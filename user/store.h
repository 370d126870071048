/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The policy store (sl_store): the applied policy, in SL_STORE_CHUNK-byte
 * chunks keyed (slot, chunk). Each slot holds at most half of the map:
 * SL_STORE_SLOT_BYTES. Its format (2: summaries and records per object,
 * see storefmt.h; 1, before issue 10: the serialized policy as one zlib
 * stream) is read here for everything that wants the policy as text.
 * sl_config says how many chunks and bytes the active slot holds.
 *
 * The store is what every CLI reads back to know what is live; the
 * publisher writes it into the inactive slot before the switch (and copies
 * it to the other slot afterwards), so the store of the active slot always
 * describes the active policy tables.
 */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "pins.h"
#include "policy.h"

#define SL_STORE_SLOT_BYTES ((size_t)SL_MAX_STORE_CHUNKS / 2 * SL_STORE_CHUNK)

/* Every chunk of slot FROM's store (any format) copied into slot TO, whose
 * other chunks are deleted. */
int sl_store_copy_slot(struct sl_maps *m, __u32 from, __u32 to);

int sl_read_config(struct sl_maps *m, struct sl_config *cfg);

/* The serialized policy of the active slot (malloc'd, NUL-terminated; an
 * empty string when nothing was applied yet) and the config record it
 * belongs to. Needs no lock: a read that races with a switch is retried. */
int sl_read_store(struct sl_maps *m, char **src, size_t *len, struct sl_config *cfg);

/* The serialized policy held by SLOT, whatever sl_config says: chunks are
 * read until the zlib stream ends. -ENOENT: the slot holds no store;
 * -EBADMSG: it holds a broken one (an interrupted write). */
int sl_store_read_slot(struct sl_maps *m, __u32 slot, char **src, size_t *len);

/* Compile options of this node: defaults plus the service CIDR that
 * `sluice load --svc-cidr` recorded in the config. */
void sl_node_compile_opts(const struct sl_config *cfg, struct sl_compile_opts *o);

/* The stored policy, loaded into P (a new policy) and compiled into T with
 * this node's options. CFG gets the config record the store belongs to;
 * SRC, when not NULL, the serialized policy (malloc'd). -EBADMSG when the
 * stored policy does not load or compile. */
int sl_store_compile(struct sl_maps *m, struct sl_config *cfg, struct sl_policy **p,
		     struct sl_tables *t, char **src, size_t *len);

#endif
