// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * L4 AuthorizationPolicy: compile and evaluate (Istio semantics).
 *
 * A rule matches when every one of its from/to/when parts matches: from is
 * any of its sources, to any of its operations, when all of its conditions.
 * Within a source or operation every given field must match, a field's
 * values are alternatives and a not-field must match none of its values.
 *
 * Fields that only HTTP can evaluate (methods, paths, hosts, request
 * principals, `when` on request attributes) are not evaluated by the L4
 * proxy yet. They are never dropped silently: each one is a warning with
 * its position, and the rule fails closed as Istio's ambient ztunnel does:
 * an ALLOW or AUDIT rule that needs HTTP never matches (it allows nothing),
 * a DENY rule is evaluated on its L4 parts alone (it denies at least what
 * its author meant). CUSTOM needs an external authorizer: an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/mesh_int.h"

enum { A_ALLOW, A_DENY, A_AUDIT };

enum when_key {
	W_SOURCE_IP,
	W_REMOTE_IP,
	W_SOURCE_NS,
	W_SOURCE_PRINCIPAL,
	W_DEST_IP,
	W_DEST_PORT,
};

static const char *const when_keys[] = {
	[W_SOURCE_IP] = "source.ip", [W_REMOTE_IP] = "remote.ip",
	[W_SOURCE_NS] = "source.namespace", [W_SOURCE_PRINCIPAL] = "source.principal",
	[W_DEST_IP] = "destination.ip", [W_DEST_PORT] = "destination.port",
};

static const char *const http_source[] = { "requestPrincipals", "notRequestPrincipals" };
static const char *const http_op[] = { "hosts", "notHosts", "methods", "notMethods",
				       "paths", "notPaths" };

struct actx {
	struct sl_mesh *m;
	const struct object *o;
	struct sl_diags *d;
	bool deny;
	const char *action; /* for messages */
};

static void get_strs(struct actx *c, const struct node *n, struct strs *out)
{
	out->n = 0;
	out->v = slp_mesh_alloc(c->m, slp_seq_len(n), sizeof(char *));
	for (size_t i = 0; i < slp_seq_len(n); i++)
		if (slp_node_str(n->vals[i]))
			out->v[out->n++] = n->vals[i]->s;
}

static void get_cidrs(struct actx *c, const struct node *n, const char *path,
		      struct cidrs *out)
{
	out->n = 0;
	out->v = slp_mesh_alloc(c->m, slp_seq_len(n), sizeof(*out->v));
	for (size_t i = 0; i < slp_seq_len(n); i++) {
		struct cidr *x = &out->v[out->n];

		if (!slp_node_str(n->vals[i]) || slp_parse_cidr(n->vals[i]->s, &x->a, &x->plen)) {
			slp_diag_at(c->d, SL_SEV_ERROR, c->o, n->vals[i], path,
				    "not an IP address or CIDR");
			continue;
		}
		slp_mask_prefix(&x->a, x->plen);
		out->n++;
	}
}

static int parse_port(const char *s, long *v)
{
	char *end;

	*v = strtol(s, &end, 10);
	return end != s && *v >= 1 && *v <= 65535 ? (int)(end - s) : -1;
}

/* "8080" or "8000-8099" (the schema checked the type). */
static void get_ports(struct actx *c, const struct node *n, const char *path,
		      struct ports *out)
{
	out->n = 0;
	out->v = slp_mesh_alloc(c->m, slp_seq_len(n), sizeof(*out->v));
	for (size_t i = 0; i < slp_seq_len(n); i++) {
		const char *s = slp_node_str(n->vals[i]);
		long lo, hi;
		int k = s ? parse_port(s, &lo) : -1;

		hi = lo;
		if (k > 0 && s[k] == '-' && parse_port(s + k + 1, &hi) > 0 && hi >= lo)
			k = (int)strlen(s);
		if (k < 0 || s[k] || hi < lo) {
			slp_diag_at(c->d, SL_SEV_ERROR, c->o, n->vals[i], path,
				    "a port is a number 1-65535 or a range N-M");
			continue;
		}
		out->v[out->n][0] = (uint16_t)lo;
		out->v[out->n++][1] = (uint16_t)hi;
	}
}

