// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * One apply (docs/APPLY.md): parse the inputs (no lock held, so a bad or
 * hostile file never makes other applies wait), then under the pin-root
 * lock:
 *
 *   incremental: read the summaries of the stored policy (store format
 *   2), apply the change to that model compiling only what it affects
 *   (sl_incr_compile), write the store's changed chunks and publish the
 *   changed services;
 *
 *   whole, when the incremental way declines (the slots are not in sync,
 *   the store is format 1, the change is large, the new policy has errors
 *   whose messages the whole compile words, a dry run...): compile the
 *   live policy again, merge, compile, check every limit from counts (the
 *   store size included), publish.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/file.h>

#include "apply.h"
#include "ct.h"
#include "sockops_link.h"
#include "storefmt.h"
#include "util.h"

/* The inputs as a set of their own: the objects to upsert, or (REMOVE)
 * the identities to drop. */
static int stage_sources(const struct sl_source *src, size_t n, enum sl_apply_mode mode,
			 struct sl_policy *in, struct sl_diags *d)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		int e = mode == SL_APPLY_REMOVE
				? sl_policy_load_names(in, src[i].name, src[i].text, src[i].len, d)
				: sl_policy_load(in, src[i].name, src[i].text, src[i].len, d);

		if (e)
			bad = -EINVAL;
	}
	return bad;
}

/* The policy to apply: IN on its own (REPLACE), or merged into / taken
 * from LIVE. Returns the set to compile (IN or LIVE). */
static struct sl_policy *combine(struct sl_policy *live, struct sl_policy *in,
				 const struct sl_policy *rm, enum sl_apply_mode mode,
				 struct sl_diags *d)
{
	switch (mode) {
	case SL_APPLY_REPLACE:
		return in;
	case SL_APPLY_REMOVE:
		sl_policy_subtract(live, in, d);
		return live;
	case SL_APPLY_CHANGE:
		sl_policy_merge(live, in);
		sl_policy_subtract(live, rm, d);
		return live;
	default:
		sl_policy_merge(live, in);
		return live;
	}
}

static int cmp_size_desc(const void *a, const void *b)
{
	const struct sl_object_info *x = a, *y = b;

	return (x->bytes < y->bytes) - (x->bytes > y->bytes);
}

/* The policy store's limit, named with the objects that weigh most. */
static void store_too_big(const struct sl_policy *p, const struct sls_write *w, struct sl_diags *d)
{
	struct sl_object_info *v = calloc(sl_policy_count(p) + 1, sizeof(*v));
	size_t n = 0;

	sl_diags_add(d, SL_SEV_ERROR, "<policy>", 0, "sl_store",
		     "the policy is %llu bytes of YAML and compresses to %llu bytes; one slot of "
		     "the policy store holds %zu bytes (32 MiB: SL_MAX_STORE_CHUNKS / 2 chunks "
		     "of SL_STORE_CHUNK bytes, with the summaries of its objects)%s",
		     (unsigned long long)w->raw_bytes, (unsigned long long)w->stored_bytes,
		     SL_STORE_SLOT_BYTES, w->raw_bytes > UINT32_MAX ? " and at most 4 GiB of YAML" : "");
	while (v && sl_policy_object(p, n, &v[n]))
		n++;
	if (v)
		qsort(v, n, sizeof(*v), cmp_size_desc);
	for (size_t i = 0; v && i < n && i < 3; i++)
		sl_diags_add(d, SL_SEV_NOTE, v[i].file, v[i].line, "",
			     "%s %s%s%s is %zu bytes of YAML (%s largest object)", v[i].kind,
			     v[i].ns, *v[i].ns ? "/" : "", v[i].name, v[i].bytes,
			     i == 0 ? "the" : i == 1 ? "2nd" : "3rd");
	free(v);
}

struct applying {
	uint64_t t0;
	const char *root;
	struct sl_maps m;
	struct sl_config cfg;
	struct sl_compile_opts o;
	struct sl_policy *live, *in, *rm, *p; /* RM: CHANGE's identities to remove */
	struct sl_keep *keep; /* the agent's, or NULL */
	struct sl_tables old, t;
	struct sl_model *model;
	struct sls_write store;
};

