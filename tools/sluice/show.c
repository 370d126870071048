// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Read-only commands: get, status, flows. They compile the stored policy
 * again for names and structure and join it with the live state maps.
 * The JSON shapes are a stable interface, documented in docs/CLI.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "cli.h"
#include "json.h"
#include "nodestate.h"
#include "probe.h"
#include "stateid.h"
#include "util.h"

const char *sl_lb_name(unsigned lb)
{
	static const char *const n[] = { "LEAST_REQUEST", "LEAST_CONN", "ROUND_ROBIN",
					 "RANDOM", "PASSTHROUGH" };

	return lb < sizeof(n) / sizeof(n[0]) ? n[lb] : "?";
}

int sl_live_open(const char *root, struct sl_live *l)
{
	struct sl_compile_opts o;
	struct sl_diags d = { 0 };
	char *src = NULL;
	size_t len = 0;
	int err;

	memset(l, 0, sizeof(*l));
	err = sl_maps_open(root, &l->maps);
	if (err)
		return err;
	err = sl_read_store(&l->maps, &src, &len, &l->cfg);
	if (err) {
		fprintf(stderr, "sluice: reading the applied policy: %s\n", strerror(-err));
		goto fail;
	}
	sl_node_compile_opts(&l->cfg, &o);
	l->policy = sl_policy_new();
	err = -EBADMSG;
	if (!l->policy || (len && sl_policy_load(l->policy, "<applied>", src, len, &d)) ||
	    sl_policy_compile(l->policy, &o, &l->tables, &d)) {
		sl_diags_print(&d, stderr);
		goto fail;
	}
	free(src);
	sl_diags_free(&d);
	return 0;
fail:
	free(src);
	sl_diags_free(&d);
	sl_live_close(l);
	return err;
}

void sl_live_close(struct sl_live *l)
{
	sl_tables_free(&l->tables);
	sl_policy_free(l->policy);
	l->policy = NULL;
	sl_maps_close(&l->maps);
}

static bool parse_output(struct sl_cli *c, bool *json, int first_pos)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "follow", no_argument, NULL, 'F' },
		{ "pods", no_argument, NULL, 'p' },
		{ 0 },
	};
	int opt;

	(void)first_pos;
	*json = false;
	while ((opt = getopt_long(c->argc, c->argv, "o:", opts, NULL)) != -1) {
		if (opt == 'o' && !strcmp(optarg, "json"))
			*json = true;
		else if (opt == 'o' && !strcmp(optarg, "table"))
			*json = false;
		else if (opt != 'F' && opt != 'p')
			return false;
	}
	return true;
}

static void group_state(struct sl_live *l, const struct sl_table_svc *s, unsigned g,
			struct sl_group_state *gs)
{
	struct sl_state_maps sm;

	sl_state_maps_of(&l->maps, &sm);
	sl_state_group_read(&sm, &s->fe, s->val.groups[g].tag, gs, NULL);
}

static void ep_state(struct sl_live *l, const struct sl_table_backend *b,
		     struct sl_ep_state *st)
{
	struct sl_state_maps sm;

	sl_state_maps_of(&l->maps, &sm);
	sl_state_ep_read(&sm, &l->tables.svcs[b->svc].fe, &b->be.ep, st, NULL);
}

static const char *const reason_names[] = { "http-match", "http-feature", "mtls-strict",
					    "authorization", "jwt", "tls-route" };

static void json_reasons(FILE *f, __u32 bits)
{
	bool first = true;

	fputc('[', f);
	for (unsigned i = 0; i < sizeof(reason_names) / sizeof(reason_names[0]); i++) {
		if (!(bits & (1u << i)))
			continue;
		fprintf(f, "%s\"%s\"", first ? "" : ",", reason_names[i]);
		first = false;
	}
	fputc(']', f);
}

static void json_outlier(FILE *f, const struct sl_outlier_cfg *o)
{
	fprintf(f, "{\"enabled\":%s,\"consecutive_5xx\":%u,\"consecutive_gateway\":%u,"
		   "\"interval_ms\":%llu,\"base_ejection_ms\":%llu,\"max_ejection_percent\":%u,"
		   "\"min_health_percent\":%u}",
		o->enabled ? "true" : "false", o->consec_5xx, o->consec_gw,
		(unsigned long long)(o->interval_ns / 1000000),
		(unsigned long long)(o->base_eject_ns / 1000000), o->max_eject_pct,
		o->min_health_pct);
}

