// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Socket-level service load balancing: cgroup sock_addr hooks that rewrite
 * the destination of connect()/sendmsg() from a service frontend (VIP, port,
 * proto) to one of its endpoints, restore it for getpeername()/recvmsg(),
 * and give back the socket's accounting at close (sock_release).
 *
 * Entry points only fill a struct sl_req and turn a worker's 0 / -reason
 * into the hook's verdict in sl_verdict(). See docs/KERNEL.md.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include "sluice_abi.h"
#include "lib/common.h"
#include "lib/addr.h"
#include "lib/flowend.h"
#include "lib/select.h"
#include "lib/clock.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* One connect()/sendmsg() as the workers see it. */
struct sl_req {
	struct sl_l4addr fe; /* destination as dialled */
	struct sl_l4addr ep; /* destination chosen */
	__u64 now; /* CLOCK_MONOTONIC ns */
	__u64 cookie; /* the socket's cookie, when it gets a record */
	__u32 slot; /* live policy slot */
	__u32 gen; /* the generation SLOT was read under */
	__u32 ep_state; /* sl_ep_state id of the chosen row */
	__u32 grp_state; /* sl_group_state id of the chosen group */
	__u32 max_conns; /* the chosen group's limit */
	bool count; /* connect(): account the socket; sendmsg(): per message */
	bool last; /* the last read allowed: act on it whatever moved */
	bool new_slot; /* its record was claimed by this connect(): no other
			* program has seen it as the socket's yet */
};

/* Refusal: 0 makes the syscall fail with EPERM; where the kernel has
 * bpf_set_retval for these hooks (5.18+) it fails with ECONNREFUSED, which
 * is what a client expects from a full or empty service. */
static __always_inline int sl_verdict(int err)
{
	if (err >= 0)
		return 1;
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_set_retval))
		bpf_set_retval(-SL_ECONNREFUSED);
	return 0;
}

/* `sluice load --sockops auto` or `off` (docs/KERNEL.md, "When sockops is
 * attached"): sockops may not run for a socket's whole life, so nothing is
 * armed here, no socket is marked SOCKOPS, and close() reads whether a
 * connection was established, and its RTOs, from the socket when sockops
 * did not mark it. */
const volatile __u32 sl_sockops_off = 0;

/* The proxy marks its own upstream sockets; handing them off again would
 * loop. They get ordinary L4 selection instead. */
static __always_inline bool sl_is_proxy(struct bpf_sock_addr *ctx, const struct sl_config *cfg)
{
	struct bpf_sock *sk = ctx->sk;

	return cfg->proxy_mark && sk && sk->mark == cfg->proxy_mark;
}

/* Did a connect() of this socket get as far as sending a SYN? The initial
 * sequence number is chosen just before the SYN goes out and stays set:
 * a failed connect() is disconnected, which zeroes the segment and byte
 * counters but moves write_seq on (never to 0). A socket whose connect()
 * failed earlier, at routing, still has 0. */
static __always_inline bool sl_syn_sent(const struct tcp_sock *tp)
{
	return tp->write_seq != 0;
}

/* Was our SYN acknowledged, i.e. did the connection get established? The
 * kernel counts the SYN as one byte in bytes_acked (zeroed again when a
 * failed connect() disconnects the socket). */
static __always_inline bool sl_syn_acked(const struct tcp_sock *tp)
{
	return tp->bytes_acked != 0;
}

/* A TCP socket connect()s again after its last attempt failed. Where
 * close() ends connections, nothing has counted that failure yet (no
 * TCP_CLOSE callback is armed), and the record is about to be reused.
 * An attempt that failed before its SYN left (no route, no source
 * address) never reached the endpoint: TCP_CLOSE would not count it
 * either. sl_syn_sent() tells. */
