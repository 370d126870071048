// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Whether sockops runs: see sockops_link.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/membarrier.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>

#include "mapio.h"
#include "sockops_link.h"
#include "util.h"

#define LINK_NAME "sl_sockops"
/* A connection handed off longer ago than this is not waiting for its
 * SYN-ACK: the proxy is local, its kernel answers within microseconds. */
#define PENDING_NS (3ull * 1000000000ull)
#define PENDING_WAIT_MS 200

const char *sl_sockops_mode_name(enum sl_sockops_mode m)
{
	return (unsigned)m < 3 ? sl_sockops_modes[m] : "?";
}

enum sl_sockops_mode sl_sockops_mode_of(const struct sl_load_rec *r)
{
	if (r->flags & SL_LOAD_F_NO_SOCKOPS)
		return SL_SOCKOPS_OFF;
	return r->flags & SL_LOAD_F_SOCKOPS_AUTO ? SL_SOCKOPS_AUTO : SL_SOCKOPS_ON;
}

bool sl_tables_hand_off(const struct sl_tables *t)
{
	for (size_t i = 0; t && i < t->n_svcs; i++)
		if (t->svcs[i].val.handoff_reasons)
			return true;
	return false;
}

int sl_slot_hands_off(struct sl_svctab t, __u32 slot)
{
	struct sl_svc_key *keys = NULL;
	struct sl_svc_val *vals = NULL;
	size_t n = 0;
	int err = sl_svc_list(t, slot, &keys, &vals, &n), found = 0;

	for (size_t i = 0; !err && i < n && !found; i++)
		found = vals[i].handoff_reasons != 0;
	free(keys);
	free(vals);
	return err ? err : found;
}

int sl_sockops_needed(struct sl_svctab t, const struct sl_config *cfg)
{
	return cfg->proxy_port ? sl_slot_hands_off(t, cfg->active_slot) : 0;
}

static int link_path(char *buf, size_t len, const char *root)
{
	return sl_pin_path(buf, len, root, "links", LINK_NAME);
}

bool sl_sockops_linked(const char *root)
{
	char path[4096];

	return !link_path(path, sizeof(path), root) && !access(path, F_OK);
}

static int read_rec(struct sl_maps *m, struct sl_load_rec *r)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(m->fd[SL_MAP_LOAD], &zero, r) ? -errno : 0;
}

/* The cgroup the record names, if it is still that cgroup. */
static int open_cgroup(const struct sl_load_rec *r)
{
	struct stat st;
	int fd = open(r->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || (__u64)st.st_ino != r->cgroup_id) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

static void close_fds(const int *fd, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fd[i] >= 0)
			close(fd[i]);
}

/* A kill after the link exists and before its pin leaves nothing: the
 * link goes with the process's descriptor. */
static int attach(const char *root, const struct sl_load_rec *r)
{
	char link[4096];
	int fd[3] = { -1, -1, -1 }; /* program, cgroup, link */
	int err = link_path(link, sizeof(link), root);

	if (!err && (fd[0] = sl_pin_open(root, "progs", LINK_NAME)) < 0)
		err = fd[0];
	if (!err && (fd[1] = open_cgroup(r)) < 0)
		err = fd[1];
	if (!err && (fd[2] = bpf_link_create(fd[0], fd[1], BPF_CGROUP_SOCK_OPS, NULL)) < 0)
		err = -errno;
	if (!err && bpf_obj_pin(fd[2], link))
		err = -errno;
	if (err)
		pr_warn("sluice: attach sockops to %s: %s\n", r->cgroup, strerror(-err));
	close_fds(fd, 3);
	return err;
}

/* The pin goes first: a kill after it leaves the link to the process's
 * descriptor, which detaches it on exit. bpf_link_detach() detaches it
 * even while a reader (`sluice status`) holds it open. */
static int detach(const char *root)
{
	char path[4096];
	int fd, err = link_path(path, sizeof(path), root);

	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	err = unlink(path) ? -errno : 0;
	if (!err && bpf_link_detach(fd) && errno != EINVAL)
		err = -errno;
	close(fd);
	return err;
}

int sl_sockops_before_switch(const char *root, struct sl_maps *m, const struct sl_config *cfg,
			     const struct sl_tables *new)
{
	struct sl_load_rec r;

	if (!root || !cfg->proxy_port || !sl_tables_hand_off(new) || sl_sockops_linked(root))
		return 0;
	if (read_rec(m, &r))
		return -errno;
	/* A load that attached nothing (`--no-attach`) has no cgroup. */
	if (sl_sockops_mode_of(&r) != SL_SOCKOPS_AUTO || !r.cgroup_id)
		return 0;
	return attach(root, &r);
}

