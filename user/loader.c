// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Loader. All state is pinned so that the data plane outlives this process:
 * maps under PINROOT/maps, every program under PINROOT/progs, one bpf_link
 * per attachment under PINROOT/links. A load on a pin root that is already
 * loaded keeps every map (policy, counters, ejections, socket storage) and
 * swaps programs in with bpf_link_update(), which replaces the program of a
 * live link atomically.
 *
 * The sequence (docs/PINNING.md): check what needs no change (pin root,
 * cgroup, interfaces), probe the kernel's features, then in one transaction
 * (user/txn.h): load every object, check the ABI and conflicts, mark the
 * load record LOADING, configure, pin the programs, attach (the close side
 * before the counting side), mark the record COMPLETE. Any failure undoes
 * the transaction.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probe.h"
#include "loader.h"
#include "loader_node.h"
#include "nodestate.h"
#include "pins.h"
#include "publish.h"
#include "txn.h"
#include "util.h"
#include "sock_lb.skel.h"
#include "sockops.skel.h"
#include "sockops_link.h"
#include "flows_iter.skel.h"

/* Everything one load opened. */
struct objs {
	struct sockops *sockops;
	struct sock_lb *sock_lb;
	struct flows_iter *iter;
	struct sl_node_objs node;
};

static void objs_free(struct objs *ob)
{
	sl_node_free(&ob->node);
	flows_iter__destroy(ob->iter);
	sock_lb__destroy(ob->sock_lb);
	sockops__destroy(ob->sockops);
}

/* Every bpf_object of the load, socket side first. */
static size_t objs_list(const struct objs *ob, struct bpf_object **v, size_t max)
{
	size_t k = 0;

	if (ob->sockops)
		v[k++] = ob->sockops->obj;
	if (ob->sock_lb)
		v[k++] = ob->sock_lb->obj;
	if (ob->iter && bpf_program__fd(ob->iter->progs.sl_flows_iter) >= 0)
		v[k++] = ob->iter->obj;
	return k + sl_node_objects(&ob->node, v + k, max - k);
}

static int open_cgroup(const char *path, char *resolved, size_t len)
{
	int fd, err;

	if (!path) {
		err = sl_cgroup2_root(resolved, len);
		if (err) {
			pr_warn("sluice: no cgroup v2 mount in /proc/mounts\n");
			return err;
		}
	} else if (!realpath(path, resolved)) {
		/* Recorded as given where it cannot be resolved; open() says why. */
		snprintf(resolved, len, "%s", path);
	}
	if (strlen(resolved) >= SL_CGROUP_PATH_LEN) {
		pr_warn("sluice: cgroup path %s is longer than %u bytes\n", resolved,
			SL_CGROUP_PATH_LEN - 1);
		return -ENAMETOOLONG;
	}
	fd = open(resolved, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_warn("sluice: cgroup %s: %s\n", resolved, strerror(-err));
		return err;
	}
	return fd;
}

/* --- loading ----------------------------------------------------------------- */

/* The live-flow iterator serves observability only: when the kernel refuses
 * it, the load goes on and open flows come from sockops records. */
static void load_iter(struct sl_txn *t, struct objs *ob, struct sl_features *f)
{
	int err;

	if (f->st[SL_FEAT_LIVE_FLOWS].status != SL_FS_AVAILABLE)
		return;
	ob->iter = flows_iter__open();
	err = ob->iter ? sl_txn_load_obj(t, ob->iter->obj, ob->iter->skeleton) : -errno;
	if (err) {
		sl_feature_fail(f, SL_FEAT_LIVE_FLOWS, -err);
		flows_iter__destroy(ob->iter);
		ob->iter = NULL;
	}
}

static int load_objs(struct sl_txn *t, const struct sl_load_opts *o, struct objs *ob,
		     struct sl_features *f)
{
	int err;

