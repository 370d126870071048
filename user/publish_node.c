// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Publishing the node-ingress and NetworkPolicy tables into a slot.
 * sl_publish() calls this after the socket-level tables of that slot are
 * written and before the one config update that makes the slot live, so
 * XDP and TC switch to the new frontends, rings and policies in the same
 * instant as the socket hooks.
 *
 * Like the service tables, they are written whole (the slot's entries
 * cleared, rings laid out from cell 0, ring sizes taken from the live
 * slot) or, when the slot is known to hold the old policy, as a
 * difference: the port bitmap's words that changed, the frontends that
 * came, went or changed, the rings of the services whose rows the service
 * write moved, in place, and the NetworkPolicy rows that differ
 * (user/publish_np.c). A difference that would change the ring layout (a
 * ring that resizes, comes or goes) falls back to the whole write, so
 * rings stay laid out as a whole write lays them out (docs/APPLY.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "maglev.h"
#include "publish.h"
#include "svctab.h"
#include "util.h"

/* The ring size the live slot uses for this frontend, 0 if none. */
static __u32 live_size(struct sl_maps *m, const struct sl_l4addr *fe, __u32 active)
{
	struct sl_ingress_key k = { .fe = *fe, .slot = active };
	struct sl_ingress_val v;

	if (bpf_map_lookup_elem(m->fd[SL_MAP_INGRESS], &k, &v))
		return 0;
	return v.ring_size;
}

size_t sl_ring_eps(const struct sl_tables *t, size_t s, const __u32 *first,
		   struct sl_maglev_ep *eps)
{
	const struct sl_svc_val *tv = &t->svcs[s].val;
	size_t n = 0;

	if (tv->flags & SL_SVC_F_HANDOFF)
		return 0; /* XDP cannot hand off: refused, see docs/KERNEL.md */
	for (__u16 g = 0; g < tv->n_groups && g < SL_MAX_GROUPS; g++) {
		const struct sl_group *tg = &tv->groups[g];

		if (!tg->weight || !tg->total)
			continue;
		for (__u32 i = 0; i < tg->count; i++) {
			const struct sl_backend *be = &t->backends[tg->first + i].be;

			eps[n++] = (struct sl_maglev_ep){
				.key = sl_maglev_key(&be->ep, sizeof(be->ep), tg->tag),
				.weight = (double)tg->weight * be->weight / tg->total,
				.cell = (first[g] + i) | (__u32)g << SL_MAGLEV_GROUP_SHIFT,
			};
		}
	}
	return n;
}

/* Maglev entries of one service. The rows are those of SLOT as the service
 * map holds them (an incremental publish places rows anywhere in the slot),
 * the endpoints and weights those of the compiled table. */
static ssize_t ring_eps(struct sl_maps *m, const struct sl_tables *t, size_t s, __u32 slot,
			struct sl_maglev_ep *eps)
{
	struct sl_svc_key k = { .fe = t->svcs[s].fe, .slot = slot };
	struct sl_svc_val live;
	__u32 first[SL_MAX_GROUPS];

	if (t->svcs[s].val.flags & SL_SVC_F_HANDOFF)
		return 0;
	int err = sl_svc_get(sl_svctab_of(m), &k, &live);

	if (err)
		return err;
	for (unsigned g = 0; g < SL_MAX_GROUPS; g++)
		first[g] = live.groups[g].first;
	return (ssize_t)sl_ring_eps(t, s, first, eps);
}

/* Endpoints of service S that get ring cells (a count, no slot needed). */
static size_t ring_members(const struct sl_tables *t, size_t s)
{
	const struct sl_svc_val *tv = &t->svcs[s].val;
	size_t n = 0;

	if (tv->flags & SL_SVC_F_HANDOFF)
		return 0;
	for (__u16 g = 0; g < tv->n_groups && g < SL_MAX_GROUPS; g++)
		if (tv->groups[g].weight && tv->groups[g].total)
			n += tv->groups[g].count;
	return n;
}

size_t sl_ring_cells(struct sl_maps *m, const struct sl_tables *t, __u32 live)
{
	bool *seen = calloc(t->n_svcs + 1, sizeof(*seen));
	size_t cells = 0;

	for (size_t i = 0; seen && i < t->n_ingress; i++) {
		size_t s = t->ingress[i].svc, n = ring_members(t, s);

		if (n && !seen[s]) /* frontends of one service share its ring */
			cells += sl_maglev_size(n, live_size(m, &t->ingress[i].fe, live));
		seen[s] = true;
	}
	free(seen);
	return seen ? cells : SIZE_MAX;
}

/* The ring a whole write gives service IN->svc of T in SLOT: its size
 * (0: none, the service has no endpoint XDP may use) and cells (malloc'd
 * when the size is not 0). The size keeps the live slot's for IN's
 * frontend (sl_maglev_size). */
struct ring {
	__u32 size;
	__u32 *cells;
};

static int ring_build(struct sl_maps *m, const struct sl_tables *t,
		      const struct sl_table_ingress *in, __u32 slot, __u32 active, struct ring *out)
{
	struct sl_maglev_ep *eps = calloc(SL_MAX_GROUPS * SL_MAX_GROUP_BACKENDS, sizeof(*eps));
	ssize_t n;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!eps)
		return -ENOMEM;
	n = ring_eps(m, t, in->svc, slot, eps);
	if (n > 0) {
		out->size = sl_maglev_size((size_t)n, live_size(m, &in->fe, active));
		out->cells = malloc(out->size * sizeof(*out->cells));
		err = out->cells ? sl_maglev_fill(eps, (size_t)n, out->size, out->cells) : -ENOMEM;
	} else {
		err = (int)n;
	}
	if (err == -EINVAL)
		err = 0; /* every weight zero: no endpoint to offer */
	if (err || !out->cells) {
		free(out->cells);
		out->cells = NULL;
		out->size = 0;
	}
	free(eps);
	return err;
}

