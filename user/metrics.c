// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Prometheus text exposition 0.0.4 for `sluice metrics` and the agent's
 * /metrics endpoint. It reads only the pinned maps (names come from the
 * names maps, user/names.h), so a scrape costs map reads, not a policy compile; each map
 * is read whole in batches and joined here (at 10,000 services: ~320 calls,
 * where one lookup per series and key made 437,000).
 *
 * Connection metrics use Istio's names and labels so existing dashboards
 * work; the kernel path reports as reporter="source" and knows nothing of the
 * client's workload identity, which it reports as "unknown" (Istio's value).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <unistd.h>

#include "mapio.h"
#include "metrics.h"
#include "metrics_load.h"
#include "metrics_node.h"
#include "names.h"
#include "nodestate.h"
#include "prom.h"
#include "proxy_metrics.h"
#include "publish.h"
#include "stateid.h"
#include "svctab.h"
#include "util.h"

struct ep_rec {
	struct sl_ep_key key;
	struct sl_ep_state st;
	struct sl_svc_meta svc;
	struct sl_ep_meta ep;
};

struct grp_rec {
	struct sl_group_key key;
	struct sl_group_state st;
	struct sl_svc_meta svc;
	char subset[SL_NAME_LEN];
};

struct scrape {
	struct ep_rec *eps;
	size_t n_eps;
	struct grp_rec *grps;
	size_t n_grps;
	struct sl_config cfg;
	char *proxy; /* the node proxy's metrics text, NULL when it is not running */
};

/* A directory of state ids with every record it names: N keys, refs and
 * states (the records in the directory's order). */
struct states {
	void *keys, *st;
	struct sl_state_ref *refs;
	size_t n;
};

static int load_states(int dir, int arr, size_t key_size, size_t val_size, struct states *out)
{
	__u32 *ids = NULL;
	int err = sl_map_dump(dir, key_size, sizeof(*out->refs), &out->keys, (void **)&out->refs,
			      &out->n);

	out->st = NULL;
	if (!err) {
		ids = malloc((out->n ? out->n : 1) * sizeof(*ids));
		out->st = calloc(out->n ? out->n : 1, val_size);
		err = ids && out->st ? 0 : -ENOMEM;
	}
	for (size_t i = 0; !err && i < out->n; i++)
		ids[i] = out->refs[i].id;
	if (!err)
		err = sl_array_gather(arr, ids, out->n, out->st, val_size);
	free(ids);
	return err;
}

static void states_free(struct states *x)
{
	free(x->keys);
	free(x->refs);
	free(x->st);
}

static int cmp_ep_fe(const void *a, const void *b)
{
	const struct ep_rec *x = a, *y = b;

	return memcmp(&x->key.fe, &y->key.fe, sizeof(x->key.fe));
}

/* Series in key order: the same policy and counts give the same text on
 * every node and every scrape (directories are read in hash order). */
static int cmp_ep_key(const void *a, const void *b)
{
	const struct ep_rec *x = a, *y = b;

	return memcmp(&x->key, &y->key, sizeof(x->key));
}

static int cmp_grp_key(const void *a, const void *b)
{
	const struct grp_rec *x = a, *y = b;

	return memcmp(&x->key, &y->key, sizeof(x->key));
}

/* One zeroed record appended to a growing array, or NULL. */
static void *push(void *arr_p, size_t *n, size_t *cap, size_t sz)
{
	char **arr = arr_p, *rec;

	if (*n == *cap) {
		size_t nc = *cap ? 2 * *cap : 256;
		char *na = realloc(*arr, nc * sz);

		if (!na)
			return NULL;
		*arr = na;
		*cap = nc;
	}
	rec = *arr + *n * sz;
	memset(rec, 0, sz);
	return rec;
}

/* Pairs with a state id (user/stateid.c) that the live policy owns: the
 * directory, the records and the names, each read whole. */
