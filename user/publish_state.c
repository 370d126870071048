// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Endpoint and group state (sl_ep_state, sl_group_state): records keyed by
 * address, not by slot, so counters, ejections and connection counts
 * survive every apply.
 *
 * Owned records: a record belongs to the policy while its (frontend,
 * endpoint) or (frontend, group tag) is in the live tables. Records the
 * policy no longer owns are removed once idle (active <= 0); one that still
 * counts open connections stays until a later reap finds it idle (the next
 * whole-slot apply, or a repair), so the counts those connections release
 * are never taken from a record reused by a returning endpoint.
 *
 * Both maps are handled by one set of functions over a small descriptor:
 * the keys a service owns and the size of a record.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "publish.h"
#include "util.h"

_Static_assert(offsetof(struct sl_ep_state, active) == 0, "active first");
_Static_assert(offsetof(struct sl_group_state, active) == 0, "active first");

#define MAX_SVC_KEYS (SL_MAX_GROUPS * SL_MAX_GROUP_BACKENDS)

struct state_kind {
	enum sl_map_id id;
	size_t ksz, vsz;
	const char *record; /* what one record is, for messages */
	/* The keys service I of T owns, into OUT (room for MAX_SVC_KEYS). */
	size_t (*keys_of)(const struct sl_tables *t, size_t i, void *out);
};

static size_t ep_keys(const struct sl_tables *t, size_t i, void *out)
{
	const struct sl_svc_val *v = &t->svcs[i].val;
	struct sl_ep_key *k = out;
	size_t n = 0;

	for (unsigned g = 0; g < v->n_groups && g < SL_MAX_GROUPS; g++) {
		for (__u32 r = 0; r < v->groups[g].count && n < MAX_SVC_KEYS; r++) {
			memset(&k[n], 0, sizeof(k[n]));
			k[n].fe = t->svcs[i].fe;
			k[n++].ep = t->backends[v->groups[g].first + r].be.ep;
		}
	}
	return n;
}

static size_t group_keys(const struct sl_tables *t, size_t i, void *out)
{
	const struct sl_svc_val *v = &t->svcs[i].val;
	struct sl_group_key *k = out;
	size_t n = 0;

	for (unsigned g = 0; g < v->n_groups && g < SL_MAX_GROUPS; g++) {
		memset(&k[n], 0, sizeof(k[n]));
		k[n].fe = t->svcs[i].fe;
		k[n++].tag = v->groups[g].tag;
	}
	return n;
}

static const struct state_kind kinds[] = {
	{ SL_MAP_EP_STATE, sizeof(struct sl_ep_key), sizeof(struct sl_ep_state),
	  "(service, endpoint) record", ep_keys },
	{ SL_MAP_GROUP_STATE, sizeof(struct sl_group_key), sizeof(struct sl_group_state),
	  "(service, subset) record", group_keys },
};

/* ---- sorted key sets -------------------------------------------------- */

struct keyset {
	char *v;
	size_t n, ksz;
};

static int cmp_key(const void *a, const void *b, void *ksz)
{
	return memcmp(a, b, *(size_t *)ksz);
}

static void keyset_sort(struct keyset *s)
{
	size_t n = 0;

	if (!s->n)
		return;
	qsort_r(s->v, s->n, s->ksz, cmp_key, &s->ksz);
	for (size_t i = 0; i < s->n; i++)
		if (!n || memcmp(s->v + (n - 1) * s->ksz, s->v + i * s->ksz, s->ksz))
			memmove(s->v + n++ * s->ksz, s->v + i * s->ksz, s->ksz);
	s->n = n;
}

static bool keyset_has(const struct keyset *s, const void *k)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = memcmp(s->v + mid * s->ksz, k, s->ksz);

		if (!c)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Every key T owns (T may be NULL: none). */
static int keyset_of(const struct state_kind *k, const struct sl_tables *t, struct keyset *s)
{
	size_t cap = t ? t->n_backends + t->n_svcs * SL_MAX_GROUPS + MAX_SVC_KEYS : MAX_SVC_KEYS;

	s->ksz = k->ksz;
	s->n = 0;
	s->v = malloc(cap * k->ksz);
	if (!s->v)
		return -ENOMEM;
	for (size_t i = 0; t && i < t->n_svcs; i++)
		s->n += k->keys_of(t, i, s->v + s->n * k->ksz);
	keyset_sort(s);
	return 0;
}

/* ---- precreate and reap ----------------------------------------------- */

int sl_state_precreate(struct sl_maps *m, const struct sl_tables *t, const size_t *idx,
		       size_t n_idx, const struct sl_tables *old, const ssize_t *oidx)
{
	static const char zero[sizeof(struct sl_ep_state)];
	char *keys = malloc(MAX_SVC_KEYS * sizeof(struct sl_ep_key));
	struct keyset had = { malloc(MAX_SVC_KEYS * sizeof(struct sl_ep_key)), 0, 0 };
	int err = keys && had.v ? 0 : -ENOMEM;

	for (size_t s = 0; !err && s < (idx ? n_idx : t->n_svcs); s++) {
		for (size_t k = 0; !err && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			size_t n = kinds[k].keys_of(t, idx ? idx[s] : s, keys);

			/* Keys the service had before have their records. */
			had.ksz = kinds[k].ksz;
			had.n = old && oidx && oidx[s] >= 0 ? kinds[k].keys_of(old, (size_t)oidx[s], had.v)
							     : 0;
			keyset_sort(&had);
			/* One by one with NOEXIST: a record the kernel created
			 * meanwhile already counts a connection. */
			for (size_t j = 0; !err && j < n; j++) {
				if (keyset_has(&had, keys + j * kinds[k].ksz))
					continue;
				err = sl_map_put(m->fd[kinds[k].id], keys + j * kinds[k].ksz, zero,
						 BPF_NOEXIST);
				if (err == -EEXIST)
					err = 0;
			}
		}
	}
	free(keys);
	free(had.v);
	return err;
}

