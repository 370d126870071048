// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The model of an applied policy: a summary per object (struct sl_osum)
 * and the indexes the incremental compile (incr.c) walks. See model.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* ---- kmap -------------------------------------------------------------- */

static size_t bucket(const struct kmap *m, uint64_t key)
{
	/* Keys are FNV-1a, weak in their high bits: mixed (MurmurHash3). */
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (size_t)key & (m->nb - 1);
}

static void rehash(struct kmap *m)
{
	size_t nb = m->nb ? m->nb * 2 : 1024;

	free(m->head);
	m->nb = nb;
	m->head = slp_xcalloc(nb, sizeof(*m->head));
	slp_prefault(m->head, nb * sizeof(*m->head));
	for (size_t i = 0; i < m->cap; i++) {
		struct kent *e = &m->e[i];
		size_t b;

		if (e->val == UINT32_MAX)
			continue; /* free */
		b = bucket(m, e->key);
		e->next = m->head[b];
		m->head[b] = (uint32_t)i + 1;
	}
}

void kmap_put(struct kmap *m, uint64_t key, uint32_t val)
{
	uint32_t at;
	size_t b;

	if (m->free) {
		at = m->free - 1;
		m->free = m->e[at].next;
	} else {
		if (m->cap == m->size) {
			if (m->size >= UINT32_MAX / 2)
				abort();
			m->size = m->size ? 2 * m->size : 1024;
			m->e = slp_xrealloc(m->e, m->size, sizeof(*m->e));
		}
		at = (uint32_t)m->cap++;
	}
	m->e[at] = (struct kent){ key, val, 0 };
	m->n++;
	if (m->n > m->nb) {
		rehash(m); /* links every entry, this one included */
		return;
	}
	b = bucket(m, key);
	m->e[at].next = m->head[b];
	m->head[b] = at + 1;
}

void kmap_del(struct kmap *m, uint64_t key, uint32_t val)
{
	uint32_t *link;

	if (!m->nb)
		return;
	for (link = &m->head[bucket(m, key)]; *link; link = &m->e[*link - 1].next) {
		struct kent *e = &m->e[*link - 1];
		uint32_t at = *link;

		if (e->key != key || e->val != val)
			continue;
		*link = e->next;
		e->val = UINT32_MAX;
		e->next = m->free;
		m->free = at;
		m->n--;
		return;
	}
}

uint32_t kmap_next(const struct kmap *m, uint32_t at, uint64_t key)
{
	while (at && m->e[at - 1].key != key)
		at = m->e[at - 1].next;
	return at;
}

uint32_t kmap_first(const struct kmap *m, uint64_t key)
{
	return m->nb ? kmap_next(m, m->head[bucket(m, key)], key) : 0;
}

void kmap_free(struct kmap *m)
{
	free(m->head);
	free(m->e);
	memset(m, 0, sizeof(*m));
}

/* ---- the model ---------------------------------------------------------- */

uint64_t model_fnv64(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return h;
}

uint64_t model_ident_key(unsigned kind, const char *ns, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = (h ^ (kind & 0xff)) * 0x100000001b3ull;
	for (const char *p = ns; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	h = (h ^ '/') * 0x100000001b3ull;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	return h;
}

const char *sl_kind_name(unsigned id)
{
	return id < K__COUNT ? slp_kind_name((int)id) : NULL;
}

/* Kinds in the order of their names (identity order compares names). */
static int rank[K__COUNT];

static void rank_init(void)
{
	for (int i = 0; i < K__COUNT; i++)
		for (int j = 0; j < K__COUNT; j++)
			rank[i] += strcmp(slp_kind_name(j), slp_kind_name(i)) < 0;
}

/* Once for the process: the store's encoder compares on two threads. */
static int kind_rank(unsigned id)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, rank_init);
	return id < K__COUNT ? rank[id] : K__COUNT;
}

