// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The load transaction (see txn.h). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pins.h"
#include "txn.h"
#include "util.h"

enum op {
	OP_DIR, /* created a directory */
	OP_PIN_NEW, /* created a pin */
	OP_PIN_REPLACED, /* replaced a pin; fd = the old object */
	OP_LINK_NEW, /* created and pinned a link; fd = the link */
	OP_LINK_UPDATED, /* fd = the link, fd2 = its old program */
	OP_LINK_REMOVED, /* unpinned a link; fd = the link, detached at the end */
	OP_MAP, /* fd = the map, key/val = the old value (had: it existed) */
	OP_TC_LEGACY, /* fd2 = the old program or -1 */
};

struct entry {
	enum op op;
	char *path;
	int fd, fd2;
	void *key, *val;
	size_t vsz;
	bool had;
	int ifindex;
	bool ingress;
	__u32 handle, prio;
};

struct sl_txn {
	char root[4096];
	int lock;
	struct entry *v;
	size_t n, cap;
	char **maps_before; /* map pins present at the start */
	size_t n_maps_before;
};

/* --- test hooks ---------------------------------------------------------- */

static bool env_is(const char *var, const char *kind, const char *name)
{
	const char *v = getenv(var);
	size_t k = strlen(kind);

	return v && !strncmp(v, kind, k) && v[k] == ':' && !strcmp(v + k + 1, name);
}

int sl_txn_step(const char *kind, const char *name)
{
	const char *log = getenv("SLUICE_TEST_STEPS");

	if (log && *log) {
		FILE *f = fopen(log, "ae");

		if (f) {
			fprintf(f, "%s:%s\n", kind, name);
			fclose(f);
		}
	}
	if (env_is("SLUICE_TEST_KILL", kind, name))
		raise(SIGKILL);
	if (strcmp(kind, "load") && env_is("SLUICE_TEST_FAIL", kind, name)) {
		pr_warn("sluice: %s:%s: injected failure (SLUICE_TEST_FAIL)\n", kind, name);
		return -ECANCELED;
	}
	return 0;
}

/* `r0 = r5; exit`: the verifier refuses to read an uninitialised register,
 * so the kernel itself rejects the program, as it would a broken build. */
static int make_invalid(struct bpf_program *prog)
{
	static const struct bpf_insn bad[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_0, .src_reg = BPF_REG_5 },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_program__set_insns(prog, (struct bpf_insn *)bad, 2);
}

/* --- pin root ------------------------------------------------------------ */

static int trust_dir(const char *path, bool must_exist)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT && !must_exist)
			return 0;
		pr_warn("sluice: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		pr_warn("sluice: pin root %s: not a directory; refusing it\n", path);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid()) {
		pr_warn("sluice: pin root %s is owned by uid %u, not by us (uid %u): another user "
			"could move pins under us; refusing it (remove it, or chown it)\n",
			path, st.st_uid, geteuid());
		return -EPERM;
	}
	if (st.st_mode & 022) {
		pr_warn("sluice: pin root %s has mode %04o: writable by others, who could move "
			"pins under us; refusing it (chmod 700 %s)\n",
			path, st.st_mode & 07777, path);
		return -EPERM;
	}
	return 0;
}

int sl_pin_root_check(const char *root)
{
	static const char *const sub[] = { "maps", "links", "progs" };
	char path[4096];
	int err = sl_check_bpffs(root);

	if (err) {
		pr_warn("sluice: %s is not on a bpf filesystem (mount -t bpf bpf /sys/fs/bpf)\n",
			root);
		return err;
	}
	err = trust_dir(root, false);
	for (size_t i = 0; !err && i < sizeof(sub) / sizeof(sub[0]); i++) {
		err = sl_pin_path(path, sizeof(path), root, sub[i], NULL);
		if (!err)
			err = trust_dir(path, false);
	}
	return err;
}

/* --- journal ------------------------------------------------------------- */

static struct entry *push(struct sl_txn *t, enum op op, const char *path)
{
	struct entry *e;

	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 32;
		struct entry *nv = realloc(t->v, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		t->v = nv;
		t->cap = cap;
	}
	e = &t->v[t->n];
	memset(e, 0, sizeof(*e));
	e->op = op;
	e->fd = e->fd2 = -1;
	e->path = path ? strdup(path) : NULL;
	if (path && !e->path)
		return NULL;
	t->n++;
	return e;
}