static int write_cells(struct sl_maps *m, const __u32 *cells, __u32 off, __u32 n, __u32 slot)
{
	__u32 *keys = malloc((n ? n : 1) * sizeof(*keys));
	int err;

	if (!keys)
		return -ENOMEM;
	for (__u32 i = 0; i < n; i++)
		keys[i] = slot * SL_MAX_MAGLEV_CELLS + off + i;
	err = sl_put_many(m->fd[SL_MAP_MAGLEV], keys, cells, n, sizeof(*keys), sizeof(*cells));
	free(keys);
	return err;
}

static struct sl_ingress_val ingress_val(const struct sl_tables *t, const struct sl_table_ingress *in,
					 __u32 off, __u32 size)
{
	return (struct sl_ingress_val){
		.svc = t->svcs[in->svc].fe, .ring_off = off, .ring_size = size, .kind = in->kind,
	};
}

static int write_ingress(struct sl_maps *m, const struct sl_tables *t, const __u32 *off,
			 const __u32 *size, __u32 slot)
{
	size_t n = t->n_ingress;
	struct sl_ingress_key *keys = calloc(n ? n : 1, sizeof(*keys));
	struct sl_ingress_val *vals = calloc(n ? n : 1, sizeof(*vals));
	int err = -ENOMEM;

	if (keys && vals) {
		for (size_t i = 0; i < n; i++) {
			const struct sl_table_ingress *in = &t->ingress[i];

			keys[i] = (struct sl_ingress_key){ .fe = in->fe, .slot = slot };
			vals[i] = ingress_val(t, in, off[in->svc], size[in->svc]);
		}
		err = sl_clear_slot(m->fd[SL_MAP_INGRESS], sizeof(*keys),
				    offsetof(struct sl_ingress_key, slot), slot);
		if (!err)
			err = sl_put_many(m->fd[SL_MAP_INGRESS], keys, vals, n, sizeof(*keys),
					  sizeof(*vals));
	}
	free(keys);
	free(vals);
	return err;
}

void sl_fe_port_bitmap(const struct sl_tables *t, __u64 words[2 * SL_FE_PORT_WORDS])
{
	memset(words, 0, 2 * SL_FE_PORT_WORDS * sizeof(*words));
	for (size_t i = 0; t && i < t->n_ingress; i++) {
		__u16 port = ntohs(t->ingress[i].fe.port);

		words[sl_fe_port_word(0, t->ingress[i].fe.proto, port)] |= 1ull << (port % 64);
	}
}

