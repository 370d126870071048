// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-bench-client: the application side of the connection-setup benchmark.
 *
 * One connection at a time: socket(), blocking connect(), read() until the
 * server's close shows as EOF, close(). The targets given are used in turn
 * (the direct case spreads over the four endpoints itself; through a VIP
 * there is one target). The clock runs over the whole loop, so ns/conn is
 * wall time per complete connect-accept-close cycle as the application
 * sees it; per-connection times give the percentiles.
 *
 * Every connection must succeed: a failure is reported with its errno and
 * makes the exit status 1; the benchmark script then lists the round as
 * failed in the report. A number that silently includes failed attempts is
 * not a result.
 *
 * Output, one line of JSON:
 * {"n":N,"failed":F,"elapsed_ns":T,"ns_per_conn":X,"conn_per_s":Y,
 *  "p50_ns":..,"p90_ns":..,"p99_ns":..,"min_ns":..,"max_ns":..,"first_error":".."}
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#define MAX_TARGETS 64

struct opts {
	struct sockaddr_in dst[MAX_TARGETS];
	int n_dst;
	long n, warmup, timeout_ms;
};

struct result {
	uint64_t ok, failed, elapsed_ns;
	uint64_t *lat; /* per measured connection, ns */
	char first_error[128];
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sl-bench-client [-n N] [-w WARMUP] [-t MS] ADDR:PORT...\n"
		"  -n N       measured connections (default 20000)\n"
		"  -w WARMUP  unmeasured connections first (default 1000)\n"
		"  -t MS      connect/read timeout per connection (default 3000)\n"
		"  Targets are used round-robin. Prints one JSON line; exit 1 if\n"
		"  any connection failed.\n");
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

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

static long parse_long(const char *s, long min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min) {
		fprintf(stderr, "sl-bench-client: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

/* One complete cycle. Returns 0 or -errno; WHAT names the failing step. */
static int one_conn(const struct sockaddr_in *dst, const struct timeval *tv,
		    const char **what)
{
	char buf[64];
	ssize_t r;
	int fd, err = 0;

	*what = "socket";
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* SO_SNDTIMEO bounds connect(), SO_RCVTIMEO the read: a lost SYN
	 * must fail the run, not hang it. */
	*what = "setsockopt";
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv, sizeof(*tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, sizeof(*tv)))
		goto fail;
	*what = "connect";
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)))
		goto fail;
	*what = "read";
	do
		r = read(fd, buf, sizeof(buf));
	while (r > 0 || (r < 0 && errno == EINTR));
	if (r < 0)
		goto fail;
	close(fd);
	return 0;
fail:
	err = -errno;
	close(fd);
	return err;
}

static void record_error(struct result *res, const struct sockaddr_in *dst,
			 const char *what, int err)
{
	char a[INET_ADDRSTRLEN];

	res->failed++;
	if (res->first_error[0])
		return;
	inet_ntop(AF_INET, &dst->sin_addr, a, sizeof(a));
	snprintf(res->first_error, sizeof(res->first_error), "%s %s:%u: %s",
		 what, a, ntohs(dst->sin_port), strerror(-err));
}

static void run(const struct opts *o, struct result *res)
{
	struct timeval tv = { .tv_sec = o->timeout_ms / 1000,
			      .tv_usec = (o->timeout_ms % 1000) * 1000 };
	const struct sockaddr_in *dst;
	uint64_t t0, t, prev;
	const char *what;
	long i;
	int err;

	for (i = 0; i < o->warmup; i++) {
		dst = &o->dst[i % o->n_dst];
		err = one_conn(dst, &tv, &what);
		if (err)
			record_error(res, dst, what, err);
	}
	t0 = prev = now_ns();
	for (i = 0; i < o->n; i++) {
		dst = &o->dst[i % o->n_dst];
		err = one_conn(dst, &tv, &what);
		t = now_ns();
		res->lat[i] = t - prev;
		prev = t;
		if (err)
			record_error(res, dst, what, err);
		else
			res->ok++;
	}
	res->elapsed_ns = prev - t0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, long n, int p)
{
	long i = (n * p + 99) / 100 - 1;

	return v[i < 0 ? 0 : i];
}

static void print_result(const struct opts *o, struct result *res)
{
	double per = (double)res->elapsed_ns / (double)o->n;

	qsort(res->lat, (size_t)o->n, sizeof(*res->lat), cmp_u64);
	printf("{\"n\":%ld,\"failed\":%llu,\"elapsed_ns\":%llu,"
	       "\"ns_per_conn\":%.1f,\"conn_per_s\":%.1f,\"min_ns\":%llu,"
	       "\"p50_ns\":%llu,\"p90_ns\":%llu,\"p99_ns\":%llu,\"max_ns\":%llu,"
	       "\"first_error\":\"%s\"}\n",
	       o->n, (unsigned long long)res->failed,
	       (unsigned long long)res->elapsed_ns, per, 1e9 / per,
	       (unsigned long long)res->lat[0],
	       (unsigned long long)pct(res->lat, o->n, 50),
	       (unsigned long long)pct(res->lat, o->n, 90),
	       (unsigned long long)pct(res->lat, o->n, 99),
	       (unsigned long long)res->lat[o->n - 1], res->first_error);
}

int main(int argc, char **argv)
{
	struct opts o = { .n = 20000, .warmup = 1000, .timeout_ms = 3000 };
	struct result res = { 0 };
	int opt, i;

	while ((opt = getopt(argc, argv, "n:w:t:h")) != -1) {
		switch (opt) {
		case 'n': o.n = parse_long(optarg, 1); break;
		case 'w': o.warmup = parse_long(optarg, 0); break;
		case 't': o.timeout_ms = parse_long(optarg, 1); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	o.n_dst = argc - optind;
	if (o.n_dst < 1 || o.n_dst > MAX_TARGETS) {
		usage(stderr);
		return 2;
	}
	for (i = 0; i < o.n_dst; i++) {
		if (parse_addr(argv[optind + i], &o.dst[i])) {
			fprintf(stderr, "sl-bench-client: bad address '%s'\n", argv[optind + i]);
			return 2;
		}
	}
	res.lat = calloc((size_t)o.n, sizeof(*res.lat));
	if (!res.lat) {
		perror("sl-bench-client");
		return 1;
	}
	run(&o, &res);
	print_result(&o, &res);
	if (res.failed)
		fprintf(stderr, "sl-bench-client: %llu of %ld connections failed; first: %s\n",
			(unsigned long long)res.failed, o.n + o.warmup, res.first_error);
	free(res.lat);
	return res.failed ? 1 : 0;
}
