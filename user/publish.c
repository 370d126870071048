// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The publication protocol (docs/APPLY.md), step by step:
 *
 *   1. mark the inactive slot unsynced (config write), unless it already is
 *   2. write the inactive slot: the state records of new endpoints and
 *      groups, then the services and rows, incrementally (only the services
 *      that differ, removals first) when it is known to equal the live one,
 *      else whole; then the node tables, the names of new pairs and the
 *      one-slot names of renamed ones (names.h), and the store; under
 *      `--sockops auto`, attach sockops if NEW hands off
 *   3. switch: two config writes, active_slot then generation
 *   4. replay the change on the other slot, copy the store, write the
 *      changed names for both slots and remove the one-slot ones and those
 *      of pairs that left, remove state records that nothing owns any more
 *   5. mark the slots synced (config write)
 *   6. under `--sockops auto`, detach sockops if the live policy no longer
 *      hands off (sockops_link.h)
 *
 * A kill before 3 leaves the old policy live and the inactive slot marked
 * unsynced; a kill after 3 leaves the new policy live and the other slot
 * marked unsynced. Either way the next apply rewrites that slot whole, and
 * sl_publish_repair() does the same without a new policy.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "names.h"
#include "publish.h"
#include "sockops_link.h"
#include "stateid.h"
#include "svctab.h"
#include "util.h"

/* ---- whole-slot writes ------------------------------------------------ */

static int write_backends(struct sl_maps *m, const struct sl_tables *t, __u32 slot,
			  const struct sl_state_ids *ids)
{
	size_t n = t->n_backends;
	__u32 *keys = calloc(n ? n : 1, sizeof(*keys));
	struct sl_backend *vals = calloc(n ? n : 1, sizeof(*vals));
	int err = -ENOMEM;

	if (keys && vals) {
		for (size_t i = 0; i < n; i++) {
			keys[i] = slot * SL_MAX_BACKENDS + (__u32)i;
			vals[i] = t->backends[i].be;
			vals[i].state = ids->rows[i];
		}
		err = sl_put_many(m->fd[SL_MAP_BACKENDS], keys, vals, n, sizeof(*keys),
				  sizeof(*vals));
	}
	free(keys);
	free(vals);
	return err;
}

static int write_services(struct sl_maps *m, const struct sl_tables *t, __u32 slot,
			  const struct sl_state_ids *ids)
{
	size_t n = t->n_svcs;
	struct sl_l4addr *fes = calloc(n ? n : 1, sizeof(*fes));
	struct sl_svc_val *vals = calloc(n ? n : 1, sizeof(*vals));
	int err = -ENOMEM;

	if (fes && vals) {
		for (size_t i = 0; i < n; i++) {
			fes[i] = t->svcs[i].fe;
			vals[i] = t->svcs[i].val;
			for (unsigned g = 0; g < SL_MAX_GROUPS; g++)
				vals[i].groups[g].state = ids->groups[i * SL_MAX_GROUPS + g];
		}
		err = sl_svc_write_slot(sl_svctab_of(m), slot, fes, vals, n);
	}
	free(fes);
	free(vals);
	return err;
}

/* Write T into the slot, with the state ids of its pairs (new pairs get
 * theirs here, before any row names them). Rows and services are arrays
 * overwritten in place (svctab.c), so nothing is cleared first.
 * KEPT, when not NULL, holds T's ids from the other slot's write of the
 * same publication (the replay then reads no id directory: nothing frees
 * an id between the two writes), or receives them. */
static int full_slot(struct sl_maps *m, __u32 slot, const struct sl_tables *t,
		     struct sl_state_ids *kept)
{
	struct sl_state_ids own = { 0 }, *ids = kept ? kept : &own;
	struct sl_state_maps sm;
	int err = 0;

	sl_state_maps_of(m, &sm);
	if (!ids->rows)
		err = sl_stateid_assign_all(&sm, t, ids);
	if (!err)
		err = write_backends(m, t, slot, ids);
	if (!err)
		err = write_services(m, t, slot, ids);
	sl_state_ids_free(&own);
	return err;
}

/* The bump allocators of a slot: backend rows and service rows. */
struct hwm {
	__u32 rows;
	__u32 svcs;
};

