/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Load, pin and attach the data plane; detach and remove it. */
#ifndef SLUICE_LOADER_H
#define SLUICE_LOADER_H

#include <stdbool.h>
#include <linux/types.h>

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
};

/* Loads both objects, reusing maps already pinned under pin_root (so a
 * second load replaces the programs in place: every pinned link is updated
 * to the new program atomically, with no window without a program). */
int sl_load(const struct sl_load_opts *o);
/* Detaches every link and removes every pin under pin_root. */
int sl_unload(const char *pin_root);

#endif
