// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-http-abuse: the HTTP clients a server must survive, all at once.
 *
 *   idle     connect and send nothing
 *   slow     a slowloris: send a request line, then one header byte every
 *            -S ms, never finishing the headers
 *   noread   set the smallest receive buffer, send -P pipelined GET PATH
 *            requests and never read a byte of the answers
 *
 * Connects are non-blocking with one deadline (-w), so a server that does
 * not accept cannot hold the tool: it reports what it got. Once every
 * connection is open (or the deadline passed) it writes READY, then keeps
 * them (and the slowloris drip) until SIGTERM and prints, per kind, how
 * many connected and how many the server closed (seen as a hang-up), and
 * for noread the answer bytes left unread in the receive queues.
 */
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

#include "sl_tool.h"

#define MAX_CONNS 8192

enum kind { K_IDLE, K_SLOW, K_NOREAD, K__COUNT };
static const char *const kind_names[K__COUNT] = { "idle", "slow", "noread" };

struct conn {
	int fd;
	enum kind kind;
	bool connected, closed;
};

struct opts {
	struct sockaddr_storage dst;
	socklen_t dst_len;
	long n[K__COUNT], pipeline, drip_ms, wait_ms;
	const char *path, *ready;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sl-http-abuse [-i IDLE] [-s SLOW] [-n NOREAD] [-P PIPELINE] [-p PATH]\n"
		"                     [-S DRIP_MS] [-w CONNECT_MS] [-r READY] ADDR:PORT\n"
		"  -i N   idle connections (default 0)       -s N  slowloris connections (0)\n"
		"  -n N   never-reading connections (0)      -P N  requests each sends (1)\n"
		"  -p P   path they request (/metrics)       -S MS slowloris byte interval (1000)\n"
		"  -w MS  deadline for all connects (5000)   -r F  written when all are open\n"
		"Output (stdout, at SIGTERM): {\"idle\":{\"connected\":N,\"closed\":N},...,\n"
		"  \"noread\":{...,\"unread_bytes\":N}}\n");
}

static void parse(int argc, char **argv, struct opts *o)
{
	int c;

	*o = (struct opts){ .pipeline = 1, .drip_ms = 1000, .wait_ms = 5000, .path = "/metrics" };
	while ((c = getopt(argc, argv, "i:s:n:P:p:S:w:r:h")) != -1) {
		switch (c) {
		case 'i': o->n[K_IDLE] = sl_num_arg(optarg, 'i', 0, MAX_CONNS); break;
		case 's': o->n[K_SLOW] = sl_num_arg(optarg, 's', 0, MAX_CONNS); break;
		case 'n': o->n[K_NOREAD] = sl_num_arg(optarg, 'n', 0, MAX_CONNS); break;
		case 'P': o->pipeline = sl_num_arg(optarg, 'P', 1, 100000); break;
		case 'p': o->path = optarg; break;
		case 'S': o->drip_ms = sl_num_arg(optarg, 'S', 1, 3600000); break;
		case 'w': o->wait_ms = sl_num_arg(optarg, 'w', 1, 3600000); break;
		case 'r': o->ready = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind + 1 != argc || sl_parse_sockaddr(argv[optind], &o->dst, &o->dst_len))
		sl_die("one ADDR:PORT expected");
	if (o->n[K_IDLE] + o->n[K_SLOW] + o->n[K_NOREAD] > MAX_CONNS)
		sl_die("at most %d connections", MAX_CONNS);
}

/* One descriptor per connection: a default soft limit of 1,024 is short. */
static void fit_fd_limit(size_t n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= n + 64)
		return;
	rl.rlim_cur = rl.rlim_max < n + 64 ? rl.rlim_max : n + 64;
	if (setrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < n + 64)
		sl_die("open-file limit %llu is below %zu connections", (unsigned long long)rl.rlim_cur, n);
}

static int start_connect(const struct opts *o, struct conn *c)
{
	int one = 1;

	c->fd = socket(o->dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return -errno;
	/* The kernel rounds this up to its minimum: the answer stays in
	 * the server's send queue. */
	if (c->kind == K_NOREAD)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&o->dst, o->dst_len) && errno != EINPROGRESS)
		return -errno;
	return 0;
}

