// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bpf/tc_pod.bpf.c under BPF_PROG_TEST_RUN: flow records, exact totals,
 * drop reasons and NetworkPolicy verdicts, packet by packet.
 *
 * Three private copies of the object (open + load, no pins): the main one,
 * one whose sl_pflows LRU is cut to 64 records (eviction keeps totals
 * exact), and one loaded with count_flows = 0. Packets run with an
 * __sk_buff ctx whose ifindex is the loopback's, so records are keyed by
 * it; every case uses its own addresses, so cases do not see each other's
 * records, and totals are compared as deltas. TC never rewrites these
 * packets: every run also checks that the output frame is the input.
 */
#include <errno.h>
#include <sched.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sluice_abi.h"
#include "tc_pod.skel.h"
#include "pkt_build.h"

/* Packet rows name their leading fields only; the rest are zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define FROM 0 /* sl_tc_pod_from: leaving the pod */
#define TO 1 /* sl_tc_pod_to: entering the pod */
#define SLOT1 SL_NP_SLOT_BIT

struct world {
	struct tc_pod *skel;
	int prog[2];
	int pflows, totals, pods, prefixes, ports, config, node_addrs;
};

static struct world W, W_LRU, W_NOFLOW;
static unsigned int g_ifindex;
static __u32 g_mark; /* skb->mark of the next runs (the proxy's sockets set it) */
static int g_ncpu;
static int failed;
static char why[512];

static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return -1;
}

static void report(const char *name, int r)
{
	if (r) {
		printf("FAIL %s: %s\n", name, why);
		failed = 1;
	} else {
		printf("ok %s\n", name);
	}
	why[0] = 0;
}

/* ---- worlds ---- */

static int world_open(struct world *w, __u32 lru_max, __u32 count_flows)
{
	int err;

	w->skel = tc_pod__open();
	if (!w->skel)
		return -errno;
	w->skel->rodata->count_flows = count_flows;
	if (lru_max)
		bpf_map__set_max_entries(w->skel->maps.sl_pflows, lru_max);
	err = tc_pod__load(w->skel);
	if (err)
		return err;
	w->prog[FROM] = bpf_program__fd(w->skel->progs.sl_tc_pod_from);
	w->prog[TO] = bpf_program__fd(w->skel->progs.sl_tc_pod_to);
	w->pflows = bpf_map__fd(w->skel->maps.sl_pflows);
	w->totals = bpf_map__fd(w->skel->maps.sl_pod_totals);
	w->pods = bpf_map__fd(w->skel->maps.sl_np_pods);
	w->prefixes = bpf_map__fd(w->skel->maps.sl_np_prefixes);
	w->ports = bpf_map__fd(w->skel->maps.sl_np_ports);
	w->config = bpf_map__fd(w->skel->maps.sl_config);
	w->node_addrs = bpf_map__fd(w->skel->maps.sl_node_addrs);
	return 0;
}

static int set_slot(struct world *w, __u32 slot)
{
	struct sl_config c = { .magic = SL_ABI_MAGIC, .abi_version = SL_ABI_VERSION };
	__u32 zero = 0;

	c.active_slot = slot;
	return bpf_map_update_elem(w->config, &zero, &c, BPF_ANY);
}

static int addr_parse(const char *s, __be32 a[4], __u8 *family)
{
	memset(a, 0, 16);
	if (inet_pton(AF_INET, s, a) == 1) {
		*family = SL_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a) == 1) {
		*family = SL_AF_INET6;
		return 0;
	}
	fprintf(stderr, "bad address %s\n", s);
	exit(2);
}

/* Pod ip isolated with these sets in slot (set ids already carry the slot
 * bit where they must, as user/publish.c writes them). */
static void np_pod(struct world *w, const char *ip, __u32 slot, __u32 in_set, __u32 eg_set)
{
	struct sl_np_pod_key k;
	struct sl_np_pod_val v = { .ingress_set = in_set, .egress_set = eg_set };

	memset(&k, 0, sizeof(k));
	addr_parse(ip, k.addr, &k.family);
	k.slot = slot;
	if (bpf_map_update_elem(w->pods, &k, &v, BPF_ANY)) {
		perror("np_pods");
		exit(2);
	}
}

static void np_prefix(struct world *w, __u32 set, const char *ip, __u32 plen, __u32 portset)
{
	struct sl_np_lpm_key k;
	struct sl_np_lpm_val v = { .portset = portset };

	memset(&k, 0, sizeof(k));
	addr_parse(ip, k.addr, &k.family);
	k.prefixlen = 64 + plen;
	k.set = set;
	if (bpf_map_update_elem(w->prefixes, &k, &v, BPF_ANY)) {
		perror("np_prefixes");
		exit(2);
	}
}

/* ranges: n triples proto, lo, hi */
static void np_ports(struct world *w, __u32 id, int n, ...)
{
	struct sl_np_ports p;
	va_list ap;

	memset(&p, 0, sizeof(p));
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		p.r[i].proto = (__u8)va_arg(ap, int);
		p.r[i].lo = (__u16)va_arg(ap, int);
		p.r[i].hi = (__u16)va_arg(ap, int);
	}
	va_end(ap);
	p.n = (__u32)n;
	if (bpf_map_update_elem(w->ports, &id, &p, BPF_ANY)) {
		perror("np_ports");
		exit(2);
	}
}

static void node_addr(struct world *w, const char *ip)
{
	struct sl_node_addr k;
	__u32 ifi = 1;

	memset(&k, 0, sizeof(k));
	addr_parse(ip, k.addr, &k.family);
	if (bpf_map_update_elem(w->node_addrs, &k, &ifi, BPF_ANY)) {
		perror("node_addrs");
		exit(2);
	}
}

/* ---- packets ---- */

struct pk {
	const char *src, *dst;
	__u8 proto;
	__u16 sport, dport;
	__u8 flags;
	size_t payload;
};

static const __u8 zeros[4096];

static size_t build(const struct pk *k, __u8 *buf, size_t cap)
{
	struct pkt_spec s;

	pkt_spec_init(&s);
	if (pkt_set_addrs(&s, k->src, k->dst)) {
		fprintf(stderr, "bad addresses %s %s\n", k->src, k->dst);
		exit(2);
	}
	s.proto = k->proto;
	s.sport = k->sport;
	s.dport = k->dport;
	s.tcp_flags = k->flags;
	s.payload = zeros;
	s.payload_len = k->payload;
	return pkt_build(&s, buf, cap, NULL);
}

/* Run one frame through the program of direction dir; returns the TC
 * verdict, or -1 (with why set) if the run failed or the frame changed. */
static int run_raw(struct world *w, int dir, const void *frame, size_t len, __u32 gso_segs)
{
	static __u8 out[4096];
	struct __sk_buff ctx = { .ifindex = g_ifindex, .gso_segs = gso_segs, .mark = g_mark };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	int err = bpf_prog_test_run_opts(w->prog[dir], &o);

	if (err)
		return fail("test run: %s", strerror(-err));
	if (o.data_size_out != len || memcmp(out, frame, len))
		return fail("TC changed the frame (%u bytes out of %zu)", o.data_size_out, len);
	return (int)o.retval;
}

static int run(struct world *w, int dir, const struct pk *k)
{
	__u8 buf[2048];
	size_t len = build(k, buf, sizeof(buf));

	if (!len) {
		fprintf(stderr, "packet does not build\n");
		exit(2);
	}
	return run_raw(w, dir, buf, len, 0);
}

/* Expect verdict want for k; fills why on mismatch. */
static int expect(struct world *w, int dir, const struct pk *k, int want)
{
	int v = run(w, dir, k);

	if (v == want)
		return 0;
	if (v == -1)
		return -1;
	return fail("%s %s:%u -> %s:%u proto %u: verdict %d, want %d", dir == FROM ? "from" : "to",
		    k->src, k->sport, k->dst, k->dport, k->proto, v, want);
}

#define PASS TC_ACT_OK
#define SHOT TC_ACT_SHOT
#define EXPECT(w, dir, want, ...)                                              \
	do {                                                                   \
		struct pk k__ = { __VA_ARGS__ };                               \
		if (expect(w, dir, &k__, want))                                \
			return -1;                                             \
	} while (0)

/* ---- reading state ---- */

static void totals(struct world *w, struct sl_pod_totals *sum)
{
	struct sl_pod_totals v[g_ncpu];

	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(w->totals, &g_ifindex, v))
		return;
	for (int c = 0; c < g_ncpu; c++) {
		for (int d = 0; d < 2; d++) {
			sum->packets[d] += v[c].packets[d];
			sum->bytes[d] += v[c].bytes[d];
		}
		sum->flows += v[c].flows;
		for (int r = 0; r < SL_DROP__COUNT; r++)
			sum->drops[r] += v[c].drops[r];
	}
}

/* Canonical key, as docs/KERNEL.md defines it: the lower (address as
 * big-endian bytes, then port) first. *rev: the packet went daddr->saddr. */
