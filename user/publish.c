// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <bpf/bpf.h>

#include "publish.h"
#include "stateid.h"
#include "util.h"

int sl_read_config(struct sl_maps *m, struct sl_config *cfg)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(m->fd[SL_MAP_CONFIG], &zero, cfg))
		return -errno;
	if (cfg->magic != SL_ABI_MAGIC || cfg->abi_version != SL_ABI_VERSION)
		return -EPROTO;
	return 0;
}

void sl_node_compile_opts(const struct sl_config *cfg, struct sl_compile_opts *o)
{
	sl_compile_opts_default(o);
	if (cfg->svc_cidr4_len) {
		o->svc_cidr4 = cfg->svc_cidr4;
		o->svc_cidr4_len = cfg->svc_cidr4_len;
	}
}

/* Every key of a map, collected first so that deleting some of them
 * afterwards never makes get_next_key restart. malloc'd; NULL on ENOMEM. */
void *sl_map_keys(int fd, size_t key_size, size_t *n)
{
	size_t cap = 1024;
	char *keys = malloc(cap * key_size), *prev = NULL;

	*n = 0;
	while (keys) {
		if (*n == cap) {
			char *nk = realloc(keys, 2 * cap * key_size);

			if (!nk) {
				free(keys);
				return NULL;
			}
			keys = nk;
			cap *= 2;
		}
		prev = *n ? keys + (*n - 1) * key_size : NULL;
		if (bpf_map_get_next_key(fd, prev, keys + *n * key_size))
			break;
		(*n)++;
	}
	return keys;
}

int sl_clear_where(int fd, size_t key_size, bool (*match)(const void *key, const void *ctx),
		   const void *ctx)
{
	size_t n;
	char *keys = sl_map_keys(fd, key_size, &n);
	int err = keys ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < n; i++) {
		char *k = keys + i * key_size;

		if (match(k, ctx) && bpf_map_delete_elem(fd, k) && errno != ENOENT)
			err = -errno;
	}
	free(keys);
	return err;
}

struct slot_field {
	size_t off; /* of the key's __u32 slot field */
	__u32 slot;
};

static bool slot_is(const void *key, const void *ctx)
{
	const struct slot_field *f = ctx;
	__u32 s;

	memcpy(&s, (const char *)key + f->off, sizeof(s));
	return s == f->slot;
}

/* Delete every key of a hash map whose slot field (a __u32 at SLOT_OFF)
 * equals SLOT. */
int sl_clear_slot(int fd, size_t key_size, size_t slot_off, __u32 slot)
{
	struct slot_field f = { slot_off, slot };

	return sl_clear_where(fd, key_size, slot_is, &f);
}

/* Batch update with a per-element fallback (batch ops need 5.6+). */
int sl_put_many(int fd, const void *keys, const void *vals, size_t n,
		size_t ksz, size_t vsz)
{
	__u32 count = (__u32)n;
	const char *k = keys, *v = vals;

	if (!n)
		return 0;
	if (!bpf_map_update_batch(fd, keys, vals, &count, NULL))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, k + i * ksz, v + i * vsz, BPF_ANY))
			return -errno;
	return 0;
}

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
	struct sl_svc_key *keys = calloc(n ? n : 1, sizeof(*keys));
	struct sl_svc_val *vals = calloc(n ? n : 1, sizeof(*vals));
	struct sl_meta_key *mkeys = calloc(n ? n : 1, sizeof(*mkeys));
	struct sl_svc_meta *metas = calloc(n ? n : 1, sizeof(*metas));
	int err = -ENOMEM;

	if (keys && vals && mkeys && metas) {
		for (size_t i = 0; i < n; i++) {
			keys[i].fe = t->svcs[i].fe;
			keys[i].slot = slot;
			vals[i] = t->svcs[i].val;
			for (unsigned g = 0; g < SL_MAX_GROUPS; g++)
				vals[i].groups[g].state = ids->groups[i * SL_MAX_GROUPS + g];
			mkeys[i].fe = t->svcs[i].fe;
			mkeys[i].slot = slot;
			metas[i] = t->svcs[i].meta;
		}
		err = sl_put_many(m->fd[SL_MAP_SVC_META], mkeys, metas, n, sizeof(*mkeys),
			       sizeof(*metas));
		/* Services last: nothing reads this slot yet, but keep the
		 * order a reader would need anyway. */
		if (!err)
			err = sl_put_many(m->fd[SL_MAP_SERVICES], keys, vals, n,
				       sizeof(*keys), sizeof(*vals));
	}
	free(keys);
	free(vals);
	free(mkeys);
	free(metas);
	return err;
}

