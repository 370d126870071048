/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Active-connection accounting. A translated socket holds one unit of
 * sl_group_state.active and sl_ep_state.active while SL_SOCK_F_COUNTED is set
 * in its storage. Whoever clears that bit (an atomic fetch-and, so exactly
 * one caller sees it set) gives the unit back: sockops at TCP_CLOSE,
 * cgroup/sock_release at close(), or connect() called again on the socket.
 * Every other change to sl_sock.flags is atomic too, so a plain
 * read-modify-write can never resurrect the bit after it was released.
 */
#ifndef SL_ACCOUNT_H
#define SL_ACCOUNT_H

#include "common.h"

/* ES: the socket's endpoint state when the caller already looked it up
 * (saves a hash lookup on the close path), else NULL. */
static __always_inline void sl_release_with(struct sl_sock *s, struct sl_ep_state *es)
{
	__u32 old = __sync_fetch_and_and(&s->flags, ~(__u32)SL_SOCK_F_COUNTED);
	struct sl_group_state *gs;

	if (!(old & SL_SOCK_F_COUNTED))
		return;
	gs = sl_group_state_get(&s->fe, s->tag, false);
	if (gs)
		__sync_fetch_and_sub(&gs->active, 1);
	if (!es)
		es = sl_ep_state_get(&s->fe, &s->ep);
	if (es)
		__sync_fetch_and_sub(&es->active, 1);
	sl_dbg("sluice: release port %u tag %u", bpf_ntohs(s->ep.port), s->tag);
}

static __always_inline void sl_release(struct sl_sock *s)
{
	sl_release_with(s, NULL);
}

/* Takes one unit of the group's connection limit before an endpoint is
 * chosen, so that a burst of concurrent connect() calls cannot overshoot
 * max_conns. hold=false (no socket storage to give the unit back later):
 * only checks the limit. */
static __always_inline int sl_reserve(struct sl_group_state *gs, const struct sl_group *grp,
				      bool hold)
{
	__u32 max = grp->max_conns;
	__s64 old;

	if (!gs)
		return 0; /* group state map full: fail open */
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
