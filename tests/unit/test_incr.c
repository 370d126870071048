// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The incremental compile (user/policy/incr.c) against the whole compile,
 * on random policies and random changes: after every change, either the
 * incremental compile declines (-EAGAIN), or
 *
 *   - the whole compile of the new policy succeeds (an invalid policy is
 *     never accepted incrementally);
 *   - the old tables it gives for the affected units are the whole old
 *     compile's, and the whole old tables with those units replaced by
 *     the new ones it gives are the whole new compile's (services, rows,
 *     names, node-ingress frontends; NetworkPolicy tables when it says
 *     they changed, else the whole compiles agree that they did not);
 *   - the model it leaves equals a model made from the new policy from
 *     scratch (every summary: keys, VIPs, frontends).
 *
 * The random world spans what the compiler reads across objects: Services
 * with and without addresses (allocated VIPs), selectors and EndpointSlices
 * with Pod references, ServiceEntries with inline endpoints and
 * WorkloadEntries, DestinationRules with subsets, VirtualServices routing
 * across services and namespaces, PeerAuthentication and
 * AuthorizationPolicy (namespace, root namespace, selectors on the labels
 * of Pods, ServiceEntry endpoints and WorkloadEntries), node ingress
 * (externalIPs, NodePorts), Namespaces and NetworkPolicy. Stored objects
 * are fetched through the callback, as from the store. The seed is fixed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "unit.h"

/* ---- a random world ------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

enum slot_kind { S_SVC, S_SLICE, S_POD, S_SE, S_WE, S_DR, S_VS, S_PA, S_AUTHZ, S_NP, S_NS, S__N };

/* One object slot: KIND in namespace NS, number I, with random knobs P[]
 * (P[0] == 0: absent). */
struct slot {
	enum slot_kind kind;
	int ns, i;
	unsigned p[8];
};

static const char *const nss[] = { "a", "b", "istio-system" };
static const int per_kind[S__N] = { 5, 5, 6, 3, 3, 5, 3, 2, 2, 2, 1 };

static struct slot world[128];
static size_t n_world;

static void roll(struct slot *s)
{
	s->p[0] = rnd(4) != 0; /* present 3 times in 4 */
	for (int k = 1; k < 8; k++)
		s->p[k] = rnd(6);
}

static void world_init(void)
{
	n_world = 0;
	for (int k = 0; k < S__N; k++)
		for (int ns = 0; ns < 2; ns++)
			for (int i = 0; i < per_kind[k]; i++) {
				struct slot *s = &world[n_world++];

				s->kind = (enum slot_kind)k;
				s->ns = ns;
				s->i = i;
				roll(s);
			}
	/* The root namespace: mesh-wide policies. */
	world[n_world] = (struct slot){ S_PA, 2, 0, { 0 } };
	roll(&world[n_world++]);
}

struct buf {
	char *v;
	size_t n, cap;
};

static void out(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->v + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		if ((size_t)n < b->cap - b->n)
			break;
		b->cap = b->cap * 2 + (size_t)n + 256;
		b->v = realloc(b->v, b->cap);
	}
	b->n += (size_t)n;
}

static void gen_svc(struct buf *b, const struct slot *s, const char *ns)
{
	const unsigned *p = s->p;

	out(b, "apiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: %s}\nspec:\n",
	    s->i, ns);
	if (p[1] < 4)
		out(b, "  clusterIP: 10.96.%d.%u\n", s->ns, 10 + s->i * 2 + (p[1] == 3));
	else if (p[1] == 5 && s->i == 4)
		out(b, "  clusterIP: None\n");
	if (p[2] >= 3)
		out(b, "  selector: {app: p%u}\n", p[2] - 3);
	if (p[3] == 1)
		out(b, "  type: NodePort\n");
	if (p[3] == 2)
		out(b, "  externalIPs: [198.51.100.%d]\n", 10 * s->ns + s->i + (p[6] == 0));
	if (p[4] == 0)
		out(b, "  ports: [{port: 53, protocol: UDP, targetPort: 53%s}]\n",
		    p[3] == 1 ? ", nodePort: 30053" : "");
	else
		out(b, "  ports:\n  - {name: http, port: 80, targetPort: 8080%s}\n%s%s",
		    p[3] == 1 ? ", nodePort: 30080" : "",
		    p[4] >= 4 ? "  - {name: https, port: 443, targetPort: 8443" : "",
		    p[4] < 4 ? "" : p[3] == 1 ? ", nodePort: 30443}\n" : "}\n");
}

static void gen_slice(struct buf *b, const struct slot *s, const char *ns)
{
	const unsigned *p = s->p;

	out(b, "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	    "metadata: {name: s%d-x, namespace: %s, labels: {kubernetes.io/service-name: s%u}}\n"
	    "addressType: IPv4\nports: [{name: http, port: 8080}, {name: https, port: 8443}]\n"
	    "endpoints:\n", s->i, ns, p[1] % 5);
	for (unsigned j = 0; j < p[2] % 4; j++) {
		out(b, "- addresses: [10.1.%d.%u]\n", 10 * s->ns + s->i, j + 1 + p[5]);
		if (p[3] & (1u << j))
			out(b, "  targetRef: {kind: Pod, name: pod%u, namespace: %s}\n", (j + p[4]) % 6,
			    p[6] == 5 ? nss[!s->ns] : ns);
		if (j == 2 && p[5] == 1)
			out(b, "  conditions: {ready: false}\n");
	}
	if (!(p[2] % 4))
		out(b, "  []\n");
}

/* P[5] picks what NetworkPolicy reads besides labels: 1 hostNetwork, 2 a
 * finished pod, 3 a second (IPv6) address, 4 the address of
 * a pod of the other namespace (an error once a policy selects either). */