static int write_ep_meta(struct sl_maps *m, const struct sl_tables *t, __u32 slot)
{
	size_t n = t->n_backends;
	struct sl_meta_key *keys = calloc(n ? n : 1, sizeof(*keys));
	struct sl_ep_meta *vals = calloc(n ? n : 1, sizeof(*vals));
	int err = -ENOMEM;

	if (keys && vals) {
		for (size_t i = 0; i < n; i++) {
			keys[i].fe = t->svcs[t->backends[i].svc].fe;
			keys[i].ep = t->backends[i].be.ep;
			keys[i].slot = slot;
			vals[i] = t->backends[i].meta;
		}
		/* The same endpoint can sit in two groups of a service: the
		 * first row's metadata wins, which a batch update also gives. */
		err = sl_put_many(m->fd[SL_MAP_EP_META], keys, vals, n, sizeof(*keys),
			       sizeof(*vals));
	}
	free(keys);
	free(vals);
	return err;
}

static int write_store(struct sl_maps *m, const char *src, size_t len, __u32 slot,
		       struct sl_config *cfg)
{
	uLongf clen = compressBound(len);
	Bytef *buf = malloc(clen ? clen : 1);
	struct sl_store_val *val = malloc(sizeof(*val));
	int err = 0;
	__u32 chunks;

	if (!buf || !val) {
		err = -ENOMEM;
		goto out;
	}
	if (compress2(buf, &clen, (const Bytef *)src, len, Z_BEST_SPEED) != Z_OK) {
		err = -EIO;
		goto out;
	}
	chunks = (__u32)((clen + SL_STORE_CHUNK - 1) / SL_STORE_CHUNK);
	if (chunks > SL_MAX_STORE_CHUNKS / 2) {
		pr_warn("sluice: compressed policy is %lu bytes; the store holds %u\n",
			(unsigned long)clen, SL_MAX_STORE_CHUNKS / 2 * SL_STORE_CHUNK);
		err = -E2BIG;
		goto out;
	}
	for (__u32 i = 0; i < chunks; i++) {
		struct sl_store_key k = { .slot = slot, .chunk = i };
		size_t off = (size_t)i * SL_STORE_CHUNK;
		size_t n = clen - off < SL_STORE_CHUNK ? clen - off : SL_STORE_CHUNK;

		memset(val, 0, sizeof(*val));
		memcpy(val->data, buf + off, n);
		if (bpf_map_update_elem(m->fd[SL_MAP_STORE], &k, val, BPF_ANY)) {
			err = -errno;
			goto out;
		}
	}
	cfg->store_chunks = chunks;
	cfg->store_bytes = (__u32)clen;
	cfg->store_raw_bytes = (__u32)len;
out:
	free(buf);
	free(val);
	return err;
}

int sl_read_store(struct sl_maps *m, char **src, size_t *len, struct sl_config *cfg)
{
	struct sl_store_val *val = NULL;
	Bytef *cbuf = NULL;
	char *out = NULL;
	uLongf rlen;
	int err;

	err = sl_read_config(m, cfg);
	if (err)
		return err;
	out = malloc((size_t)cfg->store_raw_bytes + 1);
	cbuf = malloc((size_t)cfg->store_chunks * SL_STORE_CHUNK + 1);
	val = malloc(sizeof(*val));
	if (!out || !cbuf || !val) {
		err = -ENOMEM;
		goto fail;
	}
	for (__u32 i = 0; i < cfg->store_chunks; i++) {
		struct sl_store_key k = { .slot = cfg->active_slot, .chunk = i };

		if (bpf_map_lookup_elem(m->fd[SL_MAP_STORE], &k, val)) {
			err = -errno;
			goto fail;
		}
		memcpy(cbuf + (size_t)i * SL_STORE_CHUNK, val->data, SL_STORE_CHUNK);
	}
	rlen = cfg->store_raw_bytes;
	if (cfg->store_chunks &&
	    (uncompress((Bytef *)out, &rlen, cbuf, cfg->store_bytes) != Z_OK ||
	     rlen != cfg->store_raw_bytes)) {
		err = -EBADMSG;
		goto fail;
	}
	out[cfg->store_chunks ? rlen : 0] = 0;
	*src = out;
	*len = cfg->store_chunks ? rlen : 0;
	free(cbuf);
	free(val);
	return 0;
fail:
	free(out);
	free(cbuf);
	free(val);
	return err;
}

