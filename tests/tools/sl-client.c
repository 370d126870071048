// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-client: the application side of the integration tests.
 *
 * Connects to ADDR:PORT (normally a service VIP), reads the identity line the
 * endpoint's sl-server sends, and tallies which endpoint answered. Every
 * attempt either does what was asked (ok) or is a failure with a reason; the
 * exit status is 1 when any attempt failed, so a script can rely on it.
 */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>

#include "sl_tool.h"

#define MAX_REPORTED_FAILURES 5

enum mode { M_TCP, M_UDP_CONNECTED, M_UDP_SENDTO };

struct opts {
	struct sockaddr_storage dst;
	socklen_t dst_len;
	char dst_str[80];
	enum mode mode;
	long n, keep, bytes, mark, timeout_ms, interval_ms, delay_ms;
	double duration_s;
	int expect_errno; /* 0: connect must succeed */
	enum end { END_EOF, END_CLOSE, END_HALF } end; /* how a -b exchange ends */
	bool check_peer, loop, json, in_progress, again;
	const char *ready;
};

struct result {
	uint64_t attempts, ok, failed;
	uint64_t bytes_sent, bytes_received;
	double connect_ms_max, connect_ms_min;
	struct sl_tally ids, errs;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sl-client [options] ADDR:PORT\n"
		"  -n N       connect N times, one after the other (default 1)\n"
		"  -u         UDP, connected socket (connect + send + recv)\n"
		"  -U         UDP, unconnected socket (sendto + recvfrom); the reply\n"
		"             must come from ADDR:PORT\n"
		"  -k K       open K connections and hold them until SIGTERM or -t\n"
		"  -s         with -k: non-blocking connect(), held while still in\n"
		"             progress (SYN_SENT against an endpoint that drops SYNs)\n"
		"  -t SECS    duration for -k and -l\n"
		"  -l         loop for -t seconds (connect, read identity, close)\n"
		"  -i MS      pause between attempts (default 0)\n"
		"  -b BYTES   send BYTES on each connection, then read until EOF\n"
		"  -c HOW     how a -b connection ends: eof (default: shut down\n"
		"             writing, read until EOF, close), close (close right\n"
		"             after the last send: no shutdown, no waiting), half\n"
		"             (shut down writing, then close without waiting)\n"
		"  -d MS      wait MS after the identity line before -b (a connection\n"
		"             that must stay usable across something the test does)\n"
		"  -p         fail unless getpeername() equals ADDR:PORT\n"
		"  -e ERRNO   expect connect() to fail with ERRNO (name or number)\n"
		"  -a         with -e: after the expected failure, connect() again on\n"
		"             the same socket and expect the same failure\n"
		"  -m MARK    set SO_MARK on every socket\n"
		"  -w MS      connect/read timeout (default 3000)\n"
		"  -r READY   when the -k connections are open, write their JSON tally\n"
		"             to file READY\n"
		"  -j         JSON output\n"
		"Output: 'IDENTITY COUNT' lines and '# key value' summary lines, or\n"
		"{\"attempts\",\"ok\",\"failed\",\"identities\":{},\"errors\":{},\n"
		" \"bytes_sent\",\"bytes_received\",\"connect_ms_min\",\"connect_ms_max\"}.\n"
		"Exit 0 when every attempt succeeded as asked, 1 otherwise, 2 on usage.\n");
}

