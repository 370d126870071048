// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Loader of the node-ingress (XDP, TC egress) and pod-interface (TC)
 * programs. Like the socket hooks they are attached with pinned links, one
 * per (program, interface), named PINROOT/links/<hook>@<ifname>, so they
 * outlive the loader and a second load replaces programs in place.
 *
 * TC uses tcx links (kernel 6.6+). On older kernels the programs are
 * attached as cls_bpf filters through netlink instead; those cannot be
 * pinned, so the program is pinned as PINROOT/progs/tc-<dir>@<ifname> to
 * remember what `sluice unload` must detach.
 */
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "pins.h"
#include "publish.h"
#include "util.h"
#include "xdp_lb.skel.h"
#include "tc_nat.skel.h"
#include "tc_pod.skel.h"

/* Handle and priority of the legacy cls_bpf filters: fixed, so that a
 * reload replaces ours and never touches anybody else's. */
#define SL_TC_HANDLE 0x51ce
#define SL_TC_PRIO 0x51

static int if_index(const char *ifname)
{
	unsigned int idx = if_nametoindex(ifname);

	if (!idx) {
		pr_warn("sluice: interface %s: %s\n", ifname, strerror(errno));
		return -ENODEV;
	}
	return (int)idx;
}

/* Update the pinned link at PATH to PROG, or create one with CREATE and
 * pin it. */
static int link_pin_or_update(const char *path, int prog_fd, int ifindex,
			      enum bpf_attach_type type, __u32 flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
	int fd = access(path, F_OK) ? -1 : bpf_obj_get(path);
	int err = 0;

	if (fd >= 0) {
		if (bpf_link_update(fd, prog_fd, NULL))
			err = -errno;
		close(fd);
		if (!err || err != -ENOLINK)
			return err;
		unlink(path); /* the interface went away and came back */
	}
	fd = bpf_link_create(prog_fd, ifindex, type, &opts);
	if (fd < 0)
		return -errno;
	err = bpf_obj_pin(fd, path) ? -errno : 0;
	close(fd);
	return err;
}

static __u32 xdp_flags(enum sl_xdp_mode mode)
{
	switch (mode) {
	case SL_XDP_NATIVE:
		return XDP_FLAGS_DRV_MODE;
	case SL_XDP_GENERIC:
		return XDP_FLAGS_SKB_MODE;
	default:
		return 0; /* the kernel picks native when the driver has it */
	}
}

static int attach_xdp(const struct sl_load_opts *o, int prog_fd, const char *ifname)
{
	char path[4096], name[64];
	int ifindex = if_index(ifname), err;

	if (ifindex < 0)
		return ifindex;
	snprintf(name, sizeof(name), "xdp@%s", ifname);
	err = sl_pin_path(path, sizeof(path), o->pin_root, "links", name);
	if (!err)
		err = link_pin_or_update(path, prog_fd, ifindex, BPF_XDP, xdp_flags(o->xdp_mode));
	if (err)
		pr_warn("sluice: XDP on %s: %s\n", ifname, strerror(-err));
	return err;
}

/* cls_bpf through netlink, for kernels without tcx. */
static int attach_tc_legacy(const struct sl_load_opts *o, int prog_fd, int ifindex,
			    const char *ifname, bool ingress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SL_TC_HANDLE, .priority = SL_TC_PRIO,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	char path[4096], name[64];
	int err = bpf_tc_hook_create(&hook);

	if (err && err != -EEXIST)
		return err;
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		return err;
	snprintf(name, sizeof(name), "tc-%s@%s", ingress ? "in" : "out", ifname);
	err = sl_pin_path(path, sizeof(path), o->pin_root, "progs", name);
	if (!err && unlink(path) < 0 && errno != ENOENT)
		err = -errno;
	return err ? err : (bpf_obj_pin(prog_fd, path) ? -errno : 0);
}

static int attach_tc(const struct sl_load_opts *o, int prog_fd, const char *ifname,
		     const char *hook, bool ingress)
{
	char path[4096], name[64];
	int ifindex = if_index(ifname), err;

	if (ifindex < 0)
		return ifindex;
	snprintf(name, sizeof(name), "%s@%s", hook, ifname);
	err = sl_pin_path(path, sizeof(path), o->pin_root, "links", name);
	if (!err)
		err = link_pin_or_update(path, prog_fd, ifindex,
					 ingress ? BPF_TCX_INGRESS : BPF_TCX_EGRESS, 0);
	if (err == -EINVAL || err == -EOPNOTSUPP)
		err = attach_tc_legacy(o, prog_fd, ifindex, ifname, ingress);
	if (err)
		pr_warn("sluice: TC %s on %s: %s\n", hook, ifname, strerror(-err));
	return err;
}

/* The addresses NodePorts answer on: every address of the --iface
 * interfaces, as they are at load time. */
