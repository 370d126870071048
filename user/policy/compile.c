// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The object set -> struct sl_tables.
 *
 *   1. services: every Service (not headless) and ServiceEntry, sorted by
 *      (namespace, name, kind), with their ports and VIPs
 *   2. VIPs for those without one, from opts.svc_cidr4 (see alloc_vips())
 *   3. endpoints per service port: EndpointSlices, else selected Pods;
 *      ServiceEntry inline endpoints and selected WorkloadEntries
 *   4. DestinationRules and VirtualServices indexed by host; every route of
 *      every VirtualService validated
 *   5. per frontend (service port x VIP): groups, backends, hand-off
 *   6. security policies with the frontends they select
 *   7. node-ingress frontends of Services (ingress.c)
 *   8. NetworkPolicy (netpol.c), which needs only Pods and Namespaces
 *
 * Everything is ordered by names and addresses, never by input order, so one
 * object set always gives byte-identical tables.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- small containers ----------------------------------------------------- */

/* A sorted string index: key -> pointer, several values per key allowed. */
struct ient {
	char *key;
	const void *val;
	size_t seq; /* insertion order, keeps equal keys stable */
};

struct index {
	struct ient *v;
	size_t n, cap;
};

static void idx_add(struct index *x, const char *key, const void *val)
{
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 64;
		x->v = slp_xrealloc(x->v, x->cap, sizeof(*x->v));
	}
	x->v[x->n].key = slp_xstrdup(key);
	x->v[x->n].val = val;
	x->v[x->n].seq = x->n;
	x->n++;
}

static int ient_cmp(const void *a, const void *b)
{
	const struct ient *x = a, *y = b;
	int r = strcmp(x->key, y->key);

	return r ? r : (x->seq > y->seq) - (x->seq < y->seq);
}

static void idx_sort(struct index *x)
{
	if (x->n)
		qsort(x->v, x->n, sizeof(*x->v), ient_cmp);
}

