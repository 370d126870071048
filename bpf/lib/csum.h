/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Incremental Internet checksums (RFC 1624: HC' = ~(~HC + ~m + m')).
 *
 * All arithmetic is on 16/32-bit words exactly as loaded from the packet,
 * without byte swapping: one's-complement sums commute with byte order, so
 * a diff computed on raw words applies to the raw checksum field.
 *
 * XDP writes checksums itself (there is no skb, and a frame from a NIC
 * carries complete checksums). TC uses the kernel's bpf_l3/l4_csum_replace
 * instead, which also keep skb->csum and CHECKSUM_PARTIAL state right; the
 * helpers here give it the diffs (sl_csum_diff*) it passes with size 0.
 */
#ifndef SL_CSUM_H
#define SL_CSUM_H

/* One's-complement add of two 32-bit partial sums. */
static __always_inline __u32 sl_csum_add(__u32 a, __u32 b)
{
	a += b;
	return a + (a < b);
}

static __always_inline __u16 sl_csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* The partial sum that turns old words into new ones (for n 32-bit words). */
static __always_inline __u32 sl_csum_diff4(__u32 d, __be32 old, __be32 new)
{
	return sl_csum_add(sl_csum_add(d, ~old), new);
}

static __always_inline __u32 sl_csum_diff2(__u32 d, __be16 old, __be16 new)
{
	return sl_csum_add(sl_csum_add(d, (__u16)~old), new);
}

/* Diff of an address (1 word for IPv4, 4 for IPv6). */
static __always_inline __u32 sl_csum_diff_addr(__u32 d, const __be32 *old, const __be32 *new,
					       __u8 family)
{
	d = sl_csum_diff4(d, old[0], new[0]);
	if (family == SL_AF_INET6) {
		d = sl_csum_diff4(d, old[1], new[1]);
		d = sl_csum_diff4(d, old[2], new[2]);
		d = sl_csum_diff4(d, old[3], new[3]);
	}
	return d;
}

/* Apply a diff to a stored checksum field (value as in the packet). */
static __always_inline __u16 sl_csum_apply(__u16 field, __u32 diff)
{
	return ~sl_csum_fold(sl_csum_add((__u16)~field, diff));
}

/* The same for UDP: 0 means "no checksum" (IPv4) and a computed 0 is sent
 * as 0xffff (RFC 768), so an absent checksum stays absent. */
static __always_inline __u16 sl_csum_apply_udp(__u16 field, __u32 diff)
{
	__u16 c;

	if (!field)
		return 0;
	c = sl_csum_apply(field, diff);
	return c ? c : 0xffff;
}

#endif /* SL_CSUM_H */
