/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Test packet builder and checksum verifier for BPF_PROG_TEST_RUN tables.
 * Header-only, userspace, no dependency on the BPF side.
 *
 * Build: fill a struct pkt_spec (zero it first; pkt_spec_init() does that
 * and sets defaults), then pkt_build(&spec, buf, cap, &layout) writes
 *   Ethernet [+ one VLAN tag] + IPv4 [options] | IPv6 [extension headers]
 *   + TCP [options] | UDP | SCTP | ICMP | ICMPv6 | raw payload
 * with every checksum correct, and returns the frame length (0: does not
 * fit or the spec is inconsistent). pkt_build_l3() builds the same without
 * the Ethernet header: that is what an ICMP error quotes (spec.inner).
 *
 * Fragments: frag_off (in 8-byte units) / more_frags. A later fragment
 * (frag_off > 0) carries the payload bytes only, no L4 header. A first
 * fragment carries the L4 header with a checksum over the bytes present
 * (a real one would cover the whole datagram; the programs under test never
 * check it). IPv6 gets a fragment header when frag_hdr, frag_off or
 * more_frags is set, after the extension headers listed in ext[].
 *
 * Verify: pkt_verify(buf, len, why, whylen) re-parses a frame and checks the
 * IPv4 header checksum, the L4 checksum (TCP, UDP unless zero on IPv4,
 * ICMP, ICMPv6 with pseudo-header, SCTP CRC32c) of unfragmented packets, and
 * for ICMP errors the quoted IPv4 header checksum and, when the quoted packet
 * is complete, its L4 checksum. 0 = all valid, -1 = not (reason in why).
 * Lengths (tot_len, payload_len, UDP length) are checked too.
 */
#ifndef SL_TEST_PKT_BUILD_H
#define SL_TEST_PKT_BUILD_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define PB_ETH_LEN 14
#define PB_MAX_EXT 8
#define PB_NH_HOPOPTS 0
#define PB_NH_ROUTING 43
#define PB_NH_FRAGMENT 44
#define PB_NH_AH 51
#define PB_NH_NONE 59
#define PB_NH_DSTOPTS 60
#define PB_P_ICMP 1
#define PB_P_TCP 6
#define PB_P_UDP 17
#define PB_P_ICMPV6 58
#define PB_P_SCTP 132

#define PB_TCP_FIN 0x01
#define PB_TCP_SYN 0x02
#define PB_TCP_RST 0x04
#define PB_TCP_PSH 0x08
#define PB_TCP_ACK 0x10

struct pkt_spec {
	int family; /* 4, 6, or 0 for a non-IP frame (eth_proto + payload) */
	uint8_t saddr[16]; /* network order; IPv4 in the first 4 bytes */
	uint8_t daddr[16];
	uint8_t smac[6], dmac[6];
	uint16_t eth_proto; /* host order; 0: from family */
	uint16_t vlan_tci; /* host order; used when vlan is set */
	uint16_t vlan_tpid; /* 0x8100 (default) or 0x88a8 */
	bool vlan;
	uint8_t proto; /* PB_P_* or anything else (raw payload follows) */
	uint8_t ttl; /* IPv4 TTL / IPv6 hop limit; default 64 */
	uint8_t tos;
	uint16_t ip_id; /* IPv4 identification */
	bool dont_frag; /* IPv4 DF */
	const uint8_t *ip_opts; /* IPv4 options, padded with EOL to 4 bytes */
	size_t ip_opts_len; /* <= 40 */
	/* fragments */
	uint16_t frag_off; /* in 8-byte units */
	bool more_frags;
	bool frag_hdr; /* IPv6: fragment header even for offset 0, !MF */
	uint32_t frag_id; /* IPv6 fragment identification */
	/* IPv6 extension headers before the fragment header / L4 */
	uint8_t ext[PB_MAX_EXT]; /* PB_NH_HOPOPTS/ROUTING/DSTOPTS/AH */
	uint16_t ext_len[PB_MAX_EXT]; /* bytes, multiple of 8, >= 8 (0 = 8) */
	int n_ext;
	/* L4 */
	uint16_t sport, dport; /* host order */
	uint8_t tcp_flags; /* PB_TCP_* */
	uint32_t seq, ack;
	uint16_t window; /* default 65535 */
	const uint8_t *tcp_opts; /* padded with EOL to 4 bytes, <= 40 */
	size_t tcp_opts_len;
	bool udp_zero_csum; /* IPv4: UDP checksum 0 (none) */
	uint32_t sctp_vtag;
	uint8_t icmp_type, icmp_code;
	uint16_t icmp_id, icmp_seq; /* echo */
	uint32_t icmp_rest; /* bytes 4..7 of ICMP errors (MTU, pointer ...);
			       host order, written big-endian */
	const uint8_t *inner; /* ICMP error: the quoted packet from its IP header */
	size_t inner_len;
	const uint8_t *payload;
	size_t payload_len;
};