static const char *ingress_kind(__u32 k)
{
	switch (k) {
	case SL_ING_EXTERNAL_IP:
		return "external_ip";
	case SL_ING_LB:
		return "load_balancer";
	case SL_ING_NODEPORT:
		return "node_port";
	}
	return "?";
}

/* A node-ingress frontend: a NodePort (no address) as "*:PORT/PROTO". */
static const char *ingress_fe(const struct sl_table_ingress *in, char *buf, size_t len)
{
	if (in->kind != SL_ING_NODEPORT)
		return sl_fmt_l4(&in->fe, true, buf, len);
	snprintf(buf, len, "*:%u/%s", ntohs(in->fe.port), in->fe.proto == IPPROTO_UDP ? "udp" : "tcp");
	return buf;
}

/* The node-ingress frontends of service I, as JSON or as a table line. */
static void ingress_of(const struct sl_live *l, size_t i, FILE *f, bool json)
{
	char buf[128];
	bool first = true;

	for (size_t k = 0; k < l->tables.n_ingress; k++) {
		const struct sl_table_ingress *in = &l->tables.ingress[k];

		if (in->svc != i)
			continue;
		if (json)
			fprintf(f, "%s{\"frontend\":\"%s\",\"kind\":\"%s\"}", first ? "" : ",",
				ingress_fe(in, buf, sizeof(buf)), ingress_kind(in->kind));
		else
			fprintf(f, "%s%s (%s)", first ? "    node ingress: " : ", ",
				ingress_fe(in, buf, sizeof(buf)), ingress_kind(in->kind));
		first = false;
	}
	if (!json && !first)
		fputc('\n', f);
}

static void get_services_json(struct sl_live *l, FILE *f)
{
	char buf[128];

	fprintf(f, "{\"generation\":%u,\"services\":[", l->cfg.generation);
	for (size_t i = 0; i < l->tables.n_svcs; i++) {
		const struct sl_table_svc *s = &l->tables.svcs[i];

		fprintf(f, "%s{\"name\":", i ? "," : "");
		sl_json_str(f, s->meta.name);
		fputs(",\"namespace\":", f);
		sl_json_str(f, s->meta.ns);
		fputs(",\"kind\":", f);
		sl_json_str(f, s->kind);
		fputs(",\"host\":", f);
		sl_json_str(f, s->host);
		fprintf(f, ",\"frontend\":\"%s\",\"port_name\":", sl_fmt_l4(&s->fe, true, buf, sizeof(buf)));
		sl_json_str(f, s->port_name);
		fprintf(f, ",\"handoff\":%s,\"handoff_reasons\":",
			s->val.flags & SL_SVC_F_HANDOFF ? "true" : "false");
		json_reasons(f, s->val.handoff_reasons);
		fputs(",\"handoff_why\":", f);
		sl_json_str(f, s->handoff_why);
		fputs(",\"node_ingress\":[", f);
		ingress_of(l, i, f, true);
		fputs("],\"groups\":[", f);
		for (unsigned g = 0; g < s->val.n_groups; g++) {
			const struct sl_group *gr = &s->val.groups[g];
			struct sl_group_state gs;

			group_state(l, s, g, &gs);
			fprintf(f, "%s{\"subset\":", g ? "," : "");
			sl_json_str(f, s->subset[g]);
			fprintf(f, ",\"weight\":%u,\"lb\":\"%s\",\"max_connections\":%u,"
				   "\"endpoints\":%u,\"active\":%lld,\"overflow\":%llu,"
				   "\"no_backend\":%llu,\"outlier\":",
				gr->weight, sl_lb_name(gr->lb), gr->max_conns, gr->count,
				(long long)gs.active, (unsigned long long)gs.overflow,
				(unsigned long long)gs.no_backend);
			json_outlier(f, &gr->outlier);
			fputc('}', f);
		}
		fputs("]}", f);
	}
	fputs("]}\n", f);
}

/* Table cells that hold input (names, subsets, summaries) are escaped
 * (sl_esc_buf): a control character must not reach the terminal. */
