/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Shared by the node-ingress benchmarks (sl-xdp-cost, sl-xdp-rate): test
 * packets with correct checksums, and node-ingress policy written straight
 * into the maps of a loaded (not pinned) sl_xdp_lb object: sl_config,
 * sl_services, sl_backends, sl_ingress and weighted Maglev rings built by
 * the real ring builder (user/maglev.c).
 *
 * Frontend i (0-based) of a table is FE_BASE + i, port fe_port, kind
 * externalIP; its cluster frontend 10.96.0.1 + i; endpoint j of it
 * ep_base + i * neps + j, port 8080, weight j + 1 (the issue-2 benchmark's
 * 1, 2, 3, 4). Addresses are host-order integers here.
 */
#ifndef SL_BENCH_XDP_H
#define SL_BENCH_XDP_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sluice_abi.h"
#include "maglev.h"
#include "svctab.h"

#define SL_BENCH_PKT_MAX 128

/* ---- packets --------------------------------------------------------------- */

struct bench_flow {
	int family; /* 4 or 6 */
	int proto; /* IPPROTO_TCP or IPPROTO_UDP */
	uint32_t saddr, daddr; /* host order; IPv6: 2001:db8::/96 + this */
	uint16_t sport, dport; /* host order */
	uint8_t tcp_flags; /* TCP only */
	uint8_t smac[6], dmac[6];
	int udp_csum; /* UDP over IPv4: 0 = leave the checksum zero */
};

static inline uint32_t bench_sum(const void *p, size_t len, uint32_t s)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		s += (uint32_t)b[len - 1] << 8;
	return s;
}

static inline uint16_t bench_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static inline void bench_put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void bench_put32(uint8_t *p, uint32_t v)
{
	bench_put16(p, v >> 16);
	bench_put16(p + 2, v & 0xffff);
}

/* IPv6 addresses of the benchmark: 2001:db8::/96 plus the IPv4-style
 * number in the last 32 bits. */
static inline void bench_addr6(uint8_t *p, uint32_t a)
{
	memset(p, 0, 16);
	p[0] = 0x20;
	p[1] = 0x01;
	p[2] = 0x0d;
	p[3] = 0xb8;
	bench_put32(p + 12, a);
}

/* Offsets of the fields sl_bench_replay varies, for a packet from
 * bench_build(). */
struct bench_offs {
	uint32_t l3, l4, sport, saddr_lo, ip_csum, l4_csum;
};

static inline void bench_offsets(const struct bench_flow *f, struct bench_offs *o)
{
	o->l3 = 14;
	o->l4 = o->l3 + (f->family == 4 ? 20 : 40);
	o->sport = o->l4;
	o->saddr_lo = f->family == 4 ? o->l3 + 14 : o->l3 + 8 + 14;
	o->ip_csum = f->family == 4 ? o->l3 + 10 : 0;
	o->l4_csum = f->proto == IPPROTO_TCP ? o->l4 + 16 : o->l4 + 6;
	if (f->proto == IPPROTO_UDP && f->family == 4 && !f->udp_csum)
		o->l4_csum = 0;
}

/* Ethernet + IPv4/IPv6 + TCP (20 bytes, no options) or UDP, zero payload
 * up to LEN bytes in all. Returns LEN, or -EINVAL when it does not fit. */
static inline int bench_build(const struct bench_flow *f, uint8_t *pkt, size_t len)
{
	struct bench_offs o;
	size_t l4len, hl = f->proto == IPPROTO_TCP ? 20 : 8;
	uint32_t s;

	bench_offsets(f, &o);
	if (len > SL_BENCH_PKT_MAX || len < o.l4 + hl)
		return -EINVAL;
	memset(pkt, 0, len);
	l4len = len - o.l4;
	memcpy(pkt, f->dmac, 6);
	memcpy(pkt + 6, f->smac, 6);
	bench_put16(pkt + 12, f->family == 4 ? 0x0800 : 0x86dd);
	if (f->family == 4) {
		uint8_t *ip = pkt + o.l3;

		ip[0] = 0x45;
		bench_put16(ip + 2, (uint16_t)(20 + l4len));
		bench_put16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = (uint8_t)f->proto;
		bench_put32(ip + 12, f->saddr);
		bench_put32(ip + 16, f->daddr);
		bench_put16(ip + 10, bench_fold(bench_sum(ip, 20, 0)));
		s = bench_sum(ip + 12, 8, f->proto + (uint32_t)l4len);
	} else {
		uint8_t *ip = pkt + o.l3;

		ip[0] = 0x60;
		bench_put16(ip + 4, (uint16_t)l4len);
		ip[6] = (uint8_t)f->proto;
		ip[7] = 64;
		bench_addr6(ip + 8, f->saddr);
		bench_addr6(ip + 24, f->daddr);
		s = bench_sum(ip + 8, 32, f->proto + (uint32_t)l4len);
	}
	bench_put16(pkt + o.l4, f->sport);
	bench_put16(pkt + o.l4 + 2, f->dport);
	if (f->proto == IPPROTO_TCP) {
		bench_put32(pkt + o.l4 + 4, 1000); /* seq */
		bench_put32(pkt + o.l4 + 8, f->tcp_flags & 0x10 ? 2000 : 0);
		pkt[o.l4 + 12] = 5 << 4;
		pkt[o.l4 + 13] = f->tcp_flags;
		bench_put16(pkt + o.l4 + 14, 65535);
	} else {
		bench_put16(pkt + o.l4 + 4, (uint16_t)l4len);
	}
	if (o.l4_csum) {
		uint16_t c = bench_fold(bench_sum(pkt + o.l4, l4len, s));

		/* UDP sends a computed 0 as 0xffff (0 means "none"). */
		bench_put16(pkt + o.l4_csum, c || f->proto == IPPROTO_TCP ? c : 0xffff);
	}
	return (int)len;
}