static void gen_pod(struct buf *b, const struct slot *s, const char *ns)
{
	const unsigned *p = s->p;
	unsigned i = (unsigned)s->i, host = i + 1 + 10 * (p[4] == 5);
	int net = s->ns;

	if (p[5] == 4) {
		net = !s->ns;
		host = (i + 1) % 6 + 1;
	}
	out(b, "apiVersion: v1\nkind: Pod\nmetadata: {name: pod%d, namespace: %s, "
	    "labels: {app: p%u, version: v%u}}\n"
	    "spec: {%scontainers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}\n"
	    "status: {phase: %s, podIP: 10.2.%d.%u",
	    s->i, ns, p[1] % 3, 1 + p[2] % 2, p[5] == 1 ? "hostNetwork: true, " : "",
	    p[5] == 2 ? "Succeeded" : p[3] == 5 ? "Pending" : "Running", net, host);
	if (p[5] == 3)
		out(b, ", podIPs: [{ip: 10.2.%d.%u}, {ip: \"fd00::%d:%u\"}]", net, host, net, host);
	out(b, "}\n");
}

static void gen_se(struct buf *b, const struct slot *s, const char *ns)
{
	const unsigned *p = s->p;

	out(b, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	    "metadata: {name: e%d, namespace: %s}\nspec:\n  hosts: [e%u.ext.example.com%s]\n",
	    s->i, ns, s->i + 3 * (p[1] == 5), p[2] == 1 ? ", alias.ext.example.com" : "");
	if (p[3] < 4)
		out(b, "  addresses: [10.97.%d.%u]\n", s->ns, s->i + 1 + p[3]);
	out(b, "  location: MESH_INTERNAL\n  resolution: STATIC\n"
	    "  ports: [{number: 80, name: http, protocol: TCP}]\n");
	if (p[4] >= 3)
		out(b, "  workloadSelector: {labels: {app: w%u}}\n", p[4] - 3);
	else
		out(b, "  endpoints:\n  - {address: 10.3.%d.%d, weight: %u}\n"
		    "  - {address: 10.3.%d.%u, labels: {version: v2}}\n",
		    s->ns, s->i + 1, 1 + p[5], s->ns, 100 + p[6]);
}

static void gen_we(struct buf *b, const struct slot *s, const char *ns)
{
	out(b, "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"
	    "metadata: {name: w%d, namespace: %s}\nspec: {address: 10.4.%d.%u, "
	    "labels: {app: w%u, version: v%u}}\n", s->i, ns, s->ns, s->i + 1 + s->p[1],
	    s->p[2] % 3, 1 + s->p[3] % 2);
}

/* A host a DestinationRule or VirtualService names: a Service by short
 * name, by FQDN in the other namespace, or a ServiceEntry host. */
static void host_of(char *h, size_t len, unsigned a, unsigned b, int ns)
{
	if (a < 3)
		snprintf(h, len, "s%u", b % 5);
	else if (a < 5)
		snprintf(h, len, "s%u.%s.svc.cluster.local", b % 5, nss[!ns]);
	else
		snprintf(h, len, "e%u.ext.example.com", b % 3);
}