/* The slot's port bitmap: every frontend's port, NodePorts included; when
 * the slot holds CH->old, only the words that differ. */
static int write_fe_ports(struct sl_maps *m, const struct sl_node_change *ch, __u32 slot,
			  struct sl_node_report *r)
{
	__u64 words[2 * SL_FE_PORT_WORDS], was[2 * SL_FE_PORT_WORDS];
	__u32 keys[2 * SL_FE_PORT_WORDS];
	size_t n = 0;

	if (ch->new_ports)
		memcpy(words, ch->new_ports, sizeof(words));
	else
		sl_fe_port_bitmap(ch->new, words);
	if (ch->old_ports)
		memcpy(was, ch->old_ports, sizeof(was));
	else
		sl_fe_port_bitmap(ch->old, was);
	for (__u32 i = 0; i < 2 * SL_FE_PORT_WORDS; i++) {
		if (ch->old && was[i] == words[i])
			continue;
		keys[n] = slot * 2 * SL_FE_PORT_WORDS + i;
		words[n++] = words[i]; /* n <= i: packs in place */
	}
	r->port_words = n;
	return sl_put_many(m->fd[SL_MAP_FE_PORTS], keys, words, n, sizeof(*keys), sizeof(*words));
}

/* ---- whole: every ring laid out from cell 0 ---------------------------- */

static int ingress_whole(struct sl_maps *m, const struct sl_tables *t, __u32 slot,
			 __u32 active, struct sl_node_report *rep)
{
	size_t ns = t->n_svcs ? t->n_svcs : 1, need = sl_ring_cells(m, t, active);
	__u32 cap = need < SL_MAX_MAGLEV_CELLS ? (__u32)need : SL_MAX_MAGLEV_CELLS, used = 0;
	__u32 *off = malloc(ns * sizeof(*off)), *size = calloc(ns, sizeof(*size));
	__u32 *cells = malloc((cap ? cap : 1) * sizeof(*cells));
	int err = off && size && cells ? 0 : -ENOMEM;

	if (off)
		memset(off, 0xff, ns * sizeof(*off));
	for (size_t i = 0; !err && i < t->n_ingress; i++) {
		size_t s = t->ingress[i].svc;
		struct ring rg;

		if (off[s] != UINT32_MAX)
			continue; /* frontends of one service share its ring */
		err = ring_build(m, t, &t->ingress[i], slot, active, &rg);
		/* sl_publish_check() rejected an overflow already; CAP was sized
		 * by the same computation. */
		if (!err && (uint64_t)used + rg.size > cap)
			err = -ENOSPC;
		if (!err && rg.size)
			memcpy(cells + used, rg.cells, rg.size * sizeof(*cells));
		off[s] = rg.size ? used : 0;
		size[s] = rg.size;
		used += err ? 0 : rg.size;
		rep->n_rings += rg.size != 0;
		free(rg.cells);
	}
	if (!err)
		err = write_cells(m, cells, 0, used, slot);
	if (!err)
		err = write_ingress(m, t, off, size, slot);
	rep->n_cells = used;
	rep->whole_ingress = true;
	free(off);
	free(size);
	free(cells);
	return err;
}

/* ---- difference ---------------------------------------------------------- */

static int cmp_fe(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sl_l4addr));
}

/* Services of T with a ring, in the order a whole write lays rings out
 * (first frontend of each): indices into t->ingress. */
static size_t ring_order(const struct sl_tables *t, size_t *out)
{
	bool *seen = calloc(t->n_svcs + 1, sizeof(*seen));
	size_t n = 0;

	for (size_t i = 0; seen && i < t->n_ingress; i++)
		if (!seen[t->ingress[i].svc]) {
			seen[t->ingress[i].svc] = true;
			out[n++] = i;
		}
	free(seen);
	return seen ? n : SIZE_MAX;
}

