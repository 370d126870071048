// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-bench-server: the endpoints of the connection-setup benchmark.
 *
 * Listens on every ADDR:PORT given, accepts each connection and closes it at
 * once: the client's read() then sees EOF, so one client iteration covers
 * connect, accept and close on both sides. Nothing is written: the benchmark
 * measures connection setup, not data transfer.
 *
 * One thread, epoll, non-blocking listeners drained with accept4() until
 * EAGAIN, so a burst never waits for another epoll round. On SIGTERM/SIGINT
 * it writes "ADDR:PORT ACCEPTED" per listener to the -c file: the benchmark
 * script checks from it that the mesh sent connections where the weights
 * say, and that no round silently measured something else.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define MAX_LISTENERS 64
#define BACKLOG 4096

struct listener {
	int fd;
	uint64_t accepted;
	char name[64];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sl-bench-server [-r READY] [-c COUNTS] ADDR:PORT...\n"
		"  Accept and immediately close every connection (IPv4).\n"
		"  -r READY   create file READY once every listener is up\n"
		"  -c COUNTS  on SIGTERM/SIGINT write 'ADDR:PORT ACCEPTED' lines\n");
}

/* "1.2.3.4:80" into SIN. Returns 0 or -EINVAL. */
static int parse_addr(const char *s, struct sockaddr_in *sin)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
		return -EINVAL;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -EINVAL;
}

static int open_listener(struct listener *l, const char *spec, int ep)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct sockaddr_in sin;
	int one = 1, err;

	if (parse_addr(spec, &sin)) {
		fprintf(stderr, "sl-bench-server: bad address '%s'\n", spec);
		return -EINVAL;
	}
	snprintf(l->name, sizeof(l->name), "%s", spec);
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		goto err;
	/* The previous run's TIME_WAIT sockets must not block the bind. */
	if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l->fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(l->fd, BACKLOG))
		goto err;
	ev.data.ptr = l;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, l->fd, &ev))
		goto err;
	return 0;
err:
	err = -errno;
	fprintf(stderr, "sl-bench-server: %s: %s\n", spec, strerror(-err));
	return err;
}

/* Accept until the queue is empty; each connection is closed at once. */
static int drain(struct listener *l)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			/* The peer may reset before we accept: not our error. */
			if (errno == ECONNABORTED)
				continue;
			fprintf(stderr, "sl-bench-server: accept %s: %s\n", l->name,
				strerror(errno));
			return -errno;
		}
		close(fd);
		l->accepted++;
	}
}

static int write_file(const char *path, const struct listener *l, int n)
{
	FILE *f = fopen(path, "w");
	int i;

	if (!f)
		return -errno;
	for (i = 0; l && i < n; i++)
		fprintf(f, "%s %llu\n", l[i].name, (unsigned long long)l[i].accepted);
	return fclose(f) ? -errno : 0;
}

static int serve(int ep)
{
	struct epoll_event evs[MAX_LISTENERS];
	int i, n;

	while (!stop) {
		n = epoll_wait(ep, evs, MAX_LISTENERS, 1000);
		if (n < 0 && errno != EINTR) {
			perror("sl-bench-server: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++)
			if (drain(evs[i].data.ptr))
				return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *ready = NULL, *counts = NULL;
	struct listener lst[MAX_LISTENERS];
	struct sigaction sa = { .sa_handler = on_signal };
	int opt, i, n, ep, ret = 1;

	while ((opt = getopt(argc, argv, "r:c:h")) != -1) {
		switch (opt) {
		case 'r': ready = optarg; break;
		case 'c': counts = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	n = argc - optind;
	if (n < 1 || n > MAX_LISTENERS) {
		usage(stderr);
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("sl-bench-server: epoll_create1");
		return 1;
	}
	memset(lst, 0, sizeof(lst));
	for (i = 0; i < n; i++)
		if (open_listener(&lst[i], argv[optind + i], ep))
			goto out;
	if (ready && write_file(ready, NULL, 0)) {
		perror("sl-bench-server: ready file");
		goto out;
	}
	ret = serve(ep);
	if (counts && write_file(counts, lst, n)) {
		perror("sl-bench-server: counts file");
		ret = 1;
	}
out:
	for (i = 0; i < n; i++)
		if (lst[i].fd > 0)
			close(lst[i].fd);
	close(ep);
	return ret;
}
