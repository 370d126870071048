// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of publishing (user/publish.c, user/apply.c) against real,
 * pinned but unattached maps: after every apply, the live slot must hold
 * exactly the compiled tables (each service's groups, rows and weights), the
 * other slot must equal it (so the next apply can be incremental), and the
 * apply must have been incremental or whole-slot as the rules say.
 *
 * Needs root and bpffs (tests/run.sh mounts it); fails without them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <zlib.h>

#include "apply.h"
#include "loader.h"
#include "pins.h"
#include "names.h"
#include "publish.h"
#include "store.h"
#include "storefmt.h"
#include "svctab.h"
#include "unit.h"

static char root[128];


/* N services web-0..N-1 (10.96.1.i:80), EPS endpoints each (127.1.i.j:8080),
 * with endpoint k of service `bump` given `extra` more endpoints. */
static char *gen_policy(int n, int eps, int bump, int extra)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);

	for (int i = 0; i < n; i++) {
		int m = eps + (i == bump ? extra : 0);

		len += (size_t)snprintf(buf + len, cap - len,
			"apiVersion: v1\nkind: Service\nmetadata: {name: web-%d, namespace: t}\n"
			"spec:\n  clusterIP: 10.96.1.%d\n  ports: [{port: 80, targetPort: 8080}]\n"
			"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			"metadata: {name: web-%d-x, namespace: t, labels: {kubernetes.io/service-name: web-%d}}\n"
			"addressType: IPv4\nports: [{port: 8080}]\nendpoints:\n",
			i, i + 1, i, i);
		for (int j = 0; j < m; j++)
			len += (size_t)snprintf(buf + len, cap - len, "- addresses: [127.1.%d.%d]\n", i, j + 1);
		len += (size_t)snprintf(buf + len, cap - len, "---\n");
	}
	return buf;
}

static int apply_text(const char *text, struct sl_apply_result *r)
{
	struct sl_source src = { "gen.yaml", text, strlen(text) };
	struct sl_diags d = { 0 };
	int err = sl_apply(root, &src, 1, SL_APPLY_REPLACE, false, &d, r);

	if (err)
		sl_diags_print(&d, stdout);
	sl_diags_free(&d);
	return err;
}

/* The endpoints a slot's service entry points at, as "a:p,a:p/w;" per group. */
static int slot_view(struct sl_maps *m, __u32 slot, const struct sl_l4addr *fe, char *out,
		     size_t len)
{
	struct sl_svc_key k = { .fe = *fe, .slot = slot };
	struct sl_svc_val v;
	size_t n = 0;

	int err = sl_svc_get(sl_svctab_of(m), &k, &v);

	if (err)
		return err;
	out[0] = 0;
	for (unsigned g = 0; g < v.n_groups; g++) {
		for (__u32 i = 0; i < v.groups[g].count; i++) {
			__u32 idx = slot * SL_MAX_BACKENDS + v.groups[g].first + i;
			struct sl_backend be;
			char ip[64];

			if (bpf_map_lookup_elem(m->fd[SL_MAP_BACKENDS], &idx, &be))
				return -errno;
			inet_ntop(AF_INET, be.ep.addr, ip, sizeof(ip));
			n += (size_t)snprintf(out + n, len - n, "%s:%u/%u,", ip, ntohs(be.ep.port),
					      be.cum);
		}
		n += (size_t)snprintf(out + n, len - n, "w%u;", v.groups[g].weight);
	}
	return 0;
}

