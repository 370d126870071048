// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Node-ingress return path (TC egress of the node interface that carries
 * sl_xdp_lb). Replies of flows that XDP destination-NATed get their source
 * put back to the frontend the client dialled (sl_rnat), so the client only
 * ever sees the frontend. ICMP errors about such a flow (destination
 * unreachable, packet too big, time exceeded, parameter problem), sent by
 * the endpoint or by any router or the node itself on the way, are
 * translated too: the quoted packet's destination becomes the frontend
 * again, and the outer source too when it was the endpoint. FIN and RST of
 * replies feed connection tracking (lib/ct.h), which gives back the
 * connection-limit unit exactly once.
 *
 * Rewrites use bpf_skb_store_bytes and bpf_l3/l4_csum_replace, which keep
 * skb->csum and CHECKSUM_PARTIAL (offloaded) checksums right; checksum
 * fields inside the ICMP payload are plain bytes, computed here.
 *
 * Always TC_ACT_OK, except a packet whose rewrite failed half-way
 * (SL_DROP_NAT_FAIL): it would leak the endpoint address.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sluice_abi.h"
#include "lib/common.h"
#include "lib/maps_node.h"
#include "lib/pkt.h"
#include "lib/csum.h"
#include "lib/ct.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SL_TC_ACT_OK 0
#define SL_TC_ACT_SHOT 2
/* Bytes made linear when the headers are not: an ICMP error quotes at most
 * two IPv6 headers with extension headers, far below this. */
#define SL_TC_PULL 256

static __always_inline struct sl_xdp_stats *sl_tstats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sl_xdp_stats, &zero);
}

static __always_inline int sl_tdrop(int reason)
{
	struct sl_xdp_stats *st = sl_tstats();
	__u32 i = (__u32)reason;

	/* The empty asm keeps clang from folding the check into a constant it
	 * computes with a negation, which verifiers before 6.6 cannot bound. */
	asm volatile("" : "+r"(i));
	if (st && i < SL_DROP__COUNT)
		st->drops[i]++;
	return SL_TC_ACT_SHOT;
}

/* Outer headers, and the quoted packet of an ICMP error. Global (verified
 * once, on its own): inlining two parses of two packets with IPv6 walks into
 * one program multiplies verifier states past the limit. */
__noinline int sl_tc_parse1(struct __sk_buff *skb, struct sl_pkt *p, struct sl_pkt *in)
{
	void *data, *end;
	int r;

	if (!skb || !p || !in)
		return -SL_DROP_MALFORMED;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	__builtin_memset(in, 0, sizeof(*in));
	r = sl_parse_skb(data, end, p);
	if (r == 0 && p->icmp_err)
		r = sl_parse_inner(data, end, p, in);
	return r;
}

/* On failure pull the headers into the linear area and parse again.
 * Non-linear skbs are common here (GSO), headers cut by the linear area are
 * not, so the pull (which may copy a cloned head) is paid only by packets
 * that failed once. */
static __always_inline int sl_tparse(struct __sk_buff *skb, struct sl_pkt *p, struct sl_pkt *in)
{
	__u32 len = skb->len;
	int r;

	r = sl_tc_parse1(skb, p, in);
	if (r >= 0)
		return r;
	if (bpf_skb_pull_data(skb, len < SL_TC_PULL ? len : SL_TC_PULL))
		return r;
	return sl_tc_parse1(skb, p, in);
}

/* Source address and port of the reply at p become fe's. */
static __always_inline int sl_tsnat(struct __sk_buff *skb, const struct sl_pkt *p,
				    const struct sl_l4addr *fe)
{
	bool tcp = p->t.proto == IPPROTO_TCP;
	__u32 csum_off = p->l4_off + (tcp ? 16 : 6);
	__u64 mm0 = tcp ? 0 : BPF_F_MARK_MANGLED_0;
	__u32 l3 = p->l3_off;

	if (p->t.family == SL_AF_INET) {
		if (bpf_l4_csum_replace(skb, csum_off, p->t.saddr[0], fe->addr[0],
					BPF_F_PSEUDO_HDR | mm0 | 4) ||
		    bpf_l3_csum_replace(skb, l3 + 10, p->t.saddr[0], fe->addr[0], 4) ||
		    bpf_skb_store_bytes(skb, l3 + 12, &fe->addr[0], 4, 0))
			return -SL_DROP_NAT_FAIL;
	} else {
		__s64 d = bpf_csum_diff((__be32 *)p->t.saddr, 16, (__be32 *)fe->addr, 16, 0);

		if (d < 0 || bpf_l4_csum_replace(skb, csum_off, 0, (__u32)d, BPF_F_PSEUDO_HDR | mm0) ||
		    bpf_skb_store_bytes(skb, l3 + 8, fe->addr, 16, 0))
			return -SL_DROP_NAT_FAIL;
	}
	if (bpf_l4_csum_replace(skb, csum_off, p->t.sport, fe->port, mm0 | 2) ||
	    bpf_skb_store_bytes(skb, p->l4_off, &fe->port, 2, 0))
		return -SL_DROP_NAT_FAIL;
	return 0;
}

