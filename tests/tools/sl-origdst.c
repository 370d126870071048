// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-origdst: a stand-in for the Sluice proxy. It listens where `sluice load
 * --proxy` says the proxy is, and for every accepted connection finds the
 * original destination the way the real proxy will: the accepted socket's
 * (peer, local) addresses are the client socket's (local, remote), which is
 * the key sockops wrote into PINROOT/maps/sl_handoff. It answers
 * "ORIG ADDR:PORT\n" (or "NOORIG\n" on a miss) and closes.
 */
#include <getopt.h>
#include <signal.h>
#include <linux/types.h>
#include <bpf/bpf.h>

#include "sluice_abi.h"
#include "sl_tool.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sl-origdst -P PINROOT [-r READY] [-l LOG] ADDR:PORT\n"
		"  -P PINROOT  Sluice pin root (map PINROOT/maps/sl_handoff)\n"
		"  -r READY    create file READY once listening\n"
		"  -l LOG      append 'peer orig reasons' per accepted connection\n"
		"Answers every connection with 'ORIG ADDR:PORT' or 'NOORIG'.\n");
}

static void fill_addr(const struct sockaddr_storage *ss, __be32 addr[4], __be16 *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		addr[0] = sin->sin_addr.s_addr;
		*port = sin->sin_port;
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		memcpy(addr, &sin6->sin6_addr, 16);
		*port = sin6->sin6_port;
	}
}

static int handoff_key(int fd, struct sl_handoff_key *k)
{
	struct sockaddr_storage peer, local;
	socklen_t pl = sizeof(peer), ll = sizeof(local);

	memset(k, 0, sizeof(*k));
	memset(&peer, 0, sizeof(peer));
	memset(&local, 0, sizeof(local));
	if (getpeername(fd, (struct sockaddr *)&peer, &pl) ||
	    getsockname(fd, (struct sockaddr *)&local, &ll))
		return -errno;
	fill_addr(&peer, k->src, &k->sport);
	fill_addr(&local, k->dst, &k->dport);
	k->family = peer.ss_family == AF_INET ? SL_AF_INET : SL_AF_INET6;
	return 0;
}

static void fmt_orig(const struct sl_l4addr *a, char *buf, size_t len)
{
	struct sockaddr_storage ss = { 0 };

	if (a->family == SL_AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = a->addr[0];
		sin->sin_port = a->port;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, a->addr, 16);
		sin6->sin6_port = a->port;
	}
	sl_fmt_sockaddr(&ss, buf, len);
}

/* The map fd is opened lazily and reopened after a failed lookup, because
 * `sluice unload` + `load` during a test replaces the pinned map. */
static void serve(int cfd, const char *map_path, int *map_fd, FILE *log)
{
	struct sl_handoff_key k;
	struct sl_handoff_val v;
	char line[160], orig[80] = "", peer[80];
	int err = handoff_key(cfd, &k);

	if (!err && *map_fd < 0) {
		*map_fd = bpf_obj_get(map_path);
		if (*map_fd < 0)
			err = -errno;
	}
	if (!err && bpf_map_lookup_elem(*map_fd, &k, &v)) {
		err = -errno;
		close(*map_fd);
		*map_fd = -1;
	}
	if (err) {
		fprintf(stderr, "sl-origdst: lookup in %s: %s\n", map_path, strerror(-err));
		snprintf(line, sizeof(line), "NOORIG\n");
	} else {
		fmt_orig(&v.orig, orig, sizeof(orig));
		snprintf(line, sizeof(line), "ORIG %s\n", orig);
	}
	if (send(cfd, line, strlen(line), MSG_NOSIGNAL) < 0)
		fprintf(stderr, "sl-origdst: send: %s\n", strerror(errno));
	if (log) {
		struct sockaddr_storage p = { 0 };
		socklen_t pl = sizeof(p);

		getpeername(cfd, (struct sockaddr *)&p, &pl);
		fprintf(log, "%s %s 0x%x\n", sl_fmt_sockaddr(&p, peer, sizeof(peer)),
			err ? "-" : orig, err ? 0 : v.reasons);
		fflush(log);
	}
	close(cfd);
}

int main(int argc, char **argv)
{
	const char *pin = NULL, *ready = NULL, *logpath = NULL;
	struct sigaction sa = { .sa_handler = sl_on_stop };
	struct sockaddr_storage ss;
	char map_path[4096];
	int opt, lfd, map_fd = -1, one = 1, err;
	socklen_t len;
	FILE *log = NULL;

	sl_prog = "sl-origdst";
	while ((opt = getopt(argc, argv, "P:r:l:h")) != -1) {
		switch (opt) {
		case 'P': pin = optarg; break;
		case 'r': ready = optarg; break;
		case 'l': logpath = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!pin || optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	if (sl_parse_sockaddr(argv[optind], &ss, &len))
		sl_die("bad address '%s'", argv[optind]);
	snprintf(map_path, sizeof(map_path), "%s/maps/sl_handoff", pin);
	if (logpath && !(log = fopen(logpath, "a")))
		sl_die("%s: %s", logpath, strerror(errno));
	/* No SA_RESTART: accept() must return EINTR so SIGTERM stops us. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		sl_die("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&ss, len) || listen(lfd, 1024))
		sl_die("listen %s: %s", argv[optind], strerror(errno));
	err = sl_write_ready(ready, "ready\n");
	if (err)
		sl_die("ready file %s: %s", ready, strerror(-err));
	while (!sl_stop) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (cfd >= 0)
			serve(cfd, map_path, &map_fd, log);
	}
	close(lfd);
	if (map_fd >= 0)
		close(map_fd);
	if (log)
		fclose(log);
	return 0;
}