static void applying_free(struct applying *a)
{
	sl_maps_close(&a->m);
	sl_tables_free(&a->t);
	sl_tables_free(&a->old);
	sl_policy_free(a->live); /* a->p is one of these two */
	sl_policy_free(a->in);
	sl_policy_free(a->rm);
	sl_model_free(a->model);
	sls_write_free(&a->store);
}

static void counts_of(const struct sl_tables *t, uint32_t c[3])
{
	c[0] = (uint32_t)t->n_svcs;
	c[1] = (uint32_t)t->n_backends;
	c[2] = (uint32_t)t->n_ingress;
}

/* ---- what an agent keeps ------------------------------------------------- */

/* What an agent keeps between its applies (sl_keep_new): the model of
 * the stored policy and the view of the store it was read from, both as
 * of generation GEN. The CLI makes one per apply. */
struct sl_keep {
	struct sls_view v;
	struct sl_model *model;
	uint32_t gen; /* 0: nothing kept */
	/* NP_OK: NP holds generation GEN's NetworkPolicy tables, so that a
	 * change to them compiles only the new state's (about half of a Pod
	 * change's time under NetworkPolicy). */
	struct sl_tables np;
	bool np_ok;
};

struct sl_keep *sl_keep_new(void)
{
	return calloc(1, sizeof(struct sl_keep));
}

static void keep_drop(struct sl_keep *k)
{
	sl_tables_free(&k->np);
	sl_model_free(k->model);
	sls_close(&k->v);
	memset(k, 0, sizeof(*k));
}

void sl_keep_free(struct sl_keep *k)
{
	if (k)
		keep_drop(k);
	free(k);
}

/* After a whole apply: the agent keeps the model it made and a view of
 * the store it wrote, so that its next apply reads neither. */
static void keep_whole(struct applying *a, struct sl_apply_result *r)
{
	struct sl_keep *k = a->keep;

	keep_drop(k);
	k->v.m = &a->m; /* not used after the apply: views read only through it */
	if (sls_view_follow(&k->v, &a->store)) {
		keep_drop(k);
		return;
	}
	k->v.m = NULL;
	k->model = a->model;
	a->model = NULL;
	sl_model_clean(k->model);
	sl_tables_np_copy(&k->np, &a->t);
	k->np_ok = true;
	k->gen = r->pub.generation;
}

/* ---- whole ------------------------------------------------------------- */

/* Compile P and check that it fits: the compiler's limits, then the store,
 * then (dry run: everything the publisher would check) the maps. */
/* The compile and the model's objects (which need no tables) at once. */
struct compile_job {
	struct applying *a;
	struct sl_diags *d;
	int err;
	bool model; /* this half builds the model's objects */
};

static void compile_half(void *arg)
{
	struct compile_job *j = arg;
	struct applying *a = j->a;

	if (j->model)
		j->err = sl_model_add_objects(a->model, a->p);
	else
		j->err = sl_policy_compile(a->p, &a->o, &a->t, j->d) ? -EINVAL : 0;
}

static int compile_and_model(struct applying *a, struct sl_diags *d)
{
	struct compile_job c = { .a = a, .d = d }, m = { .a = a, .model = true };

	sl_model_free(a->model);
	a->model = sl_model_new(&a->o);
	if (!a->model)
		return sl_policy_compile(a->p, &a->o, &a->t, d) ? -EINVAL : -ENOMEM;
	sl_par2(compile_half, &c, &m);
	if (c.err)
		return c.err;
	if (m.err)
		return m.err;
	sl_model_add_outputs(a->model, &a->t);
	return 0;
}

/* The store of a whole apply, encoded on a second thread while the
 * publication assigns state ids and writes the slot, when it fits the
 * slot whatever zlib makes of it: then no store can be too big, and the
 * publication waits for it only before writing it (docs/APPLY.md). */
struct store_job {
	struct applying *a;
	uint32_t counts[3];
	int err;
	struct sl_par_task task;
};

static void encode_store(void *arg)
{
	struct store_job *j = arg;

	j->err = sls_whole(j->a->model, j->counts, &j->a->store);
	if (!j->err && !sls_fits(&j->a->store))
		j->err = -ENOSPC; /* the bound says it cannot happen */
}