static int collect_eps(struct sl_maps *m, const struct sl_name_set *svcs, struct scrape *s)
{
	struct states x = { 0 };
	struct sl_name_set eps = { 0 };
	size_t cap = 0;
	int err = load_states(m->fd[SL_MAP_EP_IDS], m->fd[SL_MAP_EP_STATE], sizeof(struct sl_ep_key),
			      sizeof(struct sl_ep_state), &x);
	const struct sl_ep_key *keys = x.keys;
	const struct sl_ep_state *st = x.st;

	if (!err)
		err = sl_names_load(m, SL_MAP_EP_META, &eps);
	for (size_t i = 0; !err && i < x.n; i++) {
		const struct sl_svc_meta *sv = sl_names_find(svcs, &keys[i].fe, NULL, s->cfg.active_slot);
		const struct sl_ep_meta *ep = sl_names_find(&eps, &keys[i].fe, &keys[i].ep, s->cfg.active_slot);
		struct ep_rec *r;

		/* A record no object owns any more (an endpoint that left
		 * with connections still open) has no series: its names are
		 * gone, and a series per leftover would grow without bound. */
		if (!sv || !ep)
			continue;
		r = push(&s->eps, &s->n_eps, &cap, sizeof(*r));
		if (!r) {
			err = -ENOMEM;
			break;
		}
		r->key = keys[i];
		r->st = st[i];
		r->svc = *sv;
		r->ep = *ep;
		s->n_eps++;
	}
	/* By frontend, then endpoint: stable output, and subset_name() can
	 * search by frontend. */
	if (!err && s->n_eps) /* eps is NULL on a node with no endpoint state yet */
		qsort(s->eps, s->n_eps, sizeof(*s->eps), cmp_ep_key);
	sl_name_set_free(&eps);
	states_free(&x);
	return err;
}

/* Subset names are not in the group key (only their hash is); find them
 * among the metadata of the frontend's endpoints (s->eps is sorted). */
