// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The mesh model: workloads and PeerAuthentication (see user/mesh.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/mesh_int.h"

#define NODE_LABEL "sluice.io/node"

void *slp_mesh_alloc(struct sl_mesh *m, size_t n, size_t sz)
{
	void *p;

	if (!n)
		return NULL;
	if (m->n_allocs == m->cap_allocs) {
		m->cap_allocs = m->cap_allocs ? m->cap_allocs * 2 : 64;
		m->allocs = slp_xrealloc(m->allocs, m->cap_allocs, sizeof(void *));
	}
	p = slp_xcalloc(n, sz);
	m->allocs[m->n_allocs++] = p;
	return p;
}

static void copy(char *dst, const char *src)
{
	slp_scopy(dst, SL_MESH_NAME, src ? src : "");
}

static void wl_add_ip(struct sl_mesh_wl *w, const char *s)
{
	struct sl_l4addr a;

	if (!s || w->n_ip == 2 || slp_parse_ip(s, &a))
		return;
	for (int i = 0; i < w->n_ip; i++)
		if (!memcmp(&w->ip[i], &a, sizeof(a)))
			return;
	w->ip[w->n_ip++] = a;
}

static struct sl_mesh_wl *wl_push(struct sl_mesh *m, const struct object *o, size_t *cap)
{
	struct sl_mesh_wl *w;

	if (m->n_wls == *cap) {
		*cap = *cap ? *cap * 2 : 32;
		m->wls = slp_xrealloc(m->wls, *cap, sizeof(*m->wls));
	}
	w = &m->wls[m->n_wls++];
	memset(w, 0, sizeof(*w));
	copy(w->kind, o->kind);
	copy(w->ns, o->ns);
	copy(w->name, o->name);
	return w;
}

static void add_pod(struct sl_mesh *m, const struct object *o, size_t *cap)
{
	const struct node *st = slp_map_get(o->root, "status"), *ips;
	const char *sa = slp_node_str(slp_path_get(o->root, "spec.serviceAccountName"));
	struct sl_mesh_wl *w;
	bool host = false;

	slp_node_bool(slp_path_get(o->root, "spec.hostNetwork"), &host);
	if (host) /* shares the node's address: not a mesh workload */
		return;
	w = wl_push(m, o, cap);
	copy(w->sa, sa ? sa : "default");
	copy(w->node, slp_node_str(slp_path_get(o->root, "spec.nodeName")));
	w->labels = slp_path_get(o->root, "metadata.labels");
	wl_add_ip(w, slp_node_str(slp_map_get(st, "podIP")));
	ips = slp_map_get(st, "podIPs");
	for (size_t i = 0; i < slp_seq_len(ips); i++)
		wl_add_ip(w, slp_node_str(slp_map_get(ips->vals[i], "ip")));
}

/* WorkloadEntry has no node field in Istio's API: the node that runs it is
 * the label sluice.io/node (docs/PROXY.md). */
static void add_we(struct sl_mesh *m, const struct object *o, size_t *cap)
{
	const struct node *spec = slp_map_get(o->root, "spec");
	const char *sa = slp_node_str(slp_map_get(spec, "serviceAccount"));
	struct sl_mesh_wl *w = wl_push(m, o, cap);

	copy(w->sa, sa ? sa : "default");
	w->labels = slp_map_get(spec, "labels");
	copy(w->node, slp_node_label(w->labels, NODE_LABEL));
	wl_add_ip(w, slp_node_str(slp_map_get(spec, "address")));
}

/* EndpointSlice endpoints name their node; a Pod without spec.nodeName
 * takes it from an endpoint whose targetRef is that Pod. */
