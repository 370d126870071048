/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Pod-interface flow records (sl_pflows) and exact per-interface totals
 * (sl_pod_totals), for bpf/tc_pod.bpf.c.
 *
 * Canonical key: the (address, port) pair that is lower comes first, so both
 * directions of a flow share one record. "Lower" compares the addresses as
 * unsigned big-endian numbers (memcmp order of the wire bytes), then the
 * ports in host order; equal pairs keep the packet's order. Userspace that
 * builds keys to look records up must use the same order (docs/KERNEL.md).
 *
 * Totals are per-CPU and bumped for every passed IP packet, so they are
 * exact whatever the LRU evicts: what an interface's totals hold beyond the
 * sum of its live records is the traffic of evicted records (plus the
 * passed malformed packets, which have no record). Flow records are shared
 * by CPUs (the two directions of a flow often run on different ones), so
 * their counters are changed with atomic adds.
 */
#ifndef SL_PFLOW_H
#define SL_PFLOW_H

#include "common.h"
#include "maps_node.h"
#include "pkt.h"
#include "clock.h"

#define SL_PF_EEXIST 17 /* errno (vmlinux.h has none) */

/* Hook directions: the index of sl_pod_totals.packets[] etc. */
enum {
	SL_POD_FROM = 0, /* TC ingress of the host end: leaving the pod */
	SL_POD_TO = 1, /* TC egress of the host end: entering the pod */
};

/* What one packet adds to its record and to the totals. */
struct sl_pf_delta {
	__u64 bytes; /* L3 bytes; a GSO packet counts every segment's headers */
	__u64 payload; /* L4 data bytes */
	__u32 segs; /* wire packets (GSO segments), >= 1 */
	__u8 tcp_flags;
	__u8 kdir; /* 0: the packet goes key.saddr -> key.daddr; 1: reverse */
	__u8 pad[2];
};

/* true when (a, pa) sorts after (b, pb); see the order above. */
static __always_inline bool sl_pf_after(const __be32 *a, __be16 pa, const __be32 *b, __be16 pb)
{
	for (int i = 0; i < 4; i++) {
		__u32 x = bpf_ntohl(a[i]), y = bpf_ntohl(b[i]);

		if (x != y)
			return x > y;
	}
	return bpf_ntohs(pa) > bpf_ntohs(pb);
}

/* Canonical key of tuple t on ifindex; *kdir tells which way t goes. */
static __always_inline void sl_pf_key(struct sl_pflow_key *k, const struct sl_tuple *t,
				      __u32 ifindex, __u8 *kdir)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->t.proto = t->proto;
	k->t.family = t->family;
	k->ifindex = ifindex;
	if (sl_pf_after(t->saddr, t->sport, t->daddr, t->dport)) {
		__builtin_memcpy(k->t.saddr, t->daddr, 16);
		__builtin_memcpy(k->t.daddr, t->saddr, 16);
		k->t.sport = t->dport;
		k->t.dport = t->sport;
		*kdir = 1;
		return;
	}
	__builtin_memcpy(k->t.saddr, t->saddr, 16);
	__builtin_memcpy(k->t.daddr, t->daddr, 16);
	k->t.sport = t->sport;
	k->t.dport = t->dport;
	*kdir = 0;
}

/* CLOCK_MONOTONIC at jiffy resolution: flow first/last times need no
 * better (bpf/lib/clock.h). */
static __always_inline __u64 sl_pf_now(void)
{
	return sl_tick_now();
}

/* tcp_flags[0], tcp_flags[1] and flags share one aligned 32-bit word, so
 * one atomic OR sets the flags of a direction and record flags together;
 * the word is built byte by byte, which is right on either endianness. */
static __always_inline void sl_pf_or(struct sl_pflow_val *v, __u8 kdir, __u8 tcp, __u8 flags)
{
	__u8 b[4] = {};
	__u32 w;

	if ((v->tcp_flags[kdir & 1] | tcp) == v->tcp_flags[kdir & 1] && (v->flags | flags) == v->flags)
		return;
	if (kdir & 1)
		b[1] = tcp;
	else
		b[0] = tcp;
	b[2] = flags;
	__builtin_memcpy(&w, b, sizeof(w));
	__sync_fetch_and_or((__u32 *)&v->tcp_flags[0], w);
}