/* ---- incremental publishing ------------------------------------------ */

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

enum diff_op { D_PUT, D_DEL };

struct diff {
	enum diff_op op;
	const struct svc_ref *old; /* NULL for a new service */
	const struct svc_ref *new; /* NULL for a removed one */
};

struct plan {
	struct svc_ref *o, *n;
	struct diff *v;
	size_t len;
};

static void plan_free(struct plan *p)
{
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
			p->v[p->len++] = (struct diff){ D_DEL, &p->o[i++], NULL };
		else if (c > 0)
			p->v[p->len++] = (struct diff){ D_PUT, NULL, &p->n[j++] };
		else {
			if (!svc_same(&p->o[i], &p->n[j]))
				p->v[p->len++] = (struct diff){ D_PUT, &p->o[i], &p->n[j] };
			i++;
			j++;
		}
	}
	return 0;
}

static bool row_in(const struct svc_ref *r, const struct sl_l4addr *ep)
{
	const struct sl_svc_val *v = &r->t->svcs[r->i].val;

	for (unsigned g = 0; g < v->n_groups; g++)
		for (__u32 k = 0; k < v->groups[g].count; k++)
			if (!memcmp(&r->t->backends[v->groups[g].first + k].be.ep, ep, sizeof(*ep)))
				return true;
	return false;
}

static bool group_in(const struct svc_ref *r, __u32 tag)
{
	const struct sl_svc_val *v = &r->t->svcs[r->i].val;

	for (unsigned g = 0; g < v->n_groups; g++)
		if (v->groups[g].tag == tag)
			return true;
	return false;
}

/* Drop the slot's metadata of endpoints of OLD that NEW (NULL: the service
 * is gone) no longer has; once (REAP, after the switch) their state ids
 * and those of groups NEW lost start retiring (user/stateid.c). */
static void drop_rows(struct sl_maps *m, __u32 slot, const struct svc_ref *old,
		      const struct svc_ref *new, bool reap, size_t *reaped)
{
	const struct sl_svc_val *v = &old->t->svcs[old->i].val;
	const struct sl_l4addr *fe = &old->t->svcs[old->i].fe;
	struct sl_state_maps sm;

	sl_state_maps_of(m, &sm);
	for (unsigned g = 0; g < v->n_groups; g++) {
		if (reap && !(new && group_in(new, v->groups[g].tag)))
			sl_stateid_retire_group(&sm, fe, v->groups[g].tag);
		for (__u32 k = 0; k < v->groups[g].count; k++) {
			const struct sl_backend *be = &old->t->backends[v->groups[g].first + k].be;
			struct sl_meta_key mk;

			if (new && row_in(new, &be->ep))
				continue;
			memset(&mk, 0, sizeof(mk));
			mk.fe = *fe;
			mk.ep = be->ep;
			mk.slot = slot;
			bpf_map_delete_elem(m->fd[SL_MAP_EP_META], &mk);
			if (!reap)
				continue;
			sl_stateid_retire_ep(&sm, fe, &be->ep);
			(*reaped)++;
		}
	}
}

static int put_rows(struct sl_maps *m, __u32 slot, const struct svc_ref *r, struct sl_svc_val *v,
		    const struct sl_svc_val *phys, __u32 *hwm)
{
	const struct sl_tables *t = r->t;
	struct sl_state_maps sm;
	int err;

	sl_state_maps_of(m, &sm);

	for (unsigned g = 0; g < v->n_groups; g++) {
		__u32 cnt = v->groups[g].count, src = v->groups[g].first, first;

		if (phys && g < phys->n_groups && cnt <= phys->groups[g].count) {
			first = phys->groups[g].first;
		} else {
			if (*hwm + cnt > SL_MAX_BACKENDS)
				return -ENOSPC;
			first = *hwm;
			*hwm += cnt;
		}
		err = sl_stateid_group(&sm, &t->svcs[r->i].fe, v->groups[g].tag, &v->groups[g].state);
		if (err)
			return err;
		for (__u32 k = 0; k < cnt; k++) {
			__u32 key = slot * SL_MAX_BACKENDS + first + k;
			const struct sl_table_backend *b = &t->backends[src + k];
			struct sl_backend row = b->be;
			struct sl_meta_key mk;

			err = sl_stateid_ep(&sm, &t->svcs[r->i].fe, &row.ep, &row.state);
			if (err)
				return err;
			if (bpf_map_update_elem(m->fd[SL_MAP_BACKENDS], &key, &row, BPF_ANY))
				return -errno;
			memset(&mk, 0, sizeof(mk));
			mk.fe = t->svcs[r->i].fe;
			mk.ep = b->be.ep;
			mk.slot = slot;
			if (bpf_map_update_elem(m->fd[SL_MAP_EP_META], &mk, &b->meta, BPF_ANY))
				return -errno;
		}
		v->groups[g].first = first;
	}
	return 0;
}

