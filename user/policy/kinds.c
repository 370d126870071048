// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-object checks that the field tables cannot express: values that are
 * accepted by the schema but not by Sluice (SCTP, DNS resolution, ...),
 * required fields, addresses, route weights, and the warnings about legal
 * but suspicious policy. These run at load time, so `sluice apply` rejects a
 * bad object before anything is compiled. Cross-object checks live in
 * compile.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

struct kctx {
	const struct object *o;
	struct sl_diags *d;
};

#define KERR(c, n, path, ...) slp_diag_at((c)->d, SL_SEV_ERROR, (c)->o, n, path, __VA_ARGS__)
#define KWARN(c, n, path, ...) slp_diag_at((c)->d, SL_SEV_WARNING, (c)->o, n, path, __VA_ARGS__)
#define KNOTE(c, n, path, ...) slp_diag_at((c)->d, SL_SEV_NOTE, (c)->o, n, path, __VA_ARGS__)

static bool str_is(const struct node *n, const char *s)
{
	return slp_node_str(n) && !strcmp(n->s, s);
}

/* A required field of map M at PATH; diagnoses and returns NULL if absent. */
static const struct node *need(struct kctx *c, const struct node *m,
			       const char *key, const char *path)
{
	const struct node *n = slp_map_get(m, key);

	if (!n)
		KERR(c, m ? m : c->o->root, path, "required field is missing");
	return n;
}

/* PRE, I in decimal, POST: the path of item I of a sequence, truncated
 * to LEN as snprintf() would (built for every item of every object
 * checked, where snprintf() cost 3 % of a 10,000-service apply). */
static const char *idx_path(char *buf, size_t len, const char *pre, size_t i, const char *post)
{
	char num[SLP_UDEC_LEN];
	const char *parts[3] = { pre, slp_udec(num, i), post };
	size_t o = 0;

	for (int k = 0; k < 3; k++)
		for (const char *p = parts[k]; *p && o + 1 < len; p++)
			buf[o++] = *p;
	if (len)
		buf[o] = 0;
	return buf;
}

static void check_ip(struct kctx *c, const struct node *n, const char *path)
{
	struct sl_l4addr a;

	if (slp_node_str(n) && slp_parse_ip(n->s, &a))
		KERR(c, n, path, "invalid IP address \"%s\"", n->s);
}

static void check_export_to(struct kctx *c, const struct node *spec)
{
	const struct node *e = slp_map_get(spec, "exportTo");
	size_t i;

	for (i = 0; i < slp_seq_len(e); i++) {
		if (str_is(e->vals[i], "*"))
			continue;
		KERR(c, e->vals[i], "spec.exportTo",
		     "exportTo other than \"*\" not supported");
		return;
	}
}

/* ---- Service -------------------------------------------------------------- */

static void svc_port(struct kctx *c, const struct node *ports, size_t i)
{
	const struct node *p = ports->vals[i], *q;
	char path[64];
	size_t j;

	idx_path(path, sizeof(path), "spec.ports[", i, "].port");
	if (p->type != T_MAP)
		return;
	need(c, p, "port", path);
	q = slp_map_get(p, "protocol");
	if (str_is(q, "SCTP")) {
		snprintf(path, sizeof(path), "spec.ports[%zu].protocol", i);
		KERR(c, q, path, "SCTP not supported");
	}
	if (ports->n > 1 && !slp_node_str(slp_map_get(p, "name"))) {
		snprintf(path, sizeof(path), "spec.ports[%zu].name", i);
		KERR(c, p, path, "required when a Service has more than one port");
	}
	for (j = 0; j < i; j++) {
		const struct node *o = ports->vals[j];
		const char *p1 = slp_node_str(slp_map_get(p, "protocol")),
			   *p2 = slp_node_str(slp_map_get(o, "protocol"));

		if (!slp_map_get(p, "port") || !slp_map_get(o, "port") ||
		    strcmp(slp_map_get(p, "port")->s, slp_map_get(o, "port")->s) ||
		    strcmp(p1 ? p1 : "TCP", p2 ? p2 : "TCP"))
			continue;
		snprintf(path, sizeof(path), "spec.ports[%zu].port", i);
		KERR(c, slp_map_get(p, "port"), path, "duplicate port %s/%s (also spec.ports[%zu])",
		     slp_map_get(p, "port")->s, p1 ? p1 : "TCP", j);
	}
}

