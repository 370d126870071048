// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Where benchmark frames end: count and drop. On the node interface it is
 * the XDP_DROP reference of the packet-rate benchmark; on the endpoint's
 * interface it counts what the node forwarded (dropping there keeps the
 * endpoint's stack, identical for every variant, out of the measurement).
 *
 * sl_bench_redirect is the floor of XDP forwarding on the node: every frame
 * straight to redirect_ifindex, no parsing, no lookup.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct sl_sink_count {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_sink_count);
} sl_sink SEC(".maps");

SEC("xdp")
int sl_bench_sink(struct xdp_md *ctx)
{
	struct sl_sink_count *c;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&sl_sink, &zero);
	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	return XDP_DROP;
}

const volatile __u32 redirect_ifindex; /* set before load */

SEC("xdp")
int sl_bench_redirect(struct xdp_md *ctx __attribute__((unused)))
{
	return bpf_redirect(redirect_ifindex, 0);
}