/* Where the headers of a built frame are (offsets from the frame start). */
struct pkt_layout {
	size_t l3; /* IP header */
	size_t l4; /* L4 header; 0 if none (later fragment, non-IP) */
	size_t data; /* payload (after the L4 header, or after IP) */
	size_t len; /* frame length */
};

static inline void pkt_spec_init(struct pkt_spec *s)
{
	static const uint8_t smac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	static const uint8_t dmac[6] = { 0x02, 0, 0, 0, 0, 0x02 };

	memset(s, 0, sizeof(*s));
	memcpy(s->smac, smac, 6);
	memcpy(s->dmac, dmac, 6);
	s->ttl = 64;
	s->window = 65535;
	s->seq = 1000;
}

/* Addresses from text, family from their form. 0 ok, -1 bad text/mix. */
static inline int pkt_set_addrs(struct pkt_spec *s, const char *src, const char *dst)
{
	memset(s->saddr, 0, 16);
	memset(s->daddr, 0, 16);
	if (inet_pton(AF_INET, src, s->saddr) == 1 && inet_pton(AF_INET, dst, s->daddr) == 1) {
		s->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, src, s->saddr) == 1 && inet_pton(AF_INET6, dst, s->daddr) == 1) {
		s->family = 6;
		return 0;
	}
	return -1;
}

/* ---- checksums ---- */

/* One's-complement sum of len bytes added to sum (not folded). */
static inline uint32_t pkt_csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	return sum;
}

/* Folded complement: the value to store (host order). */
static inline uint16_t pkt_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline uint32_t pkt_pseudo_sum(int family, const uint8_t *saddr, const uint8_t *daddr,
				      uint8_t proto, uint32_t l4_len)
{
	uint32_t sum = 0;
	size_t alen = family == 4 ? 4 : 16;

	sum = pkt_csum_add(sum, saddr, alen);
	sum = pkt_csum_add(sum, daddr, alen);
	sum += proto;
	sum += l4_len >> 16;
	sum += l4_len & 0xffff;
	return sum;
}

/* CRC32c running state: start with 0xffffffff, finish with ~. */
static inline uint32_t pkt_crc32c_add(uint32_t crc, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		crc ^= b ? b[i] : 0; /* NULL: len zero bytes */
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return crc;
}

static inline uint32_t pkt_crc32c(const uint8_t *b, size_t len)
{
	return ~pkt_crc32c_add(0xffffffffu, b, len);
}

static inline void pkt_put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void pkt_put32(uint8_t *p, uint32_t v)
{
	pkt_put16(p, v >> 16);
	pkt_put16(p + 2, v & 0xffff);
}

static inline uint16_t pkt_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t pkt_get32(const uint8_t *p)
{
	return (uint32_t)pkt_get16(p) << 16 | pkt_get16(p + 2);
}

/* Fill the checksum of the L4 segment at l4 (l4_len bytes, pseudo-header
 * from the addresses). SCTP gets CRC32c (stored little-endian, as on the
 * wire). Returns 0, -1 for a protocol without a checksum we know. */
