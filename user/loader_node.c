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
 *
 * Every change goes through the load transaction (user/txn.h), so a failed
 * step leaves the interfaces as they were.
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

#include "loader_node.h"
#include "pins.h"
#include "publish.h"
#include "util.h"
#include "xdp_lb.skel.h"
#include "tc_nat.skel.h"
#include "tc_pod.skel.h"

static int if_index(const char *ifname)
{
	unsigned int idx = if_nametoindex(ifname);

	if (!idx) {
		pr_warn("sluice: interface %s: %s\n", ifname, strerror(errno));
		return -ENODEV;
	}
	return (int)idx;
}

int sl_node_check_ifaces(const struct sl_load_opts *o)
{
	int err = 0;

	for (size_t i = 0; i < o->n_ifaces; i++)
		if (if_index(o->ifaces[i]) < 0)
			err = -ENODEV;
	for (size_t i = 0; i < o->n_pod_ifaces; i++)
		if (if_index(o->pod_ifaces[i]) < 0)
			err = -ENODEV;
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

/* The fd of the pinned program NAME (the running version), or -1. */
static int pinned_prog(struct sl_txn *t, const char *name)
{
	char path[4096];

	if (sl_pin_path(path, sizeof(path), sl_txn_root(t), "progs", name))
		return -1;
	return bpf_obj_get(path);
}

static int attach_xdp(struct sl_txn *t, const struct sl_load_opts *o, struct bpf_program *prog,
		      const char *ifname)
{
	struct sl_target tgt = { .type = BPF_XDP, .flags = xdp_flags(o->xdp_mode) };
	char name[64];
	int err;

	tgt.fd_or_ifindex = if_index(ifname);
	if (tgt.fd_or_ifindex < 0)
		return tgt.fd_or_ifindex;
	snprintf(name, sizeof(name), "xdp@%s", ifname);
	err = sl_txn_link(t, name, bpf_program__fd(prog),
			  sl_txn_old_pin(t, "progs", bpf_program__name(prog)), &tgt);
	if (err)
		pr_warn("sluice: XDP on %s: %s\n", ifname, strerror(-err));
	return err;
}

/* cls_bpf through netlink, for kernels without tcx. */
static int attach_tc_legacy(struct sl_txn *t, int prog_fd, int ifindex, const char *ifname,
			    bool ingress)
{
	char name[64];
	int old, err;

	snprintf(name, sizeof(name), "tc-%s@%s", ingress ? "in" : "out", ifname);
	err = sl_txn_step("attach", name);
	if (err)
		return err;
	old = pinned_prog(t, name);
	err = sl_txn_tc_legacy(t, ifindex, ingress, prog_fd, old, SL_TC_HANDLE, SL_TC_PRIO);
	if (old >= 0)
		close(old);
	return err ? err : sl_txn_pin(t, "progs", name, prog_fd);
}

static void tc_source(struct sl_features *f, int tcx_err)
{
	if (!f)
		return;
	f->st[SL_FEAT_TC].source = tcx_err ? SL_FSRC_CLS_BPF : SL_FSRC_TCX;
	if (tcx_err)
		sl_feature_fail(f, SL_FEAT_TCX, -tcx_err);
}

static int attach_tc(struct sl_txn *t, int prog_fd, int old_fd, const char *ifname,
		     const char *hook, bool ingress, struct sl_features *f)
{
	struct sl_target tgt = { .type = ingress ? BPF_TCX_INGRESS : BPF_TCX_EGRESS };
	char name[64];
	int err;

	tgt.fd_or_ifindex = if_index(ifname);
	if (tgt.fd_or_ifindex < 0)
		return tgt.fd_or_ifindex;
	snprintf(name, sizeof(name), "%s@%s", hook, ifname);
	err = sl_txn_link(t, name, prog_fd, old_fd, &tgt);
	tc_source(f, err == -EINVAL || err == -EOPNOTSUPP ? err : 0);
	if (err == -EINVAL || err == -EOPNOTSUPP)
		err = attach_tc_legacy(t, prog_fd, tgt.fd_or_ifindex, ifname, ingress);
	if (err)
		pr_warn("sluice: TC %s on %s: %s\n", hook, ifname, strerror(-err));
	return err;
}

/* One address NodePorts answer on, recorded (and its old value kept for
 * undo). */
static int node_addr(struct sl_txn *t, int fd, const struct ifaddrs *a)
{
	struct sl_node_addr k;
	__u32 idx;
	int err;

	memset(&k, 0, sizeof(k));
	if (a->ifa_addr->sa_family == AF_INET) {
		k.family = SL_AF_INET;
		k.addr[0] = ((struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr;
	} else if (a->ifa_addr->sa_family == AF_INET6) {
		k.family = SL_AF_INET6;
		memcpy(k.addr, &((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr, 16);
	} else {
		return 0;
	}
	idx = if_nametoindex(a->ifa_name);
	err = sl_txn_save(t, fd, &k, sizeof(k), sizeof(idx));
	if (!err && bpf_map_update_elem(fd, &k, &idx, BPF_ANY))
		err = -errno;
	return err;
}

/* The addresses NodePorts answer on: every address of the --iface
 * interfaces, as they are at load time. */
static int write_node_addrs(struct sl_txn *t, const struct sl_load_opts *o, int fd)
{
	struct ifaddrs *ifa, *a;
	int err = sl_txn_step("map", "sl_node_addrs");

	if (err)
		return err;
	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (a = ifa; a && !err; a = a->ifa_next)
		if (a->ifa_addr && sl_str_in(a->ifa_name, o->ifaces, o->n_ifaces))
			err = node_addr(t, fd, a);
	freeifaddrs(ifa);
	return err;
}

/* A zeroed sl_pod_totals record for IFNAME, unless it has one. */
static int pod_totals_init(struct sl_txn *t, int fd, const char *ifname)
{
	int ncpu = libbpf_num_possible_cpus(), idx = if_index(ifname), err;
	struct sl_pod_totals *zero;
	char step[64];
	__u32 key;

	if (idx < 0)
		return idx;
	if (ncpu <= 0)
		return -EINVAL;
	snprintf(step, sizeof(step), "sl_pod_totals@%s", ifname);
	err = sl_txn_step("map", step);
	if (err)
		return err;
	zero = calloc((size_t)ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	key = (__u32)idx;
	err = sl_txn_save(t, fd, &key, sizeof(key), sizeof(*zero) * (size_t)ncpu);
	if (!err && bpf_map_update_elem(fd, &key, zero, BPF_NOEXIST) && errno != EEXIST)
		err = -errno;
	free(zero);
	return err;
}

/* Programs of a feature the kernel lacks are not loaded (their maps and
 * syscall programs still are); attaching them is refused earlier, by the
 * feature check, when a load asks for them. */
static void skip_unless(struct bpf_program *prog, const struct sl_features *f, unsigned id)
{
	if (f->st[id].status != SL_FS_AVAILABLE)
		bpf_program__set_autoload(prog, false);
}

int sl_node_load(struct sl_txn *t, const struct sl_load_opts *o, const struct sl_features *f,
		 struct sl_node_objs *n)
{
	int err;

	memset(n, 0, sizeof(*n));
	n->pod = tc_pod__open();
	n->nat = tc_nat__open();
	n->xdp = xdp_lb__open();
	if (!n->pod || !n->nat || !n->xdp)
		return -errno ? -errno : -ENOMEM;
	n->pod->rodata->sl_debug = o->debug;
	n->nat->rodata->sl_debug = o->debug;
	n->xdp->rodata->sl_debug = o->debug;
	n->xdp->rodata->xdp_redirect = o->xdp_redirect;
	skip_unless(n->pod->progs.sl_tc_pod_from, f, SL_FEAT_TC);
	skip_unless(n->pod->progs.sl_tc_pod_to, f, SL_FEAT_TC);
	skip_unless(n->nat->progs.sl_tc_nat, f, SL_FEAT_TC);
	skip_unless(n->xdp->progs.sl_xdp_lb, f, SL_FEAT_XDP);
	/* The pod hooks first: once XDP translates, the pods' policy must
	 * already be enforced on the way in. */
	err = sl_txn_load_obj(t, n->pod->obj, n->pod->skeleton);
	if (!err)
		err = sl_txn_load_obj(t, n->nat->obj, n->nat->skeleton);
	if (!err)
		err = sl_txn_load_obj(t, n->xdp->obj, n->xdp->skeleton);
	return err;
}

size_t sl_node_objects(const struct sl_node_objs *n, struct bpf_object **out, size_t max)
{
	size_t k = 0;

	if (n->pod && k < max)
		out[k++] = n->pod->obj;
	if (n->nat && k < max)
		out[k++] = n->nat->obj;
	if (n->xdp && k < max)
		out[k++] = n->xdp->obj;
	return k;
}

/* The pod hooks on IFNAME: the totals record, then both directions. */
static int attach_pod(struct sl_txn *t, int totals_fd, int from, int to, const char *ifn,
		      struct sl_features *f)
{
	/* The totals record marks a pod interface: XDP never redirects to
	 * one (that would skip its policy), so it exists first. */
	int err = pod_totals_init(t, totals_fd, ifn);

	if (!err)
		err = attach_tc(t, from, sl_txn_old_pin(t, "progs", "sl_tc_pod_from"), ifn,
				"tc_pod_from", true, f);
	if (!err)
		err = attach_tc(t, to, sl_txn_old_pin(t, "progs", "sl_tc_pod_to"), ifn,
				"tc_pod_to", false, f);
	return err;
}

int sl_node_attach(struct sl_txn *t, const struct sl_load_opts *o, struct sl_node_objs *n,
		   struct sl_features *f)
{
	int totals = bpf_map__fd(n->pod->maps.sl_pod_totals), err = 0;

	for (size_t i = 0; !err && i < o->n_pod_ifaces; i++)
		err = attach_pod(t, totals, bpf_program__fd(n->pod->progs.sl_tc_pod_from),
				 bpf_program__fd(n->pod->progs.sl_tc_pod_to), o->pod_ifaces[i], f);
	for (size_t i = 0; !err && i < o->n_ifaces; i++)
		err = attach_tc(t, bpf_program__fd(n->nat->progs.sl_tc_nat),
				sl_txn_old_pin(t, "progs", "sl_tc_nat"), o->ifaces[i], "tc_nat", false,
				f);
	for (size_t i = 0; !err && i < o->n_ifaces; i++)
		err = attach_xdp(t, o, n->xdp->progs.sl_xdp_lb, o->ifaces[i]);
	if (!err && o->n_ifaces)
		err = write_node_addrs(t, o, bpf_map__fd(n->xdp->maps.sl_node_addrs));
	return err;
}

void sl_node_free(struct sl_node_objs *n)
{
	tc_pod__destroy(n->pod);
	tc_nat__destroy(n->nat);
	xdp_lb__destroy(n->xdp);
	memset(n, 0, sizeof(*n));
}

int sl_node_attach_pods(struct sl_txn *t, const struct sl_load_opts *o)
{
	int from = pinned_prog(t, "sl_tc_pod_from"), to = pinned_prog(t, "sl_tc_pod_to");
	char path[4096];
	int totals = -1, err = 0;

	if (from < 0 || to < 0) {
		pr_warn("sluice: %s: the pod programs are not loaded (see `sluice status`)\n",
			sl_txn_root(t));
		err = -ENOENT;
	}
	if (!err && !sl_pin_path(path, sizeof(path), sl_txn_root(t), "maps", "sl_pod_totals"))
		totals = bpf_obj_get(path);
	if (!err && totals < 0)
		err = -errno;
	for (size_t i = 0; !err && i < o->n_pod_ifaces; i++)
		err = attach_pod(t, totals, from, to, o->pod_ifaces[i], NULL);
	if (from >= 0)
		close(from);
	if (to >= 0)
		close(to);
	if (totals >= 0)
		close(totals);
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

void sl_node_prune(const char *root)
{
	prune_dir(root, "links");
	prune_dir(root, "progs");
	prune_totals(root);
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