static __always_inline void sl_retry_after_failure(struct bpf_sock_addr *ctx,
						   const struct sl_sock *s)
{
	const __u32 done = SL_SOCK_F_ESTABLISHED | SL_SOCK_F_CLOSED | SL_SOCK_F_UDP |
			   SL_SOCK_F_HANDOFF;
	struct bpf_sock *sk = ctx->sk;
	struct tcp_sock *tp;
	struct sl_ep_state *es;

	if (!sl_close_at_release || (s->flags & done) || !sk)
		return;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp || !sl_syn_sent(tp) || sl_syn_acked(tp))
		return;
	es = sl_sock_ep(s);
	if (es)
		sl_connect_failed(s, es);
}

/* The cookie CTX's socket already has, 0 if it has none: then it holds no
 * record and no reverse-NAT entry, both keyed by cookie. Read from the
 * socket where the kfuncs load (sl_close_at_release); elsewhere the helper,
 * which also gives the socket a cookie. getpeername() and every UDP
 * recvmsg() in the cgroup come through here. */
static __always_inline __u64 sl_ctx_cookie_held(struct bpf_sock_addr *ctx)
{
	struct bpf_sock_addr_kern *k;

	if (!sl_close_at_release)
		return bpf_get_socket_cookie(ctx);
	k = bpf_cast_to_kern_ctx(ctx);
	return sl_cookie_held(k->sk);
}

/* The socket's cookie, made now if it has none: the helper is called only
 * then, where the kfuncs load. */
static __always_inline __u64 sl_ctx_cookie(struct bpf_sock_addr *ctx)
{
	__u64 c = sl_close_at_release ? sl_ctx_cookie_held(ctx) : 0;

	return c ? c : bpf_get_socket_cookie(ctx);
}

/* The socket's record: the one it already holds (a UDP re-connect, a TCP
 * retry after a failure), whose units go back first, or a new slot.
 *
 * A socket that had no cookie before this connect4 (made by the first thing
 * that asks for it, here connect4 itself) holds no record, so its slot is
 * claimed without first looking for its own behind every probe (the last
 * probe slot is one that no earlier socket touched: a cache miss on most
 * connects). Any other socket (a re-connect, or one whose cookie something
 * else asked for) takes the full look; so does every socket where the
 * kfuncs that read the cookie do not load. */
static __always_inline struct sl_sock *sl_sock_take(struct bpf_sock_addr *ctx, struct sl_req *rq)
{
	__u64 held = sl_close_at_release ? sl_ctx_cookie_held(ctx) : 0;
	bool again, fresh = sl_close_at_release && !held;
	struct sl_sock *s;

	rq->cookie = held ? held : bpf_get_socket_cookie(ctx);
	s = fresh ? sl_sock_claim_new(rq->cookie) : sl_sock_claim(rq->cookie, &again);
	if (fresh)
		again = false;
	if (!s) {
		sl_count(storage_fail);
		return NULL;
	}
	if (again) {
		sl_retry_after_failure(ctx, s);
		sl_release(s);
		__sync_lock_test_and_set(&s->flags, 0);
	}
	rq->new_slot = !again;
	return s;
}

/* A connect() that took a slot and was then refused leaves nothing behind. */
static __always_inline void sl_sock_drop(struct sl_sock *s, const struct sl_req *rq)
{
	if (s) {
		__sync_lock_test_and_set(&s->flags, 0);
		sl_sock_free(s, rq->cookie);
	}
}

/* A TCP socket with a record gets its sockops callbacks armed here: the
 * RTO callback from now (so SYN timeouts count), which also marks the
 * socket as Sluice's for the callbacks that run for every TCP socket
 * (sockops checks the flag before any map lookup); STATE is added at
 * TCP_CONNECT_CB, after the SYN_SENT transition it would only waste a run
 * on. Kernels before 6.10 refuse this option here: the first refusal turns
 * on the fallback, where sockops looks the socket up at TCP_CONNECT_CB. */
static __always_inline void sl_arm_callbacks(struct bpf_sock_addr *ctx, const struct sl_req *rq)
{
	int flags = BPF_SOCK_OPS_RTO_CB_FLAG;
	struct sl_runtime *rt;
	__u32 zero = 0;

	if (rq->fe.proto != SL_IPPROTO_TCP || sl_sockops_off || sl_arm_established)
		return;
	if (!bpf_setsockopt(ctx, SL_SOL_TCP, SL_TCP_BPF_SOCK_OPS_CB_FLAGS, &flags, sizeof(flags)))
		return;
	rt = bpf_map_lookup_elem(&sl_rt, &zero);
	if (rt && !rt->cb_fallback)
		rt->cb_fallback = 1;
	sl_count(cb_fallback);
}