/* Both slots hold exactly what a fresh compile of the stored policy gives. */
static const char *verify(char *why, size_t len)
{
	struct sl_maps m;
	struct sl_config cfg;
	struct sl_compile_opts o;
	struct sl_policy *p = sl_policy_new();
	struct sl_tables t = { 0 };
	struct sl_diags d = { 0 };
	char *src = NULL, a[8192], b[8192], want[8192];
	size_t slen, count[2] = { 0, 0 };
	const char *res = NULL;

	if (sl_maps_open(root, &m)) {
		sl_policy_free(p);
		return "cannot open maps";
	}
	if (sl_read_store(&m, &src, &slen, &cfg)) {
		res = "the store does not read";
		goto out;
	}
	sl_node_compile_opts(&cfg, &o);
	if (sl_policy_load(p, "<stored>", src, slen, &d) || sl_policy_compile(p, &o, &t, &d)) {
		res = "stored policy does not compile";
		goto out;
	}
	if (cfg.synced_gen != cfg.generation) {
		snprintf(why, len, "slots not synced: synced_gen %u generation %u", cfg.synced_gen,
			 cfg.generation);
		res = why;
		goto out;
	}
	for (size_t i = 0; i < t.n_svcs && !res; i++) {
		const struct sl_table_svc *s = &t.svcs[i];
		size_t n = 0;

		for (unsigned g = 0; g < s->val.n_groups; g++) {
			for (__u32 k = 0; k < s->val.groups[g].count; k++) {
				const struct sl_backend *be = &t.backends[s->val.groups[g].first + k].be;
				char ip[64];

				inet_ntop(AF_INET, be->ep.addr, ip, sizeof(ip));
				n += (size_t)snprintf(want + n, sizeof(want) - n, "%s:%u/%u,", ip,
						      ntohs(be->ep.port), be->cum);
			}
			n += (size_t)snprintf(want + n, sizeof(want) - n, "w%u;", s->val.groups[g].weight);
		}
		if (slot_view(&m, cfg.active_slot, &s->fe, a, sizeof(a)) ||
		    slot_view(&m, !cfg.active_slot, &s->fe, b, sizeof(b))) {
			snprintf(why, len, "service %zu missing from a slot", i);
			res = why;
		} else if (strcmp(a, want) || strcmp(b, want)) {
			snprintf(why, len, "service %zu: live [%s] other [%s] want [%s]", i, a, b, want);
			res = why;
		}
	}
	/* No stale services in either slot's index. */
	for (__u32 s = 0; !res && s < 2; s++) {
		struct sl_svc_key *keys = NULL;
		struct sl_svc_val *vals = NULL;

		if (sl_svc_list(sl_svctab_of(&m), s, &keys, &vals, &count[s]))
			res = "cannot list a slot's services";
		free(keys);
		free(vals);
	}
	{
		if (!res && (count[0] != t.n_svcs || count[1] != t.n_svcs)) {
			snprintf(why, len, "slot sizes %zu/%zu, want %zu", count[0], count[1], t.n_svcs);
			res = why;
		}
	}
out:
	free(src);
	sl_tables_free(&t);
	sl_policy_free(p);
	sl_diags_free(&d);
	sl_maps_close(&m);
	return res;
}

struct step {
	const char *name;
	int n, eps, bump, extra;
	int want_incremental; /* 1 yes, 0 no, -1 either */
	size_t want_changed; /* (size_t)-1: any */
};

static void run_steps(void)
{
	static const struct step steps[] = {
		{ "publish/first-apply", 40, 3, -1, 0, 0, (size_t)-1 },
		{ "publish/same-again", 40, 3, -1, 0, 1, 0 },
		{ "publish/grow-one-group", 40, 3, 7, 2, 1, 1 },
		{ "publish/shrink-it-back", 40, 3, -1, 0, 1, 1 },
		{ "publish/add-service", 41, 3, -1, 0, 1, 1 },
		{ "publish/remove-two", 39, 3, -1, 0, 1, 2 },
		{ "publish/big-change-whole-slot", 39, 4, -1, 0, 0, 39 },
		{ "publish/grow-again-after-whole", 39, 4, 0, 5, 1, 1 },
	};
	char why[16384];

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct step *s = &steps[i];
		char *text = gen_policy(s->n, s->eps, s->bump, s->extra);
		struct sl_apply_result r;
		const char *bad;
		int err = apply_text(text, &r);

		free(text);
		if (err) {
			result(s->name, "apply: %s", strerror(-err));
			continue;
		}
		bad = verify(why, sizeof(why));
		if (bad)
			result(s->name, "%s", bad);
		else if (s->want_incremental >= 0 && r.pub.incremental != (bool)s->want_incremental)
			result(s->name, "incremental=%d, want %d", r.pub.incremental, s->want_incremental);
		else if (s->want_changed != (size_t)-1 && r.pub.changed != s->want_changed)
			result(s->name, "changed %zu services, want %zu", r.pub.changed, s->want_changed);
		else
			result(s->name, NULL);
	}
}

