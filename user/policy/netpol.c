// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * networking.k8s.io/v1 NetworkPolicy -> sl_tables.np_pods, np_prefixes,
 * np_portsets (and one sl_table_policy row per policy).
 *
 * Semantics (Kubernetes'): a pod selected by some policy for a direction is
 * isolated in that direction and admits exactly the union of the rules of
 * every policy that selects it for that direction; a pod no policy selects
 * is open. A rule admits (peer, port) when the peer is in one of its peers
 * and the port in its ports; peers and ports are each ORed.
 *
 * Encoding. Each peer of a rule becomes a "unit": the prefixes it covers
 * (an ipBlock's cidr, the /32 or /128 of every selected pod, or 0.0.0.0/0
 * and ::/0 for "all"), the prefixes it excludes (the ipBlock's except) and
 * the rule's ports. For the units U of an isolated pod, the LPM set holds
 * every boundary prefix of U (each cidr and each except), and the value of
 * prefix p is the union of the ports of the units that contain p and do not
 * exclude it. Since boundary prefixes nest, the longest one that holds an
 * address a lies inside every boundary prefix that holds a, so "p inside"
 * equals "a inside" for each of them: one longest-prefix match gives
 * exactly the ports that the rules admit for a. A prefix no unit admits
 * keeps an entry with port set 0, so it shadows the shorter ones.
 *
 * Identical sets and port sets are interned (ids from 1, in first-use
 * order), and pods selected by the same policies share one computation.
 * Pods are visited sorted by (namespace, name), so the tables are a
 * function of the object set.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { DIR_IN = 0, DIR_EG = 1 };

/* Direction names, which are also the spec fields of their rules. */
static const char *const dir_name[2] = { "ingress", "egress" };
static const char *const dir_peers[2] = { "from", "to" };

/* A masked prefix; zero-filled so it compares with memcmp. */
struct pfx {
	uint8_t family; /* enum sl_family */
	uint8_t plen;
	uint8_t pad[2];
	__be32 addr[4];
};

struct pfxset {
	struct pfx *v;
	size_t n, cap;
	bool len_used[2][129]; /* [family v6][plen]: lengths present */
};

struct unit {
	struct pfxset in, out; /* covered prefixes, excepted prefixes */
	const struct sl_np_range *ports; /* the rule's, unmerged */
	size_t n_ports;
	const struct object *pol;
	const struct node *at; /* the rule, for messages */
	char path[48]; /* spec.ingress[i] */
};

struct rule_ports {
	struct sl_np_range *r;
	size_t n;
};

struct npol {
	const struct object *o;
	bool iso[2]; /* enforced directions (policyTypes) */
	struct unit *units[2];
	size_t n_units[2], n_rules[2];
	struct rule_ports *rports[2]; /* per rule */
	size_t n_selected;
};

struct npod {
	const struct np_pod *in;
	struct np_view v; /* its labels, its addresses (pod_ip) */
	bool eligible; /* has an IP, not hostNetwork, not finished */
	bool host;
	bool noted; /* the hostNetwork note was given */
	uint32_t *pols; /* indices of policies selecting it, ascending */
	size_t n_pols;
	uint32_t set[2];
};

/* Content-addressed table: blob -> 1-based index in insertion order. */
struct intern {
	struct { void *blob; size_t len; uint32_t h; } *v;
	size_t n, cap;
	uint32_t *slots; /* index + 1; 0 = empty */
	size_t n_slots;
};

struct npc {
	const struct np_objs *in;
	struct sl_tables *t;
	struct sl_diags *d;
	struct npol *pols;
	struct npod *pods;
	struct intern portsets, sets, cache;
	uint32_t *cache_set; /* cache index -> set id */
	/* Per set id - 1: what makes the set, the least of the policy
	 * combinations whose set it is (its id follows it, npids.c). */
	struct slp_np_origin *origin;
	size_t cap_origin;
	size_t cap_pfx, cap_ps, cap_pods;
	bool cap_err;
};

/* ---- intern --------------------------------------------------------------- */

static void intern_grow(struct intern *t)
{
	size_t i, j, ns = t->n_slots ? t->n_slots * 2 : 256;
	uint32_t *s = slp_xcalloc(ns, sizeof(*s));

	for (i = 0; i < t->n; i++) {
		for (j = t->v[i].h & (ns - 1); s[j]; j = (j + 1) & (ns - 1))
			;
		s[j] = (uint32_t)i + 1;
	}
	free(t->slots);
	t->slots = s;
	t->n_slots = ns;
}

static uint32_t intern(struct intern *t, const void *blob, size_t len, bool *fresh)
{
	uint32_t h = slp_fnv1a32(blob, len, FNV1A32_INIT), k;
	size_t j;

	if ((t->n + 1) * 2 > t->n_slots)
		intern_grow(t);
	for (j = h & (t->n_slots - 1); (k = t->slots[j]); j = (j + 1) & (t->n_slots - 1)) {
		if (t->v[k - 1].h == h && t->v[k - 1].len == len &&
		    !memcmp(t->v[k - 1].blob, blob, len)) {
			*fresh = false;
			return k;
		}
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->v = slp_xrealloc(t->v, t->cap, sizeof(*t->v));
	}
	t->v[t->n].blob = slp_xcalloc(1, len);
	memcpy(t->v[t->n].blob, blob, len);
	t->v[t->n].len = len;
	t->v[t->n].h = h;
	t->slots[j] = (uint32_t)++t->n;
	*fresh = true;
	return (uint32_t)t->n;
}

static void intern_free(struct intern *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].blob);
	free(t->v);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* ---- prefixes ------------------------------------------------------------- */

static void pfx_from(struct pfx *p, const struct sl_l4addr *a, int plen)
{
	struct sl_l4addr m = *a;

	slp_mask_prefix(&m, plen);
	memset(p, 0, sizeof(*p));
	p->family = m.family;
	p->plen = (uint8_t)plen;
	memcpy(p->addr, m.addr, sizeof(p->addr));
}

static void pfxset_add(struct pfxset *s, const struct pfx *p)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = slp_xrealloc(s->v, s->cap, sizeof(*s->v));
	}
	s->v[s->n++] = *p;
	s->len_used[p->family == SL_AF_INET6][p->plen] = true;
}

