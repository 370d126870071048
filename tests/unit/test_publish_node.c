// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Publishing node-ingress and NetworkPolicy tables (user/publish_node.c)
 * into real, pinned, unattached maps: the live slot's Maglev cells point at
 * the right backend rows even after incremental applies moved them, ring
 * sizes stay put across small changes, route weights shape the ring,
 * NetworkPolicy ids carry their slot, and a rejected apply changes nothing.
 *
 * Needs root and bpffs (tests/run.sh mounts it); fails without them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "apply.h"
#include "loader.h"
#include "pins.h"
#include "publish.h"
#include "slotdump.h"
#include "unit.h"

static char root[128];


/* Service web with an externalIP and a NodePort, N endpoints 10.7.0.1..N
 * as pods (app=web, version v1 for the first V1, v2 after), and a
 * VirtualService splitting W1/100-W1 between the subsets when W1 >= 0. */
static char *gen(int n, int v1, int w1, const char *extra)
{
	size_t cap = 1 << 16, len = 0;
	char *b = malloc(cap);

	len += (size_t)snprintf(b + len, cap - len,
		"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: t}\n"
		"spec:\n  type: NodePort\n  clusterIP: 10.96.5.1\n  externalIPs: [198.51.100.10]\n"
		"  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]\n---\n"
		"apiVersion: v1\nkind: Service\nmetadata: {name: other, namespace: t}\n"
		"spec: {clusterIP: 10.96.5.2, ports: [{port: 80}]}\n---\n"
		"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		"metadata: {name: other-1, namespace: t, labels: {kubernetes.io/service-name: other}}\n"
		"addressType: IPv4\nports: [{port: 80}]\nendpoints: [{addresses: [10.8.0.1]}]\n---\n");
	for (int i = 1; i <= n; i++)
		len += (size_t)snprintf(b + len, cap - len,
			"apiVersion: v1\nkind: Pod\nmetadata: {name: web-%d, namespace: t, "
			"labels: {app: web, version: v%d}}\nstatus: {podIP: 10.7.0.%d}\n---\n",
			i, i <= v1 ? 1 : 2, i);
	len += (size_t)snprintf(b + len, cap - len,
		"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		"metadata: {name: web-1, namespace: t, labels: {kubernetes.io/service-name: web}}\n"
		"addressType: IPv4\nports: [{port: 8080}]\nendpoints:\n");
	for (int i = 1; i <= n; i++)
		len += (size_t)snprintf(b + len, cap - len,
			"- addresses: [10.7.0.%d]\n  targetRef: {kind: Pod, name: web-%d, namespace: t}\n",
			i, i);
	if (w1 >= 0)
		len += (size_t)snprintf(b + len, cap - len,
			"---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
			"metadata: {name: web, namespace: t}\nspec:\n  host: web\n  subsets:\n"
			"  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n"
			"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
			"metadata: {name: web, namespace: t}\nspec:\n  hosts: [web]\n  tcp:\n"
			"  - route:\n    - {destination: {host: web, subset: v1}, weight: %d}\n"
			"    - {destination: {host: web, subset: v2}, weight: %d}\n",
			w1, 100 - w1);
	if (extra)
		len += (size_t)snprintf(b + len, cap - len, "---\n%s", extra);
	return b;
}

static int apply_text(char *text, struct sl_apply_result *r, bool quiet)
{
	struct sl_source src = { "gen.yaml", text, strlen(text) };
	struct sl_diags d = { 0 };
	int err = sl_apply(root, &src, 1, SL_APPLY_REPLACE, false, &d, r);

	if (err && !quiet)
		sl_diags_print(&d, stdout);
	sl_diags_free(&d);
	free(text);
	return err;
}

struct ring_view {
	__u32 size, off;
	__u32 *last_octet; /* per cell: the endpoint's address, last byte */
	unsigned per_ep[256];
	unsigned per_group[SL_MAX_GROUPS];
};

