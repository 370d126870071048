// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Canonical slot dumps (see slotdump.h). A dump is built in two steps: the
 * slot (or the compiled tables) is read into one in-memory form, struct dp,
 * that keeps only what a reader of the slot can observe; then that form is
 * sorted and printed. Both sources share the second step, so "the slot
 * equals the tables" is a byte comparison.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "json.h"
#include "maglev.h"
#include "names.h"
#include "publish.h"
#include "svctab.h"
#include "slotdump.h"
#include "util.h"

struct dp_svc {
	struct sl_l4addr fe;
	struct sl_svc_val val; /* groups[].first as the slot places rows */
	struct sl_backend *rows; /* group by group, count rows each */
	bool *missing; /* per row: not readable from the slot */
	size_t n_rows;
};

struct dp_name {
	struct sl_meta_key key;
	struct sl_ep_meta v; /* a service name uses the first two fields */
};

struct dp_cell {
	struct sl_l4addr ep;
	__u32 group;
	__u32 n;
};

struct dp_ing {
	struct sl_l4addr fe;
	struct sl_ingress_val val;
	__u64 digest; /* FNV-1a 64 of every cell's (group, endpoint), in ring order */
	struct dp_cell *cells; /* distinct (endpoint, group) with their cell counts */
	size_t n_cells, bad_cells; /* cells that point at no row of the service */
};

struct dp_np_pod {
	struct sl_np_pod_key key; /* slot 0 */
	struct sl_np_pod_val val; /* ids without the slot bit */
	bool wrong_slot; /* an id carried the other slot's bit */
};

struct dp_np_prefix {
	struct sl_np_lpm_key key; /* set without the slot bit */
	struct sl_np_lpm_val val;
};

struct dp {
	struct dp_svc *svcs;
	size_t n_svcs;
	struct dp_name *snames, *enames;
	size_t n_snames, n_enames;
	struct dp_ing *ings;
	size_t n_ings;
	__u64 ports[2 * SL_FE_PORT_WORDS];
	struct dp_np_pod *pods;
	size_t n_pods;
	struct dp_np_prefix *prefixes;
	size_t n_prefixes;
	struct sl_table_np_portset *portsets; /* ids without the slot bit */
	size_t n_portsets;
	char store[96]; /* JSON value of "store" */
};

static void dp_free(struct dp *d)
{
	for (size_t i = 0; i < d->n_svcs; i++) {
		free(d->svcs[i].rows);
		free(d->svcs[i].missing);
	}
	for (size_t i = 0; i < d->n_ings; i++)
		free(d->ings[i].cells);
	free(d->svcs);
	free(d->snames);
	free(d->enames);
	free(d->ings);
	free(d->pods);
	free(d->prefixes);
	free(d->portsets);
}

static __u64 fnv64(__u64 h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return h;
}

#define FNV64_INIT 0xcbf29ce484222325ull

/* A slot without store chunks holds the empty policy (nothing was applied
 * yet), as sl_read_store() says. */
static void store_json(struct dp *d, const char *src, size_t len, int err)
{
	if (err == -ENOENT)
		store_json(d, "", 0, 0);
	else if (err)
		snprintf(d->store, sizeof(d->store), "{\"error\":\"unreadable\"}");
	else
		snprintf(d->store, sizeof(d->store), "{\"bytes\":%zu,\"digest\":\"%016llx\"}", len,
			 (unsigned long long)fnv64(FNV64_INIT, src, len));
}

static struct sl_l4addr zero_addr;

/* ---- rings ------------------------------------------------------------ */

static int cmp_svc(const void *a, const void *b)
{
	return memcmp(&((const struct dp_svc *)a)->fe, &((const struct dp_svc *)b)->fe,
		      sizeof(struct sl_l4addr));
}

static const struct dp_svc *find_svc(const struct dp *d, const struct sl_l4addr *fe)
{
	struct dp_svc probe = { .fe = *fe };

	return bsearch(&probe, d->svcs, d->n_svcs, sizeof(probe), cmp_svc);
}

/* The endpoint a cell (row | group << 24) names, via the service's groups
 * as the slot places them. */