/* Does the record at KEY count no connection (and exist)? */
static bool idle(struct sl_maps *m, const struct state_kind *k, const void *key)
{
	__s64 v[sizeof(struct sl_ep_state) / sizeof(__s64)];

	return !bpf_map_lookup_elem(m->fd[k->id], key, v) && v[0] <= 0;
}

/* Delete the record at KEY unless it still counts connections. */
static bool reap_one(struct sl_maps *m, const struct state_kind *k, const void *key)
{
	return idle(m, k, key) && !sl_map_del(m->fd[k->id], key);
}

void sl_state_reap_svc(struct sl_maps *m, const struct sl_tables *old, size_t oi,
		       const struct sl_tables *new, ssize_t ni, size_t *removed)
{
	char *gone = malloc(MAX_SVC_KEYS * sizeof(struct sl_ep_key));
	struct keyset keep = { malloc(MAX_SVC_KEYS * sizeof(struct sl_ep_key)), 0, 0 };

	for (size_t k = 0; gone && keep.v && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t n = kinds[k].keys_of(old, oi, gone);

		keep.ksz = kinds[k].ksz;
		keep.n = ni >= 0 ? kinds[k].keys_of(new, (size_t)ni, keep.v) : 0;
		keyset_sort(&keep);
		for (size_t j = 0; j < n; j++)
			if (!keyset_has(&keep, gone + j * kinds[k].ksz) &&
			    reap_one(m, &kinds[k], gone + j * kinds[k].ksz))
				(*removed)++;
	}
	free(gone);
	free(keep.v);
}

struct unowned {
	const struct keyset *owned;
	struct sl_maps *m;
	const struct state_kind *kind;
	size_t *removed;
};

static bool unowned_idle(const void *key, const void *ctx)
{
	const struct unowned *u = ctx;

	if (keyset_has(u->owned, key) || !idle(u->m, u->kind, key))
		return false;
	(*u->removed)++;
	return true;
}

int sl_state_reap_all(struct sl_maps *m, const struct sl_tables *t, size_t *removed)
{
	int err = 0;

	for (size_t k = 0; !err && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct keyset owned;
		struct unowned u = { &owned, m, &kinds[k], removed };

		/* The publisher's one key-walk-then-delete helper, as for
		 * slots: only the test differs. */
		err = keyset_of(&kinds[k], t, &owned);
		if (!err)
			err = sl_clear_where(m->fd[kinds[k].id], kinds[k].ksz, unowned_idle, &u);
		free(owned.v);
	}
	return err;
}

/* ---- capacity --------------------------------------------------------- */

struct state_count {
	size_t in_map, live, need, free_slots, cap;
	size_t *svcs, n_svcs; /* services of NEW that need new records */
};

/* How many records NEW adds to what the map holds now. */
static int count_state(struct sl_maps *m, const struct state_kind *k, const struct sl_tables *old,
		       const struct sl_tables *new, struct state_count *c)
{
	struct keyset present = { NULL, 0, k->ksz }, live;
	char *own = malloc(MAX_SVC_KEYS * k->ksz);
	int err = keyset_of(k, old, &live);

	memset(c, 0, sizeof(*c));
	present.v = err ? NULL : sl_map_keys(m->fd[k->id], k->ksz, &present.n);
	c->svcs = calloc(new->n_svcs + 1, sizeof(*c->svcs));
	if (!err && (!present.v || !own || !c->svcs))
		err = -ENOMEM;
	if (!err) {
		c->in_map = present.n;
		for (size_t j = 0; j < present.n; j++)
			c->live += keyset_has(&live, present.v + j * k->ksz);
		keyset_sort(&present);
	}
	for (size_t i = 0; !err && i < new->n_svcs; i++) {
		size_t n = k->keys_of(new, i, own), add = 0;

		for (size_t j = 0; j < n; j++)
			add += !keyset_has(&present, own + j * k->ksz);
		c->need += add;
		if (add)
			c->svcs[c->n_svcs++] = i;
	}
	c->cap = sl_map_capacity(m->fd[k->id]);
	c->free_slots = c->cap > c->in_map ? c->cap - c->in_map : 0;
	free(present.v);
	free(live.v);
	free(own);
	return err;
}

int sl_state_check(struct sl_maps *m, const struct sl_tables *old, const struct sl_tables *new,
		   struct sl_diags *d)
{
	int ret = 0;

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct state_count c;
		char who[512];
		int err = count_state(m, &kinds[k], old, new, &c);

		if (!err && c.need > c.free_slots) {
			sl_fmt_services(new, c.svcs, c.n_svcs, who, sizeof(who));
			sl_diags_add(d, SL_SEV_ERROR, "<policy>", 0, sl_map_names[kinds[k].id],
				     "map full: the policy needs %zu new %ss, %zu of %zu are "
				     "free (%zu in use: %zu by the live policy, %zu by "
				     "endpoints or groups that left it and still hold "
				     "connections); needed by %s",
				     c.need, kinds[k].record, c.free_slots, c.cap, c.in_map, c.live,
				     c.in_map - c.live, who);
			ret = -EINVAL;
		} else if (err) {
			ret = ret ? ret : err;
		}
		free(c.svcs);
	}
	return ret;
}
