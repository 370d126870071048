/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Choosing a route group and an endpoint within it.
 *
 * A group's endpoints are sl_backends[base .. base+count) with cumulative
 * weights in .cum, so a weighted draw is r in [0, total) and a binary search
 * for the first endpoint with cum > r: at most 8 probes for the 256 endpoints
 * a group holds, whatever the number of services.
 *
 * Ejected endpoints are skipped: a few redraws, then a scan from a random
 * offset. When every endpoint is ejected the group is in "panic" and ejection
 * is ignored, as Envoy does: sending to a failing endpoint beats refusing.
 */
#ifndef SL_SELECT_H
#define SL_SELECT_H

#include "common.h"
#include "clock.h"

#define SL_DRAW_TRIES 3
#define SL_SEARCH_STEPS 9 /* ceil(log2(SL_MAX_GROUP_BACKENDS)) + 1 */
#define SL_NONE 0xffffffffu

/* One group, as the selection code sees it. */
struct sl_sel {
	__u64 now;
	__u32 base; /* sl_backends index of the first endpoint */
	__u32 count; /* 1 .. SL_MAX_GROUP_BACKENDS */
	__u32 total; /* sum of weights; 0: treat endpoints as equal */
};

/* A drawn endpoint: scalars only, so that sl_draw() can be global. */
struct sl_cand {
	__u32 idx; /* position in the group */
	__u32 weight;
	__u32 cum; /* cumulative weight up to and including it */
	__u32 pad;
	__s64 active; /* its active connections, >= 0 */
};

static __always_inline const struct sl_group *sl_pick_group(const struct sl_svc_val *svc)
{
	__u32 n = svc->n_groups, acc = 0, r;

	if (!n)
		return NULL;
	if (n == 1 || !svc->route_total)
		return &svc->groups[0];
	r = sl_rand32() % svc->route_total;
	for (__u32 i = 0; i < SL_MAX_GROUPS; i++) {
		if (i >= n)
			break;
		acc += svc->groups[i].weight;
		if (r < acc)
			return &svc->groups[i];
	}
	return &svc->groups[0]; /* weights short of route_total: compiler bug */
}

/* A uniform 32-bit draw onto [0, total): the high word of raw * total
 * (Lemire), a multiply where `raw % total` is a division, which a
 * LEAST_CONN connect pays twice. The bias is the same as the modulo's,
 * at most total / 2^32. */
static __always_inline __u32 sl_reduce(const struct sl_sel *s, __u32 raw)
{
	return (__u32)(((__u64)raw * (s->total ? s->total : s->count)) >> 32);
}