static __always_inline void sl_sock_fill(struct bpf_sock_addr *ctx, struct sl_sock *s,
					 const struct sl_req *rq, __u32 grp_state, __u16 gen,
					 __u32 flags)
{
	s->fe = rq->fe;
	s->ep = rq->ep;
	s->ep_state = rq->ep_state;
	s->grp_state = grp_state;
	s->ep_gen = gen;
	s->cookie = rq->cookie;
	s->start_ns = rq->now;
	s->end_ns = 0;
	s->rto = 0;
	s->state = SL_FLOW_CONNECTING;
	if (rq->fe.proto == SL_IPPROTO_UDP)
		flags |= SL_SOCK_F_UDP;
	else if (sl_close_at_release)
		flags |= SL_SOCK_F_ENDS_AT_CLOSE;
	if (rq->fe.proto == SL_IPPROTO_TCP && !sl_sockops_off)
		flags |= SL_SOCK_F_SOCKOPS;
	/* A slot just claimed has no other writer until connect4 returns (the
	 * SYN has not left): a plain store, one locked instruction fewer. */
	if (rq->new_slot)
		s->flags = flags;
	else
		__sync_lock_test_and_set(&s->flags, flags);
	sl_arm_callbacks(ctx, rq);
}

static __always_inline int sl_to_proxy(struct bpf_sock_addr *ctx, int fam, struct sl_req *rq,
				       const struct sl_config *cfg)
{
	struct sl_sock *s;
	int err;

	/* Fail closed: the policy asks for mTLS/authz only the proxy does. */
	if (!cfg->proxy_port)
		return -SL_R_NO_PROXY;
	__builtin_memset(&rq->ep, 0, sizeof(rq->ep));
	rq->ep.port = cfg->proxy_port;
	rq->ep.proto = SL_IPPROTO_TCP;
	rq->ep.family = rq->fe.family;
	if (rq->fe.family == SL_AF_INET) {
		rq->ep.addr[0] = cfg->proxy_addr4;
	} else {
		rq->ep.addr[0] = cfg->proxy_addr6[0];
		rq->ep.addr[1] = cfg->proxy_addr6[1];
		rq->ep.addr[2] = cfg->proxy_addr6[2];
		rq->ep.addr[3] = cfg->proxy_addr6[3];
	}
	if (!(rq->ep.addr[0] | rq->ep.addr[1] | rq->ep.addr[2] | rq->ep.addr[3]))
		return -SL_R_NO_PROXY;
	/* Without the record the proxy cannot know where to go: refuse. */
	s = sl_sock_take(ctx, rq);
	if (!s)
		return -SL_R_NO_PROXY;
	err = sl_ctx_store(ctx, fam, &rq->ep);
	if (err) {
		sl_sock_drop(s, rq);
		return err;
	}
	rq->ep_state = 0;
	sl_sock_fill(ctx, s, rq, 0, 0, SL_SOCK_F_HANDOFF);
	sl_count(connect_handoff);
	return 0;
}

static __always_inline int sl_no_backend(struct sl_group_state *gs)
{
	if (gs)
		__sync_fetch_and_add(&gs->no_backend, 1);
	sl_count(no_backend);
	return -SL_R_NO_BACKEND;
}

/* Accounting of a connect() whose endpoint is chosen: the record keeps the
 * group reservation and one unit of the endpoint's active count. When any
 * part cannot be held (a row or group without a state id), nothing is
 * (accounting fails open, traffic does not). */
static __always_inline void sl_commit(struct bpf_sock_addr *ctx, const struct sl_req *rq,
				      struct sl_sock *s, struct sl_group_state *gs)
{
	struct sl_ep_state *es = sl_ep_state_at(rq->ep_state);
	bool held = s && gs && es;