static const char *ns_name(const char *ns, const char *name, char *buf, size_t len)
{
	char tmp[2 * SL_NAME_LEN + 2];

	snprintf(tmp, sizeof(tmp), "%s/%s", ns, name);
	return sl_esc_buf(buf, len, tmp);
}

static void get_services_table(struct sl_live *l, FILE *f)
{
	char buf[128], name[512], sub[256];

	fprintf(f, "%-32s %-24s %-14s %-8s %s\n", "SERVICE", "FRONTEND", "LB", "PATH", "ROUTES");
	for (size_t i = 0; i < l->tables.n_svcs; i++) {
		const struct sl_table_svc *s = &l->tables.svcs[i];

		fprintf(f, "%-32s %-24s %-14s %-8s ", ns_name(s->meta.ns, s->meta.name, name, sizeof(name)),
			sl_fmt_l4(&s->fe, true, buf, sizeof(buf)),
			s->val.n_groups ? sl_lb_name(s->val.groups[0].lb) : "-",
			s->val.flags & SL_SVC_F_HANDOFF ? "proxy" : "kernel");
		for (unsigned g = 0; g < s->val.n_groups; g++)
			fprintf(f, "%s%s=%u%%(%u)", g ? " " : "",
				s->subset[g][0] ? sl_esc_buf(sub, sizeof(sub), s->subset[g]) : "*",
				s->val.groups[g].weight, s->val.groups[g].count);
		fputc('\n', f);
		if (s->val.flags & SL_SVC_F_HANDOFF) {
			fputs("    handed to the proxy: ", f);
			sl_fputs_esc(f, s->handoff_why);
			fputc('\n', f);
		}
		ingress_of(l, i, f, false);
	}
}

static bool ejected(const struct sl_ep_state *st)
{
	return st->ejected_until_ns > sl_now_mono_ns();
}

/* The current (or last) ejection's length, and what is left of it, in ms:
 * the multiplier shows in the first, when the endpoint returns in the
 * second (0 when it is not ejected). */
static void ejection_times(const struct sl_ep_state *st, unsigned long long *len_ms,
			   unsigned long long *left_ms)
{
	uint64_t now = sl_now_mono_ns();

	*len_ms = st->ejections && st->ejected_until_ns > st->last_ejected_ns
			  ? (st->ejected_until_ns - st->last_ejected_ns) / 1000000
			  : 0;
	*left_ms = st->ejected_until_ns > now ? (st->ejected_until_ns - now) / 1000000 : 0;
}

static void get_endpoints_json(struct sl_live *l, FILE *f)
{
	char fe[128], ep[128], name[2 * SL_NAME_LEN + 2];

	fprintf(f, "{\"generation\":%u,\"endpoints\":[", l->cfg.generation);
	for (size_t i = 0; i < l->tables.n_backends; i++) {
		const struct sl_table_backend *b = &l->tables.backends[i];
		const struct sl_table_svc *s = &l->tables.svcs[b->svc];
		unsigned long long len_ms, left_ms;
		struct sl_ep_state st;

		ep_state(l, b, &st);
		ejection_times(&st, &len_ms, &left_ms);
		snprintf(name, sizeof(name), "%s/%s", s->meta.ns, s->meta.name);
		fprintf(f, "%s{\"service\":", i ? "," : "");
		sl_json_str(f, name);
		fprintf(f, ",\"frontend\":\"%s\",\"address\":\"%s\",\"subset\":",
			sl_fmt_l4(&s->fe, true, fe, sizeof(fe)), sl_fmt_l4(&b->be.ep, false, ep, sizeof(ep)));
		sl_json_str(f, s->subset[b->group]);
		fprintf(f, ",\"weight\":%u,\"workload\":", b->be.weight);
		sl_json_str(f, b->meta.workload);
		fputs(",\"labels\":", f);
		sl_json_str(f, b->labels);
		fprintf(f, ",\"active\":%lld,\"opened\":%llu,\"closed\":%llu,\"connect_failures\":%llu,"
			   "\"rto\":%llu,\"bytes_sent\":%llu,\"bytes_received\":%llu,"
			   "\"ejected\":%s,\"ejections\":%llu,\"ejection_ms\":%llu,\"ejected_for_ms\":%llu,"
			   "\"consecutive_failures\":%u}",
			(long long)st.active, (unsigned long long)st.opened,
			(unsigned long long)st.closed, (unsigned long long)st.connect_fail,
			(unsigned long long)st.rto, (unsigned long long)st.bytes_sent,
			(unsigned long long)st.bytes_received, ejected(&st) ? "true" : "false",
			(unsigned long long)st.ejections, len_ms, left_ms, st.consec_fail);
	}
	fputs("]}\n", f);
}