static int pfx_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct pfx));
}

static void pfxset_finish(struct pfxset *s)
{
	size_t i, n = 0;

	if (!s->n)
		return;
	qsort(s->v, s->n, sizeof(*s->v), pfx_cmp);
	for (i = 0; i < s->n; i++)
		if (!n || memcmp(&s->v[n - 1], &s->v[i], sizeof(s->v[i])))
			s->v[n++] = s->v[i];
	s->n = n;
}

/* Does some prefix of S contain P? One lookup per prefix length present. */
static bool pfxset_covers(const struct pfxset *s, const struct pfx *p)
{
	bool v6 = p->family == SL_AF_INET6;
	struct sl_l4addr a;
	struct pfx q;
	int l;

	memset(&a, 0, sizeof(a));
	a.family = p->family;
	memcpy(a.addr, p->addr, sizeof(a.addr));
	for (l = 0; l <= p->plen; l++) {
		if (!s->len_used[v6][l])
			continue;
		pfx_from(&q, &a, l);
		if (bsearch(&q, s->v, s->n, sizeof(*s->v), pfx_cmp))
			return true;
	}
	return false;
}

/* ---- port ranges ---------------------------------------------------------- */

static int range_cmp(const void *a, const void *b)
{
	const struct sl_np_range *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return (x->hi > y->hi) - (x->hi < y->hi);
}

/* Sort and merge overlapping or adjacent ranges per protocol; a proto 0
 * range (every protocol and port) absorbs all others. Returns the count. */
static size_t ranges_merge(struct sl_np_range *r, size_t n)
{
	size_t i, m = 0;

	for (i = 0; i < n; i++) {
		if (r[i].proto)
			continue;
		memset(r, 0, sizeof(*r));
		r[0].hi = 65535;
		return 1;
	}
	if (!n)
		return 0;
	qsort(r, n, sizeof(*r), range_cmp);
	for (i = 1; i < n; i++) {
		if (r[i].proto == r[m].proto && (uint32_t)r[i].lo <= (uint32_t)r[m].hi + 1) {
			if (r[i].hi > r[m].hi)
				r[m].hi = r[i].hi;
			continue;
		}
		r[++m] = r[i];
	}
	return m + 1;
}

static uint8_t np_proto(const struct node *p)
{
	const char *s = slp_node_str(slp_map_get(p, "protocol"));

	if (s && !strcmp(s, "UDP"))
		return IPPROTO_UDP;
	if (s && !strcmp(s, "SCTP"))
		return IPPROTO_SCTP;
	return IPPROTO_TCP;
}

/* A rule's ports: each entry is (protocol, port..endPort), a protocol
 * without port is all its ports; no entries at all is every protocol and
 * port (proto 0). */
static void rule_ports(const struct node *ports, struct rule_ports *out)
{
	const struct node *p;
	long long lo, hi;
	size_t i;

	out->r = slp_xcalloc(slp_seq_len(ports) + 1, sizeof(*out->r));
	out->n = 0;
	if (!slp_seq_len(ports)) {
		out->r[0].hi = 65535;
		out->n = 1;
		return;
	}
	for (i = 0; i < ports->n; i++) {
		struct sl_np_range *r = &out->r[out->n++];

		p = ports->vals[i];
		r->proto = np_proto(p);
		if (!slp_node_int(slp_map_get(p, "port"), &lo)) {
			r->lo = 0;
			r->hi = 65535;
			continue;
		}
		if (!slp_node_int(slp_map_get(p, "endPort"), &hi))
			hi = lo;
		r->lo = (uint16_t)lo;
		r->hi = (uint16_t)hi;
	}
}

/* ---- pods and namespaces -------------------------------------------------- */

/* Pods that finished (Succeeded/Failed) hold no address any more, though
 * their status may still show one that a new pod now uses. */
static void build_pod(struct npc *c, struct npod *pd, const struct np_pod *in)
{
	pd->in = in;
	if (slp_np_decode(in->np, in->n_np, &pd->v)) {
		/* Only stored bytes can: the incremental compile then fails and
		 * the whole one parses the Pod. */
		slp_diag_add(c->d, SL_SEV_ERROR, "", 0, 0, "", "pod %s/%s: its stored summary "
			     "does not decode", in->ns, in->name);
		return;
	}
	pd->host = pd->v.host;
	pd->eligible = pd->v.n_ips && !pd->host && !pd->v.finished;
}

/* Address J of PD as a host prefix (decoding checked its family). */
static struct pfx pod_ip(const struct npod *pd, size_t j)
{
	struct sl_l4addr a;
	struct pfx p;