static int store_wait(void *arg)
{
	struct store_job *j = arg;

	sl_par_join(&j->task);
	return j->err;
}

static int compile_and_check(struct applying *a, bool dry_run, struct store_job *sj,
			     struct sl_diags *d)
{
	uint32_t *counts = sj->counts;
	int err = compile_and_model(a, d);

	if (err == -EINVAL)
		return err;
	counts_of(&a->t, counts);
	if (!err && !dry_run && sls_whole_surely_fits(a->model)) {
		sj->a = a;
		sl_par_start(&sj->task, encode_store, sj);
		return 0;
	}
	if (!err)
		err = sls_whole(a->model, counts, &a->store);
	if (!err && !sls_fits(&a->store)) {
		store_too_big(a->p, &a->store, d);
		err = -EINVAL;
	}
	if (!err && dry_run && sl_publish_check(&a->m, &a->old, &a->t, true, d))
		err = -EINVAL;
	return err;
}

/* Did the live policy compile under the node's options as they are now?
 * Its store says under which (a hash). A reload with another --svc-cidr
 * changes them without an apply; the stored policy compiled now then
 * differs from what the slot holds (VIPs allocated from the old range), so
 * it cannot be the old side of a difference: the slot is written whole.
 * An empty store: nothing to differ from; a store that does not say
 * (format 1): not known, so whole. */
static bool live_opts_same(struct applying *a)
{
	struct sls_view v;
	bool same = !sls_open(&a->m, a->cfg.active_slot, &v) &&
		    (v.empty || (v.v2 && v.dir.h.opts_hash == sls_opts_hash(&a->o)));

	sls_close(&v);
	return same;
}

static int apply_whole(struct applying *a, enum sl_apply_mode mode, bool dry_run,
		       struct sl_diags *d, struct sl_apply_result *r)
{
	struct sl_config cfg;
	struct store_job sj = { 0 };
	int err = sl_store_compile(&a->m, &cfg, &a->live, &a->old, NULL, NULL);

	if (err)
		return err;
	a->p = combine(a->live, a->in, a->rm, mode, d);
	err = compile_and_check(a, dry_run, &sj, d);
	r->compile_ms = sl_ms_since(a->t0);
	r->n_objects = sl_policy_count(a->p);
	r->n_services = a->t.n_svcs;
	r->n_backends = a->t.n_backends;
	if (err || dry_run)
		return err;
	err = sl_publish(&a->m,
			 &(struct sl_pub){ .old = live_opts_same(a) ? &a->old : NULL,
					   .new = &a->t,
					   .root = a->root,
					   .store = &a->store,
					   .store_wait = sj.task.pending ? store_wait : NULL,
					   .store_arg = &sj },
			 d, &r->pub);
	sl_par_join(&sj.task);
	if (!err && a->keep)
		keep_whole(a, r);
	return err;
}

/* ---- incremental --------------------------------------------------------- */

/* The node-ingress port bitmap of the model's whole policy (a pass over
 * the summaries only where some unit has node-ingress frontends); the
 * number of its units. */
static size_t model_ports(struct sl_model *m, __u64 w[2 * SL_FE_PORT_WORDS])
{
	size_t n = sl_model_has_ingress(m) ? sl_model_slots(m) : 0;

	memset(w, 0, 2 * SL_FE_PORT_WORDS * sizeof(*w));
	for (size_t i = 0; i < n; i++) {
		const struct sl_osum *s = sl_model_sum(m, i, NULL, NULL);

		for (uint32_t k = 0; s && k < s->n_ing; k++) {
			__u16 port = ntohs(s->ing[k].port);

			w[sl_fe_port_word(0, s->ing[k].proto, port)] |= 1ull << (port % 64);
		}
	}
	return sl_model_units(m);
}

struct incr {
	struct sl_keep *k; /* the caller's, or OWN */
	struct sl_keep own;
	struct sl_incr_out out;
	uint64_t t_read, t_compile, t_delta; /* for -v -v: where the time went */
	__u64 old_ports[2 * SL_FE_PORT_WORDS], new_ports[2 * SL_FE_PORT_WORDS];
};