/* Not silently ignored: the rule fails closed, and the author is told. */
static void http_warn(struct actx *c, const struct node *at, const char *path, const char *what)
{
	slp_diag_at(c->d, SL_SEV_WARNING, c->o, at, path,
		    "%s, which the proxy does not evaluate yet: this %s rule %s", what, c->action,
		    c->deny ? "applies on its L4 fields alone (it denies more)" :
			      "never matches (it allows nothing)");
}

/* A warning per HTTP-only field; true when there was one. */
static bool http_fields(struct actx *c, const struct node *n, const char *const *names,
			size_t nn, const char *path)
{
	bool any = false;
	char p[160];

	for (size_t i = 0; i < nn; i++) {
		const struct node *f = slp_map_get(n, names[i]);

		if (!f)
			continue;
		any = true;
		snprintf(p, sizeof(p), "%s.%s", path, names[i]);
		http_warn(c, f, p, "needs HTTP");
	}
	return any;
}

static void build_source(struct actx *c, const struct node *n, const char *path,
			 struct az_source *s, bool *http)
{
	char p[160];

	*http |= http_fields(c, n, http_source, 2, path);
	get_strs(c, slp_map_get(n, "principals"), &s->principals);
	get_strs(c, slp_map_get(n, "notPrincipals"), &s->not_principals);
	get_strs(c, slp_map_get(n, "namespaces"), &s->namespaces);
	get_strs(c, slp_map_get(n, "notNamespaces"), &s->not_namespaces);
	snprintf(p, sizeof(p), "%s.ipBlocks", path);
	get_cidrs(c, slp_map_get(n, "ipBlocks"), p, &s->ip);
	snprintf(p, sizeof(p), "%s.notIpBlocks", path);
	get_cidrs(c, slp_map_get(n, "notIpBlocks"), p, &s->not_ip);
	snprintf(p, sizeof(p), "%s.remoteIpBlocks", path);
	get_cidrs(c, slp_map_get(n, "remoteIpBlocks"), p, &s->remote);
	snprintf(p, sizeof(p), "%s.notRemoteIpBlocks", path);
	get_cidrs(c, slp_map_get(n, "notRemoteIpBlocks"), p, &s->not_remote);
}

static void build_op(struct actx *c, const struct node *n, const char *path,
		     struct az_op *op, bool *http)
{
	char p[160];

	*http |= http_fields(c, n, http_op, 6, path);
	snprintf(p, sizeof(p), "%s.ports", path);
	get_ports(c, slp_map_get(n, "ports"), p, &op->ports);
	snprintf(p, sizeof(p), "%s.notPorts", path);
	get_ports(c, slp_map_get(n, "notPorts"), p, &op->not_ports);
}

static int when_key(const char *k)
{
	for (size_t i = 0; i < sizeof(when_keys) / sizeof(when_keys[0]); i++)
		if (!strcmp(k, when_keys[i]))
			return (int)i;
	return -1;
}

static void build_when(struct actx *c, const struct node *n, const char *path,
		       struct az_when *w, bool *http)
{
	const char *k = slp_node_str(slp_map_get(n, "key")) ?: "";
	char p[160];

	w->key = when_key(k);
	if (w->key < 0) {
		*http = true;
		snprintf(p, sizeof(p), "%s.key", path);
		char what[160];

		snprintf(what, sizeof(what), "'%.100s' is not an L4 attribute", k);
		http_warn(c, slp_map_get(n, "key"), p, what);
		return;
	}
	get_strs(c, slp_map_get(n, "values"), &w->values);
	get_strs(c, slp_map_get(n, "notValues"), &w->not_values);
	if (w->key == W_SOURCE_IP || w->key == W_REMOTE_IP || w->key == W_DEST_IP) {
		snprintf(p, sizeof(p), "%s.values", path);
		get_cidrs(c, slp_map_get(n, "values"), p, &w->cidr);
		snprintf(p, sizeof(p), "%s.notValues", path);
		get_cidrs(c, slp_map_get(n, "notValues"), p, &w->not_cidr);
	}
}