static int ingress_val(struct sl_maps *m, __u32 slot, const char *ip, __be16 port,
		       struct sl_ingress_val *v)
{
	struct sl_ingress_key k = { .slot = slot };

	k.fe.family = SL_AF_INET;
	k.fe.proto = IPPROTO_TCP;
	k.fe.port = port;
	if (ip)
		inet_pton(AF_INET, ip, k.fe.addr);
	return bpf_map_lookup_elem(m->fd[SL_MAP_INGRESS], &k, v) ? -errno : 0;
}

/* Read the live ring of web through the externalIP entry, resolving every
 * cell through the slot's backend rows. */
static const char *read_ring(struct sl_maps *m, struct ring_view *rv, char *why, size_t len)
{
	struct sl_config cfg;
	struct sl_ingress_val v, np;
	__u32 slot;

	if (sl_read_config(m, &cfg))
		return "config unreadable";
	slot = cfg.active_slot;
	if (ingress_val(m, slot, "198.51.100.10", htons(80), &v) ||
	    ingress_val(m, slot, NULL, htons(30080), &np))
		return "externalIP or NodePort frontend missing from the live slot";
	if (v.ring_off != np.ring_off || v.ring_size != np.ring_size || !v.ring_size)
		return "the two frontends of one service do not share one ring";
	memset(rv, 0, sizeof(*rv));
	rv->size = v.ring_size;
	rv->off = v.ring_off;
	rv->last_octet = calloc(rv->size, sizeof(*rv->last_octet));
	for (__u32 i = 0; i < rv->size; i++) {
		__u32 key = slot * SL_MAX_MAGLEV_CELLS + v.ring_off + i, cell, row;
		struct sl_backend be;

		if (bpf_map_lookup_elem(m->fd[SL_MAP_MAGLEV], &key, &cell))
			return "cell unreadable";
		row = slot * SL_MAX_BACKENDS + (cell & SL_MAGLEV_ROW_MASK);
		if (bpf_map_lookup_elem(m->fd[SL_MAP_BACKENDS], &row, &be))
			return "row unreadable";
		if ((ntohl(be.ep.addr[0]) >> 8) != 0x0a0700 || be.ep.port != htons(8080)) {
			snprintf(why, len, "cell %u points at a row that is not web's: %08x:%u", i,
				 ntohl(be.ep.addr[0]), ntohs(be.ep.port));
			return why;
		}
		rv->last_octet[i] = ntohl(be.ep.addr[0]) & 0xff;
		rv->per_ep[rv->last_octet[i]]++;
		rv->per_group[cell >> SL_MAGLEV_GROUP_SHIFT]++;
	}
	return NULL;
}

static bool shares_even(const struct ring_view *rv, int n, char *why, size_t len)
{
	for (int i = 1; i <= n; i++) {
		double got = 100.0 * rv->per_ep[i] / rv->size, want = 100.0 / n;

		if (got < want - 1 || got > want + 1) {
			snprintf(why, len, "endpoint %d holds %.2f%% of the ring, want %.2f%%", i, got,
				 want);
			return false;
		}
	}
	return true;
}

/* Is PORT/tcp in the live slot's frontend-port bitmap? */
static bool port_bit(struct sl_maps *m, __u16 port)
{
	struct sl_config cfg;
	__u32 idx;
	__u64 w = 0;

	sl_read_config(m, &cfg);
	idx = sl_fe_port_word(cfg.active_slot, IPPROTO_TCP, port);
	bpf_map_lookup_elem(m->fd[SL_MAP_FE_PORTS], &idx, &w);
	return (w >> (port % 64)) & 1;
}

