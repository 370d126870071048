// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Table-driven BPF_PROG_TEST_RUN tests of the node-ingress programs:
 * sl_xdp_lb (bpf/xdp_lb.bpf.c), sl_tc_nat (bpf/tc_nat.bpf.c) and sl_ct_gc.
 *
 * Both skeletons are opened and loaded here (no pins, no attach), tc_nat
 * reusing xdp_lb's maps; the policy maps are written by hand: one slot,
 * small services with hand-made rings (every cell chosen by the test, so
 * the expected endpoint of every packet is known). Each input packet is
 * built by tests/bpf/pkt_build.h and each expected output is built from
 * scratch by it too, so the incremental checksums of the programs are
 * compared byte for byte with full computations.
 *
 * Needs root; prints "skip NAME: missing ..." when the kernel cannot run
 * XDP programs with BPF_PROG_TEST_RUN.
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/types.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sluice_abi.h"
#include "stateid.h"
#include "svctab.h"
#include "xdp_lb.skel.h"
#include "tc_nat.skel.h"
#include "pkt_build.h"

/* Mirrors struct sl_ct_gc_ctx of bpf/lib/ct.h (to move into the ABI). */
struct t_gc_ctx {
	__u64 now_ns;
	__u64 tcp_idle_ns;
	__u64 udp_idle_ns;
	__u64 closed_idle_ns;
	__u32 removed;
	__u32 released;
	__u32 scanned;
	__u32 pad;
};

#define XDP_ABORTED_ 0
#define XDP_DROP_ 1
#define XDP_PASS_ 2
#define XDP_TX_ 3
#define XDP_REDIRECT_ 4
#define TC_OK 0
#define TC_SHOT 2
#define RING 257u
#define MAXPKT 2048

static struct xdp_lb *X;
static struct tc_nat *T;
static int failures;
static char why[512];
static int n_cpus;
static uint32_t be_next = 0, ring_next = 0, svc_hwm = 0; /* rows, ring cells, service rows */

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			snprintf(why, sizeof(why), __VA_ARGS__);               \
			return -1;                                             \
		}                                                              \
	} while (0)

static void report(const char *name, int rc)
{
	if (rc == 0) {
		printf("ok %s\n", name);
	} else {
		failures++;
		printf("FAIL %s: %s\n", name, why);
	}
	fflush(stdout);
	why[0] = 0;
}

static int mfd(struct bpf_map *m)
{
	return bpf_map__fd(m);
}

/* ---- addresses and maps ---- */

static struct sl_l4addr l4(const char *ip, uint16_t port, uint8_t proto)
{
	struct sl_l4addr a;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, ip, a.addr) == 1)
		a.family = SL_AF_INET;
	else if (inet_pton(AF_INET6, ip, a.addr) == 1)
		a.family = SL_AF_INET6;
	a.port = htons(port);
	a.proto = proto;
	return a;
}

struct t_ep {
	const char *ip;
	uint16_t port;
};

/* A frontend and what it leads to. */
struct t_fe {
	struct sl_l4addr fe; /* as on the wire (all-zero address for NodePort) */
	struct sl_l4addr svc;
	uint32_t row0; /* backend rows row0 .. row0+n */
	uint32_t ring_off;
	int n;
	struct sl_l4addr eps[8];
};

/* One service, one group (tag 7), endpoints with weight 1, a ring of RING
 * cells; cells[i % ncells] names the endpoint of cell i (NULL: i % n). */

/* The publisher's port bitmap (sl_fe_ports, slot 0): XDP looks at no
 * frontend whose port bit is clear. */
static int fe_port_set(const struct sl_l4addr *fe)
{
	uint16_t port = ntohs(fe->port);
	uint32_t idx = sl_fe_port_word(0, fe->proto, port);
	uint64_t w = 0;

	bpf_map_lookup_elem(mfd(X->maps.sl_fe_ports), &idx, &w);
	w |= 1ull << (port % 64);
	return bpf_map_update_elem(mfd(X->maps.sl_fe_ports), &idx, &w, BPF_ANY);
}

/* The state-id maps of the loaded object (user/stateid.c assigns ids as
 * the publisher would). */
static struct sl_state_maps state_maps(void)
{
	return (struct sl_state_maps){ mfd(X->maps.sl_ep_ids), mfd(X->maps.sl_ep_state),
				       mfd(X->maps.sl_group_ids), mfd(X->maps.sl_group_state) };
}

static int add_fe(struct t_fe *f, const char *fe_ip, uint16_t fe_port, uint8_t proto,
		  const char *svc_ip, const struct t_ep *eps, int n, uint32_t max_conns,
		  const int *cells, int ncells)
{
	struct sl_svc_key sk;
	struct sl_svc_val sv;
	struct sl_ingress_key ik;
	struct sl_ingress_val iv;
	struct sl_state_maps sm = state_maps();
	int err;

	memset(f, 0, sizeof(*f));
	f->fe = l4(fe_ip, fe_port, proto);
	if (!strcmp(fe_ip, "0.0.0.0") || !strcmp(fe_ip, "::"))
		memset(f->fe.addr, 0, sizeof(f->fe.addr));
	f->svc = l4(svc_ip, 80, proto);
	f->n = n;
	f->row0 = be_next;
	f->ring_off = ring_next;
	be_next += (uint32_t)n;
	ring_next += RING;
	for (int i = 0; i < n; i++) {
		struct sl_backend b;
		uint32_t idx = f->row0 + (uint32_t)i;

		memset(&b, 0, sizeof(b));
		b.ep = l4(eps[i].ip, eps[i].port, proto);
		b.weight = 1;
		b.cum = (uint32_t)i + 1;
		f->eps[i] = b.ep;
		err = sl_stateid_ep(&sm, &f->svc, &b.ep, &b.state);
		if (!err)
			err = bpf_map_update_elem(mfd(X->maps.sl_backends), &idx, &b, BPF_ANY) ? -errno : 0;
		if (err)
			return err;
	}
	memset(&sk, 0, sizeof(sk));
	memset(&sv, 0, sizeof(sv));
	sk.fe = f->svc;
	sv.n_groups = 1;
	sv.route_total = 100;
	sv.groups[0].first = f->row0;
	sv.groups[0].count = (uint16_t)n;
	sv.groups[0].weight = 100;
	sv.groups[0].total = (uint32_t)n;
	sv.groups[0].tag = 7;
	sv.groups[0].max_conns = max_conns;
	err = sl_stateid_group(&sm, &f->svc, 7, &sv.groups[0].state);
	if (!err)
		err = sl_svc_put((struct sl_svctab){ mfd(X->maps.sl_services), mfd(X->maps.sl_svc_index) },
				 &sk, &sv, &svc_hwm);
	if (err)
		return err;
	for (uint32_t i = 0; n && i < RING; i++) {
		uint32_t idx = f->ring_off + i;
		uint32_t e = cells ? (uint32_t)cells[i % (uint32_t)ncells] : i % (uint32_t)n;
		uint32_t cell = f->row0 + e; /* group 0 */

		err = bpf_map_update_elem(mfd(X->maps.sl_maglev), &idx, &cell, BPF_ANY);
		if (err)
			return err;
	}
	memset(&ik, 0, sizeof(ik));
	memset(&iv, 0, sizeof(iv));
	ik.fe = f->fe;
	iv.svc = f->svc;
	iv.ring_off = f->ring_off;
	iv.ring_size = n ? RING : 0;
	iv.kind = f->fe.addr[0] ? SL_ING_EXTERNAL_IP : SL_ING_NODEPORT;
	err = bpf_map_update_elem(mfd(X->maps.sl_ingress), &ik, &iv, BPF_ANY);
	return err ? err : fe_port_set(&f->fe);
}

/* Point every cell of f's ring at endpoint e (as a ring rebuilt without
 * the others would). */
static int ring_all(const struct t_fe *f, int e)
{
	for (uint32_t i = 0; i < RING; i++) {
		uint32_t idx = f->ring_off + i, cell = f->row0 + (uint32_t)e;
		int err = bpf_map_update_elem(mfd(X->maps.sl_maglev), &idx, &cell, BPF_ANY);

		if (err)
			return err;
	}
	return 0;
}

static int add_node_addr(const char *ip)
{
	struct sl_node_addr k;
	__u32 v = 1;

	memset(&k, 0, sizeof(k));
	if (inet_pton(AF_INET, ip, k.addr) == 1)
		k.family = SL_AF_INET;
	else if (inet_pton(AF_INET6, ip, k.addr) == 1)
		k.family = SL_AF_INET6;
	return bpf_map_update_elem(mfd(X->maps.sl_node_addrs), &k, &v, BPF_ANY);
}

static int set_ejected(const struct t_fe *f, int e, uint64_t until)
{
	struct sl_state_maps sm = state_maps();
	struct sl_ep_state s;
	__u32 id;
	int err = sl_stateid_ep(&sm, &f->svc, &f->eps[e], &id);

	if (!err)
		err = bpf_map_lookup_elem(sm.ep_state, &id, &s) ? -errno : 0;
	if (err)
		return err;
	s.ejected_until_ns = until;
	return bpf_map_update_elem(sm.ep_state, &id, &s, BPF_ANY);
}