/* Clear record flags (keep = the flags to keep), atomically against the
 * ORs of the packet path. */
static __always_inline void sl_pf_and_flags(struct sl_pflow_val *v, __u8 keep)
{
	__u8 b[4] = { 0xff, 0xff, keep, 0xff };
	__u32 w;

	__builtin_memcpy(&w, b, sizeof(w));
	__sync_fetch_and_and((__u32 *)&v->tcp_flags[0], w);
}

static __always_inline void sl_pf_add(struct sl_pflow_val *v, const struct sl_pf_delta *d,
				      __u64 now, __u8 flags)
{
	__u32 i = d->kdir & 1;

	__sync_fetch_and_add(&v->packets[i], d->segs);
	__sync_fetch_and_add(&v->bytes[i], d->bytes);
	if (d->payload)
		__sync_fetch_and_add(&v->payload[i], d->payload);
	/* CPUs' cached clocks differ by up to a tick: never go back. */
	if (now > v->last_ns)
		v->last_ns = now;
	sl_pf_or(v, d->kdir, d->tcp_flags, flags);
}

/* New record holding this packet. 0: created; 1: another CPU created it
 * first (the caller adds to that one); <0: not stored. */
static __always_inline int sl_pf_create(const struct sl_pflow_key *k, const struct sl_pf_delta *d,
					__u8 flags, __u64 now)
{
	struct sl_pflow_val v = {};
	__u8 rev = d->kdir & 1;
	long err;

	/* Constant indexes: clang turns a variable index into a stack
	 * slot into pointer arithmetic the verifier rejects. */
	if (rev) {
		v.packets[1] = d->segs;
		v.bytes[1] = d->bytes;
		v.payload[1] = d->payload;
		v.tcp_flags[1] = d->tcp_flags;
	} else {
		v.packets[0] = d->segs;
		v.bytes[0] = d->bytes;
		v.payload[0] = d->payload;
		v.tcp_flags[0] = d->tcp_flags;
	}
	v.first_ns = now;
	v.last_ns = now;
	v.flags = flags | (rev ? SL_PF_INIT_REV : 0);
	err = bpf_map_update_elem(&sl_pflows, k, &v, BPF_NOEXIST);
	if (err == -SL_PF_EEXIST)
		return 1;
	return err ? -1 : 0;
}

/* Count the packet in its record (creating it, with flags, if missing). v:
 * the record the caller already looked up, or NULL. Returns 1 when a record
 * was created. */
static __always_inline int sl_pf_account(const struct sl_pflow_key *k, struct sl_pflow_val *v,
					 const struct sl_pf_delta *d, __u8 flags, __u64 now)
{
	if (!v) {
		int r = sl_pf_create(k, d, flags, now);

		if (r <= 0)
			return r == 0;
		v = bpf_map_lookup_elem(&sl_pflows, k);
		if (!v)
			return 0;
	}
	sl_pf_add(v, d, now, flags);
	return 0;
}

/* This CPU's totals of an interface, created on first use. */
static __always_inline struct sl_pod_totals *sl_pod_totals_get(__u32 ifindex)
{
	return sl_get_or_create(&sl_pod_totals, &ifindex);
}

/* Per-CPU, and TC programs do not nest on a CPU: plain adds are exact. */
static __always_inline void sl_pod_count(struct sl_pod_totals *tot, __u32 hdir,
					 const struct sl_pf_delta *d, bool new_flow)
{
	if (!tot)
		return;
	tot->packets[hdir & 1] += d->segs;
	tot->bytes[hdir & 1] += d->bytes;
	if (new_flow)
		tot->flows++;
}

static __always_inline void sl_pod_drop(struct sl_pod_totals *tot, __u32 reason)
{
	if (tot && reason < SL_DROP__COUNT)
		tot->drops[reason]++;
}

#endif /* SL_PFLOW_H */
