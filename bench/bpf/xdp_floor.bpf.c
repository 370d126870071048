// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The floor of the node-ingress benchmark: parse the headers with the same
 * parser as sl_xdp_lb (bpf/lib/pkt.h) and pass. Whatever sl_xdp_lb costs
 * beyond this is the load balancer's own work: the config read, the
 * frontend and tracking lookups, Maglev, the rewrite.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sluice_abi.h"
#include "lib/pkt.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int sl_bench_floor(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sl_pkt p;
	int rc;

	__builtin_memset(&p, 0, sizeof(p));
	rc = sl_parse(data, data_end, &p);
	/* Nothing reads the result, and the compiler would drop the parse
	 * with it: pretend to read the whole record. */
	asm volatile("" : : "r"(&p), "r"(rc) : "memory");
	return XDP_PASS;
}