static void flow_key(const struct pk *k, struct sl_pflow_key *key, int *rev)
{
	__be32 a[4], b[4];
	__u8 fam;
	int c;

	addr_parse(k->src, a, &fam);
	addr_parse(k->dst, b, &fam);
	c = memcmp(a, b, 16);
	*rev = c > 0 || (c == 0 && k->sport > k->dport);
	memset(key, 0, sizeof(*key));
	memcpy(key->t.saddr, *rev ? b : a, 16);
	memcpy(key->t.daddr, *rev ? a : b, 16);
	key->t.sport = htons(*rev ? k->dport : k->sport);
	key->t.dport = htons(*rev ? k->sport : k->dport);
	key->t.proto = k->proto;
	key->t.family = fam;
	key->ifindex = g_ifindex;
}

static int flow_get(struct world *w, const struct pk *k, struct sl_pflow_val *v, int *rev)
{
	struct sl_pflow_key key;

	flow_key(k, &key, rev);
	return bpf_map_lookup_elem(w->pflows, &key, v);
}

static int drops_delta(const struct sl_pod_totals *a, const struct sl_pod_totals *b, int reason,
		       __u64 want)
{
	for (int r = 0; r < SL_DROP__COUNT; r++) {
		__u64 d = b->drops[r] - a->drops[r];
		__u64 exp = r == reason ? want : 0;

		if (d != exp)
			return fail("drops[%d] grew by %llu, want %llu", r, (unsigned long long)d,
				    (unsigned long long)exp);
	}
	return 0;
}

/* L3 length of a built packet */
static __u64 l3len(const struct pk *k)
{
	__u8 buf[2048];

	return build(k, buf, sizeof(buf)) - PB_ETH_LEN;
}

/* ================= cases ================= */

/* No policy: both directions pass and land in one record, counted exactly. */
static int t_not_isolated(void)
{
	struct pk syn = { "10.10.0.1", "10.10.9.9", PB_P_TCP, 40000, 80, PB_TCP_SYN, 0 };
	struct pk sa = { "10.10.9.9", "10.10.0.1", PB_P_TCP, 80, 40000, PB_TCP_SYN | PB_TCP_ACK, 0 };
	struct pk data = { "10.10.0.1", "10.10.9.9", PB_P_TCP, 40000, 80, PB_TCP_ACK | PB_TCP_PSH, 100 };
	struct sl_pod_totals t0, t1;
	struct sl_pflow_val v;
	int rev;

	totals(&W, &t0);
	if (expect(&W, FROM, &syn, PASS) || expect(&W, TO, &sa, PASS) ||
	    expect(&W, FROM, &data, PASS))
		return -1;
	totals(&W, &t1);
	if (flow_get(&W, &syn, &v, &rev))
		return fail("no flow record");
	/* 10.10.0.1 < 10.10.9.9: the pod's side is saddr of the key */
	if (rev)
		return fail("key order");
	if (v.packets[0] != 2 || v.packets[1] != 1)
		return fail("packets %llu/%llu, want 2/1", v.packets[0], v.packets[1]);
	if (v.bytes[0] != l3len(&syn) + l3len(&data) || v.bytes[1] != l3len(&sa))
		return fail("bytes %llu/%llu", v.bytes[0], v.bytes[1]);
	if (v.payload[0] != 100 || v.payload[1] != 0)
		return fail("payload %llu/%llu, want 100/0", v.payload[0], v.payload[1]);
	if (v.tcp_flags[0] != (PB_TCP_SYN | PB_TCP_ACK | PB_TCP_PSH) ||
	    v.tcp_flags[1] != (PB_TCP_SYN | PB_TCP_ACK))
		return fail("tcp flags 0x%x/0x%x", v.tcp_flags[0], v.tcp_flags[1]);
	if (v.flags != SL_PF_ALLOW_EGRESS)
		return fail("flags 0x%x, want ALLOW_EGRESS only", v.flags);
	if (!v.first_ns || v.last_ns < v.first_ns)
		return fail("first/last ns %llu/%llu", v.first_ns, v.last_ns);
	if (t1.packets[FROM] - t0.packets[FROM] != 2 || t1.packets[TO] - t0.packets[TO] != 1)
		return fail("totals packets +%llu/+%llu", t1.packets[0] - t0.packets[0],
			    t1.packets[1] - t0.packets[1]);
	if (t1.bytes[FROM] - t0.bytes[FROM] != v.bytes[0] || t1.bytes[TO] - t0.bytes[TO] != v.bytes[1])
		return fail("totals bytes differ from the record");
	if (t1.flows - t0.flows != 1)
		return fail("flows +%llu, want 1", t1.flows - t0.flows);
	return drops_delta(&t0, &t1, -1, 0);
}

/* The first packet going the key's reverse way sets SL_PF_INIT_REV. */
static int t_init_rev(void)
{
	struct pk in = { "10.11.9.9", "10.11.0.1", PB_P_UDP, 5000, 53, 0, 10 };
	struct sl_pflow_val v;
	int rev;

	if (expect(&W, TO, &in, PASS))
		return -1;
	if (flow_get(&W, &in, &v, &rev))
		return fail("no record");
	if (!rev || v.flags != (SL_PF_INIT_REV | SL_PF_ALLOW_INGRESS) || v.packets[1] != 1 ||
	    v.payload[1] != 10)
		return fail("rev %d flags 0x%x packets[1] %llu payload[1] %llu", rev, v.flags,
			    v.packets[1], v.payload[1]);
	return 0;
}

/* Pod 10.20.0.1 isolated for ingress: set 20 admits 10.21.0.0/16 on
 * TCP 80 and UDP 53, except 10.21.5.0/24. */
static void setup_ingress(void)
{
	np_pod(&W, "10.20.0.1", 0, 20, 0);
	np_prefix(&W, 20, "10.21.0.0", 16, 200);
	np_prefix(&W, 20, "10.21.5.0", 24, 0);
	np_ports(&W, 200, 2, PB_P_TCP, 80, 80, PB_P_UDP, 53, 53);
}

static int t_ingress_allowed(void)
{
	struct pk syn = { "10.21.2.3", "10.20.0.1", PB_P_TCP, 5555, 80, PB_TCP_SYN, 0 };
	struct sl_pflow_val v;
	int rev;

	EXPECT(&W, TO, PASS, "10.21.2.3", "10.20.0.1", PB_P_TCP, 5555, 80, PB_TCP_SYN);
	EXPECT(&W, TO, PASS, "10.21.2.3", "10.20.0.1", PB_P_UDP, 5555, 53, 0, 20);
	if (flow_get(&W, &syn, &v, &rev) || !(v.flags & SL_PF_ALLOW_INGRESS))
		return fail("record missing or not marked ALLOW_INGRESS");
	/* the pod's reply leaves through a direction with no isolation */
	EXPECT(&W, FROM, PASS, "10.20.0.1", "10.21.2.3", PB_P_TCP, 80, 5555, PB_TCP_SYN | PB_TCP_ACK);
	return 0;
}

static int t_ingress_other_port(void)
{
	struct pk k = { "10.21.2.3", "10.20.0.1", PB_P_TCP, 5556, 81, PB_TCP_SYN, 0 };
	struct sl_pod_totals t0, t1;
	struct sl_pflow_val v;
	int rev;

	totals(&W, &t0);
	if (expect(&W, TO, &k, SHOT))
		return -1;
	totals(&W, &t1);
	if (!flow_get(&W, &k, &v, &rev))
		return fail("a denied packet created a flow record");
	if (t1.packets[TO] != t0.packets[TO] || t1.flows != t0.flows)
		return fail("a denied packet was counted as traffic");
	return drops_delta(&t0, &t1, SL_DROP_POLICY_INGRESS, 1);
}

static int t_ingress_other_peer(void)
{
	EXPECT(&W, TO, SHOT, "10.22.0.9", "10.20.0.1", PB_P_TCP, 5555, 80, PB_TCP_SYN);
	EXPECT(&W, TO, SHOT, "10.22.0.9", "10.20.0.1", PB_P_UDP, 5555, 53);
	return 0;
}

static int t_ipblock_except(void)
{
	EXPECT(&W, TO, SHOT, "10.21.5.7", "10.20.0.1", PB_P_TCP, 5555, 80, PB_TCP_SYN);
	EXPECT(&W, TO, PASS, "10.21.6.7", "10.20.0.1", PB_P_TCP, 5555, 80, PB_TCP_SYN);
	EXPECT(&W, TO, PASS, "10.21.4.255", "10.20.0.1", PB_P_TCP, 5555, 80, PB_TCP_SYN);
	return 0;
}

static int t_protocol_mismatch(void)
{
	EXPECT(&W, TO, SHOT, "10.21.2.4", "10.20.0.1", PB_P_UDP, 5555, 80);
	EXPECT(&W, TO, SHOT, "10.21.2.4", "10.20.0.1", PB_P_TCP, 5555, 53, PB_TCP_SYN);
	EXPECT(&W, TO, SHOT, "10.21.2.4", "10.20.0.1", PB_P_SCTP, 5555, 80);
	return 0;
}

/* endPort: pod 10.30.0.1, set 30 admits 10.31.0.0/16 on TCP 1000-2000 and
 * SCTP 3868. */