static int group_state(const struct t_fe *f, struct sl_group_state *gs)
{
	struct sl_state_maps sm = state_maps();

	return sl_state_group_read(&sm, &f->svc, 7, gs, NULL);
}

static struct sl_xdp_stats stats(void)
{
	struct sl_xdp_stats *v = calloc((size_t)n_cpus, sizeof(*v)), sum;
	__u32 zero = 0;

	memset(&sum, 0, sizeof(sum));
	if (v && !bpf_map_lookup_elem(mfd(X->maps.sl_xdp_stats), &zero, v)) {
		for (int c = 0; c < n_cpus; c++) {
			__u64 *a = (__u64 *)&v[c], *s = (__u64 *)&sum;

			for (size_t i = 0; i < sizeof(sum) / 8; i++)
				s[i] += a[i];
		}
	}
	free(v);
	return sum;
}

static int map_count(int fd, size_t keysz)
{
	uint8_t k[64], nk[64];
	int n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, nk)) {
		n++;
		memcpy(k, nk, keysz);
		prev = k;
	}
	return n;
}

static void map_clear(int fd)
{
	uint8_t k[64];

	while (!bpf_map_get_next_key(fd, NULL, k))
		if (bpf_map_delete_elem(fd, k))
			break;
}

/* ---- running ---- */

static int run_prog(int fd, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen,
		    uint32_t *ret)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = MAXPKT, .repeat = 1);
	int err = bpf_prog_test_run_opts(fd, &o);

	if (err)
		return -errno;
	*outlen = o.data_size_out;
	*ret = o.retval;
	return 0;
}

static int run_xdp(const uint8_t *in, size_t len, uint8_t *out, size_t *outlen, uint32_t *ret)
{
	return run_prog(bpf_program__fd(X->progs.sl_xdp_lb), in, len, out, outlen, ret);
}

static int run_tc(const uint8_t *in, size_t len, uint8_t *out, size_t *outlen, uint32_t *ret)
{
	return run_prog(bpf_program__fd(T->progs.sl_tc_nat), in, len, out, outlen, ret);
}

/* ---- packets ---- */

static void flow(struct pkt_spec *s, const char *src, uint16_t sport, const char *dst,
		 uint16_t dport, uint8_t proto)
{
	pkt_spec_init(s);
	pkt_set_addrs(s, src, dst);
	s->sport = sport;
	s->dport = dport;
	s->proto = proto;
}

static void spec_dst(struct pkt_spec *s, const struct sl_l4addr *a)
{
	memcpy(s->daddr, a->addr, 16);
	s->dport = ntohs(a->port);
}

static void spec_src(struct pkt_spec *s, const struct sl_l4addr *a)
{
	memcpy(s->saddr, a->addr, 16);
	s->sport = ntohs(a->port);
}

typedef int (*run_fn)(const uint8_t *in, size_t len, uint8_t *out, size_t *outlen,
		      uint32_t *ret);
typedef void (*rewrite_fn)(struct pkt_spec *s, const struct sl_l4addr *a);

/* Run s through RUN; expect verdict want and, when to != NULL, the packet
 * with REWRITE(to) applied, built from scratch. to == NULL: the packet must
 * come out byte-identical. */
static int pkt_expect(run_fn run, rewrite_fn rewrite, const struct pkt_spec *s, uint32_t want,
		      const struct sl_l4addr *to)
{
	uint8_t in[MAXPKT], out[MAXPKT], exp[MAXPKT];
	size_t n, outlen, en;
	uint32_t ret;
	char d[160], v[160];
	int err;

	n = pkt_build(s, in, sizeof(in), NULL);
	CHECK(n, "cannot build input");
	err = run(in, n, out, &outlen, &ret);
	CHECK(!err, "test run: %s", strerror(-err));
	CHECK(ret == want, "verdict %u, want %u", ret, want);
	if (to) {
		struct pkt_spec e = *s;

		rewrite(&e, to);
		en = pkt_build(&e, exp, sizeof(exp), NULL);
	} else {
		memcpy(exp, in, n);
		en = n;
	}
	pkt_diff(out, outlen, exp, en, d, sizeof(d));
	CHECK(outlen == en && !memcmp(out, exp, en), "output differs: %s", d);
	if (to)
		CHECK(!pkt_verify(out, outlen, v, sizeof(v)), "output checksums: %s", v);
	return 0;
}

/* Through XDP: the destination replaced by *to. */
static int xdp_expect(const struct pkt_spec *s, uint32_t want, const struct sl_l4addr *to)
{
	return pkt_expect(run_xdp, spec_dst, s, want, to);
}

/* Through TC: the source replaced by *to (a reply back to the client). */
static int tc_expect(const struct pkt_spec *s, uint32_t want, const struct sl_l4addr *to)
{
	return pkt_expect(run_tc, spec_src, s, want, to);
}

/* The endpoint a packet was sent to: XDP output destination, as index into
 * f->eps, or -1. */
static int xdp_endpoint(const struct t_fe *f, const struct pkt_spec *s, uint32_t *ret)
{
	uint8_t in[MAXPKT], out[MAXPKT];
	struct pkt_layout lo;
	size_t n, outlen;

	n = pkt_build(s, in, sizeof(in), &lo);
	if (!n || run_xdp(in, n, out, &outlen, ret))
		return -2;
	for (int i = 0; i < f->n; i++) {
		size_t aoff = lo.l3 + (s->family == 4 ? 16 : 24);
		size_t alen = s->family == 4 ? 4 : 16;

		if (!memcmp(out + aoff, f->eps[i].addr, alen) &&
		    !memcmp(out + lo.l4 + 2, &f->eps[i].port, 2))
			return i;
	}
	return -1;
}

/* ---- cases ---- */

static const char *fam_ip(int fam, int i)
{
	static const char *v4[] = { "198.51.100.7", "203.0.113.10", "10.1.0.5", "10.1.0.6",
				    "10.1.0.7", "192.0.2.1", "192.0.2.99", "10.9.9.9" };
	static const char *v6[] = { "2001:db8:c::7", "2001:db8:f::10", "fd00:1::5", "fd00:1::6",
				    "fd00:1::7", "2001:db8:e::1", "2001:db8:e::99",
				    "2001:db8:9::9" };

	return fam == 4 ? v4[i] : v6[i];
}

#define CLIENT 0
#define FRONT 1
#define EP_A 2
#define EP_B 3
#define EP_C 4
#define NODE 5
#define NOTNODE 6
#define ROUTER 7

/* Frontends per (family, proto): index [fam==6][proto==UDP]. */
static struct t_fe FE[2][2];

static int setup_frontends(void)
{
	for (int fi = 0; fi < 2; fi++) {
		int fam = fi ? 6 : 4;

		for (int pi = 0; pi < 2; pi++) {
			uint8_t proto = pi ? PB_P_UDP : PB_P_TCP;
			struct t_ep eps[3] = { { fam_ip(fam, EP_A), 8080 },
					       { fam_ip(fam, EP_B), 8081 },
					       { fam_ip(fam, EP_C), 8082 } };
			char svc[64];

			snprintf(svc, sizeof(svc), fam == 4 ? "10.96.%d.1" : "fd96::%d:1",
				 fi * 2 + pi);
			if (add_fe(&FE[fi][pi], fam_ip(fam, FRONT), 80, proto, svc, eps, 3, 0,
				   NULL, 0))
				return -1;
		}
	}
	return 0;
}

/* A new flow through XDP: exact output for whichever endpoint the ring
 * gave (predicted: any of the three, then checked byte for byte), then the
 * same flow's next packet goes to the same endpoint. */
static int case_new_and_established(int fam, uint8_t proto, uint16_t cport)
{
	const struct t_fe *f = &FE[fam == 6][proto == PB_P_UDP];
	struct sl_xdp_stats s0 = stats(), s1;
	struct pkt_spec s;
	uint8_t pl[] = "GET / HTTP/1.0\r\n\r\n";
	uint32_t ret;
	int e1, e2;

	flow(&s, fam_ip(fam, CLIENT), cport, fam_ip(fam, FRONT), 80, proto);
	s.tcp_flags = PB_TCP_SYN;
	e1 = xdp_endpoint(f, &s, &ret);
	CHECK(e1 >= 0 && ret == XDP_PASS_, "first packet: endpoint %d verdict %u", e1, ret);
	/* Again, now as an exact comparison (it is tracked: same endpoint). */
	if (xdp_expect(&s, XDP_PASS_, &f->eps[e1]))
		return -1;
	s.tcp_flags = PB_TCP_ACK | PB_TCP_PSH;
	s.payload = pl;
	s.payload_len = sizeof(pl) - 1;
	if (xdp_expect(&s, XDP_PASS_, &f->eps[e1]))
		return -1;
	e2 = xdp_endpoint(f, &s, &ret);
	CHECK(e2 == e1, "established packet went to %d, flow is on %d", e2, e1);
	s1 = stats();
	CHECK(s1.new_flows - s0.new_flows == 1, "new_flows +%llu, want +1",
	      (unsigned long long)(s1.new_flows - s0.new_flows));
	CHECK(s1.ct_hits - s0.ct_hits == 3, "ct_hits +%llu, want +3",
	      (unsigned long long)(s1.ct_hits - s0.ct_hits));
	CHECK(s1.passed - s0.passed == 4, "passed +%llu", (unsigned long long)(s1.passed - s0.passed));
	return 0;
}

