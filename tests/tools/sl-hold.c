// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-hold: long-lived connections that must keep working across a change.
 *
 * Opens N TCP connections to ADDR:PORT, reads each one's identity line (the
 * endpoint's sl-server sends it), reports where they went in the READY file
 * and waits until the file GO exists. Then it sends BYTES of a pattern
 * unique to each connection on every one of them and reads them back (the
 * server must echo: sl-server -e), byte for byte. A test creates GO after
 * it changed the data plane (a new endpoint set, a removed endpoint), so a
 * connection that was moved to another endpoint (reset), black-holed
 * (timeout) or corrupted shows up as a failure under its first identity.
 */
#include <poll.h>
#include <signal.h>

#include "sl_tool.h"

#define MAX_CONNS 4096

struct opts {
	struct sockaddr_storage dst;
	socklen_t dst_len;
	long n, bytes, timeout_ms;
	const char *ready, *go;
};

struct held {
	int fd;
	char id[128];
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sl-hold [-n N] [-b BYTES] [-w MS] -r READY -g GO ADDR:PORT\n"
		"  -n N      connections to open and hold (default 10)\n"
		"  -b BYTES  bytes each connection sends and expects back (default 1000)\n"
		"  -w MS     connect and read timeout (default 3000)\n"
		"  -r READY  written once all are open: {\"held\",\"failed\",\"identities\":{}}\n"
		"  -g GO     exchange data once this file exists (SIGTERM: sl_stop)\n"
		"Output (stdout): {\"held\",\"ok\",\"failed\",\"ok_by_identity\":{},\n"
		"  \"failed_by_identity\":{},\"errors\":{}}. Exit 0 when every connection\n"
		"  opened and exchanged its bytes, 1 otherwise, 2 on usage.\n");
}

static int set_timeouts(int fd, long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

/* Identity line, byte by byte so nothing of the echo is consumed. */
static int read_identity(int fd, char *id, size_t len)
{
	size_t i = 0;

	while (i + 1 < len) {
		ssize_t r = recv(fd, id + i, 1, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ECONNRESET;
		if (id[i] == '\n')
			break;
		if ((unsigned char)id[i] < 0x20 || id[i] == '"' || id[i] == '\\')
			return -EPROTO; /* keeps the JSON output well formed */
		i++;
	}
	id[i] = '\0';
	return 0;
}

static int open_one(const struct opts *o, struct held *h)
{
	int fd, err;

	h->fd = -1;
	fd = socket(o->dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = set_timeouts(fd, o->timeout_ms);
	if (!err && connect(fd, (struct sockaddr *)&o->dst, o->dst_len))
		err = -errno;
	if (!err)
		err = read_identity(fd, h->id, sizeof(h->id));
	if (err) {
		close(fd);
		return err;
	}
	h->fd = fd;
	return 0;
}

/* The pattern of connection IDX: a byte sequence no other connection sends,
 * so data delivered to the wrong socket cannot pass for the echo. */
static void fill_pattern(unsigned char *p, long n, long idx)
{
	long i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 7 + idx * 131 + 1) & 0xff);
}

static int send_all(int fd, const unsigned char *p, long n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, (size_t)n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		p += w;
		n -= w;
	}
	return 0;
}

static int recv_all(int fd, unsigned char *p, long n)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, (size_t)n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (r == 0)
			return -ECONNRESET;
		p += r;
		n -= r;
	}
	return 0;
}

/* Send BYTES and read them back. A server that echoes sends each chunk
 * back as it arrives; chunks of at most 16 KiB never fill both socket
 * buffers, so the blocking send and receive cannot deadlock. */
static int exchange(const struct opts *o, struct held *h, long idx)
{
	unsigned char *out = malloc((size_t)o->bytes + 1), *in = malloc((size_t)o->bytes + 1);
	long off, chunk;
	int err = 0;

	if (!out || !in) {
		err = -ENOMEM;
		goto out;
	}
	fill_pattern(out, o->bytes, idx);
	for (off = 0; off < o->bytes && !err; off += chunk) {
		chunk = o->bytes - off < 16384 ? o->bytes - off : 16384;
		err = send_all(h->fd, out + off, chunk);
		if (!err)
			err = recv_all(h->fd, in + off, chunk);
	}
	if (!err && memcmp(in, out, (size_t)o->bytes))
		err = -EBADMSG;
out:
	free(out);
	free(in);
	return err;
}

static void write_ready(const struct opts *o, long held, long failed, const struct sl_tally *ids)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		sl_die("out of memory");
	fprintf(f, "{\"held\":%ld,\"failed\":%ld,", held, failed);
	sl_tally_json(f, "identities", ids);
	fprintf(f, "}\n");
	fclose(f);
	if (sl_write_ready(o->ready, text))
		fprintf(stderr, "sl-hold: cannot write %s\n", o->ready);
	free(text);
}

static void wait_go(const struct opts *o)
{
	while (!sl_stop && access(o->go, F_OK))
		usleep(20000);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	int opt;

	*o = (struct opts){ .n = 10, .bytes = 1000, .timeout_ms = 3000 };
	while ((opt = getopt(argc, argv, "n:b:w:r:g:h")) != -1) {
		switch (opt) {
		case 'n': o->n = sl_num_arg(optarg, 'n', 1, MAX_CONNS); break;
		case 'b': o->bytes = sl_num_arg(optarg, 'b', 1, 1L << 26); break;
		case 'w': o->timeout_ms = sl_num_arg(optarg, 'w', 1, 600000); break;
		case 'r': o->ready = optarg; break;
		case 'g': o->go = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc - 1 || !o->ready || !o->go) {
		usage(stderr);
		exit(2);
	}
	if (sl_parse_sockaddr(argv[optind], &o->dst, &o->dst_len))
		sl_die("bad address '%s' (want ADDR:PORT or [ADDR]:PORT)", argv[optind]);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = sl_on_stop };
	struct sl_tally ids = { 0 }, ok_ids = { 0 }, bad_ids = { 0 }, errs = { 0 };
	static struct held h[MAX_CONNS];
	long i, held = 0, ok = 0, failed = 0;
	struct opts o;
	int err;

	sl_prog = "sl-hold";
	parse_args(argc, argv, &o);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < o.n; i++) {
		err = open_one(&o, &h[i]);
		if (err) {
			failed++;
			sl_tally_add(&errs, sl_errno_name(-err));
			continue;
		}
		held++;
		sl_tally_add(&ids, h[i].id);
	}
	write_ready(&o, held, failed, &ids);
	wait_go(&o);
	for (i = 0; i < o.n && !sl_stop; i++) {
		if (h[i].fd < 0)
			continue;
		err = exchange(&o, &h[i], i);
		if (err) {
			failed++;
			sl_tally_add(&bad_ids, h[i].id);
			sl_tally_add(&errs, sl_errno_name(-err));
		} else {
			ok++;
			sl_tally_add(&ok_ids, h[i].id);
		}
	}
	for (i = 0; i < o.n; i++)
		if (h[i].fd >= 0)
			close(h[i].fd);
	printf("{\"held\":%ld,\"ok\":%ld,\"failed\":%ld,", held, ok, failed);
	sl_tally_json(stdout, "ok_by_identity", &ok_ids);
	putchar(',');
	sl_tally_json(stdout, "failed_by_identity", &bad_ids);
	putchar(',');
	sl_tally_json(stdout, "errors", &errs);
	printf("}\n");
	return failed || ok != o.n ? 1 : 0;
}