	if (!es)
		sl_count(ep_state_fail);
	if (held)
		__sync_fetch_and_add(&es->active, 1);
	else if (s && gs)
		__sync_fetch_and_sub(&gs->active, 1);
	if (s)
		sl_sock_fill(ctx, s, rq, rq->grp_state, es ? es->gen : 0,
			     held ? SL_SOCK_F_COUNTED : 0);
}

static __always_inline void sl_rnat_record(struct bpf_sock_addr *ctx, const struct sl_req *rq)
{
	struct sl_udp_rnat_key k;
	struct sl_l4addr *fe;

	__builtin_memset(&k, 0, sizeof(k));
	k.cookie = sl_ctx_cookie(ctx); /* per datagram: the helper only once */
	__builtin_memcpy(k.addr, rq->ep.addr, sizeof(k.addr));
	k.port = rq->ep.port;
	k.family = rq->ep.family;
	/* sendmsg() runs this per datagram: write only what changed. */
	fe = bpf_map_lookup_elem(&sl_udp_rnat, &k);
	if (fe && sl_addr_eq(fe, &rq->fe))
		return;
	if (bpf_map_update_elem(&sl_udp_rnat, &k, &rq->fe, BPF_ANY))
		sl_count(udp_rnat_fail);
}

/* The endpoint of the group for this request, into rq->ep / rq->ep_state. */
static __always_inline int sl_choose(struct sl_req *rq, const struct sl_group *grp,
				     struct sl_group_state *gs)
{
	struct sl_backend *be;
	struct sl_cand c;
	struct sl_sel sel;
	int pos;

	sl_sel_init(&sel, grp, rq->slot, rq->now);
	pos = sel.count ? sl_select(&sel, grp, gs, &c) : -SL_R_NO_BACKEND;
	if (pos < 0)
		return pos;
	be = sl_backend_at(0, sel.base + pos);
	if (!be)
		return -SL_R_NO_BACKEND;
	rq->ep = be->ep;
	rq->ep_state = be->state;
	return 0;
}

/* Did the slot RQ read switch away meanwhile (sl_view_moved)? Never on the
 * last read allowed. */
static __always_inline bool sl_moved(const struct sl_config *cfg, const struct sl_req *rq)
{
	struct sl_view v = { .gen = rq->gen, .slot = rq->slot };

	return !rq->last && sl_view_moved(cfg, &v);
}

/* Everything read from the slot comes first (group, endpoint, limit, into
 * RQ), then the check that it was not being rewritten, then what has
 * effects: the socket's record, the reservation, the rewrite. */
static __always_inline int sl_l4(struct bpf_sock_addr *ctx, int fam, struct sl_req *rq,
				 const struct sl_svc_val *svc, const struct sl_config *cfg)
{
	const struct sl_group *grp = sl_pick_group(svc);
	struct sl_group_state *gs;
	struct sl_sock *s = NULL;
	int err;

	if (!grp)
		return sl_moved(cfg, rq) ? -SL_R_MOVED : sl_no_backend(NULL);
	if (grp->lb == SL_LB_PASSTHROUGH)
		return sl_moved(cfg, rq) ? -SL_R_MOVED : 0;
	rq->grp_state = grp->state;
	rq->max_conns = grp->max_conns;
	gs = sl_group_state_at(rq->grp_state);
	err = sl_choose(rq, grp, gs);
	if (sl_moved(cfg, rq))
		return -SL_R_MOVED;
	if (err)
		return sl_no_backend(gs);
	if (rq->count)
		s = sl_sock_take(ctx, rq);
	err = rq->count ? sl_reserve(gs, rq->max_conns, s != NULL) : 0;
	if (err) {
		sl_sock_drop(s, rq);
		return err;
	}
	/* A v6 endpoint cannot be reached from a v4 socket: not selectable. */
	err = sl_ctx_store(ctx, fam, &rq->ep);
	if (err) {
		if (s && gs)
			__sync_fetch_and_sub(&gs->active, 1);
		sl_sock_drop(s, rq);
		return sl_no_backend(gs);
	}
	if (rq->count)
		sl_commit(ctx, rq, s, gs);
	if (rq->fe.proto == SL_IPPROTO_UDP)
		sl_rnat_record(ctx, rq);
	sl_count(connect_xlated);
	sl_dbg("sluice: %pI4:%u -> port %u", rq->fe.addr, bpf_ntohs(rq->fe.port),
	       bpf_ntohs(rq->ep.port));
	return 0;
}

