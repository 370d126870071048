// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Load-time checks of Namespace and networking.k8s.io/v1 NetworkPolicy
 * objects: what the field tables (schema.c) cannot say. Selectors, ipBlocks
 * and ports are checked here so that `sluice apply` rejects a bad policy
 * before anything is compiled, with the position of the offending field.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define NERR(o, d, n, path, ...) slp_diag_at(d, SL_SEV_ERROR, o, n, path, __VA_ARGS__)
#define NWARN(o, d, n, path, ...) slp_diag_at(d, SL_SEV_WARNING, o, n, path, __VA_ARGS__)

struct nctx {
	const struct object *o;
	struct sl_diags *d;
};

void slp_namespace_check(const struct object *o, struct sl_diags *d)
{
	const struct node *l = slp_path_get(o->root, "metadata.labels");
	const struct node *v = slp_map_get(l, NS_NAME_LABEL);

	/* The API server sets this label to the name; another value would
	 * make namespaceSelector disagree with the cluster. */
	if (slp_node_str(v) && strcmp(v->s, o->name))
		NERR(o, d, v, "metadata.labels." NS_NAME_LABEL, "must equal "
		     "metadata.name \"%s\" (Kubernetes sets it so)", o->name);
}

/* ---- selectors ------------------------------------------------------------ */

static void check_match_labels(struct nctx *c, const struct node *ml, const char *base)
{
	char path[512];
	size_t i;

	for (i = 0; ml && ml->type == T_MAP && i < ml->n; i++) {
		snprintf(path, sizeof(path), "%s.matchLabels.%s", base, ml->keys[i]->s);
		if (!slp_label_key_ok(ml->keys[i]->s))
			NERR(c->o, c->d, ml->keys[i], path, "invalid label key \"%s\"",
			     ml->keys[i]->s);
		else if (slp_node_str(ml->vals[i]) && !slp_label_value_ok(ml->vals[i]->s))
			NERR(c->o, c->d, ml->vals[i], path, "invalid label value \"%s\" "
			     "(at most 63 characters: alphanumerics, '-', '_', '.', "
			     "starting and ending alphanumeric)", ml->vals[i]->s);
	}
}

static void check_expr_values(struct nctx *c, const struct node *e, const char *op,
			      const char *base)
{
	const struct node *vals = slp_map_get(e, "values");
	bool want = !strcmp(op, "In") || !strcmp(op, "NotIn");
	char path[512];
	size_t i;

	snprintf(path, sizeof(path), "%s.values", base);
	if (want && !slp_seq_len(vals))
		NERR(c->o, c->d, vals ? vals : e, path, "must be non-empty for "
		     "operator %s", op);
	else if (!want && slp_seq_len(vals))
		NERR(c->o, c->d, vals, path, "must be empty for operator %s", op);
	for (i = 0; i < slp_seq_len(vals); i++) {
		snprintf(path, sizeof(path), "%s.values[%zu]", base, i);
		if (slp_node_str(vals->vals[i]) && !slp_label_value_ok(vals->vals[i]->s))
			NERR(c->o, c->d, vals->vals[i], path, "invalid label value \"%s\"",
			     vals->vals[i]->s);
	}
}

static void check_expr(struct nctx *c, const struct node *e, const char *base)
{
	const struct node *k = slp_map_get(e, "key"), *op = slp_map_get(e, "operator");
	char path[448];

	snprintf(path, sizeof(path), "%s.key", base);
	if (!k)
		NERR(c->o, c->d, e, path, "required field is missing");
	else if (slp_node_str(k) && !slp_label_key_ok(k->s))
		NERR(c->o, c->d, k, path, "invalid label key \"%s\"", k->s);
	snprintf(path, sizeof(path), "%s.operator", base);
	if (!op)
		NERR(c->o, c->d, e, path, "required field is missing");
	else if (slp_node_str(op))
		check_expr_values(c, e, op->s, base);
}