static void gen_dr(struct buf *b, const struct slot *s, const char *ns)
{
	const unsigned *p = s->p;
	char h[128];

	host_of(h, sizeof(h), p[1], p[2], s->ns);
	out(b, "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	    "metadata: {name: d%d, namespace: %s}\nspec:\n  host: %s\n", s->i, ns, h);
	if (p[3] >= 2)
		out(b, "  trafficPolicy:\n    loadBalancer: {simple: %s}\n%s",
		    p[3] == 2 ? "ROUND_ROBIN" : p[3] == 3 ? "LEAST_CONN" : "RANDOM",
		    p[4] == 1 ? "    connectionPool: {tcp: {maxConnections: 7}}\n" : "");
	if (p[5] >= 2)
		out(b, "  subsets:\n  - {name: v1, labels: {version: v1}}\n"
		    "  - {name: v2, labels: {version: v2}}\n");
}

static void gen_vs(struct buf *b, const struct slot *s, const char *ns)
{
	const unsigned *p = s->p;
	char h[128], d1[128], d2[128];

	host_of(h, sizeof(h), p[1] % 5, p[2], s->ns);
	host_of(d1, sizeof(d1), p[3], p[4], s->ns);
	host_of(d2, sizeof(d2), p[5], p[6], s->ns);
	out(b, "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	    "metadata: {name: v%d, namespace: %s}\nspec:\n  hosts: [%s]\n  tcp:\n  - route:\n"
	    "    - destination: {host: %s%s}\n      weight: %u\n"
	    "    - destination: {host: %s}\n      weight: %u\n",
	    s->i, ns, h, d1, p[7] == 1 ? ", subset: v1" : "", 10 * (1 + p[7]), d2,
	    100 - 10 * (1 + p[7]));
}

static void gen_pa(struct buf *b, const struct slot *s, const char *ns)
{
	static const char *const sel[6] = {
		"", "", "", "", "  selector: {matchLabels: {app: p0}}\n",
		"  selector: {matchLabels: {app: w0}}\n",
	};

	out(b, "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
	    "metadata: {name: pa%d, namespace: %s}\nspec:\n%s  mtls: {mode: %s}\n", s->i, ns,
	    sel[s->p[1]], s->p[2] >= 3 ? "STRICT" : "PERMISSIVE");
}

static void gen_authz(struct buf *b, const struct slot *s, const char *ns)
{
	/* Selectors on a Pod's label, on the label of a ServiceEntry endpoint
	 * (and of Pods), and on two labels of WorkloadEntries. */
	static const char *const sel[6] = {
		"", "", "  selector: {matchLabels: {app: p1}}\n",
		"  selector: {matchLabels: {app: p1}}\n", "  selector: {matchLabels: {version: v2}}\n",
		"  selector: {matchLabels: {app: w1, version: v1}}\n",
	};

	out(b, "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	    "metadata: {name: az%d, namespace: %s}\nspec:\n%s  action: ALLOW\n"
	    "  rules:\n  - from: [{source: {principals: [x]}}]\n    to: [{operation: {ports: [\"80\"]}}]\n",
	    s->i, ns, sel[s->p[1]]);
}

/* A label selector over the pods' labels, by knob K: one label, none
 * (every pod), an expression, two labels, another expression. */
static void gen_sel(struct buf *b, unsigned k, unsigned app)
{
	static const char *const fmt[] = {
		"{matchLabels: {app: p%u}}",
		"{}",
		"{matchExpressions: [{key: app, operator: In, values: [p%u, p9]}]}",
		"{matchLabels: {app: p%u, version: v1}}",
		"{matchExpressions: [{key: app, operator: NotIn, values: [p%u]}]}",
		"{matchLabels: {version: v2}}",
	};

	out(b, fmt[k % 6], app);
}

/* P[4] the policy's selector (mostly by labels: one that selects pods
 * by namespace alone makes the incremental compile read every pod); P[5]
 * its ingress peer: pods by a label, by an expression or all (P[7] != 0),
 * an ipBlock, pods of namespaces with a label (P[7] == 0); P[6] < 2: an
 * egress rule too. */
static void gen_np(struct buf *b, const struct slot *s, const char *ns)
{
	static const unsigned own[6] = { 0, 3, 5, 0, 1, 2 };
	const unsigned *p = s->p;
	unsigned k = own[p[4]], peer = p[5];

	if ((k == 1 && p[7]) || (k == 2 && p[7] > 2))
		k = 0;
	if (k == 2 && p[7] == 2)
		k = 4;
	out(b, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	    "metadata: {name: np%d, namespace: %s}\nspec:\n  podSelector: ", s->i, ns);
	gen_sel(b, k, p[1] % 3);
	out(b, "\n  ingress:\n  - from: [{");
	if ((peer == 1 || peer == 4) && !p[7])
		out(b, "namespaceSelector: {matchLabels: {team: t%u}}%s", p[2] % 2, peer == 4 ? ", " : "");
	if (peer == 2)
		out(b, "ipBlock: {cidr: 10.2.0.0/16, except: [10.2.%u.0/24]}", p[7] % 2);
	else if (peer != 1 || p[7]) {
		out(b, "podSelector: ");
		gen_sel(b, peer == 1 ? 1 : peer == 3 ? 2 : peer == 4 || peer == 5 ? 5 : 0, p[2] % 3);
	}
	out(b, "}]\n    ports: [{port: %u}]\n", 8080 + p[3]);
	if (p[6] < 2) {
		out(b, "  egress:\n  - to: [{podSelector: ");
		gen_sel(b, p[6] ? 3 : 4, p[7] % 3);
		out(b, "}]\n");
	}
}

static void gen_ns(struct buf *b, const struct slot *s, const char *ns)
{
	(void)ns;
	out(b, "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: {team: t%u}}\n",
	    nss[s->ns], s->p[1] % 2);
}

static void (*const gens[S__N])(struct buf *, const struct slot *, const char *) = {
	gen_svc, gen_slice, gen_pod, gen_se, gen_we, gen_dr, gen_vs, gen_pa, gen_authz,
	gen_np, gen_ns,
};

/* The slot a source name "kK-NS-I.yaml" stands for. */
static struct slot *slot_of(const char *file)
{
	int k, ns, i;

	if (!file || sscanf(file, "k%d-%d-%d.yaml", &k, &ns, &i) != 3)
		return NULL;
	for (size_t j = 0; j < n_world; j++)
		if ((int)world[j].kind == k && world[j].ns == ns && world[j].i == i)
			return &world[j];
	return NULL;
}

static struct sl_policy *load_world(struct sl_diags *d);

/* Drop the objects the compiler has errors for until the world compiles:
 * random worlds are mostly invalid otherwise (two DestinationRules for
 * one host, a route to a service that is absent). */
static void repair(void)
{
	for (int tries = 0; tries < 40; tries++) {
		struct sl_diags d = { 0 };
		struct sl_policy *p = load_world(&d);
		struct sl_tables t;
		bool bad = d.n_errors || sl_policy_compile(p, NULL, &t, &d);

		if (!bad)
			sl_tables_free(&t);
		for (size_t i = 0; i < d.n; i++) {
			struct slot *s = d.v[i].sev == SL_SEV_ERROR ? slot_of(d.v[i].file) : NULL;

			if (s)
				s->p[0] = 0;
		}
		sl_diags_free(&d);
		sl_policy_free(p);
		if (!bad)
			return;
	}
}

/* Every present object, each from its own source "k-ns-i.yaml". */
static struct sl_policy *load_world(struct sl_diags *d)
{
	struct sl_policy *p = sl_policy_new();

	for (size_t i = 0; i < n_world; i++) {
		const struct slot *s = &world[i];
		struct buf b = { 0 };
		char name[64];

		if (!s->p[0])
			continue;
		gens[s->kind](&b, s, nss[s->ns]);
		snprintf(name, sizeof(name), "k%d-%d-%d.yaml", s->kind, s->ns, s->i);
		sl_policy_load(p, name, b.v, b.n, d);
		free(b.v);
	}
	return p;
}

/* ---- canonical tables ------------------------------------------------------ */

/* One line per frontend: FE -> hash of everything a reader sees of it,
 * rows included, with row placement and ids left out. */
struct line {
	struct sl_l4addr fe;
	uint64_t h;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return h;
}

static int cmp_line(const void *a, const void *b)
{
	return memcmp(&((const struct line *)a)->fe, &((const struct line *)b)->fe,
		      sizeof(struct sl_l4addr));
}

static struct line *svc_lines(const struct sl_tables *t, size_t *n)
{
	struct line *v = calloc(t->n_svcs + 1, sizeof(*v));

	for (size_t i = 0; i < t->n_svcs; i++) {
		struct sl_table_svc s = t->svcs[i];
		uint64_t h = 0xcbf29ce484222325ull;

		s.val.id = 0;
		for (unsigned g = 0; g < s.val.n_groups && g < SL_MAX_GROUPS; g++) {
			const struct sl_group *gr = &t->svcs[i].val.groups[g];

			for (__u32 r = 0; r < gr->count; r++) {
				const struct sl_table_backend *be = &t->backends[gr->first + r];

				h = fnv(h, &be->be, sizeof(be->be));
				h = fnv(h, &be->meta, sizeof(be->meta));
				h = fnv(h, be->labels, sizeof(be->labels));
				h = fnv(h, &be->group, sizeof(be->group));
			}
			s.val.groups[g].first = 0;
		}
		v[i] = (struct line){ s.fe, fnv(h, &s, sizeof(s)) };
	}
	qsort(v, t->n_svcs, sizeof(*v), cmp_line);
	*n = t->n_svcs;
	return v;
}

static struct line *ing_lines(const struct sl_tables *t, size_t *n)
{
	struct line *v = calloc(t->n_ingress + 1, sizeof(*v));

	for (size_t i = 0; i < t->n_ingress; i++) {
		uint64_t h = fnv(0xcbf29ce484222325ull, &t->svcs[t->ingress[i].svc].fe,
				 sizeof(struct sl_l4addr));

		v[i] = (struct line){ t->ingress[i].fe, fnv(h, &t->ingress[i].kind, 4) };
	}
	qsort(v, t->n_ingress, sizeof(*v), cmp_line);
	*n = t->n_ingress;
	return v;
}

static const struct line *find_line(const struct line *v, size_t n, const struct sl_l4addr *fe)
{
	struct line k = { .fe = *fe };

	return bsearch(&k, v, n, sizeof(*v), cmp_line);
}

/* WHOLE_OLD with the frontends of PART_OLD replaced by PART_NEW equals
 * WHOLE_NEW, and PART_OLD agrees with WHOLE_OLD. */
static const char *splice_check(struct line *(*lines)(const struct sl_tables *, size_t *),
				const struct sl_tables *wo, const struct sl_tables *wn,
				const struct sl_tables *po, const struct sl_tables *pn,
				const char *what, char *why, size_t len)
{
	size_t n_wo, n_wn, n_po, n_pn, n_ex = 0;
	struct line *lwo = lines(wo, &n_wo), *lwn = lines(wn, &n_wn);
	struct line *lpo = lines(po, &n_po), *lpn = lines(pn, &n_pn);
	struct line *ex = calloc(n_wo + n_pn + 1, sizeof(*ex));
	const char *res = NULL;

	for (size_t i = 0; i < n_po && !res; i++) {
		const struct line *w = find_line(lwo, n_wo, &lpo[i].fe);

		if (!w || w->h != lpo[i].h) {
			snprintf(why, len, "%s: an old %s of an affected unit is not the whole "
				 "compile's", what, w ? "frontend" : "frontend that did not exist");
			res = why;
		}
	}
	for (size_t i = 0; i < n_wo; i++)
		if (!find_line(lpo, n_po, &lwo[i].fe))
			ex[n_ex++] = lwo[i];
	for (size_t i = 0; i < n_pn; i++)
		ex[n_ex++] = lpn[i];
	qsort(ex, n_ex, sizeof(*ex), cmp_line);
	if (!res && (n_ex != n_wn || memcmp(ex, lwn, n_ex * sizeof(*ex)))) {
		size_t i = 0;

		while (i < n_ex && i < n_wn && !memcmp(&ex[i], &lwn[i], sizeof(*ex)))
			i++;
		snprintf(why, len, "%s: spliced tables differ from the whole compile at entry %zu "
			 "(%zu spliced, %zu whole; frontend port %u)", what, i, n_ex, n_wn,
			 i < n_wn ? __builtin_bswap16(lwn[i].fe.port) :
			 i < n_ex ? __builtin_bswap16(ex[i].fe.port) : 0);
		res = why;
	}
	free(lwo);
	free(lwn);
	free(lpo);
	free(lpn);
	free(ex);
	return res;
}

#define SAME_ROWS(a, b, v, n) \
	((a)->n == (b)->n && (!(a)->n || !memcmp((a)->v, (b)->v, (a)->n * sizeof(*(a)->v))))

static bool np_same(const struct sl_tables *a, const struct sl_tables *b)
{
	return SAME_ROWS(a, b, np_pods, n_np_pods) && SAME_ROWS(a, b, np_prefixes, n_np_prefixes) &&
	       SAME_ROWS(a, b, np_portsets, n_np_portsets);
}

/* ---- the model ----------------------------------------------------------- */

static bool same_arr(const void *a, size_t na, const void *b, size_t nb, size_t sz)
{
	return na == nb && (!na || !memcmp(a, b, na * sz));
}

static const char *sum_diff(const struct sl_osum *a, const struct sl_osum *b)
{
	if (a->hash != b->hash || a->rec_len != b->rec_len || a->text_hash != b->text_hash)
		return "record";
	if (a->flags != b->flags || a->n_ports != b->n_ports)
		return "unit facts";
	if (!same_arr(a->provides, a->n_provides, b->provides, b->n_provides, 8) ||
	    !same_arr(a->needs, a->n_needs, b->needs, b->n_needs, 8))
		return "keys";
	if (!same_arr(a->vips, a->n_vips, b->vips, b->n_vips, sizeof(*a->vips)) ||
	    memcmp(&a->alloc, &b->alloc, sizeof(a->alloc)))
		return "VIPs";
	if (!same_arr(a->fes, a->n_fes, b->fes, b->n_fes, sizeof(*a->fes)))
		return "frontends";
	if (!same_arr(a->ing, a->n_ing, b->ing, b->n_ing, sizeof(*a->ing)))
		return "node-ingress frontends";
	if (!same_arr(a->np, a->n_np, b->np, b->n_np, 1))
		return "NetworkPolicy bytes";
	return NULL;
}

/* Every object of FRESH has the same summary in M, and M has no more. */
static const char *model_check(const struct sl_model *m, const struct sl_model *fresh, char *why,
			       size_t len)
{
	if (sl_model_count(m) != sl_model_count(fresh)) {
		snprintf(why, len, "the model holds %zu objects, the policy %zu", sl_model_count(m),
			 sl_model_count(fresh));
		return why;
	}
	for (size_t i = 0; i < sl_model_slots(fresh); i++) {
		const struct sl_osum *f = sl_model_sum(fresh, i, NULL, NULL), *s = NULL;
		const char *d;

		for (size_t j = 0; f && !s && j < sl_model_slots(m); j++) {
			const struct sl_osum *x = sl_model_sum(m, j, NULL, NULL);

			if (x && !sl_osum_cmp(x, f))
				s = x;
		}
		if (!f)
			continue;
		d = s ? sum_diff(s, f) : "missing";
		if (d) {
			snprintf(why, len, "the model's %s %s/%s differs from a fresh one: %s",
				 sl_kind_name(f->kind), f->ns, f->name, d);
			return why;
		}
	}
	return NULL;
}

/* What the model keeps so that an apply costs what it changed (the dirty
 * list, its totals, the slots of each tag) says what a pass over every
 * slot says. */
static const char *model_kept_check(struct sl_model *m, char *why, size_t len)
{
	size_t n = sl_model_slots(m), units = 0, nd, marked = 0, untagged = 0;
	const uint32_t *dirty;
	uint64_t raw = 0;
	bool ing = false;
	uint32_t max_tag = 0;

	for (size_t i = 0; i < n; i++) {
		bool d;
		const struct sl_osum *s = sl_model_sum(m, i, &d, NULL);

		marked += d;
		untagged += !sl_model_tag(m, i);
		if (sl_model_tag(m, i) > max_tag)
			max_tag = sl_model_tag(m, i);
		if (!s)
			continue;
		units += !!(s->flags & SL_OSUM_UNIT);
		ing |= s->n_ing > 0;
		raw += s->rec_len;
	}
	if (sl_model_audit(m, why, len))
		return why;
	nd = sl_model_dirty(m, &dirty);
	for (size_t j = 0; j < nd; j++) {
		bool d;

		sl_model_sum(m, dirty[j], &d, NULL);
		for (size_t k = 0; k < j; k++)
			if (dirty[k] == dirty[j])
				d = false;
		if (!d) {
			snprintf(why, len, "slot %u is on the dirty list twice or is not dirty", dirty[j]);
			return why;
		}
	}
	if (nd != marked) {
		snprintf(why, len, "%zu slots on the dirty list, %zu marked dirty", nd, marked);
		return why;
	}
	if (sl_model_units(m) != units || sl_model_has_ingress(m) != ing || sl_model_raw(m) != raw) {
		snprintf(why, len, "totals: units %zu (a pass: %zu), ingress %d (%d), raw %llu (%llu)",
			 sl_model_units(m), units, sl_model_has_ingress(m), ing,
			 (unsigned long long)sl_model_raw(m), (unsigned long long)raw);
		return why;
	}
	if (sl_model_untagged(m) != untagged) {
		snprintf(why, len, "%zu slots untagged, the model says %zu", untagged,
			 sl_model_untagged(m));
		return why;
	}
	for (uint32_t t = 1; t <= max_tag; t++) {
		uint32_t *v = NULL;
		size_t k = 0, at = 0;
		bool same = !sl_model_with_tag(m, t, &v, &k);

		for (size_t i = 0; same && i < n; i++)
			if (sl_model_tag(m, i) == t)
				same = at < k && v[at++] == i;
		free(v);
		if (!same || at != k) {
			snprintf(why, len, "the slots tagged %u are not those a pass finds", t);
			return why;
		}
	}
	return NULL;
}

/* As the store does: the slots it read in bucket runs (tag = bucket + 1),
 * in slot order; new ones tagged after the change; now and then one
 * moved to another tag. */
static void tag_like_store(struct sl_model *m, bool first)
{
	size_t n = sl_model_slots(m);

	for (size_t i = 0; i < n; i++)
		if (!sl_model_tag(m, i) && (first || rnd(8)))
			sl_model_set_tag(m, i, first ? 1 + (uint32_t)(i * 5 / (n + 1)) : 1 + rnd(5));
	if (n && !rnd(3))
		sl_model_set_tag(m, rnd((unsigned)n), rnd(6));
}

/* ---- one step -------------------------------------------------------------- */

struct store {
	const struct sl_model *src; /* holds every stored record */
	size_t fetched;
};

static int fetch(void *ctx, const struct sl_osum *s, char **rec, size_t *len)
{
	struct store *st = ctx;

	for (size_t i = 0; i < sl_model_slots(st->src); i++) {
		const struct sl_osum *x = sl_model_sum(st->src, i, NULL, NULL);

		if (x && !sl_osum_cmp(x, s)) {
			st->fetched++;
			*rec = sl_model_record(st->src, i, len);
			return *rec ? 0 : -ENOMEM;
		}
	}
	return -ENOENT;
}

/* A model of P (tables T) holding summaries only, as read from a store;
 * FULL gets the records (the "store"). */
static struct sl_model *stored_model(const struct sl_policy *p, const struct sl_tables *t,
				     struct sl_model **full)
{
	struct sl_model *m = sl_model_new(NULL);

	*full = sl_model_new(NULL);
	sl_model_from_policy(*full, p, t);
	for (size_t i = 0; i < sl_model_slots(*full); i++)
		if (sl_model_sum(*full, i, NULL, NULL))
			sl_model_add(m, sl_model_sum(*full, i, NULL, NULL), 0, false);
	return m;
}

struct stats {
	size_t steps, incremental, declined, invalid, units, fetched;
	size_t np; /* incremental steps that compiled the NetworkPolicy tables */
	size_t np_kept; /* of those, with the live tables given (new ones compiled only) */
	size_t parse_rejected; /* changes with errors of their own: not compiled */
};

static const char *step(struct stats *st, char *why, size_t len)
{
	struct sl_diags d = { 0 };
	struct sl_policy *po, *pn;
	struct sl_tables to, tn;
	struct sl_model *m, *full, *fresh = NULL;
	struct store store;
	struct sl_incr_out o;
	struct sl_incr_in in = { .replace = true, .fetch = fetch, .fetch_ctx = &store };
	const char *res = NULL;
	bool new_ok, parsed;
	int err = 0, changes = 1 + (int)rnd(3);

	repair(); /* the last step may have left an invalid policy */
	po = load_world(&d);
	if (d.n_errors || sl_policy_compile(po, NULL, &to, &d)) {
		if (getenv("INCR_DEBUG"))
			sl_diags_print(&d, stdout);
		sl_diags_free(&d);
		sl_policy_free(po);
		return NULL; /* an invalid starting point: nothing to compare */
	}
	m = stored_model(po, &to, &full);
	tag_like_store(m, true);
	store.src = full;
	store.fetched = 0;
	while (changes--)
		roll(&world[rnd((unsigned)n_world)]);
	if (rnd(4)) /* mostly valid changes; the others must be declined */
		repair();
	sl_diags_free(&d);
	pn = load_world(&d);
	/* An object with errors of its own (sl_policy_load's checks) is not
	 * in PN: the apply rejects the change before it compiles anything. */
	parsed = !d.n_errors;
	new_ok = parsed && !sl_policy_compile(pn, NULL, &tn, &d);
	in.upserts = pn;
	in.live_svcs = to.n_svcs;
	in.live_backends = to.n_backends;
	in.live_ingress = to.n_ingress;
	/* As the agent does: the live tables kept from the last apply. */
	in.live_np = rnd(2) && !getenv("NOKEEP") ? &to : NULL;
	if (parsed)
		err = sl_incr_compile(m, &in, &o, NULL);
	st->steps++;
	st->fetched += store.fetched;
	if (!parsed) {
		st->parse_rejected++;
	} else if (err == -EAGAIN) {
		st->declined += new_ok;
		st->invalid += !new_ok;
	} else if (err) {
		snprintf(why, len, "sl_incr_compile: %s", strerror(-err));
		res = why;
	} else if (!new_ok) {
		res = "an invalid policy was accepted incrementally";
		sl_incr_out_free(&o);
		if (getenv("INCR_DEBUG"))
			sl_diags_print(&d, stdout);
	} else {
		st->incremental++;
		st->units += o.units;
		st->np += o.np;
		st->np_kept += o.np && in.live_np;
		res = splice_check(svc_lines, &to, &tn, &o.old, &o.new, "services", why, len);
		if (!res)
			res = splice_check(ing_lines, &to, &tn, &o.old, &o.new, "node ingress", why,
					   len);
		if (!res && o.np && !np_same(&o.new, &tn))
			res = "the NetworkPolicy tables it compiled are not the whole compile's";
		/* The publisher writes the difference from the old tables. */
		if (!res && o.np && !np_same(&o.old, &to))
			res = "the old NetworkPolicy tables it compiled are not the whole old compile's";
		if (!res && !o.np && !np_same(&to, &tn))
			res = "the NetworkPolicy tables changed but it did not compile them";
		if (!res) {
			fresh = sl_model_new(NULL);
			sl_model_from_policy(fresh, pn, &tn);
			res = model_check(m, fresh, why, len);
		}
		if (!res) {
			tag_like_store(m, false);
			res = model_kept_check(m, why, len);
		}
		if (!res) {
			sl_model_clean(m);
			res = model_kept_check(m, why, len);
		}
		sl_incr_out_free(&o);
	}
	if (new_ok)
		sl_tables_free(&tn);
	sl_tables_free(&to);
	sl_model_free(m);
	sl_model_free(full);
	sl_model_free(fresh);
	sl_policy_free(po);
	sl_policy_free(pn);
	sl_diags_free(&d);
	return res;
}

static void random_changes(void)
{
	struct stats st = { 0 };
	char why[512];
	const char *res = NULL;

	/* INCR_WORLDS: a longer soak than `make test` runs. */
	int worlds = getenv("INCR_WORLDS") ? atoi(getenv("INCR_WORLDS")) : 8;

	for (int w = 0; w < worlds && !res; w++) {
		world_init();
		repair();
		for (int i = 0; i < 35 && !res; i++)
			res = step(&st, why, sizeof(why));
	}
	printf("# %zu steps: %zu incremental (%zu units, %zu objects fetched, %zu with "
	       "NetworkPolicy tables, %zu of them with the live ones kept), %zu declined, %zu "
	       "invalid policies declined, %zu rejected as parsed\n", st.steps, st.incremental,
	       st.units, st.fetched, st.np, st.np_kept, st.declined, st.invalid, st.parse_rejected);
	if (res)
		result("incr/random-changes-match-whole", "step %zu: %s", st.steps, res);
	else if (st.steps < 250 || st.incremental < st.steps / 3 || !st.invalid ||
		 st.np < st.incremental / 10 || st.np_kept < st.np / 4)
		result("incr/random-changes-match-whole", "only %zu of %zu steps incremental "
		       "(%zu with NetworkPolicy tables)", st.incremental, st.steps, st.np);
	else
		result("incr/random-changes-match-whole", NULL);
}

/* ---- duplicate frontends --------------------------------------------------- */

/* Are T's NetworkPolicy tables those of the whole compile of OLD with
 * CHANGE upserted? */
static bool np_whole(const char *old, const char *change, const struct sl_tables *t)
{
	struct sl_diags d = { 0 };
	struct sl_policy *p = sl_policy_new();
	struct sl_tables w;
	bool same = false;

	sl_policy_load(p, "old.yaml", old, strlen(old), &d);
	sl_policy_load(p, "change.yaml", change, strlen(change), &d);
	if (!d.n_errors && !sl_policy_compile(p, NULL, &w, &d)) {
		same = np_same(t, &w);
		sl_tables_free(&w);
	}
	sl_policy_free(p);
	sl_diags_free(&d);
	return same;
}

/* OLD applied, then CHANGE upserted: sl_incr_compile's result, and in
 * *WHY the reason it declined. With NP_OK: whether it compiled the
 * NetworkPolicy tables, old and new, and they are the whole compiles'. */
static size_t last_fetched; /* stored objects the last incr_np parsed */
/* Whether it skipped the NetworkPolicy tables and the old ones are the
 * whole compile's of the new policy (nothing to compile was right). */
static bool last_np_skipped_right;

static int incr_np(const char *old, const char *change, const char **why, bool *np_ok)
{
	struct sl_diags d = { 0 };
	struct sl_policy *po = sl_policy_new(), *up = sl_policy_new();
	struct sl_tables to;
	struct sl_model *m = NULL, *full = NULL;
	struct store store = { 0 };
	struct sl_incr_out o;
	struct sl_incr_in in = { .upserts = up, .fetch = fetch, .fetch_ctx = &store };
	int err = -EINVAL;

	*why = "the old policy does not compile";
	sl_policy_load(po, "old.yaml", old, strlen(old), &d);
	if (!d.n_errors && !sl_policy_compile(po, NULL, &to, &d)) {
		m = stored_model(po, &to, &full);
		store.src = full;
		sl_policy_load(up, "change.yaml", change, strlen(change), &d);
		in.live_svcs = to.n_svcs;
		in.live_backends = to.n_backends;
		in.live_ingress = to.n_ingress;
		err = sl_incr_compile(m, &in, &o, NULL);
		*why = err == -EAGAIN ? o.whole : NULL;
		last_fetched = store.fetched;
		if (!err && np_ok)
			*np_ok = o.np && np_same(&o.old, &to) && np_whole(old, change, &o.new);
		last_np_skipped_right = !err && !o.np && np_whole(old, change, &to);
		if (!err)
			sl_incr_out_free(&o);
		sl_tables_free(&to);
	}
	sl_model_free(m);
	sl_model_free(full);
	sl_policy_free(po);
	sl_policy_free(up);
	sl_diags_free(&d);
	return err;
}

static int incr_once(const char *old, const char *change, const char **why)
{
	return incr_np(old, change, why, NULL);
}

#define DUP_SVC(name, ip) \
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: a}\n" \
	"spec: {clusterIP: " ip ", ports: [{port: 80, targetPort: 8080}]}\n"