static const struct sl_l4addr *cell_ep(const struct dp_svc *s, __u32 cell)
{
	__u32 g = cell >> SL_MAGLEV_GROUP_SHIFT, row = cell & SL_MAGLEV_ROW_MASK;
	size_t base = 0;

	if (!s || g >= s->val.n_groups || g >= SL_MAX_GROUPS)
		return NULL;
	for (__u32 h = 0; h < g; h++)
		base += s->val.groups[h].count;
	if (row < s->val.groups[g].first || row - s->val.groups[g].first >= s->val.groups[g].count)
		return NULL;
	base += row - s->val.groups[g].first;
	return base < s->n_rows && !s->missing[base] ? &s->rows[base].ep : NULL;
}

static int cmp_cell(const void *a, const void *b)
{
	const struct dp_cell *x = a, *y = b;
	int r = memcmp(&x->ep, &y->ep, sizeof(x->ep));

	return r ? r : (x->group > y->group) - (x->group < y->group);
}

/* Canonical form of a ring: its digest and per-endpoint cell counts.
 * Call after d->svcs is sorted. */
static int ring_canon(const struct dp *d, struct dp_ing *in, const __u32 *cells, __u32 size)
{
	const struct dp_svc *s = find_svc(d, &in->val.svc);
	size_t n = 0;

	in->digest = FNV64_INIT;
	in->cells = calloc(size ? size : 1, sizeof(*in->cells));
	if (!in->cells)
		return -ENOMEM;
	for (__u32 i = 0; i < size; i++) {
		const struct sl_l4addr *ep = cell_ep(s, cells[i]);
		__u32 g = cells[i] >> SL_MAGLEV_GROUP_SHIFT;

		in->digest = fnv64(in->digest, &g, sizeof(g));
		in->digest = fnv64(in->digest, ep ? ep : &zero_addr, sizeof(*ep));
		if (!ep) {
			in->bad_cells++;
			continue;
		}
		in->cells[n++] = (struct dp_cell){ *ep, g, 1 };
	}
	qsort(in->cells, n, sizeof(*in->cells), cmp_cell);
	for (size_t i = 0; i < n; i++) {
		if (in->n_cells && !cmp_cell(&in->cells[in->n_cells - 1], &in->cells[i]))
			in->cells[in->n_cells - 1].n++;
		else
			in->cells[in->n_cells++] = in->cells[i];
	}
	return 0;
}

/* ---- from a slot ------------------------------------------------------ */

static int read_rows(struct sl_maps *m, __u32 slot, struct dp_svc *s)
{
	size_t n = 0;

	for (unsigned g = 0; g < s->val.n_groups && g < SL_MAX_GROUPS; g++)
		n += s->val.groups[g].count;
	s->rows = calloc(n ? n : 1, sizeof(*s->rows));
	s->missing = calloc(n ? n : 1, sizeof(*s->missing));
	if (!s->rows || !s->missing)
		return -ENOMEM;
	for (unsigned g = 0; g < s->val.n_groups && g < SL_MAX_GROUPS; g++) {
		for (__u32 i = 0; i < s->val.groups[g].count; i++, s->n_rows++) {
			__u64 row = (__u64)s->val.groups[g].first + i;
			__u32 key = slot * SL_MAX_BACKENDS + (__u32)row;

			s->missing[s->n_rows] = row >= SL_MAX_BACKENDS ||
				bpf_map_lookup_elem(m->fd[SL_MAP_BACKENDS], &key, &s->rows[s->n_rows]);
		}
	}
	return 0;
}

/* Entries FIRST .. FIRST+N of an array map into VALS (VSZ bytes each):
 * one batch lookup where the kernel has them (5.6+), else one by one.
 * Returns how many were read. */
static __u32 read_array(int fd, __u32 first, __u32 n, void *vals, size_t vsz)
{
	__u32 prev = first - 1, out, count = n, *keys = malloc((n ? n : 1) * sizeof(*keys));
	int err = keys ? bpf_map_lookup_batch(fd, first ? &prev : NULL, &out, keys, vals, &count,
					      NULL) : -1;

	free(keys);
	if (!err || (errno == ENOENT && count))
		return count;
	for (count = 0; count < n; count++) {
		__u32 k = first + count;

		if (bpf_map_lookup_elem(fd, &k, (char *)vals + count * vsz))
			break;
	}
	return count;
}