/* Many flows spread over the ring's endpoints (the ring is i % 3). */
static int case_spread(void)
{
	const struct t_fe *f = &FE[0][0];
	int seen[3] = { 0 };
	struct pkt_spec s;
	uint32_t ret;

	for (int i = 0; i < 300; i++) {
		int e;

		flow(&s, fam_ip(4, CLIENT), (uint16_t)(20000 + i), fam_ip(4, FRONT), 80, PB_P_TCP);
		s.tcp_flags = PB_TCP_SYN;
		e = xdp_endpoint(f, &s, &ret);
		CHECK(e >= 0, "flow %d not translated (verdict %u)", i, ret);
		seen[e]++;
	}
	for (int e = 0; e < 3; e++)
		CHECK(seen[e] > 60, "endpoint %d got %d of 300 flows", e, seen[e]);
	return 0;
}

static int case_nodeport(int fam)
{
	struct t_ep ep = { fam_ip(fam, EP_A), 9090 };
	struct t_fe f;
	struct pkt_spec s;
	struct sl_xdp_stats s0, s1;

	CHECK(!add_fe(&f, fam == 4 ? "0.0.0.0" : "::", 30080, PB_P_TCP,
		      fam == 4 ? "10.96.9.1" : "fd96::9:1", &ep, 1, 0, NULL, 0),
	      "map update");
	CHECK(!add_node_addr(fam_ip(fam, NODE)), "node addr");
	flow(&s, fam_ip(fam, CLIENT), 41000, fam_ip(fam, NODE), 30080, PB_P_TCP);
	s.tcp_flags = PB_TCP_SYN;
	if (xdp_expect(&s, XDP_PASS_, &f.eps[0]))
		return -1;
	s0 = stats();
	flow(&s, fam_ip(fam, CLIENT), 41001, fam_ip(fam, NOTNODE), 30080, PB_P_TCP);
	s.tcp_flags = PB_TCP_SYN;
	if (xdp_expect(&s, XDP_PASS_, NULL))
		return -1;
	s1 = stats();
	CHECK(s1.not_service == s0.not_service + 1, "not_service not counted");
	return 0;
}

static int case_not_service(void)
{
	struct pkt_spec s;
	uint8_t arp[28] = { 0, 1, 8, 0, 6, 4, 0, 1 };

	for (int fam = 4; fam <= 6; fam += 2) {
		/* Right address, wrong port; right port, wrong proto (SCTP). */
		flow(&s, fam_ip(fam, CLIENT), 1234, fam_ip(fam, FRONT), 81, PB_P_TCP);
		s.tcp_flags = PB_TCP_SYN;
		if (xdp_expect(&s, XDP_PASS_, NULL))
			return -1;
		flow(&s, fam_ip(fam, CLIENT), 1234, fam_ip(fam, FRONT), 80, PB_P_SCTP);
		if (xdp_expect(&s, XDP_PASS_, NULL))
			return -1;
		/* Another address entirely. */
		flow(&s, fam_ip(fam, CLIENT), 1234, fam_ip(fam, ROUTER), 80, PB_P_UDP);
		if (xdp_expect(&s, XDP_PASS_, NULL))
			return -1;
	}
	pkt_spec_init(&s);
	s.family = 0;
	s.eth_proto = 0x0806;
	s.payload = arp;
	s.payload_len = sizeof(arp);
	return xdp_expect(&s, XDP_PASS_, NULL);
}

/* Every prefix of a valid packet to a frontend: never rewritten, never a
 * verdict other than PASS (parse failures are passed to the stack). */
static int truncations(const struct pkt_spec *s)
{
	uint8_t in[MAXPKT], out[MAXPKT];
	size_t n, outlen;
	uint32_t ret;

	n = pkt_build(s, in, sizeof(in), NULL);
	CHECK(n, "cannot build");
	for (size_t len = 0; len < n; len++) {
		int err = run_xdp(in, len, out, &outlen, &ret);

		if (err == -EINVAL && len < PB_ETH_LEN)
			continue; /* the kernel wants an Ethernet header */
		CHECK(!err, "len %zu: test run: %s", len, strerror(-err));
		CHECK(ret == XDP_PASS_, "len %zu/%zu: verdict %u", len, n, ret);
		CHECK(outlen == len && !memcmp(in, out, len), "len %zu/%zu: rewritten", len, n);
	}
	return 0;
}

static int case_truncated(void)
{
	static const uint8_t ipopt[] = { 1, 1, 7, 7, 4, 0, 0, 0, 0, 0, 0 }; /* NOP NOP RR */
	static const uint8_t tcpopt[] = { 2, 4, 5, 0xb4, 4, 2, 1, 3, 3, 7 };
	struct sl_xdp_stats s0 = stats(), s1;
	struct pkt_spec s;

	for (int fam = 4; fam <= 6; fam += 2) {
		for (int vlan = 0; vlan < 2; vlan++) {
			flow(&s, fam_ip(fam, CLIENT), 45000, fam_ip(fam, FRONT), 80, PB_P_TCP);
			s.tcp_flags = PB_TCP_SYN;
			s.vlan = vlan;
			s.vlan_tci = 12;
			s.tcp_opts = tcpopt;
			s.tcp_opts_len = sizeof(tcpopt);
			if (fam == 4) {
				s.ip_opts = ipopt;
				s.ip_opts_len = sizeof(ipopt);
			} else {
				s.n_ext = 2;
				s.ext[0] = PB_NH_HOPOPTS;
				s.ext[1] = PB_NH_DSTOPTS;
				s.ext_len[1] = 16;
			}
			if (truncations(&s))
				return -1;
			flow(&s, fam_ip(fam, CLIENT), 45001, fam_ip(fam, FRONT), 80, PB_P_UDP);
			s.vlan = vlan;
			if (truncations(&s))
				return -1;
		}
	}
	s1 = stats();
	CHECK(s1.new_flows == s0.new_flows, "a truncated packet made a flow");
	return 0;
}

/* IP length fields shorter than the frame: the L4 header lies in what is
 * Ethernet padding to the stack. Never parsed, never rewritten. */
static int case_header_in_padding(void)
{
	uint8_t in[MAXPKT], out[MAXPKT];
	struct pkt_layout lo;
	struct pkt_spec s;
	size_t n, outlen;
	uint32_t ret;

	for (int fam = 4; fam <= 6; fam += 2) {
		for (int cut = 0; cut < 3; cut++) {
			flow(&s, fam_ip(fam, CLIENT), 45500, fam_ip(fam, FRONT), 80, PB_P_TCP);
			s.tcp_flags = PB_TCP_SYN;
			n = pkt_build(&s, in, sizeof(in), &lo);
			CHECK(n, "build");
			/* cut 0: no L4 at all; 1: half a TCP header; 2: all but
			 * one byte of it. */
			{
				size_t keep = cut == 0 ? 0 : cut == 1 ? 10 : 19;
				size_t iplen = lo.l4 - lo.l3 + keep;

				if (fam == 4) {
					pkt_put16(in + lo.l3 + 2, (uint16_t)iplen);
					pkt_put16(in + lo.l3 + 10, 0);
					pkt_put16(in + lo.l3 + 10,
						  pkt_csum_fold(pkt_csum_add(0, in + lo.l3, 20)));
				} else {
					pkt_put16(in + lo.l3 + 4, (uint16_t)(iplen - 40));
				}
			}
			CHECK(!run_xdp(in, n, out, &outlen, &ret), "test run");
			CHECK(ret == XDP_PASS_ && outlen == n && !memcmp(in, out, n),
			      "IPv%d, cut %d: verdict %u, %s", fam, cut, ret,
			      memcmp(in, out, n) ? "rewritten" : "untouched");
		}
	}
	return 0;
}

static int case_ip_options(void)
{
	static const uint8_t ipopt[] = { 1, 0x44, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0 }; /* NOP, TS */
	const struct t_fe *f = &FE[0][0];
	struct pkt_spec s;
	uint32_t ret;
	int e;

	flow(&s, fam_ip(4, CLIENT), 46000, fam_ip(4, FRONT), 80, PB_P_TCP);
	s.tcp_flags = PB_TCP_SYN;
	s.ip_opts = ipopt;
	s.ip_opts_len = sizeof(ipopt);
	e = xdp_endpoint(f, &s, &ret);
	CHECK(e >= 0, "not translated (verdict %u)", ret);
	if (xdp_expect(&s, XDP_PASS_, &f->eps[e]))
		return -1;
	/* A maximal header (IHL 15) over UDP, VLAN-tagged. */
	flow(&s, fam_ip(4, CLIENT), 46001, fam_ip(4, FRONT), 80, PB_P_UDP);
	s.ip_opts = (const uint8_t *)"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"
				     "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"
				     "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00";
	s.ip_opts_len = 40;
	s.vlan = true;
	s.vlan_tci = 100;
	e = xdp_endpoint(&FE[0][1], &s, &ret);
	CHECK(e >= 0, "IHL 15: not translated (verdict %u)", ret);
	return xdp_expect(&s, XDP_PASS_, &FE[0][1].eps[e]);
}