/* First entry with KEY; *cnt gets how many there are. */
static const struct ient *idx_find(const struct index *x, const char *key, size_t *cnt)
{
	size_t lo = 0, hi = x->n, mid, e;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (strcmp(x->v[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (e = lo; e < x->n && !strcmp(x->v[e].key, key); e++)
		;
	if (cnt)
		*cnt = e - lo;
	return e > lo ? &x->v[lo] : NULL;
}

static const void *idx_get(const struct index *x, const char *key)
{
	const struct ient *e = idx_find(x, key, NULL);

	return e ? e->val : NULL;
}

static void idx_free(struct index *x)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		free(x->v[i].key);
	free(x->v);
	memset(x, 0, sizeof(*x));
}

/* Open-addressing set of IPv4 addresses (host order), for VIP allocation. */
struct u32set {
	uint32_t *v;
	uint8_t *used;
	size_t cap, n;
};

static bool u32set_has(const struct u32set *s, uint32_t k)
{
	size_t i;

	if (!s->cap)
		return false;
	for (i = (k * 2654435761u) & (s->cap - 1); s->used[i]; i = (i + 1) & (s->cap - 1))
		if (s->v[i] == k)
			return true;
	return false;
}

static void u32set_add(struct u32set *s, uint32_t k)
{
	size_t i, oc = s->cap;
	uint32_t *ov = s->v;
	uint8_t *ou = s->used;

	if (u32set_has(s, k))
		return;
	if ((s->n + 1) * 2 > s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = slp_xcalloc(s->cap, sizeof(*s->v));
		s->used = slp_xcalloc(s->cap, 1);
		s->n = 0;
		for (i = 0; i < oc; i++)
			if (ou[i])
				u32set_add(s, ov[i]);
		free(ov);
		free(ou);
	}
	for (i = (k * 2654435761u) & (s->cap - 1); s->used[i]; i = (i + 1) & (s->cap - 1))
		;
	s->used[i] = 1;
	s->v[i] = k;
	s->n++;
}

/* ---- model ---------------------------------------------------------------- */

struct ep {
	struct sl_l4addr a; /* address and family; port in host order below */
	uint16_t port;
	uint32_t weight;
	const char *workload, *ns;
	const struct node *labels;
};

struct sport {
	uint16_t port; /* host order */
	uint8_t proto;
	const char *name;
	long long target; /* Service targetPort / ServiceEntry targetPort, 0 = none */
	const char *target_name;
	const struct node *node;
	struct ep *eps;
	size_t n_eps;
};

struct svc {
	const struct object *obj;
	bool se;
	char host[256];
	const struct node *hosts; /* ServiceEntry hosts */
	const struct node *selector;
	struct sl_l4addr *vips;
	size_t n_vips;
	bool need_alloc;
	struct sport *ports;
	size_t n_ports;
	size_t first_fe, n_fe; /* its frontends in the output */
};

struct cc {
	const struct sl_policy *p;
	const struct sl_compile_opts *o;
	struct sl_diags *d;
	const struct object **by[K__COUNT];
	size_t nby[K__COUNT];
	struct svc *svcs;
	size_t n_svcs;
	struct index svc_by_host, dr_by_host, vs_by_host, slices, pods;
	struct index pod_labels; /* "ns/key=value" -> Pod, for selectors */
	struct sl_tables *t;
	size_t cap_svcs, cap_be;
	/* Capacity (check_capacity()): backend rows counted, the frontend
	 * whose rows crossed max_backends, and whether a check from counts
	 * already failed (then no table is built). */
	size_t rows, cross_fe;
	bool over;
	const struct slp_part *part; /* NULL: the whole policy (see slp_compile) */
};

#define CERR(c, o, n, path, ...) slp_diag_at((c)->d, SL_SEV_ERROR, o, n, path, __VA_ARGS__)

void sl_compile_opts_default(struct sl_compile_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->svc_cidr4 = htonl(0x0a600000); /* 10.96.0.0/12, Kubernetes' default */
	o->svc_cidr4_len = 12;
	o->cluster_domain = "cluster.local";
	o->max_services = SL_MAX_SERVICES;
	o->max_backends = SL_MAX_BACKENDS;
}

void sl_tables_free(struct sl_tables *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n_policies; i++)
		free(t->policies[i].svcs);
	free(t->svcs);
	free(t->backends);
	free(t->policies);
	free(t->ingress);
	free(t->np_pods);
	free(t->np_prefixes);
	free(t->np_portsets);
	memset(t, 0, sizeof(*t));
}

static void *dup_or_null(const void *p, size_t n, size_t size)
{
	void *q;

	if (!n)
		return NULL;
	q = slp_xcalloc(n, size);
	memcpy(q, p, n * size);
	return q;
}

void sl_tables_np_move(struct sl_tables *to, struct sl_tables *from)
{
	free(to->np_pods);
	free(to->np_prefixes);
	free(to->np_portsets);
	to->np_pods = from->np_pods;
	to->n_np_pods = from->n_np_pods;
	to->np_prefixes = from->np_prefixes;
	to->n_np_prefixes = from->n_np_prefixes;
	to->np_portsets = from->np_portsets;
	to->n_np_portsets = from->n_np_portsets;
	from->np_pods = NULL;
	from->np_prefixes = NULL;
	from->np_portsets = NULL;
	from->n_np_pods = from->n_np_prefixes = from->n_np_portsets = 0;
}

void sl_tables_np_copy(struct sl_tables *to, const struct sl_tables *from)
{
	struct sl_tables c = {
		.np_pods = dup_or_null(from->np_pods, from->n_np_pods, sizeof(*from->np_pods)),
		.n_np_pods = from->n_np_pods,
		.np_prefixes = dup_or_null(from->np_prefixes, from->n_np_prefixes,
					   sizeof(*from->np_prefixes)),
		.n_np_prefixes = from->n_np_prefixes,
		.np_portsets = dup_or_null(from->np_portsets, from->n_np_portsets,
					   sizeof(*from->np_portsets)),
		.n_np_portsets = from->n_np_portsets,
	};

	sl_tables_np_move(to, &c);
}

/* Host names as Istio reads them: "x" in namespace ns is
 * x.ns.svc.DOMAIN, "x.y" is x.y.svc.DOMAIN, "x.y.svc" gets the domain, and
 * anything longer is taken as a FQDN. */
void slp_resolve_host(const char *h, const char *ns, const struct sl_compile_opts *o, char *out,
		      size_t len)
{
	const char *dom = o->cluster_domain ? o->cluster_domain : "cluster.local";
	const char *dot = strchr(h, '.');
	size_t hl = strlen(h);

	if (!dot)
		snprintf(out, len, "%s.%s.svc.%s", h, ns, dom);
	else if (!strchr(dot + 1, '.'))
		snprintf(out, len, "%s.svc.%s", h, dom);
	else if (hl > 4 && !strcmp(h + hl - 4, ".svc"))
		snprintf(out, len, "%s.%s", h, dom);
	else
		snprintf(out, len, "%s", h);
}

static void resolve_host(const struct cc *c, const char *h, const char *ns, char *out, size_t len)
{
	slp_resolve_host(h, ns, c->o, out, len);
}

static const struct svc *svc_for_host(const struct cc *c, const char *h,
				      const char *ns)
{
	char fq[256];
	const struct svc *s;

	resolve_host(c, h, ns, fq, sizeof(fq));
	s = idx_get(&c->svc_by_host, fq);
	return s ? s : idx_get(&c->svc_by_host, h);
}

/* DestinationRules and VirtualServices are indexed by the canonical host of
 * the service they name (see index_drs()), whichever of its names they use. */
static const struct object *dr_for_svc(const struct cc *c, const struct svc *s)
{
	return idx_get(&c->dr_by_host, s->host);
}

static const struct object *vs_for_svc(const struct cc *c, const struct svc *s)
{
	return idx_get(&c->vs_by_host, s->host);
}

/* The index key of host H named in namespace NS: the canonical host of the
 * service it names, else its resolved form. */
static void host_key(const struct cc *c, const char *h, const char *ns, char *out,
		     size_t len)
{
	const struct svc *s = svc_for_host(c, h, ns);

	if (s)
		slp_scopy(out, len, s->host);
	else
		resolve_host(c, h, ns, out, len);
}

static char *sl_fmt_l4_local(const struct sl_l4addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	inet_ntop(a->family == SL_AF_INET6 ? AF_INET6 : AF_INET, a->addr, ip, sizeof(ip));
	snprintf(buf, len, a->family == SL_AF_INET6 ? "[%s]:%u/%s" : "%s:%u/%s", ip,
		 ntohs(a->port), a->proto == IPPROTO_UDP ? "udp" : "tcp");
	return buf;
}

/* ---- 1. services ---------------------------------------------------------- */

static uint8_t proto_of(const char *p)
{
	return p && !strcmp(p, "UDP") ? IPPROTO_UDP : IPPROTO_TCP;
}

static void svc_add_vip(struct svc *s, const char *ip)
{
	struct sl_l4addr a;
	int plen;

	if (slp_parse_cidr(ip, &a, &plen))
		return;
	s->vips = slp_xrealloc(s->vips, s->n_vips + 1, sizeof(*s->vips));
	s->vips[s->n_vips++] = a;
}

static int sport_cmp(const void *a, const void *b)
{
	const struct sport *x = a, *y = b;

	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return (x->proto > y->proto) - (x->proto < y->proto);
}

static void k8s_ports(struct svc *s, const struct node *ports)
{
	const struct node *p, *tp;
	long long v;
	size_t i;

	s->ports = slp_xcalloc(slp_seq_len(ports), sizeof(*s->ports));
	for (i = 0; i < slp_seq_len(ports); i++) {
		struct sport *sp = &s->ports[s->n_ports];

		p = ports->vals[i];
		if (!slp_node_int(slp_map_get(p, "port"), &v))
			continue;
		sp->port = (uint16_t)v;
		sp->proto = proto_of(slp_node_str(slp_map_get(p, "protocol")));
		sp->name = slp_node_str(slp_map_get(p, "name"));
		sp->node = p;
		tp = slp_map_get(p, "targetPort");
		if (slp_node_int(tp, &v))
			sp->target = v;
		else if (slp_node_str(tp))
			sp->target_name = tp->s;
		else
			sp->target = sp->port;
		s->n_ports++;
	}
	qsort(s->ports, s->n_ports, sizeof(*s->ports), sport_cmp);
}

static void build_service(struct cc *c, const struct object *o, struct svc *s)
{
	const struct node *spec = slp_map_get(o->root, "spec"), *ips, *ip;

	s->obj = o;
	snprintf(s->host, sizeof(s->host), "%s.%s.svc.%s", o->name, o->ns,
		 c->o->cluster_domain ? c->o->cluster_domain : "cluster.local");
	s->selector = slp_map_get(spec, "selector");
	ips = slp_map_get(spec, "clusterIPs");
	ip = slp_seq_len(ips) ? ips->vals[0] : slp_map_get(spec, "clusterIP");
	if (slp_node_str(ip) && *ip->s)
		svc_add_vip(s, ip->s);
	else
		s->need_alloc = true;
	k8s_ports(s, slp_map_get(spec, "ports"));
}

static void build_se(struct cc *c, const struct object *o, struct svc *s)
{
	const struct node *spec = slp_map_get(o->root, "spec"), *n, *p;
	long long v;
	size_t i;

	(void)c;
	s->obj = o;
	s->se = true;
	s->hosts = slp_map_get(spec, "hosts");
	slp_scopy(s->host, sizeof(s->host), slp_seq_len(s->hosts) ? slp_node_str(s->hosts->vals[0]) : "");
	s->selector = slp_path_get(spec, "workloadSelector.labels");
	n = slp_map_get(spec, "addresses");
	for (i = 0; i < slp_seq_len(n); i++)
		if (slp_node_str(n->vals[i]))
			svc_add_vip(s, n->vals[i]->s);
	s->need_alloc = !s->n_vips;
	n = slp_map_get(spec, "ports");
	s->ports = slp_xcalloc(slp_seq_len(n), sizeof(*s->ports));
	for (i = 0; i < slp_seq_len(n); i++) {
		struct sport *sp = &s->ports[s->n_ports];

		p = n->vals[i];
		if (!slp_node_int(slp_map_get(p, "number"), &v))
			continue;
		sp->port = (uint16_t)v;
		sp->proto = proto_of(slp_se_protocol_l4(slp_node_str(slp_map_get(p, "protocol"))));
		sp->name = slp_node_str(slp_map_get(p, "name"));
		sp->node = p;
		if (!slp_node_int(slp_map_get(p, "targetPort"), &sp->target) || !sp->target)
			sp->target = sp->port;
		s->n_ports++;
	}
	qsort(s->ports, s->n_ports, sizeof(*s->ports), sport_cmp);
}

bool slp_unit_facts(const struct object *o, const struct sl_compile_opts *opts,
		    struct slp_unit *u)
{
	struct cc c = { .o = opts };
	struct svc s;

	memset(&s, 0, sizeof(s));
	memset(u, 0, sizeof(*u));
	if (o->id == K_SERVICE) {
		if (!strcmp(slp_node_str(slp_path_get(o->root, "spec.clusterIP")) ?: "", "None"))
			return false; /* headless: no frontend */
		build_service(&c, o, &s);
	} else if (o->id == K_SERVICEENTRY) {
		build_se(&c, o, &s);
	} else {
		return false;
	}
	u->vips = s.vips;
	u->n_vips = s.n_vips;
	u->n_ports = s.n_ports;
	u->se = s.se;
	u->need_alloc = s.need_alloc;
	free(s.ports);
	return true;
}

static int svc_cmp(const void *a, const void *b)
{
	const struct svc *x = a, *y = b;
	int r = strcmp(x->obj->ns, y->obj->ns);

	if (!r)
		r = strcmp(x->obj->name, y->obj->name);
	return r ? r : x->se - y->se;
}

static void build_services(struct cc *c)
{
	size_t i, n = c->nby[K_SERVICE] + c->nby[K_SERVICEENTRY];
	const struct object *o;

	c->svcs = slp_xcalloc(n, sizeof(*c->svcs));
	for (i = 0; i < c->nby[K_SERVICE]; i++) {
		o = c->by[K_SERVICE][i];
		if (!strcmp(slp_node_str(slp_path_get(o->root, "spec.clusterIP")) ?: "", "None"))
			continue; /* headless: noted at load */
		build_service(c, o, &c->svcs[c->n_svcs++]);
	}
	for (i = 0; i < c->nby[K_SERVICEENTRY]; i++)
		build_se(c, c->by[K_SERVICEENTRY][i], &c->svcs[c->n_svcs++]);
	qsort(c->svcs, c->n_svcs, sizeof(*c->svcs), svc_cmp);
	for (i = 0; i < c->n_svcs; i++) {
		struct svc *s = &c->svcs[i];

		if (!s->se) {
			idx_add(&c->svc_by_host, s->host, s);
			continue;
		}
		for (size_t j = 0; j < slp_seq_len(s->hosts); j++)
			if (slp_node_str(s->hosts->vals[j]))
				idx_add(&c->svc_by_host, s->hosts->vals[j]->s, s);
	}
	idx_sort(&c->svc_by_host);
}

/* ---- 2. VIP allocation ---------------------------------------------------- */

/*
 * A service without an address gets one from svc_cidr4: FNV-1a of
 * "namespace/name" picks a slot among the usable host addresses (never the
 * network or broadcast address), and a taken slot moves to the next one.
 * Explicit addresses are reserved before any allocation and services are
 * visited in sorted order, so the result depends only on the object set.
 * The incremental compile (incr.c) runs the same function over the stored
 * summaries of every service.
 */
void slp_alloc_vips(struct slp_vipreq *v, size_t n, const struct sl_compile_opts *o)
{
	uint32_t base, usable, h, off, a = 0, k;
	struct u32set taken = { 0 };
	char key[300];
	size_t i, j;
	int len = o->svc_cidr4_len;

	for (i = 0; i < n; i++)
		for (j = 0; j < v[i].n_vips; j++)
			if (v[i].vips[j].family == SL_AF_INET)
				u32set_add(&taken, ntohl(v[i].vips[j].addr[0]));
	usable = len >= 1 && len <= 30 ? (uint32_t)((1ull << (32 - len)) - 2) : 0;
	base = len >= 1 && len <= 30 ? ntohl(o->svc_cidr4) & ~((1u << (32 - len)) - 1) : 0;
	for (i = 0; i < n; i++) {
		memset(&v[i].out, 0, sizeof(v[i].out));
		v[i].err = 0;
		if (!v[i].need)
			continue;
		if (!usable) {
			v[i].err = SLP_VIP_NO_ROOM;
			continue;
		}
		snprintf(key, sizeof(key), "%s/%s", v[i].ns, v[i].name);
		h = slp_fnv1a32(key, strlen(key), FNV1A32_INIT);
		off = h % usable;
		for (k = 0; k < usable; k++) {
			a = base + 1 + (off + k) % usable;
			if (!u32set_has(&taken, a))
				break;
		}
		if (k == usable) {
			v[i].err = SLP_VIP_NONE_LEFT;
			continue;
		}
		u32set_add(&taken, a);
		v[i].out.family = SL_AF_INET;
		v[i].out.addr[0] = htonl(a);
	}
	free(taken.v);
	free(taken.used);
}

static void set_vip(struct svc *s, const struct sl_l4addr *a)
{
	s->vips = slp_xcalloc(1, sizeof(*s->vips));
	s->vips[0] = *a;
	s->n_vips = 1;
}

/* A partial compile takes the VIPs the whole policy allocates. */
static void part_vips(struct cc *c)
{
	struct sl_l4addr a;

	for (size_t i = 0; i < c->n_svcs; i++)
		if (c->svcs[i].need_alloc && c->svcs[i].n_ports &&
		    c->part->vip(c->part->ctx, c->svcs[i].obj, &a))
			set_vip(&c->svcs[i], &a);
}

static void alloc_vips(struct cc *c)
{
	struct slp_vipreq *v;
	size_t i;

	if (c->part) {
		part_vips(c);
		return;
	}
	v = slp_xcalloc(c->n_svcs + 1, sizeof(*v));
	for (i = 0; i < c->n_svcs; i++) {
		struct svc *s = &c->svcs[i];

		v[i] = (struct slp_vipreq){ .ns = s->obj->ns, .name = s->obj->name, .vips = s->vips,
					    .n_vips = s->n_vips, .need = s->need_alloc && s->n_ports };
	}
	slp_alloc_vips(v, c->n_svcs, c->o);
	for (i = 0; i < c->n_svcs; i++) {
		struct svc *s = &c->svcs[i];

		if (v[i].err == SLP_VIP_NO_ROOM)
			CERR(c, s->obj, NULL, "", "no address: the service CIDR /%d has no "
			     "room for allocated VIPs", c->o->svc_cidr4_len);
		else if (v[i].err)
			CERR(c, s->obj, NULL, "", "no address left in the service CIDR");
		else if (v[i].out.family)
			set_vip(s, &v[i].out);
	}
	free(v);
}

/* ---- 3. endpoints --------------------------------------------------------- */

static void ep_push(struct sport *sp, const struct ep *e)
{
	sp->eps = slp_xrealloc(sp->eps, sp->n_eps + 1, sizeof(*sp->eps));
	sp->eps[sp->n_eps++] = *e;
}

static int ep_cmp(const void *a, const void *b)
{
	const struct ep *x = a, *y = b;
	int r = memcmp(x->a.addr, y->a.addr, sizeof(x->a.addr));

	if (r)
		return r;
	return (x->port > y->port) - (x->port < y->port);
}

static void eps_finish(struct sport *sp)
{
	size_t i, n = 0;

	if (!sp->n_eps)
		return;
	qsort(sp->eps, sp->n_eps, sizeof(*sp->eps), ep_cmp);
	for (i = 0; i < sp->n_eps; i++)
		if (!n || ep_cmp(&sp->eps[n - 1], &sp->eps[i]))
			sp->eps[n++] = sp->eps[i];
	sp->n_eps = n;
}

static const struct object *pod_get(const struct cc *c, const char *ns, const char *name)
{
	char key[300];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	return idx_get(&c->pods, key);
}

/* The slice port that carries service port SP, or NULL. */
static const struct node *slice_port(const struct node *ports, const struct sport *sp)
{
	const struct node *p;
	const char *nm, *pr;
	size_t i;

	for (i = 0; i < slp_seq_len(ports); i++) {
		p = ports->vals[i];
		nm = slp_node_str(slp_map_get(p, "name"));
		pr = slp_node_str(slp_map_get(p, "protocol"));
		if (proto_of(pr) != sp->proto)
			continue;
		if (!strcmp(nm ?: "", sp->name ?: "") ||
		    (sp->target_name && nm && !strcmp(nm, sp->target_name)))
			return p;
	}
	return NULL;
}

static void slice_eps(struct cc *c, const struct object *es, struct svc *s,
		      struct sport *sp, int fam)
{
	const struct node *ports = slp_map_get(es->root, "ports"), *sl, *eps, *e, *ref;
	const struct node *addrs;
	const struct object *pod;
	struct ep ep;
	long long port = 0;
	bool ready;
	size_t i, j;

	sl = slice_port(ports, sp);
	if (sl && !slp_node_int(slp_map_get(sl, "port"), &port))
		return;
	if (!sl && (slp_seq_len(ports) || !sp->target))
		return;
	if (!sl)
		port = sp->target;
	eps = slp_map_get(es->root, "endpoints");
	for (i = 0; i < slp_seq_len(eps); i++) {
		e = eps->vals[i];
		if (slp_node_bool(slp_path_get(e, "conditions.ready"), &ready) && !ready)
			continue;
		memset(&ep, 0, sizeof(ep));
		ep.port = (uint16_t)port;
		ep.weight = 1;
		ep.ns = s->obj->ns;
		ref = slp_map_get(e, "targetRef");
		ep.workload = slp_node_str(slp_map_get(ref, "name"));
		if (ep.workload && !strcmp(slp_node_str(slp_map_get(ref, "kind")) ?: "", "Pod")) {
			pod = pod_get(c, slp_node_str(slp_map_get(ref, "namespace")) ?: es->ns,
				      ep.workload);
			ep.labels = pod ? slp_path_get(pod->root, "metadata.labels") : NULL;
		}
		addrs = slp_map_get(e, "addresses");
		for (j = 0; j < slp_seq_len(addrs); j++) {
			if (!slp_node_str(addrs->vals[j]) || slp_parse_ip(addrs->vals[j]->s, &ep.a) ||
			    ep.a.family != fam)
				continue;
			ep_push(sp, &ep);
		}
	}
}

static const char *pod_ip(const struct object *pod, int fam, struct sl_l4addr *a)
{
	const struct node *st = slp_map_get(pod->root, "status"), *ips;
	const char *ip = slp_node_str(slp_map_get(st, "podIP"));
	size_t i;

	if (ip && !slp_parse_ip(ip, a) && a->family == fam)
		return ip;
	ips = slp_map_get(st, "podIPs");
	for (i = 0; i < slp_seq_len(ips); i++) {
		ip = slp_node_str(slp_map_get(ips->vals[i], "ip"));
		if (ip && !slp_parse_ip(ip, a) && a->family == fam)
			return ip;
	}
	return NULL;
}

/* containerPort named NAME in the pod's containers, or 0. */
static long long pod_named_port(const struct object *pod, const char *name)
{
	const struct node *cs = slp_path_get(pod->root, "spec.containers"), *ps;
	long long v;
	size_t i, j;

	for (i = 0; i < slp_seq_len(cs); i++) {
		ps = slp_map_get(cs->vals[i], "ports");
		for (j = 0; j < slp_seq_len(ps); j++)
			if (!strcmp(slp_node_str(slp_map_get(ps->vals[j], "name")) ?: "", name) &&
			    slp_node_int(slp_map_get(ps->vals[j], "containerPort"), &v) &&
			    v > 0 && v < 65536)
				return v;
	}
	return 0;
}

static void pod_ep(struct sport *sp, const struct object *pod, int fam)
{
	const char *phase;
	struct ep ep;

	memset(&ep, 0, sizeof(ep));
	ep.labels = slp_path_get(pod->root, "metadata.labels");
	if (!pod_ip(pod, fam, &ep.a))
		return;
	phase = slp_node_str(slp_path_get(pod->root, "status.phase"));
	if (phase && strcmp(phase, "Running"))
		return;
	ep.port = (uint16_t)(sp->target_name ? pod_named_port(pod, sp->target_name) :
					       sp->target);
	if (!ep.port)
		return;
	ep.weight = 1;
	ep.workload = pod->name;
	ep.ns = pod->ns;
	ep_push(sp, &ep);
}

/* Pods of the Service's namespace whose labels contain its selector. The
 * candidates come from the index of the selector's first label, so a
 * namespace with many services stays linear. */
static void pod_eps(struct cc *c, struct svc *s, struct sport *sp, int fam)
{
	const struct ient *e;
	char key[512];
	size_t i, n;

	if (!s->selector || s->selector->type != T_MAP || !s->selector->n ||
	    !s->selector->vals[0]->s)
		return;
	snprintf(key, sizeof(key), "%s/%s=%s", s->obj->ns, s->selector->keys[0]->s,
		 s->selector->vals[0]->s);
	e = idx_find(&c->pod_labels, key, &n);
	for (i = 0; e && i < n; i++) {
		const struct object *pod = e[i].val;

		if (slp_labels_match(slp_path_get(pod->root, "metadata.labels"), s->selector))
			pod_ep(sp, pod, fam);
	}
}

static void we_ep(struct sport *sp, const struct node *we, const char *workload,
		  const char *ns, int fam)
{
	struct ep ep;
	long long v;

	memset(&ep, 0, sizeof(ep));
	if (slp_parse_ip(slp_node_str(slp_map_get(we, "address")), &ep.a) || ep.a.family != fam)
		return;
	if (sp->name && slp_node_int(slp_map_get(slp_map_get(we, "ports"), sp->name), &v))
		ep.port = (uint16_t)v;
	else
		ep.port = (uint16_t)sp->target;
	ep.weight = 1;
	if (slp_node_int(slp_map_get(we, "weight"), &v) && v > 0)
		ep.weight = (uint32_t)v;
	ep.labels = slp_map_get(we, "labels");
	ep.workload = workload;
	ep.ns = ns;
	ep_push(sp, &ep);
}

static void se_eps(struct cc *c, struct svc *s, struct sport *sp, int fam)
{
	const struct node *eps = slp_path_get(s->obj->root, "spec.endpoints");
	const struct object *we;
	size_t i;

	for (i = 0; i < slp_seq_len(eps); i++)
		we_ep(sp, eps->vals[i], s->obj->name, s->obj->ns, fam);
	if (!s->selector || s->selector->type != T_MAP)
		return;
	for (i = 0; i < c->nby[K_WORKLOADENTRY]; i++) {
		we = c->by[K_WORKLOADENTRY][i];
		if (strcmp(we->ns, s->obj->ns) ||
		    !slp_labels_match(slp_path_get(we->root, "spec.labels"), s->selector))
			continue;
		we_ep(sp, slp_map_get(we->root, "spec"), we->name, we->ns, fam);
	}
}

static void check_rows_so_far(struct cc *c, const struct svc *s, size_t *rows);

static void build_endpoints(struct cc *c)
{
	const struct ient *e;
	char key[300];
	size_t i, j, k, n, rows = 0;
	int fam;

	for (i = 0; i < c->n_svcs && !c->over; i++) {
		struct svc *s = &c->svcs[i];

		fam = s->n_vips ? s->vips[0].family : SL_AF_INET;
		snprintf(key, sizeof(key), "%s/%s", s->obj->ns, s->obj->name);
		e = s->se ? NULL : idx_find(&c->slices, key, &n);
		for (j = 0; j < s->n_ports; j++) {
			struct sport *sp = &s->ports[j];

			if (s->se)
				se_eps(c, s, sp, fam);
			else if (e)
				for (k = 0; k < n; k++)
					slice_eps(c, e[k].val, s, sp, fam);
			else
				pod_eps(c, s, sp, fam);
			eps_finish(sp);
		}
		if (!c->part)
			check_rows_so_far(c, s, &rows);
	}
}

/* ---- 4. DestinationRules, VirtualServices --------------------------------- */

/* One host named by a DestinationRule or VirtualService, for indexing. */
struct hostref {
	char key[256];
	const struct object *o;
	const struct node *n; /* the host's node, for messages */
	size_t j; /* index in spec.hosts (VirtualService) */
	size_t seq; /* input order: the first one wins */
};

static int hostref_cmp(const void *a, const void *b)
{
	const struct hostref *x = a, *y = b;
	int r = strcmp(x->key, y->key);

	return r ? r : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sorts the references once and builds OUT from the first of each host;
 * every later one is reported through DUP. (Sorting after each insert was
 * quadratic: 10,000 DestinationRules took seconds.) */
static void index_hostrefs(struct cc *c, struct hostref *v, size_t n, struct index *out,
			   void (*dup)(struct cc *c, const struct hostref *d,
				       const struct hostref *first))
{
	size_t first = 0;

	if (n)
		qsort(v, n, sizeof(*v), hostref_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i && !strcmp(v[i].key, v[first].key)) {
			dup(c, &v[i], &v[first]);
			continue;
		}
		first = i;
		idx_add(out, v[i].key, v[i].o);
	}
	idx_sort(out);
}

static void dr_dup(struct cc *c, const struct hostref *d, const struct hostref *first)
{
	const struct object *prev = first->o;

	CERR(c, d->o, d->n, "spec.host", "host %s already has DestinationRule "
	     "%s/%s (%s:%d)", d->key, prev->ns, prev->name, prev->file,
	     slp_path_get(prev->root, "spec.host")->line);
}

static void index_drs(struct cc *c)
{
	struct hostref *v = slp_xrealloc(NULL, c->nby[K_DESTINATIONRULE] + 1, sizeof(*v));
	const struct object *o;
	const struct node *h;
	size_t i, n = 0;

	for (i = 0; i < c->nby[K_DESTINATIONRULE]; i++) {
		o = c->by[K_DESTINATIONRULE][i];
		h = slp_path_get(o->root, "spec.host");
		if (!slp_node_str(h))
			continue;
		host_key(c, h->s, o->ns, v[n].key, sizeof(v[n].key));
		v[n].o = o;
		v[n].n = h;
		v[n].j = 0;
		v[n].seq = n;
		n++;
	}
	index_hostrefs(c, v, n, &c->dr_by_host, dr_dup);
	free(v);
}

static void vs_dup(struct cc *c, const struct hostref *d, const struct hostref *first)
{
	const struct object *prev = first->o;
	char path[64];

	snprintf(path, sizeof(path), "spec.hosts[%zu]", d->j);
	CERR(c, d->o, d->n, path, "host %s already has "
	     "VirtualService %s/%s (%s:%d); at most one "
	     "VirtualService per host", d->key, prev->ns,
	     prev->name, prev->file, prev->line);
}

static void index_vss(struct cc *c)
{
	const struct object *o;
	const struct node *hs;
	struct hostref *v = NULL;
	size_t i, j, n = 0, cap = 0;

	for (i = 0; i < c->nby[K_VIRTUALSERVICE]; i++) {
		o = c->by[K_VIRTUALSERVICE][i];
		hs = slp_path_get(o->root, "spec.hosts");
		for (j = 0; j < slp_seq_len(hs); j++) {
			if (!slp_node_str(hs->vals[j]))
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				v = slp_xrealloc(v, cap, sizeof(*v));
			}
			host_key(c, hs->vals[j]->s, o->ns, v[n].key, sizeof(v[n].key));
			v[n].o = o;
			v[n].n = hs->vals[j];
			v[n].j = j;
			v[n].seq = n;
			n++;
		}
	}
	index_hostrefs(c, v, n, &c->vs_by_host, vs_dup);
	free(v);
}