static void svc_unsupported(struct kctx *c, const struct node *spec)
{
	const struct node *n;
	bool b;

	if ((n = slp_map_get(spec, "externalName")))
		KERR(c, n, "spec.externalName", "not supported");
	if ((n = slp_map_get(spec, "sessionAffinity")) && str_is(n, "ClientIP"))
		KERR(c, n, "spec.sessionAffinity", "ClientIP not supported");
	if (slp_seq_len(n = slp_map_get(spec, "loadBalancerSourceRanges")))
		KERR(c, n, "spec.loadBalancerSourceRanges", "not supported");
	if ((n = slp_map_get(spec, "externalTrafficPolicy")) && str_is(n, "Local"))
		KERR(c, n, "spec.externalTrafficPolicy", "Local not supported");
	if ((n = slp_map_get(spec, "internalTrafficPolicy")) && str_is(n, "Local"))
		KERR(c, n, "spec.internalTrafficPolicy", "Local not supported");
	if ((n = slp_map_get(spec, "publishNotReadyAddresses")) && slp_node_bool(n, &b) && b)
		KERR(c, n, "spec.publishNotReadyAddresses", "true not supported");
	if ((n = slp_map_get(spec, "trafficDistribution")))
		KERR(c, n, "spec.trafficDistribution", "not supported yet");
}

/* ---- Service node ingress -------------------------------------------------- */

/* The family of the Service's cluster frontend: its first cluster IP, or
 * IPv4 when one is allocated (allocation is IPv4 only). */
static int svc_family(const struct node *spec)
{
	const struct node *ips = slp_map_get(spec, "clusterIPs"), *ip;
	struct sl_l4addr a;

	ip = slp_seq_len(ips) ? ips->vals[0] : slp_map_get(spec, "clusterIP");
	if (slp_node_str(ip) && !slp_parse_ip(ip->s, &a))
		return a.family;
	return SL_AF_INET;
}

static const char *fam_name(int fam)
{
	return fam == SL_AF_INET6 ? "IPv6" : "IPv4";
}

static void svc_external_ips(struct kctx *c, const struct node *spec, bool headless)
{
	const struct node *ips = slp_map_get(spec, "externalIPs"), *ip;
	int fam = svc_family(spec);
	struct sl_l4addr a;
	char path[64];
	size_t i;

	if (!slp_seq_len(ips))
		return;
	if (headless) {
		KERR(c, ips, "spec.externalIPs", "a headless service (clusterIP None) "
		     "has no endpoints to balance external traffic over");
		return;
	}
	for (i = 0; i < ips->n; i++) {
		ip = ips->vals[i];
		snprintf(path, sizeof(path), "spec.externalIPs[%zu]", i);
		if (!slp_node_str(ip))
			continue;
		if (slp_parse_ip(ip->s, &a))
			KERR(c, ip, path, "invalid IP address \"%s\"", ip->s);
		else if (a.family != fam)
			KERR(c, ip, path, "%s is an %s address; the service's cluster "
			     "frontend is %s", ip->s, fam_name(a.family), fam_name(fam));
	}
}

/* status.loadBalancer.ingress[]: what the load balancer controller wrote.
 * Entries Sluice cannot program are told, not rejected: the status is
 * not the user's to fix. */
static void svc_lb_status(struct kctx *c, const struct node *spec, bool is_lb)
{
	const struct node *ing = slp_path_get(c->o->root, "status.loadBalancer.ingress");
	const struct node *e, *ip, *mode;
	int fam = svc_family(spec);
	struct sl_l4addr a;
	char path[80];
	size_t i;

	if (slp_seq_len(ing) && !is_lb) {
		KWARN(c, ing, "status.loadBalancer.ingress", "ignored: the service's "
		      "type is not LoadBalancer");
		return;
	}
	for (i = 0; i < slp_seq_len(ing); i++) {
		e = ing->vals[i];
		ip = slp_map_get(e, "ip");
		snprintf(path, sizeof(path), "status.loadBalancer.ingress[%zu].ip", i);
		if (!slp_node_str(ip)) {
			snprintf(path, sizeof(path), "status.loadBalancer.ingress[%zu]", i);
			KNOTE(c, e, path, "not programmed: no ip (a hostname-only entry "
			      "gives no address to match)");
			continue;
		}
		if (slp_parse_ip(ip->s, &a)) {
			KERR(c, ip, path, "invalid IP address \"%s\"", ip->s);
			continue;
		}
		if (a.family != fam)
			KWARN(c, ip, path, "not programmed: %s is an %s address; the "
			      "service's cluster frontend is %s", ip->s,
			      fam_name(a.family), fam_name(fam));
		mode = slp_map_get(e, "ipMode");
		snprintf(path, sizeof(path), "status.loadBalancer.ingress[%zu].ipMode", i);
		if (str_is(mode, "Proxy"))
			KNOTE(c, mode, path, "the load balancer proxies to the nodes' "
			      "addresses: its traffic arrives on the NodePorts");
	}
}

