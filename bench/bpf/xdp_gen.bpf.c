// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Frame generator for BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES
 * (5.18+): every run writes one frame and redirects it into a veth, so the
 * frames are really transmitted and reach the peer's XDP hook and stack.
 *
 * The kernel recycles the frame pages without resetting their contents,
 * and a frame that came back from the receiver may have been rewritten
 * (sl_xdp_lb's DNAT): so every run writes the whole header again from the
 * template rather than editing what it finds.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SL_GEN_LEN 64 /* bytes written per frame: eth + IPv4 + UDP + data */

/* Set by sl-xdp-rate before load. */
const volatile __u64 tmpl[SL_GEN_LEN / 8]; /* the frame, UDP checksum zero */
const volatile __u32 sport_off = 34; /* UDP source port offset in tmpl */
const volatile __u32 nflows = 1; /* source ports base .. base + nflows - 1 */
const volatile __u16 sport_base = 10000; /* host order */
const volatile __u32 out_ifindex; /* redirect target; 0 = XDP_TX */
const volatile __u32 gen_drop; /* 1: XDP_DROP, to time the generator alone */

__u32 seq; /* one generator runs at a time, on one CPU */

SEC("xdp")
int sl_bench_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__be16 *sport;

	if (data + SL_GEN_LEN > data_end)
		return XDP_ABORTED;
	/* Word by word through the volatile (a memcpy casting it away would
	 * copy the initializer's zeros). */
	for (int i = 0; i < SL_GEN_LEN / 8; i++)
		((__u64 *)data)[i] = tmpl[i];
	if (nflows > 1 && sport_off <= SL_GEN_LEN - 2) {
		sport = data + (sport_off & (SL_GEN_LEN - 1));
		if ((void *)(sport + 1) > data_end)
			return XDP_ABORTED;
		/* UDP over IPv4 with a zero checksum: no fix-up needed. */
		*sport = bpf_htons(sport_base + seq++ % nflows);
	}
	if (gen_drop)
		return XDP_DROP;
	return out_ifindex ? bpf_redirect(out_ifindex, 0) : XDP_TX;
}
