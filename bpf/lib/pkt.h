/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for XDP and TC: Ethernet (+ one 802.1Q/802.1ad tag), IPv4
 * (options, fragments), IPv6 (bounded extension-header walk), and the ports
 * or ICMP type/code of TCP, UDP, SCTP, ICMP and ICMPv6.
 *
 * Contract of sl_parse(data, data_end, p):
 * - It reads only [data, data_end) and never writes the packet. Every header
 *   it reports lies wholly inside that range (l3_off/l4_off plus the fixed
 *   header size: 20 bytes TCP incl. its options (doff*4), 8 UDP, 12 SCTP,
 *   8 ICMP/ICMPv6).
 * - Returns 0: *p describes an IP packet. 1: not IP (ARP, LLDP, a second
 *   VLAN tag ...): the caller passes it; only p->eth_proto is meaningful.
 *   <0: -SL_DROP_MALFORMED, i.e. truncated headers, bad IP version, IHL < 5,
 *   tot_len/payload_len inconsistent with the frame, TCP doff < 5, or an IPv6
 *   extension-header chain longer than SL_PKT_MAX_EXT headers.
 * - p->t holds the addresses as on the wire (sl_tuple layout: IPv4 in [0]),
 *   the upper-layer protocol (after IPv6 extension headers), and the ports.
 *   Ports are 0 for later fragments (p->l4_off == 0 then), for ICMP errors
 *   and for protocols without ports. ICMP/ICMPv6 echo request and reply
 *   carry the identifier in t.sport, 0 in t.dport.
 * - First fragments (offset 0, more-fragments set) parse like whole packets
 *   with p->frag = SL_FRAG_FIRST; the caller decides what a fragment means.
 * - Lengths are checked against data_end: an IP total length larger than the
 *   frame is truncation. Trailing bytes after it (Ethernet padding) are fine,
 *   but an L4 header that only fits in them is malformed (the stack would
 *   trim them away).
 *
 * sl_parse_skb() is the same with one difference for TC: an skb's data_end
 * ends at the linear head, and a GSO/non-linear skb carries the rest of its
 * payload in fragments, so the IP length may exceed data_end - data. Headers
 * themselves may be cut by the linear head too: on a failure, pull
 * (bpf_skb_pull_data(skb, min(len, N))) and parse again, as tc_nat does.
 * tot_len 0 (IPv4 BIG TCP) and payload_len 0 (IPv6 jumbo) are accepted there
 * and reported as l3_len 0: use skb->len for byte counts.
 *
 * sl_parse_inner() parses the packet quoted in an ICMP/ICMPv6 error (as the
 * endpoint or the client sent it: only the first 8 bytes of L4 are
 * guaranteed there, so TCP needs only its ports).
 *
 * No loops other than the fixed, unrolled IPv6 walk; every offset stays
 * below SL_PKT_MAX_OFF so that the verifier can bound packet pointers.
 */
#ifndef SL_PKT_H
#define SL_PKT_H

#include "sluice_abi.h"

#ifndef ETH_P_IP
#define ETH_P_IP 0x0800
#endif
#ifndef ETH_P_IPV6
#define ETH_P_IPV6 0x86DD
#endif
#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* IPv6 next-header values vmlinux.h does not carry (they are #defines). */
#define SL_NH_HOPOPTS 0
#define SL_NH_ROUTING 43
#define SL_NH_FRAGMENT 44
#define SL_NH_AH 51
#define SL_NH_DSTOPTS 60
#define SL_NH_ICMPV6 58
#define SL_NH_SCTP 132

#define SL_PKT_MAX_EXT 6 /* IPv6 extension headers walked (AH included) */
#define SL_PKT_MAX_OFF 4096 /* L4 header must start below this */

#define SL_TCP_FIN 0x01
#define SL_TCP_SYN 0x02
#define SL_TCP_RST 0x04
#define SL_TCP_PSH 0x08
#define SL_TCP_ACK 0x10

#define SL_ICMP_ECHOREPLY 0
#define SL_ICMP_DEST_UNREACH 3
#define SL_ICMP_SOURCE_QUENCH 4
#define SL_ICMP_REDIRECT 5
#define SL_ICMP_ECHO 8
#define SL_ICMP_TIME_EXCEEDED 11
#define SL_ICMP_PARAMETERPROB 12
#define SL_ICMP_FRAG_NEEDED 4 /* code of DEST_UNREACH */
#define SL_ICMP6_DEST_UNREACH 1
#define SL_ICMP6_PKT_TOOBIG 2
#define SL_ICMP6_TIME_EXCEED 3
#define SL_ICMP6_PARAMPROB 4
#define SL_ICMP6_ECHO_REQUEST 128
#define SL_ICMP6_ECHO_REPLY 129

