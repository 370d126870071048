// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Pod interfaces: TC on the host end of a pod's veth. sl_tc_pod_from runs at
 * TC ingress (packets leaving the pod), sl_tc_pod_to at TC egress (packets
 * entering it). Both count every passed IP packet in the interface's totals
 * and in a flow record, and enforce Kubernetes NetworkPolicy: egress policy
 * of the source pod on the way out, ingress policy of the destination pod
 * on the way in.
 *
 * Per packet, in this order, so that an established flow costs one flow
 * lookup (plus the totals):
 *   parse -> flow record admitted? -> count, pass           (fast path)
 *         -> pod isolated in this direction? -> policy      (new flows)
 *         -> count in a new record marked with the admitting direction.
 * A record is written only for an admitted packet, so a record with an
 * ALLOW flag is a connection that policy let in (or that no policy
 * isolated); its later packets both ways pass on that record. That is how
 * replies of an allowed connection pass the other direction's isolation,
 * and it gives established connections conntrack semantics: a policy change
 * applies to new connections. Denied packets create nothing (a scan cannot
 * evict real flows) and are counted in drops[reason] only.
 *
 * Not IP (ARP ...): passed, not counted. Malformed: dropped
 * (SL_DROP_MALFORMED) when the pod is isolated in that direction or the IP
 * addresses cannot even be read (the stack would drop those anyway); passed
 * and counted in the totals otherwise. See docs/KERNEL.md, "Pod interfaces
 * and NetworkPolicy".
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include "sluice_abi.h"
#include "lib/common.h"
#include "lib/pkt.h"
#include "lib/pflow.h"
#include "lib/netpol.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader or a benchmark before load. 0: keep flow records only
 * for pods that some NetworkPolicy selects (replies need them); totals and
 * policy are unchanged. Lets the benchmark price the flow counters. */
const volatile __u32 count_flows = 1;

#define SL_TC_ACT_OK 0
#define SL_TC_ACT_SHOT 2
/* Headers of a non-linear skb are pulled into the head up to this much
 * (only when the first parse ran off the head): IPv6 extension headers
 * included, real headers fit. */
#define SL_POD_PULL 512u

#define SL_PF_ALLOW_ANY (SL_PF_ALLOW_INGRESS | SL_PF_ALLOW_EGRESS)

/* One packet as the workers see it. */
struct sl_pod_ctx {
	struct sl_pkt p; /* parsed; echo replies normalised (sl_pod_echo) */
	struct sl_pflow_key key; /* canonical flow key on this interface */
	struct sl_pf_delta d; /* what the packet adds to counters */
	struct sl_pod_totals *tot; /* this CPU's totals of the interface */
	__u64 now;
	__u32 hdir; /* SL_POD_FROM / SL_POD_TO */
	__u32 slot; /* live policy slot */
	bool policy; /* sl_config is published: policy tables are live */
	bool uncached; /* sl_pod_uncached(): never on the fast path */
};

/* Parse; a packet whose headers run past the linear head (GSO, paged
 * frames) is pulled and parsed again rather than taken for truncated. An
 * IP length beyond the skb is truncation.
 *
 * A global (non-inlined) function, like the other __noinline ones here: the
 * verifier checks it once, not once per path of the caller, which keeps the
 * program far below the complexity limit (the IPv6 walk is unrolled). */
__noinline int sl_pod_parse(struct __sk_buff *skb, struct sl_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 len = skb->len;
	int r;

	if (!p)
		return -SL_DROP_MALFORMED;
	r = sl_parse_skb(data, end, p);
	if (r < 0 && data + len > end) {
		if (bpf_skb_pull_data(skb, len < SL_POD_PULL ? len : SL_POD_PULL))
			return r;
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		r = sl_parse_skb(data, end, p);
	}
	if (r == 0 && p->l3_len && (__u64)p->l3_off + p->l3_len > len)
		return -SL_DROP_MALFORMED;
	return r;
}

/* Echo replies carry the identifier in t.dport, so that a reply's tuple is
 * the exact reverse of its request's and both share one flow record. */
static __always_inline void sl_pod_echo(struct sl_pkt *p)
{
	bool reply = (p->t.proto == IPPROTO_ICMP && p->icmp_type == SL_ICMP_ECHOREPLY) ||
		     (p->t.proto == SL_NH_ICMPV6 && p->icmp_type == SL_ICMP6_ECHO_REPLY);

	if (reply && !p->icmp_err) {
		p->t.dport = p->t.sport;
		p->t.sport = 0;
	}
}

