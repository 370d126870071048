/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kubernetes NetworkPolicy for bpf/tc_pod.bpf.c: is a new connection
 * allowed out of (egress) or into (ingress) a pod?
 *
 * Tables (written by userspace into the inactive slot, then published by
 * flipping sl_config.active_slot; see include/sluice_abi.h):
 *   sl_np_pods     {pod IP, slot} -> {ingress_set, egress_set}; a set of 0,
 *                  or no entry, means "not isolated in that direction".
 *   sl_np_prefixes LPM {set, family, peer IP} -> portset; the compiler has
 *                  already folded ipBlock `except` holes and overlapping
 *                  rules, so the longest match is the whole answer, and a
 *                  portset of 0 means "denied".
 *   sl_np_ports    portset -> ranges {proto, lo, hi}; proto 0 admits every
 *                  protocol and port (a rule without `ports`).
 * Set and portset ids carry the slot in bit 31, so one lookup of the pod in
 * the live slot leads only to that slot's sets: a packet sees the old policy
 * or the new one, never a mix.
 *
 * The port that decides is the destination port of the connection, which
 * for the packet that opens it is its dport in both directions (ingress:
 * the pod's port; egress: the peer's). Replies never come here: the caller
 * admits them from the flow record of the connection they answer.
 *
 * Always allowed, as Kubernetes requires: a pod talking to itself, and the
 * node's own addresses (sl_node_addrs) talking to its pods (kubelet
 * probes). IPv6 neighbour discovery is allowed too: it is link plumbing
 * (what ARP is for IPv4, which is not IP and never reaches the policy), and
 * denying it would cut every IPv6 connection of the pod, allowed or not.
 */
#ifndef SL_NETPOL_H
#define SL_NETPOL_H

#include "common.h"
#include "maps_node.h"
#include "pkt.h"
#include "pflow.h"

#define SL_IPPROTO_SCTP 132

/* Verdicts of the pod workers: 0 = pass, else SL_V_DROP | enum
 * sl_drop_reason (reason 0 is a real reason, SL_DROP_POLICY_INGRESS). */
#define SL_V_DROP 0x100u
#define sl_v_drop(reason) (SL_V_DROP | (reason))
#define sl_v_reason(v) ((v) & 0xffu)
#define SL_ICMP6_ND_FIRST 133 /* router solicitation */
#define SL_ICMP6_ND_LAST 137 /* redirect */

/* The pod's entry in the live slot: the source of a packet leaving the
 * pod, the destination of one entering it. NULL: not isolated either way. */
static __always_inline struct sl_np_pod_val *sl_np_pod(const struct sl_tuple *t, __u32 hdir,
						       __u32 slot)
{
	struct sl_np_pod_key k;

	__builtin_memset(&k, 0, sizeof(k));
	__builtin_memcpy(k.addr, hdir == SL_POD_FROM ? t->saddr : t->daddr, 16);
	k.family = t->family;
	k.slot = slot;
	return bpf_map_lookup_elem(&sl_np_pods, &k);
}

/* The set that governs this direction; 0 = the pod is not isolated. */
static __always_inline __u32 sl_np_set(const struct sl_np_pod_val *pv, __u32 hdir)
{
	if (!pv)
		return 0;
	return hdir == SL_POD_FROM ? pv->egress_set : pv->ingress_set;
}

/* The policy drop verdict of a direction. */
static __always_inline __u32 sl_np_deny(__u32 hdir)
{
	return sl_v_drop(hdir == SL_POD_FROM ? SL_DROP_POLICY_EGRESS : SL_DROP_POLICY_INGRESS);
}

static __always_inline bool sl_np_is_nd(const struct sl_pkt *p)
{
	return p->t.proto == SL_NH_ICMPV6 && p->icmp_type >= SL_ICMP6_ND_FIRST &&
	       p->icmp_type <= SL_ICMP6_ND_LAST;
}

/* Traffic no NetworkPolicy can block (see the top of this file). */
static __always_inline bool sl_np_exempt(const struct sl_pkt *p, __u32 hdir)
{
	const __be32 *peer = hdir == SL_POD_FROM ? p->t.daddr : p->t.saddr;
	struct sl_node_addr na;

	if (sl_np_is_nd(p))
		return true;
	if (p->t.saddr[0] == p->t.daddr[0] && p->t.saddr[1] == p->t.daddr[1] &&
	    p->t.saddr[2] == p->t.daddr[2] && p->t.saddr[3] == p->t.daddr[3])
		return true;
	__builtin_memset(&na, 0, sizeof(na));
	__builtin_memcpy(na.addr, peer, 16);
	na.family = p->t.family;
	return bpf_map_lookup_elem(&sl_node_addrs, &na) != NULL;
}