	slp_np_ip(&pd->v, j, &a);
	pfx_from(&p, &a, a.family == SL_AF_INET ? 32 : 128);
	return p;
}

/* The Pod itself, for a message. */
static const struct object *pod_object(const struct npc *c, const struct npod *pd)
{
	if (pd->in->o)
		return pd->in->o;
	return c->in->pod_obj ? c->in->pod_obj(c->in->ctx, (size_t)(pd->in - c->in->pods)) : NULL;
}

struct nsview {
	const char *name;
	const struct node *labels;
};

static const char *ns_label(const void *ctx, const char *key)
{
	const struct nsview *v = ctx;

	if (!strcmp(key, NS_NAME_LABEL))
		return v->name;
	return slp_node_label(v->labels, key);
}

static int ns_obj_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(const struct object *const *)elem)->name);
}

/* Every namespace has labels: its Namespace object's, if any, plus
 * kubernetes.io/metadata.name. */
static bool ns_selected(const struct npc *c, const struct node *sel, const char *ns)
{
	const struct object *const *o = !c->in->n_nss ? NULL :
		bsearch(ns, c->in->nss, c->in->n_nss, sizeof(*c->in->nss), ns_obj_cmp);
	struct nsview v = { .name = ns };

	if (o)
		v.labels = slp_path_get((*o)->root, "metadata.labels");
	return slp_selector_match(sel, ns_label, &v);
}

/* ---- policies ------------------------------------------------------------- */

/* policyTypes, defaulted as Kubernetes does: Ingress, plus Egress when
 * the egress list is non-empty. */
static void policy_types(struct npol *np)
{
	const struct node *spec = slp_map_get(np->o->root, "spec");
	const struct node *types = slp_map_get(spec, "policyTypes");

	if (!slp_seq_len(types)) {
		np->iso[DIR_IN] = true;
		np->iso[DIR_EG] = slp_seq_len(slp_map_get(spec, "egress")) > 0;
		return;
	}
	np->iso[DIR_IN] = slp_str_seq_has(types, "Ingress");
	np->iso[DIR_EG] = slp_str_seq_has(types, "Egress");
}

static struct unit *unit_new(struct npol *np, int dir, const struct rule_ports *rp,
			     const struct node *rule, size_t ri)
{
	struct unit *u;

	np->units[dir] = slp_xrealloc(np->units[dir], np->n_units[dir] + 1, sizeof(*u));
	u = &np->units[dir][np->n_units[dir]++];
	memset(u, 0, sizeof(*u));
	u->ports = rp->r;
	u->n_ports = rp->n;
	u->pol = np->o;
	u->at = rule;
	snprintf(u->path, sizeof(u->path), "spec.%s[%zu]", dir_name[dir], ri);
	return u;
}

static void unit_all(struct unit *u)
{
	struct sl_l4addr a;
	struct pfx p;

	memset(&a, 0, sizeof(a));
	a.family = SL_AF_INET;
	pfx_from(&p, &a, 0);
	pfxset_add(&u->in, &p);
	a.family = SL_AF_INET6;
	pfx_from(&p, &a, 0);
	pfxset_add(&u->in, &p);
}

static void unit_ipblock(struct unit *u, const struct node *ib)
{
	const struct node *ex = slp_map_get(ib, "except");
	struct sl_l4addr a;
	struct pfx p;
	int plen;
	size_t i;

	if (slp_parse_cidr(slp_node_str(slp_map_get(ib, "cidr")), &a, &plen))
		return;
	pfx_from(&p, &a, plen);
	pfxset_add(&u->in, &p);
	for (i = 0; i < slp_seq_len(ex); i++) {
		if (slp_parse_cidr(slp_node_str(ex->vals[i]), &a, &plen))
			continue;
		pfx_from(&p, &a, plen);
		pfxset_add(&u->out, &p);
	}
}

/* Pods [*LO, *HI) are those of namespace NS (pods are sorted by it). */
static void ns_pods(const struct npc *c, const char *ns, size_t *lo, size_t *hi)
{
	size_t a = 0, b = c->in->n_pods, m;

	while (a < b) {
		m = a + (b - a) / 2;
		if (strcmp(c->in->pods[m].ns, ns) < 0)
			a = m + 1;
		else
			b = m;
	}
	*lo = a;
	for (b = c->in->n_pods; a < b;) {
		m = a + (b - a) / 2;
		if (strcmp(c->in->pods[m].ns, ns) <= 0)
			a = m + 1;
		else
			b = m;
	}
	*hi = a;
}

/* Pods of the peer: podSelector in the policy's namespace, or in the
 * namespaces namespaceSelector picks; either alone leaves the other open. */
static void unit_pods(const struct npc *c, struct unit *u, const struct node *peer)
{
	const struct node *ps = slp_map_get(peer, "podSelector");
	const struct node *nsel = slp_map_get(peer, "namespaceSelector");
	const char *last_ns = NULL;
	bool ns_ok = false;
	size_t i = 0, j, end = c->in->n_pods;

	if (!nsel)
		ns_pods(c, u->pol->ns, &i, &end);
	for (; i < end; i++) {
		const struct npod *pd = &c->pods[i];

		if (!pd->eligible)
			continue;
		if (!last_ns || strcmp(last_ns, pd->in->ns)) {
			last_ns = pd->in->ns;
			ns_ok = nsel ? ns_selected(c, nsel, last_ns) :
				       !strcmp(last_ns, u->pol->ns);
		}
		if (!ns_ok || (ps && !slp_selector_match(ps, slp_np_label, &pd->v)))
			continue;
		for (j = 0; j < pd->v.n_ips; j++) {
			struct pfx p = pod_ip(pd, j);

			pfxset_add(&u->in, &p);
		}
	}
}