static inline int pkt_l4_csum_fill(int family, const uint8_t *saddr, const uint8_t *daddr,
				   uint8_t proto, uint8_t *l4, size_t l4_len, bool udp_zero)
{
	uint32_t sum;
	uint16_t c;

	switch (proto) {
	case PB_P_TCP:
		if (l4_len < 20)
			return -1;
		pkt_put16(l4 + 16, 0);
		sum = pkt_pseudo_sum(family, saddr, daddr, proto, l4_len);
		pkt_put16(l4 + 16, pkt_csum_fold(pkt_csum_add(sum, l4, l4_len)));
		return 0;
	case PB_P_UDP:
		if (l4_len < 8)
			return -1;
		pkt_put16(l4 + 6, 0);
		if (udp_zero && family == 4)
			return 0;
		sum = pkt_pseudo_sum(family, saddr, daddr, proto, l4_len);
		c = pkt_csum_fold(pkt_csum_add(sum, l4, l4_len));
		pkt_put16(l4 + 6, c ? c : 0xffff);
		return 0;
	case PB_P_ICMP:
		if (l4_len < 8)
			return -1;
		pkt_put16(l4 + 2, 0);
		pkt_put16(l4 + 2, pkt_csum_fold(pkt_csum_add(0, l4, l4_len)));
		return 0;
	case PB_P_ICMPV6:
		if (l4_len < 8)
			return -1;
		pkt_put16(l4 + 2, 0);
		sum = pkt_pseudo_sum(family, saddr, daddr, proto, l4_len);
		pkt_put16(l4 + 2, pkt_csum_fold(pkt_csum_add(sum, l4, l4_len)));
		return 0;
	case PB_P_SCTP: {
		uint32_t crc;

		if (l4_len < 12)
			return -1;
		memset(l4 + 8, 0, 4);
		crc = pkt_crc32c(l4, l4_len);
		memcpy(l4 + 8, &crc, 4); /* little-endian on x86 = wire order */
		return 0;
	}
	}
	return -1;
}

/* ---- building ---- */

static inline size_t pkt_l4_hdr_len(const struct pkt_spec *s)
{
	switch (s->proto) {
	case PB_P_TCP:
		return 20 + ((s->tcp_opts_len + 3) & ~(size_t)3);
	case PB_P_UDP:
	case PB_P_ICMP:
	case PB_P_ICMPV6:
		return 8;
	case PB_P_SCTP:
		return 12;
	}
	return 0;
}

static inline bool pkt_is_later_frag(const struct pkt_spec *s)
{
	return s->frag_off != 0;
}

/* L4 header + data at p (room checked by the caller). */
static inline size_t pkt_build_l4(const struct pkt_spec *s, uint8_t *p)
{
	size_t hl = pkt_l4_hdr_len(s), n;
	const uint8_t *data = s->payload;
	size_t dlen = s->payload_len;

	if ((s->proto == PB_P_ICMP || s->proto == PB_P_ICMPV6) && s->inner) {
		data = s->inner;
		dlen = s->inner_len;
	}
	memset(p, 0, hl);
	switch (s->proto) {
	case PB_P_TCP:
		pkt_put16(p, s->sport);
		pkt_put16(p + 2, s->dport);
		pkt_put32(p + 4, s->seq);
		pkt_put32(p + 8, s->ack);
		p[12] = (uint8_t)((hl / 4) << 4);
		p[13] = s->tcp_flags;
		pkt_put16(p + 14, s->window);
		if (s->tcp_opts_len)
			memcpy(p + 20, s->tcp_opts, s->tcp_opts_len);
		break;
	case PB_P_UDP:
		pkt_put16(p, s->sport);
		pkt_put16(p + 2, s->dport);
		pkt_put16(p + 4, (uint16_t)(8 + dlen));
		break;
	case PB_P_SCTP:
		pkt_put16(p, s->sport);
		pkt_put16(p + 2, s->dport);
		pkt_put32(p + 4, s->sctp_vtag);
		break;
	case PB_P_ICMP:
	case PB_P_ICMPV6:
		p[0] = s->icmp_type;
		p[1] = s->icmp_code;
		if (s->inner) {
			pkt_put32(p + 4, s->icmp_rest);
		} else {
			pkt_put16(p + 4, s->icmp_id);
			pkt_put16(p + 6, s->icmp_seq);
		}
		break;
	}
	n = hl;
	if (dlen)
		memcpy(p + n, data, dlen);
	return n + dlen;
}