static void get_endpoints_table(struct sl_live *l, FILE *f)
{
	char ep[128];

	fprintf(f, "%-32s %-10s %-24s %-6s %-7s %-8s %-8s %s\n", "SERVICE", "SUBSET", "ENDPOINT",
		"WEIGHT", "ACTIVE", "OPENED", "FAILED", "STATE");
	for (size_t i = 0; i < l->tables.n_backends; i++) {
		const struct sl_table_backend *b = &l->tables.backends[i];
		const struct sl_table_svc *s = &l->tables.svcs[b->svc];
		struct sl_ep_state st;
		char name[512], sub[256];

		ep_state(l, b, &st);
		fprintf(f, "%-32s %-10s %-24s %-6u %-7lld %-8llu %-8llu %s\n",
			ns_name(s->meta.ns, s->meta.name, name, sizeof(name)),
			s->subset[b->group][0] ? sl_esc_buf(sub, sizeof(sub), s->subset[b->group]) : "-",
			sl_fmt_l4(&b->be.ep, false, ep, sizeof(ep)), b->be.weight,
			(long long)st.active, (unsigned long long)st.opened,
			(unsigned long long)st.connect_fail, ejected(&st) ? "ejected" : "ok");
	}
}

static void get_routes(struct sl_live *l, FILE *f, bool json)
{
	char buf[128], sub[256];
	bool first = true;

	if (json)
		fprintf(f, "{\"generation\":%u,\"routes\":[", l->cfg.generation);
	else
		fprintf(f, "%-24s %-10s %-7s %-14s %-9s %s\n", "FRONTEND", "SUBSET", "WEIGHT", "LB",
			"ENDPOINTS", "MAX_CONNECTIONS");
	for (size_t i = 0; i < l->tables.n_svcs; i++) {
		const struct sl_table_svc *s = &l->tables.svcs[i];

		for (unsigned g = 0; g < s->val.n_groups; g++) {
			const struct sl_group *gr = &s->val.groups[g];

			sl_fmt_l4(&s->fe, true, buf, sizeof(buf));
			if (!json) {
				fprintf(f, "%-24s %-10s %-7u %-14s %-9u %u\n", buf,
					s->subset[g][0] ? sl_esc_buf(sub, sizeof(sub), s->subset[g]) : "*",
					gr->weight,
					sl_lb_name(gr->lb), gr->count, gr->max_conns);
				continue;
			}
			fprintf(f, "%s{\"frontend\":\"%s\",\"host\":", first ? "" : ",", buf);
			sl_json_str(f, s->host);
			fputs(",\"subset\":", f);
			sl_json_str(f, s->subset[g]);
			fprintf(f, ",\"weight\":%u,\"lb\":\"%s\",\"endpoints\":%u,\"max_connections\":%u}",
				gr->weight, sl_lb_name(gr->lb), gr->count, gr->max_conns);
			first = false;
		}
	}
	if (json)
		fputs("]}\n", f);
}

static void get_policies(struct sl_live *l, FILE *f, bool json)
{
	if (json)
		fprintf(f, "{\"generation\":%u,\"policies\":[", l->cfg.generation);
	else
		fprintf(f, "%-24s %-32s %-40s %s\n", "KIND", "NAME", "SUMMARY", "SERVICES");
	for (size_t i = 0; i < l->tables.n_policies; i++) {
		const struct sl_table_policy *p = &l->tables.policies[i];
		char name[160], ename[640], summary[1024];

		snprintf(name, sizeof(name), "%s/%s", p->ns, p->name);
		if (!json) {
			fprintf(f, "%-24s %-32s %-40s", p->kind, ns_name(p->ns, p->name, ename, sizeof(ename)),
				sl_esc_buf(summary, sizeof(summary), p->summary));
			for (size_t j = 0; j < p->n_svcs; j++) {
				fputs(j ? "," : " ", f);
				sl_fputs_esc(f, l->tables.svcs[p->svcs[j]].host);
			}
			fputc('\n', f);
			continue;
		}
		fprintf(f, "%s{\"kind\":", i ? "," : "");
		sl_json_str(f, p->kind);
		fputs(",\"name\":", f);
		sl_json_str(f, name);
		fputs(",\"summary\":", f);
		sl_json_str(f, p->summary);
		fputs(",\"services\":[", f);
		for (size_t j = 0; j < p->n_svcs; j++) {
			if (j)
				fputc(',', f);
			sl_json_str(f, l->tables.svcs[p->svcs[j]].host);
		}
		fputs("]}", f);
	}
	if (json)
		fputs("]}\n", f);
}