int sl_osum_cmp(const struct sl_osum *a, const struct sl_osum *b)
{
	int r = kind_rank(a->kind) - kind_rank(b->kind);

	if (!r)
		r = strcmp(a->ns, b->ns);
	return r ? r : strcmp(a->name, b->name);
}

struct sl_model *sl_model_new(const struct sl_compile_opts *o)
{
	struct sl_model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	if (o)
		m->opts = *o;
	else
		sl_compile_opts_default(&m->opts);
	slp_scopy(m->domain, sizeof(m->domain), m->opts.cluster_domain ?: "cluster.local");
	m->opts.cluster_domain = m->domain;
	return m;
}

void sl_model_free(struct sl_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].rec);
		slp_object_free(m->v[i].obj);
	}
	for (size_t i = 0; i < m->n_adopted; i++)
		free(m->adopted[i]);
	free(m->adopted);
	free(m->v);
	free(m->dirty);
	free(m->runs);
	kmap_free(&m->late);
	kmap_free(&m->ident);
	kmap_free(&m->prov);
	kmap_free(&m->need);
	kmap_free(&m->sprov);
	kmap_free(&m->addr);
	arena_free(&m->a);
	free(m);
}

static void kmap_reserve(struct kmap *m, size_t n)
{
	if (n <= m->size)
		return;
	m->e = slp_xrealloc(m->e, n, sizeof(*m->e));
	slp_prefault(m->e + m->size, (n - m->size) * sizeof(*m->e));
	m->size = n;
	while (m->nb < n) {
		m->nb = m->nb ? 2 * m->nb : 1024;
		if (m->nb >= n)
			break;
	}
	free(m->head);
	m->head = NULL;
	m->nb /= 2; /* rehash() doubles it and links what is there */
	rehash(m);
}

int sl_model_reserve(struct sl_model *m, size_t n)
{
	if (n > m->cap) {
		m->v = slp_xrealloc(m->v, n, sizeof(*m->v));
		slp_prefault(m->v + m->cap, (n - m->cap) * sizeof(*m->v));
		m->cap = n;
	}
	/* About two keys provided per object; most needs are implied (keys.c). */
	kmap_reserve(&m->ident, n);
	kmap_reserve(&m->prov, 2 * n);
	kmap_reserve(&m->need, n / 2);
	kmap_reserve(&m->sprov, n / 2);
	return 0;
}

void sl_model_adopt(struct sl_model *m, void *buf)
{
	if (!buf)
		return;
	m->adopted = slp_xrealloc(m->adopted, m->n_adopted + 1, sizeof(*m->adopted));
	m->adopted[m->n_adopted++] = buf;
}

ssize_t model_find(const struct sl_model *m, unsigned kind, const char *ns, const char *name)
{
	uint64_t k = model_ident_key(kind, ns, name);

	for (uint32_t at = kmap_first(&m->ident, k); at; at = kmap_next(&m->ident, m->ident.e[at - 1].next, k)) {
		const struct sl_osum *s = &m->v[m->ident.e[at - 1].val].s;

		if (s->kind == kind && !strcmp(s->ns, ns) && !strcmp(s->name, name))
			return m->ident.e[at - 1].val;
	}
	return -1;
}

bool model_sprov_of(const struct sl_osum *s)
{
	return (s->flags & SL_OSUM_SELFNEED) || s->kind == K_PEERAUTHN || s->kind == K_AUTHZ ||
	       s->kind == K_REQAUTHN;
}

uint64_t model_addr_key(const struct sl_l4addr *a)
{
	uint64_t w[3] = { 0, 0, 0 }, h;

	_Static_assert(sizeof(*a) <= sizeof(w), "sl_l4addr fits three words");
	memcpy(w, a, sizeof(*a));
	h = (w[0] ^ (w[1] * 0x9e3779b97f4a7c15ull) ^ (w[2] * 0xc2b2ae3d27d4eb4full)) *
	    0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 31)) * 0x94d049bb133111ebull;
	return h ^ (h >> 29);
}