static void rejected_changes_nothing(void)
{
	struct sl_apply_result r;
	struct sl_config before, after;
	struct sl_maps m;
	const char *bad = "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 0}]}\n";
	struct sl_source src = { "bad.yaml", bad, strlen(bad) };
	struct sl_diags d = { 0 };
	char why[512];
	int err;

	if (sl_maps_open(root, &m) || sl_read_config(&m, &before)) {
		result("publish/rejected-changes-nothing", "cannot read config");
		return;
	}
	err = sl_apply(root, &src, 1, SL_APPLY_MERGE, false, &d, &r);
	sl_read_config(&m, &after);
	sl_maps_close(&m);
	if (err != -EINVAL || d.n_errors == 0)
		result("publish/rejected-changes-nothing", "apply returned %d with %zu errors", err,
		       d.n_errors);
	else if (memcmp(&before, &after, sizeof(before)))
		result("publish/rejected-changes-nothing", "config changed: generation %u -> %u",
		       before.generation, after.generation);
	else if (verify(why, sizeof(why)))
		result("publish/rejected-changes-nothing", "%s", why);
	else
		result("publish/rejected-changes-nothing", NULL);
	sl_diags_free(&d);
}

/* ---- format 1: the store before issue 10 must still be read ------------- */

/* Rewrite both slots' stores as format 1 (the whole serialized policy as
 * one zlib stream from chunk 0), as a node applied before issue 10 holds. */
static int write_format1(struct sl_maps *m)
{
	struct sl_config cfg;
	struct sl_store_val *val = calloc(1, sizeof(*val));
	char *src = NULL;
	size_t len;
	uLongf zlen;
	unsigned char *z = NULL;
	int err = sl_read_store(m, &src, &len, &cfg);
	__u32 n = 0;

	if (!err) {
		zlen = compressBound((uLong)len);
		z = malloc(zlen);
		err = z && val && compress2(z, &zlen, (const Bytef *)src, (uLong)len, 6) == Z_OK
			      ? 0 : -ENOMEM;
	}
	n = err ? 0 : (__u32)((zlen + SL_STORE_CHUNK - 1) / SL_STORE_CHUNK);
	for (__u32 slot = 0; !err && slot < 2; slot++) {
		for (__u32 c = 0; c < SL_MAX_STORE_CHUNKS / 2; c++) {
			struct sl_store_key k = { slot, c };
			size_t off = (size_t)c * SL_STORE_CHUNK;

			if (c >= n) {
				bpf_map_delete_elem(m->fd[SL_MAP_STORE], &k);
				continue;
			}
			memset(val, 0, sizeof(*val));
			memcpy(val->data, z + off, zlen - off < SL_STORE_CHUNK ? zlen - off : SL_STORE_CHUNK);
			if (bpf_map_update_elem(m->fd[SL_MAP_STORE], &k, val, BPF_ANY))
				err = -errno;
		}
	}
	if (!err) {
		__u32 zero = 0;

		cfg.store_chunks = n;
		cfg.store_bytes = (__u32)zlen;
		cfg.store_raw_bytes = (__u32)len;
		if (bpf_map_update_elem(m->fd[SL_MAP_CONFIG], &zero, &cfg, BPF_ANY))
			err = -errno;
	}
	free(src);
	free(z);
	free(val);
	return err;
}

/* Is the active slot's store format 2? */
static int active_format(struct sl_maps *m)
{
	struct sl_config cfg;
	struct sls_view v;
	int f;

	if (sl_read_config(m, &cfg) || sls_open(m, cfg.active_slot, &v))
		return -1;
	f = v.v2 ? 2 : 1;
	sls_close(&v);
	return f;
}

/* A node whose store is format 1 keeps its policy readable, and its next
 * apply (a one-object change) falls back to the whole compile and writes
 * format 2, after which applies are incremental again. */
