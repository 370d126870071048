// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Loader. All state is pinned so that the data plane outlives this process:
 * maps under PINROOT/maps, one bpf_link per program under PINROOT/links.
 * A load on a pin root that is already loaded keeps every map (policy,
 * counters, ejections, socket storage) and swaps programs in with
 * bpf_link_update(), which replaces the program of a live link atomically.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "pins.h"
#include "util.h"
#include "sock_lb.skel.h"
#include "sockops.skel.h"
#include "flows_iter.skel.h"

static int mkdir_p(const char *path)
{
	char buf[4096], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int make_dirs(const char *root)
{
	static const char *const sub[] = { "maps", "links", "progs" };
	char path[4096];
	int err = mkdir_p(root);

	for (size_t i = 0; !err && i < sizeof(sub) / sizeof(sub[0]); i++) {
		err = sl_pin_path(path, sizeof(path), root, sub[i], NULL);
		if (!err && mkdir(path, 0700) < 0 && errno != EEXIST)
			err = -errno;
	}
	return err;
}

static int set_map_pins(struct bpf_object *obj, const char *root)
{
	struct bpf_map *map;
	char path[4096];
	int err;

	bpf_object__for_each_map(map, obj) {
		if (bpf_map__is_internal(map))
			continue;
		err = sl_pin_path(path, sizeof(path), root, "maps", bpf_map__name(map));
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			return err;
	}
	return 0;
}

static int pin_syscall_prog(struct bpf_program *prog, const char *root)
{
	char path[4096];
	int err = sl_pin_path(path, sizeof(path), root, "progs", bpf_program__name(prog));

	if (err)
		return err;
	/* Callers open it per use; a replaced program is picked up next time. */
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return bpf_program__pin(prog, path);
}

static int attach_or_update(struct bpf_program *prog, int cgfd, const char *root)
{
	struct bpf_link *link;
	char path[4096];
	int err;

	if (bpf_program__type(prog) == BPF_PROG_TYPE_SYSCALL)
		return pin_syscall_prog(prog, root);
	err = sl_pin_path(path, sizeof(path), root, "links", bpf_program__name(prog));
	if (err)
		return err;
	/* An existing pin means a loaded data plane: update it in place. */
	link = access(path, F_OK) ? NULL : bpf_link__open(path);
	if (link) {
		err = bpf_link__update_program(link, prog);
		if (err)
			pr_warn("sluice: %s: replacing program: %s\n", path, strerror(-err));
	} else {
		link = bpf_program__attach_cgroup(prog, cgfd);
		if (!link) {
			err = -errno;
			pr_warn("sluice: attach %s: %s\n", bpf_program__name(prog), strerror(-err));
			return err;
		}
		err = bpf_link__pin(link, path);
		if (err)
			pr_warn("sluice: pin %s: %s\n", path, strerror(-err));
	}
	/* The pin holds the link; closing our fd must not detach it. */
	bpf_link__disconnect(link);
	bpf_link__destroy(link);
	return err;
}

static int attach_all(struct bpf_object *obj, int cgfd, const char *root)
{
	struct bpf_program *prog;
	int err;

	bpf_object__for_each_program(prog, obj) {
		err = attach_or_update(prog, cgfd, root);
		if (err)
			return err;
	}
	return 0;
}

static int init_config(int fd, const struct sl_load_opts *o)
{
	struct sl_config c;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(fd, &zero, &c))
		return -errno;
	if (c.magic == 0) {
		memset(&c, 0, sizeof(c));
		c.magic = SL_ABI_MAGIC;
		c.abi_version = SL_ABI_VERSION;
	} else if (c.magic != SL_ABI_MAGIC || c.abi_version != SL_ABI_VERSION) {
		pr_warn("sluice: %s holds maps of ABI version %u, this build uses %u; "
			"`sluice unload` first (see docs/PINNING.md)\n",
			o->pin_root, c.abi_version, SL_ABI_VERSION);
		return -EPROTO;
	}
	c.proxy_addr4 = o->proxy_addr4;
	memcpy(c.proxy_addr6, o->proxy_addr6, sizeof(c.proxy_addr6));
	c.proxy_port = o->proxy_port;
	c.proxy_mark = o->proxy_mark;
	if (o->svc_cidr4_len) {
		c.svc_cidr4 = o->svc_cidr4;
		c.svc_cidr4_len = o->svc_cidr4_len;
	}
	if (bpf_map_update_elem(fd, &zero, &c, BPF_ANY))
		return -errno;
	return 0;
}

static int open_cgroup(const char *path)
{
	char root[4096];
	int fd, err;

	if (!path) {
		err = sl_cgroup2_root(root, sizeof(root));
		if (err) {
			pr_warn("sluice: no cgroup v2 mount in /proc/mounts\n");
			return err;
		}
		path = root;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_warn("sluice: cgroup %s: %s\n", path, strerror(-err));
		return err;
	}
	return fd;
}

/* Pins, load, config, attach: the same for every object. The caller has
 * opened the skeleton and set its rodata. */
int sl_load_pinned(struct bpf_object *obj, const struct sl_load_opts *o,
		   struct bpf_object_skeleton *sk)
{
	struct bpf_program *prog;
	int err = set_map_pins(obj, o->pin_root);

	if (!err)
		err = bpf_object__load_skeleton(sk);
	bpf_object__for_each_program(prog, obj) {
		if (!err && bpf_program__type(prog) == BPF_PROG_TYPE_SYSCALL)
			err = pin_syscall_prog(prog, o->pin_root);
	}
	return err;
}