static int write_node_addrs(const struct sl_load_opts *o, int fd)
{
	struct ifaddrs *ifa, *a;
	int err = 0;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (a = ifa; a && !err; a = a->ifa_next) {
		struct sl_node_addr k = { 0 };
		__u32 idx;

		if (!a->ifa_addr || !sl_str_in(a->ifa_name, o->ifaces, o->n_ifaces))
			continue;
		if (a->ifa_addr->sa_family == AF_INET) {
			k.family = SL_AF_INET;
			k.addr[0] = ((struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr;
		} else if (a->ifa_addr->sa_family == AF_INET6) {
			k.family = SL_AF_INET6;
			memcpy(k.addr, &((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		idx = if_nametoindex(a->ifa_name);
		if (bpf_map_update_elem(fd, &k, &idx, BPF_ANY))
			err = -errno;
	}
	freeifaddrs(ifa);
	return err;
}

static int load_xdp(const struct sl_load_opts *o)
{
	struct xdp_lb *skel = xdp_lb__open();
	int err;

	if (!skel)
		return -errno;
	skel->rodata->sl_debug = o->debug;
	skel->rodata->xdp_redirect = o->xdp_redirect;
	err = sl_load_pinned(skel->obj, o, skel->skeleton);
	for (size_t i = 0; !err && !o->no_attach && i < o->n_ifaces; i++)
		err = attach_xdp(o, bpf_program__fd(skel->progs.sl_xdp_lb), o->ifaces[i]);
	if (!err && o->n_ifaces)
		err = write_node_addrs(o, bpf_map__fd(skel->maps.sl_node_addrs));
	xdp_lb__destroy(skel);
	return err;
}

static int load_tc_nat(const struct sl_load_opts *o)
{
	struct tc_nat *skel = tc_nat__open();
	int err;

	if (!skel)
		return -errno;
	skel->rodata->sl_debug = o->debug;
	err = sl_load_pinned(skel->obj, o, skel->skeleton);
	for (size_t i = 0; !err && !o->no_attach && i < o->n_ifaces; i++)
		err = attach_tc(o, bpf_program__fd(skel->progs.sl_tc_nat), o->ifaces[i],
				"tc_nat", false);
	tc_nat__destroy(skel);
	return err;
}

/* A zeroed sl_pod_totals record for IFNAME, unless it has one. */
static int pod_totals_init(int fd, const char *ifname)
{
	int ncpu = libbpf_num_possible_cpus(), idx = if_index(ifname), err = 0;
	struct sl_pod_totals *zero;
	__u32 key;

	if (idx < 0)
		return idx;
	if (ncpu <= 0)
		return -EINVAL;
	zero = calloc((size_t)ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	key = (__u32)idx;
	if (bpf_map_update_elem(fd, &key, zero, BPF_NOEXIST) && errno != EEXIST)
		err = -errno;
	free(zero);
	return err;
}

static int load_tc_pod(const struct sl_load_opts *o)
{
	struct tc_pod *skel = tc_pod__open();
	int err;

	if (!skel)
		return -errno;
	skel->rodata->sl_debug = o->debug;
	err = sl_load_pinned(skel->obj, o, skel->skeleton);
	for (size_t i = 0; !err && !o->no_attach && i < o->n_pod_ifaces; i++) {
		const char *ifn = o->pod_ifaces[i];

		/* The totals record marks a pod interface: XDP never redirects
		 * to one (that would skip its policy), so it exists first. */
		err = pod_totals_init(bpf_map__fd(skel->maps.sl_pod_totals), ifn);
		if (!err)
			err = attach_tc(o, bpf_program__fd(skel->progs.sl_tc_pod_from), ifn,
					"tc_pod_from", true);
		if (!err)
			err = attach_tc(o, bpf_program__fd(skel->progs.sl_tc_pod_to), ifn,
					"tc_pod_to", false);
	}
	tc_pod__destroy(skel);
	return err;
}

int sl_load_node(const struct sl_load_opts *o)
{
	/* The pod hooks first: once XDP translates, the pods' policy must
	 * already be enforced on the way in. */
	int err = load_tc_pod(o);

	if (!err)
		err = load_tc_nat(o);
	if (!err)
		err = load_xdp(o);
	return err;
}

int sl_attach_pods(const struct sl_load_opts *o)
{
	int lock = sl_lock(o->pin_root), err;

	if (lock < 0)
		return lock;
	err = load_tc_pod(o);
	sl_unlock(lock);
	return err;
}

/* The interface part of a per-interface pin name ("hook@ifname"), or NULL. */
static const char *pin_iface(const char *name)
{
	const char *at = strchr(name, '@');

	return at && at[1] ? at + 1 : NULL;
}

/* The ifindex a pinned XDP or tcx link is attached to: 0 once its device
 * went away (the link stays, detached); IDX itself for other links. */
static __u32 link_ifindex(const char *path, __u32 idx)
{
	struct bpf_link_info li;
	__u32 len = sizeof(li);
	int fd = bpf_obj_get(path);

	memset(&li, 0, sizeof(li));
	if (fd < 0 || bpf_link_get_info_by_fd(fd, &li, &len)) {
		if (fd >= 0)
			close(fd);
		return idx;
	}
	close(fd);
	if (li.type == BPF_LINK_TYPE_XDP)
		return li.xdp.ifindex;
	if (li.type == BPF_LINK_TYPE_TCX)
		return li.tcx.ifindex;
	return idx;
}

/* Does the cls_bpf filter that progs/tc-<dir>@IF stands for still exist on
 * interface IDX? */
static bool legacy_attached(const char *name, __u32 idx)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)idx);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SL_TC_HANDLE, .priority = SL_TC_PRIO);

	hook.attach_point = strncmp(name, "tc-in@", 6) ? BPF_TC_EGRESS : BPF_TC_INGRESS;
	return !bpf_tc_query(&hook, &opts);
}

/* A pin of an interface that is gone, or of an interface whose name came
 * back on a new device (a re-created pod's veth keeps the pod's name): the
 * attachment died with the old device, and the new one has no hooks until
 * the stale pin goes and a load attaches afresh. */
static bool pin_stale(const char *kind, const char *path, const char *name, const char *ifn)
{
	__u32 idx = if_nametoindex(ifn);

	if (!idx)
		return true;
	if (!strcmp(kind, "links"))
		return link_ifindex(path, idx) != idx;
	if (!strncmp(name, "tc-", 3))
		return !legacy_attached(name, idx);
	return false;
}

static void prune_dir(const char *root, const char *kind)
{
	char dir[4096], path[4096 + 300];
	struct dirent *de;
	DIR *d;

	if (sl_pin_path(dir, sizeof(dir), root, kind, NULL) || !(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		const char *ifn = pin_iface(de->d_name);

		if (!ifn)
			continue;
		snprintf(path, sizeof(path), "%s/%.255s", dir, de->d_name);
		if (pin_stale(kind, path, de->d_name, ifn))
			unlink(path);
	}
	closedir(d);
}

struct ifindex_set {
	const __u32 *v;
	size_t n;
};

static bool pflow_on(const void *key, const void *ctx)
{
	const struct sl_pflow_key *k = key;
	const struct ifindex_set *set = ctx;

	for (size_t i = 0; i < set->n; i++)
		if (set->v[i] == k->ifindex)
			return true;
	return false;
}

/* Flow records of the interfaces in GONE (a reused ifindex must not show
 * another pod's flows). One pass over the table, only when needed. */
static void prune_pflows(const char *root, const __u32 *gone, size_t n)
{
	struct ifindex_set set = { gone, n };
	char path[4096];
	int fd;

	if (!n || sl_pin_path(path, sizeof(path), root, "maps", "sl_pflows"))
		return;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	sl_clear_where(fd, sizeof(struct sl_pflow_key), pflow_on, &set);
	close(fd);
}

/* Totals (and flow records) of interfaces that no longer exist: an ifindex
 * can be reused by the next pod, which must not inherit the old one's. */
static void prune_totals(const char *root)
{
	char path[4096], name[IF_NAMESIZE];
	__u32 k, next, gone[256];
	void *prev = NULL;
	size_t n = 0;
	int fd;

	if (sl_pin_path(path, sizeof(path), root, "maps", "sl_pod_totals"))
		return;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	while (n < 256 && !bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (!if_indextoname(k, name))
			gone[n++] = k;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &gone[i]);
	close(fd);
	prune_pflows(root, gone, n);
}

void sl_prune_ifaces(const char *root)
{
	int lock = sl_lock(root);

	if (lock < 0)
		return;
	prune_dir(root, "links");
	prune_dir(root, "progs");
	prune_totals(root);
	sl_unlock(lock);
}

/* Detach a legacy cls_bpf filter remembered as progs/tc-<dir>@<ifname>. */
int sl_detach_tc_legacy(const char *pin)
{
	const char *base = strrchr(pin, '/'), *at;
	LIBBPF_OPTS(bpf_tc_hook, hook);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SL_TC_HANDLE, .priority = SL_TC_PRIO);
	unsigned int idx;

	base = base ? base + 1 : pin;
	at = strchr(base, '@');
	if (strncmp(base, "tc-", 3) || !at)
		return 0;
	idx = if_nametoindex(at + 1);
	if (!idx)
		return 0; /* the interface is gone, and its filters with it */
	hook.ifindex = (int)idx;
	hook.attach_point = strncmp(base, "tc-in@", 6) ? BPF_TC_EGRESS : BPF_TC_INGRESS;
	return bpf_tc_detach(&hook, &opts);
}