static int case_ipv6_ext(void)
{
	const struct t_fe *f = &FE[1][0];
	struct pkt_spec s;
	uint32_t ret;
	int e;

	flow(&s, fam_ip(6, CLIENT), 47000, fam_ip(6, FRONT), 80, PB_P_TCP);
	s.tcp_flags = PB_TCP_SYN;
	s.n_ext = 4;
	s.ext[0] = PB_NH_HOPOPTS;
	s.ext[1] = PB_NH_DSTOPTS;
	s.ext[2] = PB_NH_ROUTING;
	s.ext[3] = PB_NH_AH;
	s.ext_len[1] = 24;
	s.ext_len[3] = 16;
	e = xdp_endpoint(f, &s, &ret);
	CHECK(e >= 0, "4 ext headers: not translated (verdict %u)", ret);
	if (xdp_expect(&s, XDP_PASS_, &f->eps[e]))
		return -1;
	/* An atomic fragment (offset 0, no more fragments) is a whole packet. */
	flow(&s, fam_ip(6, CLIENT), 47001, fam_ip(6, FRONT), 80, PB_P_UDP);
	s.frag_hdr = true;
	s.frag_id = 99;
	e = xdp_endpoint(&FE[1][1], &s, &ret);
	CHECK(e >= 0, "atomic fragment: not translated (verdict %u)", ret);
	if (xdp_expect(&s, XDP_PASS_, &FE[1][1].eps[e]))
		return -1;
	/* Seven extension headers: beyond the walk, passed untouched. */
	flow(&s, fam_ip(6, CLIENT), 47002, fam_ip(6, FRONT), 80, PB_P_TCP);
	s.tcp_flags = PB_TCP_SYN;
	s.n_ext = 7;
	for (int i = 0; i < 7; i++)
		s.ext[i] = PB_NH_DSTOPTS;
	return xdp_expect(&s, XDP_PASS_, NULL);
}

static int case_fragments(void)
{
	struct sl_xdp_stats s0 = stats(), s1;
	uint8_t pl[64];
	struct pkt_spec s;

	memset(pl, 0xab, sizeof(pl));
	for (int fam = 4; fam <= 6; fam += 2) {
		/* First fragment of a service flow: untouched. */
		flow(&s, fam_ip(fam, CLIENT), 48000, fam_ip(fam, FRONT), 80, PB_P_UDP);
		s.more_frags = true;
		s.frag_id = 5;
		s.ip_id = 5;
		s.payload = pl;
		s.payload_len = sizeof(pl);
		if (xdp_expect(&s, XDP_PASS_, NULL))
			return -1;
		/* A later one: no ports at all. */
		s.frag_off = 9;
		s.more_frags = false;
		if (xdp_expect(&s, XDP_PASS_, NULL))
			return -1;
		s.more_frags = true;
		if (xdp_expect(&s, XDP_PASS_, NULL))
			return -1;
	}
	s1 = stats();
	CHECK(s1.fragments - s0.fragments == 6, "fragments +%llu, want +6",
	      (unsigned long long)(s1.fragments - s0.fragments));
	CHECK(s1.new_flows == s0.new_flows, "a fragment made a flow");
	return 0;
}

static int case_icmp(void)
{
	uint8_t inner[128];
	struct pkt_spec s, q;
	size_t n;

	for (int fam = 4; fam <= 6; fam += 2) {
		flow(&s, fam_ip(fam, CLIENT), 0, fam_ip(fam, FRONT), 0,
		     fam == 4 ? PB_P_ICMP : PB_P_ICMPV6);
		s.icmp_type = fam == 4 ? 8 : 128;
		s.icmp_id = 0x1234;
		s.icmp_seq = 1;
		if (xdp_expect(&s, XDP_PASS_, NULL))
			return -1;
		/* A client-side router's "packet too big" about a reply the
		 * client never got (frontend -> client): to the frontend. */
		flow(&q, fam_ip(fam, FRONT), 80, fam_ip(fam, CLIENT), 49000, PB_P_TCP);
		q.tcp_flags = PB_TCP_ACK;
		n = pkt_build_l3(&q, inner, sizeof(inner), NULL);
		flow(&s, fam_ip(fam, ROUTER), 0, fam_ip(fam, FRONT), 0,
		     fam == 4 ? PB_P_ICMP : PB_P_ICMPV6);
		s.icmp_type = fam == 4 ? 3 : 2;
		s.icmp_code = fam == 4 ? 4 : 0;
		s.icmp_rest = 1400;
		s.inner = inner;
		s.inner_len = n;
		if (xdp_expect(&s, XDP_PASS_, NULL))
			return -1;
	}
	return 0;
}

static int case_ejected(void)
{
	static const int alt[] = { 0, 1 };
	struct t_ep eps[2] = { { "10.2.0.1", 80 }, { "10.2.0.2", 80 } };
	struct sl_xdp_stats s0 = stats(), s1;
	struct timespec ts;
	struct pkt_spec s;
	struct t_fe f;
	uint32_t ret;

	CHECK(!add_fe(&f, "203.0.113.20", 80, PB_P_TCP, "10.96.20.1", eps, 2, 0, alt, 2),
	      "map update");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	CHECK(!set_ejected(&f, 0, (uint64_t)(ts.tv_sec + 3600) * 1000000000ull), "ep state");
	for (int i = 0; i < 60; i++) {
		int e;

		flow(&s, fam_ip(4, CLIENT), (uint16_t)(30000 + i), "203.0.113.20", 80, PB_P_TCP);
		s.tcp_flags = PB_TCP_SYN;
		e = xdp_endpoint(&f, &s, &ret);
		CHECK(e == 1, "flow %d went to endpoint %d (verdict %u)", i, e, ret);
	}
	s1 = stats();
	CHECK(s1.ejected_skipped > s0.ejected_skipped, "ejected_skipped not counted");
	/* Ejection over: the ejected endpoint gets new flows again. */
	CHECK(!set_ejected(&f, 0, 1), "ep state");
	for (int i = 0, got0 = 0; i < 60; i++) {
		flow(&s, fam_ip(4, CLIENT), (uint16_t)(31000 + i), "203.0.113.20", 80, PB_P_TCP);
		s.tcp_flags = PB_TCP_SYN;
		got0 += xdp_endpoint(&f, &s, &ret) == 0;
		CHECK(i < 59 || got0 > 10, "after the ejection endpoint 0 got %d of 60", got0);
	}
	return 0;
}

static int case_conn_limit(void)
{
	struct t_ep ep = { "10.3.0.1", 80 };
	struct sl_xdp_stats s0 = stats(), s1;
	struct sl_group_state gs;
	struct pkt_spec s;
	struct t_fe f;
	struct t_fe fu;

	CHECK(!add_fe(&f, "203.0.113.30", 80, PB_P_TCP, "10.96.30.1", &ep, 1, 2, NULL, 0),
	      "map update");
	for (int i = 0; i < 2; i++) {
		flow(&s, fam_ip(4, CLIENT), (uint16_t)(32000 + i), "203.0.113.30", 80, PB_P_TCP);
		s.tcp_flags = PB_TCP_SYN;
		if (xdp_expect(&s, XDP_PASS_, &f.eps[0]))
			return -1;
	}
	/* A retransmitted SYN of a tracked flow takes no second unit. */
	if (xdp_expect(&s, XDP_PASS_, &f.eps[0]))
		return -1;
	flow(&s, fam_ip(4, CLIENT), 32002, "203.0.113.30", 80, PB_P_TCP);
	s.tcp_flags = PB_TCP_SYN;
	if (xdp_expect(&s, XDP_DROP_, NULL))
		return -1;
	s1 = stats();
	CHECK(!group_state(&f, &gs), "no group state");
	CHECK(gs.active == 2 && gs.overflow == 1, "active %lld overflow %llu, want 2 and 1",
	      (long long)gs.active, (unsigned long long)gs.overflow);
	CHECK(s1.drops[SL_DROP_CONN_LIMIT] - s0.drops[SL_DROP_CONN_LIMIT] == 1,
	      "drops[CONN_LIMIT] not counted once");
	/* UDP is never counted. */
	CHECK(!add_fe(&fu, "203.0.113.31", 53, PB_P_UDP, "10.96.31.1", &ep, 1, 1, NULL, 0),
	      "map update");
	for (int i = 0; i < 3; i++) {
		flow(&s, fam_ip(4, CLIENT), (uint16_t)(32100 + i), "203.0.113.31", 53, PB_P_UDP);
		if (xdp_expect(&s, XDP_PASS_, &fu.eps[0]))
			return -1;
	}
	return 0;
}

/* The flow's endpoint leaves the ring: the flow stays, new flows move. A
 * closed connection's tuple reused by a new SYN is a new flow. */
