// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Names of services and (service, endpoint) pairs (see names.h). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mapio.h"
#include "names.h"

enum { SVC = 0, EP = 1 };

static const enum sl_map_id map_of[2] = { SL_MAP_SVC_META, SL_MAP_EP_META };
static const size_t vsz_of[2] = { sizeof(struct sl_svc_meta), sizeof(struct sl_ep_meta) };

#define PAIR_LEN offsetof(struct sl_meta_key, slot)

static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sl_meta_key));
}

static int cmp_pair(const struct sl_meta_key *a, const struct sl_meta_key *b)
{
	return memcmp(a, b, PAIR_LEN);
}

void sl_name_set_free(struct sl_name_set *s)
{
	free(s->v);
	free(s->own_keys);
	free(s->own_vals);
	memset(s, 0, sizeof(*s));
}

void sl_names_change_free(struct sl_names_change *c)
{
	for (int k = 0; k < 2; k++) {
		sl_name_set_free(&c->before[k]);
		sl_name_set_free(&c->after[k]);
		sl_name_set_free(&c->gone[k]);
	}
}

static int set_alloc(struct sl_name_set *s, size_t cap, size_t vsz)
{
	memset(s, 0, sizeof(*s));
	s->vsz = vsz;
	s->v = malloc((cap ? cap : 1) * sizeof(*s->v));
	return s->v ? 0 : -ENOMEM;
}

static const void *val_at(const struct sl_name_set *s, size_t i)
{
	return s->v[i].val;
}

static void set_push(struct sl_name_set *s, const struct sl_meta_key *k, __u32 slot, const void *v)
{
	struct sl_name_ent *e = &s->v[s->n];

	e->key = *k;
	e->key.slot = slot;
	e->ord = (__u32)s->n++;
	e->val = v;
}

static struct sl_meta_key key_of(const struct sl_l4addr *fe, const struct sl_l4addr *ep,
				 __u32 slot)
{
	struct sl_meta_key k;

	memset(&k, 0, sizeof(k));
	k.fe = *fe;
	if (ep)
		k.ep = *ep;
	k.slot = slot;
	return k;
}

static int cmp_ent_key(const void *a, const void *b)
{
	return cmp_key(&((const struct sl_name_ent *)a)->key, &((const struct sl_name_ent *)b)->key);
}

static int cmp_ent(const void *a, const void *b)
{
	const struct sl_name_ent *x = a, *y = b;
	int c = cmp_key(&x->key, &y->key);

	return c ? c : (x->ord > y->ord) - (x->ord < y->ord);
}

/* Sort S by key, keeping the first of equal keys in the order they were
 * pushed: the same endpoint in two groups of a service is one pair, named
 * by its first row (the compiler gives both rows the same names anyway). */
static void sort_unique(struct sl_name_set *s)
{
	size_t n = 0;

	qsort(s->v, s->n, sizeof(*s->v), cmp_ent);
	for (size_t i = 0; i < s->n; i++)
		if (!n || cmp_key(&s->v[n - 1].key, &s->v[i].key))
			s->v[n++] = s->v[i];
	s->n = n;
}

/* The names of services SV[0..N), for both slots: services into OUT[SVC],
 * pairs into OUT[EP], each sorted and unique. */
static int names_of(const struct sl_names_svc *sv, size_t n, struct sl_name_set out[2])
{
	size_t rows = 0;
	int err;

	for (size_t i = 0; i < n; i++) {
		const struct sl_svc_val *v = &sv[i].t->svcs[sv[i].i].val;

		for (unsigned g = 0; g < v->n_groups && g < SL_MAX_GROUPS; g++)
			rows += v->groups[g].count;
	}
	err = set_alloc(&out[SVC], n, vsz_of[SVC]);
	if (!err)
		err = set_alloc(&out[EP], rows, vsz_of[EP]);
	for (size_t i = 0; !err && i < n; i++) {
		const struct sl_tables *t = sv[i].t;
		const struct sl_table_svc *s = &t->svcs[sv[i].i];
		struct sl_meta_key k = key_of(&s->fe, NULL, SL_NAMES_BOTH);

		set_push(&out[SVC], &k, SL_NAMES_BOTH, &s->meta);
		for (unsigned g = 0; g < s->val.n_groups && g < SL_MAX_GROUPS; g++) {
			for (__u32 r = 0; r < s->val.groups[g].count; r++) {
				const struct sl_table_backend *b = &t->backends[s->val.groups[g].first + r];

				k = key_of(&s->fe, &b->be.ep, SL_NAMES_BOTH);
				set_push(&out[EP], &k, SL_NAMES_BOTH, &b->meta);
			}
		}
	}
	if (!err) {
		sort_unique(&out[SVC]);
		sort_unique(&out[EP]);
	}
	return err;
}