static const struct node *dr_subset(const struct object *dr, const char *name)
{
	const struct node *subs = dr ? slp_path_get(dr->root, "spec.subsets") : NULL;
	size_t i;

	for (i = 0; i < slp_seq_len(subs); i++)
		if (!strcmp(slp_node_str(slp_map_get(subs->vals[i], "name")) ?: "", name))
			return subs->vals[i];
	return NULL;
}

static void subset_names(const struct object *dr, char *buf, size_t len)
{
	const struct node *subs = dr ? slp_path_get(dr->root, "spec.subsets") : NULL;
	size_t i, off = 0;

	buf[0] = 0;
	for (i = 0; i < slp_seq_len(subs) && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
					slp_node_str(slp_map_get(subs->vals[i], "name")) ?: "");
}

static void check_dest(struct cc *c, const struct object *vs, const struct node *dst,
		       const char *base)
{
	const struct node *h = slp_map_get(dst, "host"), *sub = slp_map_get(dst, "subset");
	const struct svc *s;
	const struct object *dr;
	char path[300], fq[256], names[200];

	if (!slp_node_str(h))
		return;
	s = svc_for_host(c, h->s, vs->ns);
	snprintf(path, sizeof(path), "%s.destination.host", base);
	if (!s) {
		resolve_host(c, h->s, vs->ns, fq, sizeof(fq));
		CERR(c, vs, h, path, "unknown host \"%s\" (%s): no Service or "
		     "ServiceEntry has it", h->s, fq);
		return;
	}
	if (!slp_node_str(sub))
		return;
	dr = dr_for_svc(c, s);
	if (dr_subset(dr, sub->s))
		return;
	snprintf(path, sizeof(path), "%s.destination.subset", base);
	subset_names(dr, names, sizeof(names));
	if (dr)
		CERR(c, vs, sub, path, "unknown subset \"%s\" of host %s: "
		     "DestinationRule %s/%s defines %s", sub->s, s->host, dr->ns,
		     dr->name, *names ? names : "none");
	else
		CERR(c, vs, sub, path, "unknown subset \"%s\" of host %s: no "
		     "DestinationRule for this host", sub->s, s->host);
}