/* Connections handed off whose record sockops has not written yet: to the
 * proxy, neither established nor closed, started just now. */
static long pending_handoffs(int fd)
{
	struct sl_sock *v = malloc(SL_MAX_SOCKS * sizeof(*v));
	__u64 now = sl_now_mono_ns();
	long n = 0;
	int err = v ? sl_array_read(fd, 0, SL_MAX_SOCKS, v, sizeof(*v)) : -ENOMEM;

	for (__u32 i = 0; !err && i < SL_MAX_SOCKS; i++) {
		const struct sl_sock *s = &v[i];
		const __u32 done = SL_SOCK_F_ESTABLISHED | SL_SOCK_F_RELEASED | SL_SOCK_F_CLOSED;

		n += s->owner && (s->flags & SL_SOCK_F_HANDOFF) && !(s->flags & done) &&
		     !s->end_ns && now - s->start_ns < PENDING_NS;
	}
	free(v);
	return err ? err : n;
}

/* Every connect4 that read the policy before the switch has returned,
 * so its socket's record is in the table: the programs run inside RCU
 * read sections, which MEMBARRIER_CMD_GLOBAL waits for (a grace period).
 * Kernels that refuse it (nohz_full) get a pause instead. */
static void wait_for_readers(void)
{
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		usleep(20 * 1000);
}

static int detach_when_quiet(const char *root, struct sl_maps *m, __u32 *late)
{
	uint64_t t0;
	long n;

	wait_for_readers();
	t0 = sl_now_mono_ns();
	for (;;) {
		n = pending_handoffs(m->fd[SL_MAP_SOCKS]);
		if (n <= 0 || sl_ms_since(t0) >= PENDING_WAIT_MS)
			break;
		usleep(5 * 1000);
	}
	if (n < 0)
		return (int)n;
	*late = (__u32)n;
	if (n)
		pr_warn("sluice: detached sockops with %ld handed-off connection(s) still "
			"connecting: the proxy finds no record for them and resets them\n", n);
	return detach(root);
}

int sl_sockops_after_switch(const char *root, struct sl_maps *m, const struct sl_config *cfg,
			    const struct sl_tables *old, const struct sl_tables *new, bool partial,
			    __u32 *late)
{
	struct sl_load_rec r;
	int need;

	*late = 0;
	if (!root || !sl_sockops_linked(root))
		return 0;
	if (partial) {
		/* A change that took no hand-off away leaves the need as it was. */
		if (sl_tables_hand_off(new) || !sl_tables_hand_off(old))
			return 0;
		need = sl_sockops_needed(sl_svctab_of(m), cfg);
	} else {
		need = cfg->proxy_port && sl_tables_hand_off(new);
	}
	if (need)
		return need < 0 ? need : 0;
	if (read_rec(m, &r))
		return -errno;
	if (sl_sockops_mode_of(&r) != SL_SOCKOPS_AUTO)
		return 0;
	return detach_when_quiet(root, m, late);
}

int sl_sockops_needed_at(const char *root)
{
	int fd[3] = { sl_pin_open(root, "maps", "sl_services"),
		      sl_pin_open(root, "maps", "sl_svc_index"),
		      sl_pin_open(root, "maps", "sl_config") };
	struct sl_config cfg;
	__u32 zero = 0;
	int err = fd[0] < 0 ? fd[0] : fd[1] < 0 ? fd[1] : fd[2] < 0 ? fd[2] : 0;

	if (!err && bpf_map_lookup_elem(fd[2], &zero, &cfg))
		err = -errno;
	if (!err)
		err = sl_sockops_needed((struct sl_svctab){ .rows = fd[0], .index = fd[1] }, &cfg);
	close_fds(fd, 3);
	return err;
}

int sl_sockops_reconcile(const char *root, struct sl_maps *m, __u32 *late)
{
	struct sl_load_rec r;
	struct sl_config cfg;
	__u32 zero = 0;
	int need;

	*late = 0;
	if (!sl_sockops_linked(root) || read_rec(m, &r) || sl_sockops_mode_of(&r) != SL_SOCKOPS_AUTO)
		return 0;
	if (bpf_map_lookup_elem(m->fd[SL_MAP_CONFIG], &zero, &cfg))
		return -errno;
	need = sl_sockops_needed(sl_svctab_of(m), &cfg);
	if (need)
		return need < 0 ? need : 0;
	return detach_when_quiet(root, m, late);
}
