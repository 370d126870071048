// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Node-ingress load balancer (XDP on the node's interfaces).
 *
 * A TCP/UDP packet to a node-ingress frontend (sl_ingress: externalIP,
 * load-balancer IP, or NodePort on an address in sl_node_addrs) gets its
 * endpoint from sl_ct (established flows) or the frontend's weighted Maglev
 * ring (new flows), is destination-NATed in place with incremental
 * checksums, and goes on with XDP_PASS: the stack routes it to the endpoint,
 * normally through a pod veth whose TC hooks (tc_pod) enforce NetworkPolicy
 * and count the flow. XDP_REDIRECT would skip that veth's TC egress, so the
 * optional rodata xdp_redirect only redirects when the route leaves by a
 * non-pod interface. Replies are translated back by tc_nat (TC egress).
 *
 * Everything else is passed untouched: non-IP, non-TCP/UDP, traffic not for
 * a frontend, fragments, ICMP errors (client-side PMTU discovery towards a
 * frontend reaches the stack as is), and packets the parser rejects — this
 * program sits in front of everything the node receives and is not its
 * firewall; the stack validates what it accepts. Drops are only for
 * frontend traffic that cannot be served: no endpoint, connection limit,
 * tracking failure, impossible rewrite. See docs/KERNEL.md "Node ingress".
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sluice_abi.h"
#include "lib/common.h"
#include "lib/maps_node.h"
#include "lib/pkt.h"
#include "lib/csum.h"
#include "lib/ct.h"
#include "lib/maglev.h"
#include "lib/clock.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader: 1 = XDP_REDIRECT/XDP_TX translated packets whose route
 * leaves by a non-pod interface (bpf_fib_lookup), instead of XDP_PASS. */
const volatile __u32 xdp_redirect = 0;

/* One packet to a frontend, as the workers see it. */
struct sl_xreq {
	struct sl_pkt p;
	struct sl_l4addr fe; /* frontend as dialled (sl_rnat value) */
	struct sl_l4addr ep; /* endpoint chosen */
	const struct sl_ingress_val *ing;
	struct sl_xdp_stats *st;
	const struct sl_config *cfg;
	__u64 now;
	__u32 slot;
	__u32 gen; /* the generation SLOT was read under */
	bool last; /* the last read allowed: act on it whatever moved */
};

/* sl_xuntracked(): the packet is for no frontend / the slot switched away
 * while it was read (see sl_view in lib/common.h). */
#define SL_X_NOT_SERVICE 1
#define SL_X_MOVED 2

static __always_inline bool sl_xmoved(const struct sl_xreq *rq)
{
	struct sl_view v = { .gen = rq->gen, .slot = rq->slot };

	return !rq->last && sl_view_moved(rq->cfg, &v);
}

#define sl_xstat(st, field)                                                    \
	({                                                                     \
		if (st)                                                        \
			(st)->field++;                                         \
	})

static __always_inline struct sl_xdp_stats *sl_xdp_stats_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sl_xdp_stats, &zero);
}

/* Verdict of a worker's -reason: drop, counted once. */
static __always_inline int sl_xdrop(struct sl_xdp_stats *st, int reason)
{
	__u32 i = (__u32)reason;

	/* The empty asm keeps clang from folding the check into a constant it
	 * computes with a negation, which verifiers before 6.6 cannot bound. */
	asm volatile("" : "+r"(i));
	if (st && i < SL_DROP__COUNT)
		st->drops[i]++;
	return XDP_DROP;
}

/* The frontend this packet is for: the exact address first, then a NodePort
 * (all-zero address) if the destination is a node address. */
static __always_inline const struct sl_ingress_val *sl_ingress_find(const struct sl_l4addr *fe,
								    __u32 slot)
{
	const struct sl_ingress_val *ing;
	struct sl_ingress_key k;
	struct sl_node_addr na;

	__builtin_memset(&k, 0, sizeof(k));
	k.fe = *fe;
	k.slot = slot;
	ing = bpf_map_lookup_elem(&sl_ingress, &k);
	if (ing)
		return ing;
	__builtin_memset(&na, 0, sizeof(na));
	__builtin_memcpy(na.addr, fe->addr, sizeof(na.addr));
	na.family = fe->family;
	if (!bpf_map_lookup_elem(&sl_node_addrs, &na))
		return NULL;
	__builtin_memset(k.fe.addr, 0, sizeof(k.fe.addr));
	return bpf_map_lookup_elem(&sl_ingress, &k);
}