static void subset_name(const struct scrape *s, const struct sl_group_key *k, char *out)
{
	struct ep_rec probe;
	const struct ep_rec *e;
	size_t lo = 0, hi = s->n_eps;

	out[0] = 0;
	if (!k->tag)
		return;
	memset(&probe, 0, sizeof(probe));
	probe.key.fe = k->fe;
	while (lo < hi) { /* first endpoint of this frontend */
		size_t mid = (lo + hi) / 2;

		if (cmp_ep_fe(&s->eps[mid], &probe) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (e = s->eps + lo; e < s->eps + s->n_eps && !cmp_ep_fe(e, &probe); e++) {
		if (e->ep.subset[0] && sl_subset_tag(e->ep.subset) == k->tag) {
			snprintf(out, SL_NAME_LEN, "%s", e->ep.subset);
			return;
		}
	}
}

/* The services of the live slot, sorted by frontend. */
struct live {
	struct sl_svc_key *keys;
	struct sl_svc_val *vals;
	size_t n;
};

static int cmp_svc_fe(const void *a, const void *b, void *arg)
{
	const struct live *l = arg;

	return memcmp(&l->keys[*(const size_t *)a].fe, &l->keys[*(const size_t *)b].fe,
		      sizeof(struct sl_l4addr));
}

/* Does the live policy have group TAG at FE? ORD: L's indices by frontend. */
static bool group_live(const struct live *l, const size_t *ord, const struct sl_group_key *g)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = memcmp(&l->keys[ord[mid]].fe, &g->fe, sizeof(g->fe));

		if (!c) {
			const struct sl_svc_val *v = &l->vals[ord[mid]];

			for (unsigned i = 0; i < v->n_groups && i < SL_MAX_GROUPS; i++)
				if (v->groups[i].tag == g->tag)
					return true;
			return false;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int collect_groups(struct sl_maps *m, const struct sl_name_set *svcs, struct scrape *s)
{
	struct states x = { 0 };
	struct live l = { 0 };
	size_t cap = 0, *ord = NULL;
	int err = load_states(m->fd[SL_MAP_GROUP_IDS], m->fd[SL_MAP_GROUP_STATE],
			      sizeof(struct sl_group_key), sizeof(struct sl_group_state), &x);
	const struct sl_group_key *keys = x.keys;
	const struct sl_group_state *st = x.st;

	if (!err)
		err = sl_svc_list(sl_svctab_of(m), s->cfg.active_slot, &l.keys, &l.vals, &l.n);
	if (!err) {
		ord = malloc((l.n ? l.n : 1) * sizeof(*ord));
		err = ord ? 0 : -ENOMEM;
	}
	for (size_t i = 0; !err && i < l.n; i++)
		ord[i] = i;
	if (!err && l.n)
		qsort_r(ord, l.n, sizeof(*ord), cmp_svc_fe, &l);
	for (size_t i = 0; !err && i < x.n; i++) {
		const struct sl_svc_meta *sv = sl_names_find(svcs, &keys[i].fe, NULL, s->cfg.active_slot);
		struct grp_rec *r;

		if (!sv || !group_live(&l, ord, &keys[i]))
			continue;
		r = push(&s->grps, &s->n_grps, &cap, sizeof(*r));
		if (!r) {
			err = -ENOMEM;
			break;
		}
		r->key = keys[i];
		r->st = st[i];
		r->svc = *sv;
		subset_name(s, &keys[i], r->subset);
		s->n_grps++;
	}
	if (!err && s->n_grps)
		qsort(s->grps, s->n_grps, sizeof(*s->grps), cmp_grp_key);
	free(ord);
	free(l.keys);
	free(l.vals);
	states_free(&x);
	return err;
}

static void istio_labels(FILE *f, const struct ep_rec *e)
{
	char host[256];

	snprintf(host, sizeof(host), "%s.%s.svc.cluster.local", e->svc.name, e->svc.ns);
	sl_prom_label(f, "reporter", "source", true);
	sl_prom_label(f, "source_workload", "unknown", false);
	sl_prom_label(f, "source_workload_namespace", "unknown", false);
	sl_prom_label(f, "source_principal", "unknown", false);
	sl_prom_label(f, "destination_workload", e->ep.workload, false);
	sl_prom_label(f, "destination_workload_namespace", e->ep.ns[0] ? e->ep.ns : e->svc.ns, false);
	sl_prom_label(f, "destination_principal", "unknown", false);
	sl_prom_label(f, "destination_service", host, false);
	sl_prom_label(f, "destination_service_name", e->svc.name, false);
	sl_prom_label(f, "destination_service_namespace", e->svc.ns, false);
	sl_prom_label(f, "request_protocol", "tcp", false);
	sl_prom_label(f, "response_flags", "-", false);
	sl_prom_label(f, "connection_security_policy", "unknown", false);
}

static void ep_labels(FILE *f, const struct ep_rec *e)
{
	char fe[128], ep[128], svc[160];

	snprintf(svc, sizeof(svc), "%s/%s", e->svc.ns, e->svc.name);
	sl_prom_label(f, "service", svc, true);
	sl_prom_label(f, "frontend", sl_fmt_l4(&e->key.fe, true, fe, sizeof(fe)), false);
	sl_prom_label(f, "endpoint", sl_fmt_l4(&e->key.ep, false, ep, sizeof(ep)), false);
	sl_prom_label(f, "subset", e->ep.subset, false);
	sl_prom_label(f, "workload", e->ep.workload, false);
}

enum ep_field { F_OPENED, F_CLOSED, F_SENT, F_RECV, F_ACTIVE, F_FAIL, F_RTO, F_EJECTED, F_EJECTIONS };

static unsigned long long ep_value(const struct ep_rec *e, enum ep_field fld, __u64 now)
{
	switch (fld) {
	case F_OPENED: return e->st.opened;
	case F_CLOSED: return e->st.closed;
	case F_SENT: return e->st.bytes_sent;
	case F_RECV: return e->st.bytes_received;
	case F_ACTIVE: return e->st.active > 0 ? (unsigned long long)e->st.active : 0;
	case F_FAIL: return e->st.connect_fail;
	case F_RTO: return e->st.rto;
	case F_EJECTED: return e->st.ejected_until_ns > now;
	case F_EJECTIONS: return e->st.ejections;
	}
	return 0;
}

static void ep_family(FILE *f, const struct scrape *s, const char *name, const char *type,
		      const char *help, enum ep_field fld, bool istio)
{
	__u64 now = sl_now_mono_ns();

	sl_prom_family(f, name, type, help);
	for (size_t i = 0; i < s->n_eps; i++) {
		fprintf(f, "%s{", name);
		istio ? istio_labels(f, &s->eps[i]) : ep_labels(f, &s->eps[i]);
		fprintf(f, "} %llu\n", ep_value(&s->eps[i], fld, now));
	}
	if (istio && s->proxy) /* the proxy's samples of the same family */
		sl_proxy_metrics_family(f, s->proxy, name);
}

static void group_family(FILE *f, const struct scrape *s, const char *name, const char *help,
			 int which)
{
	char fe[128], svc[160];

	sl_prom_family(f, name, which == 2 ? "gauge" : "counter", help);
	for (size_t i = 0; i < s->n_grps; i++) {
		const struct grp_rec *g = &s->grps[i];
		unsigned long long v = which == 0 ? g->st.overflow :
				       which == 1 ? g->st.no_backend :
				       (g->st.active > 0 ? (unsigned long long)g->st.active : 0);

		snprintf(svc, sizeof(svc), "%s/%s", g->svc.ns, g->svc.name);
		fprintf(f, "%s{", name);
		sl_prom_label(f, "service", svc, true);
		sl_prom_label(f, "frontend", sl_fmt_l4(&g->key.fe, true, fe, sizeof(fe)), false);
		sl_prom_label(f, "subset", g->subset, false);
		fprintf(f, "} %llu\n", v);
	}
}

static int sum_stats(struct sl_maps *m, struct sl_stats *out)
{
	__u32 zero = 0;

	return sl_percpu_sum(m->fd[SL_MAP_STATS], &zero, (__u64 *)out, sizeof(*out) / sizeof(__u64));
}

static const char *const stat_names[] = {
	"connect_seen", "connect_xlated", "connect_handoff", "no_backend", "overflow",
	"storage_fail", "ep_state_fail", "flow_records", "cb_fallback", "ejections",
	"ejections_skipped", "handoff_record_fail", "udp_rnat_fail", "udp_rnat_hit",
	"slot_moved",
};
_Static_assert(sizeof(stat_names) / sizeof(stat_names[0]) == sizeof(struct sl_stats) / 8,
	       "every sl_stats field has a name");

static void datapath_family(FILE *f, struct sl_maps *m)
{
	struct sl_stats st;
	__u64 *v = (__u64 *)&st;

	if (sum_stats(m, &st))
		return;
	sl_prom_family(f, "sluice_datapath_events_total", "counter",
	       "Data-plane events counted by the kernel programs.");
	for (size_t i = 0; i < sizeof(stat_names) / sizeof(stat_names[0]); i++)
		fprintf(f, "sluice_datapath_events_total{event=\"%s\"} %llu\n", stat_names[i],
			(unsigned long long)v[i]);
}

/* Entries of a map: a batch walk (there is no O(1) count for hash maps). */
static void map_fill_family(FILE *f, struct sl_maps *m)
{
	static const enum sl_map_id ids[] = { SL_MAP_SERVICES, SL_MAP_EP_IDS, SL_MAP_GROUP_IDS,
					      SL_MAP_HANDOFF, SL_MAP_UDP_RNAT,
					      SL_MAP_SVC_META, SL_MAP_EP_META, SL_MAP_STORE,
					      SL_MAP_INGRESS, SL_MAP_CT, SL_MAP_RNAT, SL_MAP_PFLOWS,
					      SL_MAP_NP_PODS, SL_MAP_NP_PREFIXES, SL_MAP_NP_PORTS };
	struct bpf_map_info info;
	__u32 len;

	sl_prom_family(f, "sluice_map_entries", "gauge", "Entries in a pinned map (both policy slots).");
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		len = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (bpf_map_get_info_by_fd(m->fd[ids[i]], &info, &len))
			continue;
		/* sl_services is an array: its index says which rows are in use. */
		fprintf(f, "sluice_map_entries{map=\"%s\"} %ld\n", sl_map_names[ids[i]],
			ids[i] == SL_MAP_SERVICES ? sl_svc_count(sl_svctab_of(m))
						  : sl_map_count(m->fd[ids[i]], info.key_size));
	}
	sl_prom_family(f, "sluice_map_capacity", "gauge", "Maximum entries of a pinned map.");
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		len = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (!bpf_map_get_info_by_fd(m->fd[ids[i]], &info, &len))
			fprintf(f, "sluice_map_capacity{map=\"%s\"} %u\n", sl_map_names[ids[i]],
				info.max_entries);
	}
}

/* From the pins alone (programs are pinned under progs/), so that no
 * program has to be opened by id, which needs CAP_SYS_ADMIN. */
size_t sl_read_progs(const char *root, struct sl_prog_stat *out, size_t max)
{
	struct sl_node_state s;
	size_t n = 0;

	if (sl_node_inspect(root, &s))
		return 0;
	for (size_t i = 0; i < s.n_links && n < max; i++) {
		const struct sl_link_state *l = &s.links[i];

		if (l->status == SL_LINK_MISSING || !l->prog[0])
			continue;
		snprintf(out[n].name, sizeof(out[n].name), "%s", l->prog);
		snprintf(out[n].link, sizeof(out[n].link), "%.63s", l->name);
		out[n].run_cnt = l->run_cnt;
		out[n].run_time_ns = l->run_time_ns;
		out[n].id = l->prog_id;
		out[n].attach_type = l->attach_type;
		out[n].cgroup_id = l->cgroup_id;
		n++;
	}
	sl_node_state_free(&s);
	return n;
}

/* One program can sit behind several links (a TC program on every pod
 * interface); its counters are per program, so each is written once. */
static size_t unique_progs(struct sl_prog_stat *ps, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		size_t j = 0;

		while (j < k && ps[j].id != ps[i].id)
			j++;
		if (j == k)
			ps[k++] = ps[i];
	}
	return k;
}