static int mkdir_logged(struct sl_txn *t, const char *path)
{
	if (mkdir(path, 0700) == 0)
		return push(t, OP_DIR, path) ? 0 : -ENOMEM;
	return errno == EEXIST ? 0 : -errno;
}

static int mkdirs(struct sl_txn *t, const char *root)
{
	char buf[4096], *p;
	int err = 0;

	snprintf(buf, sizeof(buf), "%s", root);
	for (p = buf + 1; *p && !err; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		err = mkdir_logged(t, buf);
		*p = '/';
	}
	return err ? err : mkdir_logged(t, buf);
}

static void snapshot_maps(struct sl_txn *t)
{
	char dir[4096];
	struct dirent *de;
	DIR *d;

	if (sl_pin_path(dir, sizeof(dir), t->root, "maps", NULL) || !(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		char **nv;

		if (de->d_name[0] == '.')
			continue;
		nv = realloc(t->maps_before, (t->n_maps_before + 1) * sizeof(*nv));
		if (!nv)
			break;
		t->maps_before = nv;
		nv[t->n_maps_before] = strdup(de->d_name);
		if (nv[t->n_maps_before])
			t->n_maps_before++;
	}
	closedir(d);
}

int sl_txn_begin(struct sl_txn **tp, const char *root)
{
	static const char *const sub[] = { "maps", "links", "progs" };
	struct sl_txn *t = calloc(1, sizeof(*t));
	char path[4096];
	int err;

	if (!t)
		return -ENOMEM;
	t->lock = -1;
	snprintf(t->root, sizeof(t->root), "%s", root);
	err = mkdirs(t, root);
	/* Checked again now that it exists: nobody may have slipped in a
	 * directory of their own between the first check and mkdir. */
	if (!err)
		err = trust_dir(root, true);
	if (!err) {
		t->lock = sl_lock(root);
		err = t->lock < 0 ? t->lock : 0;
	}
	for (size_t i = 0; !err && i < sizeof(sub) / sizeof(sub[0]); i++) {
		err = sl_pin_path(path, sizeof(path), root, sub[i], NULL);
		if (!err)
			err = mkdir_logged(t, path);
	}
	if (err) {
		pr_warn("sluice: %s: %s\n", root, strerror(-err));
		sl_txn_end(t, err);
		return err;
	}
	snapshot_maps(t);
	*tp = t;
	return 0;
}

const char *sl_txn_root(const struct sl_txn *t)
{
	return t->root;
}

/* --- undo ------------------------------------------------------------------ */

static void undo_tc_legacy(const struct entry *e)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = e->ifindex,
		    .attach_point = e->ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = e->handle, .priority = e->prio);

	if (e->fd2 < 0) {
		bpf_tc_detach(&hook, &opts);
		return;
	}
	opts.prog_fd = e->fd2;
	opts.flags = BPF_TC_F_REPLACE;
	if (bpf_tc_attach(&hook, &opts))
		pr_warn("sluice: undo: cls_bpf on ifindex %d: %s\n", e->ifindex, strerror(errno));
}

static void undo_one(const struct entry *e)
{
	switch (e->op) {
	case OP_DIR:
		if (rmdir(e->path) < 0)
			pr_warn("sluice: undo: rmdir %s: %s\n", e->path, strerror(errno));
		break;
	case OP_PIN_NEW:
		unlink(e->path);
		break;
	case OP_PIN_REPLACED:
	case OP_LINK_REMOVED:
		unlink(e->path);
		if (bpf_obj_pin(e->fd, e->path))
			pr_warn("sluice: undo: re-pin %s: %s\n", e->path, strerror(errno));
		break;
	case OP_LINK_NEW:
		bpf_link_detach(e->fd);
		unlink(e->path);
		break;
	case OP_LINK_UPDATED:
		if (e->fd2 < 0 || bpf_link_update(e->fd, e->fd2, NULL))
			pr_warn("sluice: undo: %s keeps the new program: %s\n", e->path,
				e->fd2 < 0 ? "its previous program is unknown" : strerror(errno));
		break;
	case OP_MAP:
		if (e->had)
			bpf_map_update_elem(e->fd, e->key, e->val, BPF_ANY);
		else
			bpf_map_delete_elem(e->fd, e->key);
		break;
	case OP_TC_LEGACY:
		undo_tc_legacy(e);
		break;
	}
}

