/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Syscall programs userspace runs: node-ingress connection tracking
 * housekeeping and NetworkPolicy re-judging (user/ct.c). */
#ifndef SLUICE_CT_H
#define SLUICE_CT_H

#include <linux/types.h>

#include "sluice_abi.h"

/* Idle timeouts. Defaults (sl_ct_gc_defaults): TCP 2 h as the kernel's
 * keepalive default, closed TCP 10 s (TIME_WAIT's tail), UDP 60 s. */
struct sl_ct_gc_opts {
	__u64 tcp_idle_ns;
	__u64 udp_idle_ns;
	__u64 closed_idle_ns;
};

#define SL_CT_TCP_IDLE_NS (2ull * 3600 * 1000000000ull)
#define SL_CT_UDP_IDLE_NS (60ull * 1000000000ull)
#define SL_CT_CLOSED_IDLE_NS (10ull * 1000000000ull)

/* Run the pinned sl_ct_gc program once. OUT gets the counts. */
int sl_ct_gc(const char *pin_root, const struct sl_ct_gc_opts *o, struct sl_ct_gc_ctx *out);

/* Run the pinned sl_pflows_revoke program once. */
int sl_pflows_revoke(const char *pin_root, __u64 *revoked);

/* Run the pinned sl_outcome program once; ctx->result gets its answer
 * (1 ejected, 0 recorded, -errno). */
int sl_outcome_report(const char *pin_root, struct sl_outcome_ctx *ctx);

#endif
