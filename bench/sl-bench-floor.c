// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-bench-floor: loads the floor programs (bench/bpf/sock_floor.bpf.c),
 * fills their maps with the benchmark's N services (bench/sl-bench-svc.h)
 * and attaches them to a cgroup until SIGTERM/SIGINT; the links go with
 * the process.
 *
 *   sl-bench-floor [-m MODE] [-r READY] CGROUP N
 *
 * MODE least (default): the floor's connect4 with two draws, and its
 * release; random: one draw; least-sockops: least plus the empty sockops
 * program; least-sk, least-hash, least-table: least plus a per-connection
 * record in socket storage, a preallocated hash or an array slot (rodata
 * fl_record); empty: only the empty connect4 (the client then dials
 * endpoints itself); opcount: only the op-counting sockops program, whose
 * counts are printed at exit as "op NAME COUNT" lines. READY is created
 * once the programs are attached.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
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

static const char *const modes[] = { "least", "random", "least-sockops", "least-sk",
				     "least-hash", "least-table", "empty", "opcount" };

/* The programs of MODE, attached to CG (links into L[0..2]). */
static int attach_mode(struct sock_floor *o, const char *mode, int cg, struct bpf_link **l)
{
	int err = 0;

	if (!strcmp(mode, "empty"))
		return attach(o->progs.sl_floor_empty, cg, &l[0]);
	if (!strcmp(mode, "opcount"))
		return attach(o->progs.sl_floor_opcount, cg, &l[0]);
	if (!strcmp(mode, "least-sockops"))
		err = attach(o->progs.sl_floor_sockops, cg, &l[2]);
	return err ?: attach(o->progs.sl_floor_release, cg, &l[1]) ?:
		attach(o->progs.sl_floor_connect4, cg, &l[0]);
}

/* sockops ops (enum bpf_sock_ops_op) and TCP states (STATE_CB by the state
 * entered, counted at 16 + state). */
static void print_ops(struct sock_floor *o)
{
	static const char *const op[16] = { "", "TIMEOUT_INIT", "RWND_INIT", "TCP_CONNECT_CB",
		"ACTIVE_ESTABLISHED_CB", "PASSIVE_ESTABLISHED_CB", "NEEDS_ECN", "BASE_RTT", "RTO_CB",
		"RETRANS_CB", "STATE_CB", "TCP_LISTEN_CB", "RTT_CB", "PARSE_HDR_OPT_CB",
		"HDR_OPT_LEN_CB", "WRITE_HDR_OPT_CB" };
	static const char *const st[16] = { "", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1",
		"FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
		"NEW_SYN_RECV", "BOUND_INACTIVE", "?", "?" };

	for (uint32_t i = 0; i < 32; i++) {
		uint64_t n = 0;

		if (bpf_map_lookup_elem(bpf_map__fd(o->maps.fl_ops), &i, &n) || !n)
			continue;
		if (i < 16)
			printf("op %s %llu\n", op[i], (unsigned long long)n);
		else
			printf("op STATE_CB:%s %llu\n", st[i - 16], (unsigned long long)n);
	}
}

int main(int argc, char **argv)
{
	const char *mode = "least", *ready = NULL;
	struct bpf_link *l[3] = { NULL };
	bool known = false;
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block, old;
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
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		known |= !strcmp(mode, modes[i]);
	if (argc - optind != 2 || !known)
		goto usage;
	n = strtol(argv[optind + 1], NULL, 10);
	if (n < 1 || n > MAX_SERVICES)
		goto usage;
	cg = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		fprintf(stderr, "sl-bench-floor: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	o = sock_floor__open();
	if (!o) {
		fprintf(stderr, "sl-bench-floor: open: %s\n", strerror(errno));
		return 1;
	}
	o->rodata->fl_least = !strncmp(mode, "least", 5);
	o->rodata->fl_record = !strcmp(mode, "least-sk") ? 1 : !strcmp(mode, "least-hash") ? 2 :
			       !strcmp(mode, "least-table") ? 3 : 0;
	err = sock_floor__load(o) ? -errno : 0;
	for (long i = 0; !err && i < n; i++)
		err = fill_service(o, i);
	if (!err)
		err = attach_mode(o, mode, cg, l);
	if (err) {
		fprintf(stderr, "sl-bench-floor: load/fill/attach: %s\n", strerror(-err));
		goto out;
	}
	if (ready) {
		int fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		if (fd >= 0)
			close(fd);
	}
	/* Signals are blocked but for the sigsuspend() wait, so one that comes
	 * between the test and the wait is not lost. */
	while (!stop)
		sigsuspend(&old);
	if (!strcmp(mode, "opcount"))
		print_ops(o);
out:
	for (int i = 0; i < 3; i++)
		bpf_link__destroy(l[i]);
	sock_floor__destroy(o);
	close(cg);
	return err ? 1 : 0;
usage:
	fprintf(stderr, "usage: sl-bench-floor [-m least|random|least-sockops|least-sk|least-hash|"
			"least-table|empty|opcount] [-r READY] CGROUP N\n");
	return 2;
}