/* The keys of map ID that belong to SLOT (by the __u32 at SLOT_OFF). */
static void *slot_keys(struct sl_maps *m, enum sl_map_id id, size_t ksz, size_t slot_off,
		       __u32 slot, size_t *n)
{
	char *keys = sl_map_keys(m->fd[id], ksz, n);
	size_t k = 0;

	for (size_t i = 0; keys && i < *n; i++) {
		__u32 s;

		memcpy(&s, keys + i * ksz + slot_off, sizeof(s));
		if (s == slot)
			memmove(keys + k++ * ksz, keys + i * ksz, ksz);
	}
	*n = k;
	return keys;
}

static int slot_services(struct sl_maps *m, __u32 slot, struct dp *d)
{
	struct sl_svc_key *keys = NULL;
	struct sl_svc_val *vals = NULL;
	int err = sl_svc_list(sl_svctab_of(m), slot, &keys, &vals, &d->n_svcs);

	d->svcs = err ? NULL : calloc(d->n_svcs + 1, sizeof(*d->svcs));
	if (!err && !d->svcs)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < d->n_svcs; i++) {
		d->svcs[i].fe = keys[i].fe;
		d->svcs[i].val = vals[i];
		err = read_rows(m, slot, &d->svcs[i]);
	}
	if (err && d->svcs)
		d->n_svcs = 0; /* dp_free must not free what was never set */
	free(keys);
	free(vals);
	return err;
}

/* One name per (frontend, endpoint) of V: the first row's (duplicates,
 * an endpoint in two groups, carry the same names). Rows of one service
 * are contiguous. */
static void dedup_names_of(struct dp_name *v, size_t *len)
{
	size_t n = 0;

	for (size_t i = 0; i < *len; i++) {
		bool dup = false;

		for (size_t j = i; j-- > 0 && !dup;) {
			if (memcmp(&v[j].key.fe, &v[i].key.fe, sizeof(struct sl_l4addr)))
				break;
			dup = !memcmp(&v[j].key, &v[i].key, sizeof(v[i].key));
		}
		if (!dup)
			v[n++] = v[i];
	}
	*len = n;
}

/* The names slot SLOT reads for the services and pairs it holds (names
 * are written for both slots at once, user/names.h). */
static int slot_names(struct sl_maps *m, enum sl_map_id id, __u32 slot, struct dp *d,
		      struct dp_name **out, size_t *n)
{
	bool ep = id == SL_MAP_EP_META;
	struct sl_name_set set;
	size_t cap = 1;
	int err = sl_names_load(m, id, &set);

	for (size_t i = 0; i < d->n_svcs; i++)
		cap += ep ? d->svcs[i].n_rows : 1;
	*n = 0;
	*out = calloc(cap, sizeof(**out));
	if (!err && !*out)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < d->n_svcs; i++) {
		const struct dp_svc *s = &d->svcs[i];

		for (size_t r = 0; r < (ep ? s->n_rows : 1); r++) {
			const struct sl_l4addr *e = ep ? &s->rows[r].ep : NULL;
			const void *v = ep && s->missing[r] ? NULL : sl_names_find(&set, &s->fe, e, slot);
			struct dp_name *dn = &(*out)[*n];

			if (!v)
				continue;
			memset(dn, 0, sizeof(*dn));
			dn->key.fe = s->fe;
			if (e)
				dn->key.ep = *e;
			memcpy(&dn->v, v, set.vsz);
			(*n)++;
		}
	}
	sl_name_set_free(&set);
	if (!err && ep)
		dedup_names_of(*out, n);
	return err;
}

static int slot_ingress(struct sl_maps *m, __u32 slot, struct dp *d)
{
	struct sl_ingress_key *keys = slot_keys(m, SL_MAP_INGRESS, sizeof(*keys),
						offsetof(struct sl_ingress_key, slot), slot,
						&d->n_ings);
	int err = keys ? 0 : -ENOMEM;

	d->ings = calloc(d->n_ings + 1, sizeof(*d->ings));
	if (!d->ings)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < d->n_ings; i++) {
		struct dp_ing *in = &d->ings[i];
		__u32 size = 0, *cells;

		in->fe = keys[i].fe;
		if (bpf_map_lookup_elem(m->fd[SL_MAP_INGRESS], &keys[i], &in->val)) {
			err = -errno;
			break;
		}
		cells = malloc(((size_t)in->val.ring_size + 1) * sizeof(*cells));
		if (!cells) {
			err = -ENOMEM;
			break;
		}
		if ((__u64)in->val.ring_off + in->val.ring_size <= SL_MAX_MAGLEV_CELLS)
			size = read_array(m->fd[SL_MAP_MAGLEV],
					  slot * SL_MAX_MAGLEV_CELLS + in->val.ring_off,
					  in->val.ring_size, cells, sizeof(*cells));
		err = ring_canon(d, in, cells, size);
		in->bad_cells += in->val.ring_size - size;
		free(cells);
	}
	if (err && d->ings)
		d->n_ings = 0;
	free(keys);
	return err;
}