/* The model of the stored policy: kept (the agent's, when it is of the
 * live generation) or read, when the store can serve an incremental
 * apply at all. -EAGAIN: it cannot. */
static int read_model(struct applying *a, struct incr *c, bool persist)
{
	struct sl_keep *k = c->k;
	int err;

	if (!sl_slots_synced(&a->cfg))
		return -EAGAIN;
	/* Kept, unless another writer applied since or the node's compile
	 * options changed (a reload of the data plane with other settings
	 * does not bump the generation). */
	if (k->gen && k->gen == a->cfg.generation && k->model &&
	    k->v.dir.h.opts_hash == sls_opts_hash(&a->o)) {
		/* Both slots hold the same store: the kept images serve the
		 * slot that is active now. */
		k->v.m = &a->m;
		k->v.slot = a->cfg.active_slot;
		return 0;
	}
	keep_drop(k);
	err = sls_open(&a->m, a->cfg.active_slot, &k->v);
	if (err) {
		pr_warn("sluice: the policy store's directory does not decode (%s); compiling the "
			"whole policy\n", strerror(-err));
		return -EAGAIN;
	}
	if (!k->v.v2 || k->v.dir.h.opts_hash != sls_opts_hash(&a->o))
		return -EAGAIN;
	k->model = sl_model_new(&a->o);
	if (!k->model)
		return -ENOMEM;
	err = sls_load_model(&k->v, k->model, !persist);
	if (err) {
		pr_warn("sluice: the policy store does not decode (%s); compiling the whole "
			"policy\n", strerror(-err));
		return -EAGAIN;
	}
	k->gen = a->cfg.generation;
	return 0;
}

/* The change, compiled incrementally: -EAGAIN when it declines. */
static int compile_change(struct applying *a, struct incr *c, enum sl_apply_mode mode,
			  struct sl_diags *d)
{
	struct sl_model *m = c->k->model;
	size_t n = sl_model_count(m);
	struct sl_incr_in in = {
		.upserts = mode == SL_APPLY_REMOVE ? NULL : a->in,
		.removes = mode == SL_APPLY_REMOVE ? a->in : a->rm,
		.replace = mode == SL_APPLY_REPLACE,
		.fetch = sls_fetch,
		.fetch_ctx = &c->k->v,
		/* Beyond a quarter of the policy, the whole compile is as
		 * cheap and its publication writes in batches (the
		 * publisher's own rule for a whole-slot write). */
		.max_changes = n / 4 + 16,
		.live_svcs = c->k->v.dir.h.n_svcs,
		.live_backends = c->k->v.dir.h.n_backends,
		.live_ingress = c->k->v.dir.h.n_ingress,
		.live_np = c->k->np_ok ? &c->k->np : NULL,
	};
	int err;

	in.max_units = model_ports(m, c->old_ports) / 4 + 16;
	err = sl_incr_compile(m, &in, &c->out, d);
	c->t_compile = sl_now_mono_ns();
	return err;
}

static int apply_incr(struct applying *a, struct incr *c, struct sl_diags *d,
		      struct sl_apply_result *r)
{
	const struct sls_dir_hdr *h = &c->k->v.dir.h;
	uint32_t counts[3] = {
		h->n_svcs - (uint32_t)c->out.old.n_svcs + (uint32_t)c->out.new.n_svcs,
		h->n_backends - (uint32_t)c->out.old.n_backends + (uint32_t)c->out.new.n_backends,
		h->n_ingress - (uint32_t)c->out.old.n_ingress + (uint32_t)c->out.new.n_ingress,
	};
	struct sl_pub pub = {
		.old = &c->out.old, .new = &c->out.new, .root = a->root, .store = &a->store,
		.partial = true,
		.np = c->out.np, .old_ports = c->old_ports, .new_ports = c->new_ports,
	};
	struct sl_model *m = c->k->model;
	int err;