/* One failed attempt: counted under KEY, the first few explained. */
static void fail(struct result *r, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct result *r, const char *key, const char *fmt, ...)
{
	va_list ap;

	r->failed++;
	sl_tally_add(&r->errs, key);
	if (r->failed > MAX_REPORTED_FAILURES)
		return;
	fprintf(stderr, "sl-client: attempt %llu: ", (unsigned long long)r->attempts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int new_socket(const struct opts *o, int type)
{
	struct timeval tv = { .tv_sec = o->timeout_ms / 1000,
			      .tv_usec = (o->timeout_ms % 1000) * 1000 };
	int fd, m = (int)o->mark;

	fd = socket(o->dst.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (o->mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &m, sizeof(m))) {
		int err = -errno;

		close(fd);
		return err;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Read the identity line (byte by byte: what follows belongs to -b). */
static int read_line(int fd, char *line, size_t len)
{
	size_t i = 0;

	while (i + 1 < len) {
		ssize_t r = recv(fd, line + i, 1, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		if (line[i] == '\n')
			break;
		i++;
	}
	line[i] = '\0';
	return (int)i + 1;
}

/* Send BYTES while reading whatever comes back until EOF; both at once so
 * an echoing server can never deadlock us. END_CLOSE and END_HALF return
 * as soon as the last byte is sent (END_HALF after shutting down writing):
 * the caller closes with data still in flight. */
static int exchange(int fd, long bytes, enum end end, uint64_t *sent, uint64_t *rcvd)
{
	static char out[16384], in[65536];
	long left = bytes;
	bool wr_done = false;

	memset(out, 'x', sizeof(out));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (!wr_done && left == 0) {
			if (end == END_CLOSE)
				return 0;
			shutdown(fd, SHUT_WR);
			wr_done = true;
			if (end == END_HALF)
				return 0;
		}
		if (!wr_done)
			p.events |= POLLOUT;
		n = poll(&p, 1, 5000);
		if (n == 0)
			return -ETIMEDOUT;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (!wr_done && (p.revents & POLLOUT)) {
			n = send(fd, out, (size_t)(left < (long)sizeof(out) ? left : (long)sizeof(out)),
				 MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN)
				return -errno;
			if (n > 0) {
				left -= n;
				*sent += (uint64_t)n;
			}
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, in, sizeof(in), 0);
			if (n == 0 && wr_done)
				return 0;
			if (n < 0 && errno != EAGAIN)
				return -errno;
			if (n > 0)
				*rcvd += (uint64_t)n;
		}
	}
}

static void note_connect_time(struct result *r, uint64_t t0)
{
	double ms = (double)(sl_mono_ns() - t0) / 1e6;

	if (ms > r->connect_ms_max)
		r->connect_ms_max = ms;
	if (r->connect_ms_min == 0 || ms < r->connect_ms_min)
		r->connect_ms_min = ms;
}

static bool peer_ok(const struct opts *o, struct result *r, int fd)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	char p[80];

	if (!o->check_peer)
		return true;
	memset(&peer, 0, sizeof(peer));
	if (getpeername(fd, (struct sockaddr *)&peer, &len)) {
		fail(r, "getpeername", "getpeername: %s", strerror(errno));
		return false;
	}
	if (!sl_sockaddr_eq(&peer, &o->dst)) {
		fail(r, "peer-mismatch", "getpeername() = %s, dialled %s",
		     sl_fmt_sockaddr(&peer, p, sizeof(p)), o->dst_str);
		return false;
	}
	return true;
}

/* connect() and judge it against -e. Returns 1 when the attempt should go
 * on (connected as expected), 0 when it is finished, counted either way. */
static int do_connect(const struct opts *o, struct result *r, int fd)
{
	uint64_t t0 = sl_mono_ns();
	int rc = connect(fd, (struct sockaddr *)&o->dst, o->dst_len), e = errno;

	note_connect_time(r, t0);
	if (rc == 0 && o->expect_errno) {
		fail(r, "connected", "connect() succeeded, expected %s",
		     sl_errno_name(o->expect_errno));
		return 0;
	}
	if (rc == 0)
		return 1;
	if (e == o->expect_errno) {
		r->ok++;
		sl_tally_add(&r->errs, sl_errno_name(e));
		return 2;
	}
	fail(r, sl_errno_name(e), "connect %s: %s (%s)", o->dst_str, strerror(e),
	     sl_errno_name(e));
	return 0;
}

/* -s: a connect() left in progress is the success asked for. */
static void connecting_once(const struct opts *o, struct result *r, int fd, int *keep)
{
	int rc = connect(fd, (struct sockaddr *)&o->dst, o->dst_len), e = errno;

	if (rc == 0 || e != EINPROGRESS) {
		fail(r, rc ? sl_errno_name(e) : "connected", "connect %s: %s, expected EINPROGRESS",
		     o->dst_str, rc ? strerror(e) : "succeeded");
		close(fd);
		return;
	}
	sl_tally_add(&r->ids, "in-progress");
	r->ok++;
	*keep = fd;
}

/* One TCP attempt; the connected socket goes to *KEEP when KEEP is set. */
static void tcp_once(const struct opts *o, struct result *r, int *keep)
{
	char line[512];
	int fd, n, err, rc;

	r->attempts++;
	fd = new_socket(o, SOCK_STREAM | (o->in_progress ? SOCK_NONBLOCK : 0));
	if (fd < 0) {
		fail(r, "socket", "socket: %s", strerror(-fd));
		return;
	}
	if (o->in_progress) {
		connecting_once(o, r, fd, keep);
		return;
	}
	rc = do_connect(o, r, fd);
	if (rc == 2 && o->again) {
		r->attempts++;
		rc = do_connect(o, r, fd);
	}
	if (rc != 1 || !peer_ok(o, r, fd))
		goto out;
	n = read_line(fd, line, sizeof(line));
	if (n < 0) {
		fail(r, n == -EAGAIN ? "timeout" : sl_errno_name(-n),
		     "reading identity from %s: %s", o->dst_str, strerror(-n));
		goto out;
	}
	r->bytes_received += (uint64_t)n;
	if (o->delay_ms)
		usleep((useconds_t)o->delay_ms * 1000);
	if (o->bytes >= 0) {
		err = exchange(fd, o->bytes, o->end, &r->bytes_sent, &r->bytes_received);
		if (err) {
			fail(r, sl_errno_name(-err), "exchange: %s", strerror(-err));
			goto out;
		}
	}
	sl_tally_add(&r->ids, line);
	r->ok++;
	if (keep) {
		*keep = fd;
		return;
	}
out:
	close(fd);
}

static void udp_once(const struct opts *o, struct result *r)
{
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	char line[512], f[80];
	size_t plen = o->bytes > 0 ? (size_t)o->bytes : 1;
	char *payload = calloc(1, plen);
	ssize_t n;
	int fd;

	r->attempts++;
	fd = new_socket(o, SOCK_DGRAM);
	if (fd < 0 || !payload) {
		fail(r, "socket", "socket: %s", strerror(fd < 0 ? -fd : ENOMEM));
		goto out;
	}
	if (o->mode == M_UDP_CONNECTED) {
		if (do_connect(o, r, fd) != 1 || !peer_ok(o, r, fd))
			goto out;
		n = send(fd, payload, plen, 0);
	} else {
		n = sendto(fd, payload, plen, 0, (struct sockaddr *)&o->dst, o->dst_len);
	}
	if (n < 0) {
		fail(r, sl_errno_name(errno), "send: %s", strerror(errno));
		goto out;
	}
	r->bytes_sent += (uint64_t)n;
	memset(&from, 0, sizeof(from));
	n = recvfrom(fd, line, sizeof(line) - 1, 0, (struct sockaddr *)&from, &flen);
	if (n < 0) {
		fail(r, errno == EAGAIN ? "timeout" : sl_errno_name(errno), "recv: %s",
		     strerror(errno));
		goto out;
	}
	r->bytes_received += (uint64_t)n;
	if (o->mode == M_UDP_SENDTO && !sl_sockaddr_eq(&from, &o->dst)) {
		fail(r, "reply-source", "reply came from %s, sent to %s",
		     sl_fmt_sockaddr(&from, f, sizeof(f)), o->dst_str);
		goto out;
	}
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	sl_tally_add(&r->ids, line);
	r->ok++;
out:
	free(payload);
	if (fd >= 0)
		close(fd);
}

/* SIGTERM/SIGINT are held off while an attempt runs, so a sl_stop request
 * never cuts a connect() short (EINTR) after the kernel may already have
 * completed it: every attempt is whole, and the tally matches what the data
 * plane counted. Attempts are bounded by -w, so the sl_stop is not delayed long. */
static void block_stop_signals(bool block)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

static void attempt(const struct opts *o, struct result *r, int *keep)
{
	block_stop_signals(true);
	if (o->mode == M_TCP)
		tcp_once(o, r, keep);
	else
		udp_once(o, r);
	block_stop_signals(false);
	if (o->interval_ms)
		usleep((useconds_t)o->interval_ms * 1000);
}

static void sleep_until_stop(double seconds)
{
	uint64_t end = sl_mono_ns() + (uint64_t)(seconds * 1e9);

	while (!sl_stop && (seconds <= 0 || sl_mono_ns() < end))
		usleep(20000);
}

static void print_json(FILE *f, const struct result *r)
{
	fprintf(f, "{\"attempts\":%llu,\"ok\":%llu,\"failed\":%llu,",
		(unsigned long long)r->attempts, (unsigned long long)r->ok,
		(unsigned long long)r->failed);
	sl_tally_json(f, "identities", &r->ids);
	fprintf(f, ",");
	sl_tally_json(f, "errors", &r->errs);
	fprintf(f, ",\"bytes_sent\":%llu,\"bytes_received\":%llu,"
		"\"connect_ms_min\":%.3f,\"connect_ms_max\":%.3f}\n",
		(unsigned long long)r->bytes_sent, (unsigned long long)r->bytes_received,
		r->connect_ms_min, r->connect_ms_max);
}

static void print_result(const struct opts *o, const struct result *r)
{
	int i;

	if (o->json) {
		print_json(stdout, r);
		return;
	}
	for (i = 0; i < r->ids.len; i++)
		printf("%s %llu\n", r->ids.key[i], (unsigned long long)r->ids.n[i]);
	printf("# attempts %llu ok %llu failed %llu\n", (unsigned long long)r->attempts,
	       (unsigned long long)r->ok, (unsigned long long)r->failed);
	for (i = 0; i < r->errs.len; i++)
		printf("# error %s %llu\n", r->errs.key[i], (unsigned long long)r->errs.n[i]);
	printf("# bytes_sent %llu bytes_received %llu\n", (unsigned long long)r->bytes_sent,
	       (unsigned long long)r->bytes_received);
	printf("# connect_ms min %.3f max %.3f\n", r->connect_ms_min, r->connect_ms_max);
}

/* The ready file holds the JSON tally of the open connections, so a test
 * can see where they went while they are still held. */
static void write_keep_ready(const struct opts *o, const struct result *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!o->ready)
		return;
	f = open_memstream(&text, &len);
	if (!f)
		sl_die("out of memory");
	print_json(f, r);
	fclose(f);
	if (sl_write_ready(o->ready, text))
		fprintf(stderr, "sl-client: cannot write %s\n", o->ready);
	free(text);
}

static void run_keep(const struct opts *o, struct result *r)
{
	int *fds = calloc((size_t)o->keep, sizeof(int));
	long i, held = 0;

	if (!fds)
		sl_die("out of memory");
	for (i = 0; i < o->keep && !sl_stop; i++) {
		fds[held] = -1;
		attempt(o, r, &fds[held]);
		if (fds[held] >= 0)
			held++;
	}
	write_keep_ready(o, r);
	sleep_until_stop(o->duration_s);
	for (i = 0; i < held; i++)
		close(fds[i]);
	free(fds);
}

static void run_loop(const struct opts *o, struct result *r)
{
	uint64_t end = sl_mono_ns() + (uint64_t)(o->duration_s * 1e9);

	while (!sl_stop && sl_mono_ns() < end)
		attempt(o, r, NULL);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	int opt;

	*o = (struct opts){ .n = 1, .bytes = -1, .timeout_ms = 3000 };
	while ((opt = getopt(argc, argv, "n:uUk:st:li:b:c:d:pe:am:w:r:jh")) != -1) {
		switch (opt) {
		case 'n': o->n = sl_num_arg(optarg, 'n', 1, 100000000); break;
		case 'u': o->mode = M_UDP_CONNECTED; break;
		case 'U': o->mode = M_UDP_SENDTO; break;
		case 'k': o->keep = sl_num_arg(optarg, 'k', 1, 100000); break;
		case 's': o->in_progress = true; break;
		case 't': o->duration_s = atof(optarg); break;
		case 'l': o->loop = true; break;
		case 'i': o->interval_ms = sl_num_arg(optarg, 'i', 0, 60000); break;
		case 'b': o->bytes = sl_num_arg(optarg, 'b', 0, 1L << 40); break;
		case 'c':
			if (!strcmp(optarg, "eof"))
				o->end = END_EOF;
			else if (!strcmp(optarg, "close"))
				o->end = END_CLOSE;
			else if (!strcmp(optarg, "half"))
				o->end = END_HALF;
			else
				sl_die("-c: want eof, close or half, not '%s'", optarg);
			break;
		case 'd': o->delay_ms = sl_num_arg(optarg, 'd', 0, 3600000); break;
		case 'p': o->check_peer = true; break;
		case 'e':
			o->expect_errno = sl_errno_from_name(optarg);
			if (o->expect_errno <= 0)
				sl_die("-e: unknown errno name '%s'", optarg);
			break;
		case 'a': o->again = true; break;
		case 'm': o->mark = sl_num_arg(optarg, 'm', 1, 0xffffffffL); break;
		case 'w': o->timeout_ms = sl_num_arg(optarg, 'w', 1, 600000); break;
		case 'r': o->ready = optarg; break;
		case 'j': o->json = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		exit(2);
	}
	if (sl_parse_sockaddr(argv[optind], &o->dst, &o->dst_len))
		sl_die("bad address '%s' (want ADDR:PORT or [ADDR]:PORT)", argv[optind]);
	sl_fmt_sockaddr(&o->dst, o->dst_str, sizeof(o->dst_str));
	if (o->loop && o->duration_s <= 0)
		sl_die("-l needs -t SECS");
	if (o->keep && o->mode != M_TCP)
		sl_die("-k is for TCP");
	if (o->in_progress && !o->keep)
		sl_die("-s needs -k");
	if (o->expect_errno && o->mode == M_UDP_SENDTO)
		sl_die("-e needs connect(): use TCP or -u");
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = sl_on_stop };
	struct result r = { 0 };
	struct opts o;
	long i;

	sl_prog = "sl-client";
	parse_args(argc, argv, &o);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (o.keep)
		run_keep(&o, &r);
	else if (o.loop)
		run_loop(&o, &r);
	else
		for (i = 0; i < o.n && !sl_stop; i++)
			attempt(&o, &r, NULL);
	print_result(&o, &r);
	return r.failed || !r.attempts ? 1 : 0;
}