/* After a whole write of T into SLOT: both allocators start past T. */
static void set_hwm(struct sl_config *cfg, __u32 slot, const struct sl_tables *t)
{
	cfg->backend_hwm[slot] = (__u32)t->n_backends;
	cfg->svc_hwm[slot] = (__u32)t->n_svcs;
}

/* ---- incremental writes ----------------------------------------------- */

struct svc_ref {
	const struct sl_tables *t;
	size_t i;
};

static int cmp_fe(const void *a, const void *b)
{
	const struct svc_ref *x = a, *y = b;

	return memcmp(&x->t->svcs[x->i].fe, &y->t->svcs[y->i].fe, sizeof(struct sl_l4addr));
}

static struct svc_ref *sorted_refs(const struct sl_tables *t)
{
	struct svc_ref *r = calloc(t->n_svcs ? t->n_svcs : 1, sizeof(*r));

	if (!r)
		return NULL;
	for (size_t i = 0; i < t->n_svcs; i++)
		r[i] = (struct svc_ref){ t, i };
	qsort(r, t->n_svcs, sizeof(*r), cmp_fe);
	return r;
}

static bool same_rows(const struct sl_tables *a, const struct sl_group *ga,
		      const struct sl_tables *b, const struct sl_group *gb)
{
	if (ga->count != gb->count)
		return false;
	for (__u32 k = 0; k < ga->count; k++) {
		const struct sl_table_backend *x = &a->backends[ga->first + k];
		const struct sl_table_backend *y = &b->backends[gb->first + k];

		if (memcmp(&x->be, &y->be, sizeof(x->be)) || memcmp(&x->meta, &y->meta, sizeof(x->meta)))
			return false;
	}
	return true;
}

/* Equal as far as the maps are concerned (row placement aside). */
static bool svc_same(const struct svc_ref *o, const struct svc_ref *n)
{
	const struct sl_table_svc *a = &o->t->svcs[o->i], *b = &n->t->svcs[n->i];
	struct sl_svc_val va = a->val, vb = b->val;

	if (memcmp(&a->meta, &b->meta, sizeof(a->meta)) || va.n_groups != vb.n_groups)
		return false;
	for (unsigned g = 0; g < va.n_groups && g < SL_MAX_GROUPS; g++) {
		if (!same_rows(o->t, &va.groups[g], n->t, &vb.groups[g]))
			return false;
		va.groups[g].first = vb.groups[g].first = 0;
	}
	va.id = vb.id = 0;
	return !memcmp(&va, &vb, sizeof(va));
}

struct diff {
	const struct svc_ref *old; /* NULL for a new service */
	const struct svc_ref *new; /* NULL for a removed one */
};

struct plan {
	struct svc_ref *o, *n;
	struct diff *v;
	size_t len;
	struct sl_state_ids ids; /* the new tables' ids, once a whole write made them */
	struct sl_names_change names;
};

static void plan_free(struct plan *p)
{
	sl_names_change_free(&p->names);
	sl_state_ids_free(&p->ids);
	free(p->o);
	free(p->n);
	free(p->v);
}

static int plan_diff(const struct sl_tables *old, const struct sl_tables *new, struct plan *p)
{
	size_t i = 0, j = 0;

	memset(p, 0, sizeof(*p));
	p->o = sorted_refs(old);
	p->n = sorted_refs(new);
	p->v = calloc(old->n_svcs + new->n_svcs + 1, sizeof(*p->v));
	if (!p->o || !p->n || !p->v)
		return -ENOMEM;
	while (i < old->n_svcs || j < new->n_svcs) {
		int c = i == old->n_svcs ? 1 : j == new->n_svcs ? -1 : cmp_fe(&p->o[i], &p->n[j]);

		if (c < 0)
			p->v[p->len++] = (struct diff){ &p->o[i++], NULL };
		else if (c > 0)
			p->v[p->len++] = (struct diff){ NULL, &p->n[j++] };
		else {
			if (!svc_same(&p->o[i], &p->n[j]))
				p->v[p->len++] = (struct diff){ &p->o[i], &p->n[j] };
			i++;
			j++;
		}
	}
	return 0;
}

/* Removals of one diff: the service's entry when it is gone (its rows
 * are left to the high-water mark's next compaction; names are
 * names.c's). */