/* type NodePort/LoadBalancer: every port needs its nodePort; Sluice is not
 * the API server and allocates none, since a node port chosen here would
 * differ from the one the cluster's load balancer sends to. */
static void svc_node_ports(struct kctx *c, const struct node *spec, bool headless)
{
	const struct node *type = slp_map_get(spec, "type"), *ports, *p, *np;
	bool is_lb = str_is(type, "LoadBalancer"), alloc = true;
	bool node = is_lb || str_is(type, "NodePort");
	long long v;
	char path[64];
	size_t i;

	if (node && headless) {
		KERR(c, type, "spec.type", "type %s needs a cluster IP (a headless "
		     "service has no frontend)", type->s);
		return;
	}
	if (is_lb)
		slp_node_bool(slp_map_get(spec, "allocateLoadBalancerNodePorts"), &alloc);
	ports = slp_map_get(spec, "ports");
	for (i = 0; i < slp_seq_len(ports); i++) {
		p = ports->vals[i];
		np = slp_map_get(p, "nodePort");
		snprintf(path, sizeof(path), "spec.ports[%zu].nodePort", i);
		if (slp_node_int(np, &v) && v != 0) {
			if (!node)
				KERR(c, np, path, "nodePort needs type NodePort or "
				     "LoadBalancer");
			continue;
		}
		if (node && alloc)
			KERR(c, np ? np : p, path, "nodePort is required: Sluice does not "
			     "allocate node ports");
	}
}

static void svc_node_ingress(struct kctx *c, const struct node *spec, bool headless)
{
	svc_external_ips(c, spec, headless);
	svc_node_ports(c, spec, headless);
	svc_lb_status(c, spec, str_is(slp_map_get(spec, "type"), "LoadBalancer"));
}

static void check_service(struct kctx *c)
{
	const struct node *spec = need(c, c->o->root, "spec", "spec"), *n, *ports;
	bool headless;
	size_t i;

	if (!spec || spec->type != T_MAP)
		return;
	n = slp_map_get(spec, "type");
	if (str_is(n, "ExternalName"))
		KERR(c, n, "spec.type", "ExternalName services not supported");
	svc_unsupported(c, spec);
	n = slp_map_get(spec, "clusterIP");
	headless = str_is(n, "None");
	if (slp_node_str(n) && !headless && *n->s)
		check_ip(c, n, "spec.clusterIP");
	n = slp_map_get(spec, "clusterIPs");
	for (i = 0; i < slp_seq_len(n); i++)
		if (!str_is(n->vals[i], "None"))
			check_ip(c, n->vals[i], "spec.clusterIPs");
	if (slp_seq_len(n) && slp_node_str(slp_map_get(spec, "clusterIP")) && slp_node_str(n->vals[0]) &&
	    strcmp(n->vals[0]->s, slp_map_get(spec, "clusterIP")->s))
		KERR(c, n->vals[0], "spec.clusterIPs[0]", "must equal spec.clusterIP");
	if (headless)
		KNOTE(c, slp_map_get(spec, "clusterIP"), "spec.clusterIP",
		      "headless service (clusterIP None): no frontend is programmed");
	ports = slp_map_get(spec, "ports");
	if (!slp_seq_len(ports) && !headless && !str_is(slp_map_get(spec, "type"), "ExternalName"))
		KERR(c, ports ? ports : spec, "spec.ports", "at least one port is required");
	for (i = 0; i < slp_seq_len(ports); i++)
		svc_port(c, ports, i);
	svc_node_ingress(c, spec, headless);
}

/* ---- EndpointSlice, Pod, WorkloadEntry ------------------------------------ */