static bool same_order(const struct sl_tables *a, const size_t *oa, size_t na,
		       const struct sl_tables *b, const size_t *ob, size_t nb)
{
	if (na != nb || na == SIZE_MAX)
		return false;
	for (size_t i = 0; i < na; i++)
		if (memcmp(&a->svcs[a->ingress[oa[i]].svc].fe, &b->svcs[b->ingress[ob[i]].svc].fe,
			   sizeof(struct sl_l4addr)))
			return false;
	return true;
}

/* One ring of the difference: where the slot holds it, and its new cells
 * when the service write moved the service's rows. */
struct ring_at {
	struct sl_l4addr svc; /* cluster frontend: the sort key */
	__u32 off, size;
	struct ring new; /* cells NULL: unchanged */
};

static int cmp_ring_at(const void *a, const void *b)
{
	return cmp_fe(&((const struct ring_at *)a)->svc, &((const struct ring_at *)b)->svc);
}

static bool moved(const struct sl_node_change *ch, const struct sl_l4addr *fe)
{
	return bsearch(fe, ch->moved, ch->n_moved, sizeof(*fe), cmp_fe) != NULL;
}

/* Every ring of the new policy where SLOT holds it; rebuilt for services
 * the service write moved. -EAGAIN: a ring would change size, so the
 * layout changes and the write must be whole. */
static int rings_at(struct sl_maps *m, const struct sl_node_change *ch, const size_t *ord_old,
		    const size_t *ord_new, size_t n, __u32 slot, __u32 active, struct ring_at *v)
{
	int err = 0;

	for (size_t i = 0; !err && i < n; i++) {
		const struct sl_table_ingress *in = &ch->new->ingress[ord_new[i]];
		struct sl_ingress_key k = { .fe = ch->old->ingress[ord_old[i]].fe, .slot = slot };
		struct sl_ingress_val cur;

		v[i].svc = ch->new->svcs[in->svc].fe;
		if (bpf_map_lookup_elem(m->fd[SL_MAP_INGRESS], &k, &cur))
			return -EAGAIN; /* not what the old tables say: rewrite */
		v[i].off = cur.ring_off;
		v[i].size = cur.ring_size;
		if (!moved(ch, &v[i].svc))
			continue;
		err = ring_build(m, ch->new, in, slot, active, &v[i].new);
		if (!err && v[i].new.size != cur.ring_size)
			err = -EAGAIN;
	}
	return err;
}

struct ing_ent {
	struct sl_l4addr fe;
	const struct sl_table_ingress *in;
};

static int cmp_ent(const void *a, const void *b)
{
	return cmp_fe(a, b);
}

static struct ing_ent *sorted_ents(const struct sl_tables *t)
{
	struct ing_ent *v = calloc(t->n_ingress + 1, sizeof(*v));

	for (size_t i = 0; v && i < t->n_ingress; i++)
		v[i] = (struct ing_ent){ t->ingress[i].fe, &t->ingress[i] };
	if (v)
		qsort(v, t->n_ingress, sizeof(*v), cmp_ent);
	return v;
}

/* Frontends that went are deleted; those that came or changed are written
 * with their service's ring where the slot holds it (RINGS, sorted). */
static int ents_diff(struct sl_maps *m, const struct sl_node_change *ch, const struct ring_at *rings,
		     size_t n_rings, __u32 slot, struct sl_node_report *r)
{
	struct ing_ent *o = sorted_ents(ch->old), *nw = sorted_ents(ch->new);
	size_t i = 0, j = 0, no = ch->old->n_ingress, nn = ch->new->n_ingress;
	int err = o && nw ? 0 : -ENOMEM;

	while (!err && (i < no || j < nn)) {
		int c = i == no ? 1 : j == nn ? -1 : cmp_fe(&o[i].fe, &nw[j].fe);
		struct sl_ingress_key k = { .fe = c <= 0 ? o[i].fe : nw[j].fe, .slot = slot };
		struct sl_ingress_val ov, nv;
		struct ring_at probe, *ra;

		if (c < 0) {
			err = sl_map_del(m->fd[SL_MAP_INGRESS], &k);
			r->ingress_writes++;
			i++;
			continue;
		}
		probe.svc = ch->new->svcs[nw[j].in->svc].fe;
		ra = bsearch(&probe, rings, n_rings, sizeof(*rings), cmp_ring_at);
		nv = ingress_val(ch->new, nw[j].in, ra ? ra->off : 0, ra ? ra->size : 0);
		if (c == 0) {
			ov = ingress_val(ch->old, o[i].in, nv.ring_off, nv.ring_size);
			i++;
		}
		j++;
		if (c == 0 && !memcmp(&ov, &nv, sizeof(nv)))
			continue;
		err = sl_map_put(m->fd[SL_MAP_INGRESS], &k, &nv, BPF_ANY);
		r->ingress_writes++;
	}
	free(o);
	free(nw);
	return err;
}