/* A change whose frontend another service already has, or two changed
 * services with one frontend, is declined (the whole compile says which);
 * a frontend nobody else has is not. */
static void duplicate_frontends(void)
{
	static const struct {
		const char *name, *change;
		bool declined;
	} cases[] = {
		{ "moved onto an unchanged service's", DUP_SVC("b", "10.96.0.1"), true },
		{ "a new service on an unchanged one's", DUP_SVC("d", "10.96.0.3"), true },
		{ "two changed services on one", DUP_SVC("b", "10.96.0.9") DUP_SVC("d", "10.96.0.9"), true },
		{ "a free one", DUP_SVC("b", "10.96.0.8") DUP_SVC("d", "10.96.0.9"), false },
	};
	const char *old = DUP_SVC("a", "10.96.0.1") DUP_SVC("b", "10.96.0.2") DUP_SVC("c", "10.96.0.3");
	const char *bad = NULL, *why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !bad; i++) {
		int err = incr_once(old, cases[i].change, &why);

		if (cases[i].declined && !(err == -EAGAIN && why && strstr(why, "one frontend")))
			bad = cases[i].name;
		if (!cases[i].declined && err)
			bad = cases[i].name;
	}
	result("incr/duplicate-frontends-declined", bad ? "%s: wrong" : NULL, bad);
}