size_t model_pod_addr_keys(const struct sl_osum *s, uint64_t out[SLP_NPV_MAX_IPS])
{
	struct np_view v;
	struct sl_l4addr a;
	size_t n = 0;

	if (s->kind != K_POD || slp_np_decode_addrs(s->np, s->n_np, &v))
		return 0; /* bad bytes: the compile says so */
	for (size_t j = 0; j < v.n_ips && n < SLP_NPV_MAX_IPS; j++)
		if (!slp_np_ip(&v, j, &a))
			out[n++] = model_addr_key(&a);
	return n;
}

/* Pod slot I under (ADD) or out of each of its addresses in M->addr. */
static void index_addrs(struct sl_model *m, size_t i, const struct sl_osum *s, bool add)
{
	uint64_t k[SLP_NPV_MAX_IPS];
	size_t n = model_pod_addr_keys(s, k);

	for (size_t j = 0; j < n; j++)
		(add ? kmap_put : kmap_del)(&m->addr, k[j], (uint32_t)i);
}

void model_addr_index(struct sl_model *m)
{
	if (m->addr_built)
		return;
	m->addr_built = true;
	for (size_t i = 0; i < m->n; i++)
		if (!m->v[i].removed)
			index_addrs(m, i, &m->v[i].s, true);
}

static void index_keys(struct sl_model *m, size_t i, bool add)
{
	const struct sl_osum *s = &m->v[i].s;
	void (*op)(struct kmap *, uint64_t, uint32_t) = add ? kmap_put : kmap_del;
	bool sprov = model_sprov_of(s);

	op(&m->ident, model_ident_key(s->kind, s->ns, s->name), (uint32_t)i);
	for (uint32_t k = 0; k < s->n_provides; k++) {
		op(&m->prov, s->provides[k], (uint32_t)i);
		if (sprov)
			op(&m->sprov, s->provides[k], (uint32_t)i);
	}
	for (uint32_t k = 0; k < s->n_needs; k++)
		op(&m->need, s->needs[k], (uint32_t)i);
	if (m->addr_built)
		index_addrs(m, i, s, add);
}

/* ---- totals, the dirty list, tags ---------------------------------------- */

enum { SHARE_LIVE = 1, SHARE_UNIT = 2, SHARE_ING = 4 };

static uint8_t share_of(const struct mobj *o)
{
	if (o->removed)
		return 0;
	return SHARE_LIVE | (o->s.flags & SL_OSUM_UNIT ? SHARE_UNIT : 0) |
	       (o->s.n_ing ? SHARE_ING : 0);
}

static void count_bit(size_t *total, uint8_t was, uint8_t now, uint8_t bit)
{
	if ((was & bit) && !(now & bit))
		(*total)--;
	else if (!(was & bit) && (now & bit))
		(*total)++;
}

/* Slot I's share of the totals, brought up to what it is now. Every
 * change to a slot marks it dirty, so settling the dirty slots makes the
 * totals exact. */
static void settle_one(struct sl_model *m, size_t i)
{
	struct mobj *o = &m->v[i];
	uint8_t now = share_of(o);
	uint32_t raw = now ? o->s.rec_len : 0;

	count_bit(&m->units, o->acc, now, SHARE_UNIT);
	count_bit(&m->ing_units, o->acc, now, SHARE_ING);
	m->raw = m->raw - o->acc_raw + raw;
	o->acc = now;
	o->acc_raw = raw;
}

static void settle(struct sl_model *m)
{
	for (size_t j = 0; j < m->n_dirty; j++)
		settle_one(m, m->dirty[j]);
}

void model_touch(struct sl_model *m, size_t i, bool rec)
{
	if (!m->v[i].dirty) {
		if (m->n_dirty == m->cap_dirty) {
			m->cap_dirty = m->cap_dirty ? 2 * m->cap_dirty : 64;
			m->dirty = slp_xrealloc(m->dirty, m->cap_dirty, sizeof(*m->dirty));
		}
		m->dirty[m->n_dirty++] = (uint32_t)i;
		m->v[i].dirty = true;
	}
	if (rec)
		m->v[i].rec_dirty = true;
}

