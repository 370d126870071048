/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The benchmark's services, one definition for every tool that builds them
 * (sl-bench-gen writes them as policy, sl-bench-floor into the floor
 * program's maps). Service i (0-based, i < 65536): VIP 10.96.0.1 + i, TCP
 * port 80; endpoints 127.1.0.1 + 4i + j, j = 0..3, port 8080, weight j + 1.
 * Addresses in host byte order.
 */
#ifndef SL_BENCH_SVC_H
#define SL_BENCH_SVC_H

#include <stdint.h>

#define N_EP 4
#define SVC_PORT 80
#define EP_PORT 8080
#define MAX_SERVICES 65536

static inline uint32_t sl_bench_vip(long i)
{
	return (10u << 24 | 96u << 16) + 1u + (uint32_t)i;
}

static inline uint32_t sl_bench_ep(long i, int j)
{
	return (127u << 24 | 1u << 16) + 1u + (uint32_t)(N_EP * i + j);
}

static inline uint32_t sl_bench_weight(int j)
{
	return (uint32_t)j + 1;
}

#endif