/* connect() on a TCP socket that is already connecting or connected runs
 * this hook again (non-blocking clients poll with connect() until EISCONN)
 * and the kernel then ignores the address: choosing again would count the
 * socket twice and record an endpoint it never reached. */
static __always_inline bool sl_tcp_busy(struct bpf_sock_addr *ctx, const struct sl_req *rq)
{
	struct bpf_sock *sk = ctx->sk;

	return rq->count && rq->fe.proto == SL_IPPROTO_TCP && sk && sk->state != BPF_TCP_CLOSE;
}

/* One read of the live slot for RQ: 0 / -reason, or -SL_R_MOVED when the
 * slot switched away while it was read (then nothing was done). */
static __always_inline int sl_xlate_once(struct bpf_sock_addr *ctx, int fam, struct sl_req *rq,
					 const struct sl_config *cfg)
{
	struct sl_view v = sl_view_of(cfg);
	struct sl_svc_val *svc;

	rq->gen = v.gen;
	rq->slot = v.slot;
	svc = sl_service(&rq->fe, rq->slot);
	if (!svc)
		return sl_moved(cfg, rq) ? -SL_R_MOVED : 0;
	if (sl_tcp_busy(ctx, rq))
		return 0;
	/* Tick resolution is plenty for ejection ends and flow start times. */
	rq->now = sl_tick_now();
	if ((svc->flags & SL_SVC_F_HANDOFF) && rq->fe.proto == SL_IPPROTO_TCP &&
	    !sl_is_proxy(ctx, cfg))
		return sl_moved(cfg, rq) ? -SL_R_MOVED : sl_to_proxy(ctx, fam, rq, cfg);
	return sl_l4(ctx, fam, rq, svc, cfg);
}

/* connect() and sendmsg(): a miss (not a service) costs two lookups. A
 * read that met a switch is done once more on the slot now live, and that
 * one is acted on: a second switch within one program run would take two
 * applies within it (each takes far longer), so one retry is enough. */
static __always_inline int sl_xlate(struct bpf_sock_addr *ctx, int fam, struct sl_req *rq)
{
	struct sl_config *cfg;
	int err;

	if (rq->fe.proto != SL_IPPROTO_TCP && rq->fe.proto != SL_IPPROTO_UDP)
		return 0;
	sl_count(connect_seen);
	cfg = sl_config_get();
	if (!cfg)
		return 0;
	err = sl_xlate_once(ctx, fam, rq, cfg);
	if (err != -SL_R_MOVED)
		return err;
	sl_count(slot_moved);
	rq->last = true;
	return sl_xlate_once(ctx, fam, rq, cfg);
}

static __always_inline int sl_entry(struct bpf_sock_addr *ctx, int fam, bool count)
{
	struct sl_req rq = { .count = count };

	/* fam and count are literals: each entry point inlines its own copy. */
	sl_ctx_load(ctx, fam, &rq.fe);
	return sl_verdict(sl_xlate(ctx, fam, &rq));
}

/* A reply from an endpoint appears to come from the frontend dialled. */
static __always_inline void sl_recv(struct bpf_sock_addr *ctx, int fam)
{
	struct sl_udp_rnat_key k;
	struct sl_l4addr src, *fe;

	__builtin_memset(&k, 0, sizeof(k));
	k.cookie = sl_ctx_cookie_held(ctx);
	if (!k.cookie)
		return;
	sl_ctx_load(ctx, fam, &src);
	__builtin_memcpy(k.addr, src.addr, sizeof(k.addr));
	k.port = src.port;
	k.family = src.family;
	fe = bpf_map_lookup_elem(&sl_udp_rnat, &k);
	if (fe && !sl_ctx_store(ctx, fam, fe))
		sl_count(udp_rnat_hit);
}

