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

#include "apply.h"
#include "loader.h"
#include "pins.h"
#include "publish.h"
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

	if (bpf_map_lookup_elem(m->fd[SL_MAP_SERVICES], &k, &v))
		return -errno;
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

	if (sl_maps_open(root, &m) || sl_read_store(&m, &src, &slen, &cfg))
		return "cannot open maps";
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
	/* No stale service keys in either slot. */
	{
		struct sl_svc_key k, next;
		void *prev = NULL;

		while (!res && !bpf_map_get_next_key(m.fd[SL_MAP_SERVICES], prev, &next)) {
			k = next;
			prev = &k;
			count[k.slot & 1]++;
		}
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
	sl_unload(root);
	return failures ? 1 : 0;
}
