// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Live flow counters. The socket table (sl_socks) says which connections
 * are open; TCP hands sockops no event between ESTABLISHED and CLOSE, and
 * updating a record on every ACK would tax every connection. This iterator
 * walks every open file of every task, keeps the sockets that hold a slot
 * in sl_socks (exactly the connections Sluice translated and the
 * application still has open) and writes one struct sl_flow_live per TCP
 * socket with its counters read from the socket now. The loader pins the
 * iterator link; `sluice flows` reads it. It costs the data path nothing:
 * it runs only when someone reads flows, for as long as the walk of the
 * node's file descriptors takes.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "sluice_abi.h"
#include "lib/common.h"
#include "lib/socktab.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* TP is the socket's tcp_sock: the record says TCP and the cookie matched.
 * Read with probe reads: a pointer walked from a file is not one the
 * verifier lets bpf_skc_to_tcp_sock() take. */
static __always_inline void sl_live_fill(struct sl_flow_live *rec, const struct sl_sock *s,
					 const struct tcp_sock *tp, __u64 cookie)
{
	__u64 acked = BPF_CORE_READ(tp, bytes_acked);
	__u32 rto = 0;

	rec->cookie = cookie;
	rec->fe = s->fe;
	rec->ep = s->ep;

	/* bytes_acked counts the SYN once it is acked, that is once the
	 * connection is established (as at close, the FIN is only taken off
	 * at the end, where its state is known). The record's ESTABLISHED
	 * mark is sockops'; without sockops this is where it shows. */
	rec->bytes_sent = acked ? acked - 1 : 0;
	rec->flags = s->flags | (acked ? SL_SOCK_F_ESTABLISHED : 0);
	rec->bytes_received = BPF_CORE_READ(tp, bytes_received);
	rec->segs_out = BPF_CORE_READ(tp, segs_out);
	rec->segs_in = BPF_CORE_READ(tp, segs_in);
	rec->tcp_state = BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.__sk_common.skc_state);
	rec->start_ns = s->start_ns;
	/* RTOs: sockops' live count, or the kernel's total where that is
	 * higher (no sockops; see sl_rto_at_close in bpf/sock_lb.bpf.c). */
	if (bpf_core_field_exists(tp->total_rto))
		rto = BPF_CORE_READ(tp, total_rto);
	rec->rto = rto > s->rto ? rto : s->rto;
}

SEC("iter/task_file")
int sl_flows_iter(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct file *file = ctx->file;
	struct sl_flow_live rec;
	struct socket *sock;
	struct sl_sock *s;
	struct sock *sk;
	__u64 cookie;

	if (!file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = sock->sk;
	if (!sk)
		return 0;
	cookie = sk->__sk_common.skc_cookie.counter;
	s = cookie ? sl_sock_find(cookie) : NULL;
	if (!s || !s->fe.family || (s->flags & SL_SOCK_F_UDP))
		return 0;
	__builtin_memset(&rec, 0, sizeof(rec));
	sl_live_fill(&rec, s, (const struct tcp_sock *)sk, cookie);
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}