SEC("cgroup/recvmsg4")
int sl_recvmsg4(struct bpf_sock_addr *ctx)
{
	sl_recv(ctx, 4);
	return 1;
}

SEC("cgroup/recvmsg6")
int sl_recvmsg6(struct bpf_sock_addr *ctx)
{
	sl_recv(ctx, 6);
	return 1;
}

/* The application sees the frontend it dialled, for handed-off sockets too.
 * Only while the peer is still the endpoint recorded: a socket re-connected
 * to a plain address keeps its stale record but must see its real peer. */
static __always_inline void sl_peer(struct bpf_sock_addr *ctx, int fam)
{
	__u64 cookie = sl_ctx_cookie_held(ctx);
	struct sl_sock *s = cookie ? sl_sock_find(cookie) : NULL;
	struct sl_l4addr peer;

	if (!s || !s->fe.family)
		return;
	sl_ctx_load(ctx, fam, &peer);
	if (sl_addr_eq(&peer, &s->ep))
		sl_ctx_store(ctx, fam, &s->fe);
}

SEC("cgroup/getpeername4")
int sl_getpeername4(struct bpf_sock_addr *ctx)
{
	sl_peer(ctx, 4);
	return 1;
}

SEC("cgroup/getpeername6")
int sl_getpeername6(struct bpf_sock_addr *ctx)
{
	sl_peer(ctx, 6);
	return 1;
}

/*
 * Whether close() is the last user of the record, where sockops ends
 * connections at TCP_CLOSE. A TCP socket that left TCP_CLOSE has its
 * callbacks armed (at TCP_CONNECT_CB, inside connect()), so sockops will
 * see it reach TCP_CLOSE and frees the record then if RELEASED is set.
 * Both sides set their bit with an atomic or and look at the other's, so
 * one of them frees. The kernel runs the STATE callback before it stores
 * the new state: a socket found in TCP_CLOSE here either had that callback
 * already (its CLOSED bit is visible now, read again with an atomic after
 * the state) or never left TCP_CLOSE and never will.
 */
static __always_inline bool sl_sock_release_done(struct sl_sock *s, __u32 old, __u32 tcp_state)
{
	if (old & (SL_SOCK_F_CLOSED | SL_SOCK_F_UDP))
		return true;
	/* Connected while close() ended connections (a load since then could
	 * not keep that): no TCP_CLOSE callback will come. Its end is
	 * recorded without TCP counters, which this program cannot read. */
	if (old & SL_SOCK_F_ENDS_AT_CLOSE) {
		struct sl_tcp_end none = {};

		if (!(__sync_fetch_and_or(&s->flags, SL_SOCK_F_CLOSED) & SL_SOCK_F_CLOSED))
			sl_flow_close(s, &none, old & SL_SOCK_F_ESTABLISHED);
		return true;
	}
	if (tcp_state != BPF_TCP_CLOSE)
		return false; /* sockops frees it at TCP_CLOSE */
	return !(__sync_fetch_and_or(&s->flags, 0) & SL_SOCK_F_CLOSED);
}

/* The payload the application sent and received, read from the socket at
 * close(). Sent: on a connection still open, what it wrote (bytes_acked
 * counts the SYN, and our FIN once an earlier shutdown() queued it; what
 * is in flight is write_seq - snd_una); on one already in TCP_CLOSE,
 * where whether a FIN went out no longer shows in the state, what was
 * transmitted (payload only, retransmissions taken off). Received: what
 * arrived in order, less the peer's FIN. */
static __always_inline void sl_tcp_end_read(struct bpf_sock *sk, struct tcp_sock *tp,
					    struct sl_tcp_end *e)
{
	struct sock *ks = bpf_cast_to_kern_ctx(sk);
	__u32 state = sk->state;
	__u64 tx = tp->bytes_acked + (__u32)(tp->write_seq - tp->snd_una);