static void check_selector(struct nctx *c, const struct node *sel, const char *base)
{
	const struct node *ex = slp_map_get(sel, "matchExpressions");
	char path[384];
	size_t i;

	check_match_labels(c, slp_map_get(sel, "matchLabels"), base);
	for (i = 0; i < slp_seq_len(ex); i++) {
		snprintf(path, sizeof(path), "%s.matchExpressions[%zu]", base, i);
		check_expr(c, ex->vals[i], path);
	}
}

/* ---- ipBlock -------------------------------------------------------------- */

/* A CIDR with an explicit length ("10.0.0.0/8"), as Kubernetes requires;
 * host bits are masked with a warning. Returns 0 or -1 (diagnosed). */
static int np_cidr(struct nctx *c, const struct node *n, const char *path,
		   struct sl_l4addr *a, int *plen)
{
	char buf[INET6_ADDRSTRLEN];

	if (!slp_node_str(n))
		return -1;
	if (!strchr(n->s, '/') || slp_parse_cidr(n->s, a, plen)) {
		NERR(c->o, c->d, n, path, "invalid CIDR \"%s\" (expected e.g. "
		     "10.0.0.0/8 or fd00::/8)", n->s);
		return -1;
	}
	if (slp_mask_prefix(a, *plen)) {
		inet_ntop(a->family == SL_AF_INET ? AF_INET : AF_INET6, a->addr, buf,
			  sizeof(buf));
		NWARN(c->o, c->d, n, path, "host bits set: using %s/%d", buf, *plen);
	}
	return 0;
}

static bool prefix_inside(const struct sl_l4addr *in, int in_len,
			  const struct sl_l4addr *out, int out_len)
{
	struct sl_l4addr m = *in;

	if (in->family != out->family || in_len < out_len)
		return false;
	slp_mask_prefix(&m, out_len);
	return !memcmp(m.addr, out->addr, sizeof(m.addr));
}

static void check_ipblock(struct nctx *c, const struct node *ib, const char *base)
{
	const struct node *cidr = slp_map_get(ib, "cidr"), *ex = slp_map_get(ib, "except");
	struct sl_l4addr a, e;
	int plen, elen;
	char path[384];
	size_t i;

	snprintf(path, sizeof(path), "%s.cidr", base);
	if (!cidr) {
		NERR(c->o, c->d, ib, path, "required field is missing");
		return;
	}
	if (np_cidr(c, cidr, path, &a, &plen))
		return;
	for (i = 0; i < slp_seq_len(ex); i++) {
		snprintf(path, sizeof(path), "%s.except[%zu]", base, i);
		if (np_cidr(c, ex->vals[i], path, &e, &elen))
			continue;
		if (e.family != a.family)
			NERR(c->o, c->d, ex->vals[i], path, "%s is %s; cidr %s is %s",
			     ex->vals[i]->s, e.family == SL_AF_INET ? "IPv4" : "IPv6",
			     cidr->s, a.family == SL_AF_INET ? "IPv4" : "IPv6");
		else if (elen <= plen || !prefix_inside(&e, elen, &a, plen))
			NERR(c->o, c->d, ex->vals[i], path, "%s does not lie inside cidr "
			     "%s (except must be a strict subset)", ex->vals[i]->s, cidr->s);
	}
}

/* ---- rules ---------------------------------------------------------------- */

static void check_peer(struct nctx *c, const struct node *peer, const char *base)
{
	const struct node *ps = slp_map_get(peer, "podSelector");
	const struct node *ns = slp_map_get(peer, "namespaceSelector");
	const struct node *ib = slp_map_get(peer, "ipBlock");
	char path[256];

	if (!ps && !ns && !ib) {
		NERR(c->o, c->d, peer, base, "a peer needs podSelector, "
		     "namespaceSelector or ipBlock");
		return;
	}
	snprintf(path, sizeof(path), "%s.ipBlock", base);
	if (ib && (ps || ns)) {
		NERR(c->o, c->d, ib, path, "ipBlock cannot be combined with "
		     "podSelector or namespaceSelector in one peer");
		return;
	}
	if (ib)
		check_ipblock(c, ib, path);
	snprintf(path, sizeof(path), "%s.podSelector", base);
	check_selector(c, ps, path);
	snprintf(path, sizeof(path), "%s.namespaceSelector", base);
	check_selector(c, ns, path);
}