static void build_rules(struct npc *c, struct npol *np, int dir)
{
	const struct node *rules = slp_path_get(np->o->root, dir == DIR_IN ?
						"spec.ingress" : "spec.egress");
	const struct node *r, *peers, *peer, *ib;
	struct unit *u;
	size_t i, j;

	np->n_rules[dir] = slp_seq_len(rules);
	np->rports[dir] = slp_xcalloc(np->n_rules[dir], sizeof(*np->rports[dir]));
	for (i = 0; i < np->n_rules[dir]; i++) {
		r = rules->vals[i];
		rule_ports(slp_map_get(r, "ports"), &np->rports[dir][i]);
		peers = slp_map_get(r, dir_peers[dir]);
		if (!slp_seq_len(peers))
			unit_all(unit_new(np, dir, &np->rports[dir][i], r, i));
		for (j = 0; j < slp_seq_len(peers); j++) {
			peer = peers->vals[j];
			u = unit_new(np, dir, &np->rports[dir][i], r, i);
			if ((ib = slp_map_get(peer, "ipBlock")))
				unit_ipblock(u, ib);
			else
				unit_pods(c, u, peer);
		}
	}
	for (i = 0; i < np->n_units[dir]; i++) {
		pfxset_finish(&np->units[dir][i].in);
		pfxset_finish(&np->units[dir][i].out);
	}
}

/* Mark the pods policy PI selects (its namespace, its podSelector). */
static void select_pods(struct npc *c, size_t pi)
{
	struct npol *np = &c->pols[pi];
	const struct node *sel = slp_path_get(np->o->root, "spec.podSelector");
	const struct object *o;
	size_t i, end;

	for (ns_pods(c, np->o->ns, &i, &end); i < end; i++) {
		struct npod *pd = &c->pods[i];

		if (!slp_selector_match(sel, slp_np_label, &pd->v))
			continue;
		if (pd->host && !pd->noted && (o = pod_object(c, pd)))
			slp_diag_at(c->d, SL_SEV_NOTE, o, slp_path_get(o->root, "spec.hostNetwork"),
				    "spec.hostNetwork", "not isolated by NetworkPolicy %s/%s: "
				    "a hostNetwork pod uses the node's network", np->o->ns,
				    np->o->name);
		pd->noted |= pd->host;
		if (!pd->eligible)
			continue;
		pd->pols = slp_xrealloc(pd->pols, pd->n_pols + 1, sizeof(*pd->pols));
		pd->pols[pd->n_pols++] = (uint32_t)pi;
		np->n_selected++;
	}
}

/* ---- sets ----------------------------------------------------------------- */

struct set_ent {
	struct pfx p;
	uint32_t portset;
};

struct set_build {
	const struct unit **u;
	size_t n_u;
	struct pfx *b; /* boundary prefixes */
	size_t n_b;
	struct set_ent *e;
	struct sl_np_range *r; /* scratch */
	size_t cap_r;
	bool err;
};

static void too_many_ranges(struct npc *c, const struct set_build *sb, const struct pfx *p,
			    size_t first, size_t n, const struct npod *pd, int dir)
{
	const struct unit *u = sb->u[first];
	char ip[INET6_ADDRSTRLEN], also[200] = "", path[64];
	const struct node *ports;
	size_t i, off = 0;

	for (i = first + 1; i < sb->n_u && off < sizeof(also); i++)
		if (sb->u[i]->pol != u->pol && sb->u[i]->pol != sb->u[i - 1]->pol &&
		    pfxset_covers(&sb->u[i]->in, p) && !pfxset_covers(&sb->u[i]->out, p))
			off += (size_t)snprintf(also + off, sizeof(also) - off, "%s%s/%s",
						off ? ", " : " (with NetworkPolicy ",
						sb->u[i]->pol->ns, sb->u[i]->pol->name);
	if (off && off < sizeof(also) - 1)
		strcat(also, ")");
	inet_ntop(p->family == SL_AF_INET ? AF_INET : AF_INET6, p->addr, ip, sizeof(ip));
	ports = slp_map_get(u->at, "ports");
	snprintf(path, sizeof(path), "%s%s", u->path, ports ? ".ports" : "");
	slp_diag_at(c->d, SL_SEV_ERROR, u->pol, ports ?: u->at, path, "NetworkPolicy %s/%s%s: the %s ports admitted for peers in "
		    "%s/%u to pod %s/%s merge into %zu ranges, the limit is %u "
		    "(SL_NP_MAX_RANGES)", u->pol->ns, u->pol->name, also, dir_name[dir],
		    ip, p->plen, pd->in->ns, pd->in->name, n, SL_NP_MAX_RANGES);
}

static uint32_t portset_id(struct npc *c, const struct sl_np_range *r, size_t n)
{
	struct sl_table_np_portset *ps;
	bool fresh;
	uint32_t id;

	if (!n)
		return 0;
	id = intern(&c->portsets, r, n * sizeof(*r), &fresh);
	if (!fresh)
		return id;
	if (c->t->n_np_portsets == c->cap_ps) {
		c->cap_ps = c->cap_ps ? c->cap_ps * 2 : 64;
		c->t->np_portsets = slp_xrealloc(c->t->np_portsets, c->cap_ps,
						 sizeof(*c->t->np_portsets));
	}
	ps = &c->t->np_portsets[c->t->n_np_portsets++];
	memset(ps, 0, sizeof(*ps));
	ps->id = id;
	ps->ports.n = (uint32_t)n;
	memcpy(ps->ports.r, r, n * sizeof(*r));
	return id;
}