/* Connection tracking of a reply: counters, FIN/RST. */
static __always_inline void sl_ttrack(const struct sl_pkt *p, const struct sl_l4addr *fe)
{
	struct sl_ct_val *ct;
	struct sl_tuple k;

	sl_ct_key_of_reply(&k, &p->t, fe);
	ct = bpf_map_lookup_elem(&sl_ct, &k);
	if (!ct)
		return;
	ct->last_ns = bpf_ktime_get_coarse_ns(); /* the clock XDP uses */
	__sync_fetch_and_add(&ct->packets_rev, 1);
	if (p->t.proto == IPPROTO_TCP)
		sl_ct_track(ct, p->tcp_flags, true);
}

static __always_inline int sl_treply(struct __sk_buff *skb, const struct sl_pkt *p)
{
	struct sl_xdp_stats *st;
	struct sl_l4addr fe;
	struct sl_l4addr *f;

	f = bpf_map_lookup_elem(&sl_rnat, &p->t);
	if (!f)
		return 0;
	fe = *f; /* the map value may change under us; rewrite one version */
	sl_ttrack(p, &fe);
	if (sl_tsnat(skb, p, &fe))
		return -SL_DROP_NAT_FAIL;
	st = sl_tstats();
	if (st)
		st->rnat++;
	return 0;
}

/* ---- ICMP errors ---- */

/* Rewrite one 2- or 4-byte-aligned field of the ICMP payload; d collects
 * the ICMP checksum diff. */
static __always_inline int sl_tput(struct __sk_buff *skb, __u32 off, const void *old,
				   const void *new, __u32 len, __u32 *d)
{
	const __be16 *o = old, *n = new;

	for (__u32 i = 0; i < 8; i++) {
		if (i >= len / 2)
			break;
		*d = sl_csum_diff2(*d, o[i], n[i]);
	}
	return bpf_skb_store_bytes(skb, off, new, len, 0);
}

/* The quoted packet's own L4 checksum (pseudo-header dst + dport), when the
 * ICMP sender quoted far enough to include it. */
static __always_inline int sl_tinner_l4(struct __sk_buff *skb, const struct sl_pkt *in,
					const struct sl_l4addr *fe, __u32 *d)
{
	bool tcp = in->t.proto == IPPROTO_TCP;
	__u32 off = in->l4_off + (tcp ? 16 : 6), ld;
	__be16 old, new;

	if (bpf_skb_load_bytes(skb, off, &old, 2))
		return 0; /* not quoted: nothing to keep consistent */
	ld = sl_csum_diff_addr(0, in->t.daddr, fe->addr, in->t.family);
	ld = sl_csum_diff2(ld, in->t.dport, fe->port);
	new = tcp ? sl_csum_apply(old, ld) : sl_csum_apply_udp(old, ld);
	return sl_tput(skb, off, &old, &new, 2, d);
}

/* Outer source: the endpoint itself reported the error. */
static __always_inline int sl_touter_src(struct __sk_buff *skb, const struct sl_pkt *p,
					 const struct sl_l4addr *fe)
{
	__u32 l3 = p->l3_off, icsum = p->l4_off + 2;

	if (p->t.family == SL_AF_INET) {
		if (bpf_l3_csum_replace(skb, l3 + 10, p->t.saddr[0], fe->addr[0], 4) ||
		    bpf_skb_store_bytes(skb, l3 + 12, &fe->addr[0], 4, 0))
			return -1;
		return 0;
	}
	/* ICMPv6 covers a pseudo-header. */
	__s64 d = bpf_csum_diff((__be32 *)p->t.saddr, 16, (__be32 *)fe->addr, 16, 0);

	if (d < 0 || bpf_l4_csum_replace(skb, icsum, 0, (__u32)d, BPF_F_PSEUDO_HDR) ||
	    bpf_skb_store_bytes(skb, l3 + 8, fe->addr, 16, 0))
		return -1;
	return 0;
}

