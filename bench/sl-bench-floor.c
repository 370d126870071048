// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-bench-floor: loads the floor programs (bench/bpf/sock_floor.bpf.c),
 * fills their maps with the benchmark's N services (bench/sl-bench-svc.h)
 * and attaches them to a cgroup until SIGTERM/SIGINT; the links go with
 * the process.
 *
 *   sl-bench-floor [-m least|random|empty] [-r READY] CGROUP N
 *
 * least (default): the floor's connect4 with two draws, and its release;
 * random: one draw; empty: only the empty connect4 (the client then dials
 * endpoints itself). READY is created once the programs are attached.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sl-bench-svc.h"
#include "sock_floor.skel.h"

/* The map layouts of bench/bpf/sock_floor.bpf.c. */
struct fl_addr {
	uint32_t addr; /* network order */
	uint16_t port; /* network order */
	uint16_t pad;
};

struct fl_svc {
	uint32_t first, count, total, pad;
};

struct fl_row {
	struct fl_addr ep;
	uint32_t weight, cum;
	int64_t active;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int fill_service(struct sock_floor *o, long i)
{
	struct fl_addr vip = { htonl(sl_bench_vip(i)), htons(SVC_PORT), 0 };
	struct fl_svc s = { (uint32_t)(N_EP * i), N_EP, 0, 0 };
	uint32_t cum = 0;

	for (int j = 0; j < N_EP; j++) {
		uint32_t row = s.first + (uint32_t)j;
		struct fl_row r = { { htonl(sl_bench_ep(i, j)), htons(EP_PORT), 0 },
				    sl_bench_weight(j), cum += sl_bench_weight(j), 0 };

		if (bpf_map_update_elem(bpf_map__fd(o->maps.fl_rows), &row, &r, BPF_ANY) ||
		    bpf_map_update_elem(bpf_map__fd(o->maps.fl_eps), &r.ep, &row, BPF_ANY))
			return -errno;
	}
	s.total = cum;
	return bpf_map_update_elem(bpf_map__fd(o->maps.fl_svcs), &vip, &s, BPF_ANY) ? -errno : 0;
}

static int attach(struct bpf_program *p, int cg, struct bpf_link **l)
{
	*l = bpf_program__attach_cgroup(p, cg);
	return *l ? 0 : -errno;
}

int main(int argc, char **argv)
{
	const char *mode = "least", *ready = NULL;
	struct bpf_link *l1 = NULL, *l2 = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	struct sock_floor *o;
	int opt, cg, err = 0;
	long n;

	while ((opt = getopt(argc, argv, "m:r:")) != -1) {
		if (opt == 'm')
			mode = optarg;
		else if (opt == 'r')
			ready = optarg;
		else
			goto usage;
	}
	if (argc - optind != 2 || (strcmp(mode, "least") && strcmp(mode, "random") &&
				    strcmp(mode, "empty")))
		goto usage;
	n = strtol(argv[optind + 1], NULL, 10);
	if (n < 1 || n > MAX_SERVICES)
		goto usage;
	cg = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		fprintf(stderr, "sl-bench-floor: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	o = sock_floor__open();
	if (!o) {
		fprintf(stderr, "sl-bench-floor: open: %s\n", strerror(errno));
		return 1;
	}
	o->rodata->fl_least = !strcmp(mode, "least");
	err = sock_floor__load(o) ? -errno : 0;
	for (long i = 0; !err && i < n; i++)
		err = fill_service(o, i);
	if (!err && !strcmp(mode, "empty"))
		err = attach(o->progs.sl_floor_empty, cg, &l1);
	else if (!err)
		err = attach(o->progs.sl_floor_release, cg, &l2) ?: attach(o->progs.sl_floor_connect4, cg, &l1);
	if (err) {
		fprintf(stderr, "sl-bench-floor: load/fill/attach: %s\n", strerror(-err));
		goto out;
	}
	if (ready) {
		int fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		if (fd >= 0)
			close(fd);
	}
	while (!stop)
		pause();
out:
	bpf_link__destroy(l1);
	bpf_link__destroy(l2);
	sock_floor__destroy(o);
	close(cg);
	return err ? 1 : 0;
usage:
	fprintf(stderr, "usage: sl-bench-floor [-m least|random|empty] [-r READY] CGROUP N\n");
	return 2;
}