static void check_es(struct kctx *c)
{
	const struct node *at = need(c, c->o->root, "addressType", "addressType");
	const struct node *eps = slp_map_get(c->o->root, "endpoints"), *addrs, *lbl;
	struct sl_l4addr a;
	char path[64];
	size_t i, j;
	int fam;

	lbl = slp_path_get(c->o->root, "metadata.labels");
	if (!slp_node_str(slp_map_get(lbl, "kubernetes.io/service-name")))
		KWARN(c, slp_map_get(c->o->root, "metadata"), "metadata.labels",
		      "no kubernetes.io/service-name label: not linked to any Service");
	if (str_is(at, "FQDN")) {
		KERR(c, at, "addressType", "FQDN not supported");
		return;
	}
	fam = str_is(at, "IPv6") ? SL_AF_INET6 : SL_AF_INET;
	for (i = 0; i < slp_seq_len(eps); i++) {
		addrs = slp_map_get(eps->vals[i], "addresses");
		for (j = 0; j < slp_seq_len(addrs); j++) {
			if (!slp_node_str(addrs->vals[j]))
				continue;
			snprintf(path, sizeof(path), "endpoints[%zu].addresses[%zu]", i, j);
			if (slp_parse_ip(addrs->vals[j]->s, &a) || a.family != fam)
				KERR(c, addrs->vals[j], path, "\"%s\" is not an %s address",
				     addrs->vals[j]->s, fam == SL_AF_INET ? "IPv4" : "IPv6");
		}
	}
}

static void check_pod(struct kctx *c)
{
	const struct node *st = slp_map_get(c->o->root, "status"), *ips;
	char path[64];
	size_t i;

	check_ip(c, slp_map_get(st, "podIP"), "status.podIP");
	ips = slp_map_get(st, "podIPs");
	for (i = 0; i < slp_seq_len(ips); i++) {
		snprintf(path, sizeof(path), "status.podIPs[%zu].ip", i);
		check_ip(c, slp_map_get(ips->vals[i], "ip"), path);
	}
}

static void check_we_addr(struct kctx *c, const struct node *we, const char *path)
{
	const struct node *a = need(c, we, "address", path);
	struct sl_l4addr ip;

	if (slp_node_str(a) && slp_parse_ip(a->s, &ip))
		KERR(c, a, path, "\"%s\" is not an IP address (resolution STATIC needs "
		     "addresses)", a->s);
}

/* ---- ServiceEntry ---------------------------------------------------------- */

const char *slp_se_protocol_l4(const char *p)
{
	static const char *const tcp[] = {
		"HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "MONGO", "MYSQL",
		"REDIS", "TCP", "TLS", NULL,
	};
	const char *const *t;

	if (!p)
		return "TCP";
	for (t = tcp; *t; t++)
		if (!strcasecmp(p, *t))
			return "TCP";
	return strcasecmp(p, "UDP") ? NULL : "UDP";
}

static void se_resolution(struct kctx *c, const struct node *spec)
{
	const struct node *r = slp_map_get(spec, "resolution");

	if (!r) {
		KERR(c, spec, "spec.resolution", "required field is missing (the default, "
		     "NONE, is not supported: the kernel data plane balances to addresses; "
		     "use STATIC)");
		return;
	}
	if (str_is(r, "STATIC") || r->type != T_STR)
		return;
	KERR(c, r, "spec.resolution", "%s not supported: the kernel data plane "
	     "balances to addresses; use STATIC", r->s);
}

static void se_ports(struct kctx *c, const struct node *spec)
{
	const struct node *ports = slp_map_get(spec, "ports"), *pr;
	char path[64];
	size_t i;

	if (!slp_seq_len(ports))
		KERR(c, ports ? ports : spec, "spec.ports", "at least one port is required");
	for (i = 0; i < slp_seq_len(ports); i++) {
		need(c, ports->vals[i], "number", idx_path(path, sizeof(path), "spec.ports[", i, "].number"));
		pr = slp_map_get(ports->vals[i], "protocol");
		if (slp_node_str(pr) && !slp_se_protocol_l4(pr->s))
			KERR(c, pr, idx_path(path, sizeof(path), "spec.ports[", i, "].protocol"),
			     "unknown protocol \"%s\"", pr->s);
	}
}