int cmd_get(struct sl_cli *c)
{
	struct sl_live l;
	const char *what;
	bool json;

	if (!parse_output(c, &json, 1) || optind != c->argc - 1) {
		fprintf(stderr, "usage: sluice get services|endpoints|routes|policies [-o table|json]\n");
		return SL_EXIT_USAGE;
	}
	what = c->argv[optind];
	if (strcmp(what, "services") && strcmp(what, "endpoints") && strcmp(what, "routes") &&
	    strcmp(what, "policies")) {
		fprintf(stderr, "sluice get: unknown resource '%s'\n", what);
		return SL_EXIT_USAGE;
	}
	if (sl_live_open(c->pin_root, &l))
		return SL_EXIT_FAIL;
	if (!strcmp(what, "services"))
		json ? get_services_json(&l, stdout) : get_services_table(&l, stdout);
	else if (!strcmp(what, "endpoints"))
		json ? get_endpoints_json(&l, stdout) : get_endpoints_table(&l, stdout);
	else if (!strcmp(what, "routes"))
		get_routes(&l, stdout, json);
	else
		get_policies(&l, stdout, json);
	sl_live_close(&l);
	return SL_EXIT_OK;
}

/* Shown for an open TCP flow that no sockops program watches (a node
 * loaded with --sockops off) where the iterator does not run: whether it
 * got established is known only when it ends. */
#define FLOW_OPEN 4u

static const char *flow_state(__u32 s)
{
	static const char *const n[] = { "connecting", "established", "closed", "failed", "open" };

	return s <= FLOW_OPEN ? n[s] : "?";
}

static __u32 open_state(__u32 flags)
{
	if (flags & SL_SOCK_F_ESTABLISHED)
		return SL_FLOW_ESTABLISHED;
	return flags & (SL_SOCK_F_SOCKOPS | SL_SOCK_F_HANDOFF) ? SL_FLOW_CONNECTING : FLOW_OPEN;
}

/* One line of `sluice flows`. COUNTERS says how current the byte and
 * segment counts are: "live" (read from the socket now), "final" (the
 * connection ended), "none" (an open connection where the iterator does
 * not run: the counts are unknown, printed as null). */
struct flow_view {
	const struct sl_sock *rec;
	__u64 bytes_sent, bytes_received, segs_out, segs_in;
	__u32 state, rto;
	const char *counters;
};

static void json_count(FILE *f, const char *name, __u64 v, bool known)
{
	if (known)
		fprintf(f, ",\"%s\":%llu", name, (unsigned long long)v);
	else
		fprintf(f, ",\"%s\":null", name);
}

static void print_flow(FILE *f, bool json, bool first, const struct flow_view *fv)
{
	const struct sl_sock *r = fv->rec;
	bool known = strcmp(fv->counters, "none");
	char fe[128], ep[128], tx[24] = "-", rx[24] = "-";

	sl_fmt_l4(&r->fe, true, fe, sizeof(fe));
	sl_fmt_l4(&r->ep, false, ep, sizeof(ep));
	if (!json) {
		if (known) {
			snprintf(tx, sizeof(tx), "%llu", (unsigned long long)fv->bytes_sent);
			snprintf(rx, sizeof(rx), "%llu", (unsigned long long)fv->bytes_received);
		}
		fprintf(f, "%-20llu %-24s %-24s %-12s %-12s %-12s %llu\n",
			(unsigned long long)r->cookie, fe, ep, flow_state(fv->state), tx, rx,
			r->start_ns ? (unsigned long long)((r->end_ns ? r->end_ns : sl_now_mono_ns()) -
							   r->start_ns) / 1000000 : 0ull);
		return;
	}
	fprintf(f, "%s{\"cookie\":%llu,\"frontend\":\"%s\",\"endpoint\":\"%s\",\"state\":\"%s\"",
		first ? "" : ",", (unsigned long long)r->cookie, fe, ep, flow_state(fv->state));
	json_count(f, "bytes_sent", fv->bytes_sent, known);
	json_count(f, "bytes_received", fv->bytes_received, known);
	json_count(f, "segs_in", fv->segs_in, known);
	json_count(f, "segs_out", fv->segs_out, known);
	fprintf(f, ",\"rto\":%u,\"start_ns\":%llu,\"end_ns\":%llu,\"counters\":\"%s\"}", fv->rto,
		(unsigned long long)r->start_ns, (unsigned long long)r->end_ns, fv->counters);
}

