// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * NetworkPolicy ids that follow what they name. netpol.c numbers sets and
 * port sets as it meets them, over the Pods in name order, so a new Pod
 * that a policy selects and that sorts first renumbered every set, and the
 * publisher wrote every prefix again (4,364 entries, 8 ms, in a store of
 * 10,000 services). Here each id becomes a hash of what makes it: a port
 * set's ranges; a set's origin, the policies whose set it is (a set was
 * named by its prefixes until 2026-12-07, so a Pod joining a set of 2,000
 * renamed it and its 2,000 prefixes were written again, 10 ms). Ids keep
 * 31 bits (bit 31 is the slot's, SL_NP_SLOT_BIT) and are never 0 (0 is
 * "none" in a pod's entry and a prefix's port set). Names whose hashes
 * collide take the next free value, in the order of (hash, name), so the
 * ids are a function of the names alone: a change moves the ids of the
 * names it adds or drops, and (rarely) of a name whose hash it collides
 * with.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ID_MAX 0x7fffffffu

struct item {
	uint32_t h; /* the content's hash: the id it wants */
	uint32_t old; /* the id netpol.c gave it */
	const void *p; /* the content */
	size_t n;
};

static uint32_t hash31(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	h ^= h >> 31;
	return (uint32_t)(h % ID_MAX) + 1;
}

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return x->n ? memcmp(x->p, y->p, x->n) : 0;
}

/* MAP[old id] = new id for the N items of V. */
static void assign(struct item *v, size_t n, uint32_t *map)
{
	size_t cap = 64, mask;
	uint32_t *used;

	while (cap < 2 * n)
		cap *= 2;
	mask = cap - 1;
	used = slp_xcalloc(cap, sizeof(*used));
	if (n)
		qsort(v, n, sizeof(*v), cmp_item);
	for (size_t i = 0; i < n; i++) {
		uint32_t id = v[i].h;
		size_t s;

		for (;;) {
			for (s = (id * 0x9e3779b1u) & mask; used[s] && used[s] != id; s = (s + 1) & mask)
				;
			if (!used[s])
				break;
			id = id == ID_MAX ? 1 : id + 1; /* taken: the next value */
		}
		used[s] = id;
		map[v[i].old] = id;
	}
	free(used);
}

static void portset_ids(struct sl_tables *t, uint32_t *map)
{
	struct item *v = slp_xcalloc(t->n_np_portsets + 1, sizeof(*v));

	for (size_t i = 0; i < t->n_np_portsets; i++) {
		const struct sl_np_ports *ps = &t->np_portsets[i].ports;

		v[i] = (struct item){ hash31(ps, sizeof(*ps)), t->np_portsets[i].id, ps, sizeof(*ps) };
	}
	assign(v, t->n_np_portsets, map);
	for (size_t i = 0; i < t->n_np_portsets; i++)
		t->np_portsets[i].id = map[t->np_portsets[i].id];
	for (size_t i = 0; i < t->n_np_prefixes; i++)
		if (t->np_prefixes[i].val.portset)
			t->np_prefixes[i].val.portset = map[t->np_prefixes[i].val.portset];
	free(v);
}

/* A set is named by its origin, the policies whose set it is (netpol.c),
 * so that a Pod joining or leaving it keeps its id and the publisher
 * writes that Pod's prefix alone. A set without one (none is made so) is
 * named by its rows (netpol.c emits them together), compared with their
 * set field cleared. */
static void set_ids(struct sl_tables *t, const struct slp_np_origin *origin, size_t n_sets)
{
	size_t *first = slp_xcalloc(n_sets + 1, sizeof(*first));
	size_t *count = slp_xcalloc(n_sets + 1, sizeof(*count));
	uint32_t *of = slp_xcalloc(t->n_np_prefixes + 1, sizeof(*of));
	uint32_t *map = slp_xcalloc(n_sets + 1, sizeof(*map));
	struct item *v = slp_xcalloc(n_sets + 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < t->n_np_prefixes; i++) {
		uint32_t k = t->np_prefixes[i].key.set;

		if (!count[k]++)
			first[k] = i;
		of[i] = k;
		t->np_prefixes[i].key.set = 0;
	}
	for (size_t k = 1; k <= n_sets; k++) {
		const void *p = count[k] ? (const void *)&t->np_prefixes[first[k]] : (const void *)t;
		size_t len = count[k] * sizeof(t->np_prefixes[0]);

		if (origin && origin[k - 1].p) {
			p = origin[k - 1].p;
			len = origin[k - 1].n;
		}
		v[n++] = (struct item){ hash31(p, len), (uint32_t)k, p, len };
	}
	assign(v, n, map);
	for (size_t i = 0; i < t->n_np_prefixes; i++)
		t->np_prefixes[i].key.set = map[of[i]];
	for (size_t i = 0; i < t->n_np_pods; i++) {
		struct sl_np_pod_val *pv = &t->np_pods[i].val;

		pv->ingress_set = pv->ingress_set ? map[pv->ingress_set] : 0;
		pv->egress_set = pv->egress_set ? map[pv->egress_set] : 0;
	}
	free(first);
	free(count);
	free(of);
	free(map);
	free(v);
}

void slp_np_ids(struct sl_tables *t, const struct slp_np_origin *origin, size_t n_sets)
{
	uint32_t *map = slp_xcalloc(t->n_np_portsets + 1, sizeof(*map));

	portset_ids(t, map);
	set_ids(t, origin, n_sets);
	free(map);
}
