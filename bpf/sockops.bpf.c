// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * TCP lifecycle of the sockets sock_lb translated (those with a record in
 * the socket table, sl_socks): per-endpoint opened and rto counts, outlier
 * successes, the hand-off record the proxy reads, and, on kernels where
 * close() cannot read the socket's TCP counters, the end of the connection
 * at TCP_CLOSE (bpf/lib/flowend.h). See docs/KERNEL.md.
 *
 * Callbacks cost a program run each. Five run for every TCP socket of the
 * cgroup whatever the flags (TIMEOUT_INIT, RWND_INIT, TCP_CONNECT_CB,
 * NEEDS_ECN, ACTIVE_ESTABLISHED); those leave after two loads unless the
 * socket carries the RTO flag connect4 set on Sluice's sockets, or, where
 * connect4 arms nothing (sl_arm_established), ACTIVE_ESTABLISHED looks
 * the socket up. STATE and RTO callbacks run only on sockets whose flags
 * ask for them: Sluice's.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include "sluice_abi.h"
#include "lib/common.h"
#include "lib/flowend.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The peer's FIN was received. */
static __always_inline bool sl_peer_fin(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct tcp_sock *tp = sk ? bpf_skc_to_tcp_sock(sk) : NULL;

	return tp && sl_sock_done(&tp->inet_conn.icsk_inet.sk);
}

/* Payload bytes of the connection. The kernel's bytes_acked counts our SYN
 * and FIN once acked, bytes_received the peer's FIN, each as one byte of
 * sequence space; the metrics promise payload bytes, so those come off.
 * `state` is the state whose FIN status applies: the old state at
 * TCP_CLOSE. Our FIN was sent in FIN_WAIT1/2, LAST_ACK and CLOSING, and it
 * is acked once nothing is outstanding (always so in FIN_WAIT2). */
static __always_inline void sl_payload(struct bpf_sock_ops *skops, const struct sl_sock *s,
				       __u32 state, struct sl_tcp_end *e)
{
	__u64 tx = skops->bytes_acked;

	if (tx && (s->flags & SL_SOCK_F_ESTABLISHED))
		tx--;
	if (tx && sl_fin_sent(state) && skops->snd_una == skops->snd_nxt)
		tx--;
	sl_tcp_end_set(e, tx, skops->bytes_received, sl_peer_fin(skops), skops->segs_out,
		       skops->segs_in);
}

/* The socket's cookie, 0 if it has none (then it holds no record): read
 * from the socket where the kfuncs load, without a helper call on every
 * TCP connection of the cgroup (sl_cookie_held). */
static __always_inline __u64 sl_ops_cookie(struct bpf_sock_ops *skops)
{
	if (!sl_close_at_release)
		return bpf_get_socket_cookie(skops);
	return sl_cookie_held(((struct bpf_sock_ops_kern *)bpf_cast_to_kern_ctx(skops))->sk);
}

/* TCP_CONNECT_CB: STATE callbacks from here on (SYN_SENT is already set,
 * so the first one that runs is the answer to the SYN), unless close()
 * ends the connection. connect4 set the RTO flag on its sockets; under the
 * fallback (a kernel that refuses that in connect4) the socket is looked
 * up instead. */
static __always_inline void sl_on_connect(struct bpf_sock_ops *skops, __u32 cb)
{
	const __u32 want = BPF_SOCK_OPS_RTO_CB_FLAG |
			   (sl_close_at_release ? 0 : BPF_SOCK_OPS_STATE_CB_FLAG);
	struct sl_runtime *rt;
	__u32 zero = 0;
	__u64 cookie;

	if (!(cb & BPF_SOCK_OPS_RTO_CB_FLAG)) {
		rt = bpf_map_lookup_elem(&sl_rt, &zero);
		if (!rt || !rt->cb_fallback)
			return;
		cookie = sl_ops_cookie(skops);
		if (!cookie || !sl_sock_find(cookie))
			return;
	}
	bpf_sock_ops_cb_flags_set(skops, cb | want);
}

/* skops->remote_port holds the network-order port in its upper 16 bits on
 * little-endian kernels (the field is filled with `dport << 16`) and in the
 * lower 16 bits where that shift is absent; a port is never 0, so whichever
 * half is set is the port. */