/* The portset admitting the peer for this set; 0 = none. */
static __always_inline __u32 sl_np_portset(__u32 set, const struct sl_tuple *t, __u32 hdir)
{
	struct sl_np_lpm_key k;
	struct sl_np_lpm_val *v;

	__builtin_memset(&k, 0, sizeof(k));
	k.prefixlen = 64 + (t->family == SL_AF_INET ? 32 : 128);
	k.set = set;
	k.family = t->family;
	__builtin_memcpy(k.addr, hdir == SL_POD_FROM ? t->daddr : t->saddr, 16);
	v = bpf_map_lookup_elem(&sl_np_prefixes, &k);
	return v ? v->portset : 0;
}

static __always_inline bool sl_np_has_ports(__u8 proto)
{
	return proto == SL_IPPROTO_TCP || proto == SL_IPPROTO_UDP || proto == SL_IPPROTO_SCTP;
}

/* 0: a range admits the packet; else the drop verdict. A later fragment
 * has no ports, so only a rule without ports (proto 0) can admit it. */
static __always_inline __u32 sl_np_match_ports(__u32 portset, const struct sl_pkt *p, __u32 hdir)
{
	bool later = p->frag == SL_FRAG_LATER;
	__u16 port = bpf_ntohs(p->t.dport);
	struct sl_np_ports *ps;
	__u32 n;

	ps = bpf_map_lookup_elem(&sl_np_ports, &portset);
	if (!ps)
		return sl_np_deny(hdir);
	n = ps->n;
	for (__u32 i = 0; i < SL_NP_MAX_RANGES; i++) {
		const struct sl_np_range *r = &ps->r[i];

		if (i >= n)
			break;
		if (!r->proto)
			return 0;
		if (later || r->proto != p->t.proto || !sl_np_has_ports(r->proto))
			continue;
		if (r->lo <= port && port <= r->hi)
			return 0;
	}
	return later ? sl_v_drop(SL_DROP_FRAGMENT) : sl_np_deny(hdir);
}

/* Verdict on a packet that opens a connection in direction hdir of an
 * isolated pod (set != 0): 0 = allowed, else the drop verdict. */
static __always_inline __u32 sl_np_allow(__u32 set, const struct sl_pkt *p, __u32 hdir)
{
	__u32 portset;

	if (sl_np_exempt(p, hdir))
		return 0;
	portset = sl_np_portset(set, &p->t, hdir);
	if (!portset)
		return sl_np_deny(hdir);
	return sl_np_match_ports(portset, p, hdir);
}

/* ---- mTLS STRICT (include/sluice_abi.h, sl_mtls) ---------------------------
 * Not NetworkPolicy, but judged at the same place and time: the packet that
 * opens a connection into a pod. A STRICT port admits it only from the node
 * proxy's sockets (skb->mark == sl_config.proxy_mark). Dropped packets count
 * as SL_DROP_POLICY_INGRESS. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SL_MAX_MTLS);
	__type(key, struct sl_mtls_key);
	__type(value, struct sl_mtls_val);
} sl_mtls SEC(".maps");

static __always_inline bool sl_mtls_strict(const struct sl_pkt *p)
{
	struct sl_mtls_key k;
	struct sl_mtls_val *v;

	if (p->t.proto != SL_IPPROTO_TCP && p->t.proto != SL_IPPROTO_UDP)
		return false;
	__builtin_memset(&k, 0, sizeof(k));
	__builtin_memcpy(k.addr, p->t.daddr, 16);
	k.family = p->t.family;
	k.proto = p->t.proto;
	k.port = p->t.dport;
	v = bpf_map_lookup_elem(&sl_mtls, &k);
	if (!v) {
		k.port = 0;
		v = bpf_map_lookup_elem(&sl_mtls, &k);
	}
	return v && v->mode == SL_MTLS_K_STRICT;
}

/* 0 = pass, else the drop verdict, for a packet entering a pod that no
 * admitted flow record covers. A later fragment has no port: it passes here
 * and the stack drops it without its first fragment. */
static __always_inline __u32 sl_mtls_check(__u32 mark, const struct sl_pkt *p,
					   const struct sl_config *cfg)
{
	if (p->frag == SL_FRAG_LATER || !sl_mtls_strict(p))
		return 0;
	if (cfg && cfg->proxy_mark && mark == cfg->proxy_mark)
		return 0;
	return sl_v_drop(SL_DROP_POLICY_INGRESS);
}

#endif /* SL_NETPOL_H */