	/* Only units with node-ingress frontends put ports in the bitmap: a
	 * change whose affected units have none, before or after, leaves it. */
	if (c->out.old.n_ingress || c->out.new.n_ingress)
		model_ports(m, c->new_ports);
	else
		memcpy(c->new_ports, c->old_ports, sizeof(c->new_ports));
	err = sls_delta(&c->k->v, m, counts, &a->store);
	c->t_delta = sl_now_mono_ns();
	pr_debug("sluice: incremental: model read %.2f ms (%zu objects), compile %.2f ms, store "
		 "%.2f ms\n", (double)(c->t_read - a->t0) / 1e6, sl_model_count(m),
		 (double)(c->t_compile - c->t_read) / 1e6, (double)(c->t_delta - c->t_compile) / 1e6);
	if (!err && !sls_fits(&a->store))
		err = -EAGAIN; /* the whole way names the objects that weigh most */
	r->compile_ms = sl_ms_since(a->t0);
	r->n_objects = sl_model_count(m);
	r->n_services = counts[0];
	r->n_backends = counts[1];
	r->incremental_compile = true;
	r->recompiled = c->out.units;
	if (!err)
		err = sl_publish(&a->m, &pub, d, &r->pub);
	if (!err) {
		r->pub.n_services = counts[0];
		r->pub.n_backends = counts[1];
	}
	/* A replay that needed a whole write: repair now, so that an apply
	 * always leaves both slots in sync. */
	if (!err && r->pub.replay_deferred)
		err = sl_publish_repair(&a->m, true) < 0 ? -EIO : 0;
	/* The kept model and view now describe the new generation. Removed
	 * objects keep their slots in the model: when they outnumber the
	 * live ones, the next apply reads the store again instead. */
	if (!err && !r->pub.replay_deferred &&
	    sl_model_slots(m) <= 2 * sl_model_count(m) + 1024 &&
	    !sls_view_follow(&c->k->v, &a->store)) {
		sl_model_clean(m);
		/* Tables the change did not compile are the live ones still;
		 * OUT is freed after this. */
		if (c->out.np) {
			sl_tables_np_move(&c->k->np, &c->out.new);
			c->k->np_ok = true;
		}
		c->k->gen = r->pub.generation;
	} else {
		c->k->gen = 0;
		c->k->np_ok = false;
	}
	return err;
}

static void move_diags(struct sl_diags *to, const struct sl_diags *from)
{
	for (size_t i = 0; i < from->n; i++)
		sl_diags_add(to, from->v[i].sev, from->v[i].file, from->v[i].line, from->v[i].path,
			     "%s", from->v[i].msg);
	/* sl_diags_add has no column: keep the compiler's. */
	for (size_t i = 0, k = to->n - from->n; i < from->n; i++)
		to->v[k + i].col = from->v[i].col;
}

/* Incremental, or -EAGAIN (nothing changed yet) for the whole way. */
static int try_incr(struct applying *a, enum sl_apply_mode mode, struct sl_diags *d,
		    struct sl_apply_result *r)
{
	struct sl_diags di = { 0 };
	struct incr *c = calloc(1, sizeof(*c));
	int err = c ? 0 : -ENOMEM;

	if (c)
		c->k = a->keep ? a->keep : &c->own;
	if (!err)
		err = read_model(a, c, a->keep != NULL);
	if (c)
		c->t_read = sl_now_mono_ns();
	if (!err)
		err = compile_change(a, c, mode, &di);
	if (!err)
		err = apply_incr(a, c, &di, r);
	if (err == -EAGAIN)
		r->whole_why = c->out.whole ? c->out.whole : "the store cannot serve it";
	if (err == -EAGAIN)
		sls_write_free(&a->store);
	else
		move_diags(d, &di);
	/* A model that did not take the change, or an error after it took
	 * it, is not the stored policy: read it again next time. */
	if (c && err)
		keep_drop(c->k);
	sl_diags_free(&di);
	if (c) {
		sl_incr_out_free(&c->out);
		keep_drop(&c->own);
	}
	free(c);
	return err;
}

/* ---- the apply ------------------------------------------------------------ */

/* Everything that needs the lock. */
static int apply_locked(struct applying *a, enum sl_apply_mode mode, bool dry_run,
			struct sl_diags *d, struct sl_apply_result *r)
{
	int err = sl_read_config(&a->m, &a->cfg);