/* Tags are at most this (the store's buckets + 1) to be kept as runs. */
#define MAX_RUN_TAG (1u << 20)

/* Slot I joins TAG's run: slots the store reads in are added in bucket
 * order, so each bucket's are one run and cost nothing to index. */
static bool join_run(struct sl_model *m, size_t i, uint32_t tag)
{
	struct tag_run *r;

	if (tag >= MAX_RUN_TAG)
		return false;
	if (tag >= m->n_runs) {
		size_t n = m->n_runs ? m->n_runs : 64;

		while (n <= tag)
			n *= 2;
		m->runs = slp_xrealloc(m->runs, n, sizeof(*m->runs));
		memset(m->runs + m->n_runs, 0, (n - m->n_runs) * sizeof(*m->runs));
		m->n_runs = n;
	}
	r = &m->runs[tag];
	if (i >= r->lo && i < r->hi)
		return true; /* tagged so before */
	if (r->hi == r->lo) {
		r->lo = (uint32_t)i;
		r->hi = (uint32_t)i + 1;
		return true;
	}
	if (r->hi != i)
		return false;
	r->hi++;
	return true;
}

static void tag_slot(struct sl_model *m, size_t i, uint32_t tag)
{
	uint32_t old = m->v[i].tag;

	if (old == tag)
		return;
	if (old)
		kmap_del(&m->late, old, (uint32_t)i); /* nothing when it is in a run */
	else
		m->untagged--;
	m->v[i].tag = tag;
	if (!tag)
		m->untagged++;
	else if (!join_run(m, i, tag))
		kmap_put(&m->late, tag, (uint32_t)i);
}

ssize_t model_insert(struct sl_model *m, const struct sl_osum *s)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 1024;
		m->v = slp_xrealloc(m->v, m->cap, sizeof(*m->v));
	}
	memset(&m->v[m->n], 0, sizeof(m->v[0]));
	m->v[m->n].s = *s;
	index_keys(m, m->n, true);
	settle_one(m, m->n);
	m->untagged++;
	m->live++;
	return (ssize_t)m->n++;
}

/* Index slot I under the keys of NOW that WAS (both sorted) lacks, and
 * out of those WAS has that NOW lacks. A key that stays stays linked: a
 * key many slots share (every Pod's netpol-pod) has a chain as long as
 * they are, which an unlink walks. */
static void reindex(struct kmap *km, uint32_t i, const uint64_t *was, uint32_t n_was,
		    const uint64_t *now, uint32_t n_now)
{
	uint32_t a = 0, b = 0;

	while (a < n_was || b < n_now) {
		if (b == n_now || (a < n_was && was[a] < now[b]))
			kmap_del(km, was[a++], i);
		else if (a == n_was || now[b] < was[a])
			kmap_put(km, now[b++], i);
		else
			a++, b++;
	}
}

void model_replace(struct sl_model *m, size_t i, const struct sl_osum *s)
{
	const struct sl_osum was = m->v[i].s;

	/* Same identity: its ident entry stays. */
	reindex(&m->prov, (uint32_t)i, was.provides, was.n_provides, s->provides, s->n_provides);
	reindex(&m->sprov, (uint32_t)i, was.provides, model_sprov_of(&was) ? was.n_provides : 0,
		s->provides, model_sprov_of(s) ? s->n_provides : 0);
	reindex(&m->need, (uint32_t)i, was.needs, was.n_needs, s->needs, s->n_needs);
	if (m->addr_built) {
		index_addrs(m, i, &was, false);
		index_addrs(m, i, s, true);
	}
	m->v[i].s = *s;
	model_touch(m, i, false);
}

void model_remove(struct sl_model *m, size_t i)
{
	index_keys(m, i, false);
	m->v[i].removed = true;
	model_touch(m, i, false);
	free(m->v[i].rec);
	m->v[i].rec = NULL;
	slp_object_free(m->v[i].obj);
	m->v[i].obj = NULL;
	m->live--;
}

