// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>

#include "pins.h"
#include "probe.h"
#include "util.h"

const char *const sl_map_names[SL_MAP__COUNT] = {
	[SL_MAP_CONFIG] = "sl_config",
	[SL_MAP_SERVICES] = "sl_services",
	[SL_MAP_SVC_INDEX] = "sl_svc_index",
	[SL_MAP_BACKENDS] = "sl_backends",
	[SL_MAP_EP_STATE] = "sl_ep_state",
	[SL_MAP_GROUP_STATE] = "sl_group_state",
	[SL_MAP_EP_IDS] = "sl_ep_ids",
	[SL_MAP_GROUP_IDS] = "sl_group_ids",
	[SL_MAP_STATS] = "sl_stats",
	[SL_MAP_SOCKS] = "sl_socks",
	[SL_MAP_RT] = "sl_rt",
	[SL_MAP_HANDOFF] = "sl_handoff",
	[SL_MAP_UDP_RNAT] = "sl_udp_rnat",
	[SL_MAP_STORE] = "sl_store",
	[SL_MAP_SVC_META] = "sl_svc_meta",
	[SL_MAP_EP_META] = "sl_ep_meta",
	[SL_MAP_INGRESS] = "sl_ingress",
	[SL_MAP_MAGLEV] = "sl_maglev",
	[SL_MAP_NODE_ADDRS] = "sl_node_addrs",
	[SL_MAP_CT] = "sl_ct",
	[SL_MAP_RNAT] = "sl_rnat",
	[SL_MAP_XDP_STATS] = "sl_xdp_stats",
	[SL_MAP_PFLOWS] = "sl_pflows",
	[SL_MAP_POD_TOTALS] = "sl_pod_totals",
	[SL_MAP_NP_PODS] = "sl_np_pods",
	[SL_MAP_NP_PREFIXES] = "sl_np_prefixes",
	[SL_MAP_NP_PORTS] = "sl_np_ports",
	[SL_MAP_FE_PORTS] = "sl_fe_ports",
	[SL_MAP_LOAD] = "sl_load",
};

int sl_pin_path(char *buf, size_t len, const char *root, const char *kind,
		const char *name)
{
	int n = name ? snprintf(buf, len, "%s/%s/%s", root, kind, name)
		     : snprintf(buf, len, "%s/%s", root, kind);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int sl_pin_open(const char *root, const char *kind, const char *name)
{
	char path[4096];
	int fd, err = sl_pin_path(path, sizeof(path), root, kind, name);

	if (err)
		return err;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

void sl_maps_close(struct sl_maps *m)
{
	for (int i = 0; i < SL_MAP__COUNT; i++) {
		if (m->fd[i] >= 0)
			close(m->fd[i]);
		m->fd[i] = -1;
	}
}

/* A pin that exists and cannot be opened: say which privilege is missing. */
static void warn_access(const char *path, int err)
{
	char hint[256];
	const char *h = sl_pin_access_hint(err, path, hint, sizeof(hint));

	pr_warn("sluice: %s: %s%s%s\n", path, strerror(-err), h ? ": " : "", h ? h : "");
}

int sl_maps_open(const char *root, struct sl_maps *m)
{
	char path[4096];
	int err;

	for (int i = 0; i < SL_MAP__COUNT; i++)
		m->fd[i] = -1;
	for (int i = 0; i < SL_MAP__COUNT; i++) {
		err = sl_pin_path(path, sizeof(path), root, "maps", sl_map_names[i]);
		if (err)
			goto fail;
		m->fd[i] = bpf_obj_get(path);
		if (m->fd[i] < 0) {
			err = -errno;
			if (err == -ENOENT)
				pr_warn("sluice: %s: not loaded (run `sluice load --pin-root %s`)\n",
					root, root);
			else
				warn_access(path, err);
			goto fail;
		}
	}
	return 0;
fail:
	sl_maps_close(m);
	return err;
}

int sl_lock(const char *root)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

void sl_unlock(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

int sl_check_bpffs(const char *root)
{
	char buf[4096], *slash;
	struct statfs st;

	snprintf(buf, sizeof(buf), "%s", root);
	while (statfs(buf, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
		slash = strrchr(buf, '/');
		if (!slash || slash == buf)
			return -ENOENT;
		*slash = 0;
	}
	return st.f_type == BPF_FS_MAGIC ? 0 : -ENOTDIR;
}
