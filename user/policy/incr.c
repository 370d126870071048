// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The incremental compile: apply a few changed objects to a model of the
 * applied policy (model.c) and compile only the units (Services and
 * ServiceEntries) the change can affect. docs/APPLY.md has the design;
 * in short:
 *
 *   1. changes: each upserted object whose record differs from the stored
 *      one, each removed identity (and, for REPLACE, everything else);
 *   2. affected units: every unit that needs, directly or through objects
 *      it needs, a key a changed object provides, old or new version
 *      (keys.c): a walk from the changed objects' provided keys to the
 *      objects that need them, on through what those provide;
 *   3. VIPs: when the change can move an allocated VIP, the allocation is
 *      run again over every unit's summary; units whose VIP moved are
 *      affected too;
 *   4. two closures, one per state: the affected units, the changed
 *      objects, and everything they need, transitively (with every Pod,
 *      Namespace and NetworkPolicy when the NetworkPolicy tables must be
 *      compiled again); only these objects are parsed;
 *   5. a partial compile of each closure (slp_compile with a part): the
 *      old and new tables of exactly the affected units;
 *   6. what needs the whole policy, from summaries and counts: duplicate
 *      frontends and node-ingress frontends, the capacity limits.
 *
 * Anything it cannot decide cheaply (an error in the new policy, whose
 * messages a whole compile words best; too many changes; a VIP that
 * cannot be allocated) returns -EAGAIN with the reason, and the caller
 * compiles the whole policy, as before. tests/unit/test_incr.c checks
 * against the whole compile that both give the same tables.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

struct change {
	ssize_t old; /* slot of the old version, -1: a new object */
	struct object *obj; /* the new version (from the caller's upserts); NULL: removed */
	char *rec;
	size_t rec_len;
	struct sl_osum sum; /* of the new version */
};

/* Per node: model slots 0 .. n_slots-1, then one node per change. */
enum {
	N_SEEN = 1, /* reached by the walk of step 2 */
	N_UNIT = 2, /* an affected unit */
	N_OLD = 4, /* in the closure of the old state */
	N_NEW = 8, /* in the closure of the new state */
	N_LISTED = 16, /* in eng.touched */
};

struct u64set {
	uint64_t *v;
	size_t cap, n;
};

/* A stack of node indices or of keys. */
struct vec {
	uint64_t *v;
	size_t n, cap;
};

static void vec_push(struct vec *q, uint64_t x)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 64;
		q->v = slp_xrealloc(q->v, q->cap, sizeof(*q->v));
	}
	q->v[q->n++] = x;
}

struct eng {
	struct sl_model *m;
	struct change *moves; /* objects whose text is the same, only its position not */
	size_t n_moves;
	const struct object **absent; /* removals of objects that are not there */
	size_t n_absent;
	const struct sl_incr_in *in;
	struct change *ch;
	size_t n_ch, n_slots, units;
	uint8_t *f;
	ssize_t *ch_of; /* per slot: the change that replaces or removes it, -1 */
	struct sl_l4addr *alloc; /* per node, when the VIPs were allocated again */
	/* New summaries of the affected units of the new state, found by node
	 * through OUT_AT: as many as were touched, not one per slot. */
	struct sl_osum *out_sum;
	size_t n_out;
	struct kmap out_at;
	struct vec touched; /* every node with a flag: what later steps look at */
	struct pod_list *pods; /* [old, new]: with NP, each state's Pods */
	bool realloc, np;
	bool np_kept; /* NP, and the old state's tables are the caller's (live_np) */
	const char *whole;
};

/* ---- small sets ---------------------------------------------------------- */

static bool u64set_add(struct u64set *s, uint64_t k)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		struct u64set g = { slp_xcalloc(s->cap ? 2 * s->cap : 256, sizeof(uint64_t)),
				    s->cap ? 2 * s->cap : 256, 0 };

		for (i = 0; i < s->cap; i++)
			if (s->v[i])
				u64set_add(&g, s->v[i]);
		free(s->v);
		*s = g;
	}
	k = k ? k : 1; /* 0 marks a free cell */
	for (i = (size_t)(k * 0x9e3779b97f4a7c15ull >> 20) & (s->cap - 1); s->v[i];
	     i = (i + 1) & (s->cap - 1))
		if (s->v[i] == k)
			return false;
	s->v[i] = k;
	s->n++;
	return true;
}

static bool u64set_has(const struct u64set *s, uint64_t k)
{
	k = k ? k : 1;
	for (size_t i = s->cap ? (size_t)(k * 0x9e3779b97f4a7c15ull >> 20) & (s->cap - 1) : 0;
	     s->cap && s->v[i]; i = (i + 1) & (s->cap - 1))
		if (s->v[i] == k)
			return true;
	return false;
}