static __u32 strip_slot(__u32 id, __u32 slot, bool *wrong)
{
	if (id && !!(id & SL_NP_SLOT_BIT) != !!slot)
		*wrong = true;
	return id & ~SL_NP_SLOT_BIT;
}

static bool id_in_slot(__u32 id, __u32 slot)
{
	return !!(id & SL_NP_SLOT_BIT) == !!slot;
}

static int slot_netpol(struct sl_maps *m, __u32 slot, struct dp *d)
{
	struct sl_np_pod_key *pk = slot_keys(m, SL_MAP_NP_PODS, sizeof(*pk),
					     offsetof(struct sl_np_pod_key, slot), slot, &d->n_pods);
	size_t np = 0, nq = 0;
	struct sl_np_lpm_key *lk = sl_map_keys(m->fd[SL_MAP_NP_PREFIXES], sizeof(*lk), &np);
	__u32 *ids = sl_map_keys(m->fd[SL_MAP_NP_PORTS], sizeof(*ids), &nq);
	int err = pk && lk && ids ? 0 : -ENOMEM;

	d->pods = calloc(d->n_pods + 1, sizeof(*d->pods));
	d->prefixes = calloc(np + 1, sizeof(*d->prefixes));
	d->portsets = calloc(nq + 1, sizeof(*d->portsets));
	if (!d->pods || !d->prefixes || !d->portsets)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < d->n_pods; i++) {
		struct dp_np_pod *p = &d->pods[i];

		p->key = pk[i];
		p->key.slot = 0;
		if (bpf_map_lookup_elem(m->fd[SL_MAP_NP_PODS], &pk[i], &p->val))
			err = -errno;
		p->val.ingress_set = strip_slot(p->val.ingress_set, slot, &p->wrong_slot);
		p->val.egress_set = strip_slot(p->val.egress_set, slot, &p->wrong_slot);
	}
	for (size_t i = 0; !err && i < np; i++) {
		struct dp_np_prefix *x = &d->prefixes[d->n_prefixes];

		if (!id_in_slot(lk[i].set, slot))
			continue;
		x->key = lk[i];
		if (bpf_map_lookup_elem(m->fd[SL_MAP_NP_PREFIXES], &lk[i], &x->val))
			err = -errno;
		x->key.set &= ~SL_NP_SLOT_BIT;
		x->val.portset &= ~SL_NP_SLOT_BIT;
		d->n_prefixes++;
	}
	for (size_t i = 0; !err && i < nq; i++) {
		struct sl_table_np_portset *x = &d->portsets[d->n_portsets];

		if (!id_in_slot(ids[i], slot))
			continue;
		x->id = ids[i] & ~SL_NP_SLOT_BIT;
		if (bpf_map_lookup_elem(m->fd[SL_MAP_NP_PORTS], &ids[i], &x->ports))
			err = -errno;
		d->n_portsets++;
	}
	free(pk);
	free(lk);
	free(ids);
	return err;
}

static int slot_ports(struct sl_maps *m, __u32 slot, struct dp *d)
{
	__u32 n = read_array(m->fd[SL_MAP_FE_PORTS], slot * 2 * SL_FE_PORT_WORDS,
			     2 * SL_FE_PORT_WORDS, d->ports, sizeof(d->ports[0]));

	return n == 2 * SL_FE_PORT_WORDS ? 0 : -EIO;
}