static void format1_upgrade(void)
{
	const char *name = "publish/format1-upgrade";
	struct sl_maps m;
	struct sl_apply_result r;
	char why[16384], *text;
	const char *bad;
	int err;

	if (sl_maps_open(root, &m)) {
		result(name, "cannot open maps");
		return;
	}
	err = write_format1(&m);
	if (err || active_format(&m) != 1) {
		result(name, "could not write a format-1 store: %s", strerror(-err));
		goto out;
	}
	if ((bad = verify(why, sizeof(why)))) {
		result(name, "format 1 not read back: %s", bad);
		goto out;
	}
	text = gen_policy(39, 4, 3, 1);
	err = apply_text(text, &r);
	free(text);
	if (err || r.incremental_compile || (bad = verify(why, sizeof(why))) ||
	    active_format(&m) != 2) {
		result(name, "apply over format 1: err %d incremental %d format %d: %s", err,
		       r.incremental_compile, active_format(&m), err ? "" : bad ? bad : "");
		goto out;
	}
	text = gen_policy(39, 4, 3, 2);
	err = apply_text(text, &r);
	free(text);
	if (err || !r.incremental_compile || (bad = verify(why, sizeof(why))))
		result(name, "the apply after the upgrade: err %d incremental %d: %s", err,
		       r.incremental_compile, err ? "" : bad ? bad : "");
	else
		result(name, NULL);
out:
	sl_maps_close(&m);
}

/* ---- a kept model (the agent's applies) ------------------------------------ */

static struct sl_policy *parsed(const char *text)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_diags d = { 0 };

	if (p && sl_policy_load(p, "kept.yaml", text, strlen(text), &d)) {
		sl_diags_print(&d, stdout);
		sl_policy_free(p);
		p = NULL;
	}
	sl_diags_free(&d);
	return p;
}

static struct sl_policy *names(const char *text)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_diags d = { 0 };

	if (p && sl_policy_load_names(p, "kept.yaml", text, strlen(text), &d)) {
		sl_policy_free(p);
		p = NULL;
	}
	sl_diags_free(&d);
	return p;
}

/* One sl_apply_parsed through KEEP; 0 when it worked, was incremental as
 * WANT_INCR says and left both slots as a fresh compile gives them. */
static const char *kept_apply(struct sl_keep *keep, uint32_t gen, const char *up, const char *rm,
			      int want_incr, int *err, char *why, size_t len)
{
	struct sl_apply_result r;
	struct sl_diags d = { 0 };
	const char *bad;

	*err = sl_apply_parsed(root, keep, gen, up ? parsed(up) : NULL, rm ? names(rm) : NULL,
			       false, &d, &r);
	sl_diags_free(&d);
	if (*err)
		return "apply failed";
	if (want_incr >= 0 && r.incremental_compile != (bool)want_incr) {
		snprintf(why, len, "incremental %d, want %d (%s)", r.incremental_compile, want_incr,
			 r.whole_why ? r.whole_why : "-");
		return why;
	}
	bad = verify(why, len);
	return bad;
}

static const char SVC_X[] =
	"apiVersion: v1\nkind: Service\nmetadata: {name: kept-x, namespace: t}\n"
	"spec:\n  clusterIP: 10.96.2.1\n  ports: [{port: 80, targetPort: 8080}]\n---\n"
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	"metadata: {name: kept-x-1, namespace: t, labels: {kubernetes.io/service-name: kept-x}}\n"
	"addressType: IPv4\nports: [{port: 8080}]\nendpoints:\n- addresses: [127.2.0.1]\n";
static const char SLICE_X2[] =
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	"metadata: {name: kept-x-1, namespace: t, labels: {kubernetes.io/service-name: kept-x}}\n"
	"addressType: IPv4\nports: [{port: 8080}]\nendpoints:\n- addresses: [127.2.0.1]\n"
	"- addresses: [127.2.0.2]\n";

/* An agent's applies through one sl_keep: upserts and removals at once,
 * each incremental and exact; another writer in between makes the next
 * apply with the old generation -ESTALE, and one without it reads the
 * store again. */
