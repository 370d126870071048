// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Publishing the node-ingress and NetworkPolicy tables into the inactive
 * slot. sl_publish() calls this after the socket-level tables of that slot
 * are written and before the one config update that makes the slot live,
 * so XDP and TC switch to the new frontends, rings and policies in the same
 * instant as the socket hooks.
 *
 * Unlike the service tables these are rewritten whole on every apply (their
 * size is proportional to node-ingress frontends and NetworkPolicy, not to
 * the mesh), into the inactive slot before the switch and into the other
 * slot after it, with the ring sizes of the live slot, so both slots hold
 * the same tables (docs/APPLY.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "maglev.h"
#include "publish.h"
#include "util.h"

struct rings {
	__u32 *off; /* per service: ring offset, UINT32_MAX = none yet */
	__u32 *size;
	__u32 *cells; /* the slot's cells, 0 .. used */
	__u32 used, cap;
};

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
	if (bpf_map_lookup_elem(m->fd[SL_MAP_SERVICES], &k, &live))
		return -errno;
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

static int build_ring(struct sl_maps *m, const struct sl_tables *t, const struct sl_table_ingress *in,
		      __u32 slot, __u32 active, struct rings *r)
{
	struct sl_maglev_ep *eps = calloc(SL_MAX_GROUPS * SL_MAX_GROUP_BACKENDS, sizeof(*eps));
	ssize_t n;
	__u32 size;
	int err = 0;

	if (!eps)
		return -ENOMEM;
	n = ring_eps(m, t, in->svc, slot, eps);
	if (n <= 0) {
		err = (int)n;
		r->size[in->svc] = 0;
		r->off[in->svc] = 0;
		goto out;
	}
	size = sl_maglev_size((size_t)n, live_size(m, &in->fe, active));
	if ((uint64_t)r->used + size > r->cap) {
		/* sl_publish_check() rejected this already; cap was sized by
		 * the same computation. */
		err = -ENOSPC;
		goto out;
	}
	err = sl_maglev_fill(eps, (size_t)n, size, r->cells + r->used);
	if (err == -EINVAL) {
		err = 0; /* every weight zero: no endpoint to offer */
		size = 0;
	}
	r->off[in->svc] = r->used;
	r->size[in->svc] = size;
	r->used += size;
out:
	free(eps);
	return err;
}

static int write_cells(struct sl_maps *m, const struct rings *r, __u32 slot)
{
	__u32 *keys = malloc((r->used ? r->used : 1) * sizeof(*keys));
	int err;

	if (!keys)
		return -ENOMEM;
	for (__u32 i = 0; i < r->used; i++)
		keys[i] = slot * SL_MAX_MAGLEV_CELLS + i;
	err = sl_put_many(m->fd[SL_MAP_MAGLEV], keys, r->cells, r->used, sizeof(*keys),
			  sizeof(*r->cells));
	free(keys);
	return err;
}

static int write_ingress(struct sl_maps *m, const struct sl_tables *t, const struct rings *r,
			 __u32 slot)
{
	size_t n = t->n_ingress;
	struct sl_ingress_key *keys = calloc(n ? n : 1, sizeof(*keys));
	struct sl_ingress_val *vals = calloc(n ? n : 1, sizeof(*vals));
	int err = -ENOMEM;

	if (keys && vals) {
		for (size_t i = 0; i < n; i++) {
			const struct sl_table_ingress *in = &t->ingress[i];

			keys[i] = (struct sl_ingress_key){ .fe = in->fe, .slot = slot };
			vals[i] = (struct sl_ingress_val){
				.svc = t->svcs[in->svc].fe,
				.ring_off = r->off[in->svc],
				.ring_size = r->size[in->svc],
				.kind = in->kind,
			};
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
	for (size_t i = 0; i < t->n_ingress; i++) {
		__u16 port = ntohs(t->ingress[i].fe.port);

		words[sl_fe_port_word(0, t->ingress[i].fe.proto, port)] |= 1ull << (port % 64);
	}
}

/* The slot's port bitmap: every frontend's port, NodePorts included. */
static int write_fe_ports(struct sl_maps *m, const struct sl_tables *t, __u32 slot)
{
	__u64 words[2 * SL_FE_PORT_WORDS];
	__u32 keys[2 * SL_FE_PORT_WORDS];

	sl_fe_port_bitmap(t, words);
	for (__u32 i = 0; i < 2 * SL_FE_PORT_WORDS; i++)
		keys[i] = slot * 2 * SL_FE_PORT_WORDS + i;
	return sl_put_many(m->fd[SL_MAP_FE_PORTS], keys, words, 2 * SL_FE_PORT_WORDS,
			   sizeof(*keys), sizeof(*words));
}

static int publish_ingress(struct sl_maps *m, const struct sl_tables *t, __u32 slot,
			   __u32 active, struct sl_node_report *rep)
{
	struct rings r = { 0 };
	size_t ns = t->n_svcs ? t->n_svcs : 1;
	int err = -ENOMEM;

	size_t need = sl_ring_cells(m, t, active);

	r.cap = need < SL_MAX_MAGLEV_CELLS ? (__u32)need : SL_MAX_MAGLEV_CELLS;
	r.off = malloc(ns * sizeof(*r.off));
	r.size = calloc(ns, sizeof(*r.size));
	r.cells = malloc((r.cap ? r.cap : 1) * sizeof(*r.cells));
	if (!r.off || !r.size || !r.cells)
		goto out;
	memset(r.off, 0xff, ns * sizeof(*r.off));
	err = 0;
	for (size_t i = 0; !err && i < t->n_ingress; i++) {
		if (r.off[t->ingress[i].svc] != UINT32_MAX)
			continue; /* frontends of one service share its ring */
		err = build_ring(m, t, &t->ingress[i], slot, active, &r);
		rep->n_rings += r.size[t->ingress[i].svc] != 0;
	}
	if (!err)
		err = write_cells(m, &r, slot);
	if (!err)
		err = write_ingress(m, t, &r, slot);
	if (!err)
		err = write_fe_ports(m, t, slot);
	rep->n_ingress = t->n_ingress;
	rep->n_cells = r.used;
out:
	free(r.off);
	free(r.size);
	free(r.cells);
	return err;
}

/* ---- NetworkPolicy ----------------------------------------------------- */

static __u32 with_slot(__u32 id, __u32 slot)
{
	return id ? (slot ? id | SL_NP_SLOT_BIT : id) : 0;
}

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

static int clear_np(int fd, size_t ksz, size_t id_off, __u32 slot)
{
	struct np_id_field f = { id_off, slot };

	return sl_clear_where(fd, ksz, np_id_in_slot, &f);
}

static int write_np_pods(struct sl_maps *m, const struct sl_tables *t, __u32 slot)
{
	int err = sl_clear_slot(m->fd[SL_MAP_NP_PODS], sizeof(struct sl_np_pod_key),
				offsetof(struct sl_np_pod_key, slot), slot);

	for (size_t i = 0; !err && i < t->n_np_pods; i++) {
		struct sl_np_pod_key k = t->np_pods[i].key;
		struct sl_np_pod_val v = {
			.ingress_set = with_slot(t->np_pods[i].val.ingress_set, slot),
			.egress_set = with_slot(t->np_pods[i].val.egress_set, slot),
		};

		k.slot = slot;
		err = sl_map_put(m->fd[SL_MAP_NP_PODS], &k, &v, BPF_ANY);
	}
	return err;
}

static int write_np_prefixes(struct sl_maps *m, const struct sl_tables *t, __u32 slot)
{
	int fd = m->fd[SL_MAP_NP_PREFIXES];
	int err = clear_np(fd, sizeof(struct sl_np_lpm_key), offsetof(struct sl_np_lpm_key, set),
			   slot);

	/* LPM tries have no batch update. */
	for (size_t i = 0; !err && i < t->n_np_prefixes; i++) {
		struct sl_np_lpm_key k = t->np_prefixes[i].key;
		struct sl_np_lpm_val v = { .portset = with_slot(t->np_prefixes[i].val.portset, slot) };

		k.set = with_slot(k.set, slot);
		err = sl_map_put(fd, &k, &v, BPF_ANY);
	}
	return err;
}

static int write_np_ports(struct sl_maps *m, const struct sl_tables *t, __u32 slot)
{
	int fd = m->fd[SL_MAP_NP_PORTS];
	int err = clear_np(fd, sizeof(__u32), 0, slot);

	for (size_t i = 0; !err && i < t->n_np_portsets; i++) {
		__u32 id = with_slot(t->np_portsets[i].id, slot);

		err = sl_map_put(fd, &id, &t->np_portsets[i].ports, BPF_ANY);
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

int sl_publish_node(struct sl_maps *m, const struct sl_tables *t, __u32 slot, __u32 active,
		    struct sl_node_report *r)
{
	int err;

	memset(r, 0, sizeof(*r));
	err = publish_ingress(m, t, slot, active, r);
	/* Port sets and prefixes before the pods that point at them. */
	if (!err)
		err = write_np_ports(m, t, slot);
	if (!err)
		err = write_np_prefixes(m, t, slot);
	if (!err)
		err = write_np_pods(m, t, slot);
	r->n_np_pods = t->n_np_pods;
	r->n_np_prefixes = t->n_np_prefixes;
	r->n_np_portsets = t->n_np_portsets;
	return err;
}