/* The port set for boundary prefix P: the union over admitting units. */
static uint32_t prefix_ports(struct npc *c, struct set_build *sb, const struct pfx *p,
			     const struct npod *pd, int dir)
{
	size_t i, n = 0, first = SIZE_MAX;

	for (i = 0; i < sb->n_u; i++) {
		const struct unit *u = sb->u[i];

		if (!pfxset_covers(&u->in, p) || pfxset_covers(&u->out, p))
			continue;
		if (first == SIZE_MAX)
			first = i;
		if (n + u->n_ports > sb->cap_r) {
			sb->cap_r = (n + u->n_ports) * 2;
			sb->r = slp_xrealloc(sb->r, sb->cap_r, sizeof(*sb->r));
		}
		memcpy(sb->r + n, u->ports, u->n_ports * sizeof(*u->ports));
		n += u->n_ports;
	}
	n = ranges_merge(sb->r, n);
	if (n <= SL_NP_MAX_RANGES)
		return portset_id(c, sb->r, n);
	if (!sb->err)
		too_many_ranges(c, sb, p, first, n, pd, dir);
	sb->err = true;
	return 0;
}

static void boundaries(struct set_build *sb)
{
	size_t i, j, n = 0;

	for (i = 0; i < sb->n_u; i++)
		n += sb->u[i]->in.n + sb->u[i]->out.n;
	sb->b = slp_xcalloc(n, sizeof(*sb->b));
	for (i = 0; i < sb->n_u; i++) {
		for (j = 0; j < sb->u[i]->in.n; j++)
			sb->b[sb->n_b++] = sb->u[i]->in.v[j];
		for (j = 0; j < sb->u[i]->out.n; j++)
			sb->b[sb->n_b++] = sb->u[i]->out.v[j];
	}
	if (sb->n_b)
		qsort(sb->b, sb->n_b, sizeof(*sb->b), pfx_cmp);
	for (i = 0, n = 0; i < sb->n_b; i++)
		if (!n || memcmp(&sb->b[n - 1], &sb->b[i], sizeof(sb->b[i])))
			sb->b[n++] = sb->b[i];
	sb->n_b = n;
}

static void cap_error(struct npc *c, const struct unit *u, const struct npod *pd,
		      const char *what, size_t n, unsigned lim)
{
	const struct object *o = u ? u->pol : pd ? pod_object(c, pd) : c->in->nps[0];

	if (c->cap_err)
		return;
	c->cap_err = true;
	if (o)
		slp_diag_at(c->d, SL_SEV_ERROR, o, NULL, "", "too many NetworkPolicy %s: %zu, "
			    "the limit is %u (this is where the limit is crossed)", what, n, lim);
	else
		slp_diag_add(c->d, SL_SEV_ERROR, "", 0, 0, "", "too many NetworkPolicy %s: %zu, "
			     "the limit is %u", what, n, lim);
}

static void emit_prefixes(struct npc *c, const struct set_build *sb, uint32_t id,
			  const struct npod *pd)
{
	struct sl_table_np_prefix *e;
	size_t i;

	for (i = 0; i < sb->n_b; i++) {
		if (c->t->n_np_prefixes == c->cap_pfx) {
			c->cap_pfx = c->cap_pfx ? c->cap_pfx * 2 : 256;
			c->t->np_prefixes = slp_xrealloc(c->t->np_prefixes, c->cap_pfx,
							 sizeof(*c->t->np_prefixes));
		}
		e = &c->t->np_prefixes[c->t->n_np_prefixes++];
		memset(e, 0, sizeof(*e));
		e->key.prefixlen = 64u + sb->e[i].p.plen;
		e->key.set = id;
		e->key.family = sb->e[i].p.family;
		memcpy(e->key.addr, sb->e[i].p.addr, sizeof(e->key.addr));
		e->val.portset = sb->e[i].portset;
	}
	/* Both slots share the map, so one policy may fill half of it. */
	if (c->t->n_np_prefixes > SL_MAX_NP_PREFIXES / 2)
		cap_error(c, sb->n_u ? sb->u[0] : NULL, pd, "prefixes",
			  c->t->n_np_prefixes, SL_MAX_NP_PREFIXES / 2);
}

/* The set of pod PD for direction DIR: the units of the policies that
 * select it for DIR, as interned LPM content. */
static uint32_t compute_set(struct npc *c, const struct npod *pd, int dir,
			    const uint32_t *pols, size_t n_pols)
{
	struct set_build sb = { 0 };
	size_t i, j, n = 0;
	uint32_t id;
	bool fresh;

	for (i = 0; i < n_pols; i++)
		n += c->pols[pols[i]].n_units[dir];
	sb.u = slp_xcalloc(n, sizeof(*sb.u));
	for (i = 0; i < n_pols; i++)
		for (j = 0; j < c->pols[pols[i]].n_units[dir]; j++)
			sb.u[sb.n_u++] = &c->pols[pols[i]].units[dir][j];
	boundaries(&sb);
	sb.e = slp_xcalloc(sb.n_b, sizeof(*sb.e));
	for (i = 0; i < sb.n_b; i++) {
		sb.e[i].p = sb.b[i];
		sb.e[i].portset = prefix_ports(c, &sb, &sb.b[i], pd, dir);
	}
	id = intern(&c->sets, sb.e, sb.n_b * sizeof(*sb.e), &fresh);
	if (fresh)
		emit_prefixes(c, &sb, id, pd);
	free(sb.u);
	free(sb.b);
	free(sb.e);
	free(sb.r);
	return id;
}