static void kept_model(void)
{
	const char *name = "publish/kept-model";
	struct sl_keep *keep = sl_keep_new();
	struct sl_maps m;
	struct sl_config cfg;
	char why[16384], *text;
	const char *bad = NULL;
	struct sl_apply_result r;
	int err = 0;

	if (!keep || sl_maps_open(root, &m)) {
		result(name, "setup");
		sl_keep_free(keep);
		return;
	}
	bad = kept_apply(keep, 0, SVC_X, NULL, 1, &err, why, sizeof(why));
	if (!bad)
		bad = kept_apply(keep, 0, SLICE_X2, NULL, 1, &err, why, sizeof(why));
	if (!bad && !sl_read_config(&m, &cfg))
		bad = kept_apply(keep, cfg.generation, NULL, SVC_X, 1, &err, why, sizeof(why));
	if (!bad)
		bad = kept_apply(keep, 0, SVC_X, "apiVersion: v1\nkind: Service\n"
			"metadata: {name: web-0, namespace: t}\n", 1, &err, why, sizeof(why));
	/* Another writer. */
	if (!bad && !sl_read_config(&m, &cfg)) {
		text = gen_policy(39, 4, 3, 3);
		err = apply_text(text, &r);
		free(text);
		bad = err ? "the other writer's apply failed" : NULL;
	}
	if (!bad) {
		struct sl_diags d = { 0 };

		err = sl_apply_parsed(root, keep, cfg.generation, parsed(SVC_X), NULL, false, &d, &r);
		sl_diags_free(&d);
		bad = err != -ESTALE ? "an apply on a stale generation was not refused" : NULL;
	}
	if (!bad)
		bad = kept_apply(keep, 0, SVC_X, NULL, 1, &err, why, sizeof(why));
	result(name, bad ? "%s (err %d)" : NULL, bad, err);
	sl_maps_close(&m);
	sl_keep_free(keep);
}

/* The agent's first apply is whole (REPLACE of a different policy): the
 * model it made and the store it wrote are kept, and serve the next
 * applies, a REPLACE among them. */
static void kept_after_whole(void)
{
	const char *name = "publish/kept-after-whole";
	struct sl_keep *keep = sl_keep_new();
	struct sl_apply_result r;
	struct sl_diags d = { 0 };
	char why[16384], *text = gen_policy(12, 2, -1, 0);
	const char *bad = NULL;
	int err;

	err = sl_apply_parsed(root, keep, 0, parsed(text), NULL, true, &d, &r);
	free(text);
	sl_diags_free(&d);
	if (err || r.incremental_compile)
		bad = "the first, whole apply";
	if (!bad)
		bad = verify(why, sizeof(why));
	if (!bad)
		bad = kept_apply(keep, 0, SVC_X, NULL, 1, &err, why, sizeof(why));
	if (!bad) {
		text = gen_policy(12, 2, 4, 1);
		d = (struct sl_diags){ 0 };
		err = sl_apply_parsed(root, keep, 0, parsed(text), NULL, true, &d, &r);
		free(text);
		sl_diags_free(&d);
		bad = err || !r.incremental_compile ? "the REPLACE after it" : verify(why, sizeof(why));
	}
	if (!bad)
		bad = kept_apply(keep, 0, SLICE_X2, NULL, 1, &err, why, sizeof(why));
	/* A REPLACE in which an object is renamed: one goes, one comes. */
	if (!bad) {
		text = gen_policy(12, 2, 4, 1);
		char *at = strstr(text, "name: web-3-x");

		at[9] = 'y';
		d = (struct sl_diags){ 0 };
		err = sl_apply_parsed(root, keep, 0, parsed(text), NULL, true, &d, &r);
		free(text);
		sl_diags_free(&d);
		bad = err || !r.incremental_compile ? "the REPLACE with a rename" : verify(why, sizeof(why));
	}
	result(name, bad ? "%s (err %d)" : NULL, bad, err);
	sl_keep_free(keep);
}

static char *svc_pod(char *buf, size_t len, const char *svc, int vip, const char *pod, int ip)
{
	snprintf(buf, len,
		 "apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: kq}\n"
		 "spec:\n  clusterIP: 10.96.3.%d\n  selector: {app: %s}\n"
		 "  ports: [{port: 80, targetPort: 8080}]\n---\n"
		 "apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: kq, labels: {app: %s}}\n"
		 "status: {phase: Running, podIP: 127.3.0.%d}\n---\n",
		 svc, vip, svc, pod, svc, ip);
	return buf;
}

/* The agent's sequence that once broke the store: whole applies, the
 * same policy again and again, then one in which a pod is renamed. */
