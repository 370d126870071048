// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The service table of a slot (see svctab.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "mapio.h"
#include "svctab.h"
#include "util.h"

/* Where a frontend is, or would go, in its slot. */
struct place {
	__u64 h;
	__u32 tag;
	__u32 key[2]; /* sl_svc_index keys of the two buckets */
	struct sl_svc_bucket b[2];
	int which, way; /* of the first way holding tag; which = -1: none */
};

static bool same_fe(const struct sl_l4addr *a, const struct sl_l4addr *b)
{
	return !memcmp(a, b, sizeof(*a));
}

static void place_init(struct place *p, __u32 slot, const struct sl_l4addr *fe)
{
	p->h = sl_svc_hash(fe);
	p->tag = sl_svc_tag(p->h);
	for (__u32 i = 0; i < 2; i++)
		p->key[i] = (slot & 1) * SL_SVC_BUCKETS + sl_svc_bucket_of(p->h, i);
	p->which = -1;
}

/* The first way holding the tag, in the order the programs search. */
static void place_find(struct place *p)
{
	for (int i = 0; i < 2 && p->which < 0; i++)
		for (__u32 w = 0; w < SL_SVC_WAYS && p->which < 0; w++)
			if (p->b[i].tag[w] == p->tag) {
				p->which = i;
				p->way = (int)w;
			}
}

/* Reads the buckets and finds the way; 0 or -errno. */
static int place_read(struct sl_svctab t, struct place *p, __u32 slot, const struct sl_l4addr *fe)
{
	place_init(p, slot, fe);
	for (int i = 0; i < 2; i++)
		if (bpf_map_lookup_elem(t.index, &p->key[i], &p->b[i]))
			return -errno;
	place_find(p);
	return 0;
}

static __u32 used_ways(const struct sl_svc_bucket *b)
{
	__u32 n = 0;

	for (__u32 w = 0; w < SL_SVC_WAYS; w++)
		n += b->tag[w] != 0;
	return n;
}

/* A free way for a new entry: the emptier bucket (the first on a tie), so
 * buckets fill evenly. -ENOSPC when both are full. */
static int place_free(struct place *p)
{
	int i = used_ways(&p->b[1]) < used_ways(&p->b[0]);

	for (__u32 w = 0; w < SL_SVC_WAYS; w++)
		if (!p->b[i].tag[w]) {
			p->which = i;
			p->way = (int)w;
			return 0;
		}
	return -ENOSPC;
}

static __u32 row_key(__u32 slot, __u32 row)
{
	return (slot & 1) * SL_MAX_SERVICES + row;
}

/* The row the found way names, when it is K's (a tag is 31 bits: another
 * frontend can share it, and then K is not in the slot). */
static int read_row(struct sl_svctab t, const struct place *p, const struct sl_svc_key *k,
		    struct sl_svc_row *r, __u32 *row)
{
	__u32 key;

	if (p->which < 0)
		return -ENOENT;
	*row = p->b[p->which].row[p->way];
	if (*row >= SL_MAX_SERVICES)
		return -ENOENT;
	key = row_key(k->slot, *row);
	if (bpf_map_lookup_elem(t.rows, &key, r))
		return -errno;
	return same_fe(&r->fe, &k->fe) ? 0 : -ENOENT;
}

/* K's buckets into *P and, when K is there, its row into *R and *ROW:
 * 0, -ENOENT (P still says where K would go), or -errno. */
static int find(struct sl_svctab t, const struct sl_svc_key *k, struct place *p,
		struct sl_svc_row *r, __u32 *row)
{
	int err = place_read(t, p, k->slot, &k->fe);

	return err ? err : read_row(t, p, k, r, row);
}

/* Way P->way of bucket P->which now holds TAG and ROW: one bucket write. */
static int set_way(struct sl_svctab t, struct place *p, __u32 tag, __u32 row)
{
	p->b[p->which].tag[p->way] = tag;
	p->b[p->which].row[p->way] = row;
	return sl_map_put(t.index, &p->key[p->which], &p->b[p->which], BPF_ANY);
}