static int t_endport_edges(void)
{
	np_pod(&W, "10.30.0.1", 0, 30, 0);
	np_prefix(&W, 30, "10.31.0.0", 16, 300);
	np_ports(&W, 300, 2, PB_P_TCP, 1000, 2000, PB_P_SCTP, 3868, 3868);
	EXPECT(&W, TO, SHOT, "10.31.0.2", "10.30.0.1", PB_P_TCP, 4000, 999, PB_TCP_SYN);
	EXPECT(&W, TO, PASS, "10.31.0.2", "10.30.0.1", PB_P_TCP, 4001, 1000, PB_TCP_SYN);
	EXPECT(&W, TO, PASS, "10.31.0.2", "10.30.0.1", PB_P_TCP, 4002, 2000, PB_TCP_SYN);
	EXPECT(&W, TO, SHOT, "10.31.0.2", "10.30.0.1", PB_P_TCP, 4003, 2001, PB_TCP_SYN);
	return 0;
}

static int t_sctp(void)
{
	EXPECT(&W, TO, PASS, "10.31.0.3", "10.30.0.1", PB_P_SCTP, 4000, 3868);
	EXPECT(&W, TO, SHOT, "10.31.0.3", "10.30.0.1", PB_P_SCTP, 4000, 3869);
	EXPECT(&W, TO, SHOT, "10.31.0.3", "10.30.0.1", PB_P_TCP, 4000, 3868, PB_TCP_SYN);
	/* the association's replies pass the other way */
	EXPECT(&W, FROM, PASS, "10.30.0.1", "10.31.0.3", PB_P_SCTP, 3868, 4000);
	return 0;
}

/* A rule without ports (proto 0) admits every protocol and port. */
static int t_proto0_all(void)
{
	struct pkt_spec s;
	__u8 buf[256];
	size_t n;

	np_pod(&W, "10.40.0.1", 0, 40, 0);
	np_prefix(&W, 40, "10.41.0.0", 16, 400);
	np_ports(&W, 400, 1, 0, 0, 0);
	EXPECT(&W, TO, PASS, "10.41.0.1", "10.40.0.1", PB_P_TCP, 1, 1, PB_TCP_SYN);
	EXPECT(&W, TO, PASS, "10.41.0.1", "10.40.0.1", PB_P_TCP, 1, 65535, PB_TCP_SYN);
	EXPECT(&W, TO, PASS, "10.41.0.1", "10.40.0.1", PB_P_UDP, 7, 9999);
	EXPECT(&W, TO, PASS, "10.41.0.1", "10.40.0.1", 47 /* GRE */, 0, 0, 0, 24);
	pkt_spec_init(&s);
	pkt_set_addrs(&s, "10.41.0.1", "10.40.0.1");
	s.proto = PB_P_ICMP;
	s.icmp_type = 8;
	s.icmp_id = 77;
	n = pkt_build(&s, buf, sizeof(buf), NULL);
	if (run_raw(&W, TO, buf, n, 0) != PASS)
		return fail("ICMP echo from an allowed peer: %s", why[0] ? why : "shot");
	/* a peer outside the prefix still gets nothing */
	EXPECT(&W, TO, SHOT, "10.42.0.1", "10.40.0.1", PB_P_UDP, 7, 9999);
	return 0;
}

/* Pod 10.50.0.1 isolated both ways. Ingress admits nothing from
 * 10.51.0.0/16; egress admits TCP 443 to 10.51.0.0/16 only. */
static int t_replies(void)
{
	np_pod(&W, "10.50.0.1", 0, 50, 51);
	np_prefix(&W, 50, "10.99.0.0", 16, 500); /* somebody else */
	np_ports(&W, 500, 1, 0, 0, 0);
	np_prefix(&W, 51, "10.51.0.0", 16, 510);
	np_ports(&W, 510, 1, PB_P_TCP, 443, 443);
	/* allowed egress connection: its replies pass ingress isolation */
	EXPECT(&W, FROM, PASS, "10.50.0.1", "10.51.0.7", PB_P_TCP, 33000, 443, PB_TCP_SYN);
	EXPECT(&W, TO, PASS, "10.51.0.7", "10.50.0.1", PB_P_TCP, 443, 33000, PB_TCP_SYN | PB_TCP_ACK);
	EXPECT(&W, FROM, PASS, "10.50.0.1", "10.51.0.7", PB_P_TCP, 33000, 443, PB_TCP_ACK, 50);
	EXPECT(&W, TO, PASS, "10.51.0.7", "10.50.0.1", PB_P_TCP, 443, 33000, PB_TCP_ACK, 500);
	/* denied egress connection: no record, so its "reply" is shot too */
	EXPECT(&W, FROM, SHOT, "10.50.0.1", "10.51.0.7", PB_P_TCP, 33001, 80, PB_TCP_SYN);
	EXPECT(&W, TO, SHOT, "10.51.0.7", "10.50.0.1", PB_P_TCP, 80, 33001, PB_TCP_SYN | PB_TCP_ACK);
	/* the peer cannot open its own connection to the pod */
	EXPECT(&W, TO, SHOT, "10.51.0.7", "10.50.0.1", PB_P_TCP, 443, 33002, PB_TCP_SYN);
	return 0;
}

/* Egress isolation, the mirror of the ingress cases: pod 10.60.0.1, set
 * 60 admits 10.61.0.0/16 except 10.61.7.0/24 on TCP 5000-5010, UDP 53. */
static int t_egress(void)
{
	struct sl_pod_totals t0, t1;

	np_pod(&W, "10.60.0.1", 0, 0, 60);
	np_prefix(&W, 60, "10.61.0.0", 16, 600);
	np_prefix(&W, 60, "10.61.7.0", 24, 0);
	np_ports(&W, 600, 2, PB_P_TCP, 5000, 5010, PB_P_UDP, 53, 53);
	totals(&W, &t0);
	EXPECT(&W, FROM, PASS, "10.60.0.1", "10.61.1.1", PB_P_TCP, 40000, 5000, PB_TCP_SYN);
	EXPECT(&W, FROM, PASS, "10.60.0.1", "10.61.1.1", PB_P_TCP, 40001, 5010, PB_TCP_SYN);
	EXPECT(&W, FROM, SHOT, "10.60.0.1", "10.61.1.1", PB_P_TCP, 40002, 4999, PB_TCP_SYN);
	EXPECT(&W, FROM, SHOT, "10.60.0.1", "10.61.1.1", PB_P_TCP, 40003, 5011, PB_TCP_SYN);
	EXPECT(&W, FROM, PASS, "10.60.0.1", "10.61.1.1", PB_P_UDP, 40004, 53);
	EXPECT(&W, FROM, SHOT, "10.60.0.1", "10.61.1.1", PB_P_UDP, 40005, 5000);
	EXPECT(&W, FROM, SHOT, "10.60.0.1", "10.61.7.1", PB_P_TCP, 40006, 5000, PB_TCP_SYN);
	EXPECT(&W, FROM, SHOT, "10.60.0.1", "10.62.0.1", PB_P_UDP, 40007, 53);
	/* ingress is not isolated: anyone may connect in, and the pod's
	 * replies to it pass egress isolation */
	EXPECT(&W, TO, PASS, "10.62.0.1", "10.60.0.1", PB_P_TCP, 1234, 22, PB_TCP_SYN);
	EXPECT(&W, FROM, PASS, "10.60.0.1", "10.62.0.1", PB_P_TCP, 22, 1234, PB_TCP_SYN | PB_TCP_ACK);
	totals(&W, &t1);
	return drops_delta(&t0, &t1, SL_DROP_POLICY_EGRESS, 5);
}

/* IPv6: pod fd00:70::1 isolated both ways; ingress admits fd00:71::/64 on
 * TCP 8080, except fd00:71::bad/128; egress admits UDP 53 to fd00:72::/64. */
static int t_ipv6(void)
{
	np_pod(&W, "fd00:70::1", 0, 70, 71);
	np_prefix(&W, 70, "fd00:71::", 64, 700);
	np_prefix(&W, 70, "fd00:71::bad", 128, 0);
	np_ports(&W, 700, 1, PB_P_TCP, 8080, 8080);
	np_prefix(&W, 71, "fd00:72::", 64, 710);
	np_ports(&W, 710, 1, PB_P_UDP, 53, 53);
	EXPECT(&W, TO, PASS, "fd00:71::5", "fd00:70::1", PB_P_TCP, 5000, 8080, PB_TCP_SYN);
	EXPECT(&W, FROM, PASS, "fd00:70::1", "fd00:71::5", PB_P_TCP, 8080, 5000, PB_TCP_SYN | PB_TCP_ACK);
	EXPECT(&W, TO, SHOT, "fd00:71::5", "fd00:70::1", PB_P_TCP, 5001, 8081, PB_TCP_SYN);
	EXPECT(&W, TO, SHOT, "fd00:71::bad", "fd00:70::1", PB_P_TCP, 5002, 8080, PB_TCP_SYN);
	EXPECT(&W, TO, SHOT, "fd00:73::5", "fd00:70::1", PB_P_TCP, 5003, 8080, PB_TCP_SYN);
	EXPECT(&W, FROM, PASS, "fd00:70::1", "fd00:72::53", PB_P_UDP, 6000, 53, 0, 30);
	EXPECT(&W, TO, PASS, "fd00:72::53", "fd00:70::1", PB_P_UDP, 53, 6000, 0, 90);
	EXPECT(&W, FROM, SHOT, "fd00:70::1", "fd00:72::53", PB_P_UDP, 6001, 54);
	EXPECT(&W, FROM, SHOT, "fd00:70::1", "fd00:73::53", PB_P_UDP, 6002, 53);
	return 0;
}