static int load_skel(struct bpf_object_skeleton *sk, struct bpf_object *obj,
		     const struct sl_load_opts *o, int cgfd, bool init)
{
	int err = sl_load_pinned(obj, o, sk);

	if (!err && init)
		err = init_config(bpf_object__find_map_fd_by_name(obj, "sl_config"), o);
	if (!err && !o->no_attach)
		err = attach_all(obj, cgfd, o->pin_root);
	return err;
}

static int load_sock_lb(const struct sl_load_opts *o, int cgfd)
{
	struct sock_lb *skel = sock_lb__open();
	int err;

	if (!skel)
		return -errno;
	skel->rodata->sl_debug = o->debug;
	err = load_skel(skel->skeleton, skel->obj, o, cgfd, true);
	sock_lb__destroy(skel);
	return err;
}

static int load_sockops(const struct sl_load_opts *o, int cgfd)
{
	struct sockops *skel = sockops__open();
	int err;

	if (!skel)
		return -errno;
	skel->rodata->sl_debug = o->debug;
	err = load_skel(skel->skeleton, skel->obj, o, cgfd, false);
	sockops__destroy(skel);
	return err;
}

/* The live-flow iterator walks sl_sock_store. An iterator link has no
 * traffic behind it, so replacing it is unlink + pin of a new link. */
static int load_flows_iter(const struct sl_load_opts *o)
{
	union bpf_iter_link_info linfo;
	LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &linfo,
		    .link_info_len = sizeof(linfo));
	struct flows_iter *skel;
	struct bpf_link *link = NULL;
	char path[4096];
	int err, mfd;

	err = sl_pin_path(path, sizeof(path), o->pin_root, "maps", "sl_sock_store");
	if (err)
		return err;
	mfd = bpf_obj_get(path);
	if (mfd < 0)
		return -errno;
	skel = flows_iter__open_and_load();
	if (!skel) {
		err = -errno;
		goto out;
	}
	memset(&linfo, 0, sizeof(linfo));
	linfo.map.map_fd = (__u32)mfd;
	link = bpf_program__attach_iter(skel->progs.sl_flows_iter, &opts);
	if (!link) {
		err = -errno;
		pr_warn("sluice: attach sl_flows_iter: %s\n", strerror(-err));
		goto out;
	}
	sl_pin_path(path, sizeof(path), o->pin_root, "links", "sl_flows_iter");
	if (unlink(path) < 0 && errno != ENOENT) {
		err = -errno;
		goto out;
	}
	err = bpf_link__pin(link, path);
out:
	if (link) {
		bpf_link__disconnect(link);
		bpf_link__destroy(link);
	}
	flows_iter__destroy(skel);
	close(mfd);
	return err;
}

int sl_load(const struct sl_load_opts *o)
{
	int err, cgfd, lock;

	err = sl_check_bpffs(o->pin_root);
	if (err) {
		pr_warn("sluice: %s is not on a bpf filesystem (mount -t bpf bpf /sys/fs/bpf)\n",
			o->pin_root);
		return err;
	}
	err = make_dirs(o->pin_root);
	if (err) {
		pr_warn("sluice: %s: %s\n", o->pin_root, strerror(-err));
		return err;
	}
	lock = sl_lock(o->pin_root);
	if (lock < 0)
		return lock;
	cgfd = open_cgroup(o->cgroup);
	if (cgfd < 0) {
		err = cgfd;
		goto out_unlock;
	}
	/* sockops first: once connect4 starts counting, the close side must
	 * already be there to release what it counts. */
	err = load_sockops(o, cgfd);
	if (!err)
		err = load_sock_lb(o, cgfd);
	/* Live flow counters only serve observability: a kernel that refuses
	 * tracing programs (lockdown, no CAP_PERFMON) still gets a data plane. */
	if (!err && !o->no_attach && load_flows_iter(o))
		pr_warn("sluice: live flow counters unavailable (tracing iterator refused)\n");
	if (!err)
		err = sl_load_node(o);
	close(cgfd);
out_unlock:
	sl_unlock(lock);
	return err;
}

static int for_each_pin(const char *dir, int (*fn)(const char *path))
{
	char path[4096];
	struct dirent *de;
	DIR *d = opendir(dir);
	int err = 0, e;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		e = fn(path);
		if (e && !err)
			err = e;
	}
	closedir(d);
	if (rmdir(dir) < 0 && !err)
		err = -errno;
	return err;
}

static int detach_link(const char *path)
{
	int fd = bpf_obj_get(path);

	if (fd >= 0) {
		/* Detach even if someone else still holds an fd to the link. */
		if (bpf_link_detach(fd) && errno != EINVAL && errno != EOPNOTSUPP)
			pr_warn("sluice: detach %s: %s\n", path, strerror(errno));
		close(fd);
	}
	return unlink(path) < 0 ? -errno : 0;
}

static int remove_pin(const char *path)
{
	int err = sl_detach_tc_legacy(path);

	if (err)
		pr_warn("sluice: detach %s: %s\n", path, strerror(-err));
	return unlink(path) < 0 ? -errno : 0;
}

int sl_unload(const char *root)
{
	char path[4096];
	int lock, err, e;

	lock = sl_lock(root);
	if (lock < 0) {
		if (lock == -ENOENT)
			pr_warn("sluice: %s: not loaded\n", root);
		return lock;
	}
	sl_pin_path(path, sizeof(path), root, "links", NULL);
	err = for_each_pin(path, detach_link);
	sl_pin_path(path, sizeof(path), root, "progs", NULL);
	e = for_each_pin(path, remove_pin);
	err = err ? err : e;
	sl_pin_path(path, sizeof(path), root, "maps", NULL);
	e = for_each_pin(path, remove_pin);
	err = err ? err : e;
	sl_unlock(lock);
	if (rmdir(root) < 0 && !err)
		err = -errno;
	return err;
}
