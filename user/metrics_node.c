// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Metrics of node ingress (XDP, TC return path) and pod interfaces (TC):
 * per-CPU counters summed here, drops by named reason, exact per-interface
 * totals. Pod flow records are an LRU; the totals are updated on every
 * packet, so sluice_pod_flows_total minus the live records is what the LRU
 * evicted, and nothing that was counted is lost with it.
 */
#include <errno.h>
#include <stddef.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mapio.h"
#include "metrics_node.h"
#include "pins.h"
#include "prom.h"
#include "sluice_abi.h"

static const char *const drop_names[SL_DROP__COUNT] = {
	[SL_DROP_POLICY_INGRESS] = "policy_ingress", [SL_DROP_POLICY_EGRESS] = "policy_egress",
	[SL_DROP_FRAGMENT] = "fragment",	     [SL_DROP_MALFORMED] = "malformed",
	[SL_DROP_NO_BACKEND] = "no_backend",	     [SL_DROP_CONN_LIMIT] = "connection_limit",
	[SL_DROP_NAT_FAIL] = "nat_failed",	     [SL_DROP_CT_FAIL] = "tracking_failed",
	[SL_DROP_SPOOFED] = "spoofed",
};

static const char *const xdp_results[] = {
	"seen", "not_service", "new_flow", "tracked", "reselected", "ejected_skipped",
	"passed", "redirected", "reply_translated", "icmp_translated", "fragment", "slot_moved",
};

_Static_assert(sizeof(xdp_results) / sizeof(xdp_results[0]) ==
		       offsetof(struct sl_xdp_stats, drops) / sizeof(__u64),
	       "every sl_xdp_stats counter has a name");

static void xdp_families(FILE *f, struct sl_maps *m, struct sl_xdp_stats *st)
{
	__u32 zero = 0;
	__u64 *v = (__u64 *)st;

	if (sl_percpu_sum(m->fd[SL_MAP_XDP_STATS], &zero, v, sizeof(*st) / sizeof(__u64)))
		return;
	sl_prom_family(f, "sluice_xdp_packets_total", "counter",
		       "Node-ingress packets by what XDP and the TC return path did with them.");
	for (size_t i = 0; i < sizeof(xdp_results) / sizeof(xdp_results[0]); i++)
		fprintf(f, "sluice_xdp_packets_total{result=\"%s\"} %llu\n", xdp_results[i],
			(unsigned long long)v[i]);
}

struct pod_iface {
	__u32 ifindex;
	struct sl_pod_totals t;
	long live; /* flow records in the LRU now */
};

static size_t collect_pods(struct sl_maps *m, struct pod_iface *out, size_t max)
{
	int fd = m->fd[SL_MAP_POD_TOTALS];
	__u32 k, next, *prev = NULL;
	size_t n = 0;

	while (n < max && !bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		out[n].ifindex = k;
		out[n].live = 0;
		if (!sl_percpu_sum(fd, &k, (__u64 *)&out[n].t, sizeof(out[n].t) / sizeof(__u64)))
			n++;
	}
	return n;
}

static void count_live(struct sl_maps *m, struct pod_iface *p, size_t n)
{
	int fd = m->fd[SL_MAP_PFLOWS];
	struct sl_pflow_key k, next, *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		for (size_t i = 0; i < n; i++)
			if (p[i].ifindex == k.ifindex)
				p[i].live++;
	}
}

static void iface_label(FILE *f, __u32 ifindex, bool first)
{
	char name[IF_NAMESIZE];

	if (!if_indextoname(ifindex, name))
		snprintf(name, sizeof(name), "if%u", ifindex);
	sl_prom_label(f, "iface", name, first);
}

static void pod_dir_family(FILE *f, const struct pod_iface *p, size_t n, const char *name,
			   const char *help, bool bytes)
{
	static const char *const dir[2] = { "from_pod", "to_pod" };

	sl_prom_family(f, name, "counter", help);
	for (size_t i = 0; i < n; i++)
		for (int d = 0; d < 2; d++) {
			fprintf(f, "%s{", name);
			iface_label(f, p[i].ifindex, true);
			sl_prom_label(f, "direction", dir[d], false);
			fprintf(f, "} %llu\n", (unsigned long long)(bytes ? p[i].t.bytes[d]
									   : p[i].t.packets[d]));
		}
}

static void pod_families(FILE *f, const struct pod_iface *p, size_t n)
{
	pod_dir_family(f, p, n, "sluice_pod_packets_total",
		       "Packets through a pod interface (exact, whatever the flow table holds).",
		       false);
	pod_dir_family(f, p, n, "sluice_pod_bytes_total", "L3 bytes through a pod interface.",
		       true);
	sl_prom_family(f, "sluice_pod_flows_total", "counter",
		       "Flow records created on a pod interface.");
	for (size_t i = 0; i < n; i++) {
		fputs("sluice_pod_flows_total{", f);
		iface_label(f, p[i].ifindex, true);
		fprintf(f, "} %llu\n", (unsigned long long)p[i].t.flows);
	}
	sl_prom_family(f, "sluice_pod_flow_records", "gauge",
		       "Flow records held now; flows_total minus this were evicted.");
	for (size_t i = 0; i < n; i++) {
		fputs("sluice_pod_flow_records{", f);
		iface_label(f, p[i].ifindex, true);
		fprintf(f, "} %ld\n", p[i].live);
	}
}

/* Drops by reason: XDP's are node-wide, TC's per pod interface. */
static void drop_family(FILE *f, const struct sl_xdp_stats *x, const struct pod_iface *p,
			size_t n)
{
	sl_prom_family(f, "sluice_drops_total", "counter",
		       "Packets dropped, by hook and named reason.");
	for (int r = 0; r < SL_DROP__COUNT; r++)
		fprintf(f, "sluice_drops_total{hook=\"xdp\",iface=\"\",reason=\"%s\"} %llu\n",
			drop_names[r], (unsigned long long)x->drops[r]);
	for (size_t i = 0; i < n; i++)
		for (int r = 0; r < SL_DROP__COUNT; r++) {
			fputs("sluice_drops_total{hook=\"tc_pod\",", f);
			iface_label(f, p[i].ifindex, true);
			fprintf(f, ",reason=\"%s\"} %llu\n", drop_names[r],
				(unsigned long long)p[i].t.drops[r]);
		}
}

void sl_metrics_node(FILE *f, struct sl_maps *m)
{
	struct sl_xdp_stats x;
	struct pod_iface *p = calloc(SL_MAX_POD_IFACES, sizeof(*p));
	size_t n = 0;

	memset(&x, 0, sizeof(x));
	xdp_families(f, m, &x);
	if (p) {
		n = collect_pods(m, p, SL_MAX_POD_IFACES);
		count_live(m, p, n);
		pod_families(f, p, n);
	}
	drop_family(f, &x, p, n);
	free(p);
}
