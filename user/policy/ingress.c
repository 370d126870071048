// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Node-ingress frontends of Services: spec.externalIPs,
 * status.loadBalancer.ingress[].ip and ports[].nodePort, each pointing at
 * the cluster frontend (sl_tables.svcs) whose endpoints it balances over.
 *
 * Runs after the cluster frontends are built, so it knows each port's
 * frontend index and whether its traffic is handed to the proxy. Per-object
 * checks (addresses, families, required node ports) ran at load (kinds.c);
 * what is left is cross-object: two Services claiming one frontend, the
 * capacity, and the warning for frontends XDP will refuse.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Where an ingress entry came from, for messages. */
struct ing_src {
	const struct object *o;
	const struct node *n;
	char path[80];
};

struct ictx {
	struct sl_tables *t;
	struct sl_diags *d;
	const struct sl_table_svc **fes; /* Service frontends, sorted by fe_key_cmp */
	size_t n_fes, cap;
	struct ing_src *src; /* parallel to t->ingress */
};

/* ---- cluster frontends by (namespace, name, port, proto) ------------------ */

static int fe_key_cmp(const void *a, const void *b)
{
	const struct sl_table_svc *x = *(const struct sl_table_svc *const *)a;
	const struct sl_table_svc *y = *(const struct sl_table_svc *const *)b;
	int r = strcmp(x->meta.ns, y->meta.ns);

	if (!r)
		r = strcmp(x->meta.name, y->meta.name);
	if (!r)
		r = (ntohs(x->fe.port) > ntohs(y->fe.port)) - (ntohs(x->fe.port) < ntohs(y->fe.port));
	if (!r)
		r = (x->fe.proto > y->fe.proto) - (x->fe.proto < y->fe.proto);
	return r ? r : (x->val.id > y->val.id) - (x->val.id < y->val.id);
}

static void index_frontends(struct ictx *c)
{
	size_t i;

	c->fes = slp_xcalloc(c->t->n_svcs, sizeof(*c->fes));
	for (i = 0; i < c->t->n_svcs; i++)
		if (!strcmp(c->t->svcs[i].kind, "Service"))
			c->fes[c->n_fes++] = &c->t->svcs[i];
	if (c->n_fes)
		qsort(c->fes, c->n_fes, sizeof(*c->fes), fe_key_cmp);
}

/* The first cluster frontend of Service O's port PORT/PROTO, or NULL. */
static const struct sl_table_svc *frontend_of(const struct ictx *c, const struct object *o,
					      uint16_t port, uint8_t proto)
{
	struct sl_table_svc key;
	const struct sl_table_svc *kp = &key, *const *lo;
	size_t a = 0, b = c->n_fes, m;

	memset(&key, 0, sizeof(key));
	slp_scopy(key.meta.ns, SL_NAME_LEN, o->ns);
	slp_scopy(key.meta.name, SL_NAME_LEN, o->name);
	key.fe.port = htons(port);
	key.fe.proto = proto;
	while (a < b) {
		m = (a + b) / 2;
		if (fe_key_cmp(&c->fes[m], &kp) < 0)
			a = m + 1;
		else
			b = m;
	}
	lo = a < c->n_fes ? &c->fes[a] : NULL;
	if (!lo || strcmp((*lo)->meta.ns, o->ns) || strcmp((*lo)->meta.name, o->name) ||
	    ntohs((*lo)->fe.port) != port || (*lo)->fe.proto != proto)
		return NULL;
	return *lo;
}

/* ---- entries -------------------------------------------------------------- */

static void ing_push(struct ictx *c, const struct sl_table_svc *fe, const struct sl_l4addr *a,
		     uint16_t port, uint32_t kind, const struct ing_src *src)
{
	struct sl_table_ingress *e;

	if (c->t->n_ingress == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->t->ingress = slp_xrealloc(c->t->ingress, c->cap, sizeof(*c->t->ingress));
		c->src = slp_xrealloc(c->src, c->cap, sizeof(*c->src));
	}
	e = &c->t->ingress[c->t->n_ingress];
	memset(e, 0, sizeof(*e));
	e->fe = *a;
	e->fe.port = htons(port);
	e->fe.proto = fe->fe.proto;
	e->svc = fe->val.id;
	e->kind = kind;
	c->src[c->t->n_ingress++] = *src;
}