	ob->sockops = sockops__open();
	ob->sock_lb = sock_lb__open();
	if (!ob->sockops || !ob->sock_lb)
		return -errno ? -errno : -ENOMEM;
	ob->sockops->rodata->sl_debug = o->debug;
	ob->sock_lb->rodata->sl_debug = o->debug;
	/* Both objects must agree: sockops arms STATE callbacks exactly when
	 * close() does not end the connection. */
	ob->sockops->rodata->sl_close_at_release =
		f->st[SL_FEAT_CLOSE_AT_RELEASE].status == SL_FS_AVAILABLE;
	ob->sock_lb->rodata->sl_close_at_release = ob->sockops->rodata->sl_close_at_release;
	/* Only where sockops is always there does it alone mark ESTABLISHED. */
	ob->sock_lb->rodata->sl_sockops_off = o->sockops != SL_SOCKOPS_ON;
	/* close() counts the RTOs before establishment: no arming at connect. */
	ob->sockops->rodata->sl_arm_established =
		ob->sockops->rodata->sl_close_at_release &&
		f->st[SL_FEAT_RTO_TOTAL].status == SL_FS_AVAILABLE;
	ob->sock_lb->rodata->sl_arm_established = ob->sockops->rodata->sl_arm_established;
	err = sl_txn_load_obj(t, ob->sockops->obj, ob->sockops->skeleton);
	if (!err)
		err = sl_txn_load_obj(t, ob->sock_lb->obj, ob->sock_lb->skeleton);
	if (!err && !o->no_attach)
		load_iter(t, ob, f);
	if (!err)
		err = sl_node_load(t, o, f, &ob->node);
	return err;
}

/* --- checks before any change to what runs -------------------------------- */

static int check_abi(const struct sl_config *c, const char *root)
{
	if (c->magic == 0 || (c->magic == SL_ABI_MAGIC && c->abi_version == SL_ABI_VERSION))
		return 0;
	pr_warn("sluice: %s holds maps of ABI version %u, this build uses %u; "
		"`sluice unload` first (see docs/PINNING.md)\n",
		root, c->abi_version, SL_ABI_VERSION);
	return -EPROTO;
}

/* The pinned sl_config of an earlier load, read before any object is
 * loaded: libbpf refuses to reuse a pinned map whose shape changed, with a
 * message about map parameters, and every layout change bumps the ABI
 * version. The record starts with magic and version in every version, so
 * the first 8 bytes say which layout the pinned maps have. */
static int check_pinned_abi(const char *root)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info), zero = 0;
	char path[4096];
	void *buf = NULL;
	int fd, err;

	if (sl_pin_path(path, sizeof(path), root, "maps", "sl_config"))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno; /* nothing pinned: a first load */
	memset(&info, 0, sizeof(info));
	err = bpf_map_get_info_by_fd(fd, &info, &len) ? -errno : 0;
	if (!err && info.value_size < 8)
		err = -EPROTO;
	if (!err && !(buf = calloc(1, info.value_size)))
		err = -ENOMEM;
	if (!err)
		err = bpf_map_lookup_elem(fd, &zero, buf) ? -errno : 0;
	if (!err) {
		struct sl_config c;

		memset(&c, 0, sizeof(c));
		memcpy(&c, buf, info.value_size < sizeof(c) ? info.value_size : sizeof(c));
		err = check_abi(&c, root);
		if (!err && info.value_size != sizeof(c)) {
			pr_warn("sluice: %s/maps/sl_config has %u-byte records, this build uses %zu; "
				"`sluice unload` first (see docs/PINNING.md)\n",
				root, info.value_size, sizeof(c));
			err = -EPROTO;
		}
	}
	free(buf);
	close(fd);
	return err;
}

/* A pin root serves one cgroup: a second load elsewhere would leave the
 * first cgroup's links pointing at programs the record no longer names. */