static int case_ct_keeps(void)
{
	struct t_ep eps[2] = { { "10.4.0.1", 80 }, { "10.4.0.2", 80 } };
	struct sl_xdp_stats s0, s1;
	struct pkt_spec s;
	struct t_fe f;

	CHECK(!add_fe(&f, "203.0.113.40", 80, PB_P_TCP, "10.96.40.1", eps, 2, 0,
		      (const int[]){ 0 }, 1),
	      "map update");
	flow(&s, fam_ip(4, CLIENT), 33000, "203.0.113.40", 80, PB_P_TCP);
	s.tcp_flags = PB_TCP_SYN;
	if (xdp_expect(&s, XDP_PASS_, &f.eps[0]))
		return -1;
	CHECK(!ring_all(&f, 1), "ring update");
	s.tcp_flags = PB_TCP_ACK;
	if (xdp_expect(&s, XDP_PASS_, &f.eps[0]))
		return -1;
	flow(&s, fam_ip(4, CLIENT), 33001, "203.0.113.40", 80, PB_P_TCP);
	s.tcp_flags = PB_TCP_SYN;
	if (xdp_expect(&s, XDP_PASS_, &f.eps[1]))
		return -1;
	/* RST from the client closes the first flow; its next SYN is new. */
	flow(&s, fam_ip(4, CLIENT), 33000, "203.0.113.40", 80, PB_P_TCP);
	s.tcp_flags = PB_TCP_RST;
	if (xdp_expect(&s, XDP_PASS_, &f.eps[0]))
		return -1;
	s0 = stats();
	s.tcp_flags = PB_TCP_SYN;
	if (xdp_expect(&s, XDP_PASS_, &f.eps[1]))
		return -1;
	s1 = stats();
	CHECK(s1.ct_reselect == s0.ct_reselect + 1, "ct_reselect not counted");
	/* A mid-flow packet with no entry: chosen by the ring, tracked. */
	flow(&s, fam_ip(4, CLIENT), 33002, "203.0.113.40", 80, PB_P_TCP);
	s.tcp_flags = PB_TCP_ACK;
	if (xdp_expect(&s, XDP_PASS_, &f.eps[1]))
		return -1;
	CHECK(stats().ct_reselect == s1.ct_reselect + 1, "mid-flow pick-up not counted");
	return 0;
}

static int case_no_backend(void)
{
	struct sl_xdp_stats s0 = stats(), s1;
	struct pkt_spec s;
	struct t_fe f;

	CHECK(!add_fe(&f, "203.0.113.50", 80, PB_P_TCP, "10.96.50.1", NULL, 0, 0, NULL, 0),
	      "map update");
	flow(&s, fam_ip(4, CLIENT), 34000, "203.0.113.50", 80, PB_P_TCP);
	s.tcp_flags = PB_TCP_SYN;
	if (xdp_expect(&s, XDP_DROP_, NULL))
		return -1;
	s1 = stats();
	CHECK(s1.drops[SL_DROP_NO_BACKEND] == s0.drops[SL_DROP_NO_BACKEND] + 1,
	      "drops[NO_BACKEND] not counted");
	return 0;
}

/* A UDP payload that makes the translated packet's checksum compute to 0,
 * which goes on the wire as 0xffff (0 would mean "no checksum"): XDP and
 * TC must write 0xffff, as a full computation does. */
static int case_udp_csum_zero(int fam)
{
	struct t_ep ep = { fam == 4 ? "10.7.0.1" : "fd00:7::1", 5353 };
	uint8_t pl[8] = { 0 }, buf[MAXPKT];
	struct pkt_layout lo;
	struct pkt_spec s, e, r;
	struct t_fe f;

	CHECK(!add_fe(&f, fam == 4 ? "203.0.113.80" : "2001:db8:f::80", 53, PB_P_UDP,
		      fam == 4 ? "10.96.80.1" : "fd96::80:1", &ep, 1, 0, NULL, 0),
	      "map update");
	flow(&s, fam_ip(fam, CLIENT), 39000, fam == 4 ? "203.0.113.80" : "2001:db8:f::80", 53,
	     PB_P_UDP);
	s.payload = pl;
	s.payload_len = sizeof(pl);
	e = s;
	spec_dst(&e, &f.eps[0]);
	CHECK(pkt_build(&e, buf, sizeof(buf), &lo), "build");
	memcpy(pl, buf + lo.l4 + 6, 2); /* adding ~sum to the sum gives -0 */
	CHECK(pkt_build(&e, buf, sizeof(buf), &lo) && pkt_get16(buf + lo.l4 + 6) == 0xffff,
	      "test packet does not sum to 0 (0x%04x)", pkt_get16(buf + lo.l4 + 6));
	if (xdp_expect(&s, XDP_PASS_, &f.eps[0])) {
		strncat(why, " (XDP)", sizeof(why) - strlen(why) - 1);
		return -1;
	}
	/* The reply the other way: src endpoint -> client, same payload trick. */
	flow(&r, fam == 4 ? "10.7.0.1" : "fd00:7::1", 5353, fam_ip(fam, CLIENT), 39000,
	     PB_P_UDP);
	memset(pl, 0, sizeof(pl));
	r.payload = pl;
	r.payload_len = sizeof(pl);
	e = r;
	spec_src(&e, &f.fe);
	CHECK(pkt_build(&e, buf, sizeof(buf), &lo), "build");
	memcpy(pl, buf + lo.l4 + 6, 2);
	CHECK(pkt_build(&e, buf, sizeof(buf), &lo) && pkt_get16(buf + lo.l4 + 6) == 0xffff,
	      "reply does not sum to 0");
	return tc_expect(&r, TC_OK, &f.fe);
}

/* Replies of a tracked flow through TC: source back to the frontend. */
static int case_tc_reply(int fam, uint8_t proto, bool udp_zero)
{
	const struct t_fe *f = &FE[fam == 6][proto == PB_P_UDP];
	struct sl_xdp_stats s0, s1;
	uint8_t pl[] = "HTTP/1.0 200 OK\r\n";
	uint16_t cport = (uint16_t)(35000 + fam * 10 + proto + udp_zero);
	struct pkt_spec s, r;
	uint32_t ret;
	int e;

	flow(&s, fam_ip(fam, CLIENT), cport, fam_ip(fam, FRONT), 80, proto);
	s.tcp_flags = PB_TCP_SYN;
	e = xdp_endpoint(f, &s, &ret);
	CHECK(e >= 0, "forward packet not translated (%u)", ret);
	s0 = stats();
	flow(&r, fam_ip(fam, EP_A), 0, fam_ip(fam, CLIENT), cport, proto);
	spec_src(&r, &f->eps[e]);
	r.tcp_flags = PB_TCP_SYN | PB_TCP_ACK;
	r.payload = pl;
	r.payload_len = sizeof(pl) - 1;
	r.udp_zero_csum = udp_zero;
	if (tc_expect(&r, TC_OK, &f->fe))
		return -1;
	s1 = stats();
	CHECK(s1.rnat == s0.rnat + 1, "rnat not counted");
	/* VLAN-tagged, with IPv4 options / IPv6 extension headers. */
	r.vlan = true;
	r.vlan_tci = 42;
	if (fam == 4) {
		r.ip_opts = (const uint8_t *)"\x01\x01\x01\x00";
		r.ip_opts_len = 4;
	} else {
		r.n_ext = 1;
		r.ext[0] = PB_NH_DSTOPTS;
	}
	if (tc_expect(&r, TC_OK, &f->fe))
		return -1;
	/* Not a tracked reply (other client port): untouched. */
	r.dport = (uint16_t)(cport + 1000);
	return tc_expect(&r, TC_OK, NULL);
}

/* ICMP errors about a NATed flow on their way to the client. */
static int case_tc_icmp(int fam)
{
	const struct t_fe *f = &FE[fam == 6][1];
	uint8_t qin[256], qout[256], in[MAXPKT], out[MAXPKT], exp[MAXPKT];
	uint8_t pl[40];
	struct pkt_spec s, q, e;
	size_t qn, n, en, outlen;
	uint32_t ret;
	char d[160], v[160];
	int ep, err;

	memset(pl, 0x5a, sizeof(pl));
	flow(&s, fam_ip(fam, CLIENT), 36000, fam_ip(fam, FRONT), 80, PB_P_UDP);
	s.payload = pl;
	s.payload_len = sizeof(pl);
	ep = xdp_endpoint(f, &s, &ret);
	CHECK(ep >= 0, "forward packet not translated (%u)", ret);
	for (int from_ep = 0; from_ep < 2; from_ep++) {
		/* The quoted packet as the endpoint saw it, and as the client
		 * sent it. */
		q = s;
		spec_dst(&q, &f->eps[ep]);
		qn = pkt_build_l3(&q, qin, sizeof(qin), NULL);
		pkt_build_l3(&s, qout, sizeof(qout), NULL);
		flow(&e, fam_ip(fam, ROUTER), 0, fam_ip(fam, CLIENT), 0,
		     fam == 4 ? PB_P_ICMP : PB_P_ICMPV6);
		if (from_ep)
			spec_src(&e, &f->eps[ep]);
		e.sport = e.dport = 0;
		e.icmp_type = fam == 4 ? 3 : (from_ep ? 1 : 2);
		e.icmp_code = fam == 4 ? (from_ep ? 3 : 4) : (from_ep ? 4 : 0);
		e.icmp_rest = from_ep ? 0 : 1280;
		e.inner = qin;
		/* The router quotes only 28/48 bytes: UDP checksum included. */
		e.inner_len = from_ep ? qn : (fam == 4 ? 28u : 48u);
		n = pkt_build(&e, in, sizeof(in), NULL);
		err = run_tc(in, n, out, &outlen, &ret);
		CHECK(!err && ret == TC_OK, "test run %d verdict %u", err, ret);
		if (from_ep)
			spec_src(&e, &f->fe);
		e.inner = qout;
		en = pkt_build(&e, exp, sizeof(exp), NULL);
		pkt_diff(out, outlen, exp, en, d, sizeof(d));
		CHECK(outlen == en && !memcmp(out, exp, en), "%s: output differs: %s",
		      from_ep ? "from endpoint" : "from router", d);
		CHECK(!pkt_verify(out, outlen, v, sizeof(v)), "output checksums: %s", v);
	}
	return 0;
}