/* IPv6 extension headers and IPv4 options before the ports. */
static int t_ext_and_options(void)
{
	static const __u8 rr[8] = { 7, 7, 4, 0, 0, 0, 0, 0 }; /* record route */
	struct pkt_spec s;
	__u8 buf[512];
	size_t n;

	pkt_spec_init(&s);
	pkt_set_addrs(&s, "fd00:71::6", "fd00:70::1");
	s.proto = PB_P_TCP;
	s.sport = 5100;
	s.dport = 8080;
	s.tcp_flags = PB_TCP_SYN;
	s.ext[0] = PB_NH_HOPOPTS;
	s.ext[1] = PB_NH_DSTOPTS;
	s.ext_len[1] = 16;
	s.n_ext = 2;
	n = pkt_build(&s, buf, sizeof(buf), NULL);
	if (run_raw(&W, TO, buf, n, 0) != PASS)
		return fail("v6 with HOPOPTS+DSTOPTS to an allowed port: %s", why[0] ? why : "shot");
	s.dport = 8081;
	s.sport = 5101;
	n = pkt_build(&s, buf, sizeof(buf), NULL);
	if (run_raw(&W, TO, buf, n, 0) != SHOT)
		return fail("v6 with ext headers to a denied port passed");
	pkt_spec_init(&s);
	pkt_set_addrs(&s, "10.21.2.9", "10.20.0.1");
	s.proto = PB_P_TCP;
	s.sport = 5200;
	s.dport = 80;
	s.tcp_flags = PB_TCP_SYN;
	s.ip_opts = rr;
	s.ip_opts_len = sizeof(rr);
	n = pkt_build(&s, buf, sizeof(buf), NULL);
	if (run_raw(&W, TO, buf, n, 0) != PASS)
		return fail("v4 with options to an allowed port: %s", why[0] ? why : "shot");
	s.dport = 81;
	n = pkt_build(&s, buf, sizeof(buf), NULL);
	if (run_raw(&W, TO, buf, n, 0) != SHOT)
		return fail("v4 with options to a denied port passed");
	return 0;
}

static size_t frag_later(__u8 *buf, size_t cap, const char *src, const char *dst, __u8 proto)
{
	struct pkt_spec s;

	pkt_spec_init(&s);
	pkt_set_addrs(&s, src, dst);
	s.proto = proto;
	s.frag_off = 185; /* 1480 bytes in */
	s.ip_id = 4242;
	s.frag_id = 4242;
	s.payload = zeros;
	s.payload_len = 200;
	return pkt_build(&s, buf, cap, NULL);
}

/* Later fragments carry no ports: only a rule without ports admits them. */
static int t_fragments(void)
{
	struct sl_pod_totals t0, t1;
	__u8 buf[512];
	size_t n;

	totals(&W, &t0);
	n = frag_later(buf, sizeof(buf), "10.41.0.3", "10.40.0.1", PB_P_UDP); /* proto-0 rule */
	if (run_raw(&W, TO, buf, n, 0) != PASS)
		return fail("later fragment with a proto-0 rule: %s", why[0] ? why : "shot");
	n = frag_later(buf, sizeof(buf), "10.21.2.3", "10.20.0.1", PB_P_UDP); /* ports rule */
	if (run_raw(&W, TO, buf, n, 0) != SHOT)
		return fail("later fragment with a ports-only rule passed");
	totals(&W, &t1);
	if (drops_delta(&t0, &t1, SL_DROP_FRAGMENT, 1))
		return -1;
	n = frag_later(buf, sizeof(buf), "10.22.0.3", "10.20.0.1", PB_P_UDP); /* no rule */
	if (run_raw(&W, TO, buf, n, 0) != SHOT)
		return fail("later fragment from a denied peer passed");
	n = frag_later(buf, sizeof(buf), "fd00:71::7", "fd00:70::1", PB_P_TCP); /* v6, ports rule */
	if (run_raw(&W, TO, buf, n, 0) != SHOT)
		return fail("v6 later fragment with a ports-only rule passed");
	n = frag_later(buf, sizeof(buf), "10.12.0.3", "10.12.0.1", PB_P_UDP); /* not isolated */
	if (run_raw(&W, TO, buf, n, 0) != PASS)
		return fail("later fragment to a pod without policy: %s", why[0] ? why : "shot");
	/* a first fragment has its ports and is judged by them */
	{
		struct pkt_spec s;

		pkt_spec_init(&s);
		pkt_set_addrs(&s, "10.21.2.5", "10.20.0.1");
		s.proto = PB_P_UDP;
		s.sport = 999;
		s.dport = 53;
		s.more_frags = true;
		s.payload = zeros;
		s.payload_len = 64;
		n = pkt_build(&s, buf, sizeof(buf), NULL);
		if (run_raw(&W, TO, buf, n, 0) != PASS)
			return fail("first fragment to an allowed port: %s", why[0] ? why : "shot");
	}
	return 0;
}

/* Truncated and inconsistent headers: never a crash; dropped for an
 * isolated pod or when the addresses are unreadable, passed otherwise. */
static int t_malformed(void)
{
	struct pk iso = { "10.21.2.3", "10.20.0.1", PB_P_TCP, 7000, 80, PB_TCP_SYN, 0 };
	struct pk open = { "10.13.2.3", "10.13.0.1", PB_P_TCP, 7000, 80, PB_TCP_SYN, 0 };
	struct sl_pod_totals t0, t1;
	__u8 buf[256], arp[60] = { 0 };
	size_t n;
	int v;

	/* every cut of a SYN to the isolated pod is dropped as malformed;
	 * plain, and behind a VLAN tag (test runs refuse untagged IPv4 frames
	 * whose IP header is cut, a tagged frame still reaches the program) */
	for (int tagged = 0; tagged < 2; tagged++) {
		struct pkt_spec s;

		pkt_spec_init(&s);
		pkt_set_addrs(&s, iso.src, iso.dst);
		s.proto = iso.proto;
		s.sport = iso.sport;
		s.dport = iso.dport;
		s.tcp_flags = iso.flags;
		s.vlan = tagged;
		s.vlan_tci = 7;
		n = pkt_build(&s, buf, sizeof(buf), NULL);
		for (size_t cut = PB_ETH_LEN + 1; cut < n; cut++) {
			totals(&W, &t0);
			v = run_raw(&W, TO, buf, cut, 0);
			totals(&W, &t1);
			if (!tagged && cut < PB_ETH_LEN + 20 && v == -1)
				continue; /* refused by the kernel's test run */
			if (v != SHOT) {
				char was[sizeof(why)];

				snprintf(was, sizeof(was), "%s", why);
				return fail("isolated, %s cut at %zu: verdict %d %s",
					    tagged ? "tagged" : "untagged", cut, v, was);
			}
			if (drops_delta(&t0, &t1, SL_DROP_MALFORMED, 1))
				return fail("isolated, cut at %zu: not counted as malformed", cut);
		}
	}
	/* a pod without policy: cut inside TCP passes (counted), cut inside
	 * the IP header is dropped (addresses unreadable) */
	n = build(&open, buf, sizeof(buf));
	totals(&W, &t0);
	if (run_raw(&W, TO, buf, n - 4, 0) != PASS)
		return fail("open pod, TCP cut short: %s", why[0] ? why : "shot");
	totals(&W, &t1);
	if (t1.packets[TO] - t0.packets[TO] != 1 || drops_delta(&t0, &t1, -1, 0))
		return fail("open pod, TCP cut short: not counted as passed traffic");
	{
		struct pkt_spec s;

		pkt_spec_init(&s);
		pkt_set_addrs(&s, open.src, open.dst);
		s.proto = PB_P_TCP;
		s.vlan = true;
		n = pkt_build(&s, buf, sizeof(buf), NULL);
		if (run_raw(&W, TO, buf, PB_ETH_LEN + 4 + 10, 0) != SHOT)
			return fail("IP header cut at 10 bytes passed");
	}
	/* IPv4 header claiming IHL 4 */
	n = build(&open, buf, sizeof(buf));
	buf[PB_ETH_LEN] = 0x44;
	if (run_raw(&W, TO, buf, n, 0) != SHOT)
		return fail("IHL 4 passed");
	/* tot_len beyond the frame */
	n = build(&iso, buf, sizeof(buf));
	buf[PB_ETH_LEN + 2] = 0x05;
	if (run_raw(&W, TO, buf, n, 0) != SHOT)
		return fail("isolated pod, tot_len beyond the frame passed");
	/* ARP: passed, not counted */
	memset(arp, 0xff, 6);
	arp[12] = 0x08;
	arp[13] = 0x06;
	totals(&W, &t0);
	if (run_raw(&W, TO, arp, sizeof(arp), 0) != PASS)
		return fail("ARP: %s", why[0] ? why : "shot");
	totals(&W, &t1);
	if (memcmp(&t0, &t1, sizeof(t0)))
		return fail("ARP changed the totals");
	return 0;
}

