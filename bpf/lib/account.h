/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Active-connection accounting. A translated socket holds one unit of
 * sl_group_state.active and sl_ep_state.active (at the ids in its socket
 * table record) while SL_SOCK_F_COUNTED is set. Whoever clears that bit
 * (an atomic fetch-and, so exactly one caller sees it set) gives the units
 * back: sockops at TCP_CLOSE, cgroup/sock_release at close(), or connect()
 * called again on the socket. Every other change to sl_sock.flags is
 * atomic too, so a plain read-modify-write can never resurrect the bit.
 */
#ifndef SL_ACCOUNT_H
#define SL_ACCOUNT_H

#include "socktab.h"

static __always_inline void sl_release(struct sl_sock *s)
{
	__u32 old = __sync_fetch_and_and(&s->flags, ~(__u32)SL_SOCK_F_COUNTED);
	struct sl_group_state *gs;
	struct sl_ep_state *es;

	if (!(old & SL_SOCK_F_COUNTED))
		return;
	gs = sl_group_state_at(s->grp_state);
	if (gs)
		__sync_fetch_and_sub(&gs->active, 1);
	es = sl_sock_ep(s);
	if (es)
		__sync_fetch_and_sub(&es->active, 1);
	sl_dbg("sluice: release port %u state %u", bpf_ntohs(s->ep.port), s->ep_state);
}

/* Takes one unit of the group's connection limit (MAX, 0 = none) with one
 * atomic add that also reads the count, so that a burst of concurrent
 * connect() calls cannot overshoot it. hold=false (no record to give the
 * unit back later): only checks the limit. */
static __always_inline int sl_reserve(struct sl_group_state *gs, __u32 max, bool hold)
{
	__s64 old;

	if (!gs)
		return 0; /* no state id: fail open */
	if (hold)
		old = __sync_fetch_and_add(&gs->active, 1);
	else
		old = gs->active;
	if (!max || old < (__s64)max)
		return 0;
	if (hold)
		__sync_fetch_and_sub(&gs->active, 1);
	__sync_fetch_and_add(&gs->overflow, 1);
	sl_count(overflow);
	return -SL_R_OVERFLOW;
}

#endif /* SL_ACCOUNT_H */