static int apply_put(struct sl_maps *m, __u32 slot, __u32 *hwm, const struct diff *d)
{
	const struct sl_table_svc *s = &d->new->t->svcs[d->new->i];
	struct sl_svc_val v = s->val, phys, *pp = NULL;
	struct sl_svc_key k;
	struct sl_meta_key mk;
	int err;

	memset(&k, 0, sizeof(k));
	k.fe = s->fe;
	k.slot = slot;
	if (d->old && !bpf_map_lookup_elem(m->fd[SL_MAP_SERVICES], &k, &phys))
		pp = &phys;
	/* Rows first, the service entry last: in the inactive slot order does
	 * not matter for readers, but it keeps a half-done write harmless. */
	err = put_rows(m, slot, d->new, &v, pp, hwm);
	if (err)
		return err;
	memset(&mk, 0, sizeof(mk));
	mk.fe = s->fe;
	mk.slot = slot;
	if (bpf_map_update_elem(m->fd[SL_MAP_SVC_META], &mk, &s->meta, BPF_ANY) ||
	    bpf_map_update_elem(m->fd[SL_MAP_SERVICES], &k, &v, BPF_ANY))
		return -errno;
	return 0;
}

static int apply_del(struct sl_maps *m, __u32 slot, const struct diff *d)
{
	const struct sl_table_svc *s = &d->old->t->svcs[d->old->i];
	struct sl_svc_key k;
	struct sl_meta_key mk;

	memset(&k, 0, sizeof(k));
	k.fe = s->fe;
	k.slot = slot;
	memset(&mk, 0, sizeof(mk));
	mk.fe = s->fe;
	mk.slot = slot;
	if ((bpf_map_delete_elem(m->fd[SL_MAP_SERVICES], &k) && errno != ENOENT) ||
	    (bpf_map_delete_elem(m->fd[SL_MAP_SVC_META], &mk) && errno != ENOENT))
		return -errno;
	return 0;
}

/* Replay PLAN on SLOT. REAP: also forget idle state of removed endpoints
 * (done once, on the second replay, after the switch). */
static int diff_slot(struct sl_maps *m, __u32 slot, __u32 *hwm, const struct plan *p, bool reap,
		     size_t *reaped)
{
	int err = 0;

	for (size_t i = 0; !err && i < p->len; i++) {
		const struct diff *d = &p->v[i];

		if (d->op == D_DEL) {
			err = apply_del(m, slot, d);
			drop_rows(m, slot, d->old, NULL, reap, reaped);
			continue;
		}
		err = apply_put(m, slot, hwm, d);
		if (!err && d->old)
			drop_rows(m, slot, d->old, d->new, reap, reaped);
	}
	return err;
}

/* ---- whole-slot publishing ------------------------------------------- */

static int full_slot(struct sl_maps *m, __u32 slot, const struct sl_tables *t)
{
	struct sl_state_ids ids = { 0 };
	struct sl_state_maps sm;
	int err;

	sl_state_maps_of(m, &sm);
	err = sl_stateid_assign_all(&sm, t, &ids);
	if (err)
		return err;
	err = sl_clear_slot(m->fd[SL_MAP_SERVICES], sizeof(struct sl_svc_key),
			 offsetof(struct sl_svc_key, slot), slot);
	if (!err)
		err = sl_clear_slot(m->fd[SL_MAP_SVC_META], sizeof(struct sl_meta_key),
				 offsetof(struct sl_meta_key, slot), slot);
	if (!err)
		err = sl_clear_slot(m->fd[SL_MAP_EP_META], sizeof(struct sl_meta_key),
				 offsetof(struct sl_meta_key, slot), slot);
	if (!err)
		err = write_backends(m, t, slot, &ids);
	if (!err)
		err = write_ep_meta(m, t, slot);
	if (!err)
		err = write_services(m, t, slot, &ids);
	sl_state_ids_free(&ids);
	return err;
}