static int origin_cmp(const struct slp_np_origin *a, const struct slp_np_origin *b)
{
	int r = memcmp(a->p, b->p, a->n < b->n ? a->n : b->n);

	return r ? r : (a->n > b->n) - (a->n < b->n);
}

/* Set ID is made by the policies POLS[0..N) for DIR: "i" or "e", then each
 * policy's namespace and name, NUL-terminated. Kept if it is the least
 * combination that makes that set. */
static void note_origin(struct npc *c, uint32_t id, int dir, const uint32_t *pols, size_t n)
{
	struct slp_np_origin o = { 0 };
	size_t len = 2;
	char *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(c->pols[pols[i]].o->ns) + strlen(c->pols[pols[i]].o->name) + 2;
	o.p = p = slp_xcalloc(len, 1);
	*p++ = dir == DIR_IN ? 'i' : 'e';
	p++;
	for (size_t i = 0; i < n; i++) {
		p = stpcpy(p, c->pols[pols[i]].o->ns) + 1;
		p = stpcpy(p, c->pols[pols[i]].o->name) + 1;
	}
	o.n = len;
	if (id > c->cap_origin) {
		size_t cap = c->cap_origin ? 2 * c->cap_origin : 64;

		while (cap < id)
			cap *= 2;
		c->origin = slp_xrealloc(c->origin, cap, sizeof(*c->origin));
		memset(c->origin + c->cap_origin, 0, (cap - c->cap_origin) * sizeof(*c->origin));
		c->cap_origin = cap;
	}
	if (!c->origin[id - 1].p || origin_cmp(&o, &c->origin[id - 1]) < 0) {
		free((void *)c->origin[id - 1].p);
		c->origin[id - 1] = o;
	} else {
		free((void *)o.p);
	}
}

/* Pods selected by the same policies for a direction share their set. */
static uint32_t pod_set(struct npc *c, struct npod *pd, int dir)
{
	uint32_t *key = slp_xcalloc(pd->n_pols + 1, sizeof(*key)), id, k;
	size_t i, n = 0;
	bool fresh;

	key[n++] = (uint32_t)dir;
	for (i = 0; i < pd->n_pols; i++)
		if (c->pols[pd->pols[i]].iso[dir])
			key[n++] = pd->pols[i];
	if (n == 1) {
		free(key);
		return 0; /* no policy isolates it in this direction */
	}
	k = intern(&c->cache, key, n * sizeof(*key), &fresh);
	if (fresh) {
		id = compute_set(c, pd, dir, key + 1, n - 1);
		c->cache_set = slp_xrealloc(c->cache_set, k, sizeof(*c->cache_set));
		c->cache_set[k - 1] = id;
		note_origin(c, id, dir, key + 1, n - 1);
	}
	free(key);
	return c->cache_set[k - 1];
}

/* ---- pods table ----------------------------------------------------------- */

static void emit_pod(struct npc *c, const struct npod *pd)
{
	struct sl_table_np_pod *e;
	size_t i;

	for (i = 0; i < pd->v.n_ips; i++) {
		struct pfx p = pod_ip(pd, i);

		if (c->t->n_np_pods == c->cap_pods) {
			c->cap_pods = c->cap_pods ? c->cap_pods * 2 : 64;
			c->t->np_pods = slp_xrealloc(c->t->np_pods, c->cap_pods,
						     sizeof(*c->t->np_pods));
		}
		e = &c->t->np_pods[c->t->n_np_pods++];
		memset(e, 0, sizeof(*e));
		memcpy(e->key.addr, p.addr, sizeof(e->key.addr));
		e->key.family = p.family;
		e->val.ingress_set = pd->set[DIR_IN];
		e->val.egress_set = pd->set[DIR_EG];
		slp_scopy(e->ns, SL_NAME_LEN, pd->in->ns);
		slp_scopy(e->name, SL_NAME_LEN, pd->in->name);
	}
	if (c->t->n_np_pods > SL_MAX_NP_PODS)
		cap_error(c, NULL, pd, "pod addresses", c->t->n_np_pods, SL_MAX_NP_PODS);
}

struct ip_owner {
	struct pfx ip;
	const struct npod *pd;
};

/* By address, then by pod, so that the order does not depend on qsort. */
static int owner_cmp(const void *a, const void *b)
{
	const struct ip_owner *x = a, *y = b;
	int r = pfx_cmp(&x->ip, &y->ip);

	return r ? r : (x->pd > y->pd) - (x->pd < y->pd);
}

