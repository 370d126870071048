// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Crash consistency of publishing (docs/APPLY.md), by fault injection at
 * every step: a child process applies a policy with
 * SLUICE_TEST_KILL_AFTER_WRITE=N and dies by SIGKILL right after map write
 * N, for every N until the apply completes. After each death:
 *
 *   - the live slot is exactly the old policy or exactly the new one
 *     (canonical slot dumps compared byte for byte),
 *   - the policy store agrees with the live slot,
 *   - the next apply (of a third policy that differs from the old one in a
 *     single service, so a half-written slot that is wrongly taken for a
 *     synced one shows) leaves both slots equal to the store, and the
 *     state maps hold exactly what that policy owns;
 *   - on every other N, sl_publish_repair() first brings the inactive slot
 *     back to the live one.
 *
 * The policies span every policy map: services with subsets and route
 * weights, endpoint rows and names, node-ingress frontends (an externalIP
 * and a NodePort) with a Maglev ring and the port bitmap, NetworkPolicy
 * pods, prefixes (with an except) and port sets, and the store. One run
 * changes a few services (an incremental write), one nearly everything
 * (a whole-slot write).
 *
 * Needs root and bpffs; prints "skip NAME: missing ..." otherwise.
 */
#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "apply.h"
#include "loader.h"
#include "pins.h"
#include "publish.h"
#include "slotdump.h"
#include "stateid.h"
#include "unit.h"

static char root[128];

struct shape {
	int n; /* services s-0 .. s-(n-1), each with an EndpointSlice */
	int eps; /* endpoints per service */
	int bump_from, bump_to; /* these services get one endpoint more */
	bool variant; /* web routes 70/30, a second externalIP, other NetworkPolicy,
			 s-(n-1) replaced by s-new, s-0 renamed s-re0 at the same
			 address, pod web-3 moved to subset v2 (the last two rename
			 a service and a pair: names written for both slots) */
};

static size_t gen_services(char *b, size_t cap, const struct shape *s)
{
	size_t len = 0;

	for (int i = 0; i < s->n; i++) {
		int m = s->eps + (i >= s->bump_from && i < s->bump_to);
		bool renamed = s->variant && i == s->n - 1;
		const char *pre = renamed ? "new" : s->variant && i == 0 ? "re" : "";

		len += (size_t)snprintf(b + len, cap - len,
			"apiVersion: v1\nkind: Service\nmetadata: {name: s-%s%d, namespace: t}\n"
			"spec: {clusterIP: 10.96.2.%d, ports: [{port: 80, targetPort: 8080}]}\n---\n"
			"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			"metadata: {name: s-%d, namespace: t, labels: {kubernetes.io/service-name: s-%s%d}}\n"
			"addressType: IPv4\nports: [{port: 8080}]\nendpoints:\n",
			pre, i, i + (renamed ? 100 : 1), i, pre, i);
		for (int j = 0; j < m; j++)
			len += (size_t)snprintf(b + len, cap - len, "- addresses: [127.2.%d.%d]\n", i,
						j + 1);
		len += (size_t)snprintf(b + len, cap - len, "---\n");
	}
	return len;
}

static size_t gen_web(char *b, size_t cap, const struct shape *s)
{
	size_t len = (size_t)snprintf(b, cap,
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: t, labels: {team: a}}\n---\n"
		"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: t}\n"
		"spec:\n  type: NodePort\n  clusterIP: 10.96.3.1\n  selector: {app: web}\n"
		"  externalIPs: [198.51.100.10%s]\n"
		"  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]\n---\n"
		"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
		"metadata: {name: web, namespace: t}\nspec:\n  host: web\n"
		"  trafficPolicy: {connectionPool: {tcp: {maxConnections: 50}}}\n  subsets:\n"
		"  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n---\n"
		"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		"metadata: {name: web, namespace: t}\nspec:\n  hosts: [web]\n  tcp:\n"
		"  - route:\n    - {destination: {host: web, subset: v1}, weight: %d}\n"
		"    - {destination: {host: web, subset: v2}, weight: %d}\n---\n",
		s->variant ? ", 198.51.100.11" : "", s->variant ? 70 : 80, s->variant ? 30 : 20);

	for (int i = 1; i <= 4; i++)
		len += (size_t)snprintf(b + len, cap - len,
			"apiVersion: v1\nkind: Pod\nmetadata: {name: web-%d, namespace: t, "
			"labels: {app: web, version: v%d}}\nstatus: {phase: Running, podIP: 10.244.0.%d}\n"
			"spec: {containers: [{name: c}]}\n---\n", i,
			i <= 2 || (i == 3 && !s->variant) ? 1 : 2, i);
	return len;
}