static inline size_t pkt_ext_bytes(const struct pkt_spec *s, int i)
{
	return s->ext_len[i] ? s->ext_len[i] : 8;
}

static inline bool pkt_v6_frag_hdr(const struct pkt_spec *s)
{
	return s->frag_hdr || s->frag_off || s->more_frags;
}

/* IPv6 extension headers at p, the last one pointing at last_nh. */
static inline size_t pkt_build_ext6(const struct pkt_spec *s, uint8_t *p, uint8_t last_nh)
{
	size_t off = 0;
	int n = s->n_ext;

	for (int i = 0; i < n; i++) {
		size_t len = pkt_ext_bytes(s, i);
		uint8_t nh = i + 1 < n ? s->ext[i + 1] : pkt_v6_frag_hdr(s) ? PB_NH_FRAGMENT : last_nh;

		memset(p + off, 0, len);
		p[off] = nh;
		if (s->ext[i] == PB_NH_AH) {
			p[off + 1] = (uint8_t)(len / 4 - 2);
			pkt_put32(p + off + 4, 0x1000 + i); /* SPI */
		} else {
			p[off + 1] = (uint8_t)(len / 8 - 1);
			if (s->ext[i] == PB_NH_ROUTING) {
				p[off + 2] = 253; /* experimental type, segments left 0 */
			} else if (len > 2) {
				p[off + 2] = 1; /* PadN over the rest */
				p[off + 3] = (uint8_t)(len - 4);
			}
		}
		off += len;
	}
	if (pkt_v6_frag_hdr(s)) {
		memset(p + off, 0, 8);
		p[off] = last_nh;
		pkt_put16(p + off + 2, (uint16_t)(s->frag_off << 3 | (s->more_frags ? 1 : 0)));
		pkt_put32(p + off + 4, s->frag_id);
		off += 8;
	}
	return off;
}

static inline size_t pkt_ext6_total(const struct pkt_spec *s)
{
	size_t n = pkt_v6_frag_hdr(s) ? 8 : 0;

	for (int i = 0; i < s->n_ext; i++)
		n += pkt_ext_bytes(s, i);
	return n;
}

/* IP header onwards into buf; 0 if it does not fit or is inconsistent. */
static inline size_t pkt_build_l3(const struct pkt_spec *s, uint8_t *buf, size_t cap,
				  struct pkt_layout *lo)
{
	bool later = pkt_is_later_frag(s);
	size_t dlen = (s->proto == PB_P_ICMP || s->proto == PB_P_ICMPV6) && s->inner ?
			      s->inner_len :
			      s->payload_len;
	size_t l4len = (later ? 0 : pkt_l4_hdr_len(s)) + dlen;
	size_t ipl, total;
	uint8_t *l4;