struct live_set {
	struct sl_flow_live *v;
	size_t n;
};

static int cmp_live(const void *a, const void *b)
{
	const struct sl_flow_live *x = a, *y = b;

	return x->cookie < y->cookie ? -1 : x->cookie > y->cookie;
}

/* Live counters of every open translated TCP socket, from the pinned
 * iterator. Returns 0 or -errno (no iterator link: the load degraded or is
 * partial). */
static int read_live(const char *root, struct live_set *ls)
{
	char path[4096];
	size_t cap = 0, got = 0;
	int lfd, ifd;
	ssize_t r;

	memset(ls, 0, sizeof(*ls));
	sl_pin_path(path, sizeof(path), root, "links", "sl_flows_iter");
	lfd = bpf_obj_get(path);
	if (lfd < 0)
		return -errno;
	ifd = bpf_iter_create(lfd);
	close(lfd);
	if (ifd < 0)
		return -errno;
	for (;;) {
		if (got + sizeof(*ls->v) > cap * sizeof(*ls->v)) {
			struct sl_flow_live *nv = realloc(ls->v, (cap = cap ? 2 * cap : 256) * sizeof(*nv));

			if (!nv)
				break;
			ls->v = nv;
		}
		r = read(ifd, (char *)ls->v + got, cap * sizeof(*ls->v) - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(ifd);
	ls->n = got / sizeof(*ls->v);
	qsort(ls->v, ls->n, sizeof(*ls->v), cmp_live);
	return 0;
}

static const struct sl_flow_live *live_of(const struct live_set *ls, __u64 cookie)
{
	struct sl_flow_live k = { .cookie = cookie };

	return ls->n ? bsearch(&k, ls->v, ls->n, sizeof(*ls->v), cmp_live) : NULL;
}

/* Where open flows come from on this node, and why not live when not. */
struct flow_source {
	bool live;
	char why[320];
};

static void flow_source(const char *root, struct live_set *ls, struct flow_source *src)
{
	struct sl_load_rec rec;
	const struct sl_feature_state *f = &rec.feat[SL_FEAT_LIVE_FLOWS];
	char reason[256];
	int err;

	memset(src, 0, sizeof(*src));
	memset(ls, 0, sizeof(*ls));
	if (sl_read_load_rec(root, &rec) || f->source != SL_FSRC_ITER) {
		snprintf(src->why, sizeof(src->why), "live_flows unavailable: %s",
			 f->status == SL_FS_UNAVAILABLE
				 ? sl_feature_state_reason(SL_FEAT_LIVE_FLOWS, f, reason, sizeof(reason))
				 : "not loaded");
		return;
	}
	err = read_live(root, ls);
	src->live = !err;
	if (err)
		snprintf(src->why, sizeof(src->why), "the iterator link cannot be read: %s",
			 strerror(-err));
}

static void flows_header(bool json, const struct flow_source *src)
{
	if (json) {
		fprintf(stdout, "{\"live_counters\":{\"available\":%s,\"source\":\"%s\",\"reason\":",
			src->live ? "true" : "false", src->live ? "iterator" : "sockops");
		if (src->live)
			fputs("null", stdout);
		else
			sl_json_str(stdout, src->why);
		fputs("},\"flows\":[", stdout);
		return;
	}
	if (!src->live)
		fprintf(stderr, "sluice flows: live counters of open flows are unavailable (%s); open "
				"flows are listed without counters until they end\n",
			src->why);
	printf("%-20s %-24s %-24s %-12s %-12s %-12s %s\n", "COOKIE", "FRONTEND", "ENDPOINT", "STATE",
	       "BYTES_SENT", "BYTES_RECV", "AGE_MS");
}

/* The socket table, whole (one batch read where the kernel has it). */
static struct sl_sock *read_socks(int fd)
{
	struct sl_sock *v = calloc(SL_MAX_SOCKS, sizeof(*v));
	__u32 *keys = calloc(SL_MAX_SOCKS, sizeof(*keys));
	__u32 count = SL_MAX_SOCKS, token = 0;

	if (v && keys &&
	    bpf_map_lookup_batch(fd, NULL, &token, keys, v, &count, NULL) && errno != ENOENT) {
		for (__u32 i = 0; i < SL_MAX_SOCKS; i++)
			if (bpf_map_lookup_elem(fd, &i, &v[i]))
				memset(&v[i], 0, sizeof(v[i]));
	}
	free(keys);
	return v;
}

/* An open record (its socket still holds it) or an ended flow's; false
 * for slots never used or freed without an end (UDP, a connect() that
 * failed before its SYN). */
static bool flow_of(const struct sl_sock *r, const struct live_set *ls, struct flow_view *fv)
{
	const struct sl_flow_live *lv;

	memset(fv, 0, sizeof(*fv));
	fv->rec = r;
	fv->rto = r->rto;
	if (!r->cookie || (r->flags & SL_SOCK_F_UDP) || !r->fe.family)
		return false;
	if (r->owner == r->cookie && !r->end_ns) {
		fv->state = open_state(r->flags);
		fv->counters = "none";
		lv = live_of(ls, r->cookie);
		if (lv) {
			fv->state = open_state(lv->flags | SL_SOCK_F_SOCKOPS);
			fv->bytes_sent = lv->bytes_sent;
			fv->bytes_received = lv->bytes_received;
			fv->segs_out = lv->segs_out;
			fv->segs_in = lv->segs_in;
			fv->rto = lv->rto;
			fv->counters = "live";
		}
		return true;
	}
	if (!r->end_ns)
		return false;
	fv->state = r->state;
	fv->bytes_sent = r->bytes_sent;
	fv->bytes_received = r->bytes_received;
	fv->segs_out = r->segs_out;
	fv->segs_in = r->segs_in;
	fv->counters = "final";
	return true;
}

/* Open connections, then the ended ones the socket table still holds (the
 * last connection of each slot, until another socket claims it), in slot
 * order. */
static int dump_flows(struct sl_maps *m, const char *root, bool json)
{
	struct sl_sock *socks = read_socks(m->fd[SL_MAP_SOCKS]);
	struct flow_source src;
	struct flow_view fv;
	struct live_set ls;
	bool first = true;

	if (!socks)
		return -ENOMEM;
	flow_source(root, &ls, &src);
	flows_header(json, &src);
	for (int pass = 0; pass < 2; pass++)
		for (__u32 i = 0; i < SL_MAX_SOCKS; i++) {
			if (!flow_of(&socks[i], &ls, &fv) || (pass == 0) != !socks[i].end_ns)
				continue;
			print_flow(stdout, json, first, &fv);
			first = false;
		}
	if (json)
		fputs("]}\n", stdout);
	fflush(stdout);
	free(ls.v);
	free(socks);
	return 0;
}

int cmd_flows(struct sl_cli *c)
{
	struct sl_maps m;
	bool json, follow = false, pods = false;

	for (int i = 1; i < c->argc; i++) {
		follow |= !strcmp(c->argv[i], "--follow");
		pods |= !strcmp(c->argv[i], "--pods");
	}
	if (!parse_output(c, &json, 1) || optind != c->argc) {
		fprintf(stderr, "usage: sluice flows [-o table|json] [--follow] [--pods]\n");
		return SL_EXIT_USAGE;
	}
	if (sl_maps_open(c->pin_root, &m))
		return SL_EXIT_FAIL;
	do {
		if (pods)
			sl_dump_pod_flows(&m, json);
		else
			dump_flows(&m, c->pin_root, json);
		if (follow)
			sleep(1);
	} while (follow);
	sl_maps_close(&m);
	return SL_EXIT_OK;
}