static void prog_family(FILE *f, const char *root)
{
	struct sl_prog_stat *ps = calloc(512, sizeof(*ps));
	size_t n = ps ? unique_progs(ps, sl_read_progs(root, ps, 512)) : 0;

	sl_prom_family(f, "sluice_program_runs_total", "counter",
	       "Runs of each attached program (needs kernel.bpf_stats_enabled=1).");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "sluice_program_runs_total{program=\"%s\"} %llu\n", ps[i].name,
			(unsigned long long)ps[i].run_cnt);
	sl_prom_family(f, "sluice_program_run_seconds_total", "counter",
	       "Time spent in each attached program (needs kernel.bpf_stats_enabled=1).");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "sluice_program_run_seconds_total{program=\"%s\"} %.9f\n", ps[i].name,
			(double)ps[i].run_time_ns / 1e9);
	free(ps);
}

/* Per-endpoint families: Istio's names and labels first, then Sluice's. */
static const struct ep_fam {
	const char *name, *type, *help;
	enum ep_field field;
	bool istio;
} ep_families[] = {
	{ "istio_tcp_connections_opened_total", "counter",
	  "TCP connections opened to a destination (kernel path).", F_OPENED, true },
	{ "istio_tcp_connections_closed_total", "counter", "TCP connections closed.", F_CLOSED, true },
	{ "istio_tcp_sent_bytes_total", "counter",
	  "Bytes sent to the destination and acknowledged by it.", F_SENT, true },
	{ "istio_tcp_received_bytes_total", "counter", "Bytes received from the destination.",
	  F_RECV, true },
	{ "sluice_endpoint_active_connections", "gauge",
	  "Connections in progress or established, per endpoint.", F_ACTIVE, false },
	{ "sluice_endpoint_connect_failures_total", "counter",
	  "Connection attempts that failed (SYN_SENT to CLOSE).", F_FAIL, false },
	{ "sluice_endpoint_retransmission_timeouts_total", "counter", "TCP retransmission timeouts.",
	  F_RTO, false },
	{ "sluice_endpoint_ejected", "gauge", "1 while the endpoint is ejected by outlier detection.",
	  F_EJECTED, false },
	{ "sluice_endpoint_ejections_total", "counter", "Times the endpoint was ejected.",
	  F_EJECTIONS, false },
};

