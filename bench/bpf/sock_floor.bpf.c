// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The floor of the connection benchmark (bench/README.md): what socket load
 * balancing costs at the least, for comparison with Sluice in the same
 * rounds. Loaded and attached by bench/sl-bench-floor.c.
 *
 * - sl_floor_empty: a connect4 program that does nothing (the price of
 *   having a program run at all, statistics included).
 * - sl_floor_connect4: the service (VIP, port) in a hash, a weighted draw
 *   (binary search over cumulative weights, as Sluice's) from an array of
 *   rows, for LEAST_CONN the better of two distinct draws by active/weight
 *   (random numbers, reduction and the distinct second draw as Sluice's,
 *   bpf/lib/select.h: the floor must not be dearer where Sluice is not),
 *   one atomic add to the chosen row's active count in an array, the
 *   rewrite. No per-connection record, no limit, no ejection, no sockops.
 * - sl_floor_release: cgroup/sock_release finds the endpoint from the peer
 *   address (a hash keyed by address and port) and takes the count back.
 *   That is only right when no socket dials an endpoint directly and no
 *   endpoint belongs to two services; it is the floor, not a design.
 * - sl_floor_sockops: a sockops program that does nothing: attached beside
 *   the floor, it shows what sockops costs a connection merely by being
 *   there (the kernel runs several callbacks per TCP connection whatever
 *   the program's flags say).
 * - sl_floor_opcount: counts sockops callbacks by op (fl_ops), to tell how
 *   often each runs per connection of another variant (it is attached next
 *   to that variant's programs for one extra round).
 *
 * rodata fl_record prices a per-connection record on top of the floor, the
 * ways a design could keep one: 1 socket storage created at connect
 * (bpf_sk_storage_get F_CREATE, freed with the socket), 2 an insert into a
 * preallocated hash keyed by socket cookie (deleted at release), 3 a slot of
 * a preallocated array claimed by compare-and-swap from the cookie (Sluice's
 * socket table, bpf/lib/socktab.h, freed at release).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lib/clock.h" /* sl_rand32(): the floor draws as cheaply as Sluice */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define FL_MAX_SVCS 65536
#define FL_MAX_ROWS (4 * FL_MAX_SVCS)
#define FL_STEPS 9

struct fl_addr {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct fl_svc {
	__u32 first; /* row of the first endpoint */
	__u32 count;
	__u32 total; /* sum of weights */
	__u32 pad;
};

struct fl_row {
	struct fl_addr ep;
	__u32 weight;
	__u32 cum; /* cumulative weight up to and including this row */
	__s64 active;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FL_MAX_SVCS);
	__type(key, struct fl_addr);
	__type(value, struct fl_svc);
} fl_svcs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FL_MAX_ROWS);
	__type(key, __u32);
	__type(value, struct fl_row);
} fl_rows SEC(".maps");

/* endpoint -> row, for the release */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FL_MAX_ROWS);
	__type(key, struct fl_addr);
	__type(value, __u32);
} fl_eps SEC(".maps");

/* 1: LEAST_CONN (two draws), 0: RANDOM (one). Set before load. */
const volatile __u32 fl_least = 1;
/* 0 none, 1 socket storage, 2 preallocated hash, 3 array slot (above). */
const volatile __u32 fl_record = 0;

/* The record: about what a design keeps per socket (ids, flags, start). */
struct fl_rec {
	__u64 owner;
	__u32 row;
	__u32 flags;
	__u64 start_ns;
	__u64 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fl_rec);
} fl_sk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct fl_rec);
} fl_cookies SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct fl_rec);
} fl_table SEC(".maps");

static __always_inline struct fl_rec *fl_slot(__u64 cookie, __u32 i)
{
	__u32 k = ((__u32)cookie + i) & 65535;

	return bpf_map_lookup_elem(&fl_table, &k);
}