static void check_vs_routes(struct cc *c, const struct object *vs)
{
	static const char *const kinds[] = { "http", "tcp", "tls" };
	const struct node *rs, *route;
	char base[128];
	size_t k, i, j;

	for (k = 0; k < 3; k++) {
		rs = slp_map_get(slp_map_get(vs->root, "spec"), kinds[k]);
		for (i = 0; i < slp_seq_len(rs); i++) {
			route = slp_map_get(rs->vals[i], "route");
			for (j = 0; j < slp_seq_len(route); j++) {
				snprintf(base, sizeof(base), "spec.%s[%zu].route[%zu]",
					 kinds[k], i, j);
				check_dest(c, vs, slp_map_get(route->vals[j], "destination"), base);
			}
		}
	}
}

/* ---- 5. traffic policy ---------------------------------------------------- */

struct tpol {
	int lb; /* -1: not set */
	long long max_conns; /* -1: not set */
	bool od; /* outlier detection configured at some level */
	long long v[5]; /* consec5xx, consecGw, maxEjectPct, minHealthPct: -1 unset */
	uint64_t interval, base; /* 0: unset */
};

enum { OD_5XX, OD_GW, OD_MAXEJ, OD_MINH };

static int lb_of(const char *s)
{
	if (!s || !strcmp(s, "UNSPECIFIED"))
		return -1;
	if (!strcmp(s, "LEAST_CONN"))
		return SL_LB_LEAST_CONN;
	if (!strcmp(s, "ROUND_ROBIN"))
		return SL_LB_ROUND_ROBIN;
	if (!strcmp(s, "RANDOM"))
		return SL_LB_RANDOM;
	if (!strcmp(s, "PASSTHROUGH"))
		return SL_LB_PASSTHROUGH;
	return SL_LB_LEAST_REQUEST;
}

