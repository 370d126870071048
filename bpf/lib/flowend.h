/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The end of a translated TCP connection: its flow record, the endpoint's
 * totals, a connect failure for outlier detection, and the socket's active
 * units given back. One of two places runs it (docs/KERNEL.md, "Where a
 * connection ends"):
 *
 * - close() (cgroup/sock_release), where the kernel lets that program read
 *   the socket's TCP counters (kfuncs bpf_cast_to_kern_ctx and
 *   bpf_rdonly_cast, Linux 6.2+, probed at load as `close_at_release`).
 *   No sockops STATE callback is armed then: those are 4 program runs on
 *   every connection.
 * - else sockops at TCP_CLOSE, as before.
 *
 * The loader sets sl_close_at_release in both objects before loading, so
 * the path not taken is dead code the verifier removes.
 */
#ifndef SL_FLOWEND_H
#define SL_FLOWEND_H

#include "account.h"
#include "clock.h"
#include "outlier.h"
#include "socktab.h"

const volatile __u32 sl_close_at_release = 0;

/* Linux 6.2+; used only where the load's probe found them (sl_close_at_release). */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* The cookie socket KS already has, 0 if nothing ever asked for one. The
 * socket table is keyed by cookie and connect4 asks for one before it
 * claims a slot, so 0 means "holds no record". Read from the socket, which
 * needs the kfuncs (sl_close_at_release): bpf_get_socket_cookie() is a
 * helper call, and would hand a cookie to every socket passing by. */
static __always_inline __u64 sl_cookie_held(const struct sock *ks)
{
	return ks ? ks->__sk_common.skc_cookie.counter : 0;
}

/* Set by the loader in both objects where close() ends connections and can
 * also count RTOs (`rto_total`): connect4 then arms no callback (a
 * bpf_setsockopt per connect), sockops finds Sluice's sockets from the
 * socket table at ACTIVE_ESTABLISHED_CB (it runs for every TCP connection
 * anyway) and arms the RTO callback there, and RTOs before that (SYN
 * timeouts) are counted at close(). */
const volatile __u32 sl_arm_established = 0;

/* A connection's final TCP figures, payload bytes only. */
struct sl_tcp_end {
	__u64 tx;
	__u64 rx;
	__u64 segs_out;
	__u64 segs_in;
};

/* Before 6.10 (or so) sk_flags lived in struct sock itself; since, it is
 * __sk_common.skc_flags. CO-RE picks whichever the running kernel has. */
struct sock___old {
	unsigned long sk_flags;
} __attribute__((preserve_access_index));

/* The peer's FIN was received: tcp_fin() sets SOCK_DONE (nothing else on
 * the way to TCP_CLOSE does). */
static __always_inline bool sl_sock_done(const struct sock *ks)
{
	unsigned long done = 1ul << bpf_core_enum_value(enum sock_flags, SOCK_DONE);

	if (bpf_core_field_exists(ks->__sk_common.skc_flags))
		return ks->__sk_common.skc_flags & done;
	return ((const struct sock___old *)ks)->sk_flags & done;
}

/* E from a connection's counters, RX less the peer's FIN when it came
 * (it takes one byte of sequence space; the metrics promise payload). */
static __always_inline void sl_tcp_end_set(struct sl_tcp_end *e, __u64 tx, __u64 rx,
					   bool peer_fin, __u64 segs_out, __u64 segs_in)
{
	e->tx = tx;
	e->rx = rx && peer_fin ? rx - 1 : rx;
	e->segs_out = segs_out;
	e->segs_in = segs_in;
}

/* Our FIN is in the sequence space once the state is one of these. */
static __always_inline bool sl_fin_sent(__u32 state)
{
	return state == BPF_TCP_FIN_WAIT1 || state == BPF_TCP_FIN_WAIT2 ||
	       state == BPF_TCP_LAST_ACK || state == BPF_TCP_CLOSING;
}

/* SYN_SENT -> CLOSE: the endpoint refused or never answered. */
static __always_inline void sl_connect_failed(const struct sl_sock *s, struct sl_ep_state *es)
{
	struct sl_config *cfg = sl_config_get();
	const struct sl_group *grp = NULL;
	struct sl_svc_val *svc = NULL;
	struct sl_view v;

	__sync_fetch_and_add(&es->connect_fail, 1);
	if (!cfg)
		return;
	v = sl_view_of(cfg);
	svc = sl_service(&s->fe, v.slot);
	if (svc)
		grp = sl_group_by_state(svc, s->grp_state);
	sl_outlier_failure(es, grp, cfg, &v, false, bpf_ktime_get_ns());
}

/* Totals are folded from the socket when it ends, so they are exact
 * whatever became of the flow half of its record. */
static __always_inline void sl_fold(struct sl_ep_state *es, const struct sl_tcp_end *e)
{
	__sync_fetch_and_add(&es->closed, 1);
	__sync_fetch_and_add(&es->bytes_sent, e->tx);
	__sync_fetch_and_add(&es->bytes_received, e->rx);
	__sync_fetch_and_add(&es->segs_out, e->segs_out);
	__sync_fetch_and_add(&es->segs_in, e->segs_in);
}

/* The flow's final counters, in its own record (the second cache line of
 * the slot, kept after the slot is freed until it is claimed again). */
static __always_inline void sl_flow_end(struct sl_sock *s, const struct sl_tcp_end *e, bool up)
{
	/* The clock start_ns was read from: tick resolution, cached per CPU
	 * (a clock helper was a quarter of this program's time). */
	s->end_ns = sl_tick_now();
	s->bytes_sent = e->tx;
	s->bytes_received = e->rx;
	s->segs_out = e->segs_out;
	s->segs_in = e->segs_in;
	s->state = up ? SL_FLOW_CLOSED : SL_FLOW_FAILED;
	sl_count(flow_records);
}

/* Everything the end of the connection settles; the caller frees the slot
 * (when, depends on where it runs). */
static __always_inline void sl_flow_close(struct sl_sock *s, const struct sl_tcp_end *e, bool up)
{
	struct sl_ep_state *es = NULL;

	if (!(s->flags & SL_SOCK_F_HANDOFF))
		es = sl_sock_ep(s);
	if (es && up)
		sl_fold(es, e);
	else if (es)
		sl_connect_failed(s, es);
	sl_flow_end(s, e, up);
	sl_release(s);
}

#endif /* SL_FLOWEND_H */