static __always_inline void fl_keep(struct bpf_sock_addr *ctx, __u32 row)
{
	struct fl_rec v = { .row = row, .flags = 1 }, *r;
	__u64 c;

	if (fl_record == 1) {
		r = bpf_sk_storage_get(&fl_sk, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (r)
			r->row = row;
		return;
	}
	c = bpf_get_socket_cookie(ctx);
	if (fl_record == 2) {
		v.owner = c;
		bpf_map_update_elem(&fl_cookies, &c, &v, BPF_ANY);
		return;
	}
	for (__u32 i = 0; i < 4; i++) {
		r = fl_slot(c, i);
		if (r && !r->owner && __sync_val_compare_and_swap(&r->owner, 0, c) == 0) {
			r->row = row;
			return;
		}
	}
}

static __always_inline void fl_drop(struct bpf_sock *sk)
{
	struct fl_rec *r;
	__u64 c;

	if (fl_record == 1) {
		r = bpf_sk_storage_get(&fl_sk, sk, 0, 0);
		if (r)
			r->flags = 0;
		return;
	}
	c = bpf_get_socket_cookie(sk);
	if (fl_record == 2) {
		bpf_map_delete_elem(&fl_cookies, &c);
		return;
	}
	for (__u32 i = 0; i < 4; i++) {
		r = fl_slot(c, i);
		if (r && r->owner == c) {
			__sync_val_compare_and_swap(&r->owner, c, 0);
			return;
		}
	}
}

static __always_inline struct fl_row *fl_row_at(__u32 i)
{
	return bpf_map_lookup_elem(&fl_rows, &i);
}

/* Position of the first row with cum > r. */
static __always_inline __u32 fl_search(const struct fl_svc *s, __u32 r)
{
	__u32 lo = 0, hi = s->count - 1, mid;
	struct fl_row *row;

	for (int k = 0; k < FL_STEPS; k++) {
		if (lo >= hi)
			break;
		mid = (lo + hi) >> 1;
		row = fl_row_at(s->first + mid);
		if (!row)
			return lo;
		if (row->cum > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* A draw in [0, n): the high word of rand * n, as Sluice's. */
static __always_inline __u32 fl_reduce(__u32 n)
{
	return (__u32)(((__u64)sl_rand32() * n) >> 32);
}

static __always_inline struct fl_row *fl_choose(const struct fl_svc *s)
{
	__u32 a = fl_search(s, fl_reduce(s->total)), b, r;
	struct fl_row *ra = fl_row_at(s->first + a), *rb;

	if (!fl_least || !ra || s->count < 2)
		return ra;
	/* Distinct from the first in one draw, as Sluice's: over the weights
	 * less a's, moved past a's range of cumulative weights. */
	r = fl_reduce(s->total - ra->weight);
	if (r >= ra->cum - ra->weight)
		r += ra->weight;
	b = fl_search(s, r);
	if (b == a)
		return ra;
	rb = fl_row_at(s->first + b);
	if (rb && (__u64)rb->active * ra->weight < (__u64)ra->active * rb->weight)
		return rb;
	return ra;
}

SEC("cgroup/connect4")
int sl_floor_connect4(struct bpf_sock_addr *ctx)
{
	struct fl_addr k = { .addr = ctx->user_ip4, .port = (__be16)ctx->user_port };
	struct fl_svc *s;
	struct fl_row *r;

	if (ctx->protocol != IPPROTO_TCP)
		return 1;
	s = bpf_map_lookup_elem(&fl_svcs, &k);
	if (!s || !s->count || !s->total)
		return 1;
	r = fl_choose(s);
	if (!r)
		return 1;
	__sync_fetch_and_add(&r->active, 1);
	if (fl_record)
		fl_keep(ctx, s->first);
	ctx->user_ip4 = r->ep.addr;
	ctx->user_port = r->ep.port;
	return 1;
}

SEC("cgroup/sock_release")
int sl_floor_release(struct bpf_sock *sk)
{
	struct fl_addr k = { .addr = sk->dst_ip4, .port = (__be16)sk->dst_port };
	struct fl_row *r;
	__u32 *row;

	if (sk->protocol != IPPROTO_TCP)
		return 1;
	row = bpf_map_lookup_elem(&fl_eps, &k);
	r = row ? fl_row_at(*row) : NULL;
	if (r)
		__sync_fetch_and_sub(&r->active, 1);
	if (r && fl_record)
		fl_drop(sk);
	return 1;
}

SEC("cgroup/connect4")
int sl_floor_empty(struct bpf_sock_addr *ctx __attribute__((unused)))
{
	return 1;
}

SEC("sockops")
int sl_floor_sockops(struct bpf_sock_ops *skops __attribute__((unused)))
{
	return 1;
}

#define FL_OPS 32

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FL_OPS);
	__type(key, __u32);
	__type(value, __u64);
} fl_ops SEC(".maps");

SEC("sockops")
int sl_floor_opcount(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	__u64 *n;

	/* STATE callbacks by the state entered: FL_OPS - 16 + new state. */
	if (op == BPF_SOCK_OPS_STATE_CB)
		op = FL_OPS - 16 + (skops->args[1] & 15);
	else if (op >= FL_OPS - 16)
		return 1;
	n = bpf_map_lookup_elem(&fl_ops, &op);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 1;
}