static void src_set(struct ing_src *s, const struct object *o, const struct node *n,
		    const char *path)
{
	s->o = o;
	s->n = n;
	slp_scopy(s->path, sizeof(s->path), path);
}

/* XDP cannot hand a connection to the proxy, so the publisher programs the
 * frontend to refuse; say so where the user asked for the ingress. */
static void refuse_warning(struct ictx *c, const struct object *o, const struct node *n,
			   const char *path, const struct sl_table_svc *fe, size_t n_ports)
{
	char port[32] = "";

	if (!(fe->val.flags & SL_SVC_F_HANDOFF))
		return;
	if (n_ports > 1)
		snprintf(port, sizeof(port), " port %u/%s", ntohs(fe->fe.port),
			 fe->fe.proto == IPPROTO_UDP ? "UDP" : "TCP");
	slp_diag_at(c->d, SL_SEV_WARNING, o, n, path, "node ingress to %s/%s%s is "
		    "refused: its policy needs the proxy (%s)", o->ns, o->name, port,
		    fe->handoff_why);
}

static void external_ips(struct ictx *c, const struct object *o, const struct node *spec,
			 const struct sl_table_svc *fe, uint16_t port, size_t n_ports)
{
	const struct node *ips = slp_map_get(spec, "externalIPs");
	struct ing_src src;
	struct sl_l4addr a;
	char path[64];
	size_t i;

	for (i = 0; i < slp_seq_len(ips); i++) {
		if (slp_parse_ip(slp_node_str(ips->vals[i]), &a) || a.family != fe->fe.family)
			continue; /* diagnosed at load */
		snprintf(path, sizeof(path), "spec.externalIPs[%zu]", i);
		src_set(&src, o, ips->vals[i], path);
		ing_push(c, fe, &a, port, SL_ING_EXTERNAL_IP, &src);
	}
	if (slp_seq_len(ips))
		refuse_warning(c, o, ips, "spec.externalIPs", fe, n_ports);
}

static void lb_ips(struct ictx *c, const struct object *o, const struct sl_table_svc *fe,
		   uint16_t port, size_t n_ports)
{
	const struct node *ing = slp_path_get(o->root, "status.loadBalancer.ingress"), *ip;
	struct ing_src src;
	struct sl_l4addr a;
	char path[80];
	size_t i, n = 0;

	if (strcmp(slp_node_str(slp_path_get(o->root, "spec.type")) ?: "", "LoadBalancer"))
		return;
	for (i = 0; i < slp_seq_len(ing); i++) {
		ip = slp_map_get(ing->vals[i], "ip");
		if (slp_parse_ip(slp_node_str(ip), &a) || a.family != fe->fe.family)
			continue; /* noted or warned at load */
		snprintf(path, sizeof(path), "status.loadBalancer.ingress[%zu].ip", i);
		src_set(&src, o, ip, path);
		ing_push(c, fe, &a, port, SL_ING_LB, &src);
		n++;
	}
	if (n)
		refuse_warning(c, o, ing, "status.loadBalancer.ingress", fe, n_ports);
}

static void node_port(struct ictx *c, const struct object *o, const struct node *p,
		      size_t i, const struct sl_table_svc *fe, size_t n_ports)
{
	const struct node *np = slp_map_get(p, "nodePort");
	struct ing_src src;
	struct sl_l4addr zero;
	char path[64];
	long long v;

	if (!slp_node_int(np, &v) || v <= 0)
		return; /* required ones were diagnosed at load */
	memset(&zero, 0, sizeof(zero));
	zero.family = fe->fe.family;
	snprintf(path, sizeof(path), "spec.ports[%zu].nodePort", i);
	src_set(&src, o, np, path);
	ing_push(c, fe, &zero, (uint16_t)v, SL_ING_NODEPORT, &src);
	refuse_warning(c, o, np, path, fe, n_ports);
}

static bool is_node_type(const struct node *spec)
{
	const char *t = slp_node_str(slp_map_get(spec, "type"));

	return t && (!strcmp(t, "NodePort") || !strcmp(t, "LoadBalancer"));
}

