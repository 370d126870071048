// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-server: the endpoints of the integration tests.
 *
 * Listens on every LISTENER given; each has an identity string. A TCP
 * connection first receives "IDENTITY\n", then the server reads (and with -e
 * echoes) until EOF. A UDP datagram is answered with "IDENTITY\n" from the
 * listener's own address. One thread and poll(): the tests hold hundreds of
 * idle connections at most, and a single loop keeps the per-connection log
 * ordered.
 */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <netinet/tcp.h>

#include "sl_tool.h"

#define SL_BUF 65536

struct listener {
	int fd;
	int type; /* SOCK_STREAM or SOCK_DGRAM */
	char *identity;
	char name[160];
};

struct conn {
	int fd;
	int lst; /* index of its listener */
	uint64_t bytes_in, bytes_out;
	char peer[80];
};

struct server {
	struct listener *lst;
	int n_lst;
	struct conn *conns;
	int n_conns, cap_conns;
	bool echo;
	FILE *log;
	struct pollfd *pfd;
	int cap_pfd;
};

static volatile sig_atomic_t stop;
static char buf[SL_BUF];

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sl-server [-e] [-r READY] [-l LOG] LISTENER...\n"
		"  LISTENER  [tcp:|udp:]ADDR:PORT[=IDENTITY]  (IPv6: [ADDR]:PORT)\n"
		"            identity defaults to ADDR:PORT\n"
		"  -e        echo what TCP clients send (default: read and discard)\n"
		"  -r READY  create file READY once every listener is up\n"
		"  -l LOG    append 'identity peer bytes_in bytes_out' per closed\n"
		"            TCP connection and per UDP datagram\n"
		"Stops on SIGTERM/SIGINT.\n");
}

static int open_listener(struct listener *l, const char *spec)
{
	struct sockaddr_storage ss;
	char addr[128];
	const char *eq;
	socklen_t len;
	int one = 1;

	l->type = SOCK_STREAM;
	if (!strncmp(spec, "tcp:", 4)) {
		spec += 4;
	} else if (!strncmp(spec, "udp:", 4)) {
		l->type = SOCK_DGRAM;
		spec += 4;
	}
	eq = strchr(spec, '=');
	snprintf(addr, sizeof(addr), "%.*s", eq ? (int)(eq - spec) : (int)strlen(spec), spec);
	if (sl_parse_sockaddr(addr, &ss, &len))
		sl_die("bad listener address '%s'", addr);
	l->identity = strdup(eq ? eq + 1 : addr);
	snprintf(l->name, sizeof(l->name), "%s/%s", addr, l->type == SOCK_STREAM ? "tcp" : "udp");
	l->fd = socket(ss.ss_family, l->type | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return -errno;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(l->fd, (struct sockaddr *)&ss, len))
		return -errno;
	if (l->type == SOCK_STREAM && listen(l->fd, 4096))
		return -errno;
	return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void log_line(struct server *s, const char *id, const char *peer,
		     uint64_t in, uint64_t out)
{
	if (!s->log)
		return;
	fprintf(s->log, "%s %s %llu %llu\n", id, peer, (unsigned long long)in,
		(unsigned long long)out);
	fflush(s->log);
}

static void accept_one(struct server *s, int li)
{
	struct listener *l = &s->lst[li];
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	struct conn *c;
	char line[512];
	int fd, n;

	fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (s->n_conns == s->cap_conns) {
		int cap = s->cap_conns ? 2 * s->cap_conns : 64;
		struct conn *nc = realloc(s->conns, (size_t)cap * sizeof(*nc));

		if (!nc) {
			close(fd);
			return;
		}
		s->conns = nc;
		s->cap_conns = cap;
	}
	c = &s->conns[s->n_conns++];
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->lst = li;
	sl_fmt_sockaddr(&peer, c->peer, sizeof(c->peer));
	n = snprintf(line, sizeof(line), "%s\n", l->identity);
	if (send_all(fd, line, (size_t)n) == 0)
		c->bytes_out += (uint64_t)n;
}

static void close_conn(struct server *s, int ci)
{
	struct conn *c = &s->conns[ci];

	log_line(s, s->lst[c->lst].identity, c->peer, c->bytes_in, c->bytes_out);
	close(c->fd);
	s->conns[ci] = s->conns[--s->n_conns];
}

/* Returns true when the connection is finished. */
static bool serve_conn(struct server *s, struct conn *c)
{
	ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (r < 0)
		return errno != EAGAIN && errno != EINTR;
	if (r == 0)
		return true;
	c->bytes_in += (uint64_t)r;
	if (!s->echo)
		return false;
	if (send_all(c->fd, buf, (size_t)r))
		return true;
	c->bytes_out += (uint64_t)r;
	return false;
}

static void serve_udp(struct server *s, struct listener *l)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	char line[512], p[80];
	ssize_t r;
	int n;

	r = recvfrom(l->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&peer, &plen);
	if (r < 0)
		return;
	n = snprintf(line, sizeof(line), "%s\n", l->identity);
	sendto(l->fd, line, (size_t)n, 0, (struct sockaddr *)&peer, plen);
	log_line(s, l->identity, sl_fmt_sockaddr(&peer, p, sizeof(p)), (uint64_t)r, (uint64_t)n);
}