static __always_inline __be16 sl_remote_port(struct bpf_sock_ops *skops)
{
	__u32 p = skops->remote_port;

	return (__be16)(p >> 16 ? p >> 16 : p);
}

/* An address pair from sockops, v4-mapped IPv6 folded to IPv4 (the key the
 * proxy builds from its accepted socket follows the same rule). */
static __always_inline void sl_handoff_addrs(struct bpf_sock_ops *skops, struct sl_handoff_key *k)
{
	if (skops->family == SL_KERNEL_AF_INET) {
		k->family = SL_AF_INET;
		k->src[0] = skops->local_ip4;
		k->dst[0] = skops->remote_ip4;
		return;
	}
	k->src[0] = skops->local_ip6[0];
	k->src[1] = skops->local_ip6[1];
	k->src[2] = skops->local_ip6[2];
	k->src[3] = skops->local_ip6[3];
	k->dst[0] = skops->remote_ip6[0];
	k->dst[1] = skops->remote_ip6[1];
	k->dst[2] = skops->remote_ip6[2];
	k->dst[3] = skops->remote_ip6[3];
	k->family = SL_AF_INET6;
	if (!k->src[0] && !k->src[1] && k->src[2] == bpf_htonl(0xffff)) {
		k->family = SL_AF_INET;
		k->src[0] = k->src[3];
		k->dst[0] = k->dst[3];
		k->src[2] = k->src[3] = k->dst[2] = k->dst[3] = 0;
	}
}

/* Why FE's connections go to the proxy (shown by `get`; the proxy decides
 * from its own policy), read once more if the slot switched meanwhile. */
static __always_inline __u32 sl_handoff_reasons(const struct sl_config *cfg,
						const struct sl_l4addr *fe)
{
	struct sl_view v = sl_view_of(cfg);
	struct sl_svc_val *svc = sl_service(fe, v.slot);
	__u32 r = svc ? svc->handoff_reasons : 0;

	if (!sl_view_moved(cfg, &v))
		return r;
	v = sl_view_of(cfg);
	svc = sl_service(fe, v.slot);
	return svc ? svc->handoff_reasons : 0;
}

/* The proxy accepts this connection and finds the original destination
 * under (its peer, its local address) = our (local, remote). */
static __always_inline void sl_handoff_record(struct bpf_sock_ops *skops, const struct sl_sock *s,
					      __u64 cookie)
{
	struct sl_config *cfg = sl_config_get();
	struct sl_handoff_key k;
	struct sl_handoff_val v;

	__builtin_memset(&k, 0, sizeof(k));
	__builtin_memset(&v, 0, sizeof(v));
	sl_handoff_addrs(skops, &k);
	k.sport = bpf_htons((__u16)skops->local_port);
	k.dport = sl_remote_port(skops);
	v.orig = s->fe;
	v.cookie = cookie;
	v.reasons = cfg ? sl_handoff_reasons(cfg, &s->fe) : 0;
	if (bpf_map_update_elem(&sl_handoff, &k, &v, BPF_ANY))
		sl_count(handoff_record_fail);
}

/* Open flows need nothing here: `sluice flows` lists them from the
 * socket table (and reads their counters live where the iterator runs).
 * Where close() ends connections, it may run at the same time on another
 * CPU (the SYN-ACK is being processed while the application closes): both
 * set their bit with an atomic or, and whichever comes second sees the
 * other's. Once close() has been (RELEASED), it decided from the socket
 * whether the connection was up and counted it; nothing is left to do
 * here. (Where sockops ends connections at TCP_CLOSE, close() never reads
 * the socket: counting stays here.) */
static __always_inline void sl_on_established(struct bpf_sock_ops *skops, struct sl_sock *s,
					      __u64 cookie)
{
	__u32 old = __sync_fetch_and_or(&s->flags, SL_SOCK_F_ESTABLISHED);
	struct sl_ep_state *es;

	if (sl_close_at_release && (old & SL_SOCK_F_RELEASED))
		return;
	s->state = SL_FLOW_ESTABLISHED;
	if (old & SL_SOCK_F_HANDOFF) {
		sl_handoff_record(skops, s, cookie);
		return;
	}
	es = sl_sock_ep(s);
	if (es) {
		__sync_fetch_and_add(&es->opened, 1);
		sl_outlier_success(es);
	}
}