static void shared_ip(struct npc *c, const struct pfx *p, const struct npod *a,
		      const struct npod *b)
{
	const struct object *ao = pod_object(c, a), *bo = pod_object(c, b);
	const struct node *at;
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(p->family == SL_AF_INET ? AF_INET : AF_INET6, p->addr, ip, sizeof(ip));
	if (!ao || !bo) {
		slp_diag_add(c->d, SL_SEV_ERROR, "", 0, 0, "", "pod IP %s is also pod %s/%s's; a "
			     "NetworkPolicy selects one of them", ip, a->in->ns, a->in->name);
		return;
	}
	at = slp_path_get(bo->root, "status.podIP");
	slp_diag_at(c->d, SL_SEV_ERROR, bo, at ?: slp_path_get(bo->root, "status.podIPs"),
		    at ? "status.podIP" : "status.podIPs", "pod IP %s is also pod %s/%s's (%s:%d); a "
		    "NetworkPolicy selects one of them", ip, ao->ns, ao->name, ao->file, ao->line);
}

/* Two live pods with one address: the kernel cannot tell them apart, so an
 * isolated one would police the other's traffic, or be opened by it. Only
 * the addresses of selected pods can matter, so only those are sorted with
 * every pod that has one of them. */
static void check_shared_ips(struct npc *c)
{
	struct ip_owner *sel = NULL, *v = NULL;
	size_t i, j, n_sel = 0, n = 0;

	for (i = 0; i < c->in->n_pods; i++)
		for (j = 0; c->pods[i].eligible && c->pods[i].n_pols && j < c->pods[i].v.n_ips; j++) {
			sel = slp_xrealloc(sel, n_sel + 1, sizeof(*sel));
			sel[n_sel].ip = pod_ip(&c->pods[i], j);
			sel[n_sel++].pd = NULL;
		}
	if (!n_sel)
		return;
	qsort(sel, n_sel, sizeof(*sel), owner_cmp);
	v = slp_xcalloc(c->in->n_pods * SLP_NPV_MAX_IPS + 1, sizeof(*v));
	for (i = 0; i < c->in->n_pods; i++)
		for (j = 0; c->pods[i].eligible && j < c->pods[i].v.n_ips; j++) {
			struct pfx p = pod_ip(&c->pods[i], j);

			if (!bsearch(&p, sel, n_sel, sizeof(*sel), pfx_cmp))
				continue;
			v[n].ip = p;
			v[n++].pd = &c->pods[i];
		}
	qsort(v, n, sizeof(*v), owner_cmp);
	for (i = 1; i < n; i++)
		if (!pfx_cmp(&v[i - 1].ip, &v[i].ip) && (v[i - 1].pd->n_pols || v[i].pd->n_pols))
			shared_ip(c, &v[i].ip, v[i - 1].pd, v[i].pd);
	free(sel);
	free(v);
}

/* ---- policy rows ---------------------------------------------------------- */

static void policy_row(struct npc *c, const struct npol *np)
{
	struct sl_table_policy *tp;
	char types[32];
	int off = 0;

	c->t->policies = slp_xrealloc(c->t->policies, c->t->n_policies + 1,
				      sizeof(*c->t->policies));
	tp = &c->t->policies[c->t->n_policies++];
	memset(tp, 0, sizeof(*tp));
	slp_scopy(tp->kind, sizeof(tp->kind), "NetworkPolicy");
	slp_scopy(tp->ns, SL_NAME_LEN, np->o->ns);
	slp_scopy(tp->name, SL_NAME_LEN, np->o->name);
	snprintf(types, sizeof(types), "%s%s%s", np->iso[DIR_IN] ? "Ingress" : "",
		 np->iso[DIR_IN] && np->iso[DIR_EG] ? "+" : "",
		 np->iso[DIR_EG] ? "Egress" : "");
	off = snprintf(tp->summary, sizeof(tp->summary), "%s", *types ? types : "none");
	for (int dir = 0; dir < 2; dir++)
		if (np->iso[dir] && off > 0 && (size_t)off < sizeof(tp->summary))
			off += snprintf(tp->summary + off, sizeof(tp->summary) - (size_t)off,
					", %zu %s rule%s", np->n_rules[dir], dir_name[dir],
					np->n_rules[dir] == 1 ? "" : "s");
	if (off > 0 && (size_t)off < sizeof(tp->summary))
		snprintf(tp->summary + off, sizeof(tp->summary) - (size_t)off,
			 ", selects %zu pod%s", np->n_selected, np->n_selected == 1 ? "" : "s");
}

/* ---- the Pods a policy reads ---------------------------------------------- */

/* Selector SEL (NULL: every pod) of namespace NS as a query. A selector
 * that can match only pods with some label asks for that label's pods;
 * one whose first matchLabels value is not a string matches nothing. */
static void query(const struct node *sel, const char *ns, bool selects, slp_np_query fn,
		  void *ctx)
{
	const struct node *ml = slp_map_get(sel, "matchLabels");

	if (!ml || ml->type != T_MAP || !ml->n)
		fn(ctx, ns, NULL, NULL, selects);
	else if (ml->keys[0]->s && ml->vals[0]->s)
		fn(ctx, ns, ml->keys[0]->s, ml->vals[0]->s, selects);
}

bool slp_netpol_pod_queries(const struct object *np, slp_np_query fn, void *ctx)
{
	const struct node *rules, *peers, *peer;

	query(slp_path_get(np->root, "spec.podSelector"), np->ns, true, fn, ctx);
	for (int dir = 0; dir < 2; dir++) {
		rules = slp_path_get(np->root, dir == DIR_IN ? "spec.ingress" : "spec.egress");
		for (size_t i = 0; i < slp_seq_len(rules); i++) {
			peers = slp_map_get(rules->vals[i], dir_peers[dir]);
			for (size_t j = 0; j < slp_seq_len(peers); j++) {
				peer = peers->vals[j];
				if (slp_map_get(peer, "namespaceSelector"))
					return false;
				if (!slp_map_get(peer, "ipBlock"))
					query(slp_map_get(peer, "podSelector"), np->ns, false, fn, ctx);
			}
		}
	}
	return true;
}