static void build_rule(struct actx *c, const struct node *n, size_t ri, struct az_rule *r)
{
	const struct node *from = slp_map_get(n, "from"), *to = slp_map_get(n, "to"),
			  *when = slp_map_get(n, "when");
	char p[96]; /* callees append a field name into 160 bytes */

	r->from = slp_mesh_alloc(c->m, slp_seq_len(from), sizeof(*r->from));
	r->n_from = slp_seq_len(from);
	for (size_t i = 0; i < r->n_from; i++) {
		snprintf(p, sizeof(p), "spec.rules[%zu].from[%zu].source", ri, i);
		build_source(c, slp_map_get(from->vals[i], "source"), p, &r->from[i],
			     &r->needs_http);
	}
	r->to = slp_mesh_alloc(c->m, slp_seq_len(to), sizeof(*r->to));
	r->n_to = slp_seq_len(to);
	for (size_t i = 0; i < r->n_to; i++) {
		snprintf(p, sizeof(p), "spec.rules[%zu].to[%zu].operation", ri, i);
		build_op(c, slp_map_get(to->vals[i], "operation"), p, &r->to[i], &r->needs_http);
	}
	r->when = slp_mesh_alloc(c->m, slp_seq_len(when), sizeof(*r->when));
	r->n_when = slp_seq_len(when);
	for (size_t i = 0; i < r->n_when; i++) {
		snprintf(p, sizeof(p), "spec.rules[%zu].when[%zu]", ri, i);
		build_when(c, when->vals[i], p, &r->when[i], &r->needs_http);
	}
}

/* targetRefs: Services (core group) of the policy's namespace; the policy
 * applies to the workloads their selectors pick. */
static void build_targets(struct actx *c, struct az_policy *ap)
{
	const struct node *refs = slp_path_get(c->o->root, "spec.targetRefs");
	const char **names = slp_mesh_alloc(c->m, slp_seq_len(refs), sizeof(char *));
	char p[64];

	for (size_t i = 0; i < slp_seq_len(refs); i++) {
		const struct node *r = refs->vals[i];
		const char *kind = slp_node_str(slp_map_get(r, "kind")) ?: "";
		const char *group = slp_node_str(slp_map_get(r, "group")) ?: "";
		const char *name = slp_node_str(slp_map_get(r, "name"));
		const char *ns = slp_node_str(slp_map_get(r, "namespace"));

		snprintf(p, sizeof(p), "spec.targetRefs[%zu]", i);
		if (ns && strcmp(ns, c->o->ns)) {
			slp_diag_at(c->d, SL_SEV_ERROR, c->o, slp_map_get(r, "namespace"), p,
				    "a policy targets only its own namespace (%s)", c->o->ns);
			continue;
		}
		if (strcmp(kind, "Service") || group[0] || !name) {
			slp_diag_at(c->d, SL_SEV_ERROR, c->o, r, p,
				    "only a core Service (group \"\", kind Service, name) can be "
				    "targeted at L4; Gateways need a waypoint");
			continue;
		}
		names[ap->n_targets++] = name;
	}
	ap->target_svcs = names;
}

void slp_authz_build(struct sl_mesh *m, const struct object *o, struct sl_diags *d)
{
	const struct node *act = slp_path_get(o->root, "spec.action");
	const char *a = slp_node_str(act) ?: "ALLOW";
	const struct node *rules = slp_path_get(o->root, "spec.rules");
	struct actx c = { .m = m, .o = o, .d = d };
	struct az_policy *ap;

	if (!strcmp(a, "CUSTOM")) {
		slp_diag_at(d, SL_SEV_ERROR, o, act, "spec.action",
			    "CUSTOM is not supported (it needs an external authorizer)");
		return;
	}
	m->azs = slp_xrealloc(m->azs, m->n_azs + 1, sizeof(*m->azs));
	ap = &m->azs[m->n_azs++];
	memset(ap, 0, sizeof(*ap));
	ap->o = o;
	ap->action = !strcmp(a, "DENY") ? A_DENY : !strcmp(a, "AUDIT") ? A_AUDIT : A_ALLOW;
	c.deny = ap->action == A_DENY;
	c.action = a;
	ap->selector = slp_path_get(o->root, "spec.selector.matchLabels");
	if (ap->selector && (ap->selector->type != T_MAP || !ap->selector->n))
		ap->selector = NULL;
	if (slp_path_get(o->root, "spec.targetRefs")) {
		if (ap->selector)
			slp_diag_at(d, SL_SEV_ERROR, o, slp_path_get(o->root, "spec.targetRefs"),
				    "spec.targetRefs", "selector and targetRefs are exclusive");
		build_targets(&c, ap);
	}
	ap->n_rules = slp_seq_len(rules);
	ap->rules = slp_mesh_alloc(m, ap->n_rules, sizeof(*ap->rules));
	for (size_t i = 0; i < ap->n_rules; i++)
		build_rule(&c, rules->vals[i], i, &ap->rules[i]);
}