/* r already reduced: position of the first endpoint with cum > r. */
static __always_inline int sl_search(const struct sl_sel *s, __u32 r)
{
	__u32 lo = 0, hi = s->count - 1, mid;
	struct sl_backend *be;

	if (!s->total)
		return r < s->count ? (int)r : 0;
	for (int k = 0; k < SL_SEARCH_STEPS; k++) {
		if (lo >= hi)
			break;
		mid = (lo + hi) >> 1;
		be = sl_backend_at(0, s->base + mid);
		if (!be)
			return -SL_R_NO_BACKEND;
		if (be->cum > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Fills *c for position idx; false when idx is ejected or broken. */
static __always_inline bool sl_cand_load(const struct sl_sel *s, __u32 idx, struct sl_cand *c,
					 bool ignore_ejection)
{
	struct sl_backend *be = sl_backend_at(0, s->base + idx);
	struct sl_ep_state *st;

	if (!be)
		return false;
	st = sl_ep_state_at(be->state);
	if (!ignore_ejection && sl_ejected(st, s->now))
		return false;
	c->idx = idx;
	c->weight = be->weight;
	c->cum = be->cum;
	c->active = st && st->active > 0 ? st->active : 0;
	return true;
}

struct sl_scan {
	__u64 now;
	__u32 base;
	__u32 count;
	__u32 start;
	__u32 avoid;
	__u32 found; /* out: position, or SL_NONE */
};

static long sl_scan_cb(__u64 i, void *data)
{
	struct sl_scan *sc = data;
	__u32 j = sc->start + (__u32)i;
	struct sl_backend *be;

	if (j >= sc->count)
		j -= sc->count;
	if (j == sc->avoid)
		return 0;
	be = sl_backend_at(0, sc->base + j);
	if (!be || sl_ejected(sl_ep_state_at(be->state), sc->now))
		return 0;
	sc->found = j;
	return 1;
}

/* First selectable position from a random offset, or SL_NONE. */
static __always_inline __u32 sl_scan(const struct sl_sel *s, __u32 avoid)
{
	struct sl_scan sc = {
		.now = s->now,
		.base = s->base,
		.count = s->count,
		.start = sl_rand32() % s->count,
		.avoid = avoid,
		.found = SL_NONE,
	};

	bpf_loop(s->count, sl_scan_cb, &sc, 0);
	return sc.found;
}

/*
 * One weighted draw, the first from r0, avoiding ejected endpoints and
 * position `avoid`. With avoid == SL_NONE and every endpoint ejected it
 * returns the plain draw from r0 (panic). Returns the position (>= 0) with
 * *c filled, -SL_R_NO_BACKEND when nothing qualifies.
 *
 * A global function: the verifier checks it once, on its own, instead of at
 * every call site with all the caller's state, which is what keeps the
 * binary searches of several draws from multiplying verifier states.
 */
__noinline int sl_draw(const struct sl_sel *s, __u32 r0, __u32 avoid, struct sl_cand *c)
{
	__u32 r = r0, idx;
	int pos;

	if (!s || !c || !s->count || s->count > SL_MAX_GROUP_BACKENDS)
		return -SL_R_NO_BACKEND;
	for (int t = 0; t < SL_DRAW_TRIES; t++) {
		if (t)
			r = sl_reduce(s, sl_rand32());
		pos = sl_search(s, r);
		if (pos < 0)
			return pos;
		if ((__u32)pos != avoid && sl_cand_load(s, pos, c, false))
			return pos;
	}
	idx = sl_scan(s, avoid);
	if (idx != SL_NONE && sl_cand_load(s, idx, c, false))
		return idx;
	if (avoid != SL_NONE)
		return -SL_R_NO_BACKEND;
	pos = sl_search(s, r0); /* panic: every endpoint is ejected */
	if (pos >= 0 && sl_cand_load(s, pos, c, true))
		return pos;
	return -SL_R_NO_BACKEND;
}

/* sl_draw()'s first try inline: most draws land on a selectable endpoint
 * the first time, and a call (the global function) costs a return thunk
 * on kernels with return-stack mitigations. When that try fails (an
 * ejected endpoint, or AVOID), sl_draw() runs whole: it repeats the try
 * before its redraws, which on this rare path is cheaper than a second
 * copy of the redraw logic. */
static __always_inline int sl_draw_first(const struct sl_sel *s, __u32 r, __u32 avoid,
					 struct sl_cand *c)
{
	int pos = s->count ? sl_search(s, r) : -SL_R_NO_BACKEND;

	if (pos >= 0 && (__u32)pos != avoid && sl_cand_load(s, pos, c, false))
		return pos;
	return sl_draw(s, r, avoid, c);
}

/* The second draw of a pair, from every endpoint but the first draw's A:
 * uniform over the weights less A's, then moved past A's range of the
 * cumulative weights. That is what redrawing until the result differs
 * from A gives, in one draw (a redraw would hit A again as often as A's
 * share: a quarter of the time among four equal endpoints). */
static __always_inline __u32 sl_reduce_other(const struct sl_sel *s, const struct sl_cand *a)
{
	__u32 w = s->total ? a->weight : 1;
	__u32 lo = s->total ? a->cum - a->weight : a->idx;
	__u32 n = (s->total ? s->total : s->count) - w;
	__u32 r = (__u32)(((__u64)sl_rand32() * n) >> 32);

	return r >= lo ? r + w : r;
}

/* Power of two choices: of two distinct weighted draws, the one with the
 * lower active/weight, compared by cross-multiplying; a tie keeps the first
 * draw. The draws are already weighted, so idle endpoints (0 active, a tie)
 * get connections in proportion to their weights; (active+1)/weight would
 * instead always favour the heavier one of a pair and starve light ones.
 * A global function, with both first tries inline (sl_draw_first): one
 * call per connect, which keeps the verifier's work per caller small. */
__noinline int sl_least(const struct sl_sel *s, struct sl_cand *a)
{
	struct sl_cand b;
	int pa, pb;

	if (!s || !a)
		return -SL_R_NO_BACKEND;
	pa = sl_draw_first(s, sl_reduce(s, sl_rand32()), SL_NONE, a);
	if (pa < 0 || s->count < 2)
		return pa;
	pb = sl_draw_first(s, sl_reduce_other(s, a), pa, &b);
	if (pb < 0)
		return pa; /* only the first one is selectable */
	if ((__u64)b.active * a->weight < (__u64)a->active * b.weight) {
		*a = b;
		return pb;
	}
	return pa;
}

/* Position of the chosen endpoint in the group, or -reason. */
static __always_inline int sl_select(const struct sl_sel *s, const struct sl_group *grp,
				     struct sl_group_state *gs, struct sl_cand *c)
{
	__u64 n;

	switch (grp->lb) {
	case SL_LB_ROUND_ROBIN:
		n = gs ? __sync_fetch_and_add(&gs->rr, 1) : sl_rand32();
		return sl_draw(s, n % (s->total ? s->total : s->count), SL_NONE, c);
	case SL_LB_RANDOM:
		return sl_draw(s, sl_reduce(s, sl_rand32()), SL_NONE, c);
	default: /* LEAST_REQUEST, LEAST_CONN */
		return sl_least(s, c);
	}
}

static __always_inline void sl_sel_init(struct sl_sel *s, const struct sl_group *grp, __u32 slot,
					__u64 now)
{
	s->now = now;
	s->base = (slot & 1) * SL_MAX_BACKENDS + grp->first;
	s->count = sl_group_count(grp);
	s->total = grp->total;
}

#endif /* SL_SELECT_H */