static void service_ingress(struct ictx *c, const struct object *o)
{
	const struct node *spec = slp_map_get(o->root, "spec"), *ports, *p;
	const struct sl_table_svc *fe;
	uint8_t proto;
	long long port;
	size_t i;

	ports = slp_map_get(spec, "ports");
	for (i = 0; i < slp_seq_len(ports); i++) {
		p = ports->vals[i];
		if (!slp_node_int(slp_map_get(p, "port"), &port))
			continue;
		proto = strcmp(slp_node_str(slp_map_get(p, "protocol")) ?: "TCP", "UDP") ?
				IPPROTO_TCP : IPPROTO_UDP;
		fe = frontend_of(c, o, (uint16_t)port, proto);
		if (!fe)
			continue; /* headless: no frontend, nothing to balance */
		external_ips(c, o, spec, fe, (uint16_t)port, ports->n);
		lb_ips(c, o, fe, (uint16_t)port, ports->n);
		if (is_node_type(spec))
			node_port(c, o, p, i, fe, ports->n);
	}
}

/* ---- duplicates and capacity ---------------------------------------------- */

/* A node port is one per protocol on the node, whatever the family, as in
 * Kubernetes: NodePorts compare without their family. */
static void dup_key(const struct sl_table_ingress *e, struct sl_l4addr *k)
{
	*k = e->fe;
	if (e->kind == SL_ING_NODEPORT)
		k->family = 0;
}

struct dup_ent {
	struct sl_l4addr k;
	size_t i;
};

static int dup_cmp(const void *a, const void *b)
{
	const struct dup_ent *x = a, *y = b;
	int r = memcmp(&x->k, &y->k, sizeof(x->k));

	return r ? r : (x->i > y->i) - (x->i < y->i);
}

static void fmt_fe(const struct sl_table_ingress *e, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "";
	const char *pr = e->fe.proto == IPPROTO_UDP ? "UDP" : "TCP";

	if (e->kind == SL_ING_NODEPORT) {
		snprintf(buf, len, "node port %u/%s", ntohs(e->fe.port), pr);
		return;
	}
	inet_ntop(e->fe.family == SL_AF_INET6 ? AF_INET6 : AF_INET, e->fe.addr, ip, sizeof(ip));
	snprintf(buf, len, e->fe.family == SL_AF_INET6 ? "[%s]:%u/%s" : "%s:%u/%s", ip,
		 ntohs(e->fe.port), pr);
}

static void check_duplicates(struct ictx *c)
{
	size_t i, n = c->t->n_ingress;
	const struct ing_src *a, *b;
	struct dup_ent *v;
	char buf[80];

	if (n < 2)
		return;
	v = slp_xcalloc(n, sizeof(*v));
	for (i = 0; i < n; i++) {
		dup_key(&c->t->ingress[i], &v[i].k);
		v[i].i = i;
	}
	qsort(v, n, sizeof(*v), dup_cmp);
	for (i = 1; i < n; i++) {
		if (memcmp(&v[i - 1].k, &v[i].k, sizeof(v[i].k)))
			continue;
		a = &c->src[v[i - 1].i];
		b = &c->src[v[i].i];
		fmt_fe(&c->t->ingress[v[i].i], buf, sizeof(buf));
		if (a->o == b->o) {
			slp_diag_at(c->d, SL_SEV_ERROR, b->o, b->n, b->path, "%s is listed "
				    "twice (also %s)", buf, a->path);
			continue;
		}
		slp_diag_at(c->d, SL_SEV_ERROR, b->o, b->n, b->path, "%s is claimed by "
			    "Service %s/%s and by Service %s/%s (%s %s:%d)", buf, b->o->ns,
			    b->o->name, a->o->ns, a->o->name, a->path, a->o->file, a->n->line);
	}
	free(v);
}

static void check_capacity(struct ictx *c)
{
	const struct ing_src *s;

	if (c->t->n_ingress <= SL_MAX_INGRESS)
		return;
	s = &c->src[SL_MAX_INGRESS];
	slp_diag_at(c->d, SL_SEV_ERROR, s->o, s->n, s->path, "too many node-ingress "
		    "frontends: %zu, the limit is %u (SL_MAX_INGRESS; this is where the "
		    "limit is crossed)", c->t->n_ingress, SL_MAX_INGRESS);
}

void slp_ingress_compile(const struct object *const *svcs, size_t n, struct sl_tables *t,
			 bool checks, struct sl_diags *d)
{
	struct ictx c = { .t = t, .d = d };
	size_t i;

	index_frontends(&c);
	for (i = 0; i < n; i++)
		service_ingress(&c, svcs[i]);
	if (checks) {
		check_duplicates(&c);
		check_capacity(&c);
	}
	free(c.fes);
	free(c.src);
}