	if (s->ip_opts_len > 40 || s->tcp_opts_len > 40 || s->n_ext > PB_MAX_EXT ||
	    s->n_ext < 0)
		return 0;
	if (s->family == 4)
		ipl = 20 + ((s->ip_opts_len + 3) & ~(size_t)3);
	else if (s->family == 6)
		ipl = 40 + pkt_ext6_total(s);
	else
		return 0;
	total = ipl + l4len;
	if (total > cap || total > 65535)
		return 0;
	memset(buf, 0, ipl);
	if (s->family == 4) {
		buf[0] = (uint8_t)(0x40 | ipl / 4);
		buf[1] = s->tos;
		pkt_put16(buf + 2, (uint16_t)total);
		pkt_put16(buf + 4, s->ip_id);
		pkt_put16(buf + 6, (uint16_t)((s->dont_frag ? 0x4000 : 0) |
					      (s->more_frags ? 0x2000 : 0) | (s->frag_off & 0x1fff)));
		buf[8] = s->ttl;
		buf[9] = s->proto;
		memcpy(buf + 12, s->saddr, 4);
		memcpy(buf + 16, s->daddr, 4);
		if (s->ip_opts_len)
			memcpy(buf + 20, s->ip_opts, s->ip_opts_len);
		pkt_put16(buf + 10, pkt_csum_fold(pkt_csum_add(0, buf, ipl)));
	} else {
		buf[0] = (uint8_t)(0x60 | s->tos >> 4);
		buf[1] = (uint8_t)(s->tos << 4);
		pkt_put16(buf + 4, (uint16_t)(total - 40));
		buf[6] = s->n_ext ? s->ext[0] : pkt_v6_frag_hdr(s) ? PB_NH_FRAGMENT : s->proto;
		buf[7] = s->ttl;
		memcpy(buf + 8, s->saddr, 16);
		memcpy(buf + 24, s->daddr, 16);
		pkt_build_ext6(s, buf + 40, s->proto);
	}
	l4 = buf + ipl;
	if (later) {
		if (dlen)
			memcpy(l4, s->payload, dlen);
	} else {
		pkt_build_l4(s, l4);
		pkt_l4_csum_fill(s->family, s->saddr, s->daddr, s->proto, l4, l4len,
				 s->udp_zero_csum);
	}
	if (lo) {
		lo->l3 = 0;
		lo->l4 = later || !pkt_l4_hdr_len(s) ? 0 : ipl;
		lo->data = ipl + (later ? 0 : pkt_l4_hdr_len(s));
		lo->len = total;
	}
	return total;
}

/* A whole frame: Ethernet [+ VLAN] + pkt_build_l3(), or a raw non-IP frame
 * (family 0: eth_proto + payload). */
static inline size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap,
			       struct pkt_layout *lo)
{
	size_t l2 = PB_ETH_LEN + (s->vlan ? 4 : 0), n;
	uint16_t et = s->eth_proto ? s->eth_proto : s->family == 6 ? 0x86dd : 0x0800;
	struct pkt_layout l3lo;

	if (cap < l2)
		return 0;
	memcpy(buf, s->dmac, 6);
	memcpy(buf + 6, s->smac, 6);
	if (s->vlan) {
		pkt_put16(buf + 12, s->vlan_tpid ? s->vlan_tpid : 0x8100);
		pkt_put16(buf + 14, s->vlan_tci);
		pkt_put16(buf + 16, et);
	} else {
		pkt_put16(buf + 12, et);
	}
	if (s->family == 0) {
		if (l2 + s->payload_len > cap)
			return 0;
		memcpy(buf + l2, s->payload, s->payload_len);
		if (lo)
			*lo = (struct pkt_layout){ .l3 = l2, .l4 = 0, .data = l2,
						   .len = l2 + s->payload_len };
		return l2 + s->payload_len;
	}
	n = pkt_build_l3(s, buf + l2, cap - l2, &l3lo);
	if (!n)
		return 0;
	if (lo) {
		lo->l3 = l2;
		lo->l4 = l3lo.l4 ? l3lo.l4 + l2 : 0;
		lo->data = l3lo.data + l2;
		lo->len = n + l2;
	}
	return n + l2;
}

/* ---- verification ---- */

#define PB_FAIL(...)                                                           \
	do {                                                                   \
		if (why && whylen)                                             \
			snprintf(why, whylen, __VA_ARGS__);                    \
		return -1;                                                     \
	} while (0)

/* Parsed view of an IP packet for the verifier. */
struct pkt_view {
	int family;
	const uint8_t *saddr, *daddr;
	uint8_t proto;
	bool frag; /* any fragment (first or later) */
	bool later;
	size_t l4; /* offset of L4 from the IP header */
	size_t ip_len; /* claimed total length (header + payload) */
};