static int build_pollfds(struct server *s)
{
	int n = s->n_lst + s->n_conns, i;

	if (n > s->cap_pfd) {
		struct pollfd *p = realloc(s->pfd, (size_t)n * 2 * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->pfd = p;
		s->cap_pfd = n * 2;
	}
	for (i = 0; i < s->n_lst; i++)
		s->pfd[i] = (struct pollfd){ .fd = s->lst[i].fd, .events = POLLIN };
	for (i = 0; i < s->n_conns; i++)
		s->pfd[s->n_lst + i] = (struct pollfd){ .fd = s->conns[i].fd, .events = POLLIN };
	return n;
}

static int run(struct server *s)
{
	while (!stop) {
		int n = build_pollfds(s), i, nc;

		if (n < 0)
			return n;
		if (poll(s->pfd, (nfds_t)n, 1000) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* Connections first, from the end, because close_conn moves the
		 * last connection into the freed slot. */
		nc = s->n_conns;
		for (i = nc - 1; i >= 0; i--)
			if (s->pfd[s->n_lst + i].revents && serve_conn(s, &s->conns[i]))
				close_conn(s, i);
		for (i = 0; i < s->n_lst; i++) {
			if (!(s->pfd[i].revents & POLLIN))
				continue;
			if (s->lst[i].type == SOCK_STREAM)
				accept_one(s, i);
			else
				serve_udp(s, &s->lst[i]);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct server s = { 0 };
	const char *ready = NULL, *logpath = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	int opt, i, err;

	sl_prog = "sl-server";
	while ((opt = getopt(argc, argv, "er:l:h")) != -1) {
		switch (opt) {
		case 'e': s.echo = true; break;
		case 'r': ready = optarg; break;
		case 'l': logpath = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (logpath && !(s.log = fopen(logpath, "a")))
		sl_die("%s: %s", logpath, strerror(errno));
	s.n_lst = argc - optind;
	s.lst = calloc((size_t)s.n_lst, sizeof(*s.lst));
	if (!s.lst)
		sl_die("out of memory");
	for (i = 0; i < s.n_lst; i++) {
		err = open_listener(&s.lst[i], argv[optind + i]);
		if (err)
			sl_die("listen %s: %s", argv[optind + i], strerror(-err));
	}
	err = sl_write_ready(ready, "ready\n");
	if (err)
		sl_die("ready file %s: %s", ready, strerror(-err));
	err = run(&s);
	while (s.n_conns)
		close_conn(&s, s.n_conns - 1);
	if (s.log)
		fclose(s.log);
	if (err)
		sl_die("poll: %s", strerror(-err));
	return 0;
}