	if (tx)
		tx--;
	if (tx && sl_fin_sent(state))
		tx--;
	if (state == BPF_TCP_CLOSE)
		tx = tp->bytes_sent - tp->bytes_retrans;
	sl_tcp_end_set(e, tx, tp->bytes_received, sl_sock_done(ks), tp->segs_out, tp->segs_in);
}

/* The RTOs sockops did not count (all of them without sockops), from the
 * kernel's total_rto (Linux 6.7+; the loader refuses `--sockops off`
 * without it). RTO callbacks also run for the final expiry that gives up
 * on the connection, which total_rto leaves out: where sockops counted,
 * its count is never lower. */
static __always_inline void sl_rto_at_close(struct sl_sock *s, const struct tcp_sock *tp)
{
	struct sl_ep_state *es = NULL;
	__u32 n, seen = s->rto;

	if (!bpf_core_field_exists(tp->total_rto))
		return;
	n = tp->total_rto;
	if (n <= seen)
		return;
	s->rto = n;
	if (!(s->flags & SL_SOCK_F_HANDOFF))
		es = sl_sock_ep(s);
	if (es)
		__sync_fetch_and_add(&es->rto, n - seen);
}

/* Was the connection established? If sockops saw it (it may be attached
 * now or not: `--sockops auto`), its ESTABLISHED mark says. Else the
 * socket does, and the connection counts as opened now, with the
 * endpoint's outlier success, as sockops would have done. OLD is the
 * flags before close() set RELEASED: a SYN-ACK processed on another CPU
 * meanwhile either set ESTABLISHED first (seen here) or finds RELEASED
 * and leaves the counting to this (bpf/sockops.bpf.c), so it counts once. */
static __always_inline bool sl_up_at_close(struct sl_sock *s, __u32 old, const struct tcp_sock *tp)
{
	struct sl_ep_state *es = NULL;

	if (old & SL_SOCK_F_ESTABLISHED)
		return true;
	if (!sl_syn_acked(tp))
		return false;
	s->state = SL_FLOW_ESTABLISHED;
	if (!(old & SL_SOCK_F_HANDOFF))
		es = sl_sock_ep(s);
	if (es) {
		__sync_fetch_and_add(&es->opened, 1);
		sl_outlier_success(es);
	}
	return true;
}

/* close() ends the connection: the flow record, the endpoint's totals or
 * its connect failure, the active units, then the slot. CLOSED already set
 * means sockops ended it at TCP_CLOSE (armed by a load that ended
 * connections there, before a reload): then only the units and the slot. */
static __always_inline void sl_close_now(struct bpf_sock *sk, struct sl_sock *s, __u64 cookie)
{
	__u32 old = __sync_fetch_and_or(&s->flags, SL_SOCK_F_RELEASED | SL_SOCK_F_CLOSED);
	struct sl_tcp_end e = {};
	struct tcp_sock *tp;
	bool up;

	/* A connect() that failed before its SYN left never reached the
	 * endpoint: released, not counted, as at TCP_CLOSE (which such a
	 * socket never gets). */
	if ((old & (SL_SOCK_F_CLOSED | SL_SOCK_F_UDP)) || sk->protocol != SL_IPPROTO_TCP) {
		sl_release(s);
	} else {
		tp = bpf_rdonly_cast(bpf_cast_to_kern_ctx(sk), bpf_core_type_id_kernel(struct tcp_sock));
		up = sl_up_at_close(s, old, tp);
		if (!up && !sl_syn_sent(tp)) {
			sl_release(s);
		} else {
			sl_rto_at_close(s, tp);
			if (up)
				sl_tcp_end_read(sk, tp, &e);
			sl_flow_close(s, &e, up);
		}
	}
	sl_sock_free(s, cookie);
}

/* close(): covers every socket, also those that never got a TCP callback
 * (connect() failed before SYN, UDP). sockops may have released first. */