static void test_rings(struct sl_maps *m)
{
	struct ring_view a, b, c;
	struct sl_apply_result r;
	char why[512];
	const char *bad;
	unsigned moved = 0;

	if (apply_text(gen(5, 5, -1, NULL), &r, false)) {
		result("publish-node/ring", "apply failed");
		return;
	}
	bad = read_ring(m, &a, why, sizeof(why));
	if (!bad && a.size != 1021)
		bad = "ring of 5 endpoints is not 1021 cells";
	if (!bad && !shares_even(&a, 5, why, sizeof(why)))
		bad = why;
	result("publish-node/ring", bad ? "%s" : NULL, bad);
	result("publish-node/port-bitmap",
	       port_bit(m, 80) && port_bit(m, 30080) && !port_bit(m, 81) && !port_bit(m, 8080)
		       ? NULL
		       : "bits 80 %d, 30080 %d, 81 %d, 8080 %d",
	       port_bit(m, 80), port_bit(m, 30080), port_bit(m, 81), port_bit(m, 8080));
	/* A sixth endpoint: an incremental apply places web's rows anew. */
	if (apply_text(gen(6, 6, -1, NULL), &r, false)) {
		result("publish-node/ring-after-incremental", "apply failed");
		return;
	}
	bad = read_ring(m, &b, why, sizeof(why));
	if (!bad && !r.pub.incremental)
		bad = "the apply was not incremental (test setup)";
	if (!bad && b.size != a.size)
		bad = "ring size changed for one more endpoint";
	if (!bad && !shares_even(&b, 6, why, sizeof(why)))
		bad = why;
	result("publish-node/ring-after-incremental", bad ? "%s" : NULL, bad);
	for (__u32 i = 0; !bad && i < a.size; i++)
		moved += a.last_octet[i] != b.last_octet[i];
	if (!bad)
		result("publish-node/ring-add-one-disruption",
		       moved * 100.0 / a.size <= 100.0 / 6 + 2 ? NULL : "%u of %u cells moved", moved,
		       a.size);
	/* Route weights 80/20 over subsets of 2 and 3 endpoints. */
	if (apply_text(gen(5, 2, 80, NULL), &r, false)) {
		result("publish-node/ring-route-weights", "apply failed");
	} else {
		bad = read_ring(m, &c, why, sizeof(why));
		if (!bad) {
			double g0 = 100.0 * c.per_group[0] / c.size;

			if (g0 < 79 || g0 > 81) {
				snprintf(why, sizeof(why), "subset v1 holds %.2f%% of the ring, want 80%%",
					 g0);
				bad = why;
			}
		}
		result("publish-node/ring-route-weights", bad ? "%s" : NULL, bad);
		free(c.last_octet);
	}
	free(a.last_octet);
	free(b.last_octet);
}

static const char *np_allow_b =
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: only-b, namespace: t}\nspec:\n  podSelector: {matchLabels: {version: v1}}\n"
	"  ingress:\n  - from: [{podSelector: {matchLabels: {version: v2}}}]\n"
	"    ports: [{port: 8080}]\n";

/* Port set the live slot admits from PEER into POD's ingress, 0 = none. */
static int np_lookup(struct sl_maps *m, const char *pod, const char *peer, __u32 *set,
		     __u32 *portset, struct sl_np_ports *ports)
{
	struct sl_config cfg;
	struct sl_np_pod_key pk = { .family = SL_AF_INET };
	struct sl_np_pod_val pv;
	struct sl_np_lpm_key lk = { .family = SL_AF_INET };
	struct sl_np_lpm_val lv;

	sl_read_config(m, &cfg);
	pk.slot = cfg.active_slot;
	inet_pton(AF_INET, pod, pk.addr);
	*set = *portset = 0;
	if (bpf_map_lookup_elem(m->fd[SL_MAP_NP_PODS], &pk, &pv))
		return -errno;
	*set = pv.ingress_set;
	lk.prefixlen = 64 + 32;
	lk.set = pv.ingress_set;
	inet_pton(AF_INET, peer, lk.addr);
	if (bpf_map_lookup_elem(m->fd[SL_MAP_NP_PREFIXES], &lk, &lv))
		return 0;
	*portset = lv.portset;
	return bpf_map_lookup_elem(m->fd[SL_MAP_NP_PORTS], portset, ports) ? -errno : 0;
}