/* The difference OLD -> NEW in a slot that holds OLD. -EAGAIN when the
 * ring layout changes: nothing was written, the caller writes whole. */
static int ingress_diff(struct sl_maps *m, const struct sl_node_change *ch, __u32 slot,
			__u32 active, struct sl_node_report *r)
{
	size_t *oo = calloc(ch->old->n_ingress + 1, sizeof(*oo));
	size_t *on = calloc(ch->new->n_ingress + 1, sizeof(*on));
	size_t no = oo ? ring_order(ch->old, oo) : SIZE_MAX, nn = on ? ring_order(ch->new, on) : 0;
	struct ring_at *v = calloc(nn + 1, sizeof(*v));
	int err = oo && on && v ? 0 : -ENOMEM;

	if (!err && !same_order(ch->old, oo, no, ch->new, on, nn))
		err = -EAGAIN;
	if (!err)
		err = rings_at(m, ch, oo, on, nn, slot, active, v);
	if (!err)
		qsort(v, nn, sizeof(*v), cmp_ring_at);
	for (size_t i = 0; !err && i < nn; i++) {
		if (!v[i].new.cells)
			continue;
		err = write_cells(m, v[i].new.cells, v[i].off, v[i].size, slot);
		r->n_rings++;
		r->n_cells += v[i].size;
	}
	if (!err)
		err = ents_diff(m, ch, v, nn, slot, r);
	for (size_t i = 0; v && i < nn; i++)
		free(v[i].new.cells);
	free(v);
	free(oo);
	free(on);
	return err;
}

int sl_publish_node_check(struct sl_maps *m, const struct sl_node_change *ch, __u32 slot,
			  __u32 active)
{
	size_t *oo = calloc(ch->old->n_ingress + 1, sizeof(*oo));
	size_t *on = calloc(ch->new->n_ingress + 1, sizeof(*on));
	size_t no = oo ? ring_order(ch->old, oo) : SIZE_MAX, nn = on ? ring_order(ch->new, on) : 0;
	int err = oo && on ? 0 : -ENOMEM;

	if (!err && !same_order(ch->old, oo, no, ch->new, on, nn))
		err = -EAGAIN;
	for (size_t i = 0; !err && i < nn; i++) {
		const struct sl_table_ingress *in = &ch->new->ingress[on[i]];
		size_t n = ring_members(ch->new, in->svc);
		__u32 now = live_size(m, &ch->old->ingress[oo[i]].fe, slot);

		if (moved(ch, &ch->new->svcs[in->svc].fe) &&
		    (n ? sl_maglev_size(n, live_size(m, &in->fe, active)) : 0) != now)
			err = -EAGAIN;
	}
	free(oo);
	free(on);
	return err;
}

int sl_publish_node(struct sl_maps *m, const struct sl_node_change *ch, __u32 slot,
		    __u32 active, struct sl_node_report *r)
{
	int err;

	memset(r, 0, sizeof(*r));
	r->n_ingress = ch->new->n_ingress;
	err = ch->old ? ingress_diff(m, ch, slot, active, r) : -EAGAIN;
	if (err == -EAGAIN && ch->partial)
		return err; /* a new layout needs every ring */
	if (err == -EAGAIN)
		err = ingress_whole(m, ch->new, slot, active, r);
	if (!err)
		err = write_fe_ports(m, ch, slot, r);
	if (!err && ch->np)
		err = sl_publish_np(m, ch->old, ch->new, slot, r);
	return err;
}