static int check_same_cgroup(const struct sl_load_rec *r, __u64 cgid, const char *root,
			     const char *cgpath)
{
	if (!r->cgroup_id || r->cgroup_id == cgid)
		return 0;
	pr_warn("sluice: %s is loaded on cgroup %s (id %llu), not %s; unload it first or "
		"use another --pin-root\n",
		root, r->cgroup, (unsigned long long)r->cgroup_id, cgpath);
	return -EEXIST;
}

/* --- the load record ------------------------------------------------------- */

static int record_start(struct sl_txn *t, int fd, struct sl_load_rec *r, __u64 cgid,
			const char *cgpath, const struct sl_load_opts *o,
			const struct sl_features *f)
{
	__u32 zero = 0;
	int err = sl_txn_step("map", "sl_load");

	if (!err)
		err = sl_txn_save(t, fd, &zero, sizeof(zero), sizeof(*r));
	if (err)
		return err;
	r->phase = SL_LOAD_LOADING;
	r->pid = (__u32)getpid();
	r->started_ns = sl_now_real_ns();
	r->finished_ns = 0;
	r->cgroup_id = cgid;
	r->flags = o->sockops == SL_SOCKOPS_OFF	   ? SL_LOAD_F_NO_SOCKOPS
		   : o->sockops == SL_SOCKOPS_AUTO ? SL_LOAD_F_SOCKOPS_AUTO
						   : 0;
	memcpy(r->feat, f->st, sizeof(r->feat));
	memset(r->cgroup, 0, sizeof(r->cgroup));
	memcpy(r->cgroup, cgpath, strnlen(cgpath, sizeof(r->cgroup) - 1));
	return bpf_map_update_elem(fd, &zero, r, BPF_ANY) ? -errno : 0;
}

static void record_prog(struct sl_load_rec *r, struct bpf_program *prog)
{
	struct bpf_prog_info pi;
	__u32 len = sizeof(pi);
	int fd = bpf_program__fd(prog);

	memset(&pi, 0, sizeof(pi));
	if (fd < 0 || bpf_prog_get_info_by_fd(fd, &pi, &len) || r->n_prog_ids >= SL_LOAD_MAX_PROGS)
		return;
	r->prog_ids[r->n_prog_ids++] = pi.id;
}

static int record_done(int fd, struct sl_load_rec *r, const struct objs *ob,
		       const struct sl_features *f)
{
	struct bpf_object *v[8];
	struct bpf_program *prog;
	size_t n = objs_list(ob, v, 8);
	__u32 zero = 0;
	int err = sl_txn_step("map", "sl_load:complete");

	if (err)
		return err;
	r->n_prog_ids = 0;
	for (size_t i = 0; i < n; i++)
		bpf_object__for_each_program(prog, v[i])
			record_prog(r, prog);
	memcpy(r->feat, f->st, sizeof(r->feat));
	r->phase = SL_LOAD_COMPLETE;
	r->finished_ns = sl_now_real_ns();
	return bpf_map_update_elem(fd, &zero, r, BPF_ANY) ? -errno : 0;
}

/* --- configuration ---------------------------------------------------------- */

static int init_config(struct sl_txn *t, int fd, const struct sl_load_opts *o, const char *step)
{
	struct sl_config c;
	__u32 zero = 0;
	int err = sl_txn_step("map", step);

	if (!err)
		err = sl_txn_save(t, fd, &zero, sizeof(zero), sizeof(c));
	if (err)
		return err;
	if (bpf_map_lookup_elem(fd, &zero, &c))
		return -errno;
	if (c.magic == 0) {
		memset(&c, 0, sizeof(c));
		c.magic = SL_ABI_MAGIC;
		c.abi_version = SL_ABI_VERSION;
	}
	c.proxy_addr4 = o->proxy_addr4;
	memcpy(c.proxy_addr6, o->proxy_addr6, sizeof(c.proxy_addr6));
	c.proxy_port = o->proxy_port;
	c.proxy_mark = o->proxy_mark;
	if (o->svc_cidr4_len) {
		c.svc_cidr4 = o->svc_cidr4;
		c.svc_cidr4_len = o->svc_cidr4_len;
	}
	return bpf_map_update_elem(fd, &zero, &c, BPF_ANY) ? -errno : 0;
}