/* One outlier block (outlierDetection or its legacy alias) over T. */
static void od_apply(struct tpol *t, const struct node *od, bool alias)
{
	long long v;
	uint64_t ns;

	if (!od)
		return;
	t->od = true;
	if (slp_node_int(slp_map_get(od, alias ? "consecutiveErrors" : "consecutive5xxErrors"), &v))
		t->v[OD_5XX] = v;
	else if (!alias && slp_node_int(slp_map_get(od, "consecutiveErrors"), &v))
		t->v[OD_5XX] = v;
	if (!alias && slp_node_int(slp_map_get(od, "consecutiveGatewayErrors"), &v))
		t->v[OD_GW] = v;
	if (slp_node_int(slp_map_get(od, "maxEjectionPercent"), &v))
		t->v[OD_MAXEJ] = v;
	if (slp_node_int(slp_map_get(od, "minHealthPercent"), &v))
		t->v[OD_MINH] = v;
	if (!slp_parse_duration_ns(slp_node_str(slp_map_get(od, "interval")), &ns))
		t->interval = ns;
	if (!slp_parse_duration_ns(slp_node_str(slp_map_get(od, "baseEjectionTime")), &ns))
		t->base = ns;
}

/* A trafficPolicy over T, field by field: the alias first, so that the
 * explicit outlierDetection fields win. */
static void tp_apply(struct tpol *t, const struct node *tp)
{
	long long v;
	int lb;

	if (!tp)
		return;
	lb = lb_of(slp_node_str(slp_path_get(tp, "loadBalancer.simple")));
	if (lb >= 0)
		t->lb = lb;
	if (slp_node_int(slp_path_get(tp, "connectionPool.tcp.maxConnections"), &v))
		t->max_conns = v;
	od_apply(t, slp_map_get(tp, "circuitBreaker"), true);
	od_apply(t, slp_map_get(tp, "outlierDetection"), false);
}

static long long dflt(long long v, long long d)
{
	return v >= 0 ? v : d;
}

/* Group settings from the DestinationRule: top level, then the subset's. */
static void group_policy(const struct object *dr, const struct node *subset,
			 struct sl_group *g)
{
	struct tpol t = { .lb = -1, .max_conns = -1, .v = { -1, -1, -1, -1, -1 } };

	if (dr)
		tp_apply(&t, slp_path_get(dr->root, "spec.trafficPolicy"));
	tp_apply(&t, slp_map_get(subset, "trafficPolicy"));
	g->lb = (uint8_t)(t.lb >= 0 ? t.lb : SL_LB_LEAST_REQUEST);
	g->max_conns = (uint32_t)(t.max_conns > 0 ? t.max_conns : 0);
	if (!t.od)
		return;
	/* Istio's defaults for whatever the policy leaves out. */
	g->outlier.enabled = 1;
	g->outlier.consec_5xx = (uint32_t)dflt(t.v[OD_5XX], 5);
	g->outlier.consec_gw = (uint32_t)dflt(t.v[OD_GW], 0);
	g->outlier.max_eject_pct = (uint8_t)dflt(t.v[OD_MAXEJ], 10);
	g->outlier.min_health_pct = (uint8_t)dflt(t.v[OD_MINH], 0);
	g->outlier.interval_ns = t.interval ? t.interval : 10000000000ull;
	g->outlier.base_eject_ns = t.base ? t.base : 30000000000ull;
}

/* ---- 5. frontends --------------------------------------------------------- */

struct fe_ctx {
	struct svc *s;
	struct sport *sp;
	struct sl_table_svc *ts;
	const struct object *vs;
};

