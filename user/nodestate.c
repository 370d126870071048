// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The node as it is (see nodestate.h). What a whole data plane is, derived
 * from the pins and the load record alone, so that it needs no program
 * list of its own that could go stale:
 *   - every map of pins.h is pinned;
 *   - the record says COMPLETE (LOADING: a load started and never ended);
 *   - every program the record names is pinned under progs/;
 *   - every pinned cgroup program (sock_addr, sock, sockops) has its link,
 *     attached to the record's cgroup;
 *   - the iterator has its link when the record says it is the flow source;
 *   - per interface, the hooks come in pairs: xdp with tc_nat, and
 *     tc_pod_from with tc_pod_to.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "nodestate.h"
#include "pins.h"
#include "sockops_link.h"
#include "util.h"

/* Attach types of the socket hooks, for the stray check. */
static const enum bpf_attach_type cgroup_types[] = {
	BPF_CGROUP_INET4_CONNECT,     BPF_CGROUP_INET6_CONNECT,	  BPF_CGROUP_UDP4_SENDMSG,
	BPF_CGROUP_UDP6_SENDMSG,      BPF_CGROUP_UDP4_RECVMSG,	  BPF_CGROUP_UDP6_RECVMSG,
	BPF_CGROUP_INET4_GETPEERNAME, BPF_CGROUP_INET6_GETPEERNAME, BPF_CGROUP_INET_SOCK_RELEASE,
	BPF_CGROUP_SOCK_OPS,
};

int sl_read_load_rec(const char *root, struct sl_load_rec *r)
{
	char path[4096];
	__u32 zero = 0;
	int fd, err;

	memset(r, 0, sizeof(*r));
	err = sl_pin_path(path, sizeof(path), root, "maps", "sl_load");
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	err = bpf_map_lookup_elem(fd, &zero, r) ? -errno : 0;
	close(fd);
	return err;
}

static void problem(struct sl_node_state *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct sl_node_state *s, const char *fmt, ...)
{
	size_t used = strlen(s->problems);
	va_list ap;

	s->complete = false;
	if (used + 2 >= sizeof(s->problems))
		return;
	va_start(ap, fmt);
	vsnprintf(s->problems + used, sizeof(s->problems) - used - 1, fmt, ap);
	va_end(ap);
	used = strlen(s->problems);
	s->problems[used] = '\n';
	s->problems[used + 1] = 0;
}

static void check_maps(const char *root, struct sl_node_state *s)
{
	char path[4096];

	s->maps_ok = true;
	for (int i = 0; i < SL_MAP__COUNT; i++) {
		if (sl_pin_path(path, sizeof(path), root, "maps", sl_map_names[i]) ||
		    !access(path, F_OK))
			continue;
		s->maps_ok = false;
		snprintf(s->missing_maps + strlen(s->missing_maps),
			 sizeof(s->missing_maps) - strlen(s->missing_maps), "%s%s",
			 s->missing_maps[0] ? "," : "", sl_map_names[i]);
	}
	if (!s->maps_ok)
		problem(s, "maps not pinned: %s", s->missing_maps);
}

/* --- pinned programs ----------------------------------------------------- */

struct prog_pin {
	char name[96];
	struct bpf_prog_info info;
};

static size_t read_prog_pins(const char *root, struct prog_pin **out, struct sl_node_state *s)
{
	char dir[4096], path[4096 + 300];
	struct prog_pin *v = NULL;
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (sl_pin_path(dir, sizeof(dir), root, "progs", NULL) || !(d = opendir(dir)))
		return 0;
	while ((de = readdir(d))) {
		struct prog_pin *nv;
		__u32 len = sizeof(nv->info);
		int fd;

		if (de->d_name[0] == '.' || !(nv = realloc(v, (n + 1) * sizeof(*v))))
			continue;
		v = nv;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		memset(&v[n], 0, sizeof(v[n]));
		snprintf(v[n].name, sizeof(v[n].name), "%.95s", de->d_name);
		fd = bpf_obj_get(path);
		if (fd >= 0 && !bpf_prog_get_info_by_fd(fd, &v[n].info, &len))
			n++;
		if (fd >= 0)
			close(fd);
	}
	closedir(d);
	s->progs = calloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; s->progs && i < n; i++)
		s->progs[s->n_progs++] = strdup(v[i].name);
	*out = v;
	return n;
}