static void check_port(struct nctx *c, const struct node *p, const char *base)
{
	const struct node *port = slp_map_get(p, "port"), *end = slp_map_get(p, "endPort");
	long long lo, hi;
	char path[256];

	snprintf(path, sizeof(path), "%s.port", base);
	if (slp_node_str(port))
		NERR(c->o, c->d, port, path, "named ports are not supported yet: "
		     "give the port number");
	if (!end)
		return;
	snprintf(path, sizeof(path), "%s.endPort", base);
	if (!slp_node_int(port, &lo))
		NERR(c->o, c->d, end, path, "endPort needs an integer port");
	else if (slp_node_int(end, &hi) && hi < lo)
		NERR(c->o, c->d, end, path, "endPort %lld is less than port %lld", hi, lo);
}

static void check_rules(struct nctx *c, const struct node *rules, const char *dir,
			const char *peers)
{
	const struct node *r, *ps, *pp;
	char base[96], path[160];
	size_t i, j;

	for (i = 0; i < slp_seq_len(rules); i++) {
		r = rules->vals[i];
		snprintf(base, sizeof(base), "spec.%s[%zu]", dir, i);
		ps = slp_map_get(r, peers);
		for (j = 0; j < slp_seq_len(ps); j++) {
			snprintf(path, sizeof(path), "%s.%s[%zu]", base, peers, j);
			check_peer(c, ps->vals[j], path);
		}
		pp = slp_map_get(r, "ports");
		for (j = 0; j < slp_seq_len(pp); j++) {
			snprintf(path, sizeof(path), "%s.ports[%zu]", base, j);
			check_port(c, pp->vals[j], path);
		}
	}
}

/* Rules of a direction the policy does not enforce, and Kubernetes'
 * defaulting of policyTypes from a non-empty egress list, both surprise. */
static void check_types(struct nctx *c, const struct node *spec)
{
	const struct node *types = slp_map_get(spec, "policyTypes");
	const struct node *in = slp_map_get(spec, "ingress");
	const struct node *eg = slp_map_get(spec, "egress");

	if (!slp_seq_len(types)) {
		if (eg && eg->type == T_SEQ && !eg->n)
			NWARN(c->o, c->d, eg, "spec.egress", "an empty egress list without "
			      "policyTypes does not isolate egress (Kubernetes adds Egress "
			      "only for a non-empty list): add policyTypes [Ingress, Egress] "
			      "to deny all egress");
		return;
	}
	if (slp_seq_len(in) && !slp_str_seq_has(types, "Ingress"))
		NWARN(c->o, c->d, in, "spec.ingress", "ignored: policyTypes does not "
		      "include Ingress");
	if (slp_seq_len(eg) && !slp_str_seq_has(types, "Egress"))
		NWARN(c->o, c->d, eg, "spec.egress", "ignored: policyTypes does not "
		      "include Egress");
}

void slp_netpol_check(const struct object *o, struct sl_diags *d)
{
	struct nctx c = { .o = o, .d = d };
	const struct node *spec = slp_map_get(o->root, "spec"), *ps;

	if (!spec) {
		NERR(o, d, o->root, "spec", "required field is missing");
		return;
	}
	ps = slp_map_get(spec, "podSelector");
	if (!ps)
		NERR(o, d, spec, "spec.podSelector", "required field is missing "
		     "({} selects every pod of the namespace)");
	check_selector(&c, ps, "spec.podSelector");
	check_types(&c, spec);
	check_rules(&c, slp_map_get(spec, "ingress"), "ingress", "from");
	check_rules(&c, slp_map_get(spec, "egress"), "egress", "to");
}