static int remove_old(struct sl_maps *m, __u32 slot, const struct diff *d)
{
	const struct sl_table_svc *s = &d->old->t->svcs[d->old->i];
	struct sl_svc_key k = { .fe = s->fe, .slot = slot };

	return d->new ? 0 : sl_svc_del(sl_svctab_of(m), &k);
}

/* Is row K of group G of NEW what OLD's group G holds at the same place
 * (so the slot, which holds OLD, already has it)? */
static bool row_kept(const struct svc_ref *old, const struct sl_table_backend *b, unsigned g,
		     __u32 k)
{
	const struct sl_svc_val *ov;
	const struct sl_table_backend *o;

	if (!old)
		return false;
	ov = &old->t->svcs[old->i].val;
	if (g >= ov->n_groups || k >= ov->groups[g].count)
		return false;
	o = &old->t->backends[ov->groups[g].first + k];
	return !memcmp(&o->be, &b->be, sizeof(b->be));
}

/* Rows FIRST.. of group G of R's service from its table rows SRC.. (COUNT):
 * the ones that differ from OLD's when the group is written in place,
 * with their pairs' state ids, in one batch write. */
struct group_rows {
	__u32 slot, first, src, count;
	unsigned g;
	bool in_place;
};

static int put_group_rows(struct sl_maps *m, const struct svc_ref *r, const struct svc_ref *old,
			  const struct group_rows *gr)
{
	const struct sl_l4addr *fe = &r->t->svcs[r->i].fe;
	__u32 *key = calloc(gr->count + 1, sizeof(*key)), *ids = calloc(gr->count + 1, sizeof(*ids));
	struct sl_backend *row = calloc(gr->count + 1, sizeof(*row));
	struct sl_l4addr *ep = calloc(gr->count + 1, sizeof(*ep));
	struct sl_state_maps sm;
	size_t n = 0;
	int err = key && ids && row && ep ? 0 : -ENOMEM;

	for (__u32 k = 0; !err && k < gr->count; k++) {
		const struct sl_table_backend *b = &r->t->backends[gr->src + k];

		/* A row kept in place holds its pair's id already: the pair
		 * stays in the policy, so its id does not change. */
		if (gr->in_place && row_kept(old, b, gr->g, k))
			continue;
		key[n] = gr->slot * SL_MAX_BACKENDS + gr->first + k;
		row[n] = b->be;
		ep[n++] = b->be.ep;
	}
	sl_state_maps_of(m, &sm);
	if (!err)
		err = sl_stateid_eps(&sm, fe, ep, n, ids);
	for (size_t i = 0; !err && i < n; i++)
		row[i].state = ids[i];
	if (!err)
		err = sl_put_many(m->fd[SL_MAP_BACKENDS], key, row, n, sizeof(*key), sizeof(*row));
	free(key);
	free(ids);
	free(row);
	free(ep);
	return err;
}

/* The rows of R's groups: in place where the slot's group (PHYS, which
 * holds OLD's rows) has room, writing only the rows that differ; else at
 * the slot's high-water mark. */
static int put_rows(struct sl_maps *m, __u32 slot, const struct svc_ref *r,
		    const struct svc_ref *old, struct sl_svc_val *v, const struct sl_svc_val *phys,
		    __u32 *hwm)
{
	const struct sl_l4addr *fe = &r->t->svcs[r->i].fe;
	struct sl_state_maps sm;
	int err = 0;

	sl_state_maps_of(m, &sm);
	for (unsigned g = 0; g < v->n_groups; g++) {
		struct group_rows gr = { .slot = slot, .src = v->groups[g].first,
					 .count = v->groups[g].count, .g = g };

		gr.in_place = phys && g < phys->n_groups && gr.count <= phys->groups[g].count;
		if (gr.in_place) {
			gr.first = phys->groups[g].first;
		} else {
			if (*hwm + gr.count > SL_MAX_BACKENDS)
				return -ENOSPC;
			gr.first = *hwm;
			*hwm += gr.count;
		}
		err = sl_stateid_group(&sm, fe, v->groups[g].tag, &v->groups[g].state);
		if (!err)
			err = put_group_rows(m, r, old, &gr);
		if (err)
			return err;
		v->groups[g].first = gr.first;
	}
	return 0;
}