/* What one pair has now: its name for both slots and its overrides. */
struct held {
	const void *both, *over[2];
};

/* The entries of CUR from *I on that are of the pair at *I. */
static struct held held_at(const struct sl_name_set *cur, size_t *i)
{
	struct held h = { NULL, { NULL, NULL } };
	size_t first = *i;

	for (; *i < cur->n && !cmp_pair(&cur->v[*i].key, &cur->v[first].key); (*i)++) {
		__u32 slot = cur->v[*i].key.slot;

		if (slot == SL_NAMES_BOTH)
			h.both = val_at(cur, *i);
		else if (slot < 2)
			h.over[slot] = val_at(cur, *i);
	}
	return h;
}

/* One pair, with W its name in the new policy (NULL: it leaves). */
static void plan_pair(struct sl_names_change *c, int k, const struct sl_meta_key *p,
		      const struct held *h, const void *w, __u32 inactive)
{
	bool over = false;

	if (w) {
		bool renamed = h->both && memcmp(h->both, w, vsz_of[k]);

		if (!h->both) /* no live pair has it */
			set_push(&c->before[k], p, SL_NAMES_BOTH, w);
		if (renamed)
			set_push(&c->after[k], p, SL_NAMES_BOTH, w);
		/* The inactive slot reads W from the switch on; an override
		 * left there by a killed publication must not hide it. */
		over = renamed || h->over[inactive];
		if (over)
			set_push(&c->before[k], p, inactive, w);
	} else if (h->both) {
		set_push(&c->gone[k], p, SL_NAMES_BOTH, NULL);
	}
	for (__u32 s = 0; s < 2; s++)
		if (h->over[s] || (over && s == inactive))
			set_push(&c->gone[k], p, s, NULL);
}

/* C's part for map K: from CUR (sorted, overrides included) to WANT
 * (sorted, for both slots). */
static int plan_map(struct sl_names_change *c, int k, const struct sl_name_set *cur,
		    const struct sl_name_set *want, __u32 inactive)
{
	size_t i = 0, j = 0;
	int err = set_alloc(&c->before[k], 2 * want->n, want->vsz);

	if (!err)
		err = set_alloc(&c->after[k], want->n, want->vsz);
	if (!err)
		err = set_alloc(&c->gone[k], cur->n + want->n, want->vsz);
	while (!err && (i < cur->n || j < want->n)) {
		int d = i == cur->n ? 1 : j == want->n ? -1 : cmp_pair(&cur->v[i].key, &want->v[j].key);
		struct sl_meta_key p = d > 0 ? want->v[j].key : cur->v[i].key;
		struct held h = { NULL, { NULL, NULL } };

		if (d <= 0)
			h = held_at(cur, &i);
		plan_pair(c, k, &p, &h, d >= 0 ? val_at(want, j) : NULL, inactive);
		j += d >= 0;
	}
	return err;
}

static int load_map(struct sl_maps *m, int k, struct sl_name_set *out)
{
	struct sl_meta_key *keys;
	void *vals;
	size_t n;
	int err = sl_map_dump(m->fd[map_of[k]], sizeof(*keys), vsz_of[k], (void **)&keys, &vals, &n);

	if (err)
		return err;
	err = set_alloc(out, n, vsz_of[k]);
	if (err) {
		free(keys);
		free(vals);
		return err;
	}
	out->own_keys = keys;
	out->own_vals = vals;
	for (size_t i = 0; i < n; i++)
		set_push(out, &keys[i], keys[i].slot, (char *)vals + i * vsz_of[k]);
	sort_unique(out); /* a hash has no duplicate keys: only sorted here */
	return 0;
}

int sl_names_load(struct sl_maps *m, enum sl_map_id id, struct sl_name_set *out)
{
	return load_map(m, id == SL_MAP_SVC_META ? SVC : EP, out);
}