static __always_inline bool sl_pod_is_icmp(const struct sl_pkt *p)
{
	return p->t.proto == IPPROTO_ICMP || p->t.proto == SL_NH_ICMPV6;
}

/* ICMP other than echo has no identifier: all of it between two hosts
 * shares one tuple, which an echo with identifier 0 shares too. Such
 * packets are judged one by one and never mark a record as admitted, so
 * that one admitted message (a neighbour advertisement, an error) cannot
 * let any other through. */
static __always_inline bool sl_pod_uncached(const struct sl_pkt *p)
{
	if (p->t.proto == IPPROTO_ICMP)
		return p->icmp_type != SL_ICMP_ECHO && p->icmp_type != SL_ICMP_ECHOREPLY;
	if (p->t.proto == SL_NH_ICMPV6)
		return p->icmp_type != SL_ICMP6_ECHO_REQUEST && p->icmp_type != SL_ICMP6_ECHO_REPLY;
	return false;
}

/* L4 header length at p->l4_off, 0 when there is no L4 payload to count. */
static __always_inline __u32 sl_pod_l4_hdr(struct __sk_buff *skb, const struct sl_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 off = p->l4_off;
	__u8 *b;

	if (!off)
		return 0;
	switch (p->t.proto) {
	case IPPROTO_TCP:
		if (off >= SL_PKT_MAX_OFF)
			return 0;
		b = data + off;
		if ((void *)(b + 13) > end)
			return 0;
		return (b[12] >> 4) * 4;
	case IPPROTO_UDP:
		return 8;
	case SL_IPPROTO_SCTP:
		return 12;
	}
	return 0;
}

/* Bytes and payload of the packet. A GSO packet stands for gso_segs wire
 * packets, each with its own headers. */
static __always_inline void sl_pod_delta(struct __sk_buff *skb, const struct sl_pkt *p,
					 struct sl_pf_delta *d)
{
	__u32 segs = skb->gso_segs, len = skb->len, l3 = p->l3_len, hdr = 0, l4;

	if (!segs)
		segs = 1;
	if (!l3 || segs > 1)
		l3 = len > p->l3_off ? len - p->l3_off : 0;
	l4 = sl_pod_l4_hdr(skb, p);
	if (l4)
		hdr = p->l4_off - p->l3_off + l4;
	d->segs = segs;
	d->tcp_flags = p->tcp_flags;
	d->payload = hdr && l3 > hdr ? l3 - hdr : 0;
	d->bytes = (__u64)l3 + (__u64)(segs - 1) * hdr;
}

/* An ICMP error about a connection this interface admitted (its quoted
 * packet names the flow record) passes isolation: PMTU discovery and
 * unreachables of allowed connections keep working. It never marks its
 * own record as admitted, so it opens nothing. Global, like
 * sl_pod_parse(): one more parse, verified once. Returns 1 if admitted. */
__noinline int sl_pod_icmp_admitted(struct __sk_buff *skb, const struct sl_pkt *outer,
				    __u32 ifindex)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct sl_pflow_key k;
	struct sl_pflow_val *v;
	struct sl_pkt o, in;
	__u8 kdir;

	if (!outer)
		return 0;
	/* The parse bounded l4_off; a mask tells the verifier so (6.1 cannot
	 * follow the range check clang makes of it in sl_parse_inner()). */
	o = *outer;
	o.l4_off &= SL_PKT_MAX_OFF - 1;
	if (sl_parse_inner(data, end, &o, &in) < 0)
		return 0;
	sl_pod_echo(&in);
	sl_pf_key(&k, &in.t, ifindex, &kdir);
	v = bpf_map_lookup_elem(&sl_pflows, &k);
	return v && (v->flags & SL_PF_ALLOW_ANY);
}

/* sl_np_allow() as a global function: the verifier checks the LPM and the
 * port-range loop once instead of once per path that reaches them. */
__noinline int sl_pod_np_allow(__u32 set, const struct sl_pkt *p, __u32 hdir)
{
	if (!p)
		return (int)sl_v_drop(SL_DROP_MALFORMED);
	return (int)sl_np_allow(set, p, hdir);
}

/* Policy verdict for a packet that opens a connection (no record, or one
 * that only uncached ICMP made): 0 or the drop verdict; *allow: the record
 * flag that caches the admission. */