static void es_nodes(struct sl_mesh *m, const struct object *o)
{
	const struct node *eps = slp_map_get(o->root, "endpoints");

	for (size_t i = 0; i < slp_seq_len(eps); i++) {
		const char *node = slp_node_str(slp_map_get(eps->vals[i], "nodeName"));
		const struct node *ref = slp_map_get(eps->vals[i], "targetRef");
		const char *kind = slp_node_str(slp_map_get(ref, "kind"));
		const char *name = slp_node_str(slp_map_get(ref, "name"));

		if (!node || !name || (kind && strcmp(kind, "Pod")))
			continue;
		for (size_t j = 0; j < m->n_wls; j++)
			if (!m->wls[j].node[0] && !strcmp(m->wls[j].kind, "Pod") &&
			    !strcmp(m->wls[j].ns, o->ns) && !strcmp(m->wls[j].name, name))
				copy(m->wls[j].node, node);
	}
}

static void collect(struct sl_mesh *m, const struct sl_policy *p, struct sl_diags *d)
{
	size_t cap = 0, cap_pa = 0, cap_svc = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct object *o = p->v[i];

		if (o->id == K_POD)
			add_pod(m, o, &cap);
		else if (o->id == K_WORKLOADENTRY)
			add_we(m, o, &cap);
		else if (o->id == K_PEERAUTHN) {
			if (m->n_pas == cap_pa) {
				cap_pa = cap_pa ? cap_pa * 2 : 8;
				m->pas = slp_xrealloc(m->pas, cap_pa, sizeof(*m->pas));
			}
			m->pas[m->n_pas++] = o;
		} else if (o->id == K_SERVICE) {
			if (m->n_svcs == cap_svc) {
				cap_svc = cap_svc ? cap_svc * 2 : 16;
				m->svcs = slp_xrealloc(m->svcs, cap_svc, sizeof(*m->svcs));
			}
			m->svcs[m->n_svcs++] = o;
		}
	}
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i]->id == K_ENDPOINTSLICE)
			es_nodes(m, p->v[i]);
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i]->id == K_AUTHZ)
			slp_authz_build(m, p->v[i], d);
}

struct sl_mesh *sl_mesh_build(const struct sl_policy *p, const char *td, struct sl_diags *d)
{
	struct sl_mesh *m = slp_xcalloc(1, sizeof(*m));
	size_t err0 = d->n_errors;

	copy(m->td, td ? td : "cluster.local");
	collect(m, p, d);
	if (d->n_errors > err0) {
		sl_mesh_free(m);
		return NULL;
	}
	return m;
}

void slp_mesh_check(const struct sl_policy *p, struct sl_diags *d)
{
	sl_mesh_free(sl_mesh_build(p, NULL, d));
}

void sl_mesh_free(struct sl_mesh *m)
{
	if (!m)
		return;
	slp_authz_free(m);
	for (size_t i = 0; i < m->n_allocs; i++)
		free(m->allocs[i]);
	free(m->allocs);
	free(m->wls);
	free(m->pas);
	free(m->svcs);
	free(m);
}

size_t sl_mesh_n_workloads(const struct sl_mesh *m)
{
	return m->n_wls;
}

const struct sl_mesh_wl *sl_mesh_workload(const struct sl_mesh *m, size_t i)
{
	return i < m->n_wls ? &m->wls[i] : NULL;
}

const struct sl_mesh_wl *sl_mesh_wl_by_ip(const struct sl_mesh *m, const struct sl_l4addr *a)
{
	for (size_t i = 0; i < m->n_wls; i++)
		for (int j = 0; j < m->wls[i].n_ip; j++)
			if (m->wls[i].ip[j].family == a->family &&
			    !memcmp(m->wls[i].ip[j].addr, a->addr, sizeof(a->addr)))
				return &m->wls[i];
	return NULL;
}

bool sl_mesh_sa_on_node(const struct sl_mesh *m, const char *node, const char *ns,
			const char *sa)
{
	for (size_t i = 0; i < m->n_wls; i++)
		if (!strcmp(m->wls[i].node, node) && !strcmp(m->wls[i].ns, ns) &&
		    !strcmp(m->wls[i].sa, sa))
			return true;
	return false;
}

