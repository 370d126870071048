// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Publishing the NetworkPolicy tables (sl_np_pods, sl_np_prefixes,
 * sl_np_ports) into one slot, as the rest of the node tables
 * (user/publish_node.c): whole (the slot's entries are cleared first), or
 * as a difference against what the slot holds (the compiled tables of the
 * live policy, when the slot is known to equal it).
 *
 * Each table is turned into the rows the slot holds (ids with the slot's
 * bit, see SL_NP_SLOT_BIT), sorted by key; two such row sets merge into
 * the deletions and updates that turn one into the other. Removals come
 * first, so a slot never holds more than the larger of the two policies.
 * Nothing reads the inactive slot, so the order between the three maps
 * does not matter to readers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "publish.h"

static __u32 with_slot(__u32 id, __u32 slot)
{
	return id ? (slot ? id | SL_NP_SLOT_BIT : id) : 0;
}

/* One table as the slot holds it: N rows of KSZ + VSZ bytes, sorted by key. */
struct np_rows {
	char *v;
	size_t n, ksz, vsz;
};

static int cmp_key(const void *a, const void *b, void *ksz)
{
	return memcmp(a, b, *(size_t *)ksz);
}

static int rows_alloc(struct np_rows *r, size_t n, size_t ksz, size_t vsz)
{
	r->n = n;
	r->ksz = ksz;
	r->vsz = vsz;
	r->v = calloc(n ? n : 1, ksz + vsz);
	return r->v ? 0 : -ENOMEM;
}

static char *row(const struct np_rows *r, size_t i)
{
	return r->v + i * (r->ksz + r->vsz);
}

/* The compiler writes its tables in key order (netpol.c, np_sort) and a
 * slot's bit keeps that order (it sets the top bit of nonzero ids, which
 * are below it): then one look says so, where four sorts of every row
 * were a tenth of a Pod change's apply. */
static void rows_sort(struct np_rows *r)
{
	size_t i = 1;

	while (i < r->n && cmp_key(row(r, i - 1), row(r, i), &r->ksz) <= 0)
		i++;
	if (i < r->n)
		qsort_r(r->v, r->n, r->ksz + r->vsz, cmp_key, &r->ksz);
}

static int pod_rows(const struct sl_tables *t, __u32 slot, struct np_rows *r)
{
	int err = rows_alloc(r, t ? t->n_np_pods : 0, sizeof(struct sl_np_pod_key),
			     sizeof(struct sl_np_pod_val));

	for (size_t i = 0; !err && i < r->n; i++) {
		struct sl_np_pod_key k = t->np_pods[i].key;
		struct sl_np_pod_val v = {
			.ingress_set = with_slot(t->np_pods[i].val.ingress_set, slot),
			.egress_set = with_slot(t->np_pods[i].val.egress_set, slot),
		};

		k.slot = slot;
		memcpy(row(r, i), &k, sizeof(k));
		memcpy(row(r, i) + sizeof(k), &v, sizeof(v));
	}
	return err;
}

static int prefix_rows(const struct sl_tables *t, __u32 slot, struct np_rows *r)
{
	int err = rows_alloc(r, t ? t->n_np_prefixes : 0, sizeof(struct sl_np_lpm_key),
			     sizeof(struct sl_np_lpm_val));

	for (size_t i = 0; !err && i < r->n; i++) {
		struct sl_np_lpm_key k = t->np_prefixes[i].key;
		struct sl_np_lpm_val v = { .portset = with_slot(t->np_prefixes[i].val.portset, slot) };

		k.set = with_slot(k.set, slot);
		memcpy(row(r, i), &k, sizeof(k));
		memcpy(row(r, i) + sizeof(k), &v, sizeof(v));
	}
	return err;
}

static int portset_rows(const struct sl_tables *t, __u32 slot, struct np_rows *r)
{
	int err = rows_alloc(r, t ? t->n_np_portsets : 0, sizeof(__u32),
			     sizeof(struct sl_np_ports));

	for (size_t i = 0; !err && i < r->n; i++) {
		__u32 id = with_slot(t->np_portsets[i].id, slot);

		memcpy(row(r, i), &id, sizeof(id));
		memcpy(row(r, i) + sizeof(id), &t->np_portsets[i].ports, sizeof(struct sl_np_ports));
	}
	return err;
}

/* ---- writing ------------------------------------------------------------ */

/* Ids carry the slot in bit 31 (see the ABI). */
struct np_id_field {
	size_t off; /* of the key's __u32 set or port-set id */
	__u32 slot;
};

static bool np_id_in_slot(const void *key, const void *ctx)
{
	const struct np_id_field *f = ctx;
	__u32 id;

	memcpy(&id, (const char *)key + f->off, sizeof(id));
	return !!(id & SL_NP_SLOT_BIT) == !!f->slot;
}

/* Every entry of SLOT in the map behind FD (a key walk). */
static int clear_table(int fd, size_t ksz, size_t id_off, bool slot_field, __u32 slot)
{
	struct np_id_field f = { id_off, slot };

	if (slot_field)
		return sl_clear_slot(fd, ksz, id_off, slot);
	return sl_clear_where(fd, ksz, np_id_in_slot, &f);
}

/* Turn the slot's rows OLD into NEW (OLD NULL: the slot holds none of
 * NEW's keys, after a clear). One update per row that is new or differs
 * (LPM tries have no batch update), one delete per row that went. */
static int write_diff(int fd, const struct np_rows *old, const struct np_rows *new, size_t *n)
{
	size_t i = 0, j = 0, on = old ? old->n : 0;
	int err = 0;

	for (; !err && i < on; i++) {
		while (j < new->n && memcmp(row(new, j), row(old, i), new->ksz) < 0)
			j++;
		if (j == new->n || memcmp(row(new, j), row(old, i), new->ksz)) {
			err = sl_map_del(fd, row(old, i));
			(*n)++;
		}
	}
	for (i = j = 0; !err && j < new->n; j++) {
		int c = 1;

		while (i < on && (c = memcmp(row(old, i), row(new, j), new->ksz)) < 0)
			i++;
		if (i < on && !c && !memcmp(row(old, i) + old->ksz, row(new, j) + new->ksz, new->vsz))
			continue;
		err = sl_map_put(fd, row(new, j), row(new, j) + new->ksz, BPF_ANY);
		(*n)++;
	}
	return err;
}

static const struct {
	enum sl_map_id map;
	int (*rows)(const struct sl_tables *t, __u32 slot, struct np_rows *r);
	size_t id_off; /* of the slot field, or of the id that carries the slot bit */
	bool slot_field;
} tables[] = {
	/* Port sets and prefixes before the pods that point at them. */
	{ SL_MAP_NP_PORTS, portset_rows, 0, false },
	{ SL_MAP_NP_PREFIXES, prefix_rows, offsetof(struct sl_np_lpm_key, set), false },
	{ SL_MAP_NP_PODS, pod_rows, offsetof(struct sl_np_pod_key, slot), true },
};

int sl_publish_np(struct sl_maps *m, const struct sl_tables *old, const struct sl_tables *new,
		  __u32 slot, struct sl_node_report *r)
{
	int err = 0;

	r->n_np_pods = new->n_np_pods;
	r->n_np_prefixes = new->n_np_prefixes;
	r->n_np_portsets = new->n_np_portsets;
	if (old && sl_np_same(old, new))
		return 0;
	for (size_t k = 0; !err && k < sizeof(tables) / sizeof(tables[0]); k++) {
		struct np_rows o = { 0 }, n = { 0 };
		int fd = m->fd[tables[k].map];

		err = tables[k].rows(new, slot, &n);
		if (!err && old)
			err = tables[k].rows(old, slot, &o);
		else if (!err)
			err = clear_table(fd, n.ksz, tables[k].id_off, tables[k].slot_field, slot);
		rows_sort(&o);
		rows_sort(&n);
		if (!err)
			err = write_diff(fd, old ? &o : NULL, &n, &r->np_writes);
		free(o.v);
		free(n.v);
	}
	return err;
}

static bool same_rows(const void *a, size_t na, const void *b, size_t nb, size_t sz)
{
	return na == nb && (!na || !memcmp(a, b, na * sz));
}

bool sl_np_same(const struct sl_tables *a, const struct sl_tables *b)
{
	return a && same_rows(a->np_pods, a->n_np_pods, b->np_pods, b->n_np_pods,
			      sizeof(*a->np_pods)) &&
	       same_rows(a->np_prefixes, a->n_np_prefixes, b->np_prefixes, b->n_np_prefixes,
			 sizeof(*a->np_prefixes)) &&
	       same_rows(a->np_portsets, a->n_np_portsets, b->np_portsets, b->n_np_portsets,
			 sizeof(*a->np_portsets));
}