static void test_netpol(struct sl_maps *m)
{
	struct sl_apply_result r;
	struct sl_np_ports ports;
	struct sl_config cfg;
	__u32 set, ps;
	int err;

	if (apply_text(gen(5, 2, -1, np_allow_b), &r, false)) {
		result("publish-node/netpol-live", "apply failed");
		return;
	}
	sl_read_config(m, &cfg);
	err = np_lookup(m, "10.7.0.1", "10.7.0.4", &set, &ps, &ports);
	if (err)
		result("publish-node/netpol-live", "isolated pod missing: %s", strerror(-err));
	else if (!set || !!(set & SL_NP_SLOT_BIT) != !!cfg.active_slot)
		result("publish-node/netpol-live", "set id %#x does not carry slot %u", set,
		       cfg.active_slot);
	else if (!ps || ports.n != 1 || ports.r[0].lo != 8080 || ports.r[0].hi != 8080 ||
		 ports.r[0].proto != IPPROTO_TCP)
		result("publish-node/netpol-live", "peer v2 admitted with port set %#x (%u ranges)",
		       ps, ports.n);
	else
		result("publish-node/netpol-live", NULL);
	err = np_lookup(m, "10.7.0.1", "10.8.0.1", &set, &ps, &ports);
	result("publish-node/netpol-other-peer-denied", !err && ps == 0 ? NULL : "port set %#x",
	       ps);
	err = np_lookup(m, "10.7.0.4", "10.7.0.1", &set, &ps, &ports);
	result("publish-node/netpol-unselected-pod-open", err == -ENOENT ? NULL : "entry %d", err);
	/* Without the policy the pod is open again in the live slot. */
	apply_text(gen(5, 2, -1, NULL), &r, false);
	err = np_lookup(m, "10.7.0.1", "10.7.0.4", &set, &ps, &ports);
	result("publish-node/netpol-removed", err == -ENOENT ? NULL : "pod still isolated (%d)",
	       err);
}

static long count(int fd, size_t ksz)
{
	char a[64], b[64];
	void *prev = NULL;
	long n = 0;

	(void)ksz;
	while (!bpf_map_get_next_key(fd, prev, b)) {
		memcpy(a, b, sizeof(a));
		prev = a;
		n++;
	}
	return n;
}

static void test_rejected(struct sl_maps *m)
{
	static const char *bad_np =
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		"metadata: {name: bad, namespace: t}\nspec:\n  podSelector: {}\n"
		"  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]\n";
	struct sl_apply_result r;
	struct sl_config before, after;
	long n0[4], n1[4];
	int ids[4] = { SL_MAP_INGRESS, SL_MAP_NP_PODS, SL_MAP_NP_PREFIXES, SL_MAP_NP_PORTS };
	size_t ksz[4] = { sizeof(struct sl_ingress_key), sizeof(struct sl_np_pod_key),
			  sizeof(struct sl_np_lpm_key), sizeof(__u32) };

	apply_text(gen(5, 2, -1, np_allow_b), &r, false);
	sl_read_config(m, &before);
	for (int i = 0; i < 4; i++)
		n0[i] = count(m->fd[ids[i]], ksz[i]);
	if (apply_text(gen(5, 2, -1, bad_np), &r, true) != -EINVAL) {
		result("publish-node/rejected-changes-nothing", "bad NetworkPolicy accepted");
		return;
	}
	sl_read_config(m, &after);
	for (int i = 0; i < 4; i++)
		n1[i] = count(m->fd[ids[i]], ksz[i]);
	if (memcmp(&before, &after, sizeof(before)) || memcmp(n0, n1, sizeof(n0)))
		result("publish-node/rejected-changes-nothing", "maps changed");
	else
		result("publish-node/rejected-changes-nothing", NULL);
}