#define POD(ns, name, app, ip) \
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: " name ", namespace: " ns ", labels: {app: " \
	app "}}\nstatus: {phase: Running, podIP: " ip "}\n"
#define NETPOL(name, sel, peer) \
	"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: " name \
	", namespace: a}\nspec:\n  podSelector: " sel "\n  ingress: [{from: [" peer "]}]\n"
#define NP_PODS \
	POD("a", "x1", "x", "10.9.0.1") POD("a", "y1", "y", "10.9.0.2") POD("a", "w1", "w", "10.9.0.3") \
	POD("b", "z1", "z", "10.9.1.1") POD("b", "z2", "z", "10.9.1.2") \
	"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b, labels: {team: t1}}\n"

/* Pods that changed only in labels no NetworkPolicy selector answers
 * differently leave the tables as they are: not compiled (pods_read_alike
 * in incr.c). Any other Pod change compiles them. */
static void netpol_skips(void)
{
	static const struct {
		const char *name, *change;
		bool skips;
	} cases[] = {
		{ "a label no selector reads", POD("a", "w1", "v", "10.9.0.3"), true },
		{ "a label the policy's own selector reads", POD("a", "w1", "x", "10.9.0.3"), false },
		{ "a label a peer's selector reads", POD("a", "w1", "y", "10.9.0.3"), false },
		{ "a label an expression reads", POD("b", "z1", "k", "10.9.1.1"), false },
		{ "an address", POD("a", "w1", "w", "10.9.0.9"), false },
		{ "a new Pod no selector reads", POD("a", "w9", "v", "10.9.0.9"), false },
	};
	const char *old = NETPOL("np", "{matchLabels: {app: x}}", "{podSelector: {matchLabels: {app: y}}}, "
				 "{namespaceSelector: {}, podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [z]}]}}")
		NP_PODS;
	const char *bad = NULL, *why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !bad; i++) {
		bool np_ok = false;
		int err = incr_np(old, cases[i].change, &why, &np_ok);

		if (err || (cases[i].skips ? !last_np_skipped_right : !np_ok))
			bad = cases[i].name;
	}
	result("incr/netpol-relabel-unread-not-compiled", bad ? "%s: wrong" : NULL, bad);
}