static const struct prog_pin *prog_by_id(const struct prog_pin *p, size_t n, __u32 id)
{
	for (size_t i = 0; i < n; i++)
		if (p[i].info.id == id)
			return &p[i];
	return NULL;
}

static bool is_cgroup_type(__u32 type)
{
	return type == BPF_PROG_TYPE_CGROUP_SOCK_ADDR || type == BPF_PROG_TYPE_CGROUP_SOCK ||
	       type == BPF_PROG_TYPE_SOCK_OPS;
}

/* --- links ---------------------------------------------------------------- */

static struct sl_link_state *add_link(struct sl_node_state *s, const char *name)
{
	struct sl_link_state *nv = realloc(s->links, (s->n_links + 1) * sizeof(*nv));

	if (!nv)
		return NULL;
	s->links = nv;
	nv = &s->links[s->n_links++];
	memset(nv, 0, sizeof(*nv));
	snprintf(nv->name, sizeof(nv->name), "%.95s", name);
	return nv;
}

static void link_target(struct sl_link_state *l, const struct bpf_link_info *li, __u64 cgid)
{
	switch (li->type) {
	case BPF_LINK_TYPE_CGROUP:
		l->attach_type = li->cgroup.attach_type;
		l->cgroup_id = li->cgroup.cgroup_id;
		if (!l->cgroup_id)
			l->status = SL_LINK_DETACHED;
		else if (cgid && l->cgroup_id != cgid)
			l->status = SL_LINK_ELSEWHERE;
		break;
	case BPF_LINK_TYPE_XDP:
		l->attach_type = BPF_XDP;
		l->ifindex = li->xdp.ifindex;
		l->status = l->ifindex ? SL_LINK_ATTACHED : SL_LINK_DETACHED;
		break;
	case BPF_LINK_TYPE_TCX:
		l->attach_type = li->tcx.attach_type;
		l->ifindex = li->tcx.ifindex;
		l->status = l->ifindex ? SL_LINK_ATTACHED : SL_LINK_DETACHED;
		break;
	case BPF_LINK_TYPE_ITER:
		l->attach_type = BPF_TRACE_ITER;
		break;
	default:
		break;
	}
}