static void kept_sequence(void)
{
	const char *name = "publish/kept-sequence";
	struct sl_keep *keep = sl_keep_new();
	char web_a[1024], web_b[1024], db[1024], both[2048], why[16384];
	const char *seq[8], *bad = NULL;
	int err = 0;
	size_t n = 0;

	svc_pod(web_a, sizeof(web_a), "web", 1, "web-a", 1);
	svc_pod(web_b, sizeof(web_b), "web", 1, "web-b", 2);
	svc_pod(db, sizeof(db), "db", 2, "db-a", 3);
	snprintf(both, sizeof(both), "%s%s", web_a, db);
	seq[n++] = web_a;
	seq[n++] = both;
	seq[n++] = web_a;
	seq[n++] = both;
	seq[n++] = both;
	seq[n++] = both;
	for (size_t i = 0; !bad && i <= n; i++) {
		struct sl_apply_result r;
		struct sl_diags d = { 0 };
		char last[2048];

		snprintf(last, sizeof(last), "%s%s", web_b, db);
		err = sl_apply_parsed(root, keep, 0, parsed(i < n ? seq[i] : last), NULL, true, &d, &r);
		sl_diags_free(&d);
		if (err) {
			snprintf(why, sizeof(why), "apply %zu failed", i);
			bad = why;
		} else if ((bad = verify(why, sizeof(why)))) {
			char at[64];

			snprintf(at, sizeof(at), "%s", bad);
			snprintf(why, sizeof(why), "%s (after apply %zu, incremental %d)", at, i,
				 r.incremental_compile);
			bad = why;
		}
	}
	result(name, bad ? "%s (err %d)" : NULL, bad, err);
	sl_keep_free(keep);
}

/* Names (user/names.h): one entry per service and pair for both slots, no
 * override left once a publication ends, renames and removals seen by
 * both slots. WANT_SVCS services, WANT_EPS pairs; NAME: the name of
 * 10.96.1.1:80 (web-0's address). */
static const char *names_state(size_t want_svcs, size_t want_eps, const char *name, char *why,
			       size_t len)
{
	struct sl_name_set sv = { 0 }, ep = { 0 };
	struct sl_l4addr fe = { .port = htons(80), .proto = 6, .family = SL_AF_INET };
	const char *res = NULL;
	struct sl_maps m;

	fe.addr[0] = htonl(0x0a600101);
	if (sl_maps_open(root, &m))
		return "cannot open maps";
	if (sl_names_load(&m, SL_MAP_SVC_META, &sv) || sl_names_load(&m, SL_MAP_EP_META, &ep))
		res = "names do not read";
	for (size_t i = 0; !res && i < sv.n + ep.n; i++) {
		const struct sl_meta_key *k = i < sv.n ? &sv.v[i].key : &ep.v[i - sv.n].key;

		if (k->slot != SL_NAMES_BOTH)
			res = "a name for one slot is left after the publication";
	}
	if (!res && (sv.n != want_svcs || ep.n != want_eps)) {
		snprintf(why, len, "%zu service and %zu pair names, want %zu and %zu", sv.n, ep.n,
			 want_svcs, want_eps);
		res = why;
	}
	for (__u32 slot = 0; !res && slot < 2; slot++) {
		const struct sl_svc_meta *v = sl_names_find(&sv, &fe, NULL, slot);

		if (!v || strcmp(v->name, name)) {
			snprintf(why, len, "slot %u reads %s for 10.96.1.1:80, want %s", slot,
				 v ? v->name : "no name", name);
			res = why;
		}
	}
	sl_name_set_free(&sv);
	sl_name_set_free(&ep);
	sl_maps_close(&m);
	return res;
}

static void names_once(void)
{
	static const char *const name = "publish/names-once-for-both-slots";
	char *base = gen_policy(20, 3, -1, 0), *ren = strdup(base), why[256];
	struct sl_apply_result r;
	const char *bad = NULL;
	char *at;

	/* web-0 renamed at the same address: the service's name changes, its
	 * frontend and pairs do not. */
	at = strstr(ren, "{name: web-0, ");
	memcpy(at, "{name: wr-0,  ", 14);
	at = strstr(ren, "service-name: web-0}");
	memcpy(at, "service-name: wr-0} ", 20);
	if (apply_text(base, &r))
		bad = "apply";
	if (!bad)
		bad = names_state(20, 60, "web-0", why, sizeof(why));
	if (!bad && (apply_text(ren, &r) || !r.pub.incremental))
		bad = "the rename did not apply incrementally";
	if (!bad)
		bad = names_state(20, 60, "wr-0", why, sizeof(why));
	if (!bad) {
		char *fewer = gen_policy(19, 3, -1, 0);

		if (apply_text(fewer, &r))
			bad = "the removal did not apply";
		free(fewer);
	}
	if (!bad)
		bad = names_state(19, 57, "web-0", why, sizeof(why));
	result(name, bad ? "%s" : NULL, bad);
	free(base);
	free(ren);
}