int sl_svc_get(struct sl_svctab t, const struct sl_svc_key *k, struct sl_svc_val *v)
{
	struct sl_svc_row r;
	struct place p;
	__u32 row;
	int err = find(t, k, &p, &r, &row);

	if (!err)
		*v = r.val;
	return err;
}

static int put_row(struct sl_svctab t, __u32 slot, __u32 row, const struct sl_l4addr *fe,
		   const struct sl_svc_val *v)
{
	struct sl_svc_row r;
	__u32 key = row_key(slot, row);

	memset(&r, 0, sizeof(r));
	r.fe = *fe;
	r.val = *v;
	return sl_map_put(t.rows, &key, &r, BPF_ANY);
}

int sl_svc_put(struct sl_svctab t, const struct sl_svc_key *k, const struct sl_svc_val *v,
	       __u32 *hwm)
{
	struct sl_svc_row r;
	struct place p;
	__u32 row;
	int err = find(t, k, &p, &r, &row);

	if (!err)
		return put_row(t, k->slot, row, &k->fe, v);
	if (err != -ENOENT)
		return err;
	/* New here. A way with the same tag would answer for it first. */
	if (p.which >= 0 || *hwm >= SL_MAX_SERVICES || place_free(&p))
		return -ENOSPC;
	/* The row before the way that names it: a reader never follows a way
	 * to a row not yet written (the slot is inactive anyway). */
	err = put_row(t, k->slot, *hwm, &k->fe, v);
	if (!err)
		err = set_way(t, &p, p.tag, *hwm);
	if (!err)
		(*hwm)++;
	return err;
}

int sl_svc_del(struct sl_svctab t, const struct sl_svc_key *k)
{
	struct sl_svc_row r;
	struct place p;
	__u32 row;
	int err = find(t, k, &p, &r, &row);

	if (err)
		return err == -ENOENT ? 0 : err;
	return set_way(t, &p, 0, 0);
}

/* Places N frontends into BUCKETS (one slot's, zeroed), row i for fes[i]. */
static int build_index(struct sl_svc_bucket *buckets, const struct sl_l4addr *fes, size_t n)
{
	char a[64], b[64];

	for (size_t i = 0; i < n; i++) {
		struct place p;

		place_init(&p, 0, &fes[i]);
		for (int j = 0; j < 2; j++)
			p.b[j] = buckets[p.key[j]];
		place_find(&p);
		if (p.which < 0 && !place_free(&p)) {
			buckets[p.key[p.which]].tag[p.way] = p.tag;
			buckets[p.key[p.which]].row[p.way] = (__u32)i;
			continue;
		}
		if (p.which >= 0)
			pr_warn("sluice: sl_svc_index: %s and %s share a hash tag and a bucket; "
				"one of them cannot be placed\n", sl_fmt_l4(&fes[i], true, a, sizeof(a)),
				sl_fmt_l4(&fes[buckets[p.key[p.which]].row[p.way]], true, b, sizeof(b)));
		else
			pr_warn("sluice: sl_svc_index: both buckets of %s are full (%u ways each)\n",
				sl_fmt_l4(&fes[i], true, a, sizeof(a)), SL_SVC_WAYS);
		return -EOVERFLOW;
	}
	return 0;
}

int sl_svc_write_slot(struct sl_svctab t, __u32 slot, const struct sl_l4addr *fes,
		      const struct sl_svc_val *vals, size_t n)
{
	struct sl_svc_bucket *buckets = calloc(SL_SVC_BUCKETS, sizeof(*buckets));
	__u32 *keys = calloc(n > SL_SVC_BUCKETS ? n : SL_SVC_BUCKETS, sizeof(*keys));
	struct sl_svc_row *rows = calloc(n ? n : 1, sizeof(*rows));
	int err = -ENOMEM;

	if (n > SL_MAX_SERVICES)
		err = -ENOSPC;
	else if (buckets && keys && rows)
		err = build_index(buckets, fes, n);
	if (!err) {
		for (size_t i = 0; i < n; i++) {
			keys[i] = row_key(slot, (__u32)i);
			rows[i].fe = fes[i];
			rows[i].val = vals[i];
		}
		err = sl_put_many(t.rows, keys, rows, n, sizeof(*keys), sizeof(*rows));
	}
	if (!err) {
		for (__u32 b = 0; b < SL_SVC_BUCKETS; b++)
			keys[b] = (slot & 1) * SL_SVC_BUCKETS + b;
		err = sl_put_many(t.index, keys, buckets, SL_SVC_BUCKETS, sizeof(*keys),
				  sizeof(*buckets));
	}
	free(buckets);
	free(keys);
	free(rows);
	return err;
}