static int put_new(struct sl_maps *m, __u32 slot, struct hwm *hwm, const struct diff *d)
{
	const struct sl_table_svc *s = &d->new->t->svcs[d->new->i];
	struct sl_svc_val v = s->val, phys, *pp = NULL;
	struct sl_svc_key k = { .fe = s->fe, .slot = slot };
	int err;

	if (d->old && !sl_svc_get(sl_svctab_of(m), &k, &phys))
		pp = &phys;
	/* Rows first, the service entry last: in the inactive slot order does
	 * not matter for readers, but it keeps a half-done write harmless. */
	err = put_rows(m, slot, d->new, pp ? d->old : NULL, &v, pp, &hwm->rows);
	if (!err)
		err = sl_svc_put(sl_svctab_of(m), &k, &v, &hwm->svcs);
	return err;
}

/* Replay PLAN on SLOT, which holds what PLAN's old side describes. Every
 * removal comes before any addition, so the slot never holds more entries
 * than the larger of the two policies needs. */
static int diff_slot(struct sl_maps *m, __u32 slot, struct hwm *hwm, const struct plan *p)
{
	int err = 0;

	for (size_t i = 0; !err && i < p->len; i++)
		if (p->v[i].old)
			err = remove_old(m, slot, &p->v[i]);
	for (size_t i = 0; !err && i < p->len; i++)
		if (p->v[i].new)
			err = put_new(m, slot, hwm, &p->v[i]);
	return err;
}

/* ---- the protocol ----------------------------------------------------- */

static int write_config(struct sl_maps *m, const struct sl_config *cfg)
{
	__u32 zero = 0;

	return sl_map_put(m->fd[SL_MAP_CONFIG], &zero, cfg, BPF_ANY);
}

bool sl_slots_synced(const struct sl_config *cfg)
{
	return cfg->synced_gen == cfg->generation;
}

/* Step 3, in two config writes: the slot, then the generation. Readers
 * load the generation, then the slot, and the generation again once they
 * have read rows (bpf/lib/common.h, sl_view): a reader that finds it
 * unchanged read a slot that no write below had started on, since the
 * replay into the slot that was live comes after the second write. One
 * write could reach a reader as a new generation beside the old slot.
 * A kill between the two leaves the new policy live under the old
 * generation, with the slots marked unsynced (step 1): the next apply
 * repairs the other slot and moves the generation on. */
static int switch_slots(struct sl_maps *m, struct sl_config *cfg)
{
	int err;

	cfg->active_slot = !cfg->active_slot;
	cfg->applied_ns = sl_now_real_ns();
	err = write_config(m, cfg);
	if (err)
		return err;
	cfg->generation++;
	return write_config(m, cfg);
}

/* Step 1: from here on a crash must leave the inactive slot marked. */
static int mark_unsynced(struct sl_maps *m, struct sl_config *cfg)
{
	if (!sl_slots_synced(cfg))
		return 0;
	cfg->synced_gen = cfg->generation - 1;
	return write_config(m, cfg);
}

/* Write SLOT: incrementally when *INCR (falling back to a whole rewrite
 * when the slot runs out of backend rows, or -EAGAIN when NEW is partial),
 * else whole. */
static int write_slot(struct sl_maps *m, struct sl_config *cfg, __u32 slot, struct plan *p,
		      const struct sl_pub *pub, bool *incr)
{
	const struct sl_tables *new = pub->new;
	int err = -ENOSPC;

	if (*incr) {
		struct hwm hwm = { cfg->backend_hwm[slot], cfg->svc_hwm[slot] };

		err = diff_slot(m, slot, &hwm, p);
		if (!err) {
			cfg->backend_hwm[slot] = hwm.rows;
			cfg->svc_hwm[slot] = hwm.svcs;
		}
	}
	if (err == -ENOSPC && pub->partial)
		return -EAGAIN; /* compacting needs every service */
	if (err == -ENOSPC) {
		/* Out of rows (or not incremental): compact by rewriting. */
		*incr = false;
		err = full_slot(m, slot, new, &p->ids);
		if (!err)
			set_hwm(cfg, slot, new);
	}
	return err;
}

static void reap(struct sl_maps *m, const struct plan *p, const struct sl_tables *new, bool incr,
		 size_t *removed)
{
	if (!incr) {
		sl_state_reap_all(m, new, removed);
		return;
	}
	for (size_t i = 0; i < p->len; i++)
		if (p->v[i].old)
			sl_state_reap_svc(m, p->v[i].old->t, p->v[i].old->i, new,
					  p->v[i].new ? (ssize_t)p->v[i].new->i : -1, removed);
}