static int from_slot(struct sl_maps *m, __u32 slot, struct dp *d)
{
	char *src = NULL;
	size_t len = 0;
	int err = slot_services(m, slot, d);

	if (!err) {
		qsort(d->svcs, d->n_svcs, sizeof(*d->svcs), cmp_svc);
		err = slot_names(m, SL_MAP_SVC_META, slot, d, &d->snames, &d->n_snames);
	}
	if (!err)
		err = slot_names(m, SL_MAP_EP_META, slot, d, &d->enames, &d->n_enames);
	if (!err)
		err = slot_ingress(m, slot, d);
	if (!err)
		err = slot_ports(m, slot, d);
	if (!err)
		err = slot_netpol(m, slot, d);
	if (!err) {
		int e = sl_store_read_slot(m, slot, &src, &len);

		store_json(d, src, len, e);
		free(src);
	}
	return err;
}

/* ---- from compiled tables --------------------------------------------- */

static int tables_services(const struct sl_tables *t, struct dp *d)
{
	d->svcs = calloc(t->n_svcs + 1, sizeof(*d->svcs));
	d->snames = calloc(t->n_svcs + 1, sizeof(*d->snames));
	d->enames = calloc(t->n_backends + 1, sizeof(*d->enames));
	if (!d->svcs || !d->snames || !d->enames)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_svcs; i++) {
		struct dp_svc *s = &d->svcs[d->n_svcs++];
		const struct sl_svc_val *v = &t->svcs[i].val;

		size_t rows = 0;

		s->fe = t->svcs[i].fe;
		s->val = *v;
		for (unsigned g = 0; g < v->n_groups && g < SL_MAX_GROUPS; g++)
			rows += v->groups[g].count;
		s->rows = calloc(rows + 1, sizeof(*s->rows));
		s->missing = calloc(rows + 1, sizeof(*s->missing));
		if (!s->rows || !s->missing)
			return -ENOMEM;
		for (unsigned g = 0; g < v->n_groups && g < SL_MAX_GROUPS; g++)
			for (__u32 r = 0; r < v->groups[g].count; r++)
				s->rows[s->n_rows++] = t->backends[v->groups[g].first + r].be;
		d->snames[d->n_snames].key.fe = s->fe;
		memcpy(&d->snames[d->n_snames++].v, &t->svcs[i].meta, sizeof(t->svcs[i].meta));
	}
	for (size_t i = 0; i < t->n_backends; i++) {
		struct dp_name *e = &d->enames[d->n_enames++];

		e->key.fe = t->svcs[t->backends[i].svc].fe;
		e->key.ep = t->backends[i].be.ep;
		e->v = t->backends[i].meta;
	}
	qsort(d->svcs, d->n_svcs, sizeof(*d->svcs), cmp_svc);
	return 0;
}

/* The ring the publisher builds for ingress entry I of T, next to a live
 * slot SIZES (for the size it keeps). */
static int tables_ring(struct sl_maps *m, const struct sl_tables *t, size_t i, __u32 sizes,
		       struct dp *d, struct sl_maglev_ep *eps)
{
	const struct sl_table_ingress *ti = &t->ingress[i];
	struct dp_ing *in = &d->ings[d->n_ings++];
	struct sl_ingress_key k = { .fe = ti->fe, .slot = sizes };
	struct sl_ingress_val live = { 0 };
	__u32 first[SL_MAX_GROUPS], size = 0;
	size_t n;

	for (unsigned g = 0; g < SL_MAX_GROUPS; g++)
		first[g] = t->svcs[ti->svc].val.groups[g].first;
	n = sl_ring_eps(t, ti->svc, first, eps);
	__u32 *cells;
	int err;

	bpf_map_lookup_elem(m->fd[SL_MAP_INGRESS], &k, &live);
	if (n)
		size = sl_maglev_size(n, live.ring_size);
	cells = malloc(((size_t)size + 1) * sizeof(*cells));
	if (!cells)
		return -ENOMEM;
	if (size && sl_maglev_fill(eps, n, size, cells))
		size = 0; /* every weight zero: as the publisher does */
	in->fe = ti->fe;
	in->val = (struct sl_ingress_val){ .svc = t->svcs[ti->svc].fe, .ring_size = size,
					   .kind = ti->kind };
	err = ring_canon(d, in, cells, size);
	free(cells);
	return err;
}