static void why_add(struct sl_table_svc *ts, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void why_add(struct sl_table_svc *ts, const char *fmt, ...)
{
	size_t off = strlen(ts->handoff_why);
	va_list ap;

	if (off && off + 2 < sizeof(ts->handoff_why)) {
		strcpy(ts->handoff_why + off, "; ");
		off += 2;
	}
	va_start(ap, fmt);
	vsnprintf(ts->handoff_why + off, sizeof(ts->handoff_why) - off, fmt, ap);
	va_end(ap);
}

/* The route that carries plain L4 traffic on this port (see POLICY.md). */
static const struct node *pick_route(const struct fe_ctx *f, const char **kind,
				     size_t *idx)
{
	const struct node *spec = slp_map_get(f->vs->root, "spec"), *rs, *m, *p;
	long long v;
	size_t i, j;

	rs = slp_map_get(spec, "tcp");
	for (i = 0; i < slp_seq_len(rs); i++) {
		m = slp_map_get(rs->vals[i], "match");
		for (j = 0; j < slp_seq_len(m); j++) {
			p = slp_map_get(m->vals[j], "port");
			if (!p || (slp_node_int(p, &v) && v == f->sp->port))
				break;
		}
		if (!slp_seq_len(m) || j < slp_seq_len(m)) {
			*kind = "tcp";
			*idx = i;
			return slp_map_get(rs->vals[i], "route");
		}
	}
	rs = slp_map_get(spec, "http");
	for (i = 0; i < slp_seq_len(rs); i++)
		if (!slp_seq_len(slp_map_get(rs->vals[i], "match")))
			break;
	if (!slp_seq_len(rs))
		return NULL;
	*kind = "http";
	*idx = i < rs->n ? i : rs->n - 1;
	return slp_map_get(rs->vals[*idx], "route");
}

/* The destination service's port for a route destination. */
static struct sport *dest_port(struct cc *c, const struct fe_ctx *f,
			       const struct svc *ds, const struct node *dst,
			       const char *base)
{
	const struct node *pn = slp_path_get(dst, "port.number");
	char path[300];
	long long want;
	size_t i;

	if (slp_node_int(pn, &want)) {
		for (i = 0; i < ds->n_ports; i++)
			if (ds->ports[i].port == want)
				return &ds->ports[i];
		snprintf(path, sizeof(path), "%s.destination.port.number", base);
		CERR(c, f->vs, pn, path, "host %s has no port %lld", ds->host, want);
		return NULL;
	}
	for (i = 0; i < ds->n_ports; i++)
		if (ds->ports[i].port == f->sp->port && ds->ports[i].proto == f->sp->proto)
			return &ds->ports[i];
	if (ds->n_ports == 1)
		return &ds->ports[0];
	snprintf(path, sizeof(path), "%s.destination", base);
	CERR(c, f->vs, dst, path, "destination port is required: host %s has %zu "
	     "ports and none is %u", ds->host, ds->n_ports, f->sp->port);
	return NULL;
}

/* Rows past the limit are counted, not kept: a rejected policy costs
 * memory in proportion to the limit, not to what it asks for. */
static void be_push(struct cc *c, const struct sl_table_backend *b)
{
	if (++c->rows == (size_t)c->o->max_backends + 1)
		c->cross_fe = c->t->n_svcs - 1;
	if (c->rows > c->o->max_backends)
		return;
	if (c->t->n_backends == c->cap_be) {
		c->cap_be = c->cap_be ? c->cap_be * 2 : 256;
		c->t->backends = slp_xrealloc(c->t->backends, c->cap_be, sizeof(*c->t->backends));
	}
	c->t->backends[c->t->n_backends++] = *b;
}

/* One group: endpoints of DP (optionally narrowed to a subset) as rows. */
static int add_group(struct cc *c, struct fe_ctx *f, const struct svc *ds,
		     const struct sport *dp, const char *subset, uint16_t weight)
{
	const struct object *dr = dr_for_svc(c, ds);
	const struct node *sub = subset && *subset ? dr_subset(dr, subset) : NULL;
	const struct node *sel = slp_map_get(sub, "labels");
	struct sl_svc_val *v = &f->ts->val;
	struct sl_group *g;
	struct sl_table_backend b;
	size_t i, gi = v->n_groups;

	if (gi >= SL_MAX_GROUPS) {
		CERR(c, f->vs, NULL, "", "route of %s has more than %u destinations, the "
		     "limit (SL_MAX_GROUPS)", f->s->host, SL_MAX_GROUPS);
		return -1;
	}
	g = &v->groups[gi];
	g->first = (uint32_t)c->t->n_backends;
	g->weight = weight;
	g->tag = sl_subset_tag(subset);
	group_policy(dr, sub, g);
	slp_scopy(f->ts->subset[gi], SL_NAME_LEN, subset ?: "");
	for (i = 0; dp && i < dp->n_eps; i++) {
		const struct ep *e = &dp->eps[i];

		if (!slp_labels_match(e->labels, sel))
			continue;
		memset(&b, 0, sizeof(b));
		b.be.ep = e->a;
		b.be.ep.port = htons(e->port);
		b.be.ep.proto = f->sp->proto;
		b.be.weight = e->weight;
		g->total += e->weight;
		b.be.cum = g->total;
		slp_scopy(b.meta.workload, SL_NAME_LEN, e->workload);
		slp_scopy(b.meta.ns, SL_NAME_LEN, e->ns);
		b.svc = (uint32_t)(f->ts - c->t->svcs);
		b.group = (uint32_t)gi;
		slp_labels_fmt(e->labels, b.labels, sizeof(b.labels));
		b.ready = true;
		be_push(c, &b);
		g->count++;
	}
	v->n_groups++;
	v->route_total = (uint16_t)(v->route_total + weight);
	if (g->count > SL_MAX_GROUP_BACKENDS) {
		CERR(c, f->s->obj, NULL, "", "%s port %u: %u endpoints in group \"%s\", "
		     "the limit is %u (SL_MAX_GROUP_BACKENDS)", f->s->host, f->sp->port,
		     g->count, subset ?: "", SL_MAX_GROUP_BACKENDS);
		return -1;
	}
	if (sub && !g->count && dp && dp->n_eps) {
		char path[64];
		const struct node *subs = slp_path_get(dr->root, "spec.subsets");

		for (i = 0; i < slp_seq_len(subs) && subs->vals[i] != sub; i++)
			;
		snprintf(path, sizeof(path), "spec.subsets[%zu]", i);
		CERR(c, dr, sub, path, "subset \"%s\" selects no endpoint of %s port %u "
		     "(%zu endpoints, none has its labels)", subset, ds->host,
		     dp->port, dp->n_eps);
		return -1;
	}
	return 0;
}

static void groups_from_route(struct cc *c, struct fe_ctx *f, const struct node *route,
			      const char *kind, size_t ri)
{
	const struct node *r, *dst;
	const struct svc *ds;
	struct sport *dp;
	char base[128];
	long long w;
	size_t i;

	for (i = 0; i < slp_seq_len(route); i++) {
		r = route->vals[i];
		dst = slp_map_get(r, "destination");
		snprintf(base, sizeof(base), "spec.%s[%zu].route[%zu]", kind, ri, i);
		ds = slp_node_str(slp_map_get(dst, "host")) ?
			     svc_for_host(c, slp_map_get(dst, "host")->s, f->vs->ns) : NULL;
		if (!ds)
			continue; /* diagnosed by check_vs_routes() */
		dp = dest_port(c, f, ds, dst, base);
		if (!dp)
			continue;
		if (!slp_node_int(slp_map_get(r, "weight"), &w))
			w = route->n == 1 ? 100 : 0;
		if (add_group(c, f, ds, dp, slp_node_str(slp_map_get(dst, "subset")), (uint16_t)w))
			return;
	}
}

/* Hand-off reasons from the VirtualService. */
static void vs_handoff(struct fe_ctx *f)
{
	const struct node *spec = slp_map_get(f->vs->root, "spec"), *http, *h, *rt;
	struct sl_svc_val *v = &f->ts->val;
	const char *nm = f->vs->name, *ns = f->vs->ns;
	size_t i, j, k;

	http = slp_map_get(spec, "http");
	for (i = 0; i < slp_seq_len(http); i++) {
		h = http->vals[i];
		if (slp_seq_len(slp_map_get(h, "match"))) {
			v->handoff_reasons |= SL_HO_HTTP_MATCH;
			why_add(f->ts, "http match (VirtualService %s/%s spec.http[%zu].match)",
				ns, nm, i);
		}
		for (k = 0; h->type == T_MAP && k < h->n; k++) {
			const char *key = h->keys[k]->s;

			if (!strcmp(key, "name") || !strcmp(key, "match") ||
			    !strcmp(key, "route") || h->vals[k]->type == T_NULL)
				continue;
			v->handoff_reasons |= SL_HO_HTTP_FEATURE;
			why_add(f->ts, "http %s (VirtualService %s/%s spec.http[%zu].%s)",
				key, ns, nm, i, key);
		}
		rt = slp_map_get(h, "route");
		for (j = 0; j < slp_seq_len(rt); j++)
			if (slp_map_get(rt->vals[j], "headers")) {
				v->handoff_reasons |= SL_HO_HTTP_FEATURE;
				why_add(f->ts, "http headers (VirtualService %s/%s "
					"spec.http[%zu].route[%zu].headers)", ns, nm, i, j);
			}
	}
	if (slp_seq_len(http) > 1 && !(v->handoff_reasons & SL_HO_HTTP_MATCH)) {
		v->handoff_reasons |= SL_HO_HTTP_MATCH;
		why_add(f->ts, "%u http routes (VirtualService %s/%s spec.http)",
			http->n, ns, nm);
	}
	if (slp_seq_len(slp_map_get(spec, "tls"))) {
		v->handoff_reasons |= SL_HO_TLS_ROUTE;
		why_add(f->ts, "tls routes (VirtualService %s/%s spec.tls)", ns, nm);
	}
}

/* ---- security selection --------------------------------------------------- */

static const struct node *pol_selector(const struct object *pol)
{
	const struct node *ml = slp_path_get(pol->root, "spec.selector.matchLabels");

	return ml && ml->type == T_MAP && ml->n ? ml : NULL;
}

/* Istio's selection: without selector, the namespace (or the whole mesh from
 * the root namespace); with one, workloads of its namespace whose labels
 * contain it, i.e. the Service's selector or any endpoint's labels. */
static bool pol_selects(const struct object *pol, const struct svc *s)
{
	const struct node *ml = pol_selector(pol);
	size_t i, j;

	if (!ml)
		return !strcmp(pol->ns, ROOT_NAMESPACE) || !strcmp(pol->ns, s->obj->ns);
	if (strcmp(pol->ns, s->obj->ns))
		return false;
	if (s->selector && s->selector->type == T_MAP && s->selector->n &&
	    slp_labels_match(s->selector, ml))
		return true;
	for (i = 0; i < s->n_ports; i++)
		for (j = 0; j < s->ports[i].n_eps; j++)
			if (slp_labels_match(s->ports[i].eps[j].labels, ml))
				return true;
	return false;
}

static const char *pa_mode(const struct node *pa, long long port)
{
	const struct node *pl = slp_path_get(pa, "spec.portLevelMtls"), *m;
	char key[16];

	snprintf(key, sizeof(key), "%lld", port);
	m = slp_path_get(slp_map_get(pl, key), "mode");
	if (slp_node_str(m) && strcmp(m->s, "UNSET"))
		return m->s;
	m = slp_path_get(pa, "spec.mtls.mode");
	return slp_node_str(m) && strcmp(m->s, "UNSET") ? m->s : NULL;
}

/* Most specific PeerAuthentication wins: workload, namespace, mesh. */
static void pa_handoff(struct cc *c, struct fe_ctx *f)
{
	const struct object *lv[3] = { NULL, NULL, NULL }, *pa;
	const char *mode = NULL;
	long long port = f->sp->target ? f->sp->target :
			 f->sp->n_eps ? f->sp->eps[0].port : f->sp->port;
	size_t i;
	int l;

	for (i = 0; i < c->nby[K_PEERAUTHN]; i++) {
		pa = c->by[K_PEERAUTHN][i];
		if (!pol_selects(pa, f->s))
			continue;
		l = pol_selector(pa) ? 0 : strcmp(pa->ns, f->s->obj->ns) ? 2 : 1;
		if (!lv[l])
			lv[l] = pa;
	}
	for (l = 0; l < 3 && !mode; l++) {
		if (!lv[l])
			continue;
		mode = pa_mode(lv[l]->root, port);
		if (mode && !strcmp(mode, "STRICT")) {
			f->ts->val.handoff_reasons |= SL_HO_MTLS_STRICT;
			why_add(f->ts, "mTLS STRICT (PeerAuthentication %s/%s)",
				lv[l]->ns, lv[l]->name);
		}
	}
}

static void authz_handoff(struct cc *c, struct fe_ctx *f, int kind, uint32_t bit,
			  const char *what)
{
	const struct object *o;
	size_t i;

	for (i = 0; i < c->nby[kind]; i++) {
		o = c->by[kind][i];
		if (!pol_selects(o, f->s))
			continue;
		f->ts->val.handoff_reasons |= bit;
		why_add(f->ts, "%s (%s %s/%s)", what, o->kind, o->ns, o->name);
	}
}

/* ---- frontends ------------------------------------------------------------ */

static void first_subsets(struct cc *c, size_t first_row, struct sl_table_svc *ts)
{
	struct sl_table_backend *b = c->t->backends, *x;
	size_t i, j;

	for (i = first_row; i < c->t->n_backends; i++) {
		for (j = first_row; j <= i; j++) {
			x = &b[j];
			if (!memcmp(&x->be.ep, &b[i].be.ep, sizeof(x->be.ep)))
				break;
		}
		slp_scopy(b[i].meta.subset, SL_NAME_LEN, ts->subset[b[j].group]);
	}
}

static struct sl_table_svc *svc_push(struct cc *c)
{
	if (c->t->n_svcs == c->cap_svcs) {
		c->cap_svcs = c->cap_svcs ? c->cap_svcs * 2 : 64;
		c->t->svcs = slp_xrealloc(c->t->svcs, c->cap_svcs, sizeof(*c->t->svcs));
	}
	memset(&c->t->svcs[c->t->n_svcs], 0, sizeof(c->t->svcs[0]));
	return &c->t->svcs[c->t->n_svcs++];
}

static void build_frontend(struct cc *c, struct svc *s, struct sport *sp,
			   const struct sl_l4addr *vip)
{
	struct fe_ctx f = { .s = s, .sp = sp };
	size_t row0 = c->t->n_backends, ri = 0;
	const struct node *route = NULL;
	const char *kind = NULL;

	f.ts = svc_push(c);
	f.ts->fe = *vip;
	f.ts->fe.port = htons(sp->port);
	f.ts->fe.proto = sp->proto;
	f.ts->val.id = (uint32_t)(c->t->n_svcs - 1);
	slp_scopy(f.ts->meta.name, SL_NAME_LEN, s->obj->name);
	slp_scopy(f.ts->meta.ns, SL_NAME_LEN, s->obj->ns);
	slp_scopy(f.ts->host, sizeof(f.ts->host), s->host);
	slp_scopy(f.ts->port_name, SL_NAME_LEN, sp->name ?: "");
	slp_scopy(f.ts->kind, sizeof(f.ts->kind), s->se ? "ServiceEntry" : "Service");
	f.vs = vs_for_svc(c, s);
	if (f.vs) {
		route = pick_route(&f, &kind, &ri);
		vs_handoff(&f);
	}
	if (route)
		groups_from_route(c, &f, route, kind, ri);
	else
		add_group(c, &f, s, sp, "", 100);
	pa_handoff(c, &f);
	authz_handoff(c, &f, K_AUTHZ, SL_HO_AUTHZ, "authorization");
	authz_handoff(c, &f, K_REQAUTHN, SL_HO_JWT, "JWT authentication");
	if (f.ts->val.handoff_reasons)
		f.ts->val.flags |= SL_SVC_F_HANDOFF;
	first_subsets(c, row0, f.ts);
}

/* Room for the frontends and for the rows of services without routes,
 * known from counts: growing the tables a row at a time copied them
 * (a row is ~450 bytes, a frontend ~1.5 KB) about twice over. */
static void reserve_tables(struct cc *c)
{
	size_t fes = 0, rows = 0;

	for (size_t i = 0; i < c->n_svcs; i++) {
		const struct svc *s = &c->svcs[i];

		if (c->part && !c->part->build(c->part->ctx, s->obj))
			continue;
		fes += s->n_ports * s->n_vips;
		for (size_t j = 0; j < s->n_ports; j++)
			rows += s->ports[j].n_eps * s->n_vips;
	}
	if (rows > c->o->max_backends)
		rows = c->o->max_backends;
	if (fes > c->cap_svcs) {
		c->cap_svcs = fes;
		c->t->svcs = slp_xrealloc(c->t->svcs, fes, sizeof(*c->t->svcs));
	}
	if (rows > c->cap_be) {
		c->cap_be = rows;
		c->t->backends = slp_xrealloc(c->t->backends, rows, sizeof(*c->t->backends));
	}
}

static void build_frontends(struct cc *c)
{
	size_t i, j, k, eps;

	reserve_tables(c);

	for (i = 0; i < c->n_svcs; i++) {
		struct svc *s = &c->svcs[i];

		s->first_fe = c->t->n_svcs;
		/* A partial compile builds the affected units only; the rest
		 * of its services are there as route destinations and names. */
		if (c->part && !c->part->build(c->part->ctx, s->obj)) {
			s->n_fe = 0;
			continue;
		}
		for (j = 0, eps = 0; j < s->n_ports; j++) {
			eps += s->ports[j].n_eps;
			for (k = 0; k < s->n_vips; k++)
				build_frontend(c, s, &s->ports[j], &s->vips[k]);
		}
		s->n_fe = c->t->n_svcs - s->first_fe;
		if (!eps && s->n_fe)
			slp_diag_at(c->d, SL_SEV_WARNING, s->obj,
				slp_path_get(s->obj->root, "metadata.name"), "metadata.name",
				"%s has no endpoints yet: connections to it are refused "
				"(ECONNREFUSED) until endpoints arrive", s->host);
	}
}

static int fe_cmp(const void *a, const void *b)
{
	const struct sl_table_svc *x = *(struct sl_table_svc *const *)a,
				  *y = *(struct sl_table_svc *const *)b;
	int r = memcmp(&x->fe, &y->fe, sizeof(x->fe));

	return r ? r : (x->val.id > y->val.id) - (x->val.id < y->val.id);
}

static const struct svc *svc_of_fe(const struct cc *c, size_t fe)
{
	size_t i;

	for (i = 0; i < c->n_svcs; i++)
		if (fe >= c->svcs[i].first_fe && fe < c->svcs[i].first_fe + c->svcs[i].n_fe)
			return &c->svcs[i];
	return NULL;
}

static void check_duplicates(struct cc *c)
{
	struct sl_table_svc **v;
	const struct svc *a, *b;
	char buf[80];
	size_t i;

	if (c->t->n_svcs < 2)
		return;
	v = slp_xcalloc(c->t->n_svcs, sizeof(*v));
	for (i = 0; i < c->t->n_svcs; i++)
		v[i] = &c->t->svcs[i];
	qsort(v, c->t->n_svcs, sizeof(*v), fe_cmp);
	for (i = 1; i < c->t->n_svcs; i++) {
		if (memcmp(&v[i]->fe, &v[i - 1]->fe, sizeof(v[i]->fe)))
			continue;
		a = svc_of_fe(c, v[i - 1]->val.id);
		b = svc_of_fe(c, v[i]->val.id);
		CERR(c, b->obj, slp_path_get(b->obj->root, "metadata.name"), "metadata.name",
		     "duplicate frontend %s: also %s %s/%s (%s:%d)",
		     sl_fmt_l4_local(&v[i]->fe, buf, sizeof(buf)), a->obj->kind,
		     a->obj->ns, a->obj->name, a->obj->file, a->obj->line);
	}
	free(v);
}

/* ---- capacity ------------------------------------------------------------- */

#define CAP_SERVICES "too many services: %zu frontends (ports x addresses), the limit is %u " \
	"(SL_MAX_SERVICES, one slot of sl_services); this is where the limit is crossed"
#define CAP_ROWS "too many endpoints: %s%zu backend rows, the limit is %u (SL_MAX_BACKENDS, " \
	"one slot of sl_backends); this is where the limit is crossed"

static void cap_error(struct cc *c, const struct svc *s, const char *fmt, const char *pre,
		      size_t n, uint32_t limit)
{
	const struct node *at = slp_path_get(s->obj->root, "metadata.name");

	if (pre)
		CERR(c, s->obj, at, "metadata.name", fmt, pre, n, limit);
	else
		CERR(c, s->obj, at, "metadata.name", fmt, n, limit);
	c->over = true;
}

/* Frontends from counts, before any table is built. */
static void check_frontends(struct cc *c)
{
	const struct svc *cross = NULL;
	size_t n = 0;

	for (size_t i = 0; i < c->n_svcs; i++) {
		n += c->svcs[i].n_ports * c->svcs[i].n_vips;
		if (!cross && n > c->o->max_services)
			cross = &c->svcs[i];
	}
	if (cross)
		cap_error(c, cross, CAP_SERVICES, NULL, n, c->o->max_services);
}

/* After building S's endpoints: a service no VirtualService routes gets
 * exactly its endpoints as rows on each of its frontends, which bounds the
 * rows from below while endpoints are still being collected. */
static void check_rows_so_far(struct cc *c, const struct svc *s, size_t *rows)
{
	if (vs_for_svc(c, s))
		return;
	for (size_t j = 0; j < s->n_ports; j++)
		*rows += s->ports[j].n_eps * s->n_vips;
	if (*rows > c->o->max_backends)
		cap_error(c, s, CAP_ROWS, "at least ", *rows, c->o->max_backends);
}

static void check_capacity(struct cc *c)
{
	if (c->rows > c->o->max_backends)
		cap_error(c, svc_of_fe(c, c->cross_fe), CAP_ROWS, "", c->rows, c->o->max_backends);
}

/* ---- 6. policies ---------------------------------------------------------- */

static void pol_summary(const struct object *o, char *buf, size_t len)
{
	const struct node *spec = slp_map_get(o->root, "spec"), *n;
	const char *s;

	switch (o->id) {
	case K_PEERAUTHN:
		s = slp_node_str(slp_path_get(spec, "mtls.mode"));
		n = slp_map_get(spec, "portLevelMtls");
		snprintf(buf, len, "mtls %s%s", s ? s : "UNSET",
			 n && n->type == T_MAP && n->n ? ", port-level overrides" : "");
		break;
	case K_AUTHZ:
		s = slp_node_str(slp_map_get(spec, "action"));
		snprintf(buf, len, "%s, %zu rules", s ? s : "ALLOW",
			 slp_seq_len(slp_map_get(spec, "rules")));
		break;
	default:
		n = slp_map_get(spec, "jwtRules");
		s = slp_seq_len(n) ? slp_node_str(slp_map_get(n->vals[0], "issuer")) : NULL;
		snprintf(buf, len, "issuer %s%s", s ? s : "none",
			 slp_seq_len(n) > 1 ? " (and more)" : "");
		break;
	}
}

static void build_policies(struct cc *c)
{
	static const int kinds[] = { K_AUTHZ, K_PEERAUTHN, K_REQAUTHN };
	struct sl_table_policy *tp;
	const struct object *o;
	size_t k, i, j, f, n = 0;

	for (k = 0; k < 3; k++)
		n += c->nby[kinds[k]];
	c->t->policies = slp_xcalloc(n, sizeof(*c->t->policies));
	for (k = 0; k < 3; k++) {
		for (i = 0; i < c->nby[kinds[k]]; i++) {
			o = c->by[kinds[k]][i];
			tp = &c->t->policies[c->t->n_policies++];
			slp_scopy(tp->kind, sizeof(tp->kind), o->kind);
			slp_scopy(tp->ns, SL_NAME_LEN, o->ns);
			slp_scopy(tp->name, SL_NAME_LEN, o->name);
			pol_summary(o, tp->summary, sizeof(tp->summary));
			for (j = 0; j < c->n_svcs; j++) {
				if (!pol_selects(o, &c->svcs[j]))
					continue;
				tp->svcs = slp_xrealloc(tp->svcs, tp->n_svcs + c->svcs[j].n_fe,
						    sizeof(*tp->svcs));
				for (f = 0; f < c->svcs[j].n_fe; f++)
					tp->svcs[tp->n_svcs++] = (uint32_t)(c->svcs[j].first_fe + f);
			}
		}
	}
}

/* ---- driver --------------------------------------------------------------- */

/* NetworkPolicy depends on Pods and Namespaces only, so it compiles (and
 * reports) even when the services have errors. It reads a Pod through the
 * bytes its summary keeps (netpod.c): a partial compile gets every Pod's
 * from its caller, a whole one makes them here. */
static void compile_netpol(struct cc *c)
{
	struct np_objs in = {
		.nss = c->by[K_NAMESPACE], .n_nss = c->nby[K_NAMESPACE],
		.nps = c->by[K_NETPOL], .n_nps = c->nby[K_NETPOL],
	};
	struct np_pod *pods = NULL;
	size_t i;

	if (c->part) {
		in.pods = c->part->pods;
		in.n_pods = c->part->n_pods;
		in.pod_obj = c->part->pod_obj;
		in.ctx = (void *)c->part->ctx;
	} else if (c->nby[K_NETPOL]) {
		pods = slp_xcalloc(c->nby[K_POD] + 1, sizeof(*pods));
		for (i = 0; i < c->nby[K_POD]; i++) {
			const struct object *o = c->by[K_POD][i];

			pods[i] = (struct np_pod){ .ns = o->ns, .name = o->name, .o = o };
			pods[i].np = slp_np_encode(o, &pods[i].n_np);
		}
		in.pods = pods;
		in.n_pods = c->nby[K_POD];
	}
	slp_netpol_compile(&in, c->t, c->d);
	for (i = 0; pods && i < c->nby[K_POD]; i++)
		free((void *)pods[i].np);
	free(pods);
}

static void index_pod_labels(struct cc *c, const struct object *pod)
{
	const struct node *l = slp_path_get(pod->root, "metadata.labels");
	char key[512];
	size_t i;

	for (i = 0; l && l->type == T_MAP && i < l->n; i++) {
		if (!l->vals[i]->s)
			continue;
		snprintf(key, sizeof(key), "%s/%s=%s", pod->ns, l->keys[i]->s, l->vals[i]->s);
		idx_add(&c->pod_labels, key, pod);
	}
}

static void collect(struct cc *c)
{
	const struct object *o;
	const char *sn;
	char key[300];
	size_t i;

	for (i = 0; i < c->p->n; i++) {
		o = c->p->v[i];
		if (o->id < 0 || o->id >= K__COUNT)
			continue;
		c->by[o->id] = slp_xrealloc(c->by[o->id], c->nby[o->id] + 1, sizeof(*c->by[0]));
		c->by[o->id][c->nby[o->id]++] = o;
		if (o->id == K_POD) {
			snprintf(key, sizeof(key), "%s/%s", o->ns, o->name);
			idx_add(&c->pods, key, o);
			index_pod_labels(c, o);
		} else if (o->id == K_ENDPOINTSLICE) {
			sn = slp_node_str(slp_map_get(slp_path_get(o->root, "metadata.labels"),
					      "kubernetes.io/service-name"));
			if (!sn)
				continue;
			snprintf(key, sizeof(key), "%s/%s", o->ns, sn);
			idx_add(&c->slices, key, o);
		}
	}
	idx_sort(&c->pods);
	idx_sort(&c->pod_labels);
	idx_sort(&c->slices);
}

static void cc_free(struct cc *c)
{
	size_t i, j;

	for (i = 0; i < K__COUNT; i++)
		free(c->by[i]);
	for (i = 0; i < c->n_svcs; i++) {
		for (j = 0; j < c->svcs[i].n_ports; j++)
			free(c->svcs[i].ports[j].eps);
		free(c->svcs[i].ports);
		free(c->svcs[i].vips);
	}
	free(c->svcs);
	idx_free(&c->svc_by_host);
	idx_free(&c->dr_by_host);
	idx_free(&c->vs_by_host);
	idx_free(&c->slices);
	idx_free(&c->pods);
	idx_free(&c->pod_labels);
}

/* The Services ingress frontends are built for: all, or the built ones. */
static void compile_ingress(struct cc *c)
{
	const struct object **v;
	size_t n = 0;

	if (!c->part) {
		slp_ingress_compile(c->by[K_SERVICE], c->nby[K_SERVICE], c->t, true, c->d);
		return;
	}
	v = slp_xcalloc(c->nby[K_SERVICE] + 1, sizeof(*v));
	for (size_t i = 0; i < c->nby[K_SERVICE]; i++)
		if (c->part->build(c->part->ctx, c->by[K_SERVICE][i]))
			v[n++] = c->by[K_SERVICE][i];
	slp_ingress_compile(v, n, c->t, false, c->d);
	free(v);
}

int slp_compile(const struct sl_policy *p, const struct sl_compile_opts *opts,
		const struct slp_part *part, struct sl_tables *out, struct sl_diags *dd)
{
	struct sl_compile_opts dflt_opts;
	struct sl_diags tmp = { 0 };
	struct cc c = { .p = p, .o = opts, .d = dd ? dd : &tmp, .t = out, .part = part };
	size_t err0 = c.d->n_errors, i;
	int ret = 0;

	if (!opts) {
		sl_compile_opts_default(&dflt_opts);
		c.o = &dflt_opts;
	}
	memset(out, 0, sizeof(*out));
	collect(&c);
	build_services(&c);
	alloc_vips(&c);
	index_drs(&c);
	index_vss(&c);
	for (i = 0; i < c.nby[K_VIRTUALSERVICE]; i++)
		check_vs_routes(&c, c.by[K_VIRTUALSERVICE][i]);
	/* Capacity from counts first: an oversize policy is rejected before
	 * its endpoints and rows are built. A partial compile leaves the
	 * checks of the whole policy (capacity, duplicate frontends, policy
	 * rows) to its caller. */
	if (!part)
		check_frontends(&c);
	if (!c.over)
		build_endpoints(&c);
	if (c.d->n_errors == err0) {
		build_frontends(&c);
		if (!part) {
			check_duplicates(&c);
			check_capacity(&c);
			build_policies(&c);
		}
		compile_ingress(&c);
	}
	if (!part || part->netpol)
		compile_netpol(&c);
	/* The proxy's model: its errors reject the apply. Its checks are per
	 * object, so a partial compile checks the objects it was given (every
	 * changed one is). */
	slp_mesh_check(p, c.d);
	if (c.d->n_errors > err0) {
		sl_tables_free(out);
		ret = -1;
	}
	cc_free(&c);
	sl_diags_free(&tmp);
	return ret;
}

int sl_policy_compile(const struct sl_policy *p, const struct sl_compile_opts *opts,
		      struct sl_tables *out, struct sl_diags *d)
{
	return slp_compile(p, opts, NULL, out, d);
}