/* A write that failed because a map was full becomes an error that names
 * the map (nothing live changed: this is before the switch). */
static int name_full_map(struct sl_maps *m, const struct sl_tables *old,
			 const struct sl_tables *new, int err, struct sl_diags *d)
{
	int fd = sl_mapio_failed_fd();

	if (err != -E2BIG && err != -ENOSPC)
		return err;
	/* Ids given to pairs of NEW are not owned by what stays live. */
	sl_state_undo(m, old);
	if (sl_publish_check(m, old, new, true, d))
		return -EINVAL;
	for (int i = 0; i < SL_MAP__COUNT; i++)
		if (m->fd[i] == fd)
			sl_diags_add(d, SL_SEV_ERROR, "<policy>", 0, sl_map_names[i],
				     "map full (%u entries) while writing the inactive slot",
				     sl_map_capacity(fd));
	return -EINVAL;
}

/* The node tables of a slot the service write just wrote: a difference
 * when the slot held OLD and the service write was incremental (then the
 * services it wrote are PLAN's new sides, in frontend order), else whole.
 * CHECK: only whether a difference can do (sl_publish_node_check). */
static int write_node(struct sl_maps *m, const struct plan *p, const struct sl_pub *pub,
		      bool incr, __u32 slot, __u32 active, struct sl_node_report *r, bool check)
{
	struct sl_node_change ch = {
		.old = incr ? pub->old : NULL, .new = pub->new, .partial = pub->partial,
		.np = !pub->partial || pub->np, .old_ports = pub->old_ports,
		.new_ports = pub->new_ports,
	};
	struct sl_l4addr *moved = calloc(p->len + 1, sizeof(*moved));
	int err;

	if (!moved)
		return -ENOMEM;
	for (size_t i = 0; i < p->len; i++)
		if (p->v[i].new)
			moved[ch.n_moved++] = p->v[i].new->t->svcs[p->v[i].new->i].fe;
	ch.moved = moved;
	err = check ? sl_publish_node_check(m, &ch, slot, active)
		    : sl_publish_node(m, &ch, slot, active, r);
	free(moved);
	return err;
}

/* Ids given to what a failed partial publication would have added:
 * nothing that stays live owns them, and the whole way that follows
 * counts free ids (sl_state_undo for a partial plan). */
static void unmake_state(struct sl_maps *m, const struct plan *p)
{
	for (size_t i = 0; i < p->len; i++)
		if (p->v[i].new)
			sl_state_undo_svc(m, p->v[i].new->t, p->v[i].new->i,
					  p->v[i].old ? p->v[i].old->t : NULL,
					  p->v[i].old ? (ssize_t)p->v[i].old->i : -1);
}

/* The names' part of the publication (names.h): a difference of the
 * services that changed when the maps hold OLD's names (the slots are
 * synced), else from what the maps hold to every name of NEW. */
static int plan_names(struct sl_maps *m, const struct sl_config *cfg, const struct sl_pub *pub,
		      struct plan *p)
{
	struct sl_names_svc *o, *n;
	size_t no = 0, nn = 0;
	int err;

	if (!sl_slots_synced(cfg) || !pub->old)
		return pub->partial ? -EAGAIN
				    : sl_names_diff_all(m, pub->new, !cfg->active_slot, &p->names);
	o = calloc(p->len + 1, sizeof(*o));
	n = calloc(p->len + 1, sizeof(*n));
	err = o && n ? 0 : -ENOMEM;
	for (size_t i = 0; !err && i < p->len; i++) {
		if (p->v[i].old)
			o[no++] = (struct sl_names_svc){ p->v[i].old->t, p->v[i].old->i };
		if (p->v[i].new)
			n[nn++] = (struct sl_names_svc){ p->v[i].new->t, p->v[i].new->i };
	}
	if (!err)
		err = sl_names_diff(m, o, no, n, nn, true, !cfg->active_slot, &p->names);
	free(o);
	free(n);
	return err;
}