static int tables_ingress(struct sl_maps *m, const struct sl_tables *t, __u32 sizes,
			  struct dp *d)
{
	struct sl_maglev_ep *eps = calloc(SL_MAX_GROUPS * SL_MAX_GROUP_BACKENDS, sizeof(*eps));
	int err = eps ? 0 : -ENOMEM;

	d->ings = calloc(t->n_ingress + 1, sizeof(*d->ings));
	if (!d->ings)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < t->n_ingress; i++)
		err = tables_ring(m, t, i, sizes, d, eps);
	free(eps);
	return err;
}

static int tables_netpol(const struct sl_tables *t, struct dp *d)
{
	d->pods = calloc(t->n_np_pods + 1, sizeof(*d->pods));
	d->prefixes = calloc(t->n_np_prefixes + 1, sizeof(*d->prefixes));
	d->portsets = calloc(t->n_np_portsets + 1, sizeof(*d->portsets));
	if (!d->pods || !d->prefixes || !d->portsets)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_np_pods; i++)
		d->pods[d->n_pods++] = (struct dp_np_pod){ t->np_pods[i].key, t->np_pods[i].val, false };
	for (size_t i = 0; i < t->n_np_prefixes; i++)
		d->prefixes[d->n_prefixes++] = (struct dp_np_prefix){ t->np_prefixes[i].key,
								      t->np_prefixes[i].val };
	for (size_t i = 0; i < t->n_np_portsets; i++)
		d->portsets[d->n_portsets++] = t->np_portsets[i];
	return 0;
}

static int from_tables(struct sl_maps *m, const struct sl_tables *t, const char *src, size_t len,
		       __u32 sizes, struct dp *d)
{
	int err = tables_services(t, d);

	if (!err)
		err = tables_ingress(m, t, sizes, d);
	if (!err)
		err = tables_netpol(t, d);
	sl_fe_port_bitmap(t, d->ports);
	store_json(d, src, len, 0);
	return err;
}

/* ---- printing --------------------------------------------------------- */

#define CMP_FIELD(T, F)                                                                       \
	static int cmp_##T(const void *a, const void *b)                                      \
	{                                                                                     \
		return memcmp(&((const struct T *)a)->F, &((const struct T *)b)->F,          \
			      sizeof(((const struct T *)a)->F));                             \
	}
CMP_FIELD(dp_name, key)
CMP_FIELD(dp_ing, fe)
CMP_FIELD(dp_np_pod, key)
CMP_FIELD(dp_np_prefix, key)
CMP_FIELD(sl_table_np_portset, id)

static void print_l4(FILE *f, const char *name, const struct sl_l4addr *a, bool proto)
{
	char buf[96];

	fprintf(f, "\"%s\":\"%s\"", name, sl_fmt_l4(a, proto, buf, sizeof(buf)));
}

static const char *const section_sep[] = { "\n", ",\n" };

static void print_group(FILE *f, const struct dp_svc *s, unsigned g, size_t *row)
{
	const struct sl_group *gr = &s->val.groups[g];
	const struct sl_outlier_cfg *o = &gr->outlier;

	fprintf(f, "%s{\"weight\":%u,\"total\":%u,\"tag\":%u,\"max_conns\":%u,\"lb\":%u,"
		"\"outlier\":[%u,%u,%llu,%llu,%u,%u,%u],\"endpoints\":[",
		g ? "," : "", gr->weight, gr->total, gr->tag, gr->max_conns, gr->lb, o->consec_5xx,
		o->consec_gw, (unsigned long long)o->interval_ns,
		(unsigned long long)o->base_eject_ns, o->max_eject_pct, o->min_health_pct, o->enabled);
	for (__u32 i = 0; i < gr->count && *row < s->n_rows; i++, (*row)++) {
		const struct sl_backend *b = &s->rows[*row];

		if (s->missing[*row]) {
			fprintf(f, "%snull", i ? "," : "");
			continue;
		}
		fprintf(f, "%s{", i ? "," : "");
		print_l4(f, "endpoint", &b->ep, false);
		fprintf(f, ",\"weight\":%u,\"cum\":%u}", b->weight, b->cum);
	}
	fprintf(f, "]}");
}