int sl_names_diff(struct sl_maps *m, const struct sl_names_svc *old, size_t n_old,
		  const struct sl_names_svc *new, size_t n_new, bool trusted, __u32 inactive,
		  struct sl_names_change *c)
{
	struct sl_name_set cur[2] = { { 0 } }, want[2] = { { 0 } };
	int err;

	memset(c, 0, sizeof(*c));
	if (trusted)
		err = names_of(old, n_old, cur);
	else {
		err = load_map(m, SVC, &cur[SVC]);
		if (!err)
			err = load_map(m, EP, &cur[EP]);
	}
	if (!err)
		err = names_of(new, n_new, want);
	for (int k = 0; !err && k < 2; k++)
		err = plan_map(c, k, &cur[k], &want[k], inactive);
	for (int k = 0; k < 2; k++) {
		sl_name_set_free(&cur[k]);
		sl_name_set_free(&want[k]);
	}
	if (err)
		sl_names_change_free(c);
	return err;
}

int sl_names_diff_all(struct sl_maps *m, const struct sl_tables *new, __u32 inactive,
		      struct sl_names_change *c)
{
	size_t n = new ? new->n_svcs : 0;
	struct sl_names_svc *v = calloc(n ? n : 1, sizeof(*v));
	int err;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = (struct sl_names_svc){ new, i };
	err = sl_names_diff(m, NULL, 0, v, n, false, inactive, c);
	free(v);
	return err;
}

#define CHUNK 1024 /* entries per batch: a buffer reused, not the whole set copied */

/* Write (VALS) or delete S's entries, a batch per CHUNK. */
static int write_set(struct sl_maps *m, int k, const struct sl_name_set *s, bool vals)
{
	struct sl_meta_key *keys = malloc(CHUNK * sizeof(*keys));
	char *v = vals ? malloc(CHUNK * vsz_of[k]) : NULL;
	int err = keys && (v || !vals) ? 0 : -ENOMEM;

	for (size_t at = 0; !err && at < s->n; at += CHUNK) {
		size_t n = s->n - at < CHUNK ? s->n - at : CHUNK;

		for (size_t i = 0; i < n; i++) {
			keys[i] = s->v[at + i].key;
			if (vals)
				memcpy(v + i * vsz_of[k], s->v[at + i].val, vsz_of[k]);
		}
		err = vals ? sl_put_many(m->fd[map_of[k]], keys, v, n, sizeof(*keys), vsz_of[k])
			   : sl_del_many(m->fd[map_of[k]], keys, n, sizeof(*keys));
	}
	free(keys);
	free(v);
	return err;
}

int sl_names_before(struct sl_maps *m, struct sl_names_change *c)
{
	int err = 0;

	c->written = true; /* first: a batch that fails half-way wrote some */
	for (int k = 0; !err && k < 2; k++)
		err = write_set(m, k, &c->before[k], true);
	return err;
}

void sl_names_undo(struct sl_maps *m, struct sl_names_change *c)
{
	if (!c->written)
		return;
	for (int k = 0; k < 2; k++)
		write_set(m, k, &c->before[k], false);
	c->written = false;
}

int sl_names_after(struct sl_maps *m, const struct sl_names_change *c)
{
	int err = 0;

	/* New names for both before the overrides go, so that the live slot
	 * reads the new name all along. */
	for (int k = 0; !err && k < 2; k++)
		err = write_set(m, k, &c->after[k], true);
	for (int k = 0; !err && k < 2; k++)
		err = write_set(m, k, &c->gone[k], false);
	return err;
}

const void *sl_names_find(const struct sl_name_set *s, const struct sl_l4addr *fe,
			  const struct sl_l4addr *ep, __u32 slot)
{
	struct sl_name_ent k = { .key = key_of(fe, ep, slot) };
	const struct sl_name_ent *hit = s->n ? bsearch(&k, s->v, s->n, sizeof(k), cmp_ent_key) : NULL;

	if (!hit && slot != SL_NAMES_BOTH) {
		k.key.slot = SL_NAMES_BOTH;
		hit = s->n ? bsearch(&k, s->v, s->n, sizeof(k), cmp_ent_key) : NULL;
	}
	return hit ? hit->val : NULL;
}
