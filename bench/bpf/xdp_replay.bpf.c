// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-packet cost of a translating program with BPF_PROG_TEST_RUN repeat=N.
 *
 * The kernel runs the N repetitions on one buffer without restoring it, so
 * after sl_xdp_lb has rewritten the destination of the first run, the other
 * N - 1 would measure non-service traffic. sl_bench_replay runs first: it
 * writes the template headers back (and, for the new-flow case, gives every
 * run its own source port and address), then tail-calls the program under
 * test from sl_bench_next[0]. The same replay in front of sl_bench_nop
 * (return XDP_PASS) measures the replay and the tail call alone; the
 * benchmark subtracts it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SL_REPLAY_LEN 80 /* header bytes restored per run */

/* Set by sl-xdp-cost before load. Offsets into the template; 0 = none. */
const volatile __u64 tmpl[SL_REPLAY_LEN / 8];
const volatile __u32 vary; /* 1: a distinct tuple every run */
const volatile __u32 sport_off; /* L4 source port */
const volatile __u32 saddr_off; /* low 16 bits of the source address */
const volatile __u16 saddr_base; /* they become saddr_base + run / 32768 */
const volatile __u32 ip_csum_off; /* IPv4 header checksum */
const volatile __u32 l4_csum_off; /* TCP/UDP checksum (pseudo-header covers saddr) */

__u32 seq;

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sl_bench_next SEC(".maps");

/* RFC 1624 eqn. 3: the checksum after one 16-bit word changed. */
static __always_inline __u16 csum_fix(__u16 sum, __u16 from, __u16 to)
{
	__u32 s = (__u16)~sum + (__u16)~from + to;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return ~s;
}

/* Replace the 16-bit word at OFF (< SL_REPLAY_LEN, checked) and fix the
 * checksums that cover it. */
static __always_inline int put16(void *data, void *data_end, __u32 off, __u16 val)
{
	__u16 *w, *c, old;

	if (!off || off > SL_REPLAY_LEN - 2)
		return 0;
	w = data + off;
	if ((void *)(w + 1) > data_end)
		return -1;
	old = *w;
	*w = val;
	if (ip_csum_off && off == saddr_off && ip_csum_off <= SL_REPLAY_LEN - 2) {
		c = data + ip_csum_off;
		if ((void *)(c + 1) > data_end)
			return -1;
		*c = csum_fix(*c, old, val);
	}
	if (l4_csum_off && l4_csum_off <= SL_REPLAY_LEN - 2) {
		c = data + l4_csum_off;
		if ((void *)(c + 1) > data_end)
			return -1;
		*c = csum_fix(*c, old, val);
	}
	return 0;
}

SEC("xdp")
int sl_bench_replay(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 n;

	if (data + SL_REPLAY_LEN > data_end)
		return XDP_ABORTED;
	/* Word by word through the volatile: a memcpy that casts it away lets
	 * the compiler copy the zeros of the initializer instead. */
	for (int i = 0; i < SL_REPLAY_LEN / 8; i++)
		((__u64 *)data)[i] = tmpl[i];
	if (vary) {
		n = ++seq;
		if (put16(data, data_end, sport_off, bpf_htons(1024 + (n & 0x7fff))) ||
		    put16(data, data_end, saddr_off, bpf_htons(saddr_base + (n >> 15))))
			return XDP_ABORTED;
	}
	bpf_tail_call(ctx, &sl_bench_next, 0);
	return XDP_ABORTED; /* nothing in sl_bench_next[0] */
}

SEC("xdp")
int sl_bench_nop(struct xdp_md *ctx __attribute__((unused)))
{
	return XDP_PASS;
}
