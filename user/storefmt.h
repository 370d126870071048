/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The policy store's format 2 (docs/APPLY.md, "The policy store"): per
 * object, a summary (struct sl_osum) and the object's record, so that an
 * apply reads the summaries of the whole policy, parses only the objects a
 * change touches, and writes only the chunks that change.
 *
 * A slot's store is chunks {slot, 0 .. SLS_CHUNKS-1} of sl_store. Chunk 0
 * is the directory. Objects are spread over N buckets by a hash of their
 * identity; bucket b has two streams: the summaries of its objects
 * (binary, uncompressed: every apply reads them all) and their records
 * (zlib: read when an object must be parsed). A stream of at most one
 * chunk is an extent inside a chunk shared with others; a longer one owns
 * whole chunks. A change rewrites the streams of the buckets it touches,
 * the chunks they live in, and the directory.
 *
 * Format 1 (before issue 10) was the whole serialized policy as one zlib
 * stream from chunk 0. A directory starts with SLS_MAGIC, which a zlib
 * stream cannot (its first byte is 0x78), so the reader tells them apart;
 * format 1 is read through the whole compile, and the next apply writes
 * format 2.
 */
#ifndef SLUICE_STOREFMT_H
#define SLUICE_STOREFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pins.h"
#include "policy.h"

#define SLS_MAGIC 0x32534c53u /* "SLS2" in memory order */
#define SLS_VERSION 1u
/* Bumped when user/policy/keys.c gives an object other keys, or a
 * summary holds other facts. 2: policies with a selector provide
 * polsel:K=V, not pol:NS. 3: a Pod provides netpol-pod, not netpol, and
 * its summary holds its NetworkPolicy bytes (user/policy/netpod.c). 4:
 * NetworkPolicy set ids follow the policies that make a set, not its
 * prefixes (user/policy/npids.c): the live tables are in the old ids, and
 * an incremental apply writes the difference from the old state's tables
 * as it compiles them now, so the first apply after an upgrade must be
 * whole. */
#define SLS_KEYS_VERSION 4u
#define SLS_CHUNKS (SL_MAX_STORE_CHUNKS / 2) /* per slot, the directory included */
#define SLS_MAX_BUCKETS 512u

/* Where one stream lives. */
struct sls_stream {
	uint32_t len; /* stored bytes */
	uint32_t raw_len; /* bytes once inflated (records); = len for summaries */
	uint16_t chunk; /* extent: its chunk; else first index into the chunk list */
	uint16_t n_chunks; /* 0: an extent at OFF in CHUNK; else whole chunks */
	uint32_t off;
};

struct sls_dir_hdr {
	uint32_t magic; /* SLS_MAGIC */
	uint32_t version; /* SLS_VERSION */
	uint32_t n_objects;
	uint32_t n_buckets; /* a power of two; 2 * n_buckets streams follow */
	uint32_t n_list; /* chunk numbers in the list after the streams */
	uint32_t chunks_used; /* the directory included */
	uint64_t raw_bytes; /* the serialized policy (every record) */
	uint64_t stored_bytes; /* every stream */
	uint64_t opts_hash; /* compile options the summaries were made with */
	uint32_t n_svcs, n_backends, n_ingress; /* of the policy, for the next apply's limits */
	uint32_t pad;
};

/* A directory, decoded. Streams: summaries of bucket b at 2b, records at
 * 2b + 1. */
struct sls_dir {
	struct sls_dir_hdr h;
	struct sls_stream *s;
	uint16_t *list;
};

/* What one publication writes into a slot's store. */
struct sls_write {
	bool whole; /* every other chunk of the slot is deleted */
	uint32_t n_img;
	uint16_t *img_chunk; /* chunk numbers of IMG */
	unsigned char **img; /* SL_STORE_CHUNK bytes each; [0] is the directory */
	uint32_t n_del;
	uint16_t *del; /* chunks that are no longer used */
	uint64_t raw_bytes, stored_bytes;
	uint32_t chunks_used;
};

/* A slot's store opened for reading: its directory and the chunks read so
 * far. V2 false: the slot holds format 1 (or nothing: EMPTY). */
struct sls_view {
	struct sl_maps *m;
	uint32_t slot;
	bool v2, empty;
	struct sls_dir dir;
	unsigned char *chunk[SLS_CHUNKS];
	bool lent[SLS_CHUNKS]; /* the chunk's image belongs to a model now */
	char **inflated; /* per bucket: its records, inflated (NULL: not yet) */
	size_t *inflated_len;
};

uint64_t sls_opts_hash(const struct sl_compile_opts *o);

int sls_open(struct sl_maps *m, uint32_t slot, struct sls_view *v);
void sls_close(struct sls_view *v);
/* Every summary of a format-2 store into MODEL. LEND: the summaries are
 * decoded where they are, in the view's chunk images, which then belong
 * to MODEL (an apply that reads the model once); else MODEL gets copies
 * (a model kept across applies, sls_view_follow). */
int sls_load_model(struct sls_view *v, struct sl_model *model, bool lend);
/* After W was written into a slot that V's store equals: V now reads what
 * W wrote (its directory and chunk images), without reading the map. */
int sls_view_follow(struct sls_view *v, const struct sls_write *w);
/* One stored object's record (sl_incr_in.fetch; CTX is the view). */
int sls_fetch(void *ctx, const struct sl_osum *s, char **rec, size_t *len);
/* The serialized policy of a format-2 store: every record in identity
 * order, as sl_policy_serialize() gives it (malloc'd, NUL-terminated). */
int sls_serialize(struct sls_view *v, char **src, size_t *len);

/* The write that makes the store of V's slot hold MODEL's policy: the
 * buckets of MODEL's dirty objects only (V must be format 2 and the slot
 * synced). Tags MODEL's objects with their buckets (sl_model_tag), so a
 * kept model does not hash every identity again on its next apply. */
int sls_delta(struct sls_view *v, struct sl_model *model, const uint32_t counts[3],
	      struct sls_write *w);
/* The whole store of MODEL, whose records must all be at hand. */
int sls_whole(const struct sl_model *model, const uint32_t counts[3], struct sls_write *w);
/* Apply W to SLOT (deletions first) and record its sizes in CFG. */
int sls_apply(struct sl_maps *m, uint32_t slot, const struct sls_write *w, struct sl_config *cfg);
void sls_write_free(struct sls_write *w);
/* Does W fit in one slot? */
bool sls_fits(const struct sls_write *w);
/* Would sls_whole() of MODEL fit in one slot whatever zlib makes of its
 * records (incompressible data: compressBound)? Then an apply may start
 * writing the slot before the store is encoded. */
bool sls_whole_surely_fits(const struct sl_model *model);

#endif