/* Connection limit of a new TCP flow: one unit of the group's active count,
 * shared with the socket LB. 1 = holds a unit, 0 = nothing to hold (not
 * TCP SYN, no group state), <0 = over the limit. */
static __always_inline int sl_xreserve(const struct sl_xreq *rq, __u32 max, __u32 tag)
{
	struct sl_group_state *gs;
	__s64 old;

	if (rq->p.t.proto != IPPROTO_TCP || !(rq->p.tcp_flags & SL_TCP_SYN))
		return 0;
	gs = sl_group_state_get(&rq->ing->svc, tag);
	if (!gs)
		return 0; /* state map full: fail open, as the socket LB */
	old = __sync_fetch_and_add(&gs->active, 1);
	if (!max || old < (__s64)max)
		return 1;
	__sync_fetch_and_sub(&gs->active, 1);
	__sync_fetch_and_add(&gs->overflow, 1);
	return -SL_DROP_CONN_LIMIT;
}

static __always_inline void sl_xunreserve(const struct sl_xreq *rq, __u32 tag)
{
	struct sl_group_state *gs = sl_group_state_get(&rq->ing->svc, tag);

	if (gs)
		__sync_fetch_and_sub(&gs->active, 1);
}

/* Record a new flow in sl_ct and its reply in sl_rnat. */
static __always_inline int sl_xrecord(const struct sl_xreq *rq, __u32 tag, bool counted)
{
	struct sl_ct_val v;
	struct sl_tuple rk;

	__builtin_memset(&v, 0, sizeof(v));
	v.ep = rq->ep;
	v.svc = rq->ing->svc;
	v.tag = tag;
	v.flags = counted ? SL_CT_F_COUNTED : 0;
	v.created_ns = rq->now;
	v.last_ns = rq->now;
	v.packets_fwd = 1;
	sl_rnat_key(&rk, &rq->p.t, &rq->ep);
	if (bpf_map_update_elem(&sl_rnat, &rk, &rq->fe, BPF_ANY))
		return -SL_DROP_CT_FAIL;
	if (bpf_map_update_elem(&sl_ct, &rq->p.t, &v, BPF_ANY)) {
		bpf_map_delete_elem(&sl_rnat, &rk);
		return -SL_DROP_CT_FAIL;
	}
	return 0;
}

/* A new flow (or one whose tracked connection closed): Maglev, ejection,
 * connection limit, tracking. 0, -reason, or SL_X_MOVED: what was read of
 * the slot (ring, row, group) may be torn, and nothing was done. */
static __always_inline int sl_xnew(struct sl_xreq *rq)
{
	const struct sl_svc_val *svc;
	struct sl_mg_pick pk;
	__u32 tag = 0, max = 0;
	int held, err;
	__u32 g;

	err = sl_mg_pick(rq->ing, rq->slot, sl_flow_hash(&rq->p.t), rq->now, &pk);
	if (err)
		return sl_xmoved(rq) ? SL_X_MOVED : err;
	if (pk.be->ep.family != rq->p.t.family || pk.be->ep.proto != rq->p.t.proto)
		return sl_xmoved(rq) ? SL_X_MOVED : -SL_DROP_NAT_FAIL; /* never paired */
	rq->ep = pk.be->ep;
	svc = sl_service(&rq->ing->svc, rq->slot);
	if (svc && pk.group < SL_MAX_GROUPS && pk.group < svc->n_groups) {
		/* A mask the compiler cannot drop (it knows the bound, the
		 * value is opaque after the barrier): it spills the group
		 * number, and older verifiers (6.1) lose a spilled bound. */
		g = pk.group;
		barrier_var(g);
		tag = svc->groups[g & (SL_MAX_GROUPS - 1)].tag;
		max = svc->groups[g & (SL_MAX_GROUPS - 1)].max_conns;
	}
	if (sl_xmoved(rq))
		return SL_X_MOVED;
	if (rq->st)
		rq->st->ejected_skipped += pk.skipped;
	held = sl_xreserve(rq, max, tag);
	if (held < 0)
		return held;
	err = sl_xrecord(rq, tag, held > 0);
	if (err && held > 0)
		sl_xunreserve(rq, tag);
	if (!err)
		sl_xstat(rq->st, new_flows);
	return err;
}