static bool same_verdict(const struct node *sel, const struct np_view *a, const struct np_view *b)
{
	return slp_selector_match(sel, slp_np_label, a) == slp_selector_match(sel, slp_np_label, b);
}

bool slp_netpol_same_for(const struct object *np, const struct np_view *a, const struct np_view *b)
{
	const struct node *rules, *peers;

	if (!same_verdict(slp_path_get(np->root, "spec.podSelector"), a, b))
		return false;
	for (int dir = 0; dir < 2; dir++) {
		rules = slp_path_get(np->root, dir == DIR_IN ? "spec.ingress" : "spec.egress");
		for (size_t i = 0; i < slp_seq_len(rules); i++) {
			peers = slp_map_get(rules->vals[i], dir_peers[dir]);
			for (size_t j = 0; j < slp_seq_len(peers); j++) {
				const struct node *ps = slp_map_get(peers->vals[j], "podSelector");

				if (ps && !same_verdict(ps, a, b))
					return false;
			}
		}
	}
	return true;
}

/* ---- driver --------------------------------------------------------------- */

static void npc_free(struct npc *c)
{
	size_t i, j;
	int dir;

	for (i = 0; i < c->in->n_nps; i++) {
		for (dir = 0; dir < 2; dir++) {
			for (j = 0; j < c->pols[i].n_units[dir]; j++) {
				free(c->pols[i].units[dir][j].in.v);
				free(c->pols[i].units[dir][j].out.v);
			}
			for (j = 0; j < c->pols[i].n_rules[dir]; j++)
				free(c->pols[i].rports[dir][j].r);
			free(c->pols[i].units[dir]);
			free(c->pols[i].rports[dir]);
		}
	}
	for (i = 0; i < c->in->n_pods; i++)
		free(c->pods[i].pols);
	free(c->pols);
	free(c->pods);
	free(c->cache_set);
	for (i = 0; i < c->cap_origin; i++)
		free((void *)c->origin[i].p);
	free(c->origin);
	intern_free(&c->portsets);
	intern_free(&c->sets);
	intern_free(&c->cache);
}

static int cmp_pod_row(const void *a, const void *b)
{
	return memcmp(&((const struct sl_table_np_pod *)a)->key,
		      &((const struct sl_table_np_pod *)b)->key, sizeof(struct sl_np_pod_key));
}

static int cmp_prefix_row(const void *a, const void *b)
{
	return memcmp(&((const struct sl_table_np_prefix *)a)->key,
		      &((const struct sl_table_np_prefix *)b)->key, sizeof(struct sl_np_lpm_key));
}

static int cmp_portset_row(const void *a, const void *b)
{
	return memcmp(&((const struct sl_table_np_portset *)a)->id,
		      &((const struct sl_table_np_portset *)b)->id, sizeof(uint32_t));
}

/* Every table in the byte order of its map keys, as the publisher merges
 * them (publish_np.c): sorted once here, not per slot and state there. */
static void np_sort(struct sl_tables *t)
{
	if (t->n_np_pods)
		qsort(t->np_pods, t->n_np_pods, sizeof(*t->np_pods), cmp_pod_row);
	if (t->n_np_prefixes)
		qsort(t->np_prefixes, t->n_np_prefixes, sizeof(*t->np_prefixes), cmp_prefix_row);
	if (t->n_np_portsets)
		qsort(t->np_portsets, t->n_np_portsets, sizeof(*t->np_portsets), cmp_portset_row);
}

void slp_netpol_compile(const struct np_objs *in, struct sl_tables *t, struct sl_diags *d)
{
	struct npc c = { .in = in, .t = t, .d = d };
	size_t i;
	int dir;

	c.pols = slp_xcalloc(in->n_nps, sizeof(*c.pols));
	c.pods = slp_xcalloc(in->n_pods, sizeof(*c.pods));
	for (i = 0; i < in->n_pods; i++)
		build_pod(&c, &c.pods[i], &in->pods[i]);
	for (i = 0; i < in->n_nps; i++) {
		c.pols[i].o = in->nps[i];
		policy_types(&c.pols[i]);
		for (dir = 0; dir < 2; dir++)
			if (c.pols[i].iso[dir])
				build_rules(&c, &c.pols[i], dir);
		select_pods(&c, i);
	}
	check_shared_ips(&c);
	for (i = 0; i < in->n_pods; i++) {
		struct npod *pd = &c.pods[i];

		if (!pd->eligible || !pd->n_pols)
			continue;
		for (dir = 0; dir < 2; dir++)
			pd->set[dir] = pod_set(&c, pd, dir);
		if (pd->set[DIR_IN] || pd->set[DIR_EG])
			emit_pod(&c, pd);
	}
	if (t->n_np_portsets > SL_MAX_NP_PORTSETS / 2)
		cap_error(&c, NULL, in->n_pods ? c.pods : NULL, "port sets", t->n_np_portsets,
			  SL_MAX_NP_PORTSETS / 2);
	slp_np_ids(t, c.origin, c.sets.n);
	np_sort(t);
	for (i = 0; i < in->n_nps; i++)
		policy_row(&c, &c.pols[i]);
	npc_free(&c);

}
