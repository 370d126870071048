/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Addresses in and out of struct bpf_sock_addr.
 *
 * The verifier lets v4 hooks touch only user_ip4 and v6 hooks only
 * user_ip6, so every helper takes the socket family as a constant (4 or 6)
 * that the entry point passes literally; after inlining the other branch is
 * gone. user_ip6 is accessed one 32-bit word at a time through volatile,
 * because the verifier rejects the 64-bit accesses clang would merge them
 * into.
 *
 * A v4-mapped destination (::ffff:a.b.c.d) dialled on a dual-stack v6
 * socket is looked up as the IPv4 service it names, and IPv4 endpoints are
 * written back v4-mapped; so sl_l4addr never holds a v4-mapped address.
 */
#ifndef SL_ADDR_H
#define SL_ADDR_H

#include "common.h"

static __always_inline bool sl_v4mapped(__be32 w0, __be32 w1, __be32 w2)
{
	return !w0 && !w1 && w2 == bpf_htonl(0xffff);
}

/* From four network-order words of an IPv6 address (port etc. untouched). */
static __always_inline void sl_addr_from6(struct sl_l4addr *a, __be32 w0, __be32 w1, __be32 w2,
					  __be32 w3)
{
	if (sl_v4mapped(w0, w1, w2)) {
		a->family = SL_AF_INET;
		a->addr[0] = w3;
		return;
	}
	a->family = SL_AF_INET6;
	a->addr[0] = w0;
	a->addr[1] = w1;
	a->addr[2] = w2;
	a->addr[3] = w3;
}

#define sl_rd6(ctx, i) (*(volatile __u32 *)&(ctx)->user_ip6[i])

/* The address in ctx (destination, or source for recvmsg, or peer). */
static __always_inline void sl_ctx_load(struct bpf_sock_addr *ctx, int fam, struct sl_l4addr *a)
{
	__builtin_memset(a, 0, sizeof(*a));
	if (fam == 4) {
		a->family = SL_AF_INET;
		a->addr[0] = ctx->user_ip4;
	} else {
		sl_addr_from6(a, sl_rd6(ctx, 0), sl_rd6(ctx, 1), sl_rd6(ctx, 2), sl_rd6(ctx, 3));
	}
	a->port = (__be16)ctx->user_port;
	a->proto = (__u8)ctx->protocol;
}

static __always_inline int sl_ctx_store(struct bpf_sock_addr *ctx, int fam,
					const struct sl_l4addr *a)
{
	if (fam == 4) {
		if (a->family != SL_AF_INET)
			return -SL_R_FAMILY;
		ctx->user_ip4 = a->addr[0];
	} else if (a->family == SL_AF_INET) {
		sl_rd6(ctx, 0) = 0;
		sl_rd6(ctx, 1) = 0;
		sl_rd6(ctx, 2) = bpf_htonl(0xffff);
		sl_rd6(ctx, 3) = a->addr[0];
	} else {
		sl_rd6(ctx, 0) = a->addr[0];
		sl_rd6(ctx, 1) = a->addr[1];
		sl_rd6(ctx, 2) = a->addr[2];
		sl_rd6(ctx, 3) = a->addr[3];
	}
	ctx->user_port = a->port;
	return 0;
}

#endif /* SL_ADDR_H */