/* The incremental compile reads the Pods a NetworkPolicy can read, not
 * every Pod (incr.c, np_pods); cases where those are not the Pods of its
 * labels: an address a selected Pod shares (an error, so declined) with a
 * changed Pod or a stored one, the
 * Pods of a whole namespace, of other namespaces (namespaceSelector). */
static void netpol_reads(void)
{
	static const struct {
		const char *name, *old, *change;
		bool declined;
	} cases[] = {
		{ "netpol-shared-address-declined",
		  NETPOL("np", "{matchLabels: {app: x}}", "{podSelector: {matchLabels: {app: y}}}") NP_PODS,
		  POD("b", "z3", "z", "10.9.0.1"), true },
		/* s2 is stored, selected by nothing, and shares the address of
		 * s1, which the change makes selected: found by its addr: key. */
		{ "netpol-stored-shared-address-declined",
		  NETPOL("np", "{matchLabels: {app: x}}", "{podSelector: {matchLabels: {app: y}}}") NP_PODS
		  POD("a", "s1", "q", "10.9.0.50") POD("b", "s2", "q", "10.9.0.50"),
		  POD("a", "s1", "x", "10.9.0.50"), true },
		{ "netpol-namespace-wide-shared-address-declined",
		  NETPOL("np", "{}", "{ipBlock: {cidr: 10.0.0.0/8}}") NP_PODS,
		  POD("b", "z3", "z", "10.9.0.3"), true },
		{ "netpol-namespace-selector-matches-whole",
		  NETPOL("np", "{matchLabels: {app: x}}", "{namespaceSelector: {matchLabels: {team: t1}}}") NP_PODS,
		  POD("a", "w1", "v", "10.9.0.8"), false },
		{ "netpol-expression-peer-matches-whole",
		  NETPOL("np", "{matchLabels: {app: x}}", "{podSelector: {matchExpressions: [{key: app, operator: In, values: [y]}]}}") NP_PODS,
		  POD("a", "y1", "y", "10.9.0.7"), false },
	};

	struct buf many = { 0 };
	const char *why;
	bool np_ok = false;
	int err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[96];

		np_ok = false;
		err = incr_np(cases[i].old, cases[i].change, &why, &np_ok);

		snprintf(name, sizeof(name), "incr/%s", cases[i].name);
		if (cases[i].declined)
			result(name, err == -EAGAIN ? NULL : "accepted (%s)", err ? strerror(-err) : "no error");
		else
			result(name, !err && np_ok ? NULL : "%s", err ? (why ? why : strerror(-err)) :
			       "its NetworkPolicy tables are not the whole compile's");
	}
	/* 60 pods no query names: a relabelled one parses none of them. */
	out(&many, "%s", NETPOL("np", "{matchLabels: {app: x}}", "{podSelector: {matchLabels: {app: y}}}")
		    NP_PODS);
	for (int i = 0; i < 60; i++)
		out(&many, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: q%d, namespace: a, labels: "
		    "{app: q}}\nstatus: {phase: Running, podIP: 10.9.2.%d}\n", i, i + 1);
	np_ok = false;
	err = incr_np(many.v, POD("a", "q7", "y", "10.9.2.8"), &why, &np_ok);
	result("incr/netpol-reads-few-pods", !err && np_ok && last_fetched < 8 ? NULL :
	       "err %d, tables %s, %zu stored objects parsed", err, np_ok ? "right" : "wrong",
	       last_fetched);
	free(many.v);
	netpol_skips();
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	duplicate_frontends();
	netpol_reads();
	random_changes();
	return failures ? 1 : 0;
}