/* An established flow: its endpoint, counters, FIN/RST. 1 = tracked and
 * usable, 0 = no usable entry (none, or a closed connection's 4-tuple
 * reused by a new SYN: *reopen set). */
static __always_inline int sl_xtracked(struct sl_xreq *rq, bool *reopen)
{
	struct sl_ct_val *ct = bpf_map_lookup_elem(&sl_ct, &rq->p.t);
	__u8 fl = rq->p.tcp_flags;
	bool tcp = rq->p.t.proto == IPPROTO_TCP;

	*reopen = false;
	if (!ct)
		return 0;
	if (tcp && (fl & (SL_TCP_SYN | SL_TCP_ACK)) == SL_TCP_SYN &&
	    (ct->flags & SL_CT_F_CLOSED)) {
		*reopen = true;
		return 0;
	}
	rq->ep = ct->ep;
	/* Plain stores: the counters are informational, a flow stays on one
	 * RX queue, and a locked add would cost every packet. */
	if (ct->last_ns != rq->now)
		ct->last_ns = rq->now;
	ct->packets_fwd++;
	if (tcp)
		sl_ct_track(ct, fl, false);
	sl_xstat(rq->st, ct_hits);
	return 1;
}

/* Not tracked: a new flow if the packet is for a frontend. SL_X_NOT_SERVICE,
 * SL_X_MOVED, 0 = rq->ep chosen, <0 = -reason. A TCP packet mid-flow whose
 * entry is gone (evicted, node restarted) is placed like a new flow:
 * consistent hashing sends it mostly where it was; it is tracked again but
 * not counted against the limit (only a SYN reserves). */
static __always_inline int sl_xuntracked(struct sl_xreq *rq, bool reopen)
{
	bool tcp = rq->p.t.proto == IPPROTO_TCP;

	rq->ing = sl_ingress_find(&rq->fe, rq->slot);
	if (!rq->ing)
		return sl_xmoved(rq) ? SL_X_MOVED : SL_X_NOT_SERVICE;
	if (reopen || (tcp && !(rq->p.tcp_flags & SL_TCP_SYN)))
		sl_xstat(rq->st, ct_reselect);
	return sl_xnew(rq);
}

/* Rewrite the destination to rq->ep: address, port, IPv4 header checksum,
 * L4 checksum (pseudo-header and port). */
static __always_inline int sl_xdnat(struct xdp_md *ctx, const struct sl_xreq *rq)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 l3 = rq->p.l3_off, l4 = rq->p.l4_off, d;
	__be16 *port, *csum;
	__u8 *l4h;

	if (l3 > SL_PKT_MAX_OFF || l4 > SL_PKT_MAX_OFF)
		return -SL_DROP_NAT_FAIL;
	/* Separate checks: the verifier keeps the smaller of merged ranges. */
	if (rq->p.t.proto == IPPROTO_TCP) {
		l4h = sl_hdr(data, end, l4, 20);
		if (!l4h)
			return -SL_DROP_NAT_FAIL;
		csum = (__be16 *)(l4h + 16);
	} else {
		l4h = sl_hdr(data, end, l4, 8);
		if (!l4h)
			return -SL_DROP_NAT_FAIL;
		csum = (__be16 *)(l4h + 6);
	}
	port = (__be16 *)(l4h + 2);
	d = sl_csum_diff_addr(0, rq->p.t.daddr, rq->ep.addr, rq->p.t.family);
	d = sl_csum_diff2(d, *port, rq->ep.port);
	if (rq->p.t.proto == IPPROTO_TCP)
		*csum = sl_csum_apply(*csum, d);
	else
		*csum = sl_csum_apply_udp(*csum, d);
	*port = rq->ep.port;
	if (rq->p.t.family == SL_AF_INET) {
		struct iphdr *ip = sl_hdr(data, end, l3, sizeof(*ip));

		if (!ip)
			return -SL_DROP_NAT_FAIL;
		ip->check = sl_csum_apply(ip->check, sl_csum_diff4(0, ip->daddr, rq->ep.addr[0]));
		ip->daddr = rq->ep.addr[0];
	} else {
		struct ipv6hdr *ip6 = sl_hdr(data, end, l3, sizeof(*ip6));

		if (!ip6)
			return -SL_DROP_NAT_FAIL;
		__builtin_memcpy(&ip6->daddr, rq->ep.addr, 16);
	}
	return 0;
}

