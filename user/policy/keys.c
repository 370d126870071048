// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Dependency keys of an object, for the incremental compile (incr.c).
 *
 * Every lookup the compiler makes from one object into the others goes
 * through a key that both sides can compute from their own text: an
 * object PROVIDES the keys under which others find it, and NEEDS the keys
 * it looks others up by. A Service needs "slice:NS/NAME" and every
 * EndpointSlice labelled for it provides that key; a DestinationRule for
 * host H in namespace NS provides and needs "name:" of both forms the
 * compiler tries (H resolved in NS, and H as written), and so does every
 * Service or ServiceEntry that answers to that name.
 *
 *   kind              provides                      needs
 *   Service           name:FQDN                     name:FQDN, slice:NS/NAME,
 *                                                   podsel:NS/K=V (the selector's
 *                                                   first label), polsel:K=V (each
 *                                                   label of its selector), [pol:NS,
 *                                                   pol:istio-system]
 *   ServiceEntry      name:HOST...                  name:HOST..., we:NS (with a
 *                                                   workloadSelector), polsel:K=V
 *                                                   (each label of its endpoints and
 *                                                   its workloadSelector), [pol:NS,
 *                                                   pol:istio-system]
 *   EndpointSlice     slice:NS/SERVICE              pod:NS/NAME of its targetRefs
 *   Pod               podsel:NS/K=V (each label),   polsel:K=V (each label)
 *                     pod:NS/NAME, netpol-pod
 *   WorkloadEntry     we:NS                         polsel:K=V (each label)
 *   DestinationRule   name:HOST (both forms)        the same
 *   VirtualService    name:HOST (both forms)        the same, and name: of every
 *                                                   route destination
 *   PeerAuthentication, AuthorizationPolicy,
 *   RequestAuthentication  pol:NS without a selector, -
 *                     polsel:K=V (its first label)
 *                     with one
 *   Namespace, NetworkPolicy  netpol                -
 *
 * A policy with a selector applies to the workloads whose labels contain
 * it (compile.c, pol_selects): a Service by its selector or an endpoint's
 * labels (a Pod's, a WorkloadEntry's, a ServiceEntry endpoint's). Whatever
 * it applies to has its first label, so polsel:K=V of that label reaches
 * every unit it can change, through the Pods and WorkloadEntries behind
 * it. polsel: keys leave the namespace out: a Pod behind a Service of
 * another namespace knows only its own; a unit of another namespace that
 * the walk reaches is compiled again for nothing, never missed. A policy
 * without a selector changes every unit of its namespace (of the mesh,
 * from the root namespace): pol:NS.
 *
 * Keys are FNV-1a 64 of the kind letter and the text; two texts that
 * collide only make more objects look related, which costs time, never
 * correctness. What "related" means is in incr.c.
 *
 * Two needs are left out of the lists because nearly every object has
 * them and they would make the summaries and indexes of a mesh twice as
 * big: the [bracketed] pol: keys of every Service and ServiceEntry (the
 * incremental compile adds them, slp_key_pol), and a key an object both
 * provides and needs (its own names): the summary says so in one flag
 * (SL_OSUM_SELFNEED).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint64_t key_of(char kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static uint64_t key_of(char kind, const char *fmt, ...)
{
	char buf[1024];
	uint64_t h = 0xcbf29ce484222325ull;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	h = (h ^ (uint8_t)kind) * 0x100000001b3ull;
	for (int i = 0; i < n && i < (int)sizeof(buf) - 1; i++)
		h = (h ^ (uint8_t)buf[i]) * 0x100000001b3ull;
	return h;
}

static void push(struct slp_keys *k, bool need, uint64_t v)
{
	uint64_t **a = need ? &k->needs : &k->provides;
	size_t *n = need ? &k->n_needs : &k->n_provides;

	if (!(*n & (*n + 1)) || !*n) /* grow at 1, 2, 4, 8 ... */
		*a = slp_xrealloc(*a, 2 * *n + 1, sizeof(**a));
	(*a)[(*n)++] = v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Sorted, each key once. */
static void unique(uint64_t *v, size_t *n)
{
	size_t m = 0;

	if (!*n)
		return;
	qsort(v, *n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < *n; i++)
		if (!m || v[m - 1] != v[i])
			v[m++] = v[i];
	*n = m;
}

/* A host as DestinationRules and VirtualServices name it: both forms the
 * compiler looks services up by (svc_for_host). */
static void host_keys(struct slp_keys *k, const char *h, const char *ns,
		      const struct sl_compile_opts *o, bool provide)
{
	char fq[256];

	slp_resolve_host(h, ns, o, fq, sizeof(fq));
	if (provide) {
		push(k, false, key_of('n', "%s", fq));
		push(k, false, key_of('n', "%s", h));
	}
	push(k, true, key_of('n', "%s", fq));
	push(k, true, key_of('n', "%s", h));
}

uint64_t slp_key_pol(const char *ns)
{
	return key_of('a', "%s", ns);
}

/* polsel:K=V of every label of LABELS (a map; others are not labels). */
static void label_keys(struct slp_keys *k, const struct node *labels)
{
	for (size_t i = 0; labels && labels->type == T_MAP && i < labels->n; i++)
		if (labels->keys[i]->s && labels->vals[i]->s)
			push(k, true, key_of('q', "%s=%s", labels->keys[i]->s, labels->vals[i]->s));
}

/* What a PeerAuthentication, AuthorizationPolicy or RequestAuthentication
 * provides: the selector as compile.c's pol_selector() reads it (a
 * non-empty spec.selector.matchLabels); a first label that is not text
 * matches nothing, and is treated as no selector (more work, never less). */
static void pol_keys(const struct object *o, struct slp_keys *k)
{
	const struct node *ml = slp_path_get(o->root, "spec.selector.matchLabels");

	if (ml && ml->type == T_MAP && ml->n && ml->keys[0]->s && ml->vals[0]->s)
		push(k, false, key_of('q', "%s=%s", ml->keys[0]->s, ml->vals[0]->s));
	else
		push(k, false, slp_key_pol(o->ns));
}

static void service_keys(const struct object *o, const struct sl_compile_opts *opts,
			 struct slp_keys *k)
{
	const struct node *sel = slp_path_get(o->root, "spec.selector");
	uint64_t name;

	name = key_of('n', "%s.%s.svc.%s", o->name, o->ns,
		      opts->cluster_domain ? opts->cluster_domain : "cluster.local");
	push(k, false, name);
	push(k, true, name);
	push(k, true, key_of('s', "%s/%s", o->ns, o->name));
	if (sel && sel->type == T_MAP && sel->n && sel->vals[0]->s)
		push(k, true, key_of('l', "%s/%s=%s", o->ns, sel->keys[0]->s, sel->vals[0]->s));
	label_keys(k, sel);
}

static void se_keys(const struct object *o, struct slp_keys *k)
{
	const struct node *hosts = slp_path_get(o->root, "spec.hosts");
	const struct node *sel = slp_path_get(o->root, "spec.workloadSelector.labels");
	const struct node *eps = slp_path_get(o->root, "spec.endpoints");

	for (size_t i = 0; i < slp_seq_len(hosts); i++) {
		if (!slp_node_str(hosts->vals[i]))
			continue;
		push(k, false, key_of('n', "%s", hosts->vals[i]->s));
		push(k, true, key_of('n', "%s", hosts->vals[i]->s));
	}
	if (sel && sel->type == T_MAP)
		push(k, true, key_of('w', "%s", o->ns));
	label_keys(k, sel);
	for (size_t i = 0; i < slp_seq_len(eps); i++)
		label_keys(k, slp_map_get(eps->vals[i], "labels"));
}

static void slice_keys(const struct object *o, struct slp_keys *k)
{
	const char *svc = slp_node_str(slp_map_get(slp_path_get(o->root, "metadata.labels"),
						   "kubernetes.io/service-name"));
	const struct node *eps = slp_map_get(o->root, "endpoints"), *ref;

	if (svc)
		push(k, false, key_of('s', "%s/%s", o->ns, svc));
	for (size_t i = 0; i < slp_seq_len(eps); i++) {
		ref = slp_map_get(eps->vals[i], "targetRef");
		if (!slp_node_str(slp_map_get(ref, "name")))
			continue;
		push(k, true, key_of('p', "%s/%s",
				     slp_node_str(slp_map_get(ref, "namespace")) ?: o->ns,
				     slp_map_get(ref, "name")->s));
	}
}

static void pod_keys(const struct object *o, struct slp_keys *k)
{
	const struct node *l = slp_path_get(o->root, "metadata.labels");

	for (size_t i = 0; l && l->type == T_MAP && i < l->n; i++)
		if (l->vals[i]->s)
			push(k, false, slp_key_pod_label(o->ns, l->keys[i]->s, l->vals[i]->s));
	push(k, false, key_of('p', "%s/%s", o->ns, o->name));
	push(k, false, slp_key_netpol_pod());
	label_keys(k, l);
}

uint64_t slp_key_pod_label(const char *ns, const char *k, const char *v)
{
	return key_of('l', "%s/%s=%s", ns, k, v);
}


static void dr_keys(const struct object *o, const struct sl_compile_opts *opts,
		    struct slp_keys *k)
{
	const char *h = slp_node_str(slp_path_get(o->root, "spec.host"));

	if (h)
		host_keys(k, h, o->ns, opts, true);
}

static void vs_dests(const struct object *o, const struct sl_compile_opts *opts,
		     struct slp_keys *k)
{
	static const char *const kinds[] = { "http", "tcp", "tls" };
	const struct node *spec = slp_map_get(o->root, "spec"), *rs, *route;
	const char *h;

	for (size_t t = 0; t < 3; t++) {
		rs = slp_map_get(spec, kinds[t]);
		for (size_t i = 0; i < slp_seq_len(rs); i++) {
			route = slp_map_get(rs->vals[i], "route");
			for (size_t j = 0; j < slp_seq_len(route); j++) {
				h = slp_node_str(slp_path_get(route->vals[j], "destination.host"));
				if (h)
					host_keys(k, h, o->ns, opts, false);
			}
		}
	}
}

static void vs_keys(const struct object *o, const struct sl_compile_opts *opts,
		    struct slp_keys *k)
{
	const struct node *hosts = slp_path_get(o->root, "spec.hosts");

	for (size_t i = 0; i < slp_seq_len(hosts); i++)
		if (slp_node_str(hosts->vals[i]))
			host_keys(k, hosts->vals[i]->s, o->ns, opts, true);
	vs_dests(o, opts, k);
}

uint64_t slp_key_netpol(void)
{
	return key_of('N', "%s", "");
}

uint64_t slp_key_netpol_pod(void)
{
	return key_of('N', "%s", "pod");
}

void slp_object_keys(const struct object *o, const struct sl_compile_opts *opts,
		     struct slp_keys *k)
{
	memset(k, 0, sizeof(*k));
	switch (o->id) {
	case K_SERVICE:
		service_keys(o, opts, k);
		break;
	case K_SERVICEENTRY:
		se_keys(o, k);
		break;
	case K_ENDPOINTSLICE:
		slice_keys(o, k);
		break;
	case K_POD:
		pod_keys(o, k);
		break;
	case K_WORKLOADENTRY:
		push(k, false, key_of('w', "%s", o->ns));
		label_keys(k, slp_path_get(o->root, "spec.labels"));
		break;
	case K_DESTINATIONRULE:
		dr_keys(o, opts, k);
		break;
	case K_VIRTUALSERVICE:
		vs_keys(o, opts, k);
		break;
	case K_PEERAUTHN:
	case K_AUTHZ:
	case K_REQAUTHN:
		pol_keys(o, k);
		break;
	case K_NAMESPACE:
	case K_NETPOL:
		push(k, false, slp_key_netpol());
		break;
	default:
		break;
	}
	unique(k->provides, &k->n_provides);
	unique(k->needs, &k->n_needs);
}

void slp_keys_free(struct slp_keys *k)
{
	free(k->provides);
	free(k->needs);
	memset(k, 0, sizeof(*k));
}