/* FIN both ways or RST gives the connection-limit unit back, once. */
static int case_fin_rst(void)
{
	struct t_ep ep = { "10.5.0.1", 80 };
	struct sl_group_state gs;
	struct pkt_spec s, r;
	struct t_fe f;

	CHECK(!add_fe(&f, "203.0.113.60", 80, PB_P_TCP, "10.96.60.1", &ep, 1, 10, NULL, 0),
	      "map update");
	for (int i = 0; i < 3; i++) {
		flow(&s, fam_ip(4, CLIENT), (uint16_t)(37000 + i), "203.0.113.60", 80, PB_P_TCP);
		s.tcp_flags = PB_TCP_SYN;
		if (xdp_expect(&s, XDP_PASS_, &f.eps[0]))
			return -1;
	}
	CHECK(!group_state(&f, &gs) && gs.active == 3, "active %lld after 3 SYNs",
	      (long long)gs.active);
	/* Flow 0: FIN from the client (XDP), FIN from the endpoint (TC). */
	flow(&s, fam_ip(4, CLIENT), 37000, "203.0.113.60", 80, PB_P_TCP);
	s.tcp_flags = PB_TCP_FIN | PB_TCP_ACK;
	if (xdp_expect(&s, XDP_PASS_, &f.eps[0]))
		return -1;
	CHECK(!group_state(&f, &gs) && gs.active == 3, "one FIN released (active %lld)",
	      (long long)gs.active);
	flow(&r, "10.5.0.1", 80, fam_ip(4, CLIENT), 37000, PB_P_TCP);
	r.tcp_flags = PB_TCP_FIN | PB_TCP_ACK;
	if (tc_expect(&r, TC_OK, &f.fe))
		return -1;
	CHECK(!group_state(&f, &gs) && gs.active == 2, "FIN both ways: active %lld, want 2",
	      (long long)gs.active);
	/* Flow 1: RST from the endpoint, twice; then a late FIN. */
	flow(&r, "10.5.0.1", 80, fam_ip(4, CLIENT), 37001, PB_P_TCP);
	r.tcp_flags = PB_TCP_RST;
	for (int i = 0; i < 2; i++)
		if (tc_expect(&r, TC_OK, &f.fe))
			return -1;
	flow(&s, fam_ip(4, CLIENT), 37001, "203.0.113.60", 80, PB_P_TCP);
	s.tcp_flags = PB_TCP_FIN | PB_TCP_ACK;
	if (xdp_expect(&s, XDP_PASS_, &f.eps[0]))
		return -1;
	CHECK(!group_state(&f, &gs) && gs.active == 1, "RST: active %lld, want 1",
	      (long long)gs.active);
	/* Flow 2: RST from the client. */
	flow(&s, fam_ip(4, CLIENT), 37002, "203.0.113.60", 80, PB_P_TCP);
	s.tcp_flags = PB_TCP_RST;
	if (xdp_expect(&s, XDP_PASS_, &f.eps[0]))
		return -1;
	CHECK(!group_state(&f, &gs) && gs.active == 0, "client RST: active %lld, want 0",
	      (long long)gs.active);
	return 0;
}

static int run_gc(struct t_gc_ctx *g)
{
	/* Syscall programs take no ctx_out: the kernel copies ctx back into
	 * ctx_in. */
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = g, .ctx_size_in = sizeof(*g));

	if (bpf_prog_test_run_opts(bpf_program__fd(X->progs.sl_ct_gc), &o))
		return -errno;
	return (int)o.retval;
}

static int case_gc(void)
{
	struct t_ep ep = { "10.6.0.1", 80 };
	struct sl_group_state gs;
	struct t_gc_ctx g;
	struct timespec ts;
	struct pkt_spec s;
	struct t_fe f;
	int ct0, rn0, err;

	map_clear(mfd(X->maps.sl_ct));
	map_clear(mfd(X->maps.sl_rnat));
	CHECK(!add_fe(&f, "203.0.113.70", 80, PB_P_TCP, "10.96.70.1", &ep, 1, 0, NULL, 0),
	      "map update");
	for (int i = 0; i < 5; i++) {
		flow(&s, fam_ip(4, CLIENT), (uint16_t)(38000 + i), "203.0.113.70", 80, PB_P_TCP);
		s.tcp_flags = PB_TCP_SYN;
		if (xdp_expect(&s, XDP_PASS_, &f.eps[0]))
			return -1;
	}
	ct0 = map_count(mfd(X->maps.sl_ct), sizeof(struct sl_tuple));
	rn0 = map_count(mfd(X->maps.sl_rnat), sizeof(struct sl_tuple));
	CHECK(ct0 == 5 && rn0 == 5, "%d ct and %d rnat entries, want 5", ct0, rn0);
	/* Not idle yet: nothing goes. */
	memset(&g, 0, sizeof(g));
	g.tcp_idle_ns = 3600ull * 1000000000;
	g.udp_idle_ns = 60ull * 1000000000;
	err = run_gc(&g);
	CHECK(err == 0 && g.removed == 0 && g.scanned == 5, "gc: %d removed %u scanned %u", err,
	      g.removed, g.scanned);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	g.now_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + 7200ull * 1000000000;
	err = run_gc(&g);
	CHECK(err == 0 && g.removed == 5 && g.released == 5, "gc: %d removed %u released %u",
	      err, g.removed, g.released);
	CHECK(map_count(mfd(X->maps.sl_ct), sizeof(struct sl_tuple)) == 0 &&
		      map_count(mfd(X->maps.sl_rnat), sizeof(struct sl_tuple)) == 0,
	      "entries left after gc");
	CHECK(!group_state(&f, &gs) && gs.active == 0, "active %lld after gc",
	      (long long)gs.active);
	return 0;
}

/* ---- mutations ---- */

struct t_view {
	int family;
	uint8_t proto;
	size_t l3, l4; /* l4 0: none */
	const uint8_t *saddr, *daddr;
};

/* Lenient parse (no checksum checks) of the headers the programs read. */
static int view(const uint8_t *b, size_t n, struct t_view *v)
{
	size_t off = 14;
	uint16_t et;

	memset(v, 0, sizeof(*v));
	if (n < 14)
		return -1;
	et = pkt_get16(b + 12);
	if (et == 0x8100 || et == 0x88a8) {
		if (n < 18)
			return -1;
		et = pkt_get16(b + 16);
		off = 18;
	}
	v->l3 = off;
	if (et == 0x0800 && n >= off + 20) {
		size_t ihl = (size_t)(b[off] & 15) * 4;

		v->family = 4;
		v->proto = b[off + 9];
		v->saddr = b + off + 12;
		v->daddr = b + off + 16;
		if (!(pkt_get16(b + off + 6) & 0x1fff))
			v->l4 = off + ihl;
		return 0;
	}
	if (et == 0x86dd && n >= off + 40) {
		uint8_t nh = b[off + 6];
		size_t p = off + 40;
		bool later = false;

		v->family = 6;
		v->saddr = b + off + 8;
		v->daddr = b + off + 24;
		for (int i = 0; i < 8 && p + 8 <= n; i++) {
			if (nh == 44) {
				later = (pkt_get16(b + p + 2) & 0xfff8) != 0;
				nh = b[p];
				p += 8;
			} else if (nh == 51) {
				size_t l = ((size_t)b[p + 1] + 2) * 4;
				nh = b[p];
				p += l;
			} else if (nh == 0 || nh == 43 || nh == 60) {
				size_t l = ((size_t)b[p + 1] + 1) * 8;
				nh = b[p];
				p += l;
			} else {
				break;
			}
		}
		v->proto = nh;
		v->l4 = later ? 0 : p;
		return 0;
	}
	return -1;
}