static void print_services(FILE *f, const struct dp *d)
{
	fprintf(f, "\"services\":[");
	for (size_t i = 0; i < d->n_svcs; i++) {
		const struct dp_svc *s = &d->svcs[i];
		size_t row = 0;

		fprintf(f, "%s{", section_sep[i > 0]);
		print_l4(f, "frontend", &s->fe, true);
		fprintf(f, ",\"flags\":%u,\"handoff_reasons\":%u,\"route_total\":%u,\"groups\":[",
			s->val.flags, s->val.handoff_reasons, s->val.route_total);
		for (unsigned g = 0; g < s->val.n_groups && g < SL_MAX_GROUPS; g++)
			print_group(f, s, g, &row);
		fprintf(f, "]}");
	}
	fprintf(f, "]");
}

static void print_names(FILE *f, const char *title, struct dp_name *v, size_t n, bool ep)
{
	qsort(v, n, sizeof(*v), cmp_dp_name);
	fprintf(f, ",\n\"%s\":[", title);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s{", section_sep[i > 0]);
		print_l4(f, "frontend", &v[i].key.fe, true);
		if (ep) {
			fputc(',', f);
			print_l4(f, "endpoint", &v[i].key.ep, false);
		}
		fprintf(f, ",\"%s\":", ep ? "workload" : "name");
		sl_json_str(f, v[i].v.workload);
		fprintf(f, ",\"namespace\":");
		sl_json_str(f, v[i].v.ns);
		if (ep) {
			fprintf(f, ",\"subset\":");
			sl_json_str(f, v[i].v.subset);
		}
		fputc('}', f);
	}
	fprintf(f, "]");
}

static void print_ingress(FILE *f, struct dp *d)
{
	qsort(d->ings, d->n_ings, sizeof(*d->ings), cmp_dp_ing);
	fprintf(f, ",\n\"ingress\":[");
	for (size_t i = 0; i < d->n_ings; i++) {
		const struct dp_ing *in = &d->ings[i];

		fprintf(f, "%s{", section_sep[i > 0]);
		print_l4(f, "frontend", &in->fe, true);
		fputc(',', f);
		print_l4(f, "service", &in->val.svc, true);
		fprintf(f, ",\"kind\":%u,\"ring_size\":%u,\"ring_digest\":\"%016llx\","
			"\"bad_cells\":%zu,\"cells\":[", in->val.kind, in->val.ring_size,
			(unsigned long long)in->digest, in->bad_cells);
		for (size_t c = 0; c < in->n_cells; c++) {
			fprintf(f, "%s{", c ? "," : "");
			print_l4(f, "endpoint", &in->cells[c].ep, false);
			fprintf(f, ",\"group\":%u,\"cells\":%u}", in->cells[c].group, in->cells[c].n);
		}
		fprintf(f, "]}");
	}
	fprintf(f, "]");
}

static void print_ports(FILE *f, const struct dp *d)
{
	fprintf(f, ",\n\"frontend_ports\":{");
	for (int p = 0; p < 2; p++) {
		bool first = true;

		fprintf(f, "%s\"%s\":[", p ? "," : "", p ? "udp" : "tcp");
		for (__u32 port = 0; port < 65536; port++) {
			if (!(d->ports[p * SL_FE_PORT_WORDS + port / 64] & (1ull << (port % 64))))
				continue;
			fprintf(f, "%s%u", first ? "" : ",", port);
			first = false;
		}
		fputc(']', f);
	}
	fprintf(f, "}");
}

static void print_ip(FILE *f, const char *name, const __be32 *addr, __u8 family, int plen)
{
	struct sl_l4addr a = { .family = family };
	char ip[64];

	memcpy(a.addr, addr, sizeof(a.addr));
	sl_fmt_ip(&a, ip, sizeof(ip));
	if (plen >= 0)
		fprintf(f, "\"%s\":\"%s/%d\"", name, ip, plen);
	else
		fprintf(f, "\"%s\":\"%s\"", name, ip);
}