/* Strictly ascending, as the compiler writes key lists (model_replace
 * re-indexes by merging two of them). */
static bool keys_sorted(const uint64_t *k, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++)
		if (k[i - 1] >= k[i])
			return false;
	return true;
}

/* A summary read from the store: every field within bounds of what the
 * compiler can have written. */
static bool sum_sane(const struct sl_osum *s)
{
	return s->kind < K__COUNT && s->ns && s->name && *s->name &&
	       (!s->n_provides || s->provides) && (!s->n_needs || s->needs) &&
	       keys_sorted(s->provides, s->n_provides) && keys_sorted(s->needs, s->n_needs) &&
	       (!s->n_vips || s->vips) && (!s->n_fes || s->fes) && (!s->n_ing || s->ing) &&
	       (!s->n_np || s->np);
}

int sl_model_add(struct sl_model *m, const struct sl_osum *s, uint32_t tag, bool unique)
{
	ssize_t at;

	if (!sum_sane(s))
		return -EINVAL;
	if (!unique && model_find(m, s->kind, s->ns, s->name) >= 0)
		return -EEXIST;
	at = model_insert(m, s);
	tag_slot(m, (size_t)at, tag);
	return 0;
}

uint32_t sl_model_tag(const struct sl_model *m, size_t i)
{
	return i < m->n ? m->v[i].tag : 0;
}

void sl_model_set_tag(struct sl_model *m, size_t i, uint32_t tag)
{
	if (i < m->n)
		tag_slot(m, i, tag);
}