void slp_authz_free(struct sl_mesh *m)
{
	free(m->azs);
	m->azs = NULL;
	m->n_azs = 0;
}

/* ---- evaluation ------------------------------------------------------------ */

bool sl_mesh_str_match(const char *pat, const char *v)
{
	size_t pl = strlen(pat), vl = strlen(v);

	if (!strcmp(pat, "*"))
		return vl > 0;
	if (pl && pat[pl - 1] == '*')
		return vl >= pl - 1 && !strncmp(pat, v, pl - 1);
	if (pl && pat[0] == '*')
		return vl >= pl - 1 && !strcmp(v + vl - (pl - 1), pat + 1);
	return !strcmp(pat, v);
}

static bool strs_any(const struct strs *s, const char *v)
{
	for (size_t i = 0; v && i < s->n; i++)
		if (sl_mesh_str_match(s->v[i], v))
			return true;
	return false;
}

static bool in_cidr(const struct cidr *c, const struct sl_l4addr *a)
{
	struct sl_l4addr x = *a;

	if (x.family != c->a.family)
		return false;
	slp_mask_prefix(&x, c->plen);
	return !memcmp(x.addr, c->a.addr, sizeof(x.addr));
}

static bool cidrs_any(const struct cidrs *s, const struct sl_l4addr *a)
{
	for (size_t i = 0; i < s->n; i++)
		if (in_cidr(&s->v[i], a))
			return true;
	return false;
}

static bool ports_any(const struct ports *p, uint16_t port)
{
	for (size_t i = 0; i < p->n; i++)
		if (port >= p->v[i][0] && port <= p->v[i][1])
			return true;
	return false;
}

/* A positive field matches when empty or when one value matches; a negative
 * one when no value matches. */
#define POS(n, hit) ((n) == 0 || (hit))
#define NEG(n, hit) ((n) == 0 || !(hit))

static bool source_match(const struct az_source *s, const struct sl_authz_req *r)
{
	return POS(s->principals.n, strs_any(&s->principals, r->principal)) &&
	       NEG(s->not_principals.n, strs_any(&s->not_principals, r->principal)) &&
	       POS(s->namespaces.n, strs_any(&s->namespaces, r->src_ns)) &&
	       NEG(s->not_namespaces.n, strs_any(&s->not_namespaces, r->src_ns)) &&
	       POS(s->ip.n, cidrs_any(&s->ip, &r->src)) &&
	       NEG(s->not_ip.n, cidrs_any(&s->not_ip, &r->src)) &&
	       POS(s->remote.n, cidrs_any(&s->remote, &r->src)) &&
	       NEG(s->not_remote.n, cidrs_any(&s->not_remote, &r->src));
}

static bool op_match(const struct az_op *o, const struct sl_authz_req *r)
{
	return POS(o->ports.n, ports_any(&o->ports, r->dport)) &&
	       NEG(o->not_ports.n, ports_any(&o->not_ports, r->dport));
}

static bool dst_ip_any(const struct cidrs *c, const struct sl_authz_req *r)
{
	for (int i = 0; i < r->dst->n_ip; i++)
		if (cidrs_any(c, &r->dst->ip[i]))
			return true;
	return false;
}