enum { SL_FRAG_NONE = 0, SL_FRAG_FIRST = 1, SL_FRAG_LATER = 2 };

struct sl_pkt {
	struct sl_tuple t; /* ports 0 for later fragments; ICMP echo id in sport */
	__u32 l3_off; /* IP header offset from data (after eth/VLAN) */
	__u32 l4_off; /* L4 header offset; 0 if none (later fragment) */
	__u32 l3_len; /* IP total length from the header */
	__u16 eth_proto; /* host order: ETH_P_IP / ETH_P_IPV6 */
	__u8 tcp_flags; /* TCP flags byte, 0 if not TCP */
	__u8 frag; /* SL_FRAG_* */
	__u8 icmp_type; /* for ICMP/ICMPv6 */
	__u8 icmp_code;
	__u8 icmp_err; /* 1: ICMP error carrying an inner packet */
	__u8 pad;
};

/* sl_parse_ex() flags */
#define SL_PARSE_F_PARTIAL 1u /* skb: payload may extend past data_end */
#define SL_PARSE_F_INNER 2u /* ICMP-quoted packet: no L2, 8 bytes of L4 */

struct sl_vlan {
	__be16 tci;
	__be16 proto;
};

/* A 16-bit network-order length field as a host value the verifier can
 * bound. Kernels before 6.6 track no bounds through a byte swap, so a swapped
 * value added to a packet pointer is rejected ("unbounded min value"); the
 * mask bounds it, and the empty asm keeps clang from dropping the mask. */
static __always_inline __u32 sl_len16(__be16 v)
{
	__u32 x = bpf_ntohs(v);

	asm volatile("" : "+r"(x));
	return x & 0xffff;
}

/* [data + off, data + off + len) inside the frame, or NULL. off must be
 * bounded (callers keep it below SL_PKT_MAX_OFF) for the verifier. */
static __always_inline void *sl_hdr(void *data, void *data_end, __u32 off, __u32 len)
{
	void *h = data + off;

	if (h + len > data_end)
		return NULL;
	return h;
}

static __always_inline bool sl_icmp4_is_err(__u8 type)
{
	return type == SL_ICMP_DEST_UNREACH || type == SL_ICMP_SOURCE_QUENCH ||
	       type == SL_ICMP_REDIRECT || type == SL_ICMP_TIME_EXCEEDED ||
	       type == SL_ICMP_PARAMETERPROB;
}

/* Ports / type / flags of the L4 header at off == p->l4_off (p->t.proto
 * set). Offsets travel as arguments, never read back from *p: when *p is not
 * on the stack (a global function's argument) the verifier forgets their
 * bounds. */
static __always_inline int sl_parse_l4(void *data, void *data_end, struct sl_pkt *p, __u32 off,
				       __u32 avail, __u32 flags)
{
	__u8 *b;

	/* avail: bytes of the datagram from off on (its header says so; the
	 * frame may be longer: Ethernet padding). A header that only fits in
	 * the padding is malformed, not parsed. */
	if (avail < 8 && (p->t.proto == IPPROTO_TCP || p->t.proto == IPPROTO_UDP ||
			  p->t.proto == SL_NH_SCTP || p->t.proto == IPPROTO_ICMP ||
			  p->t.proto == SL_NH_ICMPV6))
		return -SL_DROP_MALFORMED;

	switch (p->t.proto) {
	case IPPROTO_TCP: {
		/* Quoted TCP headers carry only 8 bytes: ports and seq. */
		if (flags & SL_PARSE_F_INNER) {
			b = sl_hdr(data, data_end, off, 8);
			if (!b)
				return -SL_DROP_MALFORMED;
			break;
		}
		b = sl_hdr(data, data_end, off, 20);
		if (!b)
			return -SL_DROP_MALFORMED;
		__u32 doff = (b[12] >> 4) * 4;
		if (doff < 20 || doff > avail || !sl_hdr(data, data_end, off, doff))
			return -SL_DROP_MALFORMED;
		p->tcp_flags = b[13];
		break;
	}
	case IPPROTO_UDP:
		b = sl_hdr(data, data_end, off, 8);
		if (!b)
			return -SL_DROP_MALFORMED;
		break;
	case SL_NH_SCTP:
		b = sl_hdr(data, data_end, off, (flags & SL_PARSE_F_INNER) ? 8 : 12);
		if (!b || (!(flags & SL_PARSE_F_INNER) && avail < 12))
			return -SL_DROP_MALFORMED;
		break;
	case IPPROTO_ICMP:
	case SL_NH_ICMPV6:
		b = sl_hdr(data, data_end, off, 8);
		if (!b)
			return -SL_DROP_MALFORMED;
		p->icmp_type = b[0];
		p->icmp_code = b[1];
		if (p->t.proto == IPPROTO_ICMP) {
			if (b[0] == SL_ICMP_ECHO || b[0] == SL_ICMP_ECHOREPLY)
				__builtin_memcpy(&p->t.sport, b + 4, 2);
			else if (sl_icmp4_is_err(b[0]))
				p->icmp_err = 1;
		} else {
			if (b[0] == SL_ICMP6_ECHO_REQUEST || b[0] == SL_ICMP6_ECHO_REPLY)
				__builtin_memcpy(&p->t.sport, b + 4, 2);
			else if (b[0] < 128)
				p->icmp_err = 1;
		}
		return 0;
	default:
		return 0; /* no ports (GRE, ESP, ...) */
	}
	__builtin_memcpy(&p->t.sport, b, 2);
	__builtin_memcpy(&p->t.dport, b + 2, 2);
	return 0;
}