/* Each drop lands in its own reason. */
static int t_drop_reasons(void)
{
	struct sl_pod_totals t0, t1;
	__u8 buf[512];
	size_t n;

	totals(&W, &t0);
	EXPECT(&W, TO, SHOT, "10.22.0.50", "10.20.0.1", PB_P_TCP, 1, 80, PB_TCP_SYN);
	EXPECT(&W, TO, SHOT, "10.22.0.50", "10.20.0.1", PB_P_TCP, 2, 80, PB_TCP_SYN);
	EXPECT(&W, FROM, SHOT, "10.60.0.1", "10.62.0.50", PB_P_TCP, 3, 80, PB_TCP_SYN);
	n = frag_later(buf, sizeof(buf), "10.21.2.50", "10.20.0.1", PB_P_TCP);
	if (run_raw(&W, TO, buf, n, 0) != SHOT)
		return fail("fragment passed");
	n = build(&(struct pk){ "10.21.2.50", "10.20.0.1", PB_P_TCP, 4, 80, PB_TCP_SYN, 0 }, buf,
		  sizeof(buf));
	if (run_raw(&W, TO, buf, n - 1, 0) != SHOT)
		return fail("truncated passed");
	totals(&W, &t1);
	if (t1.drops[SL_DROP_POLICY_INGRESS] - t0.drops[SL_DROP_POLICY_INGRESS] != 2 ||
	    t1.drops[SL_DROP_POLICY_EGRESS] - t0.drops[SL_DROP_POLICY_EGRESS] != 1 ||
	    t1.drops[SL_DROP_FRAGMENT] - t0.drops[SL_DROP_FRAGMENT] != 1 ||
	    t1.drops[SL_DROP_MALFORMED] - t0.drops[SL_DROP_MALFORMED] != 1)
		return fail("drops by reason +%llu/+%llu/+%llu/+%llu, want 2/1/1/1",
			    t1.drops[0] - t0.drops[0], t1.drops[1] - t0.drops[1],
			    t1.drops[2] - t0.drops[2], t1.drops[3] - t0.drops[3]);
	for (int r = SL_DROP_NO_BACKEND; r < SL_DROP__COUNT; r++)
		if (t1.drops[r] != t0.drops[r])
			return fail("drops[%d] moved", r);
	return 0;
}

/* ICMP errors about an admitted connection pass isolation (PMTU); others
 * are judged as ICMP from their sender. */
static int icmp_err(__u8 *buf, size_t cap, int fam, const char *router, const struct pk *orig,
		    __u8 type, __u8 code, __u32 rest)
{
	struct pkt_spec in, s;
	__u8 inner[256];
	size_t n;

	pkt_spec_init(&in);
	pkt_set_addrs(&in, orig->src, orig->dst);
	in.proto = orig->proto;
	in.sport = orig->sport;
	in.dport = orig->dport;
	in.tcp_flags = orig->flags;
	in.payload = zeros;
	in.payload_len = 40;
	n = pkt_build_l3(&in, inner, sizeof(inner), NULL);
	pkt_spec_init(&s);
	pkt_set_addrs(&s, router, orig->src);
	s.proto = fam == 4 ? PB_P_ICMP : PB_P_ICMPV6;
	s.icmp_type = type;
	s.icmp_code = code;
	s.icmp_rest = rest;
	s.inner = inner;
	s.inner_len = n;
	return pkt_build(&s, buf, cap, NULL);
}

static int t_icmp_errors(void)
{
	struct pk out4 = { "10.50.0.1", "10.51.0.7", PB_P_TCP, 33000, 443, PB_TCP_ACK, 0 };
	struct pk bad4 = { "10.50.0.1", "10.51.0.7", PB_P_TCP, 33999, 443, PB_TCP_ACK, 0 };
	struct pk out6 = { "fd00:70::1", "fd00:72::53", PB_P_UDP, 6000, 53, 0, 0 };
	struct pk bad6 = { "fd00:70::1", "fd00:72::53", PB_P_UDP, 6999, 53, 0, 0 };
	__u8 buf[512];
	size_t n;

	/* frag needed from a router outside every prefix, about the allowed
	 * 10.50.0.1 -> 10.51.0.7:443 connection of t_replies */
	n = icmp_err(buf, sizeof(buf), 4, "10.98.0.1", &out4, 3, 4, 1400);
	if (run_raw(&W, TO, buf, n, 0) != PASS)
		return fail("v4 frag-needed about an allowed flow: %s", why[0] ? why : "shot");
	n = icmp_err(buf, sizeof(buf), 4, "10.98.0.1", &bad4, 3, 4, 1400);
	if (run_raw(&W, TO, buf, n, 0) != SHOT)
		return fail("v4 frag-needed about an unknown flow passed");
	n = icmp_err(buf, sizeof(buf), 6, "fd00:98::1", &out6, 2, 0, 1280);
	if (run_raw(&W, TO, buf, n, 0) != PASS)
		return fail("v6 packet-too-big about an allowed flow: %s", why[0] ? why : "shot");
	n = icmp_err(buf, sizeof(buf), 6, "fd00:98::1", &bad6, 1, 4, 0);
	if (run_raw(&W, TO, buf, n, 0) != SHOT)
		return fail("v6 unreachable about an unknown flow passed");
	/* the passed error opened nothing: the same router's echo is shot */
	{
		struct pkt_spec s;

		pkt_spec_init(&s);
		pkt_set_addrs(&s, "10.98.0.1", "10.50.0.1");
		s.proto = PB_P_ICMP;
		s.icmp_type = 8;
		n = pkt_build(&s, buf, sizeof(buf), NULL);
		if (run_raw(&W, TO, buf, n, 0) != SHOT)
			return fail("echo from the error's sender passed");
	}
	return 0;
}

/* Echo request out, reply back: one record, reply passes isolation. */
static int t_icmp_echo(void)
{
	struct pkt_spec s;
	__u8 buf[256];
	size_t n;

	np_pod(&W, "10.55.0.1", 0, 55, 0); /* ingress: nothing */
	pkt_spec_init(&s);
	pkt_set_addrs(&s, "10.55.0.1", "10.56.0.1");
	s.proto = PB_P_ICMP;
	s.icmp_type = 8;
	s.icmp_id = 321;
	n = pkt_build(&s, buf, sizeof(buf), NULL);
	if (run_raw(&W, FROM, buf, n, 0) != PASS)
		return fail("echo request out: %s", why[0] ? why : "shot");
	pkt_set_addrs(&s, "10.56.0.1", "10.55.0.1");
	s.icmp_type = 0;
	n = pkt_build(&s, buf, sizeof(buf), NULL);
	if (run_raw(&W, TO, buf, n, 0) != PASS)
		return fail("echo reply in: %s", why[0] ? why : "shot");
	s.icmp_id = 322;
	n = pkt_build(&s, buf, sizeof(buf), NULL);
	if (run_raw(&W, TO, buf, n, 0) != SHOT)
		return fail("echo reply to a request never sent passed");
	s.icmp_id = 321;
	s.icmp_type = 8;
	n = pkt_build(&s, buf, sizeof(buf), NULL);
	if (run_raw(&W, TO, buf, n, 0) != SHOT)
		return fail("echo request in passed");
	/* ICMP without identifier out (a timestamp request) shares its tuple
	 * with echo id 0; that must not open the pod to the peer's echo */
	pkt_set_addrs(&s, "10.55.0.1", "10.57.0.1");
	s.icmp_type = 13;
	s.icmp_id = 0;
	n = pkt_build(&s, buf, sizeof(buf), NULL);
	if (run_raw(&W, FROM, buf, n, 0) != PASS)
		return fail("timestamp request out: %s", why[0] ? why : "shot");
	pkt_set_addrs(&s, "10.57.0.1", "10.55.0.1");
	s.icmp_type = 8;
	n = pkt_build(&s, buf, sizeof(buf), NULL);
	if (run_raw(&W, TO, buf, n, 0) != SHOT)
		return fail("echo id 0 in after a timestamp out passed");
	return 0;
}

/* What Kubernetes never blocks: the pod itself, the node, IPv6 ND. */
static int t_exempt(void)
{
	struct pkt_spec s;
	__u8 buf[256];
	size_t n;

	node_addr(&W, "10.0.0.254");
	EXPECT(&W, TO, PASS, "10.0.0.254", "10.20.0.1", PB_P_TCP, 40000, 8081, PB_TCP_SYN);
	EXPECT(&W, TO, PASS, "10.20.0.1", "10.20.0.1", PB_P_TCP, 40000, 9999, PB_TCP_SYN);
	pkt_spec_init(&s);
	pkt_set_addrs(&s, "fe80::1", "fd00:70::1");
	s.proto = PB_P_ICMPV6;
	s.icmp_type = 135; /* neighbour solicitation */
	s.payload = zeros;
	s.payload_len = 16;
	n = pkt_build(&s, buf, sizeof(buf), NULL);
	if (run_raw(&W, TO, buf, n, 0) != PASS)
		return fail("neighbour solicitation: %s", why[0] ? why : "shot");
	s.icmp_type = 128; /* echo request from the same address: judged */
	n = pkt_build(&s, buf, sizeof(buf), NULL);
	if (run_raw(&W, TO, buf, n, 0) != SHOT)
		return fail("v6 echo request from a denied peer passed");
	return 0;
}