/* ---- node-ingress tables ---------------------------------------------------- */

#define BENCH_FE_BASE 0xc6120001u /* 198.18.0.1: the benchmarking range */
#define BENCH_SVC_BASE 0x0a600001u /* 10.96.0.1 */
#define BENCH_EP_PORT 8080

struct bench_tables {
	int family, proto;
	uint16_t fe_port;
	uint32_t n_fe; /* frontends */
	uint32_t neps; /* endpoints per frontend, <= SL_MAX_GROUP_BACKENDS */
	uint32_t ep_base; /* first endpoint address */
	uint32_t max_conns; /* per service group, 0 = unlimited */
	uint32_t ring; /* out: the ring size M every frontend got */
};

static inline void bench_l4addr(struct sl_l4addr *a, int family, int proto, uint32_t addr,
				uint16_t port)
{
	memset(a, 0, sizeof(*a));
	if (family == 4) {
		a->addr[0] = htonl(addr);
		a->family = SL_AF_INET;
	} else {
		bench_addr6((uint8_t *)a->addr, addr);
		a->family = SL_AF_INET6;
	}
	a->port = htons(port);
	a->proto = (uint8_t)proto;
}

static inline int bench_map_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	if (!m) {
		fprintf(stderr, "no map %s in %s\n", name, bpf_object__name(obj));
		return -ENOENT;
	}
	return bpf_map__fd(m);
}

/* One frontend: its service (one group, all endpoints), backend rows
 * starting at ROW, and its ring at RING_OFF filled by sl_maglev_fill. */

/* The publisher's port bitmap (sl_fe_ports, slot 0). */
static int bench_fe_port_set(struct bpf_object *obj, const struct sl_l4addr *fe)
{
	int fd = bench_map_fd(obj, "sl_fe_ports");
	uint16_t port = ntohs(fe->port);
	uint32_t idx = sl_fe_port_word(0, fe->proto, port);
	uint64_t w = 0;

	bpf_map_lookup_elem(fd, &idx, &w);
	w |= 1ull << (port % 64);
	return bpf_map_update_elem(fd, &idx, &w, BPF_ANY);
}

static inline int bench_frontend(struct bpf_object *obj, const struct bench_tables *t,
				 uint32_t i, uint32_t row, uint32_t ring_off, uint32_t *cells)
{
	struct sl_maglev_ep eps[SL_MAX_GROUP_BACKENDS];
	struct sl_ingress_key ik;
	struct sl_ingress_val iv;
	struct sl_svc_key sk;
	struct sl_svc_val sv;
	struct sl_backend b;
	uint32_t cum = 0, j, idx;
	int err;

	memset(&sk, 0, sizeof(sk));
	memset(&sv, 0, sizeof(sv));
	bench_l4addr(&sk.fe, t->family, t->proto, BENCH_SVC_BASE + i, t->fe_port);
	for (j = 0; j < t->neps; j++) {
		memset(&b, 0, sizeof(b));
		bench_l4addr(&b.ep, t->family, t->proto, t->ep_base + i * t->neps + j, BENCH_EP_PORT);
		b.weight = j % 4 + 1;
		cum += b.weight;
		b.cum = cum;
		idx = row + j; /* slot 0 */
		err = bpf_map_update_elem(bench_map_fd(obj, "sl_backends"), &idx, &b, BPF_ANY);
		if (err)
			return err;
		eps[j].key = sl_maglev_key(&b.ep, sizeof(b.ep), 0);
		eps[j].weight = b.weight;
		eps[j].cell = row + j; /* group 0 */
	}
	sv.id = i;
	sv.n_groups = 1;
	sv.route_total = 100;
	sv.groups[0].first = row;
	sv.groups[0].count = (uint16_t)t->neps;
	sv.groups[0].weight = 100;
	sv.groups[0].total = cum;
	sv.groups[0].max_conns = t->max_conns;
	sv.groups[0].lb = SL_LB_LEAST_REQUEST;
	/* Service i takes row i of slot 0 (sk.slot is 0). */
	err = sl_svc_put((struct sl_svctab){ bench_map_fd(obj, "sl_services"),
					     bench_map_fd(obj, "sl_svc_index") },
			 &sk, &sv, &(__u32){ i });
	if (err)
		return err;
	err = sl_maglev_fill(eps, t->neps, t->ring, cells);
	if (err)
		return err;
	memset(&ik, 0, sizeof(ik));
	memset(&iv, 0, sizeof(iv));
	bench_l4addr(&ik.fe, t->family, t->proto, BENCH_FE_BASE + i, t->fe_port);
	iv.svc = sk.fe;
	iv.ring_off = ring_off;
	iv.ring_size = t->ring;
	iv.kind = SL_ING_EXTERNAL_IP;
	err = bpf_map_update_elem(bench_map_fd(obj, "sl_ingress"), &ik, &iv, BPF_ANY);
	return err ? err : bench_fe_port_set(obj, &ik.fe);
}