/* Steps 1-2 (see the top of the file). */
static int write_inactive(struct sl_maps *m, struct sl_config *cfg, struct plan *p,
			  const struct sl_pub *pub, bool *incr, struct sl_publish_report *r)
{
	__u32 slot = !cfg->active_slot;
	uint64_t t0 = sl_now_mono_ns();
	int err = mark_unsynced(m, cfg);

	if (!err)
		err = write_slot(m, cfg, slot, p, pub, incr);
	if (!err)
		err = write_node(m, p, pub, *incr, slot, cfg->active_slot, &r->node, false);
	if (!err)
		err = sl_names_before(m, &p->names);
	r->write_ms = sl_ms_since(t0);
	/* Neither a write nor a store write: the time an encoding still
	 * running beside the writes above takes to finish. */
	if (!err && pub->store_wait)
		err = pub->store_wait(pub->store_arg);
	t0 = sl_now_mono_ns();
	if (!err)
		err = sls_apply(m, slot, pub->store, cfg);
	r->store_ms = sl_ms_since(t0);
	if (!err && pub->root && !sl_sockops_linked(pub->root)) {
		err = sl_sockops_before_switch(pub->root, m, cfg, pub->new);
		r->sockops = !err && sl_sockops_linked(pub->root);
	}
	return err;
}

/* Steps 4-5. Failures here leave the new policy live and the other slot
 * marked unsynced, which the next apply repairs; so does a partial
 * publication that finds the other slot needs a whole write (-EAGAIN). */
static int sync_other(struct sl_maps *m, struct sl_config *cfg, struct plan *p,
		      const struct sl_pub *pub, bool incr, struct sl_publish_report *r)
{
	__u32 other = !cfg->active_slot;
	struct sl_node_report ignored;
	uint64_t t0 = sl_now_mono_ns();
	int err = write_slot(m, cfg, other, p, pub, &incr);

	if (!err)
		err = write_node(m, p, pub, incr, other, cfg->active_slot, &ignored, false);
	if (!err)
		err = sls_apply(m, other, pub->store, &(struct sl_config){ 0 });
	if (!err)
		err = sl_names_after(m, &p->names);
	if (!err) {
		reap(m, p, pub->new, incr, &r->stale_removed);
		cfg->synced_gen = cfg->generation;
		err = write_config(m, cfg);
	}
	r->sync_ms = sl_ms_since(t0);
	return err;
}

/* Step 6: a detach that fails leaves sockops attached, which costs time
 * and nothing else; sl_sockops_reconcile() (the next sweep of
 * sl_repair()), a whole publication or a load tries again. */
static void after_switch(struct sl_maps *m, const struct sl_config *cfg, const struct sl_pub *pub,
			 struct sl_publish_report *r)
{
	int err;

	if (!pub->root || !sl_sockops_linked(pub->root))
		return;
	err = sl_sockops_after_switch(pub->root, m, cfg, pub->old, pub->new, pub->partial,
				      &r->sockops_late);
	if (err)
		pr_warn("sluice: sockops stays attached: %s\n", strerror(-err));
	else if (!sl_sockops_linked(pub->root))
		r->sockops = -1;
}

int sl_publish(struct sl_maps *m, const struct sl_pub *pub, struct sl_diags *d,
	       struct sl_publish_report *r)
{
	const struct sl_tables *old = pub->old, *new = pub->new;
	struct sl_tables empty = { 0 };
	struct sl_config cfg;
	struct plan p = { 0 };
	uint64_t t0;
	bool incr;
	int err;

