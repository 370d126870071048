// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-bench-progstat: what the BPF programs attached to a cgroup cost per
 * run while a command runs.
 *
 * It turns on the kernel's run-time statistics with BPF_ENABLE_STATS (the
 * same switch as `sysctl kernel.bpf_stats_enabled=1`, but held by a file
 * descriptor, so it goes off by itself when this process ends, even when it
 * is killed, and it never turns off statistics another user switched on),
 * reads run_time_ns and run_cnt of every program in effect on the cgroup
 * for the socket hooks, runs the command, reads them again and prints the
 * difference per program. Only the command's runs are counted, not the
 * earlier history of the programs.
 *
 * Output (to -o FILE, default stdout), one JSON line per program:
 * {"attach":"connect4","id":N,"name":"...","run_cnt":N,"run_time_ns":N,
 *  "ns_per_run":X}
 * Exit status: the command's (1 if it did not exit normally), 2 on usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <bpf/bpf.h>

#define MAX_PROGS 64

struct hook {
	enum bpf_attach_type type;
	const char *name;
};

static const struct hook hooks[] = {
	{ BPF_CGROUP_INET4_CONNECT, "connect4" },
	{ BPF_CGROUP_INET6_CONNECT, "connect6" },
	{ BPF_CGROUP_SOCK_OPS, "sockops" },
	{ BPF_CGROUP_INET4_GETPEERNAME, "getpeername4" },
	{ BPF_CGROUP_INET6_GETPEERNAME, "getpeername6" },
	{ BPF_CGROUP_UDP4_SENDMSG, "sendmsg4" },
	{ BPF_CGROUP_UDP4_RECVMSG, "recvmsg4" },
	{ BPF_CGROUP_INET_SOCK_CREATE, "sock_create" },
	{ BPF_CGROUP_INET_SOCK_RELEASE, "sock_release" },
	{ BPF_CGROUP_INET4_POST_BIND, "post_bind4" },
};

struct prog {
	const char *attach;
	__u32 id;
	int fd;
	char name[BPF_OBJ_NAME_LEN];
	__u64 cnt0, ns0;
};

static int prog_stats(struct prog *p, __u64 *cnt, __u64 *ns)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int err;

	memset(&info, 0, sizeof(info));
	err = bpf_prog_get_info_by_fd(p->fd, &info, &len);
	if (err)
		return err;
	*cnt = info.run_cnt;
	*ns = info.run_time_ns;
	snprintf(p->name, sizeof(p->name), "%s", info.name);
	return 0;
}

/* The programs in effect on CG for every hook, with their counters now. */
static int collect(int cg, struct prog *progs, int *n)
{
	__u32 ids[MAX_PROGS];
	size_t h;
	__u32 i;

	*n = 0;
	for (h = 0; h < sizeof(hooks) / sizeof(hooks[0]); h++) {
		LIBBPF_OPTS(bpf_prog_query_opts, q, .query_flags = BPF_F_QUERY_EFFECTIVE,
			    .prog_ids = ids, .prog_cnt = MAX_PROGS);

		if (bpf_prog_query_opts(cg, hooks[h].type, &q)) {
			/* A kernel without this hook type: nothing attached. */
			if (errno == EINVAL)
				continue;
			return -errno;
		}
		for (i = 0; i < q.prog_cnt && *n < MAX_PROGS; i++) {
			struct prog *p = &progs[(*n)++];

			p->attach = hooks[h].name;
			p->id = ids[i];
			p->fd = bpf_prog_get_fd_by_id(ids[i]);
			if (p->fd < 0)
				return -errno;
			if (prog_stats(p, &p->cnt0, &p->ns0))
				return -errno;
		}
	}
	return 0;
}

static int run_cmd(char **argv)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "sl-bench-progstat: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int report(FILE *out, struct prog *progs, int n)
{
	__u64 cnt, ns;
	int i;

	for (i = 0; i < n; i++) {
		struct prog *p = &progs[i];

		if (prog_stats(p, &cnt, &ns))
			return -errno;
		cnt -= p->cnt0;
		ns -= p->ns0;
		fprintf(out, "{\"attach\":\"%s\",\"id\":%u,\"name\":\"%s\",\"run_cnt\":%llu,"
			"\"run_time_ns\":%llu,\"ns_per_run\":%.1f}\n",
			p->attach, p->id, p->name, (unsigned long long)cnt,
			(unsigned long long)ns, cnt ? (double)ns / (double)cnt : 0.0);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct prog progs[MAX_PROGS];
	const char *outpath = NULL;
	int cg = -1, stats = -1, n = 0, i, err, ret = 1;
	FILE *out = stdout;

	if (argc > 2 && !strcmp(argv[1], "-o")) {
		outpath = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 4 || strcmp(argv[2], "--")) {
		fprintf(stderr, "usage: sl-bench-progstat [-o FILE] CGROUP_DIR -- CMD [ARGS...]\n");
		return 2;
	}
	cg = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		fprintf(stderr, "sl-bench-progstat: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats < 0) {
		fprintf(stderr, "sl-bench-progstat: BPF_ENABLE_STATS: %s\n", strerror(errno));
		goto out_cg;
	}
	memset(progs, 0, sizeof(progs));
	err = collect(cg, progs, &n);
	if (err) {
		fprintf(stderr, "sl-bench-progstat: query %s: %s\n", argv[1], strerror(-err));
		goto out_progs;
	}
	ret = run_cmd(argv + 3);
	if (ret < 0) {
		fprintf(stderr, "sl-bench-progstat: %s: %s\n", argv[3], strerror(-ret));
		ret = 1;
		goto out_progs;
	}
	if (outpath && !(out = fopen(outpath, "w"))) {
		fprintf(stderr, "sl-bench-progstat: %s: %s\n", outpath, strerror(errno));
		ret = 1;
		goto out_progs;
	}
	if (report(out, progs, n)) {
		fprintf(stderr, "sl-bench-progstat: prog info: %s\n", strerror(errno));
		ret = 1;
	}
	if (out != stdout && fclose(out))
		ret = 1;
out_progs:
	for (i = 0; i < n; i++)
		if (progs[i].fd >= 0)
			close(progs[i].fd);
	close(stats);
out_cg:
	close(cg);
	return ret;
}