static bool is_frontend(const uint8_t *addr, int family, const uint8_t *port, uint8_t proto)
{
	struct sl_ingress_key k;
	struct sl_ingress_val iv;
	struct sl_node_addr na;
	__u32 one;

	memset(&k, 0, sizeof(k));
	memcpy(k.fe.addr, addr, family == 4 ? 4 : 16);
	memcpy(&k.fe.port, port, 2);
	k.fe.proto = proto;
	k.fe.family = (uint8_t)family;
	if (!bpf_map_lookup_elem(mfd(X->maps.sl_ingress), &k, &iv))
		return true;
	memset(&na, 0, sizeof(na));
	memcpy(na.addr, addr, family == 4 ? 4 : 16);
	na.family = (uint8_t)family;
	if (bpf_map_lookup_elem(mfd(X->maps.sl_node_addrs), &na, &one))
		return false;
	memset(k.fe.addr, 0, sizeof(k.fe.addr));
	return !bpf_map_lookup_elem(mfd(X->maps.sl_ingress), &k, &iv);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static size_t mutate(uint8_t *b, size_t n)
{
	int k = 1 + (int)(rnd() % 4);

	switch (rnd() % 4) {
	case 0: /* truncate */
		return rnd() % (n + 1);
	case 1: /* header bytes */
		for (int i = 0; i < k; i++)
			b[rnd() % (n < 96 ? n : 96)] = (uint8_t)rnd();
		return n;
	case 2: /* bit flips anywhere */
		for (int i = 0; i < k; i++)
			b[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
		return n;
	default: /* both */
		b[rnd() % (n < 64 ? n : 64)] = (uint8_t)rnd();
		return n - rnd() % (n / 4 + 1);
	}
}

/* The XDP output differs from its input only in a frontend packet's
 * destination, or the TC output only in a reply's source / an ICMP
 * error's quoted destination, and then the frontend is a real one. */
static int check_rewrite(bool xdp, const uint8_t *in, const uint8_t *out, size_t n)
{
	struct t_view v;

	if (!memcmp(in, out, n))
		return 0;
	CHECK(!view(in, n, &v) && v.l4 && v.l4 + 4 <= n, "rewrote an unparsable packet");
	if (xdp) {
		CHECK(is_frontend(v.daddr, v.family, in + v.l4 + 2, v.proto),
		      "rewrote a packet not to a frontend");
		return 0;
	}
	if (v.proto == PB_P_TCP || v.proto == PB_P_UDP) {
		struct t_view o;

		CHECK(!view(out, n, &o) && is_frontend(o.saddr, o.family, out + o.l4, o.proto),
		      "reply source rewritten to a non-frontend");
		return 0;
	}
	if (v.proto == PB_P_ICMP || v.proto == PB_P_ICMPV6) {
		struct t_view iv;
		uint8_t eth[MAXPKT];
		size_t qn;

		CHECK(v.l4 + 8 <= n, "rewrote a cut ICMP header");
		qn = n - v.l4 - 8;
		/* The quoted packet, given an Ethernet header for view(). */
		memcpy(eth, out, 14);
		pkt_put16(eth + 12, v.family == 4 ? 0x0800 : 0x86dd);
		memcpy(eth + 14, out + v.l4 + 8, qn);
		CHECK(!view(eth, qn + 14, &iv) && iv.l4 && iv.l4 + 4 <= qn + 14 &&
			      is_frontend(iv.daddr, iv.family, eth + iv.l4 + 2, iv.proto),
		      "ICMP error rewritten to a non-frontend");
		return 0;
	}
	CHECK(0, "rewrote protocol %u", v.proto);
}

/* The kernel refuses to test-run TC on an IP frame shorter than its
 * minimal IP header (EINVAL), as no such skb can exist. */
static bool tc_refuses(const uint8_t *b, size_t n)
{
	uint16_t et = pkt_get16(b + 12);

	return (et == 0x0800 && n < 14 + 20) || (et == 0x86dd && n < 14 + 40);
}

static int case_mutations(void)
{
	uint8_t seeds[16][MAXPKT], in[MAXPKT], out[MAXPKT], q[256];
	size_t sl[16], ns = 0;
	struct pkt_spec s;
	uint8_t pl[32];
	const struct t_fe *fu = &FE[0][1];
	int rw_xdp = 0, rw_tc = 0;

	memset(pl, 7, sizeof(pl));
	for (int fam = 4; fam <= 6; fam += 2) {
		for (int pi = 0; pi < 2; pi++) {
			uint8_t proto = pi ? PB_P_UDP : PB_P_TCP;

			flow(&s, fam_ip(fam, CLIENT), 50000, fam_ip(fam, FRONT), 80, proto);
			s.tcp_flags = PB_TCP_SYN;
			s.payload = pl;
			s.payload_len = sizeof(pl);
			if (fam == 4) {
				s.ip_opts = (const uint8_t *)"\x01\x01\x01\x00";
				s.ip_opts_len = 4;
			} else {
				s.n_ext = 1;
				s.ext[0] = PB_NH_HOPOPTS;
			}
			sl[ns] = pkt_build(&s, seeds[ns], MAXPKT, NULL);
			ns++;
			/* Its reply, tracked after the first XDP run below. */
			flow(&s, fam_ip(fam, EP_A), 8080, fam_ip(fam, CLIENT), 50000, proto);
			sl[ns] = pkt_build(&s, seeds[ns], MAXPKT, NULL);
			ns++;
		}
		flow(&s, fam_ip(fam, CLIENT), 50001, fam_ip(fam, NODE), 30080, PB_P_TCP);
		s.tcp_flags = PB_TCP_SYN;
		s.vlan = true;
		sl[ns] = pkt_build(&s, seeds[ns], MAXPKT, NULL);
		ns++;
	}
	/* An ICMP error about a tracked UDP flow (client -> endpoint A). */
	flow(&s, fam_ip(4, CLIENT), 50000, fam_ip(4, EP_A), 8080, PB_P_UDP);
	s.payload = pl;
	s.payload_len = sizeof(pl);
	{
		size_t qn = pkt_build_l3(&s, q, sizeof(q), NULL);

		flow(&s, fam_ip(4, EP_A), 0, fam_ip(4, CLIENT), 0, PB_P_ICMP);
		s.icmp_type = 3;
		s.icmp_code = 3;
		s.inner = q;
		s.inner_len = qn;
		sl[ns] = pkt_build(&s, seeds[ns], MAXPKT, NULL);
		ns++;
	}
	/* Track the seeds' flows so that replies are translated; make the
	 * UDP flows land on endpoint A by pointing their rings at it. */
	CHECK(!ring_all(fu, 0) && !ring_all(&FE[1][1], 0) && !ring_all(&FE[0][0], 0) &&
		      !ring_all(&FE[1][0], 0),
	      "ring update");
	for (size_t i = 0; i < ns; i++) {
		size_t outlen;
		uint32_t ret;

		CHECK(sl[i], "seed %zu not built", i);
		memcpy(in, seeds[i], sl[i]);
		CHECK(!run_xdp(in, sl[i], out, &outlen, &ret), "seed %zu: test run", i);
	}
	for (int it = 0; it < 20000; it++) {
		size_t i = rnd() % ns, n, outlen;

		uint32_t ret;
		int err;

		memcpy(in, seeds[i], sl[i]);
		n = mutate(in, sl[i]);
		if (n < PB_ETH_LEN)
			continue;
		err = run_xdp(in, n, out, &outlen, &ret);
		CHECK(!err, "iteration %d: xdp test run: %s", it, strerror(-err));
		CHECK(ret == XDP_PASS_ || ret == XDP_DROP_ || ret == XDP_TX_ || ret == XDP_REDIRECT_,
		      "iteration %d: xdp verdict %u", it, ret);
		CHECK(outlen == n, "iteration %d: xdp changed the length", it);
		rw_xdp += memcmp(in, out, n) != 0;
		if (check_rewrite(true, in, out, n)) {
			snprintf(why + strlen(why), sizeof(why) - strlen(why), " (iteration %d)",
				 it);
			return -1;
		}
		err = run_tc(in, n, out, &outlen, &ret);
		if (err == -EINVAL && tc_refuses(in, n))
			continue;
		CHECK(!err, "iteration %d: tc test run: %s (len %zu, seed %zu)", it, strerror(-err),
		      n, i);
		CHECK(ret == TC_OK || ret == TC_SHOT, "iteration %d: tc verdict %u", it, ret);
		CHECK(outlen == n, "iteration %d: tc changed the length", it);
		rw_tc += memcmp(in, out, n) != 0;
		if (check_rewrite(false, in, out, n)) {
			snprintf(why + strlen(why), sizeof(why) - strlen(why), " (iteration %d)",
				 it);
			return -1;
		}
	}
	/* Else the checks above were vacuous. */
	CHECK(rw_xdp > 1000 && rw_tc > 1000, "only %d XDP and %d TC rewrites", rw_xdp, rw_tc);
	return 0;
}

/* ---- setup ---- */

static int share_maps(struct bpf_object *obj)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj) {
		struct bpf_map *src;

		if (bpf_map__is_internal(m))
			continue;
		src = bpf_object__find_map_by_name(X->obj, bpf_map__name(m));
		if (!src)
			continue;
		if (bpf_map__reuse_fd(m, bpf_map__fd(src)))
			return -1;
	}
	return 0;
}

static int setup(void)
{
	struct sl_config cfg;
	__u32 zero = 0;

	X = xdp_lb__open();
	if (!X)
		return -errno;
	if (xdp_lb__load(X))
		return -errno;
	T = tc_nat__open();
	if (!T)
		return -errno;
	if (share_maps(T->obj))
		return -errno;
	if (tc_nat__load(T))
		return -errno;
	memset(&cfg, 0, sizeof(cfg));
	cfg.magic = SL_ABI_MAGIC;
	cfg.abi_version = SL_ABI_VERSION;
	cfg.active_slot = 0;
	if (bpf_map_update_elem(mfd(X->maps.sl_config), &zero, &cfg, BPF_ANY))
		return -errno;
	return setup_frontends();
}