/* A pod interface carries a sl_pod_totals record from the moment the
 * loader attaches tc_pod to it. */
static __always_inline bool sl_is_pod_iface(__u32 ifindex)
{
	return bpf_map_lookup_elem(&sl_pod_totals, &ifindex) != NULL;
}

/* Optional forwarding without the stack: only for untagged frames whose
 * route is known, has a resolved neighbour, and leaves by a non-pod
 * interface; the TTL is decremented as a router does. Else XDP_PASS. */
static __always_inline int sl_xforward(struct xdp_md *ctx, const struct sl_xreq *rq)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup fib;
	struct ethhdr *eth;
	int rc;

	if (!xdp_redirect || rq->p.l3_off != sizeof(struct ethhdr))
		return XDP_PASS;
	__builtin_memset(&fib, 0, sizeof(fib));
	fib.l4_protocol = rq->p.t.proto;
	fib.sport = rq->p.t.sport;
	fib.dport = rq->ep.port;
	fib.tot_len = rq->p.l3_len;
	fib.ifindex = ctx->ingress_ifindex;
	if (rq->p.t.family == SL_AF_INET) {
		struct iphdr *ip = sl_hdr(data, end, sizeof(*eth), sizeof(*ip));

		if (!ip || ip->ttl <= 1)
			return XDP_PASS;
		fib.family = SL_KERNEL_AF_INET;
		fib.tos = ip->tos;
		fib.ipv4_src = ip->saddr;
		fib.ipv4_dst = ip->daddr;
	} else {
		struct ipv6hdr *ip6 = sl_hdr(data, end, sizeof(*eth), sizeof(*ip6));

		if (!ip6 || ip6->hop_limit <= 1)
			return XDP_PASS;
		fib.family = SL_KERNEL_AF_INET6;
		__builtin_memcpy(fib.ipv6_src, &ip6->saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, &ip6->daddr, 16);
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS || sl_is_pod_iface(fib.ifindex))
		return XDP_PASS;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (rq->p.t.family == SL_AF_INET) {
		struct iphdr *ip;

		eth = sl_hdr(data, end, 0, sizeof(*eth) + sizeof(*ip));
		if (!eth)
			return XDP_PASS;
		ip = (void *)(eth + 1);
		ip->check = sl_csum_apply(ip->check, sl_csum_diff2(0, bpf_htons(ip->ttl << 8),
								   bpf_htons((ip->ttl - 1) << 8)));
		ip->ttl--;
	} else {
		struct ipv6hdr *ip6;

		eth = sl_hdr(data, end, 0, sizeof(*eth) + sizeof(*ip6));
		if (!eth)
			return XDP_PASS;
		ip6 = (void *)(eth + 1);
		ip6->hop_limit--;
	}
	__builtin_memcpy(eth->h_dest, fib.dmac, 6);
	__builtin_memcpy(eth->h_source, fib.smac, 6);
	if (fib.ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(fib.ifindex, 0);
}

static __always_inline int sl_xservice(struct xdp_md *ctx, struct sl_xreq *rq)
{
	bool reopen;
	int err, act;

	/* Tracking first: an established flow needs no frontend lookup (and a
	 * removed frontend's flows run on until they close or idle out, as
	 * conntrack entries do under kube-proxy). */
	if (!sl_xtracked(rq, &reopen)) {
		err = sl_xuntracked(rq, reopen);
		if (err == SL_X_MOVED) { /* once more on the slot now live */
			struct sl_view v = sl_view_of(rq->cfg);

			sl_xstat(rq->st, slot_moved);
			rq->slot = v.slot;
			rq->gen = v.gen;
			rq->last = true;
			err = sl_xuntracked(rq, reopen);
		}
		if (err > 0) {
			sl_xstat(rq->st, not_service);
			return XDP_PASS;
		}
		if (err)
			return sl_xdrop(rq->st, -err);
	}
	err = sl_xdnat(ctx, rq);
	if (err)
		return sl_xdrop(rq->st, -err);
	sl_dbg("sluice xdp: to port %u", bpf_ntohs(rq->ep.port));
	act = sl_xforward(ctx, rq);
	if (act == XDP_PASS)
		sl_xstat(rq->st, passed);
	else
		sl_xstat(rq->st, redirected);
	return act;
}

