// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Live flow counters. sl_flows holds a record per connection that ended;
 * TCP hands sockops no event between ESTABLISHED and CLOSE, and updating a
 * table entry per open connection would tax every connection. This iterator walks the sockets that hold sl_sock_store
 * storage (exactly the connections Sluice translated) and writes one
 * struct sl_flow_live per TCP socket with its counters read from the
 * socket now. The loader pins the iterator link; `sluice flows` reads it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "sluice_abi.h"
#include "lib/common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("iter/bpf_sk_storage_map")
int sl_flows_iter(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct sl_sock *s = ctx->value;
	struct sock *sk = ctx->sk;
	struct sl_flow_live rec;
	struct tcp_sock *tp;

	if (!sk || !s || !s->fe.family)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 0; /* UDP has no flow record */
	__builtin_memset(&rec, 0, sizeof(rec));
	rec.cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	rec.fe = s->fe;
	rec.ep = s->ep;
	rec.bytes_sent = tp->bytes_acked;
	/* bytes_acked counts the SYN once it is acked (as sockops does, the
	 * FIN is only taken off at close, where its state is known). */
	if (rec.bytes_sent && (s->flags & SL_SOCK_F_ESTABLISHED))
		rec.bytes_sent--;
	rec.bytes_received = tp->bytes_received;
	rec.segs_out = tp->segs_out;
	rec.segs_in = tp->segs_in;
	rec.tcp_state = BPF_CORE_READ(sk, __sk_common.skc_state);
	rec.flags = s->flags;
	rec.start_ns = s->start_ns;
	rec.rto = s->rto;
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}