/* IP header at b (n bytes available); quoted: the packet may be cut. */
static inline int pkt_view_ip(const uint8_t *b, size_t n, bool quoted, struct pkt_view *v,
			      char *why, size_t whylen)
{
	memset(v, 0, sizeof(*v));
	if (n < 1)
		PB_FAIL("no IP header");
	if (b[0] >> 4 == 4) {
		size_t ihl = (size_t)(b[0] & 15) * 4;
		uint16_t fo;

		if (n < 20 || ihl < 20 || n < ihl)
			PB_FAIL("IPv4 header truncated (%zu bytes, ihl %zu)", n, ihl);
		if (pkt_csum_fold(pkt_csum_add(0, b, ihl)) != 0)
			PB_FAIL("%sIPv4 header checksum 0x%04x wrong", quoted ? "quoted " : "",
				pkt_get16(b + 10));
		v->ip_len = pkt_get16(b + 2);
		if (v->ip_len < ihl || (!quoted && v->ip_len > n))
			PB_FAIL("IPv4 tot_len %zu vs %zu bytes", v->ip_len, n);
		v->family = 4;
		v->saddr = b + 12;
		v->daddr = b + 16;
		v->proto = b[9];
		fo = pkt_get16(b + 6);
		v->frag = (fo & 0x3fff) != 0;
		v->later = (fo & 0x1fff) != 0;
		v->l4 = ihl;
		return 0;
	}
	if (b[0] >> 4 == 6) {
		size_t off = 40;
		uint8_t nh;

		if (n < 40)
			PB_FAIL("IPv6 header truncated");
		v->ip_len = 40 + (size_t)pkt_get16(b + 4);
		if (!quoted && v->ip_len > n)
			PB_FAIL("IPv6 payload_len %zu vs %zu bytes", v->ip_len - 40, n - 40);
		v->family = 6;
		v->saddr = b + 8;
		v->daddr = b + 24;
		nh = b[6];
		for (int i = 0; i < 16; i++) {
			if (nh != PB_NH_HOPOPTS && nh != PB_NH_ROUTING && nh != PB_NH_DSTOPTS &&
			    nh != PB_NH_AH && nh != PB_NH_FRAGMENT)
				break;
			if (off + 8 > n)
				PB_FAIL("IPv6 extension header truncated");
			if (nh == PB_NH_FRAGMENT) {
				uint16_t fo = pkt_get16(b + off + 2);

				v->frag = (fo & 0xfff9) != 0;
				v->later = (fo & 0xfff8) != 0;
				nh = b[off];
				off += 8;
			} else if (nh == PB_NH_AH) {
				nh = b[off];
				off += ((size_t)b[off + 1] + 2) * 4;
			} else {
				nh = b[off];
				off += ((size_t)b[off + 1] + 1) * 8;
			}
		}
		v->proto = nh;
		v->l4 = off;
		return 0;
	}
	PB_FAIL("IP version %u", b[0] >> 4);
}

static inline int pkt_verify_ip(const uint8_t *b, size_t n, bool quoted, int depth, char *why,
				size_t whylen);