/* --- pins and links ---------------------------------------------------------- */

/* Every loaded program is pinned under progs/ by name: the agent attaches
 * pod hooks from there, status reads program statistics from there without
 * CAP_SYS_ADMIN, and an upgrade that fails puts these back on its links. */
static int pin_progs(struct sl_txn *t, struct objs *ob, struct sl_features *f)
{
	struct bpf_object *v[8];
	struct bpf_program *prog;
	size_t n = objs_list(ob, v, 8);
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		if (ob->iter && v[i] == ob->iter->obj)
			continue;
		bpf_object__for_each_program(prog, v[i]) {
			if (!err && bpf_program__fd(prog) >= 0)
				err = sl_txn_pin(t, "progs", bpf_program__name(prog),
						 bpf_program__fd(prog));
		}
	}
	/* The iterator is optional: a pin it cannot get degrades the load. */
	if (!err && ob->iter && bpf_program__fd(ob->iter->progs.sl_flows_iter) >= 0) {
		int e = sl_txn_pin(t, "progs", "sl_flows_iter",
				   bpf_program__fd(ob->iter->progs.sl_flows_iter));

		if (e) {
			sl_feature_fail(f, SL_FEAT_LIVE_FLOWS, -e);
			flows_iter__destroy(ob->iter);
			ob->iter = NULL;
		}
	}
	return err;
}

