/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Node-ingress connection tracking (sl_ct) and reply translation (sl_rnat).
 *
 * sl_ct key: the packet as the client sends it (client -> frontend as on the
 * wire, so a NodePort flow is keyed by the node address it reached).
 * sl_rnat key: the reply as the endpoint sends it (endpoint -> client).
 *
 * Connection limit accounting: a TCP flow admitted on a SYN holds one unit
 * of sl_group_state{svc, tag}.active and carries SL_CT_F_COUNTED. The unit is
 * given back by whoever sets SL_CT_F_CLOSED first (an atomic fetch-or, so
 * exactly one caller sees it clear): the RST or the second FIN in either
 * direction (XDP for client packets, TC for endpoint packets), or sl_ct_gc
 * for an idle entry. An entry that the LRU evicts while still counted loses
 * its unit; sl_ct_gc runs often enough that live tables do not fill up.
 */
#ifndef SL_CT_H
#define SL_CT_H

#include "common.h"
#include "maps_node.h"
#include "pkt.h"

/* Reply tuple of a tracked flow: endpoint -> client. */
static __always_inline void sl_rnat_key(struct sl_tuple *r, const struct sl_tuple *fwd,
					const struct sl_l4addr *ep)
{
	__builtin_memset(r, 0, sizeof(*r));
	__builtin_memcpy(r->saddr, ep->addr, sizeof(r->saddr));
	__builtin_memcpy(r->daddr, fwd->saddr, sizeof(r->daddr));
	r->sport = ep->port;
	r->dport = fwd->sport;
	r->proto = fwd->proto;
	r->family = fwd->family;
}

/* The client's tuple of a reply whose frontend is fe: client -> frontend. */
static __always_inline void sl_ct_key_of_reply(struct sl_tuple *k, const struct sl_tuple *rep,
					       const struct sl_l4addr *fe)
{
	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(k->saddr, rep->daddr, sizeof(k->saddr));
	__builtin_memcpy(k->daddr, fe->addr, sizeof(k->daddr));
	k->sport = rep->dport;
	k->dport = fe->port;
	k->proto = rep->proto;
	k->family = rep->family;
}

/* Give back the group unit of a flow, if it held one. old = the flags as
 * they were before this caller set SL_CT_F_CLOSED. Returns 1 if released. */
static __always_inline int sl_ct_release(const struct sl_ct_val *ct, __u32 old)
{
	struct sl_group_state *gs;

	if ((old & SL_CT_F_CLOSED) || !(old & SL_CT_F_COUNTED))
		return 0;
	gs = sl_group_state_get(&ct->svc, ct->tag);
	if (gs)
		__sync_fetch_and_sub(&gs->active, 1);
	return 1;
}

static __always_inline int sl_ct_close(struct sl_ct_val *ct)
{
	return sl_ct_release(ct, __sync_fetch_and_or(&ct->flags, SL_CT_F_CLOSED));
}

/* FIN/RST of a TCP packet of a tracked flow; rev: sent by the endpoint.
 * The common case (neither flag) costs one test. */
static __always_inline void sl_ct_track(struct sl_ct_val *ct, __u8 tcp_flags, bool rev)
{
	__u32 fin = rev ? SL_CT_F_FIN_REV : SL_CT_F_FIN_FWD;
	__u32 other = rev ? SL_CT_F_FIN_FWD : SL_CT_F_FIN_REV;
	__u32 old;

	if (!(tcp_flags & (SL_TCP_FIN | SL_TCP_RST)))
		return;
	if (tcp_flags & SL_TCP_RST) {
		sl_ct_close(ct);
		return;
	}
	old = __sync_fetch_and_or(&ct->flags, fin);
	if (old & other)
		sl_ct_close(ct);
}

#endif /* SL_CT_H */