static bool has_key(const uint64_t *v, uint32_t n, uint64_t k)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (v[mid] == k)
			return true;
		if (v[mid] < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* ---- nodes ------------------------------------------------------------- */

/* Set BITS on node N; every node that has any is listed once. */
static void flag(struct eng *e, size_t n, uint8_t bits)
{
	if (!(e->f[n] & N_LISTED))
		vec_push(&e->touched, n);
	e->f[n] |= bits | N_LISTED;
}

static size_t n_nodes(const struct eng *e)
{
	return e->n_slots + e->n_ch;
}

static const struct sl_osum *node_sum(const struct eng *e, size_t n)
{
	return n < e->n_slots ? &e->m->v[n].s : &e->ch[n - e->n_slots].sum;
}

static struct change *node_change(const struct eng *e, size_t n)
{
	return n < e->n_slots ? NULL : &e->ch[n - e->n_slots];
}

/* Is node N part of the new state (an unchanged slot or a new version)? */
static bool in_new(const struct eng *e, size_t n)
{
	if (n < e->n_slots)
		return !e->m->v[n].removed && e->ch_of[n] < 0;
	return e->ch[n - e->n_slots].obj != NULL;
}

static bool in_old(const struct eng *e, size_t n)
{
	return n < e->n_slots && !e->m->v[n].removed;
}

/* ---- 1. changes ---------------------------------------------------------- */

static int add_change(struct eng *e, ssize_t old, struct object *o)
{
	struct change *c;
	int err = 0;

	e->ch = slp_xrealloc(e->ch, e->n_ch + 1, sizeof(*e->ch));
	c = &e->ch[e->n_ch];
	memset(c, 0, sizeof(*c));
	c->old = old;
	c->obj = o;
	if (o) {
		c->rec = slp_object_record(o, &c->rec_len);
		err = c->rec ? model_summarize(e->m, o, c->rec, c->rec_len, &c->sum) : -ENOMEM;
		if (err) {
			free(c->rec);
			return err;
		}
	}
	if (old >= 0)
		e->ch_of[old] = (ssize_t)e->n_ch;
	e->n_ch++;
	return 0;
}

static int add_move(struct eng *e, ssize_t at, struct object *o)
{
	struct change *c;
	int err;

	e->moves = slp_xrealloc(e->moves, e->n_moves + 1, sizeof(*e->moves));
	c = &e->moves[e->n_moves];
	memset(c, 0, sizeof(*c));
	c->old = at;
	c->rec = slp_object_record(o, &c->rec_len);
	if (!c->rec)
		return -ENOMEM;
	c->sum = e->m->v[at].s;
	c->sum.hash = model_fnv64(c->rec, c->rec_len);
	c->sum.rec_len = (uint32_t)c->rec_len;
	err = c->rec_len > UINT32_MAX ? -EINVAL : 0;
	if (err) {
		free(c->rec);
		return err;
	}
	e->n_moves++;
	return 0;
}

static int plan_changes(struct eng *e)
{
	const struct sl_policy *up = e->in->upserts, *rm = e->in->removes;
	bool *kept = calloc(e->n_slots + 1, sizeof(*kept));
	int err = kept ? 0 : -ENOMEM;

	for (size_t i = 0; !err && up && i < up->n; i++) {
		struct object *o = up->v[i];
		ssize_t at = model_find(e->m, (unsigned)o->id, o->ns, o->name);
		size_t len;
		char *rec;

		if (at >= 0) {
			kept[at] = true;
			rec = slp_object_record(o, &len);
			if (!rec) {
				err = -ENOMEM;
				break;
			}
			/* The same record: nothing to do for this object. */
			if (len == e->m->v[at].s.rec_len && model_fnv64(rec, len) == e->m->v[at].s.hash) {
				free(rec);
				continue;
			}
			free(rec);
			/* The same text from another file or line: only the record
			 * changes (positions of later messages), no compile. */
			if (model_fnv64(o->text, strlen(o->text)) == e->m->v[at].s.text_hash) {
				err = add_move(e, at, o);
				continue;
			}
		}
		err = add_change(e, at, o);
	}
	for (size_t i = 0; !err && rm && i < rm->n; i++) {
		ssize_t at = model_find(e->m, (unsigned)rm->v[i]->id, rm->v[i]->ns, rm->v[i]->name);

		if (at >= 0 && e->ch_of[at] < 0)
			err = add_change(e, at, NULL);
		else if (at < 0) {
			e->absent = slp_xrealloc(e->absent, e->n_absent + 1, sizeof(*e->absent));
			e->absent[e->n_absent++] = rm->v[i];
		}
	}
	for (size_t i = 0; !err && e->in->replace && i < e->n_slots; i++)
		if (!kept[i] && !e->m->v[i].removed && e->ch_of[i] < 0)
			err = add_change(e, (ssize_t)i, NULL);
	free(kept);
	if (!err && e->in->max_changes && e->n_ch > e->in->max_changes)
		e->whole = "more objects changed than a partial compile is worth";
	return err;
}

/* ---- 2. affected units ---------------------------------------------------- */

/* Does S need key K? Its needs, what it provides when it needs that too,
 * and, for a unit, the policies of its namespace and the root's. */
static bool needs_key(const struct sl_osum *s, uint64_t k)
{
	if (has_key(s->needs, s->n_needs, k))
		return true;
	if ((s->flags & SL_OSUM_SELFNEED) && has_key(s->provides, s->n_provides, k))
		return true;
	return (s->flags & SL_OSUM_UNIT) &&
	       (k == slp_key_pol(ROOT_NAMESPACE) || k == slp_key_pol(s->ns));
}

static bool is_policy(unsigned kind)
{
	return kind == K_PEERAUTHN || kind == K_AUTHZ || kind == K_REQAUTHN;
}

static void mark(struct eng *e, size_t n, struct u64set *keys, struct vec *q);

/* The namespace K stands for when K is the pol: key of a policy without
 * selector (old or new) that provides it, else NULL. Such keys are needed
 * by every unit of the namespace (of the mesh, from the root namespace)
 * and are not in the need index; a selector's polsel: keys are (keys.c). */
static const char *pol_ns(const struct eng *e, uint64_t k)
{
	for (uint32_t at = kmap_first(&e->m->sprov, k); at;
	     at = kmap_next(&e->m->sprov, e->m->sprov.e[at - 1].next, k)) {
		const struct sl_osum *s = &e->m->v[e->m->sprov.e[at - 1].val].s;

		if (is_policy(s->kind) && k == slp_key_pol(s->ns))
			return s->ns;
	}
	for (size_t j = 0; j < e->n_ch; j++) {
		const struct sl_osum *s = &e->ch[j].sum;

		if (e->ch[j].obj && is_policy(s->kind) && k == slp_key_pol(s->ns) &&
		    has_key(s->provides, s->n_provides, k))
			return s->ns;
	}
	return NULL;
}

/* Every stored unit of namespace NS (every one from the root namespace):
 * a string compare each, not a key hashed per unit. */
static void mark_namespace(struct eng *e, const char *ns, struct u64set *keys, struct vec *q)
{
	bool root = !strcmp(ns, ROOT_NAMESPACE);

	for (size_t n = 0; n < e->n_slots; n++) {
		const struct sl_osum *s = &e->m->v[n].s;

		if (!e->m->v[n].removed && (s->flags & SL_OSUM_UNIT) && (root || !strcmp(s->ns, ns)))
			mark(e, n, keys, q);
	}
}

static void mark(struct eng *e, size_t n, struct u64set *keys, struct vec *q)
{
	const struct sl_osum *s = node_sum(e, n);

	if (e->f[n] & N_SEEN)
		return;
	flag(e, n, N_SEEN);
	if (s->flags & SL_OSUM_UNIT) {
		flag(e, n, N_UNIT);
		e->units++;
	}
	for (uint32_t k = 0; k < s->n_provides; k++)
		if (u64set_add(keys, s->provides[k]))
			vec_push(q, s->provides[k]);
}

static void walk(struct eng *e)
{
	struct u64set keys = { 0 };
	struct vec q = { 0 };

	for (size_t j = 0; j < e->n_ch; j++) {
		if (e->ch[j].old >= 0)
			mark(e, (size_t)e->ch[j].old, &keys, &q);
		if (e->ch[j].obj)
			mark(e, e->n_slots + j, &keys, &q);
	}
	while (q.n && !e->whole) {
		uint64_t k = q.v[--q.n];
		const char *ns;

		for (uint32_t at = kmap_first(&e->m->need, k); at;
		     at = kmap_next(&e->m->need, e->m->need.e[at - 1].next, k))
			mark(e, e->m->need.e[at - 1].val, &keys, &q);
		/* Needers the index leaves out (see keys.c). */
		for (uint32_t at = kmap_first(&e->m->sprov, k); at;
		     at = kmap_next(&e->m->sprov, e->m->sprov.e[at - 1].next, k))
			if (e->m->v[e->m->sprov.e[at - 1].val].s.flags & SL_OSUM_SELFNEED)
				mark(e, e->m->sprov.e[at - 1].val, &keys, &q);
		ns = pol_ns(e, k);
		if (ns)
			mark_namespace(e, ns, &keys, &q);
		for (size_t j = 0; j < e->n_ch; j++)
			if (e->ch[j].obj && needs_key(&e->ch[j].sum, k))
				mark(e, e->n_slots + j, &keys, &q);
		if (e->in->max_units && e->units > e->in->max_units)
			e->whole = "the change affects more services than a partial compile is worth";
	}
	free(keys.v);
	free(q.v);
}

/* ---- 3. VIPs ------------------------------------------------------------- */

static bool vip_facts_same(const struct sl_osum *a, const struct sl_osum *b)
{
	return a->flags == b->flags && !a->n_ports == !b->n_ports && a->n_vips == b->n_vips &&
	       (!a->n_vips || !memcmp(a->vips, b->vips, a->n_vips * sizeof(*a->vips)));
}

/* A unit that comes with explicit addresses nobody was allocated cannot
 * move an allocation: a probe that reached one of them would have taken
 * it. */
static bool adds_nothing(const struct eng *e, const struct sl_osum *s)
{
	if (s->flags & SL_OSUM_NEED_ALLOC)
		return false;
	for (size_t i = 0; i < e->n_slots; i++) {
		const struct sl_osum *o = &e->m->v[i].s;

		if (e->m->v[i].removed || !o->alloc.family)
			continue;
		for (uint32_t v = 0; v < s->n_vips; v++)
			if (s->vips[v].family == o->alloc.family &&
			    !memcmp(s->vips[v].addr, o->alloc.addr, sizeof(o->alloc.addr)))
				return false;
	}
	return true;
}

static bool vips_may_move(const struct eng *e)
{
	for (size_t j = 0; j < e->n_ch; j++) {
		const struct sl_osum *o = e->ch[j].old >= 0 ? &e->m->v[e->ch[j].old].s : NULL;
		const struct sl_osum *n = e->ch[j].obj ? &e->ch[j].sum : NULL;
		bool ou = o && (o->flags & SL_OSUM_UNIT), nu = n && (n->flags & SL_OSUM_UNIT);

		if (!ou && !nu)
			continue;
		if (ou && nu && vip_facts_same(o, n))
			continue;
		if (!ou && nu && adds_nothing(e, n))
			continue;
		return true;
	}
	return false;
}

struct unit_ref {
	const struct sl_osum *s;
	size_t node;
};

static int cmp_unit(const void *a, const void *b)
{
	const struct sl_osum *x = ((const struct unit_ref *)a)->s, *y = ((const struct unit_ref *)b)->s;
	int r = strcmp(x->ns, y->ns);

	if (!r)
		r = strcmp(x->name, y->name);
	return r ? r : !!(x->flags & SL_OSUM_SE) - !!(y->flags & SL_OSUM_SE);
}

/* The allocation over every unit of the new state, as the whole compile
 * runs it; units whose VIP moves are affected. */
static void reallocate(struct eng *e)
{
	struct unit_ref *u = slp_xcalloc(n_nodes(e) + 1, sizeof(*u));
	struct slp_vipreq *v;
	size_t n = 0;

	for (size_t i = 0; i < n_nodes(e); i++)
		if (in_new(e, i) && (node_sum(e, i)->flags & SL_OSUM_UNIT))
			u[n++] = (struct unit_ref){ node_sum(e, i), i };
	qsort(u, n, sizeof(*u), cmp_unit);
	v = slp_xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = (struct slp_vipreq){ .ns = u[i].s->ns, .name = u[i].s->name,
					    .vips = u[i].s->vips, .n_vips = u[i].s->n_vips,
					    .need = (u[i].s->flags & SL_OSUM_NEED_ALLOC) && u[i].s->n_ports };
	slp_alloc_vips(v, n, &e->m->opts);
	e->alloc = slp_xcalloc(n_nodes(e) + 1, sizeof(*e->alloc));
	for (size_t i = 0; i < n && !e->whole; i++) {
		size_t node = u[i].node;

		if (v[i].err)
			e->whole = "a VIP cannot be allocated";
		e->alloc[node] = v[i].out;
		if (node < e->n_slots && memcmp(&v[i].out, &u[i].s->alloc, sizeof(v[i].out)) &&
		    !(e->f[node] & N_UNIT)) {
			flag(e, node, N_UNIT | N_SEEN);
			e->units++;
		}
	}
	e->realloc = true;
	free(u);
	free(v);
}

/* ---- 4. closures ---------------------------------------------------------- */

static void add_node(struct eng *e, size_t n, uint8_t bit, struct vec *w)
{
	if (e->f[n] & bit)
		return;
	flag(e, n, bit);
	vec_push(w, n);
}

/* The objects of one state that provide K. */
static void providers(struct eng *e, uint64_t k, bool new_state, struct vec *w)
{
	uint8_t flag = new_state ? N_NEW : N_OLD;

	for (uint32_t at = kmap_first(&e->m->prov, k); at;
	     at = kmap_next(&e->m->prov, e->m->prov.e[at - 1].next, k)) {
		size_t slot = e->m->prov.e[at - 1].val;

		if (new_state ? in_new(e, slot) : in_old(e, slot))
			add_node(e, slot, flag, w);
	}
	for (size_t j = 0; new_state && j < e->n_ch; j++)
		if (e->ch[j].obj && has_key(e->ch[j].sum.provides, e->ch[j].sum.n_provides, k))
			add_node(e, e->n_slots + j, flag, w);
}

static size_t closure(struct eng *e, bool new_state)
{
	uint8_t flag = new_state ? N_NEW : N_OLD;
	struct vec w = { 0 };
	size_t count = 0;

	/* Roots: everything the walk reached (affected units, changed
	 * objects, and the VirtualServices and DestinationRules in between,
	 * whose own checks may now fail: a route to a service that went). */
	for (size_t i = 0; i < e->touched.n; i++) {
		size_t n = (size_t)e->touched.v[i];

		if ((e->f[n] & (N_SEEN | N_UNIT)) && (new_state ? in_new(e, n) : in_old(e, n)))
			add_node(e, n, flag, &w);
	}
	if (e->np)
		providers(e, slp_key_netpol(), new_state, &w);
	while (w.n) {
		const struct sl_osum *s = node_sum(e, (size_t)w.v[--w.n]);

		count++;
		for (uint32_t k = 0; k < s->n_needs; k++)
			providers(e, s->needs[k], new_state, &w);
		for (uint32_t k = 0; (s->flags & SL_OSUM_SELFNEED) && k < s->n_provides; k++)
			providers(e, s->provides[k], new_state, &w);
		if (s->flags & SL_OSUM_UNIT) {
			providers(e, slp_key_pol(s->ns), new_state, &w);
			providers(e, slp_key_pol(ROOT_NAMESPACE), new_state, &w);
		}
	}
	free(w.v);
	return count;
}

static bool provides_np(const struct sl_osum *s)
{
	return has_key(s->provides, s->n_provides, slp_key_netpol()) ||
	       has_key(s->provides, s->n_provides, slp_key_netpol_pod());
}

static void materialize_one(struct eng *e, size_t i);

/* Pods A and B as NetworkPolicy sees them, bar their labels: the same
 * addresses, hostNetwork and finished. */
static bool np_same_but_labels(const struct np_view *a, const struct np_view *b)
{
	return a->host == b->host && a->finished == b->finished && a->n_ips == b->n_ips &&
	       !memcmp(a->ips, b->ips, (size_t)(b->labels - (const char *)b->ips));
}

/* Did only Pods change, each keeping what NetworkPolicy reads of it but
 * its labels, and answering every stored NetworkPolicy's pod selectors as
 * before (a label no policy asks about)? Then both states' tables are the
 * same, and the apply need not compile them: a relabel of that kind is
 * the usual one (pod-template-hash, version labels). */
static bool pods_read_alike(struct eng *e)
{
	const struct kmap *pv = &e->m->prov;
	uint64_t k = slp_key_netpol();
	struct np_view *v = slp_xcalloc(2 * e->n_ch + 2, sizeof(*v));
	size_t n = 0;
	bool alike = true;

	for (size_t j = 0; j < e->n_ch && alike; j++) {
		const struct sl_osum *o = e->ch[j].old >= 0 ? &e->m->v[e->ch[j].old].s : NULL;
		const struct sl_osum *s = e->ch[j].obj ? &e->ch[j].sum : NULL;

		if (!(o && provides_np(o)) && !(s && provides_np(s)))
			continue;
		alike = o && s && o->kind == K_POD && s->kind == K_POD &&
			!slp_np_decode(o->np, o->n_np, &v[n]) &&
			!slp_np_decode(s->np, s->n_np, &v[n + 1]) &&
			np_same_but_labels(&v[n], &v[n + 1]);
		n += 2;
	}
	for (uint32_t at = alike ? kmap_first(pv, k) : 0; at && alike && !e->whole;
	     at = kmap_next(pv, pv->e[at - 1].next, k)) {
		size_t np = pv->e[at - 1].val;

		if (e->m->v[np].s.kind != K_NETPOL)
			continue;
		materialize_one(e, np);
		for (size_t i = 0; i < n && alike && e->m->v[np].obj; i += 2)
			alike = slp_netpol_same_for(e->m->v[np].obj, &v[i], &v[i + 1]);
	}
	free(v);
	return alike && !e->whole;
}

/* Must the NetworkPolicy tables be compiled again? When a Pod, Namespace
 * or NetworkPolicy changed and some NetworkPolicy exists, before or after,
 * unless only Pods changed in ways no policy reads (pods_read_alike). */
static bool netpol_changed(struct eng *e)
{
	uint64_t k = slp_key_netpol();
	bool touched = false, any = false;

	for (size_t j = 0; j < e->n_ch && !touched; j++) {
		const struct sl_osum *o = e->ch[j].old >= 0 ? &e->m->v[e->ch[j].old].s : NULL;

		touched = (o && provides_np(o)) || (e->ch[j].obj && provides_np(&e->ch[j].sum));
	}
	for (uint32_t at = touched ? kmap_first(&e->m->prov, k) : 0; at && !any;
	     at = kmap_next(&e->m->prov, e->m->prov.e[at - 1].next, k))
		any = e->m->v[e->m->prov.e[at - 1].val].s.kind == K_NETPOL;
	for (size_t j = 0; touched && j < e->n_ch && !any; j++)
		any = e->ch[j].obj && e->ch[j].sum.kind == K_NETPOL;
	return touched && any && !pods_read_alike(e);
}

/* ---- 5. partial compiles ------------------------------------------------- */

/* Parse stored object I, if it is not yet. */
static void materialize_one(struct eng *e, size_t i)
{
	struct sl_diags ignored = { 0 };
	struct mobj *mo = &e->m->v[i];
	char *rec = mo->rec;
	size_t len = mo->rec_len;

	if (mo->obj)
		return;
	if (!rec && (!e->in->fetch || e->in->fetch(e->in->fetch_ctx, &mo->s, &rec, &len))) {
		e->whole = "a stored object cannot be read";
		return;
	}
	/* Stored objects were diagnosed when they were applied. */
	mo->obj = slp_record_parse(rec, len, &ignored);
	if (rec != mo->rec)
		free(rec);
	if (!mo->obj || (unsigned)mo->obj->id != mo->s.kind || strcmp(mo->obj->ns, mo->s.ns) ||
	    strcmp(mo->obj->name, mo->s.name)) {
		slp_object_free(mo->obj);
		mo->obj = NULL;
		e->whole = "a stored object does not parse as its summary says";
	}
	sl_diags_free(&ignored);
}

/* Parse every stored object in a closure that is not parsed yet. */
static void materialize(struct eng *e)
{
	for (size_t t = 0; t < e->touched.n && !e->whole; t++) {
		size_t i = (size_t)e->touched.v[t];

		/* A change node is parsed by the caller. */
		if (i < e->n_slots && (e->f[i] & (N_OLD | N_NEW)))
			materialize_one(e, i);
	}
}

static struct object *node_obj(const struct eng *e, size_t n)
{
	return n < e->n_slots ? e->m->v[n].obj : e->ch[n - e->n_slots].obj;
}

static int cmp_obj(const void *a, const void *b)
{
	return slp_obj_cmp(*(struct object *const *)a, *(struct object *const *)b);
}

/* The closure of one state as a policy that borrows its objects. */
static struct object **view(const struct eng *e, uint8_t flag, size_t *n)
{
	struct object **v = slp_xcalloc(e->touched.n + 1, sizeof(*v));

	*n = 0;
	for (size_t t = 0; t < e->touched.n; t++) {
		size_t i = (size_t)e->touched.v[t];

		if (e->f[i] & flag) {
			v[*n] = node_obj(e, i);
			v[*n]->build = (e->f[i] & N_UNIT) != 0;
			(*n)++;
		}
	}
	qsort(v, *n, sizeof(*v), cmp_obj);
	return v;
}

struct part_ctx {
	struct eng *e;
	bool new_state;
	const size_t *pod_node; /* the node of each Pod of the part */
};

static bool part_build(const void *ctx, const struct object *o)
{
	(void)ctx;
	return o->build;
}

/* The node of O in one state, by identity. */
static ssize_t node_of(const struct eng *e, const struct object *o, bool new_state)
{
	ssize_t at = model_find(e->m, (unsigned)o->id, o->ns, o->name);

	if (at >= 0 && !(new_state && e->ch_of[at] >= 0))
		return at;
	for (size_t j = 0; new_state && j < e->n_ch; j++)
		if (e->ch[j].obj == o)
			return (ssize_t)(e->n_slots + j);
	return -1;
}

static bool part_vip(const void *ctx, const struct object *o, struct sl_l4addr *out)
{
	const struct part_ctx *c = ctx;
	const struct eng *e = c->e;
	ssize_t n = node_of(e, o, c->new_state);
	const struct change *ch;

	if (n < 0)
		return false;
	if (c->new_state && e->realloc)
		*out = e->alloc[n];
	else if ((size_t)n < e->n_slots)
		*out = e->m->v[n].s.alloc;
	else if ((ch = node_change(e, (size_t)n))->old >= 0)
		*out = e->m->v[ch->old].s.alloc; /* same VIP facts: same VIP */
	else
		return false;
	return out->family != 0;
}

/* The Pods of one state for the NetworkPolicy tables, as the whole
 * compile orders them (namespace, name), with the node of each. */
struct pod_list {
	struct np_pod *v;
	size_t *node;
	size_t n;
};

static int cmp_np_pod(const struct np_pod *x, const struct np_pod *y)
{
	int r = strcmp(x->ns, y->ns);

	return r ? r : strcmp(x->name, y->name);
}

static int cmp_np_pod_ptr(const void *a, const void *b)
{
	return cmp_np_pod(*(const struct np_pod *const *)a, *(const struct np_pod *const *)b);
}

static struct np_pod pod_of(const struct eng *e, size_t node)
{
	const struct sl_osum *s = node_sum(e, node);

	return (struct np_pod){ .ns = s->ns, .name = s->name, .np = s->np, .n_np = s->n_np,
				.o = node_obj(e, node) };
}

/* Nodes NODES[0..N) into L, sorted (through pointers: the elements are big). */
static void pods_sorted(const struct eng *e, const uint64_t *nodes, size_t n, struct pod_list *l)
{
	struct np_pod *v = slp_xcalloc(n + 1, sizeof(*v));
	const struct np_pod **p = slp_xcalloc(n + 1, sizeof(*p));

	for (size_t i = 0; i < n; i++) {
		v[i] = pod_of(e, (size_t)nodes[i]);
		p[i] = &v[i];
	}
	qsort(p, n, sizeof(*p), cmp_np_pod_ptr);
	l->v = slp_xcalloc(n + 1, sizeof(*l->v));
	l->node = slp_xcalloc(n + 1, sizeof(*l->node));
	for (size_t i = 0; i < n; i++) {
		l->v[i] = *p[i];
		l->node[i] = (size_t)nodes[p[i] - v];
	}
	l->n = n;
	free(p);
	free(v);
}

/* The Pods the NetworkPolicy tables of both states can read, from their
 * summaries (parsing 20,000 Pods took 500 ms; sorting the summaries of all
 * of them, 8): those the policies' label queries name (netpol.c), found
 * through the podsel: keys Pods provide; every Pod of a namespace a query
 * names whole; and every Pod that shares an address with one a policy may
 * select. One set for both states: a superset only costs time. A query
 * that needs every Pod (a namespaceSelector), or a namespace's every Pod
 * as ones a policy may select, takes every Pod of that state. */
struct pod_find {
	struct eng *e;
	bool new_state; /* of the queries being run */
	bool all[2]; /* every Pod of the old, new state */
	uint8_t *seen; /* per node */
	struct vec found;
	struct u64set ns; /* namespaces whose every Pod is read (hashes) */
	/* Keys (model_addr_key) of the addresses of Pods a policy may
	 * select, as a set and in the order found */
	struct u64set ips;
	struct vec ip_keys;
};

static bool in_state(const struct eng *e, size_t n, bool new_state)
{
	return new_state ? in_new(e, n) : in_old(e, n);
}

static void found(struct pod_find *f, size_t n, bool selects)
{
	uint64_t k[SLP_NPV_MAX_IPS];
	size_t nk = selects ? model_pod_addr_keys(node_sum(f->e, n), k) : 0;

	if (!f->seen[n])
		vec_push(&f->found, n);
	f->seen[n] = 1;
	for (size_t j = 0; j < nk; j++)
		if (u64set_add(&f->ips, k[j]))
			vec_push(&f->ip_keys, k[j]);
}

/* Pods of the state with label K=V of namespace NS. */
static void on_query(void *ctx, const char *ns, const char *k, const char *v, bool selects)
{
	struct pod_find *f = ctx;
	const struct eng *e = f->e;
	uint64_t key;

	if (!k) {
		f->all[f->new_state] |= selects;
		u64set_add(&f->ns, model_fnv64(ns, strlen(ns)));
		return;
	}
	key = slp_key_pod_label(ns, k, v);
	for (uint32_t at = kmap_first(&e->m->prov, key); at;
	     at = kmap_next(&e->m->prov, e->m->prov.e[at - 1].next, key)) {
		size_t n = e->m->prov.e[at - 1].val;

		/* A key of another kind's text may collide with this one. */
		if (e->m->v[n].s.kind == K_POD && in_state(e, n, f->new_state))
			found(f, n, selects);
	}
	for (size_t j = 0; f->new_state && j < e->n_ch; j++)
		if (e->ch[j].obj && e->ch[j].sum.kind == K_POD &&
		    has_key(e->ch[j].sum.provides, e->ch[j].sum.n_provides, key))
			found(f, e->n_slots + j, selects);
}

static void queries_of(struct pod_find *f, const struct object *o)
{
	if (!f->all[f->new_state] && (!o || !slp_netpol_pod_queries(o, on_query, f)))
		f->all[f->new_state] = true;
}

/* The queries of one state's NetworkPolicies (every one is in the
 * closure of its state, so parsed). */
static void run_queries(struct pod_find *f, bool new_state)
{
	const struct eng *e = f->e;
	uint64_t k = slp_key_netpol();

	f->new_state = new_state;
	for (uint32_t at = kmap_first(&e->m->prov, k); at;
	     at = kmap_next(&e->m->prov, e->m->prov.e[at - 1].next, k)) {
		size_t n = e->m->prov.e[at - 1].val;

		if (e->m->v[n].s.kind == K_NETPOL && in_state(e, n, new_state))
			queries_of(f, node_obj(e, n));
	}
	for (size_t j = 0; new_state && j < e->n_ch; j++)
		if (e->ch[j].obj && e->ch[j].obj->id == K_NETPOL)
			queries_of(f, e->ch[j].obj);
}

/* Does Pod node N belong to the set for a reason only a look at every Pod
 * finds (its namespace, its addresses)? */
static bool wanted(const struct pod_find *f, size_t n)
{
	const struct sl_osum *s = node_sum(f->e, n);
	uint64_t k[SLP_NPV_MAX_IPS];
	size_t nk;

	if ((f->all[0] && in_old(f->e, n)) || (f->all[1] && in_new(f->e, n)))
		return true;
	if (f->ns.n && u64set_has(&f->ns, model_fnv64(s->ns, strlen(s->ns))))
		return true;
	nk = f->ips.n ? model_pod_addr_keys(s, k) : 0;
	for (size_t j = 0; j < nk; j++)
		if (u64set_has(&f->ips, k[j]))
			return true;
	return false;
}

/* The stored Pods of either state with an address of IP_KEYS, through the
 * model's address index: a look at the Pods that share one, not at every
 * Pod (but for the index's first build). */
static void find_sharers(struct pod_find *f)
{
	const struct eng *e = f->e;
	const struct kmap *ax = &e->m->addr;

	if (!f->ip_keys.n)
		return;
	model_addr_index(e->m);
	for (size_t i = 0; i < f->ip_keys.n; i++) {
		uint64_t k = f->ip_keys.v[i];

		for (uint32_t at = kmap_first(ax, k); at; at = kmap_next(ax, ax->e[at - 1].next, k)) {
			size_t n = ax->e[at - 1].val;

			if (!f->seen[n] && e->m->v[n].s.kind == K_POD &&
			    (in_old(e, n) || in_new(e, n)))
				found(f, n, false);
		}
	}
}

/* The Pods that belong for a reason no label query finds: one look at
 * every Pod of either state when a namespace's every Pod (or every Pod)
 * is read, else the Pods sharing an address through the model's address index;
 * and the changed Pods. */
static void find_rest(struct pod_find *f)
{
	const struct eng *e = f->e;
	uint64_t k = slp_key_netpol_pod();

	if (!f->all[0] && !f->all[1] && !f->ns.n)
		find_sharers(f);
	for (uint32_t at = f->all[0] || f->all[1] || f->ns.n ? kmap_first(&e->m->prov, k) : 0; at;
	     at = kmap_next(&e->m->prov, e->m->prov.e[at - 1].next, k)) {
		size_t n = e->m->prov.e[at - 1].val;

		if (!f->seen[n] && e->m->v[n].s.kind == K_POD && (in_old(e, n) || in_new(e, n)) &&
		    wanted(f, n))
			found(f, n, false);
	}
	for (size_t j = 0; j < e->n_ch; j++) {
		size_t n = e->n_slots + j;

		if (!f->seen[n] && e->ch[j].obj && e->ch[j].sum.kind == K_POD && wanted(f, n))
			found(f, n, false);
	}
}

static void pod_list_free(struct pod_list *l)
{
	free(l->v);
	free(l->node);
	memset(l, 0, sizeof(*l));
}

/* E->pods[0] and [1]: the Pods of each state the tables can read (of the
 * new state alone when the old state's tables are kept). */
static void np_pods(struct eng *e)
{
	struct pod_find f = { .e = e, .seen = slp_xcalloc(n_nodes(e) + 1, 1) };
	struct pod_list all = { 0 };

	if (!e->np_kept)
		run_queries(&f, false);
	run_queries(&f, true);
	find_rest(&f);
	/* Sorted once: each state's Pods are a subsequence (a Pod that
	 * changed is in both, once as each state has it). */
	pods_sorted(e, f.found.v, f.found.n, &all);
	for (int s = e->np_kept; s < 2; s++) {
		struct pod_list *l = &e->pods[s];

		l->v = slp_xcalloc(all.n + 1, sizeof(*l->v));
		l->node = slp_xcalloc(all.n + 1, sizeof(*l->node));
		for (size_t i = 0; i < all.n; i++)
			if (in_state(e, all.node[i], s)) {
				l->v[l->n] = all.v[i];
				l->node[l->n++] = all.node[i];
			}
	}
	pod_list_free(&all);
	free(f.found.v);
	free(f.seen);
	free(f.ns.v);
	free(f.ips.v);
	free(f.ip_keys.v);
}


/* A Pod a NetworkPolicy message names: parsed now. */
static const struct object *part_pod_obj(void *ctx, size_t i)
{
	struct part_ctx *c = ctx;
	size_t n = c->pod_node[i];

	if (n < c->e->n_slots)
		materialize_one(c->e, n);
	return node_obj(c->e, n);
}

/* Compile one state (with NP, its NetworkPolicy tables too). */
static int compile_state(struct eng *e, bool new_state, struct sl_tables *t, struct sl_diags *d)
{
	struct part_ctx ctx = { e, new_state, NULL };
	bool np = e->np && (new_state || !e->np_kept);
	struct slp_part part = { part_build, part_vip, &ctx, np, NULL, 0, part_pod_obj };
	struct sl_policy p = { 0 };
	int err;

	if (np) {
		struct pod_list *pl = &e->pods[new_state];

		part.pods = pl->v;
		part.n_pods = pl->n;
		ctx.pod_node = pl->node;
	}
	p.v = view(e, new_state ? N_NEW : N_OLD, &p.n);
	err = slp_compile(&p, &e->m->opts, &part, t, d);
	for (size_t i = 0; i < p.n; i++)
		p.v[i]->build = false;
	free(p.v);
	return err;
}

/* ---- 6. checks of the whole policy ---------------------------------------- */

static struct sl_osum *out_of(const struct eng *e, size_t n)
{
	uint32_t at = kmap_first(&e->out_at, n);

	return at ? &e->out_sum[e->out_at.e[at - 1].val] : NULL;
}

static struct sl_osum *out_find(void *ctx, unsigned kind, const char *ns, const char *name)
{
	struct eng *e = ctx;
	ssize_t n = model_find(e->m, kind, ns, name);

	if (n >= 0 && e->ch_of[n] >= 0)
		n = e->ch[e->ch_of[n]].obj ? (ssize_t)e->n_slots + e->ch_of[n] : -1;
	for (size_t j = 0; n < 0 && j < e->n_ch; j++) {
		const struct sl_osum *s = &e->ch[j].sum;

		if (e->ch[j].obj && s->kind == kind && !strcmp(s->ns, ns) && !strcmp(s->name, name))
			n = (ssize_t)(e->n_slots + j);
	}
	if (n < 0 || !(e->f[n] & N_UNIT) || !in_new(e, (size_t)n))
		return NULL;
	return out_of(e, (size_t)n);
}

/* New summaries of the affected units of the new state: their outputs as
 * the new tables have them. */
static void unit_outputs(struct eng *e, const struct sl_tables *t)
{
	e->out_sum = slp_xcalloc(e->touched.n + 1, sizeof(*e->out_sum));
	for (size_t t = 0; t < e->touched.n; t++) {
		size_t n = (size_t)e->touched.v[t];
		struct sl_osum *o = &e->out_sum[e->n_out];

		if (!(e->f[n] & N_UNIT) || !in_new(e, n))
			continue;
		kmap_put(&e->out_at, n, (uint32_t)e->n_out++);
		*o = *node_sum(e, n);
		o->fes = o->ing = NULL;
		o->n_fes = o->n_ing = 0;
		memset(&o->alloc, 0, sizeof(o->alloc));
	}
	model_unit_outputs(e->m, t, out_find, e);
}

static bool same_addrs(const struct sl_l4addr *a, uint32_t na, const struct sl_l4addr *b,
		       uint32_t nb)
{
	return na == nb && (!na || !memcmp(a, b, na * sizeof(*a)));
}

/* Two units claiming one frontend (FES) or node-ingress frontend (ING). */
static bool duplicates(struct eng *e, bool ing)
{
	struct u64set mine = { 0 };
	bool moved = false, dup = false;

	for (size_t t = 0; t < e->touched.n && !moved; t++) {
		size_t n = (size_t)e->touched.v[t];
		const struct sl_osum *o, *s = out_of(e, n);
		const struct change *c = node_change(e, n);

		if (!s)
			continue; /* not a unit of the new state */
		o = n < e->n_slots ? &e->m->v[n].s : c->old >= 0 ? &e->m->v[c->old].s : NULL;
		moved = !o || (ing ? !same_addrs(s->ing, s->n_ing, o->ing, o->n_ing)
				   : !same_addrs(s->fes, s->n_fes, o->fes, o->n_fes));
	}
	if (!moved)
		return false; /* the same frontends as before, which were checked */
	/* The changed units' frontends go into a set (a few); every other
	 * unit's are looked up in it: no set of the whole policy's. */
	for (size_t t = 0; t < e->touched.n && !dup; t++) {
		size_t n = (size_t)e->touched.v[t];
		const struct sl_osum *s = out_of(e, n);

		if (!s)
			continue;
		for (uint32_t i = 0; i < (ing ? s->n_ing : s->n_fes) && !dup; i++)
			dup = !u64set_add(&mine, model_addr_key(ing ? &s->ing[i] : &s->fes[i]));
	}
	for (size_t n = 0; n < e->n_slots && !dup && mine.n; n++) {
		const struct sl_osum *s = &e->m->v[n].s;

		if ((e->f[n] & N_UNIT) || !in_new(e, n))
			continue;
		for (uint32_t i = 0; i < (ing ? s->n_ing : s->n_fes) && !dup; i++)
			dup = u64set_has(&mine, model_addr_key(ing ? &s->ing[i] : &s->fes[i]));
	}
	free(mine.v);
	return dup;
}

static void check_whole(struct eng *e, const struct sl_incr_out *out)
{
	const struct sl_compile_opts *o = &e->m->opts;
	size_t svcs = e->in->live_svcs - out->old.n_svcs + out->new.n_svcs;
	size_t rows = e->in->live_backends - out->old.n_backends + out->new.n_backends;
	size_t ing = e->in->live_ingress - out->old.n_ingress + out->new.n_ingress;

	if (svcs > o->max_services || rows > o->max_backends || ing > SL_MAX_INGRESS)
		e->whole = "the policy reaches a capacity limit";
	else if (duplicates(e, false) || duplicates(e, true))
		e->whole = "two services claim one frontend";
}

/* ---- commit --------------------------------------------------------------- */

static void commit(struct eng *e)
{
	struct sl_model *m = e->m;


	for (size_t j = 0; j < e->n_moves; j++) {
		struct mobj *mo = &m->v[e->moves[j].old];

		mo->s.hash = e->moves[j].sum.hash;
		mo->s.rec_len = e->moves[j].sum.rec_len;
		free(mo->rec);
		mo->rec = e->moves[j].rec;
		mo->rec_len = (uint32_t)e->moves[j].rec_len;
		model_touch(m, e->moves[j].old, true);
		e->moves[j].rec = NULL;
	}
	if (!e->n_ch)
		return; /* nothing was compiled */

	for (size_t j = 0; j < e->n_ch; j++) {
		struct change *c = &e->ch[j];
		size_t node = e->n_slots + j;
		ssize_t at = c->old;

		if (!c->obj) {
			model_remove(m, (size_t)at);
			continue;
		}
		if ((e->f[node] & N_UNIT) && out_of(e, node))
			c->sum = *out_of(e, node);
		if (at >= 0) {
			model_replace(m, (size_t)at, &c->sum);
			free(m->v[at].rec);
			slp_object_free(m->v[at].obj);
			m->v[at].obj = NULL;
		} else {
			at = model_insert(m, &c->sum);
		}
		m->v[at].rec = c->rec;
		m->v[at].rec_len = (uint32_t)c->rec_len;
		model_touch(m, (size_t)at, true);
		c->rec = NULL;
	}
	for (size_t t = 0; t < e->touched.n; t++) {
		size_t n = (size_t)e->touched.v[t];
		struct sl_osum *s, *u;

		if (n >= e->n_slots || !(e->f[n] & N_UNIT) || !in_new(e, n))
			continue;
		s = &m->v[n].s;
		u = out_of(e, n);
		if (same_addrs(s->fes, s->n_fes, u->fes, u->n_fes) &&
		    same_addrs(s->ing, s->n_ing, u->ing, u->n_ing) &&
		    !memcmp(&s->alloc, &u->alloc, sizeof(s->alloc)))
			continue;
		s->fes = u->fes;
		s->n_fes = u->n_fes;
		s->ing = u->ing;
		s->n_ing = u->n_ing;
		s->alloc = u->alloc;
		model_touch(m, n, false);
	}
}

/* ---- the driver ------------------------------------------------------------ */

static int cmp_position(const void *a, const void *b)
{
	const struct object *x = *(const struct object *const *)a;
	const struct object *y = *(const struct object *const *)b;
	int r = strcmp(x->file, y->file);

	return r ? r : (x->line > y->line) - (x->line < y->line);
}

/* As sl_policy_subtract() says it, in the order the user wrote them. */
static void absent_warnings(struct eng *e, struct sl_diags *d)
{
	if (e->n_absent)
		qsort(e->absent, e->n_absent, sizeof(*e->absent), cmp_position);
	for (size_t i = 0; d && i < e->n_absent; i++) {
		const struct object *o = e->absent[i];

		slp_diag_at(d, SL_SEV_WARNING, o, slp_map_get(o->root, "metadata"), "metadata.name",
			    "%s %s%s%s is not present", o->kind, o->ns, *o->ns ? "/" : "", o->name);
	}
}

static void eng_free(struct eng *e)
{
	for (size_t j = 0; j < e->n_moves; j++)
		free(e->moves[j].rec);
	free(e->moves);
	free(e->absent);
	for (size_t j = 0; j < e->n_ch; j++)
		free(e->ch[j].rec);
	free(e->ch);
	free(e->f);
	free(e->ch_of);
	free(e->alloc);
	free(e->out_sum);
	kmap_free(&e->out_at);
	free(e->touched.v);
	for (int i = 0; e->pods && i < 2; i++)
		pod_list_free(&e->pods[i]);
	free(e->pods);
}

/* Steps 2 to 6; E->whole set when the change needs a whole compile. */
static int run(struct eng *e, struct sl_incr_out *out, struct sl_diags *d)
{
	struct sl_diags dn = { 0 }, ignored = { 0 };
	size_t max_obj = e->in->max_units ? 4 * e->in->max_units + 64 : SIZE_MAX;
	int err = 0;

	e->f = slp_xcalloc(n_nodes(e) + 1, sizeof(*e->f));
	walk(e);
	if (!e->whole && vips_may_move(e))
		reallocate(e);
	e->np = !e->whole && netpol_changed(e);
	e->np_kept = e->np && e->in->live_np;
	if (!e->whole && (closure(e, true) > max_obj || closure(e, false) > max_obj))
		e->whole = "the change needs more objects than a partial compile is worth";
	if (!e->whole)
		materialize(e);
	/* The stored policy compiled when it was applied; if it does not
	 * now, or the new one has errors, the whole compile says why. */
	if (e->np && !e->whole) {
		e->pods = slp_xcalloc(2, sizeof(*e->pods));
		np_pods(e);
	}
	if (!err && !e->whole && compile_state(e, false, &out->old, &ignored))
		e->whole = "the stored policy does not compile in parts";
	if (!e->whole && e->np_kept)
		sl_tables_np_copy(&out->old, e->in->live_np);
	if (!err && !e->whole && compile_state(e, true, &out->new, &dn))
		e->whole = "the new policy has errors";
	if (!err && !e->whole) {
		unit_outputs(e, &out->new);
		check_whole(e, out);
	}
	for (size_t i = 0; !err && !e->whole && d && i < dn.n; i++)
		slp_diag_add(d, dn.v[i].sev, dn.v[i].file, dn.v[i].line, dn.v[i].col, dn.v[i].path,
			     "%s", dn.v[i].msg);
	sl_diags_free(&dn);
	sl_diags_free(&ignored);
	return err;
}

int sl_incr_compile(struct sl_model *m, const struct sl_incr_in *in, struct sl_incr_out *out,
		    struct sl_diags *d)
{
	struct eng e = { .m = m, .in = in, .n_slots = m->n };
	int err;

	memset(out, 0, sizeof(*out));
	e.ch_of = malloc((m->n + 1) * sizeof(*e.ch_of));
	if (!e.ch_of)
		return -ENOMEM;
	memset(e.ch_of, 0xff, (m->n + 1) * sizeof(*e.ch_of));
	err = plan_changes(&e);
	if (!err && !e.whole && e.n_ch)
		err = run(&e, out, d);
	if (!err && e.whole) {
		sl_incr_out_free(out);
		out->whole = e.whole;
		err = -EAGAIN;
	}
	if (!err) {
		out->changed = e.n_ch;
		out->units = e.units;
		out->np = e.np;
		absent_warnings(&e, d);
		commit(&e);
	}
	eng_free(&e);
	return err;
}

void sl_incr_out_free(struct sl_incr_out *out)
{
	sl_tables_free(&out->old);
	sl_tables_free(&out->new);
}
