/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The socket table (sl_socks): one preallocated record per client socket
 * that Sluice translated, found again from the socket's cookie.
 *
 * A socket's slots are cookie % SL_MAX_SOCKS and the SL_SOCK_PROBES after
 * it. connect() claims the first free one with a compare-and-swap of
 * `owner` from 0 to the cookie: no allocation, no hashing, no lock.
 * Cookies come from per-CPU counters, so consecutive sockets get
 * neighbouring slots and a slot is reused after about SL_MAX_SOCKS newer
 * sockets, unless a long-lived one still holds it; then the next probe is
 * taken. All probes taken: the connection is translated but holds nothing
 * (storage_fail), as before when socket storage could not be created.
 *
 * Who frees a slot (owner back to 0): the last of the socket's close()
 * (cgroup/sock_release) and its TCP_CLOSE callback (sockops), decided with
 * the RELEASED/CLOSED flags, see sl_sock_release_done() and sockops'
 * sl_on_close(). The flow half of the record stays until the slot is
 * claimed again: that is the history `sluice flows` lists.
 *
 * Only the owning socket's programs write a record (its connect(), its
 * sockops callbacks, its close()), and they cannot run before the claim;
 * userspace only reads.
 */
#ifndef SL_SOCKTAB_H
#define SL_SOCKTAB_H

#include "common.h"

#define SL_SOCK_MASK (SL_MAX_SOCKS - 1)

_Static_assert((SL_MAX_SOCKS & SL_SOCK_MASK) == 0, "SL_MAX_SOCKS is a power of two");

static __always_inline struct sl_sock *sl_sock_slot(__u64 cookie, __u32 i)
{
	__u32 k = ((__u32)cookie + i) & SL_SOCK_MASK;

	return bpf_map_lookup_elem(&sl_socks, &k);
}

/* The record of socket COOKIE, or NULL: the socket is not Sluice's. */
static __always_inline struct sl_sock *sl_sock_find(__u64 cookie)
{
	struct sl_sock *s;

	for (__u32 i = 0; i < SL_SOCK_PROBES; i++) {
		s = sl_sock_slot(cookie, i);
		if (s && s->owner == cookie)
			return s;
	}
	return NULL;
}

/* The record socket COOKIE holds (*again = true: the socket connect()s
 * again), else a free slot now owned by it, else NULL (every probe taken).
 * One pass over the probes: the socket's own record may sit behind a slot
 * freed since it was claimed, so every probe is looked at before a claim. */
static __always_inline struct sl_sock *sl_sock_claim(__u64 cookie, bool *again)
{
	struct sl_sock *s, *free = NULL;

	*again = false;
	for (__u32 i = 0; i < SL_SOCK_PROBES; i++) {
		s = sl_sock_slot(cookie, i);
		if (!s)
			continue;
		if (s->owner == cookie) {
			*again = true;
			return s;
		}
		if (!s->owner && !free)
			free = s;
	}
	if (free && __sync_val_compare_and_swap(&free->owner, 0, cookie) == 0)
		return free;
	/* Lost the race for that slot to another socket: try the others. */
	for (__u32 i = 0; i < SL_SOCK_PROBES; i++) {
		s = sl_sock_slot(cookie, i);
		if (s && !s->owner && __sync_val_compare_and_swap(&s->owner, 0, cookie) == 0)
			return s;
	}
	return NULL;
}

/* A free slot for socket COOKIE, which had no cookie before this connect4
 * and so holds no record (sl_sock_take), or NULL. */
static __always_inline struct sl_sock *sl_sock_claim_new(__u64 cookie)
{
	struct sl_sock *s;

	for (__u32 i = 0; i < SL_SOCK_PROBES; i++) {
		s = sl_sock_slot(cookie, i);
		if (s && !s->owner && __sync_val_compare_and_swap(&s->owner, 0, cookie) == 0)
			return s;
	}
	return NULL;
}

static __always_inline void sl_sock_free(struct sl_sock *s, __u64 cookie)
{
	__sync_val_compare_and_swap(&s->owner, cookie, 0);
}

/* The socket's endpoint state, if the id it took is still the same pair's
 * (user/stateid.c reuses an id only when nothing holds a unit of it, but a
 * socket that already gave its unit back may still fold its counters). */
static __always_inline struct sl_ep_state *sl_sock_ep(const struct sl_sock *s)
{
	struct sl_ep_state *es = sl_ep_state_at(s->ep_state);

	return es && es->gen == s->ep_gen ? es : NULL;
}

#endif /* SL_SOCKTAB_H */