size_t sl_model_untagged(const struct sl_model *m)
{
	return m->untagged;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

int sl_model_with_tag(const struct sl_model *m, uint32_t tag, uint32_t **out, size_t *n)
{
	const struct tag_run *r = tag && tag < m->n_runs ? &m->runs[tag] : NULL;
	size_t k = 0, cap = r ? r->hi - r->lo : 0;
	uint32_t *v;

	for (uint32_t at = kmap_first(&m->late, tag); at; at = kmap_next(&m->late, m->late.e[at - 1].next, tag))
		cap++;
	v = malloc((cap + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	/* A run keeps slots tagged otherwise since; they are left out here. */
	for (uint32_t i = r ? r->lo : 0; r && i < r->hi; i++)
		if (m->v[i].tag == tag)
			v[k++] = i;
	for (uint32_t at = kmap_first(&m->late, tag); at; at = kmap_next(&m->late, m->late.e[at - 1].next, tag))
		v[k++] = m->late.e[at - 1].val;
	qsort(v, k, sizeof(*v), cmp_u32);
	*out = v;
	*n = k;
	return 0;
}

static bool kmap_has(const struct kmap *km, uint64_t key, uint32_t val)
{
	for (uint32_t at = kmap_first(km, key); at; at = kmap_next(km, km->e[at - 1].next, key))
		if (km->e[at - 1].val == val)
			return true;
	return false;
}

/* Each of slot I's N keys K in KM; *COUNT grows by N. */
static bool keys_in(const struct kmap *km, const uint64_t *k, uint32_t n, uint32_t i,
		    size_t *count)
{
	*count += n;
	for (uint32_t j = 0; j < n; j++)
		if (!kmap_has(km, k[j], i))
			return false;
	return true;
}


const char *sl_model_audit(const struct sl_model *m, char *why, size_t len)
{
	size_t n_ident = 0, n_prov = 0, n_sprov = 0, n_need = 0, n_addr = 0;

	for (uint32_t i = 0; i < m->n; i++) {
		const struct sl_osum *s = &m->v[i].s;
		uint64_t id = model_ident_key(s->kind, s->ns, s->name);
		bool sp = model_sprov_of(s);

		if (m->v[i].removed)
			continue;
		if (!keys_in(&m->ident, &id, 1, i, &n_ident) ||
		    !keys_in(&m->prov, s->provides, s->n_provides, i, &n_prov) ||
		    !keys_in(&m->sprov, s->provides, sp ? s->n_provides : 0, i, &n_sprov) ||
		    !keys_in(&m->need, s->needs, s->n_needs, i, &n_need)) {
			snprintf(why, len, "slot %u (%s/%s): a key of it is not indexed", i, s->ns,
				 s->name);
			return why;
		}
		uint64_t ak[SLP_NPV_MAX_IPS];

		if (m->addr_built &&
		    !keys_in(&m->addr, ak, (uint32_t)model_pod_addr_keys(s, ak), i, &n_addr)) {
			snprintf(why, len, "slot %u (%s/%s): an address of it is not indexed", i,
				 s->ns, s->name);
			return why;
		}
	}
	if (m->addr_built && m->addr.n != n_addr) {
		snprintf(why, len, "%zu address entries; live Pods have %zu", m->addr.n, n_addr);
		return why;
	}
	if (m->ident.n != n_ident || m->prov.n != n_prov || m->sprov.n != n_sprov ||
	    m->need.n != n_need) {
		snprintf(why, len,
			 "index entries ident %zu prov %zu sprov %zu need %zu; live keys %zu %zu %zu %zu",
			 m->ident.n, m->prov.n, m->sprov.n, m->need.n, n_ident, n_prov, n_sprov,
			 n_need);
		return why;
	}
	return NULL;
}

size_t sl_model_dirty(const struct sl_model *m, const uint32_t **v)
{
	*v = m->dirty;
	return m->n_dirty;
}

size_t sl_model_units(struct sl_model *m)
{
	settle(m);
	return m->units;
}

bool sl_model_has_ingress(struct sl_model *m)
{
	settle(m);
	return m->ing_units > 0;
}

uint64_t sl_model_raw(struct sl_model *m)
{
	settle(m);
	return m->raw;
}

size_t sl_model_slots(const struct sl_model *m)
{
	return m->n;
}

size_t sl_model_count(const struct sl_model *m)
{
	return m->live;
}

const struct sl_osum *sl_model_sum(const struct sl_model *m, size_t i, bool *dirty, bool *rec)
{
	if (i >= m->n)
		return NULL;
	if (dirty)
		*dirty = m->v[i].dirty;
	if (rec)
		*rec = m->v[i].rec_dirty;
	return m->v[i].removed ? NULL : &m->v[i].s;
}

const struct sl_osum *sl_model_slot(const struct sl_model *m, size_t i, unsigned *state)
{
	if (i >= m->n)
		return NULL;
	*state = (m->v[i].removed ? SL_MS_REMOVED : 0) | (m->v[i].dirty ? SL_MS_DIRTY : 0) |
		 (m->v[i].rec_dirty ? SL_MS_REC : 0);
	return &m->v[i].s;
}

const struct sl_compile_opts *sl_model_opts(const struct sl_model *m)
{
	return &m->opts;
}

uint64_t sl_osum_ident(const struct sl_osum *s)
{
	return model_ident_key(s->kind, s->ns, s->name);
}

void sl_model_clean(struct sl_model *m)
{
	settle(m);
	for (size_t j = 0; j < m->n_dirty; j++)
		m->v[m->dirty[j]].dirty = m->v[m->dirty[j]].rec_dirty = false;
	m->n_dirty = 0;
}

char *sl_model_record(const struct sl_model *m, size_t i, size_t *len)
{
	char *r;

	if (i >= m->n || m->v[i].removed)
		return NULL;
	if (m->v[i].rec) {
		r = malloc(m->v[i].rec_len + 1);
		if (r) {
			memcpy(r, m->v[i].rec, m->v[i].rec_len);
			r[m->v[i].rec_len] = 0;
			*len = m->v[i].rec_len;
		}
		return r;
	}
	return m->v[i].obj ? slp_object_record(m->v[i].obj, len) : NULL;
}

/* ---- summaries of parsed objects ----------------------------------------- */

/* Does the object need every key it provides? Then those leave its
 * needs (both lists sorted). */
static bool self_needs(struct slp_keys *k)
{
	size_t j = 0, n = 0;

	if (!k->n_provides)
		return false;
	for (size_t i = 0; i < k->n_provides; i++) {
		while (j < k->n_needs && k->needs[j] < k->provides[i])
			j++;
		if (j == k->n_needs || k->needs[j] != k->provides[i])
			return false;
	}
	for (size_t i = 0, p = 0; i < k->n_needs; i++) {
		while (p < k->n_provides && k->provides[p] < k->needs[i])
			p++;
		if (p == k->n_provides || k->provides[p] != k->needs[i])
			k->needs[n++] = k->needs[i];
	}
	k->n_needs = n;
	return true;
}

int model_summarize(struct sl_model *m, const struct object *o, const char *rec, size_t rec_len,
		    struct sl_osum *out)
{
	struct slp_keys k;
	struct slp_unit u;

	memset(out, 0, sizeof(*out));
	if (o->id < 0 || o->id >= K__COUNT || rec_len > UINT32_MAX)
		return -EINVAL;
	out->kind = (uint8_t)o->id;
	out->ns = arena_dup(&m->a, o->ns, strlen(o->ns) + 1);
	out->name = arena_dup(&m->a, o->name, strlen(o->name) + 1);
	out->hash = model_fnv64(rec, rec_len);
	out->text_hash = model_fnv64(o->text, strlen(o->text));
	out->rec_len = (uint32_t)rec_len;
	slp_object_keys(o, &m->opts, &k);
	if (self_needs(&k))
		out->flags |= SL_OSUM_SELFNEED;
	out->provides = arena_dup(&m->a, k.provides, k.n_provides * sizeof(*k.provides));
	out->needs = arena_dup(&m->a, k.needs, k.n_needs * sizeof(*k.needs));
	out->n_provides = (uint32_t)k.n_provides;
	out->n_needs = (uint32_t)k.n_needs;
	slp_keys_free(&k);
	if (o->id == K_POD) {
		size_t n;
		unsigned char *np = slp_np_encode(o, &n);

		if (n > UINT32_MAX) {
			free(np);
			return -E2BIG;
		}
		out->np = arena_dup(&m->a, np, n);
		out->n_np = (uint32_t)n;
		free(np);
	}
	if (!slp_unit_facts(o, &m->opts, &u))
		return 0;
	out->flags |= SL_OSUM_UNIT | (u.se ? SL_OSUM_SE : 0) | (u.need_alloc ? SL_OSUM_NEED_ALLOC : 0);
	out->vips = arena_dup(&m->a, u.vips, u.n_vips * sizeof(*u.vips));
	out->n_vips = (uint32_t)u.n_vips;
	out->n_ports = (uint32_t)u.n_ports;
	free(u.vips);
	return 0;
}

/* Growing arrays per unit while the tables are walked. */
struct unit_acc {
	struct sl_osum *s;
	struct sl_l4addr *fes, *ing;
	size_t n_fes, n_ing, cap_fes, cap_ing;
};

struct accs {
	struct unit_acc *v;
	size_t n, cap;
	struct kmap by_sum; /* summary address -> index in V */
};

/* S's accumulator: rows of one unit are mostly adjacent, else the map
 * finds it (a search of every unit per new one made 10,000 services cost
 * 50 million comparisons). */
static struct unit_acc *acc_of(struct accs *a, struct sl_osum *s)
{
	uint64_t key = (uint64_t)(uintptr_t)s;
	uint32_t e;

	if (a->n && a->v[a->n - 1].s == s)
		return &a->v[a->n - 1];
	e = kmap_first(&a->by_sum, key);
	if (e)
		return &a->v[a->by_sum.e[e - 1].val];
	kmap_put(&a->by_sum, key, (uint32_t)a->n);
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 64;
		a->v = slp_xrealloc(a->v, a->cap, sizeof(*a->v));
	}
	memset(&a->v[a->n], 0, sizeof(*a->v));
	a->v[a->n].s = s;
	return &a->v[a->n++];
}

static void push_addr(struct sl_l4addr **v, size_t *n, size_t *cap, const struct sl_l4addr *a)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 4;
		*v = slp_xrealloc(*v, *cap, sizeof(**v));
	}
	(*v)[(*n)++] = *a;
}