/* A pod that sends with another pod's address is dropped (spoofed): the
 * route back to the source leaves by another interface. Two veths in this
 * test's own network namespace stand for two pods' host ends:
 * 10.90.1.0/24 behind d1, 10.90.2.0/24 behind d2, forwarding on. */
static int t_spoofed(void)
{
	unsigned int saved = g_ifindex, d1;
	__u64 before, after;
	int r = 0;

	if (system("ip link add sl-d1 type veth peer name sl-d1p && "
		   "ip link add sl-d2 type veth peer name sl-d2p && "
		   "ip link set sl-d1p up && ip link set sl-d2p up && "
		   "ip link set sl-d1 up && ip link set sl-d2 up && "
		   "ip route add 10.90.1.0/24 dev sl-d1 && ip route add 10.90.2.0/24 dev sl-d2 && "
		   "sysctl -qw net.ipv4.conf.all.forwarding=1"))
		return fail("cannot set up the veths");
	d1 = if_nametoindex("sl-d1");
	if (!d1)
		return fail("no sl-d1");
	g_ifindex = d1;
	struct sl_pod_totals t0, t1;

	totals(&W, &t0);
	if (expect(&W, FROM, &(struct pk){ "10.90.1.5", "10.99.0.1", PB_P_TCP, 1000, 80, PB_TCP_SYN },
		   PASS) ||
	    expect(&W, FROM, &(struct pk){ "10.90.2.5", "10.99.0.1", PB_P_TCP, 1001, 80, PB_TCP_SYN },
		   SHOT) ||
	    expect(&W, FROM, &(struct pk){ "10.90.2.5", "10.99.0.1", PB_P_UDP, 1002, 53, 0, 10 },
		   SHOT))
		r = -1;
	totals(&W, &t1);
	g_ifindex = saved;
	after = t1.drops[SL_DROP_SPOOFED];
	before = t0.drops[SL_DROP_SPOOFED];
	if (!r && after - before != 2)
		return fail("spoofed drops counted %llu, want 2", (unsigned long long)(after - before));
	return r;
}

/* Slot 1 holds a different policy; flipping active_slot switches every
 * new connection's verdict at once. */
static int t_slot_flip(void)
{
	int r = 0;

	/* slot 0: pod 10.80.0.1 admits 10.81.0.0/16 on TCP 80 */
	np_pod(&W, "10.80.0.1", 0, 80, 0);
	np_prefix(&W, 80, "10.81.0.0", 16, 800);
	np_ports(&W, 800, 1, PB_P_TCP, 80, 80);
	/* slot 1: it admits TCP 81 instead, and pod 10.82.0.1 is isolated */
	np_pod(&W, "10.80.0.1", 1, 80 | SLOT1, 0);
	np_prefix(&W, 80 | SLOT1, "10.81.0.0", 16, 800 | SLOT1);
	np_ports(&W, 800 | SLOT1, 1, PB_P_TCP, 81, 81);
	np_pod(&W, "10.82.0.1", 1, 82 | SLOT1, 0);
	EXPECT(&W, TO, PASS, "10.81.0.1", "10.80.0.1", PB_P_TCP, 1000, 80, PB_TCP_SYN);
	EXPECT(&W, TO, SHOT, "10.81.0.1", "10.80.0.1", PB_P_TCP, 1001, 81, PB_TCP_SYN);
	EXPECT(&W, TO, PASS, "10.81.0.1", "10.82.0.1", PB_P_TCP, 1002, 80, PB_TCP_SYN);
	set_slot(&W, 1);
	if (expect(&W, TO, &(struct pk){ "10.81.0.1", "10.80.0.1", PB_P_TCP, 1003, 80, PB_TCP_SYN },
		   SHOT) ||
	    expect(&W, TO, &(struct pk){ "10.81.0.1", "10.80.0.1", PB_P_TCP, 1004, 81, PB_TCP_SYN },
		   PASS) ||
	    expect(&W, TO, &(struct pk){ "10.81.0.1", "10.82.0.1", PB_P_TCP, 1005, 80, PB_TCP_SYN },
		   SHOT) ||
	    /* an established connection keeps its admission across the flip */
	    expect(&W, TO, &(struct pk){ "10.81.0.1", "10.80.0.1", PB_P_TCP, 1000, 80, PB_TCP_ACK },
		   PASS))
		r = -1;
	set_slot(&W, 0);
	return r;
}

/* payload counts L4 data of TCP, UDP and SCTP only; bytes count L3. */
static int t_payload(void)
{
	struct pk udp = { "10.18.0.1", "10.18.9.9", PB_P_UDP, 1000, 2000, 0, 33 };
	struct pk sctp = { "10.18.0.1", "10.18.9.9", PB_P_SCTP, 1000, 2000, 0, 44 };
	struct pk gre = { "10.18.0.1", "10.18.9.9", 47, 0, 0, 0, 55 };
	struct pk icmp = { "10.18.0.1", "10.18.9.9", PB_P_ICMP, 0, 0, 0, 0 };
	const struct pk *ks[] = { &udp, &sctp, &gre };
	const __u64 want[] = { 33, 44, 0 };
	struct sl_pflow_val v;
	struct pkt_spec s;
	__u8 buf[256];
	size_t n;
	int rev;

	for (int i = 0; i < 3; i++) {
		if (expect(&W, FROM, ks[i], PASS))
			return -1;
		if (flow_get(&W, ks[i], &v, &rev))
			return fail("proto %u: no record", ks[i]->proto);
		if (v.payload[0] != want[i] || v.bytes[0] != l3len(ks[i]))
			return fail("proto %u: payload %llu bytes %llu, want %llu/%llu", ks[i]->proto,
				    v.payload[0], v.bytes[0], want[i], l3len(ks[i]));
	}
	pkt_spec_init(&s);
	pkt_set_addrs(&s, icmp.src, icmp.dst);
	s.proto = PB_P_ICMP;
	s.icmp_type = 8;
	s.payload = zeros;
	s.payload_len = 56;
	n = pkt_build(&s, buf, sizeof(buf), NULL);
	if (run_raw(&W, FROM, buf, n, 0) != PASS)
		return fail("echo: %s", why[0] ? why : "shot");
	if (flow_get(&W, &icmp, &v, &rev))
		return fail("echo: no record");
	if (v.payload[0] != 0 || v.bytes[0] != 84)
		return fail("echo: payload %llu bytes %llu, want 0/84", v.payload[0], v.bytes[0]);
	return 0;
}

/* sl_pflows_revoke, as userspace runs it after a flip; -1 on failure. */
static long long pflows_revoke(struct world *w)
{
	struct { __u64 revoked; } ctx = { 0 };
	/* syscall programs write their ctx back in place */
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
	int fd = bpf_program__fd(w->skel->progs.sl_pflows_revoke);

	if (bpf_prog_test_run_opts(fd, &o) || o.retval)
		return -1;
	return (long long)ctx.revoked;
}

/* After a policy change and sl_pflows_revoke, an established connection is
 * judged again as the connection it is: kept if the new policy admits its
 * initiator (even when its first packet after the change is a reply that
 * the reverse direction would not admit), cut if not. */