static void print_netpol(FILE *f, struct dp *d)
{
	qsort(d->pods, d->n_pods, sizeof(*d->pods), cmp_dp_np_pod);
	qsort(d->prefixes, d->n_prefixes, sizeof(*d->prefixes), cmp_dp_np_prefix);
	qsort(d->portsets, d->n_portsets, sizeof(*d->portsets), cmp_sl_table_np_portset);
	fprintf(f, ",\n\"np_pods\":[");
	for (size_t i = 0; i < d->n_pods; i++) {
		fprintf(f, "%s{", section_sep[i > 0]);
		print_ip(f, "pod", d->pods[i].key.addr, d->pods[i].key.family, -1);
		fprintf(f, ",\"ingress_set\":%u,\"egress_set\":%u%s}", d->pods[i].val.ingress_set,
			d->pods[i].val.egress_set, d->pods[i].wrong_slot ? ",\"wrong_slot\":true" : "");
	}
	fprintf(f, "],\n\"np_prefixes\":[");
	for (size_t i = 0; i < d->n_prefixes; i++) {
		const struct dp_np_prefix *x = &d->prefixes[i];

		fprintf(f, "%s{\"set\":%u,", section_sep[i > 0], x->key.set);
		print_ip(f, "prefix", x->key.addr, x->key.family, (int)x->key.prefixlen - 64);
		fprintf(f, ",\"portset\":%u}", x->val.portset);
	}
	fprintf(f, "],\n\"np_portsets\":[");
	for (size_t i = 0; i < d->n_portsets; i++) {
		const struct sl_np_ports *p = &d->portsets[i].ports;

		fprintf(f, "%s{\"id\":%u,\"ranges\":[", section_sep[i > 0], d->portsets[i].id);
		for (__u32 r = 0; r < p->n && r < SL_NP_MAX_RANGES; r++)
			fprintf(f, "%s\"%u:%u-%u\"", r ? "," : "", p->r[r].proto, p->r[r].lo,
				p->r[r].hi);
		fprintf(f, "]}");
	}
	fprintf(f, "]");
}

static void dp_print(struct dp *d, FILE *f)
{
	fprintf(f, "{");
	print_services(f, d);
	print_names(f, "service_names", d->snames, d->n_snames, false);
	print_names(f, "endpoint_names", d->enames, d->n_enames, true);
	print_ingress(f, d);
	print_ports(f, d);
	print_netpol(f, d);
	fprintf(f, ",\n\"store\":%s}\n", d->store);
}


int sl_slot_dump(struct sl_maps *m, __u32 slot, FILE *out)
{
	struct dp d;
	int err;

	memset(&d, 0, sizeof(d));
	err = from_slot(m, slot, &d);
	if (!err)
		dp_print(&d, out);
	dp_free(&d);
	return err;
}

int sl_tables_dump(struct sl_maps *m, const struct sl_tables *t, const char *src, size_t len,
		   __u32 sizes, FILE *out)
{
	struct dp d;
	int err;

	memset(&d, 0, sizeof(d));
	err = from_tables(m, t, src, len, sizes, &d);
	if (!err) {
		dedup_names_of(d.enames, &d.n_enames);
		dp_print(&d, out);
	}
	dp_free(&d);
	return err;
}

/* The first line where A and B differ, as "slot: ... / store: ...". */
static char *first_difference(const char *a, const char *b)
{
	size_t line = 1, i = 0;
	char *why = NULL;

	while (a[i] && a[i] == b[i])
		if (a[i++] == '\n')
			line++;
	while (i > 0 && a[i - 1] != '\n')
		i--;
	if (asprintf(&why, "line %zu: slot: %.*s / store: %.*s", line,
		     (int)strcspn(a + i, "\n"), a + i, (int)strcspn(b + i, "\n"), b + i) < 0)
		return NULL;
	return why;
}

int sl_slot_verify(struct sl_maps *m, __u32 slot, char **why)
{
	struct sl_policy *p = NULL;
	struct sl_tables t = { 0 };
	struct sl_config cfg;
	char *src = NULL, *a = NULL, *b = NULL;
	size_t len = 0, alen = 0, blen = 0;
	FILE *fa = open_memstream(&a, &alen), *fb = open_memstream(&b, &blen);
	int err = fa && fb ? sl_store_compile(m, &cfg, &p, &t, &src, &len) : -ENOMEM;

	if (!err)
		err = sl_slot_dump(m, slot, fa);
	if (!err)
		err = sl_tables_dump(m, &t, src, len, slot, fb);
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	if (!err)
		err = !strcmp(a, b);
	if (err == 0 && why)
		*why = first_difference(a, b);
	free(a);
	free(b);
	free(src);
	sl_tables_free(&t);
	sl_policy_free(p);
	return err;
}