SEC("cgroup/sock_release")
int sl_sock_release(struct bpf_sock *sk)
{
	__u64 cookie = sl_close_at_release ? sl_cookie_held(bpf_cast_to_kern_ctx(sk))
					   : bpf_get_socket_cookie(sk);
	struct sl_sock *s = cookie ? sl_sock_find(cookie) : NULL;
	__u32 old;

	if (!s)
		return 1;
	if (sl_close_at_release) {
		sl_close_now(sk, s, cookie);
		return 1;
	}
	sl_release(s);
	old = __sync_fetch_and_or(&s->flags, SL_SOCK_F_RELEASED);
	if (sl_sock_release_done(s, old, sk->state))
		sl_sock_free(s, cookie);
	return 1;
}

/* Defined last on purpose: libbpf (and so the loader) attaches programs in
 * section order, and the hooks that restore and release must be in place
 * before the ones that translate and count. */
SEC("cgroup/connect4")
int sl_connect4(struct bpf_sock_addr *ctx)
{
	return sl_entry(ctx, 4, true);
}

SEC("cgroup/connect6")
int sl_connect6(struct bpf_sock_addr *ctx)
{
	return sl_entry(ctx, 6, true);
}

/* Unconnected UDP: one selection per datagram, nothing counted. */
SEC("cgroup/sendmsg4")
int sl_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sl_entry(ctx, 4, false);
}

SEC("cgroup/sendmsg6")
int sl_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sl_entry(ctx, 6, false);
}

/* The group of `ep` in the live policy of `fe`: the first group holding it. */
struct sl_find {
	struct sl_l4addr ep;
	__u32 base;
	__u32 found;
};

static long sl_find_cb(__u64 i, void *data)
{
	struct sl_find *f = data;
	struct sl_backend *be = sl_backend_at(0, f->base + (__u32)i);

	if (!be)
		return 1;
	if (!sl_addr_eq(&be->ep, &f->ep) || be->ep.proto != f->ep.proto)
		return 0;
	f->found = 1;
	return 1;
}

static __always_inline const struct sl_group *sl_group_of(const struct sl_svc_val *svc, __u32 slot,
							  const struct sl_l4addr *ep)
{
	struct sl_find f = { .ep = *ep };

	for (__u32 g = 0; g < SL_MAX_GROUPS; g++) {
		if (g >= svc->n_groups)
			break;
		f.base = slot * SL_MAX_BACKENDS + svc->groups[g].first;
		bpf_loop(sl_group_count(&svc->groups[g]), sl_find_cb, &f, 0);
		if (f.found)
			return &svc->groups[g];
	}
	return NULL;
}

static __always_inline int sl_apply_outcome(const struct sl_l4addr *fe,
					    const struct sl_l4addr *ep, __u32 outcome)
{
	struct sl_ep_state *es = sl_ep_state_get(fe, ep);
	const struct sl_group *grp = NULL;
	struct sl_config *cfg = sl_config_get();
	struct sl_svc_val *svc;
	struct sl_view v;

	if (!es || !cfg)
		return -SL_ENOENT;
	if (outcome == SL_OUT_SUCCESS) {
		sl_outlier_success(es);
		return 0;
	}
	if (outcome == SL_OUT_5XX || outcome == SL_OUT_GATEWAY)
		__sync_fetch_and_add(&es->http_5xx, 1);
	if (outcome == SL_OUT_GATEWAY)
		__sync_fetch_and_add(&es->gw_errors, 1);
	if (outcome == SL_OUT_CONNECT_FAIL)
		__sync_fetch_and_add(&es->connect_fail, 1);
	if (outcome > SL_OUT_CONNECT_FAIL)
		return -SL_EINVAL;
	v = sl_view_of(cfg);
	svc = sl_service(fe, v.slot);
	if (svc)
		grp = sl_group_of(svc, v.slot, ep);
	return sl_outlier_failure(es, grp, cfg, &v, outcome == SL_OUT_GATEWAY, bpf_ktime_get_ns());
}

/* Userspace (the proxy) reports one outcome by running this program with
 * BPF_PROG_TEST_RUN; the same rules as for the kernel's own failures apply. */
SEC("syscall")
int sl_outcome(struct sl_outcome_ctx *ctx)
{
	struct sl_l4addr fe = ctx->fe, ep = ctx->ep;

	ctx->result = sl_apply_outcome(&fe, &ep, ctx->outcome);
	return 0;
}