/* Ring size: what the compiler's ladder gives NEPS endpoints, or the
 * largest ladder size with which all N_FE rings fit SL_MAX_MAGLEV_CELLS
 * (10,000 frontends of 4 endpoints do not fit at 1021 cells each). */
static inline uint32_t bench_ring_size(uint32_t n_fe, uint32_t neps)
{
	uint32_t m = sl_maglev_size(neps, 0), smaller;

	while ((uint64_t)m * n_fe > SL_MAX_MAGLEV_CELLS) {
		/* The next size down the ladder: the one for fewer endpoints. */
		smaller = 0;
		for (uint32_t n = neps; n >= 1 && !smaller; n--)
			if (sl_maglev_size(n, 0) < m)
				smaller = sl_maglev_size(n, 0);
		if (!smaller)
			return 0;
		m = smaller;
	}
	return m;
}

/* Write the whole policy (slot 0) and sl_config. */
static inline int bench_fill(struct bpf_object *obj, struct bench_tables *t)
{
	struct sl_config cfg;
	uint32_t *cells, *keys, i, k, zero = 0, cnt;
	size_t total;
	int err = 0, fd;

	t->ring = bench_ring_size(t->n_fe, t->neps);
	if (!t->ring || t->neps == 0 || t->neps > SL_MAX_GROUP_BACKENDS ||
	    (uint64_t)t->n_fe * t->neps > SL_MAX_BACKENDS || t->n_fe > SL_MAX_INGRESS)
		return -E2BIG;
	total = (size_t)t->n_fe * t->ring;
	cells = calloc(total, sizeof(*cells));
	keys = calloc(total, sizeof(*keys));
	if (!cells || !keys) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < t->n_fe && !err; i++)
		err = bench_frontend(obj, t, i, i * t->neps, i * t->ring, cells + (size_t)i * t->ring);
	if (err)
		goto out;
	fd = bench_map_fd(obj, "sl_maglev");
	for (size_t c = 0; c < total; c++)
		keys[c] = (uint32_t)c; /* slot 0 */
	for (size_t c = 0; c < total; c += cnt) {
		cnt = total - c > 65536 ? 65536 : (uint32_t)(total - c);
		err = bpf_map_update_batch(fd, keys + c, cells + c, &cnt, NULL);
		if (err)
			goto out;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.magic = SL_ABI_MAGIC;
	cfg.abi_version = SL_ABI_VERSION;
	cfg.active_slot = 0;
	cfg.generation = 1;
	k = t->n_fe * t->neps;
	cfg.backend_hwm[0] = k;
	err = bpf_map_update_elem(bench_map_fd(obj, "sl_config"), &zero, &cfg, BPF_ANY);
out:
	free(cells);
	free(keys);
	return err;
}

/* Sum of the per-CPU values of an array map's entry 0, as u64 fields. */
static inline int bench_percpu_sum(int fd, size_t size, uint64_t *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t words = size / 8;
	uint64_t *v;
	uint32_t zero = 0;

	if (ncpu < 0)
		return ncpu;
	v = calloc((size_t)ncpu, size);
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &zero, v)) {
		free(v);
		return -errno;
	}
	memset(sum, 0, size);
	for (int c = 0; c < ncpu; c++)
		for (size_t i = 0; i < words; i++)
			sum[i] += v[(size_t)c * words + i];
	free(v);
	return 0;
}

/* ---- BPF_PROG_TEST_RUN ------------------------------------------------------- */

/* Run PROG once over PKT with REPEAT repetitions: the kernel's average ns
 * per repetition (opts.duration), or a negative errno. The verdict must be
 * WANT (-1: any). OUT (SL_BENCH_PKT_MAX bytes, or NULL) gets the packet as
 * the program left it. */
static inline long bench_run(int prog, const void *pkt, size_t len, uint32_t repeat, int want,
			     uint8_t *out)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = out ? SL_BENCH_PKT_MAX : 0, .repeat = repeat);
	int err = bpf_prog_test_run_opts(prog, &o);

	if (err)
		return -errno;
	if (want >= 0 && (int)o.retval != want) {
		fprintf(stderr, "verdict %u, expected %d\n", o.retval, want);
		return -EPROTO;
	}
	return o.duration;
}

#endif /* SL_BENCH_XDP_H */