/* Whether set S holds KEY at SLOT with a workload name WL (NULL: any). */
static bool has_name(const struct sl_name_set *s, const struct sl_meta_key *key, __u32 slot,
		     const char *wl)
{
	for (size_t i = 0; i < s->n; i++)
		if (!memcmp(&s->v[i].key, key, offsetof(struct sl_meta_key, slot)) &&
		    s->v[i].key.slot == slot &&
		    (!wl || !strcmp(((const struct sl_ep_meta *)s->v[i].val)->workload, wl)))
			return true;
	return false;
}

/* A pair whose name for both slots is gone but whose one-slot entry a
 * killed publication left behind (its deletes are batches a kill can
 * split) comes back: the slot that goes live must read the new name from
 * the switch on, so the stale entry is overwritten before the switch, not
 * only deleted after it. */
static void names_stale_override(void)
{
	static const char *const name = "publish/names-stale-override-replaced";
	struct sl_table_svc *svc = calloc(1, sizeof(*svc));
	struct sl_table_backend *be = calloc(1, sizeof(*be));
	struct sl_tables t = { .svcs = svc, .n_svcs = 1, .backends = be, .n_backends = 1 };
	struct sl_ep_meta stale = { .workload = "stale" };
	struct sl_names_change c = { 0 };
	struct sl_meta_key k;
	const char *bad = NULL;
	struct sl_maps m;

	if (!svc || !be || sl_maps_open(root, &m)) {
		result(name, "setup");
		free(svc);
		free(be);
		return;
	}
	svc->fe = (struct sl_l4addr){ .port = htons(80), .proto = 6, .family = SL_AF_INET };
	svc->fe.addr[0] = htonl(0x0a600909);
	svc->val.n_groups = 1;
	svc->val.groups[0].count = 1;
	snprintf(svc->meta.name, sizeof(svc->meta.name), "back");
	be->be.ep = (struct sl_l4addr){ .port = htons(8080), .proto = 6, .family = SL_AF_INET };
	be->be.ep.addr[0] = htonl(0x7f090909);
	snprintf(be->meta.workload, sizeof(be->meta.workload), "fresh");
	memset(&k, 0, sizeof(k));
	k.fe = svc->fe;
	k.ep = be->be.ep;
	k.slot = 1;
	if (bpf_map_update_elem(m.fd[SL_MAP_EP_META], &k, &stale, BPF_ANY))
		bad = "cannot write the stale entry";
	if (!bad && sl_names_diff_all(&m, &t, 1, &c))
		bad = "sl_names_diff_all failed";
	if (!bad && !has_name(&c.before[1], &k, SL_NAMES_BOTH, "fresh"))
		bad = "the pair's name for both slots is not added before the switch";
	if (!bad && !has_name(&c.before[1], &k, 1, "fresh"))
		bad = "the stale entry of the slot that goes live is not overwritten before the switch";
	if (!bad && !has_name(&c.gone[1], &k, 1, NULL))
		bad = "the one-slot entry is not removed after the switch";
	result(name, bad ? "%s" : NULL, bad);
	sl_map_del(m.fd[SL_MAP_EP_META], &k);
	sl_names_change_free(&c);
	sl_maps_close(&m);
	free(svc);
	free(be);
}

int main(void)
{
	struct sl_load_opts o = { .no_attach = true };
	int err;

	snprintf(root, sizeof(root), "/sys/fs/bpf/sluice-unit-%d", getpid());
	o.pin_root = root;
	/* tests/run.sh mounts bpffs before any test: its absence (or no root)
	 * is a broken setup, not a kernel that lacks a feature. */
	if (geteuid() != 0 || sl_check_bpffs(root)) {
		printf("FAIL publish/all: needs root and bpffs at /sys/fs/bpf (tests/run.sh mounts it)\n");
		return 1;
	}
	err = sl_load(&o);
	if (err) {
		result("publish/load-maps", "sl_load: %s", strerror(-err));
		sl_unload(root);
		return 1;
	}
	run_steps();
	rejected_changes_nothing();
	kept_model();
	kept_after_whole();
	kept_sequence();
	format1_upgrade();
	names_once();
	names_stale_override();
	sl_unload(root);
	return failures ? 1 : 0;
}
