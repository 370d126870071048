/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The policy store (sl_store): the applied policy as serialized YAML,
 * zlib-compressed, cut into SL_STORE_CHUNK-byte chunks keyed (slot, chunk).
 * Each slot holds at most half of the map: SL_STORE_SLOT_BYTES compressed.
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

/* A compressed policy, ready to write. */
struct sl_store_blob {
	unsigned char *data;
	size_t len; /* compressed bytes */
	size_t raw_len; /* serialized YAML bytes */
	__u32 chunks;
};

/* Compress SRC. Returns 0, -ENOMEM or -EIO. Does not check the limit. */
int sl_store_pack(const char *src, size_t len, struct sl_store_blob *b);
void sl_store_blob_free(struct sl_store_blob *b);
/* Does B fit in one slot of the store? */
bool sl_store_fits(const struct sl_store_blob *b);

/* Write B into SLOT (chunks past its end are deleted) and record its sizes
 * in CFG (the caller writes CFG when it switches to SLOT). */
int sl_store_write(struct sl_maps *m, __u32 slot, const struct sl_store_blob *b,
		   struct sl_config *cfg);

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
