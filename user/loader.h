/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Load, pin and attach the data plane; detach and remove it. */
#ifndef SLUICE_LOADER_H
#define SLUICE_LOADER_H

#include <stdbool.h>
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

/* Loads both objects, reusing maps already pinned under pin_root (so a
 * second load replaces the programs in place: every pinned link is updated
 * to the new program atomically, with no window without a program). */
int sl_load(const struct sl_load_opts *o);
/* Internal to the loader (user/loader.c, user/loader_node.c). */
struct bpf_object;
struct bpf_object_skeleton;
/* Pin paths for every map, load, pin syscall programs under progs/. */
int sl_load_pinned(struct bpf_object *obj, const struct sl_load_opts *o,
		   struct bpf_object_skeleton *sk);
/* The node-ingress and pod-interface programs; called by sl_load(). */
int sl_load_node(const struct sl_load_opts *o);
/* Detach the cls_bpf filter that progs/tc-<dir>@<ifname> stands for. */
int sl_detach_tc_legacy(const char *pin);

/* Attach the pod-interface programs to o->pod_ifaces of a loaded pin root
 * (the agent calls this for veths that appear after it started). */
int sl_attach_pods(const struct sl_load_opts *o);

/* Forget interfaces that are gone: their link pins (the kernel detached the
 * programs when the device went away) and their pod totals. */
void sl_prune_ifaces(const char *pin_root);

/* Detaches every link and removes every pin under pin_root. */
int sl_unload(const char *pin_root);

#endif