static __always_inline __u32 sl_pod_policy(struct __sk_buff *skb, struct sl_pod_ctx *c,
					   const struct sl_np_pod_val *pv, __u8 *allow)
{
	__u32 set = sl_np_set(pv, c->hdir);

	*allow = c->hdir == SL_POD_FROM ? SL_PF_ALLOW_EGRESS : SL_PF_ALLOW_INGRESS;
	if (c->uncached)
		*allow = 0;
	if (!set)
		return 0;
	if (c->p.icmp_err && sl_pod_icmp_admitted(skb, &c->p, c->key.ifindex))
		return 0;
	return (__u32)sl_pod_np_allow(set, &c->p, c->hdir);
}

/* A record whose admission was revoked (sl_pflows_revoke, run after every
 * policy change) is judged again as the connection it is: the initiator's
 * tuple against the policy of the initiator's direction, whichever way
 * this packet goes. A reply is never taken for a connection of its own.
 * Not for ICMP: a record of ICMP without identifiers may have been made by
 * a message that was never admitted (sl_pod_uncached), so it proves no
 * connection; ICMP packets are judged on their own. */
static __always_inline __u32 sl_pod_readmit(struct sl_pod_ctx *c, const struct sl_np_pod_val *pv,
					    __u8 rec_flags, __u8 *allow)
{
	bool same = !!(rec_flags & SL_PF_INIT_REV) == !!c->d.kdir;
	__u32 ihdir = same ? c->hdir : 1 - c->hdir;
	__u32 set = sl_np_set(pv, ihdir);
	struct sl_pkt init;

	*allow = ihdir == SL_POD_FROM ? SL_PF_ALLOW_EGRESS : SL_PF_ALLOW_INGRESS;
	if (!set)
		return 0;
	init = c->p;
	if (!same) {
		__builtin_memcpy(init.t.saddr, c->p.t.daddr, 16);
		__builtin_memcpy(init.t.daddr, c->p.t.saddr, 16);
		init.t.sport = c->p.t.dport;
		init.t.dport = c->p.t.sport;
	}
	return (__u32)sl_pod_np_allow(set, &init, ihdir);
}

/* A policy flip while this packet was judged under the old slot: the
 * verdict stands for this packet but is not cached, or it could outlive
 * the sl_pflows_revoke pass that follows the flip. */
static __always_inline bool sl_pod_slot_moved(const struct sl_pod_ctx *c)
{
	struct sl_config *cfg = sl_config_get();

	return c->policy && (!cfg || (cfg->active_slot & 1) != c->slot);
}

/* Does the route back to the packet's source leave by the interface it
 * came in on? A pod that sends with another pod's address would otherwise
 * be judged by that pod's policy. Asked of the FIB once per flow (the fast
 * path never gets here); when the FIB cannot answer (no route, forwarding
 * off) the packet is not judged. 1 = fine, 0 = spoofed. A global function:
 * verified once. */