/* Every bucket of SLOT into B (SL_SVC_BUCKETS of them): 1 MiB in a few
 * batch reads (a scrape's map counts read both slots). */
static int read_buckets(struct sl_svctab t, __u32 slot, struct sl_svc_bucket *b)
{
	return sl_array_read(t.index, (slot & 1) * SL_SVC_BUCKETS, SL_SVC_BUCKETS, b, sizeof(*b));
}

/* One past the highest row any way of B names. */
static __u32 rows_used(const struct sl_svc_bucket *b)
{
	__u32 top = 0;

	for (__u32 i = 0; i < SL_SVC_BUCKETS; i++)
		for (__u32 w = 0; w < SL_SVC_WAYS; w++)
			if (b[i].tag[w] && b[i].row[w] < SL_MAX_SERVICES && b[i].row[w] >= top)
				top = b[i].row[w] + 1;
	return top;
}

/* The services B names, from ROWS (the slot's rows 0 .. top-1), in
 * bucket order. */
static void collect(const struct sl_svc_bucket *b, const struct sl_svc_row *rows, __u32 slot,
		    struct sl_svc_key *keys, struct sl_svc_val *vals, size_t *n)
{
	for (__u32 i = 0; i < SL_SVC_BUCKETS; i++) {
		for (__u32 w = 0; w < SL_SVC_WAYS; w++) {
			const struct sl_svc_row *r = &rows[b[i].row[w]];

			if (!b[i].tag[w] || b[i].row[w] >= SL_MAX_SERVICES)
				continue;
			keys[*n] = (struct sl_svc_key){ .fe = r->fe, .slot = slot & 1 };
			vals[(*n)++] = r->val;
		}
	}
}

int sl_svc_list(struct sl_svctab t, __u32 slot, struct sl_svc_key **keys, struct sl_svc_val **vals,
		size_t *n)
{
	struct sl_svc_bucket *b = calloc(SL_SVC_BUCKETS, sizeof(*b));
	struct sl_svc_row *rows = NULL;
	size_t cap = 0;
	__u32 top = 0;
	int err = b ? read_buckets(t, slot, b) : -ENOMEM;

	*keys = NULL;
	*vals = NULL;
	*n = 0;
	for (__u32 i = 0; !err && i < SL_SVC_BUCKETS; i++)
		cap += used_ways(&b[i]);
	if (!err) {
		top = rows_used(b);
		rows = calloc(top ? top : 1, sizeof(*rows));
		*keys = calloc(cap ? cap : 1, sizeof(**keys));
		*vals = calloc(cap ? cap : 1, sizeof(**vals));
		if (!rows || !*keys || !*vals)
			err = -ENOMEM;
	}
	/* The rows in use in batch reads: 5.5 MB at 10,000 services. */
	if (!err && top)
		err = sl_array_read(t.rows, row_key(slot, 0), top, rows, sizeof(*rows));
	if (!err)
		collect(b, rows, slot, *keys, *vals, n);
	free(rows);
	free(b);
	if (err) {
		free(*keys);
		free(*vals);
		*keys = NULL;
		*vals = NULL;
		*n = 0;
	}
	return err;
}

long sl_svc_count(struct sl_svctab t)
{
	struct sl_svc_bucket *b = calloc(SL_SVC_BUCKETS, sizeof(*b));
	long n = 0;
	int err = b ? 0 : -ENOMEM;

	for (__u32 slot = 0; !err && slot < 2; slot++) {
		err = read_buckets(t, slot, b);
		for (__u32 i = 0; !err && i < SL_SVC_BUCKETS; i++)
			n += used_ways(&b[i]);
	}
	free(b);
	return err ? err : n;
}