static bool was_there(const struct sl_txn *t, const char *name)
{
	for (size_t i = 0; i < t->n_maps_before; i++)
		if (!strcmp(t->maps_before[i], name))
			return true;
	return false;
}

/* Map pins that this transaction's object loads created. */
static void undo_new_maps(const struct sl_txn *t)
{
	char dir[4096], path[4096 + 256];
	struct dirent *de;
	DIR *d;

	if (sl_pin_path(dir, sizeof(dir), t->root, "maps", NULL) || !(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || was_there(t, de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

static void release(struct entry *e)
{
	if (e->fd >= 0)
		close(e->fd);
	if (e->fd2 >= 0)
		close(e->fd2);
	free(e->path);
	free(e->key);
	free(e->val);
}

int sl_txn_end(struct sl_txn *t, int err)
{
	bool maps_done = false;

	if (!t)
		return err;
	for (size_t i = t->n; err && i-- > 0;) {
		/* Directories were journalled first: before the first of them
		 * goes, the map pins that object loads created go too. */
		if (t->v[i].op == OP_DIR && !maps_done) {
			undo_new_maps(t);
			maps_done = true;
		}
		undo_one(&t->v[i]);
	}
	if (err && !maps_done)
		undo_new_maps(t);
	/* Detached even if another process still holds the link open. */
	for (size_t i = 0; !err && i < t->n; i++)
		if (t->v[i].op == OP_LINK_REMOVED && bpf_link_detach(t->v[i].fd))
			pr_warn("sluice: detach %s: %s\n", t->v[i].path, strerror(errno));
	for (size_t i = 0; i < t->n; i++)
		release(&t->v[i]);
	for (size_t i = 0; i < t->n_maps_before; i++)
		free(t->maps_before[i]);
	free(t->maps_before);
	free(t->v);
	sl_unlock(t->lock);
	free(t);
	return err;
}

/* --- objects, pins, links ---------------------------------------------------- */

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

int sl_txn_load_obj(struct sl_txn *t, struct bpf_object *obj, struct bpf_object_skeleton *sk)
{
	struct bpf_program *prog;
	int err = set_map_pins(obj, t->root);

	bpf_object__for_each_program(prog, obj) {
		if (!err)
			err = sl_txn_step("load", bpf_program__name(prog));
		if (!err && env_is("SLUICE_TEST_FAIL", "load", bpf_program__name(prog)))
			err = make_invalid(prog);
	}
	if (!err)
		err = bpf_object__load_skeleton(sk);
	return err;
}

int sl_txn_old_pin(const struct sl_txn *t, const char *kind, const char *name)
{
	char path[4096];

	if (sl_pin_path(path, sizeof(path), t->root, kind, name))
		return -1;
	for (size_t i = t->n; i-- > 0;)
		if (t->v[i].op == OP_PIN_REPLACED && !strcmp(t->v[i].path, path))
			return t->v[i].fd;
	return -1;
}

int sl_txn_pin(struct sl_txn *t, const char *kind, const char *name, int fd)
{
	char path[4096], step[300];
	struct entry *e;
	int old, err;

	snprintf(step, sizeof(step), "%s/%s", kind, name);
	err = sl_txn_step("pin", step);
	if (!err)
		err = sl_pin_path(path, sizeof(path), t->root, kind, name);
	if (err)
		return err;
	old = access(path, F_OK) ? -1 : bpf_obj_get(path);
	e = push(t, old >= 0 ? OP_PIN_REPLACED : OP_PIN_NEW, path);
	if (!e) {
		if (old >= 0)
			close(old);
		return -ENOMEM;
	}
	e->fd = old;
	if (old >= 0 && unlink(path) < 0)
		return -errno;
	return bpf_obj_pin(fd, path) ? -errno : 0;
}

/* Remove the pin at PATH; undo pins the object again. OP_LINK_REMOVED also
 * detaches it when the transaction ends well. */
static int unpin_as(struct sl_txn *t, const char *path, enum op op)
{
	int old = bpf_obj_get(path);
	struct entry *e;

	if (old < 0)
		return -errno;
	e = push(t, op, path);
	if (!e) {
		close(old);
		return -ENOMEM;
	}
	e->fd = old;
	return unlink(path) < 0 ? -errno : 0;
}

/* The program a live link runs, where the kernel lets us open it by id. */
static int link_prog_fd(int link_fd)
{
	struct bpf_link_info li;
	__u32 len = sizeof(li);

	memset(&li, 0, sizeof(li));
	if (bpf_link_get_info_by_fd(link_fd, &li, &len))
		return -1;
	return bpf_prog_get_fd_by_id(li.prog_id);
}

static int link_update(struct sl_txn *t, const char *path, int lfd, int prog_fd, int old_prog_fd)
{
	int old = old_prog_fd >= 0 ? dup(old_prog_fd) : link_prog_fd(lfd);
	struct entry *e;

	/* Journalled only once it happened: a failed update changed nothing. */
	if (bpf_link_update(lfd, prog_fd, NULL)) {
		int err = -errno;

		if (old >= 0)
			close(old);
		close(lfd);
		return err;
	}
	e = push(t, OP_LINK_UPDATED, path);
	if (!e) {
		if (old < 0 || bpf_link_update(lfd, old, NULL))
			pr_warn("sluice: %s: cannot record the update, nor take it back\n", path);
		if (old >= 0)
			close(old);
		close(lfd);
		return -ENOMEM;
	}
	e->fd = lfd;
	e->fd2 = old;
	return 0;
}

static int link_create(struct sl_txn *t, const char *path, int prog_fd, const struct sl_target *tgt)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = tgt->flags);
	struct entry *e;
	int fd = bpf_link_create(prog_fd, tgt->fd_or_ifindex, tgt->type, &opts);

	if (fd < 0)
		return -errno;
	e = push(t, OP_LINK_NEW, path);
	if (!e) {
		bpf_link_detach(fd);
		close(fd);
		return -ENOMEM;
	}
	e->fd = fd;
	return bpf_obj_pin(fd, path) ? -errno : 0;
}

int sl_txn_unlink(struct sl_txn *t, const char *name)
{
	char path[4096];
	int err = sl_txn_step("detach", name);

	if (!err)
		err = sl_pin_path(path, sizeof(path), t->root, "links", name);
	if (err)
		return err;
	return access(path, F_OK) ? 0 : unpin_as(t, path, OP_LINK_REMOVED);
}

int sl_txn_link(struct sl_txn *t, const char *name, int prog_fd, int old_prog_fd,
		const struct sl_target *tgt)
{
	char path[4096];
	int lfd, err = sl_txn_step("attach", name);

	if (!err)
		err = sl_pin_path(path, sizeof(path), t->root, "links", name);
	if (err)
		return err;
	lfd = access(path, F_OK) ? -1 : bpf_obj_get(path);
	if (lfd >= 0) {
		err = link_update(t, path, lfd, prog_fd, old_prog_fd);
		if (err != -ENOLINK)
			return err;
		/* The interface went away and came back: the pinned link is
		 * defunct. Drop its pin (undo puts it back) and attach anew. */
		err = unpin_as(t, path, OP_PIN_REPLACED);
		if (err)
			return err;
	}
	return link_create(t, path, prog_fd, tgt);
}

int sl_txn_save(struct sl_txn *t, int map_fd, const void *key, size_t key_size,
		size_t value_size)
{
	struct entry *e = push(t, OP_MAP, NULL);

	if (!e)
		return -ENOMEM;
	e->fd = dup(map_fd);
	e->key = malloc(key_size);
	e->val = malloc(value_size);
	if (e->fd < 0 || !e->key || !e->val)
		return -ENOMEM;
	memcpy(e->key, key, key_size);
	e->vsz = value_size;
	e->had = !bpf_map_lookup_elem(map_fd, key, e->val);
	return 0;
}

int sl_txn_tc_legacy(struct sl_txn *t, int ifindex, bool ingress, int prog_fd, int old_prog_fd,
		     __u32 handle, __u32 prio)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = prio, .prog_fd = prog_fd,
		    .flags = BPF_TC_F_REPLACE);
	struct entry *e;
	int err = bpf_tc_hook_create(&hook);

	if (err && err != -EEXIST)
		return err;
	e = push(t, OP_TC_LEGACY, NULL);
	if (!e)
		return -ENOMEM;
	e->ifindex = ifindex;
	e->ingress = ingress;
	e->handle = handle;
	e->prio = prio;
	e->fd2 = old_prog_fd >= 0 ? dup(old_prog_fd) : -1;
	return bpf_tc_attach(&hook, &opts);
}