static int t_revoke(void)
{
	struct pk a_rep = { "10.85.0.1", "10.86.0.1", PB_P_TCP, 80, 1000, PB_TCP_ACK, 10 };
	struct sl_pflow_val v;
	long long n;
	int rev, r = -1;

	/* slot 0: ingress admits 10.86.0.0/16 on TCP 80; egress only UDP 53
	 * to 10.99.0.0/16, so no reply tuple is a connection of its own */
	np_pod(&W, "10.85.0.1", 0, 85, 86);
	np_prefix(&W, 85, "10.86.0.0", 16, 850);
	np_ports(&W, 850, 1, PB_P_TCP, 80, 80);
	np_prefix(&W, 86, "10.99.0.0", 16, 860);
	np_ports(&W, 860, 1, PB_P_UDP, 53, 53);
	/* slot 1: ingress admits 10.86.0.1 only */
	np_pod(&W, "10.85.0.1", 1, 85 | SLOT1, 86 | SLOT1);
	np_prefix(&W, 85 | SLOT1, "10.86.0.1", 32, 850 | SLOT1);
	np_ports(&W, 850 | SLOT1, 1, PB_P_TCP, 80, 80);
	np_prefix(&W, 86 | SLOT1, "10.99.0.0", 16, 860 | SLOT1);
	np_ports(&W, 860 | SLOT1, 1, PB_P_UDP, 53, 53);
	EXPECT(&W, TO, PASS, "10.86.0.1", "10.85.0.1", PB_P_TCP, 1000, 80, PB_TCP_SYN);
	EXPECT(&W, FROM, PASS, "10.85.0.1", "10.86.0.1", PB_P_TCP, 80, 1000, PB_TCP_SYN | PB_TCP_ACK);
	EXPECT(&W, TO, PASS, "10.86.0.2", "10.85.0.1", PB_P_TCP, 1000, 80, PB_TCP_SYN);
	EXPECT(&W, FROM, PASS, "10.85.0.1", "10.86.0.2", PB_P_TCP, 80, 1000, PB_TCP_SYN | PB_TCP_ACK);
	set_slot(&W, 1);
	/* flipped, not yet revoked: established connections still pass */
	if (expect(&W, TO, &(struct pk){ "10.86.0.2", "10.85.0.1", PB_P_TCP, 1000, 80, PB_TCP_ACK },
		   PASS))
		goto out;
	n = pflows_revoke(&W);
	if (n < 2) {
		fail("sl_pflows_revoke revoked %lld records, want >= 2", n);
		goto out;
	}
	if (expect(&W, FROM, &a_rep, PASS) ||
	    expect(&W, TO, &(struct pk){ "10.86.0.1", "10.85.0.1", PB_P_TCP, 1000, 80, PB_TCP_ACK },
		   PASS))
		goto out;
	if (flow_get(&W, &a_rep, &v, &rev) || !(v.flags & SL_PF_ALLOW_INGRESS) ||
	    (v.flags & SL_PF_ALLOW_EGRESS)) {
		fail("kept connection not re-marked ALLOW_INGRESS (flags 0x%x)", v.flags);
		goto out;
	}
	if (expect(&W, FROM,
		   &(struct pk){ "10.85.0.1", "10.86.0.2", PB_P_TCP, 80, 1000, PB_TCP_ACK, 10 }, SHOT) ||
	    expect(&W, TO, &(struct pk){ "10.86.0.2", "10.85.0.1", PB_P_TCP, 1000, 80, PB_TCP_ACK },
		   SHOT))
		goto out;
	r = 0;
out:
	set_slot(&W, 0);
	return r;
}

/* A GSO packet counts as its wire segments, each with its own headers. */
static int t_gso(void)
{
	struct pk k = { "10.14.0.1", "10.14.9.9", PB_P_TCP, 40000, 80, PB_TCP_ACK, 3000 };
	struct sl_pod_totals t0, t1;
	struct sl_pflow_val v;
	__u8 buf[4096];
	size_t n = build(&k, buf, sizeof(buf));
	int rev;

	totals(&W, &t0);
	if (run_raw(&W, FROM, buf, n, 3) != PASS)
		return fail("GSO packet: %s", why[0] ? why : "shot");
	totals(&W, &t1);
	if (flow_get(&W, &k, &v, &rev))
		return fail("no record");
	if (v.packets[0] != 3 || v.payload[0] != 3000 || v.bytes[0] != 3000 + 3 * 40)
		return fail("packets %llu payload %llu bytes %llu, want 3/3000/3120", v.packets[0],
			    v.payload[0], v.bytes[0]);
	if (t1.packets[FROM] - t0.packets[FROM] != 3 || t1.bytes[FROM] - t0.bytes[FROM] != 3120)
		return fail("totals +%llu packets +%llu bytes", t1.packets[0] - t0.packets[0],
			    t1.bytes[0] - t0.bytes[0]);
	return 0;
}

/* Will the programs see this frame as IP (counted: passed or dropped) or
 * not (passed uncounted)? A VLAN tag cut short is malformed, so counted. */
static int frame_is_ip(const __u8 *f, size_t len)
{
	__u16 et = len >= 14 ? pkt_get16(f + 12) : 0;

	if (et == 0x8100 || et == 0x88a8) {
		if (len < 18)
			return 1;
		et = pkt_get16(f + 16);
	}
	return et == 0x0800 || et == 0x86dd;
}

static __u64 xorshift(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* 20,000 random mutations (flipped bytes, cuts, rewritten length and
 * header fields) of valid packets to isolated and open pods, both ways:
 * no verdict but OK/SHOT, the frame never changes, and every IP frame is
 * counted exactly once (as passed traffic or as one drop). */
/* ---- mTLS STRICT (sl_mtls, written by the proxy) ---- */

static void mtls_entry(struct world *w, const char *ip, __u8 proto, __u16 port, __u32 mode)
{
	struct sl_mtls_key k;
	struct sl_mtls_val v = { .mode = mode, .generation = 1 };
	int fd = bpf_map__fd(w->skel->maps.sl_mtls);

	memset(&k, 0, sizeof(k));
	addr_parse(ip, k.addr, &k.family);
	k.proto = proto;
	k.port = htons(port);
	if (bpf_map_update_elem(fd, &k, &v, BPF_ANY)) {
		perror("sl_mtls");
		exit(2);
	}
}

static int set_proxy_mark(struct world *w, __u32 mark)
{
	struct sl_config c;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(w->config, &zero, &c))
		return -1;
	c.proxy_mark = mark;
	return bpf_map_update_elem(w->config, &zero, &c, BPF_ANY);
}

/* 10.140.0.1 is isolated by no NetworkPolicy of the earlier cases: only
 * sl_mtls decides for it. */
static int t_mtls_strict(void)
{
	int r = 0;

	if (set_proxy_mark(&W, 0x5110))
		return fail("config");
	mtls_entry(&W, "10.140.0.1", PB_P_TCP, 0, SL_MTLS_K_STRICT);
	mtls_entry(&W, "10.140.0.1", PB_P_TCP, 9090, SL_MTLS_K_OPEN);
	mtls_entry(&W, "10.140.0.1", PB_P_UDP, 0, SL_MTLS_K_STRICT);
	g_mark = 0;
	EXPECT(&W, TO, SHOT, "10.141.0.5", "10.140.0.1", PB_P_TCP, 4000, 8080, PB_TCP_SYN);
	EXPECT(&W, TO, SHOT, "10.141.0.5", "10.140.0.1", PB_P_UDP, 4000, 53, 0, 10);
	EXPECT(&W, TO, PASS, "10.141.0.5", "10.140.0.1", PB_P_TCP, 4001, 9090, PB_TCP_SYN);
	EXPECT(&W, TO, PASS, "10.141.0.5", "10.140.0.2", PB_P_TCP, 4002, 8080, PB_TCP_SYN);
	g_mark = 0x1; /* any mark but the proxy's */
	r = expect(&W, TO, &(struct pk){ "10.141.0.5", "10.140.0.1", PB_P_TCP, 4003, 8080, PB_TCP_SYN }, SHOT);
	g_mark = 0x5110; /* the proxy's upstream: admitted, its flow recorded */
	r = r ?: expect(&W, TO, &(struct pk){ "10.140.0.254", "10.140.0.1", PB_P_TCP, 4004, 8080, PB_TCP_SYN }, PASS);
	g_mark = 0; /* later packets of that flow ride on its record */
	r = r ?: expect(&W, TO, &(struct pk){ "10.140.0.254", "10.140.0.1", PB_P_TCP, 4004, 8080, PB_TCP_ACK, 100 }, PASS);
	/* replies of the pod's own connections come in on their records */
	r = r ?: expect(&W, FROM, &(struct pk){ "10.140.0.1", "10.141.0.5", PB_P_TCP, 5000, 443, PB_TCP_SYN }, PASS);
	r = r ?: expect(&W, TO, &(struct pk){ "10.141.0.5", "10.140.0.1", PB_P_TCP, 443, 5000, PB_TCP_SYN | PB_TCP_ACK }, PASS);
	g_mark = 0;
	set_proxy_mark(&W, 0);
	return r;
}