static bool when_match(const struct az_when *w, const struct sl_authz_req *r)
{
	char port[8];

	switch (w->key) {
	case W_SOURCE_IP:
	case W_REMOTE_IP:
		return POS(w->cidr.n, cidrs_any(&w->cidr, &r->src)) &&
		       NEG(w->not_cidr.n, cidrs_any(&w->not_cidr, &r->src));
	case W_DEST_IP:
		return POS(w->cidr.n, dst_ip_any(&w->cidr, r)) &&
		       NEG(w->not_cidr.n, dst_ip_any(&w->not_cidr, r));
	case W_SOURCE_NS:
		return POS(w->values.n, strs_any(&w->values, r->src_ns)) &&
		       NEG(w->not_values.n, strs_any(&w->not_values, r->src_ns));
	case W_SOURCE_PRINCIPAL:
		return POS(w->values.n, strs_any(&w->values, r->principal)) &&
		       NEG(w->not_values.n, strs_any(&w->not_values, r->principal));
	case W_DEST_PORT:
		snprintf(port, sizeof(port), "%u", r->dport);
		return POS(w->values.n, strs_any(&w->values, port)) &&
		       NEG(w->not_values.n, strs_any(&w->not_values, port));
	}
	return true; /* an HTTP key: only in DENY rules, evaluated on L4 alone */
}

static bool rule_match(const struct az_rule *ru, int action, const struct sl_authz_req *r)
{
	bool any;
	size_t i;

	if (ru->needs_http && action != A_DENY)
		return false;
	for (i = 0, any = !ru->n_from; i < ru->n_from && !any; i++)
		any = source_match(&ru->from[i], r);
	if (!any)
		return false;
	for (i = 0, any = !ru->n_to; i < ru->n_to && !any; i++)
		any = op_match(&ru->to[i], r);
	if (!any)
		return false;
	for (i = 0; i < ru->n_when; i++)
		if (!when_match(&ru->when[i], r))
			return false;
	return true;
}

static bool svc_selects(const struct sl_mesh *m, const struct az_policy *ap,
			const struct sl_mesh_wl *w)
{
	for (size_t i = 0; i < ap->n_targets; i++)
		for (size_t j = 0; j < m->n_svcs; j++) {
			const struct object *s = m->svcs[j];
			const struct node *sel = slp_path_get(s->root, "spec.selector");

			if (!strcmp(s->name, ap->target_svcs[i]) && !strcmp(s->ns, ap->o->ns) &&
			    !strcmp(w->ns, s->ns) && sel && sel->type == T_MAP && sel->n &&
			    w->labels && slp_labels_match(w->labels, sel))
				return true;
		}
	return false;
}

static bool applies(const struct sl_mesh *m, const struct az_policy *ap,
		    const struct sl_mesh_wl *w)
{
	if (ap->target_svcs)
		return svc_selects(m, ap, w);
	return slp_mesh_pol_applies(ap->o, ap->selector, w);
}

static bool policy_match(const struct az_policy *ap, const struct sl_authz_req *r)
{
	for (size_t i = 0; i < ap->n_rules; i++)
		if (rule_match(&ap->rules[i], ap->action, r))
			return true;
	return false;
}

enum sl_authz_verdict sl_mesh_authorize(const struct sl_mesh *m, const struct sl_authz_req *r,
					char *why, size_t wl, bool *audited)
{
	const struct az_policy *ap;
	bool any_allow = false;

	*audited = false;
	for (size_t i = 0; i < m->n_azs; i++) {
		ap = &m->azs[i];
		if (!applies(m, ap, r->dst) || !policy_match(ap, r))
			continue;
		if (ap->action == A_DENY) {
			snprintf(why, wl, "denied by DENY %s/%s", ap->o->ns, ap->o->name);
			return SL_AUTHZ_DENY;
		}
		if (ap->action == A_AUDIT)
			*audited = true;
	}
	for (size_t i = 0; i < m->n_azs; i++) {
		ap = &m->azs[i];
		if (ap->action != A_ALLOW || !applies(m, ap, r->dst))
			continue;
		any_allow = true;
		if (policy_match(ap, r)) {
			snprintf(why, wl, "allowed by ALLOW %s/%s", ap->o->ns, ap->o->name);
			return SL_AUTHZ_ALLOW;
		}
	}
	snprintf(why, wl, any_allow ? "denied: no ALLOW policy matched" :
				      "allowed: no ALLOW policy applies");
	return any_allow ? SL_AUTHZ_DENY : SL_AUTHZ_ALLOW;
}