static unsigned unit_kind(const char *kind)
{
	return strcmp(kind, "ServiceEntry") ? K_SERVICE : K_SERVICEENTRY;
}

void model_unit_outputs(struct sl_model *m, const struct sl_tables *t,
			struct sl_osum *(*find)(void *ctx, unsigned kind, const char *ns,
						const char *name),
			void *ctx)
{
	struct accs acc = { 0 };
	struct unit_acc *a;

	for (size_t i = 0; i < t->n_svcs; i++) {
		const struct sl_table_svc *ts = &t->svcs[i];
		struct sl_osum *s = find(ctx, unit_kind(ts->kind), ts->meta.ns, ts->meta.name);

		if (!s)
			continue;
		a = acc_of(&acc, s);
		push_addr(&a->fes, &a->n_fes, &a->cap_fes, &ts->fe);
	}
	for (size_t i = 0; i < t->n_ingress; i++) {
		const struct sl_table_svc *ts = &t->svcs[t->ingress[i].svc];
		struct sl_osum *s = find(ctx, unit_kind(ts->kind), ts->meta.ns, ts->meta.name);
		struct sl_l4addr k = t->ingress[i].fe;

		if (!s)
			continue;
		if (t->ingress[i].kind == SL_ING_NODEPORT)
			k.family = 0; /* one node port per protocol, whatever the family */
		a = acc_of(&acc, s);
		push_addr(&a->ing, &a->n_ing, &a->cap_ing, &k);
	}
	for (size_t i = 0; i < acc.n; i++) {
		struct unit_acc *u = &acc.v[i];
		struct sl_osum *s = u->s;

		s->fes = arena_dup(&m->a, u->fes, u->n_fes * sizeof(*u->fes));
		s->n_fes = (uint32_t)u->n_fes;
		s->ing = arena_dup(&m->a, u->ing, u->n_ing * sizeof(*u->ing));
		s->n_ing = (uint32_t)u->n_ing;
		memset(&s->alloc, 0, sizeof(s->alloc));
		if ((s->flags & SL_OSUM_NEED_ALLOC) && u->n_fes) {
			s->alloc.family = u->fes[0].family;
			memcpy(s->alloc.addr, u->fes[0].addr, sizeof(s->alloc.addr));
		}
		free(u->fes);
		free(u->ing);
	}
	free(acc.v);
	kmap_free(&acc.by_sum);
}