static void check_se(struct kctx *c)
{
	const struct node *spec = need(c, c->o->root, "spec", "spec"), *n;
	struct sl_l4addr a;
	char path[64];
	size_t i;
	int plen;

	if (!spec || spec->type != T_MAP)
		return;
	n = slp_map_get(spec, "hosts");
	if (!slp_seq_len(n))
		KERR(c, n ? n : spec, "spec.hosts", "at least one host is required");
	se_resolution(c, spec);
	check_export_to(c, spec);
	se_ports(c, spec);
	n = slp_map_get(spec, "addresses");
	for (i = 0; i < slp_seq_len(n); i++) {
		idx_path(path, sizeof(path), "spec.addresses[", i, "]");
		if (!slp_node_str(n->vals[i]))
			continue;
		if (slp_parse_cidr(n->vals[i]->s, &a, &plen))
			KERR(c, n->vals[i], path, "invalid IP address \"%s\"", n->vals[i]->s);
		else if (plen != (a.family == SL_AF_INET ? 32 : 128))
			KERR(c, n->vals[i], path, "address ranges not supported: give "
			     "single addresses");
	}
	n = slp_map_get(spec, "endpoints");
	for (i = 0; i < slp_seq_len(n); i++) {
		check_we_addr(c, n->vals[i],
			      idx_path(path, sizeof(path), "spec.endpoints[", i, "].address"));
	}
	if (n && slp_map_get(spec, "workloadSelector"))
		KERR(c, slp_map_get(spec, "workloadSelector"), "spec.workloadSelector",
		     "only one of workloadSelector and endpoints is allowed");
}

/* ---- VirtualService -------------------------------------------------------- */

static void check_strmatch(struct kctx *c, const struct node *m, const char *path)
{
	if (!m || m->type != T_MAP)
		return;
	if (!!slp_map_get(m, "exact") + !!slp_map_get(m, "prefix") + !!slp_map_get(m, "regex") != 1)
		KERR(c, m, path, "exactly one of exact, prefix, regex is required");
}

static void check_http_match(struct kctx *c, const struct node *m, const char *base)
{
	static const char *const sm[] = { "uri", "scheme", "method", "authority" };
	static const char *const dicts[] = { "headers", "queryParams", "withoutHeaders" };
	const struct node *d;
	char path[256];
	size_t i, j;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s.%s", base, sm[i]);
		check_strmatch(c, slp_map_get(m, sm[i]), path);
	}
	for (i = 0; i < 3; i++) {
		d = slp_map_get(m, dicts[i]);
		for (j = 0; d && d->type == T_MAP && j < d->n; j++) {
			snprintf(path, sizeof(path), "%s.%s.%s", base, dicts[i], d->keys[j]->s);
			check_strmatch(c, d->vals[j], path);
		}
	}
}

/* Istio's rule: the weights of a route's destinations sum to 100; a lone
 * destination without weight takes all of it. */
static void check_route(struct kctx *c, const struct node *route, const char *base)
{
	long long sum = 0, w;
	bool any = false;
	char path[256];
	size_t i;

	snprintf(path, sizeof(path), "%s.route", base);
	if (!slp_seq_len(route)) {
		KERR(c, route, path, "at least one destination is required");
		return;
	}
	for (i = 0; i < route->n; i++) {
		const struct node *r = route->vals[i];

		snprintf(path, sizeof(path), "%s.route[%zu].destination.host", base, i);
		need(c, slp_map_get(r, "destination"), "host", path);
		if (slp_node_int(slp_map_get(r, "weight"), &w)) {
			sum += w;
			any = true;
		}
	}
	if (route->n == 1 && !any)
		return;
	snprintf(path, sizeof(path), "%s.route", base);
	if (sum != 100)
		KERR(c, route, path, "weights of the route's destinations sum to %lld, "
		     "must be 100", sum);
}

static void check_vs_http(struct kctx *c, const struct node *http)
{
	const struct node *h, *m, *r;
	char base[64], path[128];
	size_t i, j;

	for (i = 0; i < slp_seq_len(http); i++) {
		h = http->vals[i];
		snprintf(base, sizeof(base), "spec.http[%zu]", i);
		m = slp_map_get(h, "match");
		for (j = 0; j < slp_seq_len(m); j++) {
			snprintf(path, sizeof(path), "%s.match[%zu]", base, j);
			check_http_match(c, m->vals[j], path);
		}
		r = slp_map_get(h, "route");
		if (r)
			check_route(c, r, base);
		else if (!slp_map_get(h, "redirect") && !slp_map_get(h, "directResponse"))
			KERR(c, h, base, "an http route needs route, redirect or "
			     "directResponse");
	}
}

