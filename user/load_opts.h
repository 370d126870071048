/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What `sluice load` (and the agent) ask of the loader. Its own header so
 * that the socket and node loaders both read it without depending on each
 * other. */
#ifndef SLUICE_LOAD_OPTS_H
#define SLUICE_LOAD_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

enum sl_xdp_mode {
	SL_XDP_AUTO = 0, /* native when the driver has it, else generic */
	SL_XDP_NATIVE = 1,
	SL_XDP_GENERIC = 2,
};

#define SL_MAX_LOAD_IFACES 64

struct sl_load_opts {
	const char *pin_root;
	const char *cgroup; /* cgroup v2 directory; NULL: the hierarchy root */
	__be32 proxy_addr4;
	__be32 proxy_addr6[4];
	__be16 proxy_port; /* 0: no proxy; handed-off services are refused */
	__u32 proxy_mark;
	__be32 svc_cidr4; /* 0: keep what is recorded (or the default) */
	__u8 svc_cidr4_len;
	bool debug; /* bpf_printk tracing in the programs */
	bool no_attach; /* create and pin maps and programs, attach nothing (tests) */
	/* Node interfaces: XDP node ingress + TC egress reverse NAT. */
	const char *ifaces[SL_MAX_LOAD_IFACES];
	size_t n_ifaces;
	/* Host ends of pod veths: TC flow counters and NetworkPolicy. */
	const char *pod_ifaces[SL_MAX_LOAD_IFACES];
	size_t n_pod_ifaces;
	enum sl_xdp_mode xdp_mode;
	bool xdp_redirect; /* XDP_REDIRECT to non-pod interfaces (see docs/KERNEL.md) */
};

#endif