__noinline int sl_pod_src_ok(struct __sk_buff *skb, const struct sl_tuple *t)
{
	struct bpf_fib_lookup f;
	long rc;

	if (!skb || !t)
		return 1;
	__builtin_memset(&f, 0, sizeof(f));
	f.ifindex = skb->ifindex;
	if (t->family == SL_AF_INET) {
		f.family = 2; /* AF_INET */
		f.ipv4_dst = t->saddr[0];
		f.ipv4_src = t->daddr[0];
	} else {
		f.family = 10; /* AF_INET6 */
		__builtin_memcpy(f.ipv6_dst, t->saddr, 16);
		__builtin_memcpy(f.ipv6_src, t->daddr, 16);
	}
	rc = bpf_fib_lookup(skb, &f, sizeof(f), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return 1;
	return f.ifindex == skb->ifindex;
}

/* Fast path, policy, accounting: 0 = pass, else the drop verdict. */
static __always_inline __u32 sl_pod_decide(struct __sk_buff *skb, struct sl_pod_ctx *c)
{
	struct sl_np_pod_val *pv = NULL;
	struct sl_pflow_val *v;
	__u32 verdict;
	__u8 allow;
	int created;

	if (!count_flows) {
		if (c->policy)
			pv = sl_np_pod(&c->p.t, c->hdir, c->slot);
		if (!pv) {
			sl_pod_count(c->tot, c->hdir, &c->d, false);
			return 0;
		}
	}
	c->now = sl_pf_now();
	v = bpf_map_lookup_elem(&sl_pflows, &c->key);
	if (v && (v->flags & SL_PF_ALLOW_ANY) && !c->uncached) {
		sl_pf_add(v, &c->d, c->now, 0);
		sl_pod_count(c->tot, c->hdir, &c->d, false);
		return 0;
	}
	if (c->hdir == SL_POD_FROM && c->policy && !sl_pod_src_ok(skb, &c->p.t))
		return sl_v_drop(SL_DROP_SPOOFED);
	/* mTLS STRICT: a new connection into the pod only from the proxy */
	if (c->hdir == SL_POD_TO && !v && c->policy) {
		verdict = sl_mtls_check(skb->mark, &c->p, sl_config_get());
		if (verdict)
			return verdict;
	}
	if (count_flows && c->policy)
		pv = sl_np_pod(&c->p.t, c->hdir, c->slot);
	if (v && !sl_pod_is_icmp(&c->p))
		verdict = sl_pod_readmit(c, pv, v->flags, &allow);
	else
		verdict = sl_pod_policy(skb, c, pv, &allow);
	if (verdict)
		return verdict;
	if (allow && sl_pod_slot_moved(c))
		allow = 0;
	created = sl_pf_account(&c->key, v, &c->d, allow, c->now);
	sl_pod_count(c->tot, c->hdir, &c->d, created > 0);
	return 0;
}

/* Headers that do not add up: 0 = pass (counted), else the drop verdict. */
static __always_inline __u32 sl_pod_malformed(struct __sk_buff *skb, struct sl_pod_ctx *c)
{
	struct sl_np_pod_val *pv = NULL;
	__u32 len = skb->len;

	if (!c->p.t.family)
		return sl_v_drop(SL_DROP_MALFORMED);
	if (c->policy)
		pv = sl_np_pod(&c->p.t, c->hdir, c->slot);
	if (sl_np_set(pv, c->hdir))
		return sl_v_drop(SL_DROP_MALFORMED);
	c->d.segs = 1;
	c->d.bytes = len > c->p.l3_off ? len - c->p.l3_off : 0;
	sl_pod_count(c->tot, c->hdir, &c->d, false);
	return 0;
}

static __always_inline void sl_pod_cfg(struct sl_pod_ctx *c)
{
	struct sl_config *cfg = sl_config_get();

	c->policy = cfg && cfg->magic == SL_ABI_MAGIC;
	c->slot = c->policy ? (cfg->active_slot & 1) : 0;
}

static __always_inline int sl_pod(struct __sk_buff *skb, __u32 hdir)
{
	struct sl_pod_ctx c;
	__u32 verdict;
	int r;

	__builtin_memset(&c, 0, sizeof(c));
	c.hdir = hdir;
	r = sl_pod_parse(skb, &c.p);
	if (r > 0)
		return SL_TC_ACT_OK;
	c.tot = sl_pod_totals_get(skb->ifindex);
	sl_pod_cfg(&c);
	if (r < 0) {
		verdict = sl_pod_malformed(skb, &c);
	} else {
		sl_pod_echo(&c.p);
		c.uncached = sl_pod_uncached(&c.p);
		sl_pod_delta(skb, &c.p, &c.d);
		sl_pf_key(&c.key, &c.p.t, skb->ifindex, &c.d.kdir);
		verdict = sl_pod_decide(skb, &c);
	}
	if (!verdict)
		return SL_TC_ACT_OK;
	sl_pod_drop(c.tot, sl_v_reason(verdict));
	sl_dbg("sluice: pod if %u dir %u drop %u", skb->ifindex, hdir, sl_v_reason(verdict));
	return SL_TC_ACT_SHOT;
}

SEC("tc")
int sl_tc_pod_from(struct __sk_buff *skb)
{
	return sl_pod(skb, SL_POD_FROM);
}

SEC("tc")
int sl_tc_pod_to(struct __sk_buff *skb)
{
	return sl_pod(skb, SL_POD_TO);
}

/* After a policy change userspace runs this once (BPF_PROG_TEST_RUN, ctx
 * struct sl_pflows_revoke_ctx): it clears the ALLOW flags of every flow
 * record, so that each established connection is judged again, under the
 * new policy, at its next packet (sl_pod_readmit). Counters and the rest of
 * the record stay; the flags go with one atomic AND per record. */
static long sl_pf_revoke_one(struct bpf_map *map __attribute__((unused)),
			     struct sl_pflow_key *key __attribute__((unused)),
			     struct sl_pflow_val *v, __u64 *n)
{
	if (v->flags & SL_PF_ALLOW_ANY) {
		sl_pf_and_flags(v, (__u8)~SL_PF_ALLOW_ANY);
		(*n)++;
	}
	return 0;
}

SEC("syscall")
int sl_pflows_revoke(struct sl_pflows_revoke_ctx *ctx)
{
	__u64 n = 0;

	bpf_for_each_map_elem(&sl_pflows, sl_pf_revoke_one, &n, 0);
	ctx->revoked = n;
	return 0;
}