static size_t gen_netpol(char *b, size_t cap, const struct shape *s)
{
	if (!s->variant)
		return (size_t)snprintf(b, cap,
			"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			"metadata: {name: v2-in, namespace: t}\nspec:\n"
			"  podSelector: {matchLabels: {version: v2}}\n  policyTypes: [Ingress]\n"
			"  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]\n"
			"    ports: [{protocol: TCP, port: 8080}, {protocol: TCP, port: 9000, endPort: 9100}]\n---\n"
			"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			"metadata: {name: v1-out, namespace: t}\nspec:\n"
			"  podSelector: {matchLabels: {version: v1}}\n  policyTypes: [Egress]\n"
			"  egress:\n  - to: [{ipBlock: {cidr: 192.0.2.0/24}}]\n");
	return (size_t)snprintf(b, cap,
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		"metadata: {name: v2-in, namespace: t}\nspec:\n"
		"  podSelector: {matchLabels: {version: v2}}\n  policyTypes: [Ingress]\n"
		"  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.2.0.0/16]}},"
		" {ipBlock: {cidr: 203.0.113.0/24}}]\n"
		"    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 8443}]\n");
}

static char *gen(const struct shape *s)
{
	size_t cap = 1 << 20, len = 0;
	char *b = malloc(cap);

	len += gen_services(b + len, cap - len, s);
	len += gen_web(b + len, cap - len, s);
	gen_netpol(b + len, cap - len, s);
	return b;
}

static int apply_text(const char *name, const char *text)
{
	struct sl_source src = { name, text, strlen(text) };
	struct sl_apply_result r;
	struct sl_diags d = { 0 };
	int err = sl_apply(root, &src, 1, SL_APPLY_REPLACE, false, &d, &r);

	if (err)
		sl_diags_print(&d, stdout);
	sl_diags_free(&d);
	return err;
}