/* Can this kernel test-run XDP at all? */
static bool have_xdp_test_run(void)
{
	uint8_t in[64] = { 0 }, out[MAXPKT];
	size_t outlen;
	uint32_t ret;
	int err = run_xdp(in, sizeof(in), out, &outlen, &ret);

	return err != -EOPNOTSUPP && err != -524; /* ENOTSUPP */
}

/* rodata xdp_redirect = 1, in a network namespace of our own where the
 * endpoint is reached through a veth: translated packets are
 * redirected with the route's MACs and the TTL decremented; when that
 * interface is a pod interface (it has sl_pod_totals), or the neighbour is
 * unknown, they are passed to the stack instead. The process stays in the
 * namespace: this case runs last. */
static int case_redirect(int fam)
{
	static struct xdp_lb *R;
	static const uint8_t nmac[6] = { 0x02, 0, 0, 0, 0, 0x05 };
	static const uint8_t dmac[6] = { 0x02, 0, 0, 0, 0xaa, 0x01 };
	const char *ep_ip = fam == 4 ? "10.250.0.5" : "fd25::5";
	struct t_ep eps[2] = { { ep_ip, 8080 }, { fam == 4 ? "10.250.0.6" : "fd25::6", 8080 } };
	struct pkt_spec s;
	struct t_fe f;
	struct sl_pod_totals *tot;
	__u32 ifx;

	if (!R) {
		if (unshare(CLONE_NEWNET))
			CHECK(0, "unshare: %s", strerror(errno));
		if (system("ip link set lo up && ip link add sltd0 type veth peer name sltd1 && ip link set sltd1 up && "
			   "ip link set sltd0 address 02:00:00:00:aa:01 up && "
			   "ip addr add 10.250.0.1/24 dev sltd0 && "
			   "ip -6 addr add fd25::1/64 dev sltd0 nodad && "
			   "ip neigh add 10.250.0.5 lladdr 02:00:00:00:00:05 dev sltd0 nud permanent && "
			   "ip -6 neigh add fd25::5 lladdr 02:00:00:00:00:05 dev sltd0 nud permanent && "
			   "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"))
			CHECK(0, "cannot set up the namespace (ip, sysctl)");
		R = xdp_lb__open();
		CHECK(R, "open");
		R->rodata->xdp_redirect = 1;
		CHECK(!share_maps(R->obj) && !xdp_lb__load(R), "load with xdp_redirect");
	}
	ifx = if_nametoindex("sltd0");
	CHECK(ifx, "no sltd0");
	/* Endpoint 0 has a neighbour, endpoint 1 not. */
	CHECK(!add_fe(&f, fam == 4 ? "203.0.113.90" : "2001:db8:f::90", 80, PB_P_TCP,
		      fam == 4 ? "10.96.90.1" : "fd96::90:1", eps, 2, 0, (const int[]){ 0 }, 1),
	      "map update");
	flow(&s, fam_ip(fam, CLIENT), 51000, fam == 4 ? "203.0.113.90" : "2001:db8:f::90", 80,
	     PB_P_TCP);
	s.tcp_flags = PB_TCP_SYN;
	{
		uint8_t in[MAXPKT], out[MAXPKT], exp[MAXPKT];
		struct pkt_spec e = s;
		size_t n = pkt_build(&s, in, sizeof(in), NULL), outlen, en;
		uint32_t ret;
		char d[160];

		CHECK(!run_prog(bpf_program__fd(R->progs.sl_xdp_lb), in, n, out, &outlen, &ret),
		      "test run");
		spec_dst(&e, &f.eps[0]);
		e.ttl = 63;
		memcpy(e.dmac, nmac, 6);
		memcpy(e.smac, dmac, 6);
		en = pkt_build(&e, exp, sizeof(exp), NULL);
		CHECK(ret == XDP_REDIRECT_, "verdict %u, want XDP_REDIRECT", ret);
		pkt_diff(out, outlen, exp, en, d, sizeof(d));
		CHECK(outlen == en && !memcmp(out, exp, en), "redirected packet differs: %s", d);
	}
	/* A pod interface: the stack must route it (TC of the pod). */
	tot = calloc((size_t)n_cpus, sizeof(*tot));
	CHECK(tot && !bpf_map_update_elem(mfd(X->maps.sl_pod_totals), &ifx, tot, BPF_ANY),
	      "pod totals");
	free(tot);
	{
		uint8_t in[MAXPKT], out[MAXPKT];
		size_t n = pkt_build(&s, in, sizeof(in), NULL), outlen;
		uint32_t ret;

		CHECK(!run_prog(bpf_program__fd(R->progs.sl_xdp_lb), in, n, out, &outlen, &ret) &&
			      ret == XDP_PASS_,
		      "pod interface: verdict %u, want XDP_PASS", ret);
	}
	bpf_map_delete_elem(mfd(X->maps.sl_pod_totals), &ifx);
	/* No neighbour for endpoint 1: the stack resolves it. */
	CHECK(!ring_all(&f, 1), "ring");
	flow(&s, fam_ip(fam, CLIENT), 51001, fam == 4 ? "203.0.113.90" : "2001:db8:f::90", 80,
	     PB_P_TCP);
	s.tcp_flags = PB_TCP_SYN;
	{
		uint8_t in[MAXPKT], out[MAXPKT];
		size_t n = pkt_build(&s, in, sizeof(in), NULL), outlen;
		uint32_t ret;

		CHECK(!run_prog(bpf_program__fd(R->progs.sl_xdp_lb), in, n, out, &outlen, &ret) &&
			      ret == XDP_PASS_,
		      "no neighbour: verdict %u, want XDP_PASS", ret);
	}
	return 0;
}

static const char *names[] = {
	"xdp_v4_tcp_syn_established",
	"xdp_v4_udp_new_established",
	"xdp_v6_tcp_syn_established",
	"xdp_v6_udp_new_established",
	"xdp_spread_over_ring",
	"xdp_nodeport_v4",
	"xdp_nodeport_v6",
	"xdp_not_service_untouched",
	"xdp_truncated_every_length",
	"xdp_ipv4_options",
	"xdp_ipv6_ext_headers",
	"xdp_fragments",
	"xdp_icmp_untouched",
	"xdp_ejected_endpoint_skipped",
	"xdp_connection_limit",
	"xdp_no_backend",
	"xdp_ct_keeps_flow_endpoint_leaves",
	"tc_reply_v4_tcp",
	"tc_reply_v4_udp",
	"tc_reply_v4_udp_zero_csum",
	"tc_reply_v6_tcp",
	"tc_reply_v6_udp",
	"tc_icmp_error_v4",
	"tc_icmp_error_v6",
	"fin_rst_release_count",
	"ct_gc_idle",
	"mutations_xdp_tc",
	"udp_csum_zero_result_v4",
	"udp_csum_zero_result_v6",
	"xdp_header_in_padding",
	"xdp_redirect_v4", /* these two enter a network namespace: last */
	"xdp_redirect_v6",
};

static int run_case(int i)
{
	switch (i) {
	case 0: return case_new_and_established(4, PB_P_TCP, 40000);
	case 1: return case_new_and_established(4, PB_P_UDP, 40001);
	case 2: return case_new_and_established(6, PB_P_TCP, 40002);
	case 3: return case_new_and_established(6, PB_P_UDP, 40003);
	case 4: return case_spread();
	case 5: return case_nodeport(4);
	case 6: return case_nodeport(6);
	case 7: return case_not_service();
	case 8: return case_truncated();
	case 9: return case_ip_options();
	case 10: return case_ipv6_ext();
	case 11: return case_fragments();
	case 12: return case_icmp();
	case 13: return case_ejected();
	case 14: return case_conn_limit();
	case 15: return case_no_backend();
	case 16: return case_ct_keeps();
	case 17: return case_tc_reply(4, PB_P_TCP, false);
	case 18: return case_tc_reply(4, PB_P_UDP, false);
	case 19: return case_tc_reply(4, PB_P_UDP, true);
	case 20: return case_tc_reply(6, PB_P_TCP, false);
	case 21: return case_tc_reply(6, PB_P_UDP, false);
	case 22: return case_tc_icmp(4);
	case 23: return case_tc_icmp(6);
	case 24: return case_fin_rst();
	case 25: return case_gc();
	case 26: return case_mutations();
	case 27: return case_udp_csum_zero(4);
	case 28: return case_udp_csum_zero(6);
	case 29: return case_header_in_padding();
	case 30: return case_redirect(4);
	case 31: return case_redirect(6);
	}
	return -1;
}

int main(int argc, char **argv)
{
	int n = (int)(sizeof(names) / sizeof(names[0])), err;
	const char *only = argc > 1 ? argv[1] : NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	n_cpus = libbpf_num_possible_cpus();
	err = setup();
	if (err) {
		for (int i = 0; i < n; i++)
			printf("FAIL %s: setup (root needed): %s\n", names[i], strerror(-err));
		return 1;
	}
	if (!have_xdp_test_run()) {
		for (int i = 0; i < n; i++)
			printf("skip %s: missing BPF_PROG_TEST_RUN for xdp (EOPNOTSUPP)\n", names[i]);
		return 0;
	}
	for (int i = 0; i < n; i++) {
		if (only && !strstr(names[i], only))
			continue;
		report(names[i], run_case(i));
	}
	tc_nat__destroy(T);
	xdp_lb__destroy(X);
	return failures ? 1 : 0;
}