static __always_inline void sl_on_rto(struct sl_sock *s)
{
	struct sl_ep_state *es = NULL;

	__sync_fetch_and_add(&s->rto, 1);
	if (!(s->flags & SL_SOCK_F_HANDOFF))
		es = sl_sock_ep(s);
	if (es)
		__sync_fetch_and_add(&es->rto, 1);
}

static __always_inline void sl_on_close(struct bpf_sock_ops *skops, struct sl_sock *s,
					__u32 old_state, __u64 cookie)
{
	struct sl_tcp_end e;

	sl_payload(skops, s, old_state, &e);
	sl_flow_close(s, &e, s->flags & SL_SOCK_F_ESTABLISHED);
	/* Freed by whichever of this and close() comes last. */
	if (__sync_fetch_and_or(&s->flags, SL_SOCK_F_CLOSED) & SL_SOCK_F_RELEASED)
		sl_sock_free(s, cookie);
}

/* The socket's record, if it still describes this connection: a socket
 * that re-connected to a plain address keeps its old record (and its
 * callbacks), but its peer is no longer the endpoint recorded. */
static __always_inline struct sl_sock *sl_sock_of(struct bpf_sock_ops *skops, __u64 cookie)
{
	struct sl_sock *s = sl_sock_find(cookie);

	if (!s || !s->fe.family || s->ep.port != sl_remote_port(skops))
		return NULL;
	if (skops->family == SL_KERNEL_AF_INET)
		return s->ep.family == SL_AF_INET && s->ep.addr[0] == skops->remote_ip4 ? s : NULL;
	if (s->ep.family == SL_AF_INET) /* v4 endpoint of a dual-stack socket: v4-mapped */
		return s->ep.addr[0] == skops->remote_ip6[3] ? s : NULL;
	return s->ep.addr[0] == skops->remote_ip6[0] && s->ep.addr[1] == skops->remote_ip6[1] &&
			       s->ep.addr[2] == skops->remote_ip6[2] &&
			       s->ep.addr[3] == skops->remote_ip6[3]
		       ? s
		       : NULL;
}

SEC("sockops")
int sl_sockops(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op, cb = skops->bpf_sock_ops_cb_flags;
	struct sl_sock *s;
	__u64 cookie;

	/* Every TCP socket of the cgroup comes through here several times per
	 * connection. Leave before any map lookup unless it is an event we act
	 * on, on a socket connect4 marked (RTO flag). STATE and RTO callbacks
	 * only run on sockets whose flags ask for them; of the state changes
	 * only the final one matters. */
	switch (op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		if (!sl_arm_established)
			sl_on_connect(skops, cb);
		return 1;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		/* Unmarked sockets are looked up where connect4 marks none. */
		if (!sl_arm_established && !(cb & BPF_SOCK_OPS_RTO_CB_FLAG))
			return 1;
		break;
	case BPF_SOCK_OPS_RTO_CB:
		if (!(cb & BPF_SOCK_OPS_RTO_CB_FLAG))
			return 1;
		break;
	case BPF_SOCK_OPS_STATE_CB:
		/* Armed by an older version before an upgrade: close() ends
		 * those connections too when it can. */
		if (sl_close_at_release || skops->args[1] != BPF_TCP_CLOSE)
			return 1;
		break;
	default:
		return 1;
	}
	cookie = sl_ops_cookie(skops);
	s = cookie ? sl_sock_of(skops, cookie) : NULL;
	if (!s)
		return 1;
	if (op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB) {
		if (sl_arm_established)
			bpf_sock_ops_cb_flags_set(skops, cb | BPF_SOCK_OPS_RTO_CB_FLAG);
		sl_on_established(skops, s, cookie);
	} else if (op == BPF_SOCK_OPS_RTO_CB) {
		sl_on_rto(s);
	} else {
		sl_on_close(skops, s, skops->args[0], cookie);
	}
	return 1;
}