/* Poll the connects until all are done or the deadline passes. */
static void finish_connects(struct conn *cs, size_t n, long wait_ms)
{
	uint64_t deadline = sl_mono_ns() + (uint64_t)wait_ms * 1000000ull;
	struct pollfd *p = calloc(n, sizeof(*p));
	size_t left = n;

	if (!p)
		sl_die("out of memory");
	while (left && !sl_stop && sl_mono_ns() < deadline) {
		for (size_t i = 0; i < n; i++)
			p[i] = (struct pollfd){ .fd = cs[i].connected || cs[i].fd < 0 ? -1 : cs[i].fd,
						.events = POLLOUT };
		if (poll(p, n, 100) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < n; i++) {
			int err = 0;
			socklen_t len = sizeof(err);

			if (!(p[i].revents & (POLLOUT | POLLERR | POLLHUP)))
				continue;
			getsockopt(cs[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
			left--;
			if (err) {
				close(cs[i].fd);
				cs[i].fd = -1;
			} else {
				cs[i].connected = true;
			}
		}
	}
	free(p);
}

static void send_some(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t w = send(fd, s, len, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

static void start_requests(const struct opts *o, struct conn *cs, size_t n)
{
	char req[512];
	int len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: sluice\r\n\r\n", o->path);

	for (size_t i = 0; i < n; i++) {
		if (!cs[i].connected)
			continue;
		if (cs[i].kind == K_SLOW)
			send_some(cs[i].fd, "GET /metrics HTTP/1.1\r\nX-Slow: ", 31);
		if (cs[i].kind == K_NOREAD)
			for (long r = 0; r < o->pipeline; r++)
				send_some(cs[i].fd, req, (size_t)len);
	}
}

/* Until SIGTERM: note hang-ups, drip the slowloris bytes. */
static void hold(const struct opts *o, struct conn *cs, size_t n)
{
	struct pollfd *p = calloc(n, sizeof(*p));
	uint64_t next_drip = sl_mono_ns();

	if (!p)
		sl_die("out of memory");
	while (!sl_stop) {
		for (size_t i = 0; i < n; i++)
			p[i] = (struct pollfd){ .fd = cs[i].connected && !cs[i].closed ? cs[i].fd : -1,
						.events = POLLRDHUP };
		if (poll(p, n, 100) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < n; i++)
			if (p[i].revents & (POLLRDHUP | POLLHUP | POLLERR))
				cs[i].closed = true;
		if (sl_mono_ns() < next_drip)
			continue;
		next_drip = sl_mono_ns() + (uint64_t)o->drip_ms * 1000000ull;
		for (size_t i = 0; i < n; i++)
			if (cs[i].kind == K_SLOW && cs[i].connected && !cs[i].closed)
				send_some(cs[i].fd, "a", 1);
	}
	free(p);
}

static void report(const struct conn *cs, size_t n, FILE *f, bool unread)
{
	long conn[K__COUNT] = { 0 }, closed[K__COUNT] = { 0 }, pending = 0;

	for (size_t i = 0; i < n; i++) {
		int q = 0;

		conn[cs[i].kind] += cs[i].connected;
		closed[cs[i].kind] += cs[i].closed;
		if (unread && cs[i].kind == K_NOREAD && cs[i].fd >= 0 && !ioctl(cs[i].fd, FIONREAD, &q))
			pending += q;
	}
	fputc('{', f);
	for (int k = 0; k < K__COUNT; k++)
		fprintf(f, "%s\"%s\":{\"connected\":%ld,\"closed\":%ld%s", k ? "," : "", kind_names[k],
			conn[k], closed[k], k == K_NOREAD ? "" : "}");
	fprintf(f, ",\"unread_bytes\":%ld}}\n", pending);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct conn *cs;
	size_t n = 0;
	char *ready = NULL;
	size_t ready_len = 0;
	FILE *rf;

	sl_prog = "sl-http-abuse";
	parse(argc, argv, &o);
	signal(SIGTERM, sl_on_stop);
	signal(SIGINT, sl_on_stop);
	fit_fd_limit((size_t)(o.n[K_IDLE] + o.n[K_SLOW] + o.n[K_NOREAD]));
	cs = calloc(MAX_CONNS, sizeof(*cs));
	if (!cs)
		sl_die("out of memory");
	for (int k = 0; k < K__COUNT; k++)
		for (long i = 0; i < o.n[k]; i++, n++) {
			cs[n].kind = (enum kind)k;
			if (start_connect(&o, &cs[n]) && cs[n].fd >= 0) {
				close(cs[n].fd);
				cs[n].fd = -1;
			}
		}
	finish_connects(cs, n, o.wait_ms);
	start_requests(&o, cs, n);
	rf = open_memstream(&ready, &ready_len);
	if (!rf)
		sl_die("out of memory");
	report(cs, n, rf, false);
	fclose(rf);
	if (sl_write_ready(o.ready, ready))
		sl_die("%s: %s", o.ready, strerror(errno));
	free(ready);
	hold(&o, cs, n);
	report(cs, n, stdout, true);
	return 0;
}