/* ---- a whole policy ------------------------------------------------------ */

static struct sl_osum *find_slot(void *ctx, unsigned kind, const char *ns, const char *name)
{
	struct sl_model *m = ctx;
	ssize_t i = model_find(m, kind, ns, name);

	return i < 0 ? NULL : &m->v[i].s;
}

int sl_model_add_objects(struct sl_model *m, const struct sl_policy *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct object *o = p->v[i];
		struct sl_osum s;
		size_t len;
		char *rec = slp_object_record(o, &len);
		ssize_t at;
		int err = rec ? model_summarize(m, o, rec, len, &s) : -ENOMEM;

		if (!err && model_find(m, s.kind, s.ns, s.name) >= 0)
			err = -EEXIST;
		if (err) {
			free(rec);
			return err;
		}
		at = model_insert(m, &s);
		m->v[at].rec = rec;
		m->v[at].rec_len = (uint32_t)len;
		model_touch(m, (size_t)at, true);
	}
	return 0;
}

void sl_model_add_outputs(struct sl_model *m, const struct sl_tables *t)
{
	model_unit_outputs(m, t, find_slot, m);
}

int sl_model_from_policy(struct sl_model *m, const struct sl_policy *p, const struct sl_tables *t)
{
	int err = sl_model_add_objects(m, p);

	if (!err)
		sl_model_add_outputs(m, t);
	return err;
}