static void check_vs(struct kctx *c)
{
	const struct node *spec = need(c, c->o->root, "spec", "spec"), *n;
	static const char *const l4[] = { "tcp", "tls" };
	char base[64];
	size_t i, k;

	if (!spec || spec->type != T_MAP)
		return;
	n = slp_map_get(spec, "hosts");
	if (!slp_seq_len(n))
		KERR(c, n ? n : spec, "spec.hosts", "at least one host is required");
	n = slp_map_get(spec, "gateways");
	for (i = 0; i < slp_seq_len(n); i++)
		if (!str_is(n->vals[i], "mesh"))
			KERR(c, n->vals[i], "spec.gateways", "gateways other than \"mesh\" "
			     "not supported (Sluice handles node-local mesh traffic)");
	check_export_to(c, spec);
	if (!slp_map_get(spec, "http") && !slp_map_get(spec, "tcp") && !slp_map_get(spec, "tls"))
		KERR(c, spec, "spec", "a VirtualService needs http, tcp or tls routes");
	check_vs_http(c, slp_map_get(spec, "http"));
	for (k = 0; k < 2; k++) {
		n = slp_map_get(spec, l4[k]);
		for (i = 0; i < slp_seq_len(n); i++) {
			snprintf(base, sizeof(base), "spec.%s[%zu]", l4[k], i);
			check_route(c, slp_map_get(n->vals[i], "route"), base);
		}
	}
}

/* ---- DestinationRule ------------------------------------------------------- */

/* circuitBreaker (legacy alias) vs outlierDetection at one level. */
static void cb_conflicts(struct kctx *c, const struct node *tp, const char *base)
{
	static const char *const pairs[][2] = {
		{ "consecutiveErrors", "consecutive5xxErrors" },
		{ "interval", "interval" },
		{ "baseEjectionTime", "baseEjectionTime" },
		{ "maxEjectionPercent", "maxEjectionPercent" },
		{ "minHealthPercent", "minHealthPercent" },
	};
	const struct node *cb = slp_map_get(tp, "circuitBreaker"),
			  *od = slp_map_get(tp, "outlierDetection"), *a, *b;
	char path[160];
	size_t i;

	for (i = 0; cb && od && i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		a = slp_map_get(cb, pairs[i][0]);
		b = slp_map_get(od, pairs[i][1]);
		if (!a || !b || !a->s || !b->s || !strcmp(a->s, b->s))
			continue;
		snprintf(path, sizeof(path), "%s.circuitBreaker.%s", base, pairs[i][0]);
		KWARN(c, a, path, "circuitBreaker.%s %s conflicts with "
		      "outlierDetection.%s %s; using %s", pairs[i][0], a->s,
		      pairs[i][1], b->s, b->s);
	}
}

static void check_tp(struct kctx *c, const struct node *tp, const char *base,
		     bool *noted)
{
	const struct node *http = slp_path_get(tp, "connectionPool.http");
	char path[160];

	if (!tp)
		return;
	cb_conflicts(c, tp, base);
	if (http && !*noted) {
		snprintf(path, sizeof(path), "%s.connectionPool.http", base);
		KNOTE(c, http, path, "applies to traffic the proxy handles; connections "
		      "on the kernel path carry no requests");
		*noted = true;
	}
}

static void check_dr(struct kctx *c)
{
	const struct node *spec = need(c, c->o->root, "spec", "spec"), *subs, *s, *nm;
	char path[64];
	bool noted = false;
	size_t i, j;

	if (!spec || spec->type != T_MAP)
		return;
	need(c, spec, "host", "spec.host");
	check_export_to(c, spec);
	check_tp(c, slp_map_get(spec, "trafficPolicy"), "spec.trafficPolicy", &noted);
	subs = slp_map_get(spec, "subsets");
	for (i = 0; i < slp_seq_len(subs); i++) {
		s = subs->vals[i];
		snprintf(path, sizeof(path), "spec.subsets[%zu].name", i);
		nm = need(c, s, "name", path);
		/* Istio's rule; subset names are `get` columns and metric labels. */
		if (slp_node_str(nm) && slp_name_check(nm->s, NAME_LABEL))
			KERR(c, nm, path, "invalid subset name \"%s\": %s", nm->s,
			     slp_name_check(nm->s, NAME_LABEL));
		for (j = 0; nm && nm->s && j < i; j++)
			if (str_is(slp_map_get(subs->vals[j], "name"), nm->s))
				KERR(c, nm, path, "duplicate subset \"%s\" (also "
				     "spec.subsets[%zu])", nm->s, j);
		snprintf(path, sizeof(path), "spec.subsets[%zu].trafficPolicy", i);
		check_tp(c, slp_map_get(s, "trafficPolicy"), path, &noted);
	}
}

