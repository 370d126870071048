// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "ct.h"
#include "util.h"

static int load_sources(struct sl_policy *p, const struct sl_source *src, size_t n,
			enum sl_apply_mode mode, struct sl_diags *d)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		int e = mode == SL_APPLY_REMOVE
				? sl_policy_remove(p, src[i].name, src[i].text, src[i].len, d)
				: sl_policy_load(p, src[i].name, src[i].text, src[i].len, d);

		if (e)
			bad = -EINVAL;
	}
	return bad;
}

/* The live policy, compiled again: the publisher writes only what differs
 * between it and the new tables. */
static int compile_live(struct sl_maps *m, const struct sl_compile_opts *o, struct sl_policy *p,
			struct sl_tables *old, struct sl_diags *d)
{
	struct sl_config cfg;
	char *stored = NULL;
	size_t len = 0;
	int err = sl_read_store(m, &stored, &len, &cfg);

	if (err)
		return err;
	if ((len && sl_policy_load(p, "<applied>", stored, len, d)) ||
	    sl_policy_compile(p, o, old, d)) {
		pr_warn("sluice: the applied policy does not compile again; this is a bug\n");
		err = -EBADMSG;
	}
	free(stored);
	return err;
}

static int compile_new(struct sl_maps *m, const struct sl_compile_opts *o,
		       const struct sl_source *src, size_t n, enum sl_apply_mode mode,
		       struct sl_policy **pp, struct sl_tables *old, struct sl_tables *t,
		       struct sl_diags *d)
{
	struct sl_policy *live = sl_policy_new(), *p = live;
	struct sl_diags ignored = { 0 };
	int err;

	if (!live)
		return -ENOMEM;
	/* Diagnostics of the live policy were shown when it was applied. */
	err = compile_live(m, o, live, old, &ignored);
	sl_diags_free(&ignored);
	if (!err && mode == SL_APPLY_REPLACE) {
		p = sl_policy_new();
		err = p ? 0 : -ENOMEM;
	}
	if (!err)
		err = load_sources(p, src, n, mode, d);
	if (!err && sl_policy_compile(p, o, t, d))
		err = -EINVAL;
	if (p != live)
		sl_policy_free(live);
	*pp = p;
	return err;
}

int sl_apply(const char *pin_root, const struct sl_source *src, size_t n,
	     enum sl_apply_mode mode, bool dry_run, struct sl_diags *d,
	     struct sl_apply_result *r)
{
	struct sl_tables old = { 0 }, t = { 0 };
	struct sl_compile_opts o;
	struct sl_policy *p = NULL;
	struct sl_config cfg;
	struct sl_maps m;
	uint64_t t0 = sl_now_mono_ns();
	char *ser = NULL;
	size_t ser_len = 0;
	int lock, err;

	memset(r, 0, sizeof(*r));
	err = sl_maps_open(pin_root, &m);
	if (err)
		return err;
	lock = sl_lock(pin_root);
	err = lock < 0 ? lock : sl_read_config(&m, &cfg);
	if (err)
		goto out;
	sl_node_compile_opts(&cfg, &o);
	err = compile_new(&m, &o, src, n, mode, &p, &old, &t, d);
	if (err)
		goto out;
	r->compile_ms = sl_ms_since(t0);
	r->n_objects = sl_policy_count(p);
	r->n_services = t.n_svcs;
	r->n_backends = t.n_backends;
	if (!dry_run) {
		ser = sl_policy_serialize(p, &ser_len);
		err = ser ? sl_publish(&m, &old, &t, ser, ser_len, &r->pub) : -ENOMEM;
	}
	/* Connections admitted under the old NetworkPolicy are judged again
	 * on their next packet; see docs/NODE.md. */
	if (!err && !dry_run && r->pub.node.np_changed)
		err = sl_pflows_revoke(pin_root, &r->pub.node.np_revoked);
	r->total_ms = sl_ms_since(t0);
out:
	sl_unlock(lock);
	sl_maps_close(&m);
	sl_tables_free(&t);
	sl_tables_free(&old);
	sl_policy_free(p);
	free(ser);
	return err;
}