static __always_inline int sl_parse_ip4(void *data, void *data_end, struct sl_pkt *p, __u32 off,
					__u32 flags)
{
	__u32 ihl, tot;
	__u16 frag_off;
	struct iphdr *ip;

	ip = sl_hdr(data, data_end, off, sizeof(*ip));
	if (!ip)
		return -SL_DROP_MALFORMED;
	ihl = ip->ihl * 4;
	if (ip->version != 4 || ihl < sizeof(*ip) || !sl_hdr(data, data_end, off, ihl))
		return -SL_DROP_MALFORMED;
	tot = sl_len16(ip->tot_len);
	if (flags & SL_PARSE_F_INNER) {
		/* A quoted header whose packet was cut by the ICMP sender. */
		if (tot < ihl)
			return -SL_DROP_MALFORMED;
	} else if (!(tot == 0 && (flags & SL_PARSE_F_PARTIAL))) {
		if (tot < ihl)
			return -SL_DROP_MALFORMED;
		if (!(flags & SL_PARSE_F_PARTIAL) && data + off + tot > data_end)
			return -SL_DROP_MALFORMED;
	}
	p->l3_len = tot;
	p->t.family = SL_AF_INET;
	p->t.saddr[0] = ip->saddr;
	p->t.daddr[0] = ip->daddr;
	p->t.proto = ip->protocol;
	frag_off = bpf_ntohs(ip->frag_off);
	if (frag_off & 0x1fff) {
		p->frag = SL_FRAG_LATER;
		return 0;
	}
	if (frag_off & 0x2000)
		p->frag = SL_FRAG_FIRST;
	p->l4_off = off + ihl;
	/* Quoted and GSO packets are shorter than their header says. */
	return sl_parse_l4(data, data_end, p, off + ihl,
			   flags ? 0xffff : tot - ihl, flags);
}

/* One IPv6 extension header at *off: advances *off and *nh. 0: walked;
 * 1: *nh is not an extension header (the walk is over); <0: malformed. */
static __always_inline int sl_ext6(void *data, void *data_end, struct sl_pkt *p, __u32 *off,
				   __u8 *nh)
{
	__u8 *b;
	__u32 len;

	switch (*nh) {
	case SL_NH_HOPOPTS:
	case SL_NH_ROUTING:
	case SL_NH_DSTOPTS:
	case SL_NH_AH:
	case SL_NH_FRAGMENT:
		break;
	default:
		return 1;
	}
	b = sl_hdr(data, data_end, *off, 8);
	if (!b)
		return -SL_DROP_MALFORMED;
	if (*nh == SL_NH_FRAGMENT) {
		__u16 fo = ((__u16)b[2] << 8) | b[3];

		len = 8;
		if (fo & 0xfff8)
			p->frag = SL_FRAG_LATER;
		else if (fo & 1)
			p->frag = SL_FRAG_FIRST;
	} else if (*nh == SL_NH_AH) {
		len = ((__u32)b[1] + 2) * 4;
	} else {
		len = ((__u32)b[1] + 1) * 8;
	}
	*nh = b[0];
	*off += len;
	if (*off >= SL_PKT_MAX_OFF)
		return -SL_DROP_MALFORMED;
	return 0;
}

