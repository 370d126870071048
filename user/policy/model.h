/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The model of an applied policy (model.c), shared by the incremental
 * compile (incr.c): one summary per object, the object's record and parsed
 * form when they are at hand, and three indexes: identity -> object, and
 * key -> objects that provide it, key -> objects that need it.
 */
#ifndef SLUICE_POLICY_MODEL_H
#define SLUICE_POLICY_MODEL_H

#include "arena.h"
#include "internal.h"

/* A multimap from 64-bit keys to object slots, chained in one array so
 * that entries can be added and removed as objects change. */
struct kent {
	uint64_t key;
	uint32_t val;
	uint32_t next; /* entry index + 1; 0 ends the chain */
};

struct kmap {
	uint32_t *head; /* per bucket: entry index + 1 */
	size_t nb; /* buckets, a power of two */
	struct kent *e;
	size_t n, cap; /* entries in use, entries ever used (free ones chained from FREE) */
	size_t size; /* allocated */
	uint32_t free;
};

void kmap_put(struct kmap *m, uint64_t key, uint32_t val);
void kmap_del(struct kmap *m, uint64_t key, uint32_t val);
/* The first entry of KEY (index + 1, 0: none), then the next one. */
uint32_t kmap_first(const struct kmap *m, uint64_t key);
uint32_t kmap_next(const struct kmap *m, uint32_t at, uint64_t key);
void kmap_free(struct kmap *m);

struct mobj {
	struct sl_osum s;
	char *rec; /* its record, malloc'd (NULL: not at hand) */
	struct object *obj; /* parsed (NULL: not yet) */
	uint32_t rec_len;
	uint32_t acc_raw; /* what the model's totals count of it (settle()) */
	bool removed;
	bool dirty; /* the summary changed since it was added (then it is on the dirty list) */
	bool rec_dirty; /* and the record */
	uint8_t acc; /* ACC_* bits the totals count of it */
	uint32_t tag; /* the caller's (the store: bucket + 1); 0: none */
};

/* Slots with one tag: those added with it in slot order (a run), and
 * those tagged later (LATE, tag -> slot). */
struct tag_run {
	uint32_t lo, hi; /* slots lo .. hi - 1 */
};

struct sl_model {
	struct sl_compile_opts opts;
	char domain[256];
	struct mobj *v;
	size_t n, cap, live;
	struct kmap ident, prov, need;
	/* The keys of SPROV_OF slots again: the walk asks who provides a key
	 * and also needs it, or is a policy; asked of PROV, a key every Pod
	 * provides would walk every Pod. */
	struct kmap sprov;
	/* Pod slots by address (model_addr_key), built the first time a
	 * NetworkPolicy compile looks for Pods sharing an address, then kept
	 * with the slots: a kept model pays for it once, a CLI apply that
	 * compiles no NetworkPolicy never. */
	struct kmap addr;
	bool addr_built;
	/* Slots marked dirty since the last sl_model_clean(), each once: what
	 * an apply changed costs what it changed, not a pass over every slot. */
	uint32_t *dirty;
	size_t n_dirty, cap_dirty;
	/* Totals over live slots, exact once the dirty ones are settled. */
	size_t units, ing_units;
	uint64_t raw;
	struct tag_run *runs; /* by tag */
	size_t n_runs;
	struct kmap late;
	size_t untagged; /* slots with tag 0 */
	struct arena a;
	void **adopted;
	size_t n_adopted;
};

uint64_t model_ident_key(unsigned kind, const char *ns, const char *name);
bool model_sprov_of(const struct sl_osum *s);
/* An address's key: its three words mixed (a byte-wise FNV of it was
 * most of the frontend duplicate check). Two addresses with one key only
 * make more objects look related. */
uint64_t model_addr_key(const struct sl_l4addr *a);
/* The keys of Pod S's addresses (its NetworkPolicy bytes) into OUT; 0 for
 * another kind or bytes that do not decode. */
size_t model_pod_addr_keys(const struct sl_osum *s, uint64_t out[SLP_NPV_MAX_IPS]);
/* M->addr, built if it is not yet. */
void model_addr_index(struct sl_model *m);
/* The slot of (KIND, NS, NAME), or -1. */
ssize_t model_find(const struct sl_model *m, unsigned kind, const char *ns, const char *name);
/* A new slot holding S (copied; its arrays must live as long as the model). */
ssize_t model_insert(struct sl_model *m, const struct sl_osum *s);
/* Replace slot I's summary (keys re-indexed). */
void model_replace(struct sl_model *m, size_t i, const struct sl_osum *s);
void model_remove(struct sl_model *m, size_t i);
/* Slot I's summary changed (REC: and its record): marked dirty, listed. */
void model_touch(struct sl_model *m, size_t i, bool rec);

/* The summary of parsed object O with record REC (arrays in the model's
 * arena). Unit outputs (alloc, fes, ing) are left empty. */
int model_summarize(struct sl_model *m, const struct object *o, const char *rec, size_t rec_len,
		    struct sl_osum *out);
/* Unit outputs of the units of T into SUMS (indexed like T's units are
 * found by FIND: returns the summary of a unit by kind, ns, name, or NULL). */
void model_unit_outputs(struct sl_model *m, const struct sl_tables *t,
			struct sl_osum *(*find)(void *ctx, unsigned kind, const char *ns,
						const char *name),
			void *ctx);

uint64_t model_fnv64(const void *p, size_t n);

#endif
