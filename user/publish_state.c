// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Endpoint and group state in the publisher: which (frontend, endpoint) and
 * (frontend, subset) pairs the policy owns, and what happens to the state
 * ids (user/stateid.c) of pairs that leave it, and the capacity check of
 * the id directories (sl_ep_ids, sl_group_ids).
 *
 * New pairs get their ids as their rows are written (user/publish.c), so a
 * row never names an id that is not its own. A pair that left the live
 * policy goes RETIRING; its id is freed only once no connection holds it
 * (see stateid.h), so the counts those connections release are never taken
 * from an id reused by another pair.
 *
 * Both directories are handled by one set of functions over a small
 * descriptor: the keys a service owns and the size of a key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "publish.h"
#include "stateid.h"
#include "util.h"

#define MAX_SVC_KEYS (SL_MAX_GROUPS * SL_MAX_GROUP_BACKENDS)

struct state_kind {
	enum sl_map_id id;
	size_t ksz;
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
	{ SL_MAP_EP_IDS, sizeof(struct sl_ep_key), "(service, endpoint) state id", ep_keys },
	{ SL_MAP_GROUP_IDS, sizeof(struct sl_group_key), "(service, subset) state id",
	  group_keys },
};

/* ---- messages --------------------------------------------------------- */

void sl_fmt_services(const struct sl_tables *t, const size_t *idx, size_t n, char *buf,
		     size_t len)
{
	size_t o = 0, shown = n < 5 ? n : 5;

	buf[0] = 0;
	for (size_t i = 0; i < shown && o < len; i++) {
		const struct sl_table_svc *s = &t->svcs[idx[i]];

		o += (size_t)snprintf(buf + o, len - o, "%s%s %s/%s",
				      i ? (i + 1 == n ? " and " : ", ") : "", s->kind, s->meta.ns,
				      s->meta.name);
	}
	if (n > shown && o < len)
		snprintf(buf + o, len - o, " and %zu more", n - shown);
	if (!n)
		snprintf(buf, len, "no service");
}

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

/* ---- retiring --------------------------------------------------------- */

/* The pairs of service OI of OLD that service NI of NEW (-1: none) does
 * not hold: retired, or (UNDO) their ids freed at once when idle. */
static void drop_svc(struct sl_maps *m, const struct sl_tables *old, size_t oi,
		     const struct sl_tables *new, ssize_t ni, size_t *removed, bool undo)
{
	char *gone = malloc(MAX_SVC_KEYS * sizeof(struct sl_ep_key));
	struct keyset keep = { malloc(MAX_SVC_KEYS * sizeof(struct sl_ep_key)), 0, 0 };
	struct sl_state_maps sm;

	sl_state_maps_of(m, &sm);
	for (size_t k = 0; gone && keep.v && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t n = kinds[k].keys_of(old, oi, gone);

		keep.ksz = kinds[k].ksz;
		keep.n = ni >= 0 ? kinds[k].keys_of(new, (size_t)ni, keep.v) : 0;
		keyset_sort(&keep);
		for (size_t j = 0; j < n; j++) {
			const void *key = gone + j * kinds[k].ksz;

			if (keyset_has(&keep, key))
				continue;
			if (kinds[k].id == SL_MAP_EP_IDS) {
				const struct sl_ep_key *ek = key;

				if (undo)
					sl_stateid_undo_ep(&sm, &ek->fe, &ek->ep);
				else
					sl_stateid_retire_ep(&sm, &ek->fe, &ek->ep);
				(*removed)++;
			} else {
				const struct sl_group_key *gk = key;

				if (undo)
					sl_stateid_undo_group(&sm, &gk->fe, gk->tag);
				else
					sl_stateid_retire_group(&sm, &gk->fe, gk->tag);
			}
		}
	}
	free(gone);
	free(keep.v);
}

void sl_state_reap_svc(struct sl_maps *m, const struct sl_tables *old, size_t oi,
		       const struct sl_tables *new, ssize_t ni, size_t *removed)
{
	drop_svc(m, old, oi, new, ni, removed, false);
}

void sl_state_undo_svc(struct sl_maps *m, const struct sl_tables *new, size_t ni,
		       const struct sl_tables *old, ssize_t oi)
{
	drop_svc(m, new, ni, old, oi, &(size_t){ 0 }, true);
}

int sl_state_reap_all(struct sl_maps *m, const struct sl_tables *t, size_t *removed)
{
	static const struct sl_tables none;
	struct sl_state_maps sm;

	sl_state_maps_of(m, &sm);
	*removed += sl_stateid_sweep(&sm, t ? t : &none);
	return 0;
}

void sl_state_undo(struct sl_maps *m, const struct sl_tables *live)
{
	static const struct sl_tables none;
	struct sl_state_maps sm;

	sl_state_maps_of(m, &sm);
	sl_stateid_undo(&sm, live ? live : &none);
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
				     "endpoints or groups that left it, kept until they "
				     "have held no connection for 2 s); needed by %s",
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