/* Might PORT (network order) of PROTO have a frontend in SLOT? */
static __always_inline bool sl_fe_port_maybe(__u32 slot, __u8 proto, __be16 port)
{
	__u16 p = bpf_ntohs(port);
	__u32 idx = sl_fe_port_word(slot, proto, p);
	__u64 *w = bpf_map_lookup_elem(&sl_fe_ports, &idx);

	return w && (*w >> (p % 64)) & 1;
}

SEC("xdp")
int sl_xdp_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	const struct sl_config *cfg;
	struct sl_view view;
	struct sl_xreq rq;
	int r;

	rq.st = sl_xdp_stats_get();
	rq.last = false;
	sl_xstat(rq.st, packets);
	cfg = sl_config_get();
	if (!cfg || cfg->magic != SL_ABI_MAGIC)
		return XDP_PASS;
	r = sl_parse(data, end, &rq.p);
	if (r == 0 && rq.p.frag == SL_FRAG_LATER) {
		sl_xstat(rq.st, fragments);
		return XDP_PASS;
	}
	if (r != 0 || (rq.p.t.proto != IPPROTO_TCP && rq.p.t.proto != IPPROTO_UDP))
		goto not_service;
	view = sl_view_of(cfg);
	rq.cfg = cfg;
	rq.slot = view.slot;
	rq.gen = view.gen;
	/* Most of what a node receives is for no frontend: one array read
	 * lets it go, before any hash lookup or clock read. */
	if (!sl_fe_port_maybe(rq.slot, rq.p.t.proto, rq.p.t.dport))
		goto not_service;
	__builtin_memset(&rq.fe, 0, sizeof(rq.fe));
	__builtin_memcpy(rq.fe.addr, rq.p.t.daddr, sizeof(rq.fe.addr));
	rq.fe.port = rq.p.t.dport;
	rq.fe.proto = rq.p.t.proto;
	rq.fe.family = rq.p.t.family;
	/* The rest of the datagram would go elsewhere unbalanced: leave the
	 * whole of it to the stack (docs/KERNEL.md, fragments). */
	if (rq.p.frag == SL_FRAG_FIRST) {
		if (!sl_ingress_find(&rq.fe, rq.slot))
			goto not_service;
		sl_xstat(rq.st, fragments);
		return XDP_PASS;
	}
	/* Tick time: idle timeouts and ejection ends are seconds. */
	rq.now = sl_tick_now();
	return sl_xservice(ctx, &rq);
not_service:
	sl_xstat(rq.st, not_service);
	return XDP_PASS;
}

/* ---- sl_ct_gc: idle entries, run by userspace with BPF_PROG_TEST_RUN ---- */

static long sl_ct_gc_one(struct bpf_map *map, struct sl_tuple *k, struct sl_ct_val *v,
			 struct sl_ct_gc_ctx *g)
{
	__u64 idle = k->proto == IPPROTO_TCP ? g->tcp_idle_ns : g->udp_idle_ns;
	struct sl_tuple rk;

	g->scanned++;
	if ((v->flags & SL_CT_F_CLOSED) && g->closed_idle_ns)
		idle = g->closed_idle_ns;
	if (g->now_ns < v->last_ns || g->now_ns - v->last_ns <= idle)
		return 0;
	g->released += sl_ct_close(v);
	sl_rnat_key(&rk, k, &v->ep);
	bpf_map_delete_elem(&sl_rnat, &rk);
	if (!bpf_map_delete_elem(map, k))
		g->removed++;
	return 0;
}

SEC("syscall")
int sl_ct_gc(struct sl_ct_gc_ctx *ctx)
{
	struct sl_ct_gc_ctx g;

	__builtin_memcpy(&g, ctx, sizeof(g));
	if (!g.now_ns)
		g.now_ns = bpf_ktime_get_ns();
	g.removed = 0;
	g.released = 0;
	g.scanned = 0;
	bpf_for_each_map_elem(&sl_ct, sl_ct_gc_one, &g, 0);
	ctx->removed = g.removed;
	ctx->released = g.released;
	ctx->scanned = g.scanned;
	return 0;
}
