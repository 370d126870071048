/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What is loaded on a node, as it is, not as it should be: every pin under
 * the pin root, what each link is attached to, what the last load recorded,
 * and whether that adds up to a whole data plane. `sluice status`, the
 * agent's health check and the loader's safety checks read it.
 */
#ifndef SLUICE_NODESTATE_H
#define SLUICE_NODESTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include <linux/types.h>

#include "sluice_abi.h"
#include "load_opts.h"

enum sl_link_status {
	SL_LINK_ATTACHED = 0,
	SL_LINK_MISSING, /* expected, no pin */
	SL_LINK_DETACHED, /* pinned, attached to nothing (its target went away) */
	SL_LINK_ELSEWHERE, /* attached to another cgroup than the record says */
	SL_LINK_UNREADABLE, /* pinned, but not a link we can read */
};

struct sl_link_state {
	char name[96]; /* pin name under links/, or the program for a missing one */
	enum sl_link_status status;
	__u32 prog_id;
	char prog[16]; /* program name, where readable */
	__u32 attach_type; /* enum bpf_attach_type */
	__u64 cgroup_id; /* cgroup links */
	__u32 ifindex; /* XDP and tcx links */
	bool required; /* a whole data plane has it */
	__u64 run_cnt, run_time_ns; /* kernel.bpf_stats_enabled=1 */
};

struct sl_node_state {
	bool exists; /* the pin root exists */
	bool maps_ok; /* every map is pinned */
	bool have_rec;
	bool complete; /* a whole data plane: nothing missing, no load half done */
	bool loader_running; /* the record's loader is alive (a load in progress) */
	struct sl_load_rec rec;
	char missing_maps[512]; /* names, comma-separated */
	struct sl_link_state *links;
	size_t n_links;
	char **progs; /* pins under progs/ */
	size_t n_progs;
	__u32 stray[16]; /* programs of the record attached to its cgroup with no pin */
	size_t n_stray;
	bool stray_unchecked; /* the cgroup could not be queried (no CAP_NET_ADMIN) */
	/* sockops (user/sockops_link.h): the recorded mode, whether its link
	 * is pinned, and under auto whether the live policy needs it (1, 0,
	 * or -errno when the maps could not be read) */
	enum sl_sockops_mode sockops_mode;
	bool sockops_linked;
	int sockops_needed;
	char problems[2048]; /* why not complete, one reason per line */
};

int sl_node_inspect(const char *root, struct sl_node_state *s);
void sl_node_state_free(struct sl_node_state *s);

/* The pinned load record. */
int sl_read_load_rec(const char *root, struct sl_load_rec *r);

/* Before a load attaches to CGFD: refuse (-EEXIST) when Sluice programs of
 * another pin root already run there or above it (two instances would
 * both translate and count every connection). */
int sl_check_cgroup_conflict(const char *root, int cgfd, const char *cgpath);

/* After unload removed the pins: detach links of the record's programs
 * that are still attached somewhere (their pins were moved away). Needs
 * CAP_SYS_ADMIN to find links by id; without it, says what remains. */
int sl_detach_leftovers(const struct sl_load_rec *r);

#endif