/* ---- what a small change writes ----------------------------------------- */

/* Twenty Services x-I with an externalIP each (x-7 also a NodePort when
 * NODEPORT, x-6 a second externalIP when EXTRA_IP, x-9 none when NO_IP9),
 * ten without node ingress, EPS[I] endpoints each (4 unless set), two pods
 * and a NetworkPolicy admitting PEER_PORT. */
struct many {
	int eps[30];
	bool nodeport, extra_ip, no_ip9;
	int peer_port;
};

static char *gen_many(const struct many *s)
{
	size_t cap = 1 << 18, len = 0;
	char *b = malloc(cap);

	for (int i = 0; i < 30; i++) {
		bool np = i == 7 && s->nodeport;
		char ips[128] = "";

		if (i < 20 && !(i == 9 && s->no_ip9))
			snprintf(ips, sizeof(ips), "  externalIPs: [198.51.100.%d%s]\n", 100 + i,
				 i == 6 && s->extra_ip ? ", 198.51.100.250" : "");
		len += (size_t)snprintf(b + len, cap - len,
			"apiVersion: v1\nkind: Service\nmetadata: {name: x-%d, namespace: t}\n"
			"spec:\n  clusterIP: 10.96.6.%d\n%s%s"
			"  ports: [{port: 80, targetPort: 8080%s}]\n---\n"
			"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			"metadata: {name: x-%d, namespace: t, labels: {kubernetes.io/service-name: x-%d}}\n"
			"addressType: IPv4\nports: [{port: 8080}]\nendpoints:\n",
			i, i + 1, np ? "  type: NodePort\n" : "", ips, np ? ", nodePort: 30007" : "", i,
			i);
		for (int j = 1; j <= (s->eps[i] ? s->eps[i] : 4); j++)
			len += (size_t)snprintf(b + len, cap - len, "- addresses: [10.9.%d.%d]\n", i, j);
		len += (size_t)snprintf(b + len, cap - len, "---\n");
	}
	len += (size_t)snprintf(b + len, cap - len,
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: t, labels: {app: a}}\n"
		"status: {podIP: 10.10.0.1}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: t, labels: {app: b}}\n"
		"status: {podIP: 10.10.0.2}\n---\n"
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		"metadata: {name: a-in, namespace: t}\nspec:\n  podSelector: {matchLabels: {app: a}}\n"
		"  ingress:\n  - from: [{podSelector: {matchLabels: {app: b}}}]\n"
		"    ports: [{port: %d}]\n", s->peer_port ? s->peer_port : 8080);
	return b;
}

/* Both slots hold what the store says (the slots are synced). */
static const char *slots_verified(struct sl_maps *m, char *why, size_t len)
{
	for (__u32 slot = 0; slot < 2; slot++) {
		char *diff = NULL;
		int v = sl_slot_verify(m, slot, &diff);

		if (v != 1) {
			snprintf(why, len, "slot %u does not equal the store: %s", slot,
				 diff ? diff : strerror(-v));
			free(diff);
			return why;
		}
	}
	return NULL;
}

struct want_writes {
	size_t rings, ingress, words, np; /* SIZE_MAX: any */
	bool whole;
};