/* Canonical dump of SLOT (-1: active, -2: inactive), malloc'd. */
static char *dump(int which)
{
	struct sl_config cfg;
	struct sl_maps m;
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	int err = sl_maps_open(root, &m);

	if (!err)
		err = sl_read_config(&m, &cfg);
	if (!err)
		err = sl_slot_dump(&m, which == -1 ? cfg.active_slot : which == -2 ? !cfg.active_slot
										      : (__u32)which, f);
	fclose(f);
	sl_maps_close(&m);
	if (err) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Both slots equal WANT (NULL: equal each other) and are marked synced;
 * the state maps hold exactly the records the policy owns (nothing
 * connects here; WANT_EPS SIZE_MAX: not checked). */
static const char *check_slots(const char *want, char *why, size_t len, size_t want_eps,
			       size_t want_groups)
{
	struct sl_state_maps sm;
	struct sl_config cfg;
	struct sl_maps m;
	char *a = dump(-1), *b = dump(-2);
	const char *res = NULL;
	long eps = -1, groups = -1;

	if (!a || !b || sl_maps_open(root, &m)) {
		free(a);
		free(b);
		return "cannot dump the slots";
	}
	if (want && strcmp(a, want)) {
		res = "the live slot is not the policy just applied";
	} else if (strcmp(a, b)) {
		res = "the inactive slot differs from the live one";
	} else if (sl_read_config(&m, &cfg) || !sl_slots_synced(&cfg)) {
		snprintf(why, len, "slots not marked synced (synced_gen %u, generation %u)",
			 cfg.synced_gen, cfg.generation);
		res = why;
	}
	sl_state_maps_of(&m, &sm);
	eps = (long)sl_stateid_assigned(&sm, true);
	groups = (long)sl_stateid_assigned(&sm, false);
	if (!res && want_eps != SIZE_MAX &&
	    ((size_t)eps != want_eps || (size_t)groups != want_groups)) {
		snprintf(why, len, "state maps hold %ld endpoint and %ld group records, want %zu "
			 "and %zu", eps, groups, want_eps, want_groups);
		res = why;
	}
	sl_maps_close(&m);
	free(a);
	free(b);
	return res;
}

/* Apply TEXT in a child that dies after write N. 1: killed, 0: finished. */
static int crash_apply(const char *text, unsigned long n)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		char v[32];

		snprintf(v, sizeof(v), "%lu", n);
		setenv("SLUICE_TEST_KILL_AFTER_WRITE", v, 1);
		_exit(apply_text("new.yaml", text) ? 3 : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		return 1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

struct run {
	const char *name;
	const char *old, *new, *next; /* policy texts */
	char *d_old, *d_new, *d_next; /* canonical live slot after each */
	size_t next_eps, next_groups; /* state records NEXT owns */
};

/* One N: reset to OLD, crash NEW after write N, check, recover, check.
 * The expected dumps were checked against the store once (expect()); a
 * dump holds the store's digest, so equal dumps mean an agreeing store. */
static const char *one_step(const struct run *r, unsigned long n, bool *done, char *why,
			    size_t len)
{
	const char *res = NULL;
	char *live;
	int killed;

	if (apply_text("old.yaml", r->old))
		return "cannot apply the old policy";
	killed = crash_apply(r->new, n);
	live = dump(-1);
	if (killed < 0 || !live) {
		res = "the apply failed instead of dying or finishing";
	} else if (strcmp(live, r->d_old) && strcmp(live, r->d_new)) {
		snprintf(why, len, "killed after write %lu: the live slot is neither the old nor "
			 "the new policy (or the store disagrees with it)", n);
		res = why;
	} else if (!killed && strcmp(live, r->d_new)) {
		res = "the apply finished but the new policy is not live";
	}
	*done = killed == 0;
	if (!res && n % 2)
		res = sl_repair(root, true, true) < 0 ? "sl_repair failed" :
						   check_slots(live, why, len, SIZE_MAX, SIZE_MAX);
	if (!res && apply_text("next.yaml", r->next))
		res = "the next apply failed";
	if (!res)
		res = check_slots(r->d_next, why, len, r->next_eps, r->next_groups);
	if (res && res != why) {
		snprintf(why, len, "killed after write %lu: %.200s", n, res);
		res = why;
	}
	free(live);
	return res;
}

static void crash_every_write(const struct run *r)
{
	char why[4096];
	const char *bad = NULL;
	bool done = false;
	unsigned long n;

	for (n = 1; !bad && !done && n < 100000; n++)
		bad = one_step(r, n, &done, why, sizeof(why));
	if (bad)
		result(r->name, "%s", bad);
	else if (n < 20)
		result(r->name, "only %lu writes: the policy does not span the maps", n - 1);
	else
		result(r->name, NULL);
	printf("# %s: killed after each of %lu writes\n", r->name, n - 2);
}

/* The canonical live slot after FIRST then THEN (ring sizes depend on
 * what was live before), checked against the store; NULL on failure. */
static char *expect(const char *first, const char *fname, const char *then, const char *tname)
{
	struct sl_config cfg;
	struct sl_maps m;
	char *d;
	int v = -1;

	if (apply_text(fname, first) || apply_text(tname, then) || sl_maps_open(root, &m))
		return NULL;
	if (!sl_read_config(&m, &cfg))
		v = sl_slot_verify(&m, cfg.active_slot, NULL);
	sl_maps_close(&m);
	d = dump(-1);
	if (v != 1) {
		free(d);
		return NULL;
	}
	return d;
}

/* State records the policy just applied owns. */
static void owned_state(size_t *eps, size_t *groups)
{
	struct sl_state_maps sm;
	struct sl_maps m;

	*eps = *groups = SIZE_MAX;
	if (sl_maps_open(root, &m))
		return;
	sl_state_maps_of(&m, &sm);
	*eps = sl_stateid_assigned(&sm, true);
	*groups = sl_stateid_assigned(&sm, false);
	sl_maps_close(&m);
}

static void run_all(void)
{
	const struct shape s_old = { 10, 3, 0, 0, false }, s_small = { 10, 3, 0, 2, true },
			   s_big = { 10, 4, 0, 0, true }, s_next = { 10, 3, 8, 9, false };
	char *old = gen(&s_old), *small = gen(&s_small), *big = gen(&s_big), *next = gen(&s_next);
	struct run runs[2] = {
		{ "crash/every-write-incremental", old, small, next, NULL, NULL, NULL, 0, 0 },
		{ "crash/every-write-whole-slot", old, big, next, NULL, NULL, NULL, 0, 0 },
	};

	for (size_t i = 0; i < 2; i++) {
		struct run *r = &runs[i];

		r->d_new = expect(old, "old.yaml", r->new, "new.yaml");
		r->d_old = expect(next, "next.yaml", old, "old.yaml");
		r->d_next = expect(old, "old.yaml", next, "next.yaml");
		owned_state(&r->next_eps, &r->next_groups);
		if (!r->d_new || !r->d_old || !r->d_next || r->next_eps == SIZE_MAX)
			result(r->name, "cannot apply the policies without faults");
		else
			crash_every_write(r);
		free(r->d_new);
		free(r->d_old);
		free(r->d_next);
	}
	free(old);
	free(small);
	free(big);
	free(next);
}

int main(void)
{
	struct sl_load_opts o = { .no_attach = true };
	int err;

	snprintf(root, sizeof(root), "/sys/fs/bpf/sluice-crash-%d", getpid());
	o.pin_root = root;
	if (geteuid() != 0 || sl_check_bpffs(root)) {
		printf("skip crash/all: missing root privileges or bpffs at /sys/fs/bpf\n");
		return 0;
	}
	err = sl_load(&o);
	if (err) {
		result("crash/load-maps", "sl_load: %s", strerror(-err));
		sl_unload(root);
		return 1;
	}
	run_all();
	sl_unload(root);
	return failures ? 1 : 0;
}
