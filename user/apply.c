// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * One apply (docs/APPLY.md): parse the inputs (no lock held, so a bad or
 * hostile file never makes other applies wait), then under the pin-root
 * lock: compile the live policy again, merge, compile, check every limit
 * from counts (the store size included), publish.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>

#include "apply.h"
#include "ct.h"
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
				 enum sl_apply_mode mode, struct sl_diags *d)
{
	switch (mode) {
	case SL_APPLY_REPLACE:
		return in;
	case SL_APPLY_REMOVE:
		sl_policy_subtract(live, in, d);
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
static void store_too_big(const struct sl_policy *p, const struct sl_store_blob *b,
			  struct sl_diags *d)
{
	struct sl_object_info *v = calloc(sl_policy_count(p) + 1, sizeof(*v));
	size_t n = 0;

	sl_diags_add(d, SL_SEV_ERROR, "<policy>", 0, "sl_store",
		     "the policy is %zu bytes of YAML and compresses to %zu bytes; one slot of "
		     "the policy store holds %zu bytes (32 MiB: SL_MAX_STORE_CHUNKS / 2 chunks "
		     "of SL_STORE_CHUNK bytes)%s", b->raw_len, b->len, SL_STORE_SLOT_BYTES,
		     b->raw_len > UINT32_MAX ? " and at most 4 GiB of YAML" : "");
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
	struct sl_maps m;
	struct sl_policy *live, *in, *p;
	struct sl_tables old, t;
	struct sl_store_blob store;
	char *ser;
};

/* Compile P and check that it fits: the compiler's limits, then the store,
 * then (dry run: everything the publisher would check) the maps. */
static int compile_and_check(struct applying *a, const struct sl_compile_opts *o, bool dry_run,
			     struct sl_diags *d)
{
	size_t ser_len = 0;
	int err;

	if (sl_policy_compile(a->p, o, &a->t, d))
		return -EINVAL;
	a->ser = sl_policy_serialize(a->p, &ser_len);
	err = a->ser ? sl_store_pack(a->ser, ser_len, &a->store) : -ENOMEM;
	if (!err && !sl_store_fits(&a->store)) {
		store_too_big(a->p, &a->store, d);
		err = -EINVAL;
	}
	if (!err && dry_run && sl_publish_check(&a->m, &a->old, &a->t, true, d))
		err = -EINVAL;
	return err;
}

static void applying_free(struct applying *a)
{
	sl_maps_close(&a->m);
	sl_tables_free(&a->t);
	sl_tables_free(&a->old);
	sl_policy_free(a->live); /* a->p is one of these two */
	sl_policy_free(a->in);
	sl_store_blob_free(&a->store);
	free(a->ser);
}

/* Everything that needs the lock. */
static int apply_locked(struct applying *a, enum sl_apply_mode mode, bool dry_run,
			struct sl_diags *d, struct sl_apply_result *r)
{
	struct sl_compile_opts o;
	struct sl_config cfg;
	int err = sl_store_compile(&a->m, &cfg, &a->live, &a->old, NULL, NULL);

	if (err)
		return err;
	sl_node_compile_opts(&cfg, &o);
	a->p = combine(a->live, a->in, mode, d);
	err = compile_and_check(a, &o, dry_run, d);
	r->compile_ms = sl_ms_since(a->t0);
	r->n_objects = sl_policy_count(a->p);
	r->n_services = a->t.n_svcs;
	r->n_backends = a->t.n_backends;
	if (err || dry_run)
		return err;
	return sl_publish(&a->m, &a->old, &a->t, &a->store, d, &r->pub);
}

int sl_apply(const char *pin_root, const struct sl_source *src, size_t n,
	     enum sl_apply_mode mode, bool dry_run, struct sl_diags *d,
	     struct sl_apply_result *r)
{
	struct applying a = { .t0 = sl_now_mono_ns(), .in = sl_policy_new() };
	int lock, err;

	memset(r, 0, sizeof(*r));
	err = a.in ? stage_sources(src, n, mode, a.in, d) : -ENOMEM;
	if (!err)
		err = sl_maps_open(pin_root, &a.m);
	if (err) {
		sl_policy_free(a.in);
		return err;
	}
	lock = sl_lock(pin_root);
	err = lock < 0 ? lock : apply_locked(&a, mode, dry_run, d, r);
	/* Connections admitted under the old NetworkPolicy are judged again
	 * on their next packet; see docs/NODE.md. */
	if (!err && !dry_run && r->pub.node.np_changed)
		err = sl_pflows_revoke(pin_root, &r->pub.node.np_revoked);
	r->total_ms = sl_ms_since(a.t0);
	sl_unlock(lock);
	applying_free(&a);
	return err;
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

int sl_repair(const char *pin_root, bool wait)
{
	struct sl_maps m;
	int lock, err = sl_maps_open(pin_root, &m);

	if (err)
		return err;
	lock = wait ? sl_lock(pin_root) : try_lock(pin_root);
	err = lock < 0 ? lock : sl_publish_repair(&m);
	sl_unlock(lock);
	sl_maps_close(&m);
	return err;
}
