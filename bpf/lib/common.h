/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Shared by every Sluice BPF program: load-time configuration, constants that
 * vmlinux.h does not carry, counters, small map helpers.
 */
#ifndef SL_COMMON_H
#define SL_COMMON_H

#include "maps.h"

/* errno values (vmlinux.h has none) */
#define SL_ENOENT 2
#define SL_EINVAL 22
#define SL_ECONNREFUSED 111

#define SL_KERNEL_AF_INET 2
#define SL_KERNEL_AF_INET6 10
#define SL_IPPROTO_TCP 6
#define SL_IPPROTO_UDP 17

/* bpf_setsockopt() level and option (include/uapi/linux/tcp.h) */
#define SL_SOL_TCP 6
#define SL_TCP_BPF_SOCK_OPS_CB_FLAGS 1008

/* Why a worker refuses a connection (returned negated; 0 = go on). BPF
 * internal: every refusal looks the same to the application (see
 * sl_verdict()); the counters in sl_stats tell them apart. */
enum sl_reason {
	SL_R_NO_BACKEND = 1, /* no selectable endpoint */
	SL_R_OVERFLOW, /* connection limit reached */
	SL_R_NO_PROXY, /* hand-off demanded, no proxy (or no socket storage) */
	SL_R_FAMILY, /* endpoint family cannot be reached from this socket */
	SL_R_MOVED, /* the slot read was switched away from meanwhile: read again */
};

/* Set by the loader on the skeleton before load. */
const volatile __u32 sl_debug = 0;

#define sl_dbg(fmt, args...)                                                   \
	({                                                                     \
		if (sl_debug)                                                  \
			bpf_printk(fmt, ##args);                               \
	})

/* Zeroes for BPF_NOEXIST inserts; big enough for every state value. Kept in
 * .rodata so that the 512-byte stack is not spent on them. */
static const __u8 sl_zero[sizeof(struct sl_ep_state)];

static __always_inline struct sl_stats *sl_stats_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sl_stats, &zero);
}

/* Counters are bumped atomically although per CPU: a sleepable sl_outcome
 * run can be preempted by a socket hook on the same CPU. */
#define sl_count(field)                                                        \
	({                                                                     \
		struct sl_stats *s__ = sl_stats_get();                         \
		if (s__)                                                       \
			__sync_fetch_and_add(&s__->field, 1);                  \
	})

static __always_inline struct sl_config *sl_config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sl_config, &zero);
}

/*
 * Reading a slot while the publisher may rewrite it (docs/KERNEL.md, "A
 * slot rewritten under a reader"). Right after a switch the publisher
 * rewrites the slot that was live, in place; a program that read the old
 * `active_slot` just before the switch and is held up (an interrupt, a
 * preempted vCPU) could read its rows half rewritten. The publisher
 * switches with two config writes, `active_slot` first and `generation`
 * second, and writes no row of a slot until a generation later than every
 * reader of that slot saw. A reader loads the generation, then the slot,
 * reads rows, and loads the generation again before it acts on them: the
 * same value means no row it read was being rewritten. This rests on loads
 * staying in program order, which x86-64 gives and BPF cannot ask for.
 */
struct sl_view {
	__u32 gen;
	__u32 slot;
};

static __always_inline struct sl_view sl_view_of(const struct sl_config *cfg)
{
	struct sl_view v;

	v.gen = *(const volatile __u32 *)&cfg->generation;
	v.slot = *(const volatile __u32 *)&cfg->active_slot & 1;
	return v;
}

/* Did a switch happen since V was taken (then the rows read may be torn)? */
static __always_inline bool sl_view_moved(const struct sl_config *cfg, const struct sl_view *v)
{
	asm volatile("" ::: "memory"); /* after every row load, in the code */
	return *(const volatile __u32 *)&cfg->generation != v->gen;
}

/* Lookup that inserts a zeroed value first when the key is missing. Two CPUs
 * racing both end up with the one record that won. NULL when the map is
 * full. */
static __always_inline void *sl_get_or_create(void *map, const void *key)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, sl_zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

static __always_inline bool sl_addr_eq(const struct sl_l4addr *a, const struct sl_l4addr *b)
{
	return a->addr[0] == b->addr[0] && a->addr[1] == b->addr[1] &&
	       a->addr[2] == b->addr[2] && a->addr[3] == b->addr[3] &&
	       a->port == b->port && a->family == b->family;
}