static __always_inline int sl_parse_ip6(void *data, void *data_end, struct sl_pkt *p, __u32 off,
					__u32 flags)
{
	__u32 l3 = off, plen, ext;
	struct ipv6hdr *ip6;
	__u8 nh;
	int i, r;

	ip6 = sl_hdr(data, data_end, off, sizeof(*ip6));
	if (!ip6)
		return -SL_DROP_MALFORMED;
	if (ip6->version != 6)
		return -SL_DROP_MALFORMED;
	plen = sl_len16(ip6->payload_len);
	if (!(flags & (SL_PARSE_F_PARTIAL | SL_PARSE_F_INNER)) &&
	    data + off + sizeof(*ip6) + plen > data_end)
		return -SL_DROP_MALFORMED;
	/* payload_len 0 on an skb is a jumbogram (BIG TCP): length unknown. */
	p->l3_len = plen || !(flags & SL_PARSE_F_PARTIAL) ? plen + sizeof(*ip6) : 0;
	p->t.family = SL_AF_INET6;
	__builtin_memcpy(p->t.saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->t.daddr, &ip6->daddr, 16);
	nh = ip6->nexthdr;
	off += sizeof(*ip6);
#pragma unroll
	for (i = 0; i < SL_PKT_MAX_EXT; i++) {
		r = sl_ext6(data, data_end, p, &off, &nh);
		if (r < 0)
			return r;
		if (r > 0)
			break;
	}
	if (i == SL_PKT_MAX_EXT && sl_ext6(data, data_end, p, &off, &nh) != 1)
		return -SL_DROP_MALFORMED; /* chain too long */
	p->t.proto = nh;
	if (p->frag == SL_FRAG_LATER)
		return 0;
	p->l4_off = off;
	ext = off - l3 - sizeof(*ip6);
	if (!flags && ext > plen)
		return -SL_DROP_MALFORMED; /* extension headers past the payload */
	return sl_parse_l4(data, data_end, p, off, flags ? 0xffff : plen - ext, flags);
}

static __always_inline int sl_parse_ex(void *data, void *data_end, struct sl_pkt *p, __u32 flags)
{
	__u32 off = sizeof(struct ethhdr);
	struct ethhdr *eth;
	__u16 proto;

	__builtin_memset(p, 0, sizeof(*p));
	eth = sl_hdr(data, data_end, 0, sizeof(*eth));
	if (!eth)
		return -SL_DROP_MALFORMED;
	proto = bpf_ntohs(eth->h_proto);
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
		struct sl_vlan *v = sl_hdr(data, data_end, off, sizeof(*v));

		if (!v)
			return -SL_DROP_MALFORMED;
		proto = bpf_ntohs(v->proto);
		off += sizeof(*v);
	}
	p->eth_proto = proto;
	p->l3_off = off;
	if (proto == ETH_P_IP)
		return sl_parse_ip4(data, data_end, p, off, flags & SL_PARSE_F_PARTIAL);
	if (proto == ETH_P_IPV6)
		return sl_parse_ip6(data, data_end, p, off, flags & SL_PARSE_F_PARTIAL);
	p->l3_off = 0;
	return 1;
}

static __always_inline int sl_parse(void *data, void *data_end, struct sl_pkt *p)
{
	return sl_parse_ex(data, data_end, p, 0);
}

static __always_inline int sl_parse_skb(void *data, void *data_end, struct sl_pkt *p)
{
	return sl_parse_ex(data, data_end, p, SL_PARSE_F_PARTIAL);
}

/* The packet quoted by the ICMP error that outer (a parsed packet with
 * icmp_err set) describes; same family as the outer one. Offsets in *in are
 * from data, like the outer ones. Later fragments and chains cut short come
 * back with l4_off 0 or <0. */
static __always_inline int sl_parse_inner(void *data, void *data_end, const struct sl_pkt *outer,
					  struct sl_pkt *in)
{
	__u32 off = outer->l4_off;

	__builtin_memset(in, 0, sizeof(*in));
	if (!outer->icmp_err || !off || off >= SL_PKT_MAX_OFF)
		return -SL_DROP_MALFORMED;
	off += 8;
	in->eth_proto = outer->eth_proto;
	in->l3_off = off;
	if (outer->t.family == SL_AF_INET)
		return sl_parse_ip4(data, data_end, in, off, SL_PARSE_F_INNER);
	return sl_parse_ip6(data, data_end, in, off, SL_PARSE_F_INNER);
}

#endif /* SL_PKT_H */