static void write_metrics(FILE *f, struct sl_maps *m, const struct scrape *s, const char *root)
{
	for (size_t i = 0; i < sizeof(ep_families) / sizeof(ep_families[0]); i++) {
		const struct ep_fam *e = &ep_families[i];

		ep_family(f, s, e->name, e->type, e->help, e->field, e->istio);
	}
	group_family(f, s, "sluice_connection_overflows_total",
		     "connect() refused by connectionPool.tcp.maxConnections.", 0);
	group_family(f, s, "sluice_no_endpoint_total",
		     "connect() refused because no endpoint could be chosen.", 1);
	group_family(f, s, "sluice_group_active_connections",
		     "Connections counted against the connection limit.", 2);
	datapath_family(f, m);
	sl_metrics_node(f, m);
	map_fill_family(f, m);
	prog_family(f, root);
	sl_metrics_load(f, root);
	sl_prom_family(f, "sluice_policy_generation", "gauge", "Generation of the applied policy.");
	fprintf(f, "sluice_policy_generation %u\n", s->cfg.generation);
	if (s->proxy) {
		const char *mine[sizeof(ep_families) / sizeof(ep_families[0]) + 1] = { 0 };

		for (size_t i = 0; i < sizeof(ep_families) / sizeof(ep_families[0]); i++)
			mine[i] = ep_families[i].name;
		sl_proxy_metrics_others(f, s->proxy, mine);
	}
}

int sl_metrics_write(FILE *f, const char *pin_root)
{
	struct sl_name_set svcs = { 0 };
	struct scrape s = { 0 };
	struct sl_maps m;
	int err;

	err = sl_maps_open(pin_root, &m);
	if (err)
		return err;
	err = sl_read_config(&m, &s.cfg);
	if (!err)
		err = sl_names_load(&m, SL_MAP_SVC_META, &svcs);
	if (!err)
		err = collect_eps(&m, &svcs, &s);
	if (!err)
		err = collect_groups(&m, &svcs, &s);
	sl_name_set_free(&svcs);
	s.proxy = sl_proxy_metrics_load(pin_root);
	if (!err)
		write_metrics(f, &m, &s, pin_root);
	free(s.proxy);
	free(s.eps);
	free(s.grps);
	sl_maps_close(&m);
	return err;
}