	if (err)
		return err;
	sl_node_compile_opts(&a->cfg, &a->o);
	/* A dry run checks what only the whole compile checks (every map's
	 * capacity, with key walks of the state maps). */
	err = dry_run ? -EAGAIN : try_incr(a, mode, d, r);
	if (err != -EAGAIN)
		return err;
	return apply_whole(a, mode, dry_run, d, r);
}

/* An apply of what A holds (its maps open), under the lock. EXPECT_GEN
 * (when not 0) must be the live generation, else -ESTALE: another writer
 * applied since. */
static int apply_staged(const char *pin_root, struct applying *a, enum sl_apply_mode mode,
			bool dry_run, uint32_t expect_gen, struct sl_diags *d,
			struct sl_apply_result *r)
{
	int lock = sl_lock(pin_root), err;
	struct sl_config cfg;

	a->root = pin_root;
	err = lock < 0 ? lock : 0;
	if (!err && expect_gen)
		err = sl_read_config(&a->m, &cfg) ? -EIO : cfg.generation != expect_gen ? -ESTALE : 0;
	if (!err)
		err = apply_locked(a, mode, dry_run, d, r);
	/* Connections admitted under the old NetworkPolicy are judged again
	 * on their next packet; see docs/NODE.md. */
	if (!err && !dry_run && r->pub.node.np_changed)
		err = sl_pflows_revoke(pin_root, &r->pub.node.np_revoked);
	r->total_ms = sl_ms_since(a->t0);
	sl_unlock(lock);
	if (err && a->keep)
		keep_drop(a->keep);
	applying_free(a);
	return err;
}

int sl_apply(const char *pin_root, const struct sl_source *src, size_t n,
	     enum sl_apply_mode mode, bool dry_run, struct sl_diags *d,
	     struct sl_apply_result *r)
{
	struct applying a = { .t0 = sl_now_mono_ns(), .in = sl_policy_new() };
	int err;

	memset(r, 0, sizeof(*r));
	err = a.in ? stage_sources(src, n, mode, a.in, d) : -ENOMEM;
	if (!err)
		err = sl_maps_open(pin_root, &a.m);
	if (err) {
		sl_policy_free(a.in);
		return err;
	}
	return apply_staged(pin_root, &a, mode, dry_run, 0, d, r);
}

int sl_apply_parsed(const char *pin_root, struct sl_keep *keep, uint32_t expect_gen,
		    struct sl_policy *upserts, struct sl_policy *removes, bool replace,
		    struct sl_diags *d, struct sl_apply_result *r)
{
	struct applying a = { .t0 = sl_now_mono_ns(), .in = upserts, .keep = keep };
	int err;

	memset(r, 0, sizeof(*r));
	a.rm = replace ? NULL : removes;
	if (replace)
		sl_policy_free(removes);
	if (!a.in)
		a.in = sl_policy_new();
	if (!a.rm && !replace)
		a.rm = sl_policy_new();
	err = a.in && (replace || a.rm) ? sl_maps_open(pin_root, &a.m) : -ENOMEM;
	if (err) {
		sl_policy_free(a.in);
		sl_policy_free(a.rm);
		return err;
	}
	return apply_staged(pin_root, &a, replace ? SL_APPLY_REPLACE : SL_APPLY_CHANGE, false,
			    expect_gen, d, r);
}

/* flock without waiting: -EWOULDBLOCK while an apply holds the lock. */
static int try_lock(const char *root)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int sl_repair(const char *pin_root, bool wait, bool sweep)
{
	struct sl_maps m;
	int lock, err = sl_maps_open(pin_root, &m);

	if (err)
		return err;
	lock = wait ? sl_lock(pin_root) : try_lock(pin_root);
	err = lock < 0 ? lock : sl_publish_repair(&m, sweep);
	/* And, with the sweep (a read of the live slot's services while
	 * sockops is attached), sockops left attached by a publication
	 * stopped before its detach (docs/KERNEL.md, "When sockops is
	 * attached"). */
	if (err >= 0 && sweep && sl_sockops_reconcile(pin_root, &m, &(__u32){ 0 }))
		pr_warn("sluice: sockops stays attached although nothing hands off\n");
	sl_unlock(lock);
	sl_maps_close(&m);
	return err;
}