static const char *check_change(struct sl_maps *m, const struct many *s, const struct want_writes *w,
				char *why, size_t len)
{
	struct sl_apply_result r;
	const struct sl_node_report *n = &r.pub.node;

	if (apply_text(gen_many(s), &r, false))
		return "apply failed";
	if (!r.pub.incremental)
		return "the service write was not incremental";
	if (n->whole_ingress != w->whole || (w->rings != SIZE_MAX && n->n_rings != w->rings) ||
	    n->ingress_writes != w->ingress || n->port_words != w->words ||
	    (w->np != SIZE_MAX && n->np_writes != w->np)) {
		snprintf(why, len, "wrote %s ingress, %zu rings, %zu frontends, %zu port words, "
			 "%zu NetworkPolicy entries; want %s, %zu, %zu, %zu, %zu",
			 n->whole_ingress ? "whole" : "difference", n->n_rings, n->ingress_writes,
			 n->port_words, n->np_writes, w->whole ? "whole" : "difference", w->rings,
			 w->ingress, w->words, w->np);
		return why;
	}
	/* A publication of one changed service: the few rows, the store, the
	 * config records and the replay; none of it grows with the policy. */
	if (!w->whole && w->rings == 0 && r.pub.writes > 40) {
		snprintf(why, len, "%lu map writes for one changed endpoint", r.pub.writes);
		return why;
	}
	return slots_verified(m, why, len);
}

static void test_small_changes(struct sl_maps *m)
{
	struct many s = { 0 };
	struct sl_apply_result r;
	char why[1024];
	const char *bad;

	if (apply_text(gen_many(&s), &r, false)) {
		result("publish-node/small-change-writes", "cannot apply the policy");
		return;
	}
	s.eps[23] = 5; /* a service without node ingress */
	bad = check_change(m, &s, &(struct want_writes){ 0, 0, 0, 0, false }, why, sizeof(why));
	result("publish-node/small-change-writes", bad ? "%s" : NULL, bad);
	s.eps[5] = 3; /* a node-ingress service: its ring, in place */
	bad = check_change(m, &s, &(struct want_writes){ 1, 0, 0, 0, false }, why, sizeof(why));
	result("publish-node/ring-rebuilt-in-place", bad ? "%s" : NULL, bad);
	s.extra_ip = true; /* one frontend more, same service: no ring */
	bad = check_change(m, &s, &(struct want_writes){ 0, 1, 0, 0, false }, why, sizeof(why));
	result("publish-node/frontend-added", bad ? "%s" : NULL, bad);
	s.nodeport = true; /* a NodePort: one frontend, one bitmap word */
	bad = check_change(m, &s, &(struct want_writes){ SIZE_MAX, 1, 1, 0, false }, why,
			   sizeof(why));
	result("publish-node/port-word-written", bad ? "%s" : NULL, bad);
	s.peer_port = 9090; /* the NetworkPolicy's port set */
	bad = check_change(m, &s, &(struct want_writes){ 0, 0, 0, SIZE_MAX, false }, why,
			   sizeof(why));
	result("publish-node/netpol-difference", bad ? "%s" : NULL, bad);
	s.no_ip9 = true; /* a ring goes: the layout changes, written whole */
	bad = check_change(m, &s, &(struct want_writes){ SIZE_MAX, 0, 0, 0, true }, why,
			   sizeof(why));
	result("publish-node/ring-removed-whole", bad ? "%s" : NULL, bad);
}

int main(void)
{
	struct sl_load_opts o = { .no_attach = true };
	struct sl_maps m;
	int err;

	snprintf(root, sizeof(root), "/sys/fs/bpf/sluice-unit-node-%d", getpid());
	o.pin_root = root;
	/* tests/run.sh mounts bpffs before any test: its absence (or no root)
	 * is a broken setup, not a kernel that lacks a feature. */
	if (geteuid() != 0 || sl_check_bpffs(root)) {
		printf("FAIL publish-node/all: needs root and bpffs at /sys/fs/bpf (tests/run.sh mounts it)\n");
		return 1;
	}
	err = sl_load(&o);
	if (err || sl_maps_open(root, &m)) {
		result("publish-node/load-maps", "sl_load: %s", strerror(-err));
		sl_unload(root);
		return 1;
	}
	test_rings(&m);
	test_netpol(&m);
	test_rejected(&m);
	test_small_changes(&m);
	sl_maps_close(&m);
	sl_unload(root);
	return failures ? 1 : 0;
}