/* ---- security -------------------------------------------------------------- */

static void check_pa(struct kctx *c)
{
	const struct node *pl = slp_path_get(c->o->root, "spec.portLevelMtls");
	long long v;
	char path[96];
	size_t i;

	for (i = 0; pl && pl->type == T_MAP && i < pl->n; i++) {
		snprintf(path, sizeof(path), "spec.portLevelMtls.%s", pl->keys[i]->s);
		if (!slp_node_int(pl->keys[i], &v) || v < 1 || v > 65535)
			KERR(c, pl->keys[i], path, "port must be an integer 1..65535");
	}
}

static int rule_clauses(const struct node *r)
{
	return !!slp_seq_len(slp_map_get(r, "from")) + !!slp_seq_len(slp_map_get(r, "to")) +
	       !!slp_seq_len(slp_map_get(r, "when"));
}

static void check_ap(struct kctx *c)
{
	const struct node *spec = slp_map_get(c->o->root, "spec"), *act, *rules, *w;
	const char *a;
	char path[64];
	size_t i, j;

	act = slp_map_get(spec, "action");
	if (str_is(act, "CUSTOM"))
		KERR(c, act, "spec.action", "CUSTOM not supported");
	a = slp_node_str(act) ? act->s : "ALLOW";
	rules = slp_map_get(spec, "rules");
	for (i = 0; i < slp_seq_len(rules); i++) {
		w = slp_map_get(rules->vals[i], "when");
		for (j = 0; j < slp_seq_len(w); j++) {
			snprintf(path, sizeof(path), "spec.rules[%zu].when[%zu].key", i, j);
			need(c, w->vals[j], "key", path);
		}
	}
	if (slp_seq_len(rules) < 2)
		return;
	for (i = 0; i < rules->n; i++)
		if (rule_clauses(rules->vals[i]) != 1)
			return;
	KWARN(c, rules, "spec.rules", "every rule holds only one of from/to/when; rules "
	      "are ORed, so a request matching any single rule is %s (e.g. any source "
	      "for the listed operations): put conditions that belong together into "
	      "one rule", strcmp(a, "DENY") ? "allowed" : "denied");
}

static void check_ra(struct kctx *c)
{
	const struct node *rules = slp_path_get(c->o->root, "spec.jwtRules"), *u;
	char path[64];
	size_t i;

	for (i = 0; i < slp_seq_len(rules); i++) {
		snprintf(path, sizeof(path), "spec.jwtRules[%zu].issuer", i);
		need(c, rules->vals[i], "issuer", path);
		u = slp_map_get(rules->vals[i], "jwksUri");
		snprintf(path, sizeof(path), "spec.jwtRules[%zu].jwksUri", i);
		if (slp_node_str(u) && (strncmp(u->s, "https://", 8) || !u->s[8] ||
				    u->s[8] == '/'))
			KERR(c, u, path, "must be an https URL");
	}
}

void slp_kind_check(const struct object *o, int id, struct sl_diags *d)
{
	struct kctx c = { .o = o, .d = d };

	switch (id) {
	case K_SERVICE:
		check_service(&c);
		break;
	case K_ENDPOINTSLICE:
		check_es(&c);
		break;
	case K_POD:
		check_pod(&c);
		break;
	case K_SERVICEENTRY:
		check_se(&c);
		break;
	case K_WORKLOADENTRY:
		check_we_addr(&c, slp_map_get(o->root, "spec"), "spec.address");
		break;
	case K_VIRTUALSERVICE:
		check_vs(&c);
		break;
	case K_DESTINATIONRULE:
		check_dr(&c);
		break;
	case K_PEERAUTHN:
		check_pa(&c);
		break;
	case K_AUTHZ:
		check_ap(&c);
		break;
	case K_REQAUTHN:
		check_ra(&c);
		break;
	case K_NAMESPACE:
		slp_namespace_check(o, d);
		break;
	case K_NETPOL:
		slp_netpol_check(o, d);
		break;
	default:
		break;
	}
}