static __always_inline bool sl_addr_is(const __be32 *a, const __be32 *b, __u8 family)
{
	if (a[0] != b[0])
		return false;
	return family == SL_AF_INET || (a[1] == b[1] && a[2] == b[2] && a[3] == b[3]);
}

/* The inner packet went client -> endpoint after XDP's DNAT; its reply key
 * in sl_rnat names the frontend. */
static __always_inline int sl_terror(struct __sk_buff *skb, const struct sl_pkt *p,
				     const struct sl_pkt *in)
{
	struct sl_xdp_stats *st;
	struct sl_l4addr fe, *f;
	struct sl_tuple rk;
	__u32 d = 0;

	if ((in->t.proto != IPPROTO_TCP && in->t.proto != IPPROTO_UDP) || !in->l4_off ||
	    in->frag == SL_FRAG_LATER)
		return 0;
	__builtin_memset(&rk, 0, sizeof(rk));
	__builtin_memcpy(rk.saddr, in->t.daddr, sizeof(rk.saddr));
	__builtin_memcpy(rk.daddr, in->t.saddr, sizeof(rk.daddr));
	rk.sport = in->t.dport;
	rk.dport = in->t.sport;
	rk.proto = in->t.proto;
	rk.family = in->t.family;
	f = bpf_map_lookup_elem(&sl_rnat, &rk);
	if (!f)
		return 0;
	fe = *f;
	if (fe.family != in->t.family)
		return 0;
	/* Inner checksum first: it is computed from the untouched fields. */
	if (sl_tinner_l4(skb, in, &fe, &d))
		return -SL_DROP_NAT_FAIL;
	if (in->t.family == SL_AF_INET) {
		__be16 oc, nc;

		if (bpf_skb_load_bytes(skb, in->l3_off + 10, &oc, 2))
			return -SL_DROP_NAT_FAIL;
		nc = sl_csum_apply(oc, sl_csum_diff4(0, in->t.daddr[0], fe.addr[0]));
		if (sl_tput(skb, in->l3_off + 10, &oc, &nc, 2, &d) ||
		    sl_tput(skb, in->l3_off + 16, in->t.daddr, fe.addr, 4, &d))
			return -SL_DROP_NAT_FAIL;
	} else if (sl_tput(skb, in->l3_off + 24, in->t.daddr, fe.addr, 16, &d)) {
		return -SL_DROP_NAT_FAIL;
	}
	if (sl_tput(skb, in->l4_off + 2, &in->t.dport, &fe.port, 2, &d) ||
	    bpf_l4_csum_replace(skb, p->l4_off + 2, 0, d, 0))
		return -SL_DROP_NAT_FAIL;
	if (sl_addr_is(p->t.saddr, in->t.daddr, p->t.family) && sl_touter_src(skb, p, &fe))
		return -SL_DROP_NAT_FAIL;
	st = sl_tstats();
	if (st)
		st->icmp_rnat++;
	return 0;
}

SEC("tc")
int sl_tc_nat(struct __sk_buff *skb)
{
	const struct sl_config *cfg = sl_config_get();
	struct sl_pkt p, in;
	int r;

	if (!cfg || cfg->magic != SL_ABI_MAGIC)
		return SL_TC_ACT_OK;
	r = sl_tparse(skb, &p, &in);
	if (r != 0 || p.frag == SL_FRAG_LATER)
		return SL_TC_ACT_OK; /* not ours to judge on the way out */
	if (p.icmp_err)
		r = sl_terror(skb, &p, &in);
	else if (p.t.proto == IPPROTO_TCP || p.t.proto == IPPROTO_UDP)
		r = sl_treply(skb, &p);
	if (r < 0)
		return sl_tdrop(-r);
	return SL_TC_ACT_OK;
}