static int t_mutations(void)
{
	static const __u8 off_hot[] = { 12, 13, 14, 16, 17, 20, 21, 22, 23, 24, 32, 33, 34,
					36, 38, 40, 46, 47, 54, 55, 58, 60, 66 };
	struct pk base[] = {
		{ "10.21.2.3", "10.20.0.1", PB_P_TCP, 5555, 80, PB_TCP_SYN, 20 },
		{ "10.60.0.1", "10.61.1.1", PB_P_UDP, 4000, 53, 0, 30 },
		{ "fd00:71::5", "fd00:70::1", PB_P_TCP, 5000, 8080, PB_TCP_ACK, 40 },
		{ "10.13.0.9", "10.13.0.1", PB_P_SCTP, 1, 2, 0, 16 },
	};
	__u64 seed = 0x5eed5eedull, runs = 0, counted = 0, ip = 0;
	struct sl_pod_totals t0, t1;
	__u8 orig[512], f[512];
	char was[sizeof(why)];
	size_t n, len;
	int v;

	totals(&W, &t0);
	for (int i = 0; i < 20000; i++) {
		const struct pk *b = &base[i % 4];
		__u64 r = xorshift(&seed);
		int dir = (int)(r & 1);

		n = build(b, orig, sizeof(orig));
		if (i % 7 == 0) { /* an ICMP error quoting the base packet */
			n = icmp_err(orig, sizeof(orig), b->src[0] == 'f' ? 6 : 4,
				     b->src[0] == 'f' ? "fd00:98::1" : "10.98.0.1", b, 3, 4, 1400);
		}
		memcpy(f, orig, n);
		len = n;
		for (int k = 0; k < 1 + (int)(r >> 8 & 3); k++) {
			__u64 q = xorshift(&seed);
			size_t at = (q & 1) ? off_hot[(q >> 1) % sizeof(off_hot)] : (q >> 1) % n;

			if (at < n)
				f[at] = (__u8)(q >> 32);
		}
		if ((r >> 12 & 3) == 0)
			len = 1 + (r >> 16) % n;
		v = run_raw(&W, dir, f, len, 0);
		if (v == -1 && strstr(why, "test run: Invalid argument"))
			continue; /* the kernel's test run refused the frame */
		if (v != PASS && v != SHOT) {
			snprintf(was, sizeof(was), "%s", why);
			return fail("mutation %d: verdict %d %s", i, v, was);
		}
		runs++;
		ip += frame_is_ip(f, len);
	}
	totals(&W, &t1);
	for (int d = 0; d < 2; d++)
		counted += t1.packets[d] - t0.packets[d];
	for (int rsn = 0; rsn < SL_DROP__COUNT; rsn++)
		counted += t1.drops[rsn] - t0.drops[rsn];
	if (runs < 15000)
		return fail("only %llu of 20000 mutations ran", (unsigned long long)runs);
	if (counted != ip)
		return fail("%llu IP frames, %llu counted (passed + dropped)", (unsigned long long)ip,
			    (unsigned long long)counted);
	return 0;
}

/* 1000 flows through a 64-record LRU: totals stay exact, live records
 * hold no more than the totals, and every flow was counted as new once. */
static int t_lru_totals(void)
{
	struct sl_pod_totals t0, t1;
	struct sl_pflow_key key, next, *prev = NULL;
	struct sl_pflow_val v;
	__u64 pk = 0, by = 0, live_pk = 0, live_by = 0, live = 0;
	char src[32];

	totals(&W_LRU, &t0);
	for (int i = 0; i < 1000; i++) {
		struct pk k = { src, "10.90.0.1", PB_P_UDP, (__u16)(1000 + i), 53, 0, (size_t)(i % 50) };

		snprintf(src, sizeof(src), "10.91.%d.%d", i / 200, i % 200 + 1);
		for (int j = 0; j < 1 + i % 3; j++) {
			if (expect(&W_LRU, j & 1 ? FROM : TO, &k, PASS))
				return -1;
			pk++;
			by += l3len(&k);
		}
	}
	totals(&W_LRU, &t1);
	if (t1.packets[0] + t1.packets[1] - t0.packets[0] - t0.packets[1] != pk ||
	    t1.bytes[0] + t1.bytes[1] - t0.bytes[0] - t0.bytes[1] != by)
		return fail("totals %llu packets %llu bytes, sent %llu/%llu",
			    t1.packets[0] + t1.packets[1] - t0.packets[0] - t0.packets[1],
			    t1.bytes[0] + t1.bytes[1] - t0.bytes[0] - t0.bytes[1], pk, by);
	if (t1.flows - t0.flows != 1000)
		return fail("flows +%llu, want 1000", t1.flows - t0.flows);
	while (!bpf_map_get_next_key(W_LRU.pflows, prev, &next)) {
		if (!bpf_map_lookup_elem(W_LRU.pflows, &next, &v)) {
			live++;
			live_pk += v.packets[0] + v.packets[1];
			live_by += v.bytes[0] + v.bytes[1];
		}
		key = next;
		prev = &key;
	}
	if (live == 0 || live > 64)
		return fail("%llu live records in a 64-record LRU", live);
	if (live_pk > pk || live_by > by)
		return fail("live records hold more than the totals");
	return 0;
}

/* count_flows = 0: no record for pods without policy; isolated pods
 * still get records, so their replies pass. */
static int t_count_flows_off(void)
{
	struct pk open = { "10.15.0.9", "10.15.0.1", PB_P_TCP, 1000, 80, PB_TCP_SYN, 0 };
	struct sl_pod_totals t0, t1;
	struct sl_pflow_val v;
	int rev;

	totals(&W_NOFLOW, &t0);
	if (expect(&W_NOFLOW, TO, &open, PASS))
		return -1;
	totals(&W_NOFLOW, &t1);
	if (!flow_get(&W_NOFLOW, &open, &v, &rev))
		return fail("record kept with count_flows = 0");
	if (t1.packets[TO] - t0.packets[TO] != 1)
		return fail("totals not counted");
	np_pod(&W_NOFLOW, "10.16.0.1", 0, 16, 0);
	if (expect(&W_NOFLOW, FROM,
		   &(struct pk){ "10.16.0.1", "10.17.0.1", PB_P_TCP, 2000, 80, PB_TCP_SYN }, PASS) ||
	    expect(&W_NOFLOW, TO,
		   &(struct pk){ "10.17.0.1", "10.16.0.1", PB_P_TCP, 80, 2000, PB_TCP_SYN | PB_TCP_ACK },
		   PASS) ||
	    expect(&W_NOFLOW, TO,
		   &(struct pk){ "10.17.0.1", "10.16.0.1", PB_P_TCP, 80, 2001, PB_TCP_SYN }, SHOT))
		return -1;
	return 0;
}

/* No published config (magic missing): no policy applies, counting goes on. */
static int t_no_config(void)
{
	__u32 zero = 0;
	struct sl_config c = { 0 };
	int r;

	bpf_map_update_elem(W.config, &zero, &c, BPF_ANY);
	r = expect(&W, TO, &(struct pk){ "10.22.0.77", "10.20.0.1", PB_P_TCP, 1, 80, PB_TCP_SYN }, PASS);
	set_slot(&W, 0);
	if (r)
		return -1;
	EXPECT(&W, TO, SHOT, "10.22.0.78", "10.20.0.1", PB_P_TCP, 1, 80, PB_TCP_SYN);
	return 0;
}

int main(void)
{
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A network namespace of our own: the source-address check asks the
	 * FIB, which must hold only the routes these tests make. */
	if (unshare(CLONE_NEWNET)) {
		printf("FAIL tc_pod/setup: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 1;
	}
	g_ifindex = if_nametoindex("lo");
	g_ncpu = libbpf_num_possible_cpus();
	if (!g_ifindex || g_ncpu <= 0) {
		printf("FAIL tc_pod/setup: no loopback or cpu count\n");
		return 1;
	}
	err = world_open(&W, 0, 1);
	if (!err)
		err = world_open(&W_LRU, 64, 1);
	if (!err)
		err = world_open(&W_NOFLOW, 0, 0);
	if (err) {
		printf("FAIL tc_pod/load: %s\n", strerror(-err));
		return 1;
	}
	set_slot(&W, 0);
	set_slot(&W_LRU, 0);
	set_slot(&W_NOFLOW, 0);
	setup_ingress();

	report("tc_pod/not-isolated-both-directions", t_not_isolated());
	report("tc_pod/spoofed-source-shot", t_spoofed());
	report("tc_pod/init-rev-flag", t_init_rev());
	report("tc_pod/ingress-allowed-peer-port", t_ingress_allowed());
	report("tc_pod/ingress-other-port-shot", t_ingress_other_port());
	report("tc_pod/ingress-other-peer-shot", t_ingress_other_peer());
	report("tc_pod/ipblock-except", t_ipblock_except());
	report("tc_pod/protocol-mismatch-shot", t_protocol_mismatch());
	report("tc_pod/endport-edges", t_endport_edges());
	report("tc_pod/sctp", t_sctp());
	report("tc_pod/proto0-all-ports", t_proto0_all());
	report("tc_pod/replies-allowed-pass-denied-shot", t_replies());
	report("tc_pod/egress-isolation", t_egress());
	report("tc_pod/ipv6", t_ipv6());
	report("tc_pod/ipv6-ext-headers-ipv4-options", t_ext_and_options());
	report("tc_pod/later-fragments", t_fragments());
	report("tc_pod/malformed-truncated", t_malformed());
	report("tc_pod/drop-reasons", t_drop_reasons());
	report("tc_pod/icmp-errors-of-allowed-flows", t_icmp_errors());
	report("tc_pod/icmp-echo-reply", t_icmp_echo());
	report("tc_pod/exempt-self-node-nd", t_exempt());
	report("tc_pod/slot-flip", t_slot_flip());
	report("tc_pod/policy-change-revoke-readmit", t_revoke());
	report("tc_pod/payload-l4-data-only", t_payload());
	report("tc_pod/gso-segments", t_gso());
	report("tc_pod/lru-evictions-totals-exact", t_lru_totals());
	report("tc_pod/mtls-strict-only-from-proxy", t_mtls_strict());
	report("tc_pod/mutations-20000", t_mutations());
	report("tc_pod/count-flows-off", t_count_flows_off());
	report("tc_pod/no-config-no-policy", t_no_config());

	tc_pod__destroy(W.skel);
	tc_pod__destroy(W_LRU.skel);
	tc_pod__destroy(W_NOFLOW.skel);
	return failed;
}