static inline int pkt_verify_l4(const uint8_t *ip, size_t n, const struct pkt_view *v, int depth,
				char *why, size_t whylen)
{
	const uint8_t *l4 = ip + v->l4;
	size_t l4len = v->ip_len - v->l4;
	uint32_t sum;

	if (v->l4 > v->ip_len)
		PB_FAIL("headers longer than the packet");
	switch (v->proto) {
	case PB_P_TCP:
		if (l4len < 20 || (size_t)(l4[12] >> 4) * 4 < 20 || (size_t)(l4[12] >> 4) * 4 > l4len)
			PB_FAIL("TCP header truncated/bad doff");
		sum = pkt_pseudo_sum(v->family, v->saddr, v->daddr, v->proto, (uint32_t)l4len);
		if (pkt_csum_fold(pkt_csum_add(sum, l4, l4len)) != 0)
			PB_FAIL("TCP checksum 0x%04x wrong", pkt_get16(l4 + 16));
		return 0;
	case PB_P_UDP:
		if (l4len < 8 || pkt_get16(l4 + 4) != l4len)
			PB_FAIL("UDP length %u vs %zu", l4len >= 8 ? pkt_get16(l4 + 4) : 0, l4len);
		if (v->family == 4 && pkt_get16(l4 + 6) == 0)
			return 0;
		if (v->family == 6 && pkt_get16(l4 + 6) == 0)
			PB_FAIL("UDP over IPv6 with zero checksum");
		sum = pkt_pseudo_sum(v->family, v->saddr, v->daddr, v->proto, (uint32_t)l4len);
		if (pkt_csum_fold(pkt_csum_add(sum, l4, l4len)) != 0)
			PB_FAIL("UDP checksum 0x%04x wrong", pkt_get16(l4 + 6));
		return 0;
	case PB_P_SCTP: {
		uint32_t crc, got;

		if (l4len < 12)
			PB_FAIL("SCTP header truncated");
		memcpy(&got, l4 + 8, 4);
		crc = pkt_crc32c_add(0xffffffffu, l4, 8);
		crc = pkt_crc32c_add(crc, NULL, 4);
		crc = ~pkt_crc32c_add(crc, l4 + 12, l4len - 12);
		if (crc != got)
			PB_FAIL("SCTP CRC32c wrong");
		return 0;
	}
	case PB_P_ICMP:
	case PB_P_ICMPV6: {
		bool v6 = v->proto == PB_P_ICMPV6;
		bool err;

		if (l4len < 8)
			PB_FAIL("ICMP header truncated");
		if (v6 && v->family != 6)
			PB_FAIL("ICMPv6 in IPv4");
		sum = v6 ? pkt_pseudo_sum(6, v->saddr, v->daddr, v->proto, (uint32_t)l4len) : 0;
		if (pkt_csum_fold(pkt_csum_add(sum, l4, l4len)) != 0)
			PB_FAIL("ICMP%s checksum 0x%04x wrong", v6 ? "v6" : "", pkt_get16(l4 + 2));
		err = v6 ? l4[0] < 128 :
			   (l4[0] == 3 || l4[0] == 4 || l4[0] == 5 || l4[0] == 11 || l4[0] == 12);
		if (err && depth == 0)
			return pkt_verify_ip(l4 + 8, l4len - 8, true, depth + 1, why, whylen);
		return 0;
	}
	}
	(void)n;
	return 0;
}

/* An IP packet (b, n bytes). A quoted packet (inside an ICMP error) may be
 * cut: its L4 checksum is checked only when it is complete. */
static inline int pkt_verify_ip(const uint8_t *b, size_t n, bool quoted, int depth, char *why,
				size_t whylen)
{
	struct pkt_view v;

	if (pkt_view_ip(b, n, quoted, &v, why, whylen))
		return -1;
	if (v.frag)
		return 0; /* L4 checksum spans the datagram */
	if (quoted && v.ip_len > n)
		return 0;
	return pkt_verify_l4(b, n, &v, depth, why, whylen);
}

/* A whole frame. Non-IP frames are valid by definition. */
static inline int pkt_verify(const uint8_t *buf, size_t len, char *why, size_t whylen)
{
	size_t off = PB_ETH_LEN;
	uint16_t et;

	if (len < PB_ETH_LEN)
		PB_FAIL("frame shorter than Ethernet");
	et = pkt_get16(buf + 12);
	if (et == 0x8100 || et == 0x88a8) {
		if (len < off + 4)
			PB_FAIL("VLAN tag truncated");
		et = pkt_get16(buf + 16);
		off += 4;
	}
	if (et != 0x0800 && et != 0x86dd)
		return 0;
	return pkt_verify_ip(buf + off, len - off, false, 0, why, whylen);
}

#undef PB_FAIL

/* Hex dump of the first difference between two frames, for FAIL lines. */
static inline void pkt_diff(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, char *out,
			    size_t outlen)
{
	size_t n = alen < blen ? alen : blen, i;

	for (i = 0; i < n && a[i] == b[i]; i++)
		;
	if (i == n && alen == blen) {
		snprintf(out, outlen, "identical");
		return;
	}
	if (i == n) {
		snprintf(out, outlen, "length %zu vs %zu", alen, blen);
		return;
	}
	snprintf(out, outlen, "byte %zu: got 0x%02x want 0x%02x (len %zu/%zu)", i, a[i], b[i], alen,
		 blen);
}

#endif /* SL_TEST_PKT_BUILD_H */