/* The way of bucket B holding TAG, or SL_SVC_WAYS. The tags are one cache
 * line; user/svctab.c never puts two equal tags where one lookup reads. */
static __always_inline __u32 sl_svc_way(const struct sl_svc_bucket *b, __u32 tag)
{
	for (__u32 w = 0; w < SL_SVC_WAYS; w++)
		if (b->tag[w] == tag)
			return w;
	return SL_SVC_WAYS;
}

/* The service of frontend FE in SLOT (struct sl_svc_row): two bucket reads
 * and a row read, all inline array loads. */
static __always_inline struct sl_svc_val *sl_service(const struct sl_l4addr *fe, __u32 slot)
{
	__u64 h = sl_svc_hash(fe);
	__u32 tag = sl_svc_tag(h), k, w, row = SL_MAX_SERVICES;
	struct sl_svc_bucket *b;
	struct sl_svc_row *r;

	slot &= 1;
	for (__u32 i = 0; i < 2 && row == SL_MAX_SERVICES; i++) {
		k = slot * SL_SVC_BUCKETS + sl_svc_bucket_of(h, i);
		b = bpf_map_lookup_elem(&sl_svc_index, &k);
		if (!b)
			return NULL;
		w = sl_svc_way(b, tag);
		if (w < SL_SVC_WAYS)
			row = b->row[w];
	}
	if (row >= SL_MAX_SERVICES)
		return NULL;
	row += slot * SL_MAX_SERVICES;
	r = bpf_map_lookup_elem(&sl_services, &row);
	if (!r || !sl_addr_eq(&r->fe, fe) || r->fe.proto != fe->proto)
		return NULL;
	return &r->val;
}

static __always_inline struct sl_backend *sl_backend_at(__u32 slot, __u32 i)
{
	__u32 idx = slot * SL_MAX_BACKENDS + i;

	return bpf_map_lookup_elem(&sl_backends, &idx);
}

/* State records by id (the ids backend rows and groups carry). Id 0 means
 * the publisher assigned none: no state, which callers treat as "nothing
 * to account" (counted as ep_state_fail where a connection meets it). */
static __always_inline struct sl_ep_state *sl_ep_state_at(__u32 id)
{
	return id ? bpf_map_lookup_elem(&sl_ep_state, &id) : NULL;
}

static __always_inline struct sl_group_state *sl_group_state_at(__u32 id)
{
	return id ? bpf_map_lookup_elem(&sl_group_state, &id) : NULL;
}

/* By address, through the directory userspace keeps: for callers that
 * start from a frontend and an endpoint rather than from a row (node
 * ingress conntrack, outcomes reported by userspace). */
static __always_inline struct sl_ep_state *sl_ep_state_get(const struct sl_l4addr *fe,
							   const struct sl_l4addr *ep)
{
	struct sl_state_ref *ref;
	struct sl_ep_key k;

	__builtin_memset(&k, 0, sizeof(k));
	k.fe = *fe;
	k.ep = *ep;
	ref = bpf_map_lookup_elem(&sl_ep_ids, &k);
	return ref ? sl_ep_state_at(ref->id) : NULL;
}

static __always_inline struct sl_group_state *sl_group_state_get(const struct sl_l4addr *fe,
								 __u32 tag)
{
	struct sl_state_ref *ref;
	struct sl_group_key k;

	__builtin_memset(&k, 0, sizeof(k));
	k.fe = *fe;
	k.tag = tag;
	ref = bpf_map_lookup_elem(&sl_group_ids, &k);
	return ref ? sl_group_state_at(ref->id) : NULL;
}

static __always_inline bool sl_ejected(const struct sl_ep_state *st, __u64 now)
{
	return st && st->ejected_until_ns > now;
}

static __always_inline __u32 sl_group_count(const struct sl_group *grp)
{
	__u32 n = grp->count;

	return n > SL_MAX_GROUP_BACKENDS ? SL_MAX_GROUP_BACKENDS : n;
}

/* The group of a service whose state a socket was counted against. */
static __always_inline const struct sl_group *sl_group_by_state(const struct sl_svc_val *svc,
								__u32 state)
{
	for (__u32 i = 0; i < SL_MAX_GROUPS; i++) {
		if (i >= svc->n_groups)
			break;
		if (svc->groups[i].state == state)
			return &svc->groups[i];
	}
	return NULL;
}

#endif /* SL_COMMON_H */
