/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The pin root: every map, link and program of one node lives under it.
 *
 *   PINROOT/maps/<map name>     every map (BTF-described, bpftool-readable)
 *   PINROOT/links/<prog name>   one bpf_link per attached program
 *   PINROOT/progs/<prog name>   every loaded program (syscall programs are run
 *                               from here, pod hooks attached from here)
 *   PINROOT/.lock is not a file: mutations flock() the PINROOT directory.
 */
#ifndef SLUICE_PINS_H
#define SLUICE_PINS_H

#include <stddef.h>

#define SL_DEFAULT_PIN_ROOT "/sys/fs/bpf/sluice"

enum sl_map_id {
	SL_MAP_CONFIG,
	SL_MAP_SERVICES,
	SL_MAP_SVC_INDEX,
	SL_MAP_BACKENDS,
	SL_MAP_EP_STATE,
	SL_MAP_GROUP_STATE,
	SL_MAP_EP_IDS,
	SL_MAP_GROUP_IDS,
	SL_MAP_STATS,
	SL_MAP_SOCKS,
	SL_MAP_RT,
	SL_MAP_HANDOFF,
	SL_MAP_UDP_RNAT,
	SL_MAP_STORE,
	SL_MAP_SVC_META,
	SL_MAP_EP_META,
	/* node ingress and pod interfaces (bpf/lib/maps_node.h) */
	SL_MAP_INGRESS,
	SL_MAP_MAGLEV,
	SL_MAP_NODE_ADDRS,
	SL_MAP_CT,
	SL_MAP_RNAT,
	SL_MAP_XDP_STATS,
	SL_MAP_PFLOWS,
	SL_MAP_POD_TOTALS,
	SL_MAP_NP_PODS,
	SL_MAP_NP_PREFIXES,
	SL_MAP_NP_PORTS,
	SL_MAP_FE_PORTS,
	SL_MAP_LOAD,
	SL_MAP__COUNT,
};

extern const char *const sl_map_names[SL_MAP__COUNT];

/* Open maps of a loaded pin root. fds[i] = -1 for maps not requested. */
struct sl_maps {
	int fd[SL_MAP__COUNT];
};

int sl_pin_path(char *buf, size_t len, const char *root, const char *kind,
		const char *name);
/* ROOT/KIND/NAME (a map, program or link pin) opened: an fd or -errno. */
int sl_pin_open(const char *root, const char *kind, const char *name);
/* Opens every map; -ENOENT with a hint when the data plane is not loaded. */
int sl_maps_open(const char *root, struct sl_maps *m);
void sl_maps_close(struct sl_maps *m);

/* Exclusive lock on the pin root, serialising every mutation. Returns an fd
 * to pass to sl_unlock(), or -errno. Blocks until the lock is free. */
int sl_lock(const char *root);
void sl_unlock(int fd);

/* Is PATH (or its parent) on a bpffs mount? */
int sl_check_bpffs(const char *root);

/* Kernels without tcx: TC programs are cls_bpf filters at this handle and
 * priority (fixed, so that a reload replaces ours and never touches anybody
 * else's), remembered as progs/tc-<in|out>@IFNAME. */
#define SL_TC_HANDLE 0x51ce
#define SL_TC_PRIO 0x51

#endif