bool slp_mesh_pol_applies(const struct object *pol, const struct node *selector,
			  const struct sl_mesh_wl *w)
{
	if (!selector)
		return !strcmp(pol->ns, ROOT_NAMESPACE) || !strcmp(pol->ns, w->ns);
	return !strcmp(pol->ns, w->ns) && w->labels && slp_labels_match(w->labels, selector);
}

static const struct node *match_labels(const struct object *o)
{
	const struct node *ml = slp_path_get(o->root, "spec.selector.matchLabels");

	return ml && ml->type == T_MAP && ml->n ? ml : NULL;
}

static int mode_of(const char *s)
{
	if (!s || !strcmp(s, "UNSET"))
		return -1;
	if (!strcmp(s, "STRICT"))
		return SL_MTLS_STRICT;
	if (!strcmp(s, "DISABLE"))
		return SL_MTLS_DISABLE;
	return SL_MTLS_PERMISSIVE;
}

static int pa_mode(const struct object *pa, uint16_t port)
{
	const struct node *pl = slp_path_get(pa->root, "spec.portLevelMtls");
	char key[8];
	int mode;

	snprintf(key, sizeof(key), "%u", port);
	mode = mode_of(slp_node_str(slp_path_get(slp_map_get(pl, key), "mode")));
	return mode >= 0 ? mode : mode_of(slp_node_str(slp_path_get(pa->root, "spec.mtls.mode")));
}

static void add_port(uint16_t *ports, size_t *n, size_t max, long long v)
{
	size_t i;

	if (v < 1 || v > 65535)
		return;
	for (i = 0; i < *n; i++)
		if (ports[i] == v)
			return;
	if (*n < max)
		ports[(*n)++] = (uint16_t)v;
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

size_t sl_mesh_mtls_ports(const struct sl_mesh *m, const struct sl_mesh_wl *w, uint16_t *ports,
			  size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_pas; i++) {
		const struct object *pa = m->pas[i];
		const struct node *pl = slp_path_get(pa->root, "spec.portLevelMtls");

		if (!slp_mesh_pol_applies(pa, match_labels(pa), w))
			continue;
		for (size_t j = 0; pl && pl->type == T_MAP && j < pl->n; j++)
			add_port(ports, &n, max, strtoll(pl->keys[j]->s ?: "0", NULL, 10));
	}
	qsort(ports, n, sizeof(*ports), cmp_u16);
	return n;
}

static const char *const mode_names[] = { "PERMISSIVE", "STRICT", "DISABLE" };

/* Levels: 0 workload selector, 1 the workload's namespace, 2 mesh (root
 * namespace). The first level whose policy sets a mode decides; when two
 * policies sit at one level the first in the object set's stable order wins
 * (Istio picks the oldest; we have no creation time). */
enum sl_mtls_mode sl_mesh_mtls(const struct sl_mesh *m, const struct sl_mesh_wl *w,
			       uint16_t port, char *why, size_t why_len)
{
	const struct object *lv[3] = { NULL, NULL, NULL };

	for (size_t i = 0; i < m->n_pas; i++) {
		const struct object *pa = m->pas[i];
		const struct node *sel = match_labels(pa);
		int l = sel ? 0 : strcmp(pa->ns, w->ns) ? 2 : 1;

		if (slp_mesh_pol_applies(pa, sel, w) && !lv[l])
			lv[l] = pa;
	}
	for (int l = 0; l < 3; l++) {
		int mode = lv[l] ? pa_mode(lv[l], port) : -1;

		if (mode < 0)
			continue;
		if (why)
			snprintf(why, why_len, "%s (PeerAuthentication %s/%s)", mode_names[mode],
				 lv[l]->ns, lv[l]->name);
		return (enum sl_mtls_mode)mode;
	}
	if (why)
		snprintf(why, why_len, "PERMISSIVE (no PeerAuthentication)");
	return SL_MTLS_PERMISSIVE;
}
