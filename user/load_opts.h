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

/* `--sockops`; what each means: user/sockops_link.h. */
enum sl_sockops_mode {
	SL_SOCKOPS_AUTO = 0, /* attached while the live policy hands off */
	SL_SOCKOPS_ON, /* always attached */
	SL_SOCKOPS_OFF, /* never attached (no proxy) */
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
	/* `--sockops auto|on|off` (docs/KERNEL.md, "When sockops is
	 * attached"): auto, the default, attaches sockops while the live
	 * policy hands off; off never (needs no proxy); both need a kernel
	 * whose close() can read the socket's TCP counters and RTO total,
	 * and auto is on where it cannot */
	enum sl_sockops_mode sockops;
};

#define SL_DEFAULT_PROXY_PORT 15001 /* the proxy's outbound listener */
#define SL_DEFAULT_PROXY_MARK 0x5110 /* SO_MARK of the proxy's own sockets */

/* Defaults: proxy at 127.0.0.1 / [::1] port 15001, mark 0x5110. */
void sl_load_opts_default(struct sl_load_opts *o, const char *pin_root);
/* "ADDR:PORT" or "none" (handed-off services refused). 0 or -EINVAL. */
int sl_load_opts_proxy(struct sl_load_opts *o, const char *spec);
/* The names of enum sl_sockops_mode, as the flag takes them. */
extern const char *const sl_sockops_modes[3];
/* "auto", "on" or "off". 0 or -EINVAL. */
int sl_load_opts_sockops(struct sl_load_opts *o, const char *spec);
/* "auto", "native" or "generic". 0 or -EINVAL. */
int sl_load_opts_xdp_mode(struct sl_load_opts *o, const char *mode);

#endif