static int attach_cgroup_obj(struct sl_txn *t, struct bpf_object *obj, int cgfd)
{
	struct bpf_program *prog;
	int err;

	/* libbpf walks programs in section order; bpf/sock_lb.bpf.c defines
	 * the restoring and releasing hooks before the counting ones. */
	bpf_object__for_each_program(prog, obj) {
		struct sl_target tgt = { .fd_or_ifindex = cgfd,
					 .type = bpf_program__expected_attach_type(prog) };
		const char *name = bpf_program__name(prog);

		if (bpf_program__type(prog) == BPF_PROG_TYPE_SYSCALL)
			continue;
		err = sl_txn_link(t, name, bpf_program__fd(prog), sl_txn_old_pin(t, "progs", name),
				  &tgt);
		if (err) {
			pr_warn("sluice: attach %s: %s\n", name, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* An iterator link has no traffic behind it: replacing it is a new link
 * pinned over the old one (undo pins the old one again). */
static void attach_iter(struct sl_txn *t, struct objs *ob, struct sl_features *f)
{
	struct bpf_link *link = NULL;
	int err;

	if (!ob->iter)
		return;
	/* A task_file iterator: every task's files, no link_info. */
	err = sl_txn_step("attach", "sl_flows_iter");
	if (!err) {
		link = bpf_program__attach_iter(ob->iter->progs.sl_flows_iter, NULL);
		err = link ? 0 : -errno;
	}
	if (!err)
		err = sl_txn_pin(t, "links", "sl_flows_iter", bpf_link__fd(link));
	if (err)
		sl_feature_fail(f, SL_FEAT_LIVE_FLOWS, -err);
	bpf_link__destroy(link); /* the pin holds it */
}

/* --- the policy slots ---------------------------------------------------------- */

/* An apply interrupted before this load (killed mid-write) left the
 * inactive slot half written: rewrite it from the store now, under the
 * load's lock, before this node is declared whole (docs/APPLY.md). */
static int repair_policy(const char *root)
{
	struct sl_maps m;
	int err = sl_txn_step("map", "repair");

	if (!err)
		err = sl_maps_open(root, &m);
	if (err)
		return err;
	err = sl_publish_repair(&m, true);
	sl_maps_close(&m);
	if (err > 0)
		pr_warn("sluice: repaired the policy slot an interrupted apply left half written\n");
	return err < 0 ? err : 0;
}

/* --- the whole sequence ------------------------------------------------------ */

static __u64 cgroup_id_of(const char *path)
{
	struct stat st;

	/* On cgroup v2 the inode number is the cgroup id. */
	return stat(path, &st) ? 0 : (__u64)st.st_ino;
}

/* Where open flows come from; true when that changed. */
static bool flows_source(struct sl_features *f)
{
	struct sl_feature_state *s = &f->st[SL_FEAT_LIVE_FLOWS];
	__u32 old = s->source;

	if (s->status == SL_FS_AVAILABLE)
		s->source = SL_FSRC_ITER;
	else if (s->status == SL_FS_UNAVAILABLE)
		s->source = SL_FSRC_SOCKOPS;
	return s->source != old;
}

/* Does the mode want sockops attached now? Under auto: while the live
 * policy (the pinned maps an earlier load left) hands off to the proxy
 * this load configured. 1, 0 or -errno. */
static int sockops_wanted(struct objs *ob, const struct sl_load_opts *o)
{
	struct sl_svctab st = { .rows = bpf_map__fd(ob->sock_lb->maps.sl_services),
				.index = bpf_map__fd(ob->sock_lb->maps.sl_svc_index) };
	struct sl_config cfg;
	__u32 zero = 0;

	if (o->sockops != SL_SOCKOPS_AUTO)
		return o->sockops == SL_SOCKOPS_ON;
	if (bpf_map_lookup_elem(bpf_map__fd(ob->sock_lb->maps.sl_config), &zero, &cfg))
		return -errno;
	return sl_sockops_needed(st, &cfg);
}

static int attach_all(struct sl_txn *t, struct objs *ob, const struct sl_load_opts *o, int cgfd,
		      struct sl_features *f)
{
	/* sockops first: once connect4 starts counting, the close side must
	 * already be there to release what it counts. Without sockops, a link
	 * an earlier load made goes (detached when the load completes). */
	int err = sockops_wanted(ob, o);

	if (err >= 0)
		err = err ? attach_cgroup_obj(t, ob->sockops->obj, cgfd)
			  : sl_txn_unlink(t, "sl_sockops");
	if (!err)
		err = attach_cgroup_obj(t, ob->sock_lb->obj, cgfd);
	if (!err)
		attach_iter(t, ob, f);
	if (!err)
		err = sl_node_attach(t, o, &ob->node, f);
	return err;
}

static int load_in(struct sl_txn *t, const struct sl_load_opts *o, int cgfd, const char *cgpath,
		   struct sl_features *f)
{
	struct objs ob = { 0 };
	struct sl_load_rec rec;
	struct sl_config cfg;
	__u64 cgid = cgroup_id_of(cgpath);
	__u32 zero = 0;
	int err, cfd, rfd;

	err = check_pinned_abi(o->pin_root);
	if (!err)
		err = load_objs(t, o, &ob, f);
	if (err)
		goto out;
	cfd = bpf_map__fd(ob.sock_lb->maps.sl_config);
	rfd = bpf_map__fd(ob.sock_lb->maps.sl_load);
	memset(&rec, 0, sizeof(rec));
	err = bpf_map_lookup_elem(cfd, &zero, &cfg) || bpf_map_lookup_elem(rfd, &zero, &rec) ? -errno : 0;
	if (!err)
		err = check_abi(&cfg, o->pin_root);
	if (!err && !o->no_attach)
		err = check_same_cgroup(&rec, cgid, o->pin_root, cgpath);
	if (!err && !o->no_attach)
		err = sl_check_cgroup_conflict(o->pin_root, cgfd, cgpath);
	if (err)
		goto out;
	if (o->no_attach)
		cgid = 0, cgpath = "";
	flows_source(f);
	err = record_start(t, rfd, &rec, cgid, cgpath, o, f);
	if (!err)
		err = init_config(t, cfd, o, "sl_config");
	if (!err)
		err = pin_progs(t, &ob, f);
	if (!err && !o->no_attach)
		err = attach_all(t, &ob, o, cgfd, f);
	/* The iterator's link may have been refused after its load worked:
	 * open flows are then listed from the socket table alone. */
	if (!err)
		flows_source(f);
	if (!err)
		err = repair_policy(o->pin_root);
	if (!err)
		err = record_done(rfd, &rec, &ob, f);
out:
	objs_free(&ob);
	return err;
}

/* One warning per optional feature that is missing, after the load worked. */
static void warn_degraded(const struct sl_features *f, const struct sl_feature_want *w)
{
	static const unsigned warn[] = { SL_FEAT_LIVE_FLOWS, SL_FEAT_TCX, SL_FEAT_SET_RETVAL };
	char why[256];

	for (size_t i = 0; i < sizeof(warn) / sizeof(warn[0]); i++) {
		const struct sl_feature_state *s = &f->st[warn[i]];

		if (s->status != SL_FS_UNAVAILABLE || sl_feature_required(warn[i], w))
			continue;
		if (warn[i] == SL_FEAT_TCX && !w->node_ingress && !w->pod_hooks)
			continue;
		pr_warn("sluice: warning: %s unavailable: %s; %s\n", sl_feature_name(warn[i]),
			sl_feature_reason(warn[i], s->err, why, sizeof(why)),
			warn[i] == SL_FEAT_LIVE_FLOWS ? "open flows are listed from sockops records, "
							"without live counters"
			: warn[i] == SL_FEAT_TCX      ? "TC programs are attached as cls_bpf filters"
						      : "refused connections fail with EPERM");
	}
}

/* A feature the load needs and the kernel refused: stop before any change. */
static int check_required(const struct sl_features *f, const struct sl_feature_want *w)
{
	for (unsigned id = 0; id < SL_FEAT__COUNT; id++)
		if (sl_feature_required(id, w) && f->st[id].status == SL_FS_UNAVAILABLE)
			return -f->st[id].err ? -f->st[id].err : -EOPNOTSUPP;
	return 0;
}

static const unsigned close_counts[] = { SL_FEAT_CLOSE_AT_RELEASE, SL_FEAT_RTO_TOTAL };

/* The first of close_counts the kernel lacks, or -1. */
static int close_cannot(const struct sl_features *f)
{
	for (size_t i = 0; i < sizeof(close_counts) / sizeof(close_counts[0]); i++)
		if (f->st[close_counts[i]].status != SL_FS_AVAILABLE)
			return (int)close_counts[i];
	return -1;
}

/* Without sockops, what it did moves to close(), which must be able to
 * read the socket's TCP counters (close_at_release) and its RTO total
 * (tcp_sock.total_rto, Linux 6.7+). Where it cannot, `auto` keeps sockops
 * attached (O->sockops becomes ON) and `off` is refused. A handed-off
 * connection cannot do without sockops: its record for the proxy needs
 * the client's port, which exists only after connect4, so `off` needs the
 * proxy off too. */
static int resolve_sockops(struct sl_load_opts *o, const struct sl_features *f)
{
	int id = close_cannot(f);

	if (o->sockops == SL_SOCKOPS_AUTO && id >= 0) {
		pr_info("sluice: --sockops auto: %s is unavailable (%s), so sockops stays "
			"attached (as --sockops on)\n", sl_feature_name((unsigned)id),
			strerror(f->st[id].err));
		o->sockops = SL_SOCKOPS_ON;
	}
	if (o->sockops != SL_SOCKOPS_OFF)
		return 0;
	if (o->proxy_port) {
		pr_warn("sluice: --sockops off needs --proxy none: sockops writes the record "
			"from which the proxy learns a handed-off connection's destination\n");
		return -EINVAL;
	}
	if (id < 0)
		return 0;
	pr_warn("sluice: --sockops off: %s is unavailable (%s), so only sockops can %s "
		"(see `sluice features`)\n", sl_feature_name((unsigned)id), strerror(f->st[id].err),
		id == SL_FEAT_RTO_TOTAL ? "count RTOs" : "end connections");
	return -EOPNOTSUPP;
}

int sl_load(const struct sl_load_opts *opts)
{
	struct sl_load_opts eff = *opts, *o = &eff; /* the sockops mode resolved */
	struct sl_feature_want want = { .node_ingress = o->n_ifaces > 0,
					.pod_hooks = o->n_pod_ifaces > 0,
					.live_flows = !o->no_attach };
	struct sl_features feat;
	struct sl_txn *t = NULL;
	char cgpath[4096];
	int cgfd = -1, err;

	err = sl_pin_root_check(o->pin_root);
	if (!err) {
		cgfd = open_cgroup(o->cgroup, cgpath, sizeof(cgpath));
		err = cgfd < 0 ? cgfd : 0;
	}
	if (!err)
		err = sl_node_check_ifaces(o);
	if (!err) {
		err = sl_features_probe(&want, &feat);
		err = err ? err : check_required(&feat, &want);
		err = err ? err : resolve_sockops(o, &feat);
	}
	if (!err)
		err = sl_txn_begin(&t, o->pin_root);
	if (!err)
		err = load_in(t, o, cgfd, cgpath, &feat);
	err = sl_txn_end(t, err);
	if (!err)
		warn_degraded(&feat, &want);
	if (cgfd >= 0)
		close(cgfd);
	return err;
}

int sl_attach_pods(const struct sl_load_opts *o)
{
	struct sl_txn *t = NULL;
	int err = sl_node_check_ifaces(o);

	if (!err)
		err = sl_txn_begin(&t, o->pin_root);
	if (!err)
		err = sl_node_attach_pods(t, o);
	return sl_txn_end(t, err);
}

void sl_prune_ifaces(const char *root)
{
	int lock = sl_lock(root);

	if (lock < 0)
		return;
	sl_node_prune(root);
	sl_unlock(lock);
}

/* --- unload ------------------------------------------------------------------- */

static int remove_pin(const char *path, const char *name)
{
	int fd = bpf_obj_get(path), err;
	struct bpf_link_info li;
	__u32 len = sizeof(li);

	memset(&li, 0, sizeof(li));
	/* A link: detach it, even if someone else still holds an fd to it. */
	if (fd >= 0 && !bpf_link_get_info_by_fd(fd, &li, &len) && bpf_link_detach(fd) &&
	    errno != EINVAL && errno != EOPNOTSUPP && errno != ENOLINK)
		pr_warn("sluice: detach %s: %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	err = sl_detach_tc_legacy(name);
	if (err && err != -ENOENT)
		pr_warn("sluice: detach %s: %s\n", path, strerror(-err));
	return unlink(path) < 0 ? -errno : 0;
}

/* Every pin under DIR, however its directories were named or moved within
 * the pin root; then the directories themselves. */
static int remove_tree(const char *dir)
{
	char path[4096];
	struct dirent *de;
	DIR *d = opendir(dir);
	int err = 0, e;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		e = de->d_type == DT_DIR ? remove_tree(path) : remove_pin(path, de->d_name);
		if (e && !err)
			err = e;
	}
	closedir(d);
	if (rmdir(dir) < 0 && !err)
		err = -errno;
	return err;
}

int sl_unload(const char *root)
{
	struct sl_load_rec rec;
	bool have_rec;
	int lock, err, e;

	lock = sl_lock(root);
	if (lock < 0) {
		if (lock == -ENOENT)
			pr_warn("sluice: %s: not loaded\n", root);
		return lock;
	}
	have_rec = !sl_read_load_rec(root, &rec);
	err = remove_tree(root);
	/* Pins may have been moved out of reach: what the last load attached
	 * must be gone from its cgroup and interfaces all the same. */
	e = have_rec ? sl_detach_leftovers(&rec) : 0;
	sl_unlock(lock);
	return err ? err : e;
}