static void read_links(const char *root, struct sl_node_state *s, const struct prog_pin *pp,
		       size_t np)
{
	char dir[4096], path[4096 + 300];
	struct dirent *de;
	DIR *d;

	if (sl_pin_path(dir, sizeof(dir), root, "links", NULL) || !(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		struct bpf_link_info li;
		__u32 len = sizeof(li);
		const struct prog_pin *p;
		struct sl_link_state *l;
		int fd;

		if (de->d_name[0] == '.' || !(l = add_link(s, de->d_name)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		memset(&li, 0, sizeof(li));
		fd = bpf_obj_get(path);
		if (fd < 0 || bpf_link_get_info_by_fd(fd, &li, &len)) {
			l->status = SL_LINK_UNREADABLE;
		} else {
			l->prog_id = li.prog_id;
			link_target(l, &li, s->rec.cgroup_id);
		}
		if (fd >= 0)
			close(fd);
		p = prog_by_id(pp, np, l->prog_id);
		if (p) {
			snprintf(l->prog, sizeof(l->prog), "%s", p->info.name);
			l->run_cnt = p->info.run_cnt;
			l->run_time_ns = p->info.run_time_ns;
		}
	}
	closedir(d);
}

static struct sl_link_state *find_link(struct sl_node_state *s, const char *name)
{
	for (size_t i = 0; i < s->n_links; i++)
		if (!strcmp(s->links[i].name, name))
			return &s->links[i];
	return NULL;
}

/* The hook a legacy filter's program serves: "tc_pod_from" for sl_tc_pod_from. */
static const char *hook_of(const struct prog_pin *p)
{
	return strncmp(p->info.name, "sl_", 3) ? p->info.name : p->info.name + 3;
}

/* Kernels without tcx: each progs/tc-<in|out>@IF stands for a cls_bpf
 * filter (SL_TC_HANDLE, SL_TC_PRIO). It is listed like a tcx link, under
 * its hook's name, attached while that filter runs the pinned program, so
 * that status, metrics and the pair check see the same node either way. */
static void read_legacy_tc(struct sl_node_state *s, const struct prog_pin *pp, size_t np)
{
	for (size_t i = 0; i < np; i++) {
		LIBBPF_OPTS(bpf_tc_hook, hook);
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SL_TC_HANDLE, .priority = SL_TC_PRIO);
		bool in = !strncmp(pp[i].name, "tc-in@", 6);
		const char *at = strchr(pp[i].name, '@');
		struct sl_link_state *l;
		char name[96];

		if (!at || (!in && strncmp(pp[i].name, "tc-out@", 7)))
			continue;
		snprintf(name, sizeof(name), "%.40s%.50s", hook_of(&pp[i]), at);
		if (find_link(s, name) || !(l = add_link(s, name)))
			continue;
		l->attach_type = in ? BPF_TCX_INGRESS : BPF_TCX_EGRESS;
		l->ifindex = if_nametoindex(at + 1);
		l->prog_id = pp[i].info.id;
		snprintf(l->prog, sizeof(l->prog), "%s", pp[i].info.name);
		l->run_cnt = pp[i].info.run_cnt;
		l->run_time_ns = pp[i].info.run_time_ns;
		hook.ifindex = (int)l->ifindex;
		hook.attach_point = in ? BPF_TC_INGRESS : BPF_TC_EGRESS;
		l->status = l->ifindex && !bpf_tc_query(&hook, &opts) &&
					    opts.prog_id == pp[i].info.id
				    ? SL_LINK_ATTACHED
				    : SL_LINK_DETACHED;
	}
}


/* LINK must exist (attached, unless its interface is gone); a missing one
 * is recorded as such. */
static void expect_link(struct sl_node_state *s, const char *link, const char *why)
{
	struct sl_link_state *l = find_link(s, link);

	if (!l) {
		l = add_link(s, link);
		if (l)
			l->status = SL_LINK_MISSING;
		problem(s, "link %s missing (%s)", link, why);
	} else if (l->status == SL_LINK_ELSEWHERE) {
		problem(s, "link %s is attached to cgroup id %llu, not the recorded %llu", link,
			(unsigned long long)l->cgroup_id, (unsigned long long)s->rec.cgroup_id);
	} else if (l->status == SL_LINK_UNREADABLE) {
		problem(s, "pin links/%s is not a readable link", link);
	} else if (l->status == SL_LINK_DETACHED && l->attach_type != BPF_XDP && !strchr(link, '@')) {
		problem(s, "link %s is detached from its cgroup", link);
	}
	if (l)
		l->required = true;
}

/* Per-interface hooks come in pairs. */
static void expect_pairs(struct sl_node_state *s)
{
	static const char *const pairs[][2] = { { "xdp", "tc_nat" }, { "tc_pod_from", "tc_pod_to" } };
	size_t n = s->n_links;

	for (size_t i = 0; i < n; i++) {
		char name[96], other[200];
		const char *at = strchr(s->links[i].name, '@');

		if (!at || s->links[i].status == SL_LINK_DETACHED)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(at - s->links[i].name), s->links[i].name);
		for (size_t k = 0; k < 2; k++)
			for (size_t j = 0; j < 2; j++)
				if (!strcmp(name, pairs[k][j])) {
					snprintf(other, sizeof(other), "%s%s", pairs[k][1 - j], at);
					if (!find_link(s, other))
						expect_link(s, other, "per-interface hooks come in pairs");
				}
	}
}

/* sockops is loaded always and attached as the mode says: `off` never,
 * `auto` while the live policy hands off (a missing link then means the
 * proxy finds no record for what it is handed and resets it). */
static void expect_sockops(struct sl_node_state *s, const char *name)
{
	if (s->sockops_mode == SL_SOCKOPS_ON)
		expect_link(s, name, "socket hook of the cgroup");
	else if (s->sockops_mode == SL_SOCKOPS_AUTO && s->sockops_needed > 0)
		expect_link(s, name, "--sockops auto: the live policy hands off to the proxy");
}

static void expect_programs(struct sl_node_state *s, const struct prog_pin *pp, size_t np)
{
	for (__u32 i = 0; i < s->rec.n_prog_ids && i < SL_LOAD_MAX_PROGS; i++)
		if (!prog_by_id(pp, np, s->rec.prog_ids[i]))
			problem(s, "program id %u of the last load is not pinned under progs/",
				s->rec.prog_ids[i]);
	for (size_t i = 0; i < np; i++) {
		if (pp[i].info.type == BPF_PROG_TYPE_SOCK_OPS) {
			expect_sockops(s, pp[i].name);
			continue;
		}
		if (is_cgroup_type(pp[i].info.type))
			expect_link(s, pp[i].name, "socket hook of the cgroup");
	}
	if (s->rec.feat[SL_FEAT_LIVE_FLOWS].source == SL_FSRC_ITER)
		expect_link(s, "sl_flows_iter", "live flow counters");
}

/* --- the cgroup as the kernel sees it ---------------------------------------- */

static bool rec_has(const struct sl_load_rec *r, __u32 id)
{
	for (__u32 i = 0; i < r->n_prog_ids && i < SL_LOAD_MAX_PROGS; i++)
		if (r->prog_ids[i] == id)
			return true;
	return false;
}

static bool linked(const struct sl_node_state *s, __u32 id)
{
	for (size_t i = 0; i < s->n_links; i++)
		if (s->links[i].prog_id == id && s->links[i].status == SL_LINK_ATTACHED)
			return true;
	return false;
}

/* Programs of the record attached to its cgroup that no pinned link holds. */
static void check_strays(struct sl_node_state *s)
{
	int fd = s->rec.cgroup[0] ? open(s->rec.cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

	for (size_t t = 0; fd >= 0 && t < sizeof(cgroup_types) / sizeof(cgroup_types[0]); t++) {
		__u32 ids[64], cnt = 64;
		LIBBPF_OPTS(bpf_prog_query_opts, q, .prog_ids = ids, .count = cnt);

		if (bpf_prog_query_opts(fd, cgroup_types[t], &q)) {
			s->stray_unchecked |= errno == EPERM;
			continue;
		}
		for (__u32 i = 0; i < q.count && i < 64; i++)
			if (rec_has(&s->rec, ids[i]) && !linked(s, ids[i]) && s->n_stray < 16) {
				s->stray[s->n_stray++] = ids[i];
				problem(s, "program id %u is attached to %s without a pinned link",
					ids[i], s->rec.cgroup);
			}
	}
	if (fd >= 0)
		close(fd);
}

static void check_record(struct sl_node_state *s)
{
	if (!s->have_rec) {
		problem(s, "no load record (sl_load): a load was interrupted before it wrote one");
		return;
	}
	if (s->rec.phase == SL_LOAD_COMPLETE)
		return;
	s->loader_running = s->rec.pid && kill((pid_t)s->rec.pid, 0) == 0;
	problem(s, "a load started by pid %u %s", s->rec.pid,
		s->loader_running ? "is still running" : "did not finish");
}

int sl_node_inspect(const char *root, struct sl_node_state *s)
{
	struct prog_pin *pp = NULL;
	size_t np;
	struct stat st;

	memset(s, 0, sizeof(*s));
	s->exists = !stat(root, &st);
	if (!s->exists)
		return -ENOENT;
	s->complete = true;
	check_maps(root, s);
	s->have_rec = !sl_read_load_rec(root, &s->rec);
	check_record(s);
	np = read_prog_pins(root, &pp, s);
	read_links(root, s, pp, np);
	read_legacy_tc(s, pp, np);
	if (s->have_rec) {
		s->sockops_mode = sl_sockops_mode_of(&s->rec);
		s->sockops_linked = sl_sockops_linked(root);
		s->sockops_needed = s->sockops_mode == SL_SOCKOPS_AUTO ? sl_sockops_needed_at(root)
								      : s->sockops_mode == SL_SOCKOPS_ON;
		expect_programs(s, pp, np);
		check_strays(s);
	}
	expect_pairs(s);
	free(pp);
	return 0;
}

void sl_node_state_free(struct sl_node_state *s)
{
	for (size_t i = 0; i < s->n_progs; i++)
		free(s->progs[i]);
	free(s->progs);
	free(s->links);
	memset(s, 0, sizeof(*s));
}

/* --- safety checks for load and unload ------------------------------------------ */

static __u32 pinned_link_prog(const char *root, const char *name)
{
	struct bpf_link_info li;
	__u32 len = sizeof(li);
	char path[4096];
	int fd;

	memset(&li, 0, sizeof(li));
	if (sl_pin_path(path, sizeof(path), root, "links", name))
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_link_get_info_by_fd(fd, &li, &len))
		li.prog_id = 0;
	close(fd);
	return li.prog_id;
}

/* The name of program ID, where the kernel lets us open it by id. */
static int prog_name(__u32 id, char *buf, size_t len)
{
	struct bpf_prog_info pi;
	__u32 ilen = sizeof(pi);
	int fd = bpf_prog_get_fd_by_id(id), err = 0;

	if (fd < 0)
		return -errno;
	memset(&pi, 0, sizeof(pi));
	if (bpf_prog_get_info_by_fd(fd, &pi, &ilen))
		err = -errno;
	close(fd);
	snprintf(buf, len, "%s", pi.name);
	return err;
}

int sl_check_cgroup_conflict(const char *root, int cgfd, const char *cgpath)
{
	__u32 ids[64], mine = pinned_link_prog(root, "sl_connect4"), unknown = 0;
	LIBBPF_OPTS(bpf_prog_query_opts, q, .query_flags = BPF_F_QUERY_EFFECTIVE, .prog_ids = ids,
		    .count = 64);
	char name[32];

	if (bpf_prog_query_opts(cgfd, BPF_CGROUP_INET4_CONNECT, &q))
		return 0; /* nothing to see (or not allowed to look): attach decides */
	for (__u32 i = 0; i < q.count && i < 64; i++) {
		if (ids[i] == mine)
			continue;
		if (prog_name(ids[i], name, sizeof(name))) {
			unknown++;
			continue;
		}
		if (!strcmp(name, "sl_connect4")) {
			pr_warn("sluice: cgroup %s already runs Sluice (program %s, id %u) from "
				"another pin root, on it or on a parent cgroup; two data planes "
				"would both translate every connection: unload that one first\n",
				cgpath, name, ids[i]);
			return -EEXIST;
		}
	}
	if (unknown)
		pr_warn("sluice: %u other connect4 program(s) run on cgroup %s; without "
			"CAP_SYS_ADMIN their owners cannot be told apart\n",
			unknown, cgpath);
	return 0;
}

int sl_detach_leftovers(const struct sl_load_rec *r)
{
	__u32 id = 0, left = 0;

	while (!bpf_link_get_next_id(id, &id)) {
		struct bpf_link_info li;
		__u32 len = sizeof(li);
		int fd = bpf_link_get_fd_by_id(id);

		if (fd < 0)
			continue;
		memset(&li, 0, sizeof(li));
		if (!bpf_link_get_info_by_fd(fd, &li, &len) && rec_has(r, li.prog_id)) {
			if (bpf_link_detach(fd) && errno != ENOLINK)
				left++;
			else
				pr_info("sluice: detached link %u (program %u), whose pin was moved\n",
					id, li.prog_id);
		}
		close(fd);
	}
	if (errno == EPERM) {
		/* Without CAP_SYS_ADMIN, links cannot be found by id: check the
		 * recorded cgroup at least. */
		struct sl_node_state s = { 0 };

		s.rec = *r;
		check_strays(&s);
		left = (__u32)s.n_stray;
		if (s.stray_unchecked) {
			pr_warn("sluice: cannot check %s for programs left attached (querying a "
				"cgroup needs CAP_NET_ADMIN)\n", r->cgroup);
			return 0;
		}
	}
	if (!left)
		return 0;
	pr_warn("sluice: %u program(s) of the last load are still attached (their link pins "
		"were moved out of the pin root); detaching them needs CAP_SYS_ADMIN\n", left);
	return -EBUSY;
}