	memset(r, 0, sizeof(*r));
	sl_mapio_begin();
	err = sl_read_config(m, &cfg);
	if (!err)
		err = plan_diff(old ? old : &empty, new, &p);
	if (err)
		goto out;
	r->changed = p.len;
	/* Incremental only when the inactive slot is known to hold what is
	 * live, and the change is small (batch writes of everything are
	 * faster than many single updates). A partial publication is
	 * incremental or nothing: it does not have every service. */
	incr = sl_slots_synced(&cfg) && old && (pub->partial || p.len * 4 <= new->n_svcs + 16);
	/* A partial publication that cannot be written as a difference is
	 * turned down before anything is written, so that the whole one still
	 * finds the slots in sync. */
	if (pub->partial && (!incr || write_node(m, &p, pub, true, !cfg.active_slot,
						  cfg.active_slot, NULL, true))) {
		err = -EAGAIN;
		goto out;
	}
	/* A partial publication cannot count every map from tables; the
	 * compiler checked the limits, and a map that is full anyway fails
	 * a write before the switch (-EAGAIN, then the whole way names it). */
	if (!pub->partial && sl_publish_check(m, old, new, !incr, d)) {
		err = -EINVAL;
		goto out;
	}
	err = plan_names(m, &cfg, pub, &p);
	if (err)
		goto out;
	err = write_inactive(m, &cfg, &p, pub, &incr, r);
	r->node.np_changed = (!pub->partial || pub->np) && !sl_np_same(old, new);
	if (err)
		sl_names_undo(m, &p.names);
	if (err && pub->partial) {
		unmake_state(m, &p);
		err = err == -EAGAIN || err == -E2BIG || err == -ENOSPC ? -EAGAIN : err;
	}
	else if (err)
		err = name_full_map(m, old, new, err, d);
	if (err)
		goto out;
	t0 = sl_now_mono_ns();
	err = switch_slots(m, &cfg);
	if (err) {
		struct sl_config now;

		/* Only while the old policy is still the live one (the
		 * switch's first write is the one that makes NEW live). */
		if (!sl_read_config(m, &now) && now.active_slot != cfg.active_slot)
			sl_names_undo(m, &p.names);
		goto out;
	}
	r->flip_ms = sl_ms_since(t0);
	r->generation = cfg.generation;
	r->slot = cfg.active_slot;
	r->incremental = incr;
	r->n_services = new->n_svcs;
	r->n_backends = new->n_backends;
	r->store_bytes = cfg.store_bytes;
	r->store_raw_bytes = cfg.store_raw_bytes;
	err = sync_other(m, &cfg, &p, pub, incr, r);
	r->writes = sl_mapio_writes();
	if (err == -EAGAIN || (pub->partial && (err == -E2BIG || err == -ENOSPC))) {
		r->replay_deferred = true; /* live; the other slot waits for a repair */
		err = 0;
	}
	if (!err)
		after_switch(m, &cfg, pub, r);
out:
	plan_free(&p);
	return err;
}

/* ---- repair ----------------------------------------------------------- */

static int repair_slot(struct sl_maps *m, struct sl_config *cfg, const struct sl_tables *t)
{
	__u32 other = !cfg->active_slot;
	struct sl_node_report ignored;
	struct sl_names_change names;
	int err = full_slot(m, other, t, NULL);

	/* The names of what is live, whatever the interrupted apply left. */
	if (!err)
		err = sl_names_diff_all(m, t, other, &names);
	if (!err) {
		err = sl_names_before(m, &names);
		if (!err)
			err = sl_names_after(m, &names);
		sl_names_change_free(&names);
	}

	if (!err)
		err = sl_publish_node(m, &(struct sl_node_change){ .new = t, .np = true }, other,
				      cfg->active_slot, &ignored);
	if (!err)
		err = sl_store_copy_slot(m, cfg->active_slot, other);
	if (!err)
		err = sl_state_reap_all(m, t, &(size_t){ 0 });
	if (!err) {
		set_hwm(cfg, other, t);
		cfg->synced_gen = cfg->generation;
		err = write_config(m, cfg);
	}
	return err;
}

int sl_publish_repair(struct sl_maps *m, bool sweep)
{
	struct sl_policy *p = NULL;
	struct sl_tables t = { 0 };
	struct sl_config cfg;
	int err = sl_read_config(m, &cfg);

	if (!err && sl_slots_synced(&cfg)) {
		struct sl_state_maps sm;

		/* Nothing to repair; ids that finished retiring are freed
		 * here too (status, the agent's tick every few seconds). */
		sl_state_maps_of(m, &sm);
		if (sweep)
			sl_stateid_sweep_due(&sm);
		return 0;
	}
	if (err)
		return err;
	sl_mapio_begin();
	err = sl_store_compile(m, &cfg, &p, &t, NULL, NULL);
	if (!err)
		err = repair_slot(m, &cfg, &t);
	if (!err)
		pr_info("sluice: repaired slot %u: an apply was interrupted before generation %u "
			"was synced\n", !cfg.active_slot, cfg.generation);
	sl_tables_free(&t);
	sl_policy_free(p);
	return err ? err : 1;
}