static int write_config(struct sl_maps *m, const struct sl_config *cfg)
{
	__u32 zero = 0;

	return bpf_map_update_elem(m->fd[SL_MAP_CONFIG], &zero, cfg, BPF_ANY) ? -errno : 0;
}

static int clear_store_slot(struct sl_maps *m, __u32 slot)
{
	return sl_clear_slot(m->fd[SL_MAP_STORE], sizeof(struct sl_store_key),
			  offsetof(struct sl_store_key, slot), slot);
}

/* Write one slot: incrementally when possible, else whole. */
static int write_slot(struct sl_maps *m, struct sl_config *cfg, __u32 slot, const struct plan *p,
		      const struct sl_tables *new, bool *incremental, bool second, size_t *reaped)
{
	int err = -ENOSPC;

	if (*incremental) {
		__u32 hwm = cfg->backend_hwm[slot];

		err = diff_slot(m, slot, &hwm, p, second, reaped);
		if (!err)
			cfg->backend_hwm[slot] = hwm;
	}
	if (err == -ENOSPC) {
		/* Out of rows (or not incremental): compact by rewriting. */
		if (*incremental && !second)
			*incremental = false;
		err = full_slot(m, slot, new);
		if (!err)
			cfg->backend_hwm[slot] = (__u32)new->n_backends;
	}
	return err;
}

int sl_publish(struct sl_maps *m, const struct sl_tables *old, const struct sl_tables *new,
	       const char *src, size_t src_len, struct sl_publish_report *r)
{
	struct sl_tables empty = { 0 };
	struct sl_config cfg;
	struct plan p = { 0 };
	uint64_t t0;
	__u32 slot;
	bool incr;
	int err;

	memset(r, 0, sizeof(*r));
	err = sl_read_config(m, &cfg);
	if (err)
		return err;
	slot = cfg.active_slot ? 0 : 1;
	/* Incremental only when the inactive slot is known to hold what is
	 * live (the last apply finished its replay). */
	incr = cfg.synced_gen == cfg.generation;
	err = plan_diff(old ? old : &empty, new, &p);
	if (err)
		goto out;
	if (!old || p.len * 4 > new->n_svcs + 16)
		incr = false; /* a big change: batch writes of everything are faster */
	r->changed = p.len;

	t0 = sl_now_mono_ns();
	err = write_slot(m, &cfg, slot, &p, new, &incr, false, &r->stale_removed);
	if (!err)
		err = sl_publish_node(m, new, slot, cfg.active_slot, &r->node);
	r->node.np_changed = !sl_np_same(old, new);
	if (err)
		goto dirty;
	r->write_ms = sl_ms_since(t0);

	t0 = sl_now_mono_ns();
	err = clear_store_slot(m, slot);
	if (!err)
		err = write_store(m, src, src_len, slot, &cfg);
	if (err)
		goto dirty;
	r->store_ms = sl_ms_since(t0);

	t0 = sl_now_mono_ns();
	cfg.active_slot = slot;
	cfg.generation++;
	cfg.applied_ns = sl_now_real_ns();
	err = write_config(m, &cfg);
	if (err)
		goto out;
	r->flip_ms = sl_ms_since(t0);
	r->generation = cfg.generation;
	r->slot = slot;
	r->incremental = incr;

	/* Bring the now-inactive slot up to date so the next apply can be
	 * incremental too. A failure here leaves synced_gen behind, which
	 * only makes the next apply a whole-slot one. */
	t0 = sl_now_mono_ns();
	err = write_slot(m, &cfg, !slot, &p, new, &incr, true, &r->stale_removed);
	if (!err) {
		if (!incr) {
			struct sl_state_maps sm;

			sl_state_maps_of(m, &sm);
			r->stale_removed += sl_stateid_sweep(&sm, new);
		}
		cfg.synced_gen = cfg.generation;
		err = write_config(m, &cfg);
	}
	r->sync_ms = sl_ms_since(t0);
	r->n_services = new->n_svcs;
	r->n_backends = new->n_backends;
	r->store_bytes = cfg.store_bytes;
	r->store_raw_bytes = cfg.store_raw_bytes;
out:
	plan_free(&p);
	return err;
dirty:
	/* The inactive slot is half written: it no longer equals the live
	 * one, so the next apply must rewrite it whole. Nothing live changed. */
	if (!sl_read_config(m, &cfg) && cfg.synced_gen == cfg.generation) {
		cfg.synced_gen = cfg.generation - 1;
		write_config(m, &cfg);
	}
	goto out;
}
