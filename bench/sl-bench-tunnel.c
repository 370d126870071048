// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-bench-tunnel: the client side of bench/run-proxy.sh. One JSON line per
 * run on stdout.
 *
 *   hs   -d CERTDIR [-S SNI] -n N ADDR   N full TLS 1.3 handshakes with a
 *        client certificate (P-256 only, ALPN h2, no resumption), one TCP
 *        connection each: {"n","ok","wall_s"}
 *   bulk -n BYTES ADDR                   send BYTES, half-close, read to EOF:
 *        {"bytes","secs","gbit_s"}
 *   rr   -n K [-s SIZE] ADDR             K request/response round trips of
 *        SIZE bytes on one connection to an echo server: {"n","p50_us","p99_us","mean_us"}
 *   conn -n N ADDR                       N connections, each until the first
 *        byte (or EOF) comes back: {"n","ok","p50_us","p99_us"}
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int dial(const char *addr)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 10 };
	int fd, one = 1;

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return -1;
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, long n, double p)
{
	long i = (long)(p * (double)(n - 1) + 0.5);

	return n ? (double)v[i] / 1000.0 : 0;
}

static SSL_CTX *client_ctx(const char *dir)
{
	char cert[4096], key[4096], ca[4096];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	static const unsigned char alpn[] = "\x02h2";

	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(ca, sizeof(ca), "%s/root.pem", dir);
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) ||
	    !SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) ||
	    !SSL_CTX_load_verify_locations(ctx, ca, NULL) ||
	    !SSL_CTX_set1_groups_list(ctx, "P-256") ||
	    SSL_CTX_set_alpn_protos(ctx, alpn, 3)) {
		ERR_print_errors_fp(stderr);
		exit(1);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* HAProxy's benchmark frontend closes right after the handshake */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	return ctx;
}

static int run_hs(const char *dir, const char *sni, long n, const char *addr)
{
	SSL_CTX *ctx = client_ctx(dir);
	uint64_t t0 = now_ns();
	long ok = 0;

	for (long i = 0; i < n; i++) {
		int fd = dial(addr);
		SSL *ssl = fd >= 0 ? SSL_new(ctx) : NULL;

		if (ssl && SSL_set_fd(ssl, fd) && (!sni || SSL_set_tlsext_host_name(ssl, sni)) &&
		    SSL_connect(ssl) == 1) {
			char b;

			/* TLS 1.3: the server checks our certificate after our
			 * Finished; a 0-byte read with a short wait lets a refusal
			 * arrive as an alert, not after we counted it. */
			struct timeval tv = { .tv_usec = 1000 };

			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			int r = SSL_peek(ssl, &b, 1);

			if (r > 0 || SSL_get_error(ssl, r) != SSL_ERROR_SSL)
				ok++;
		}
		ERR_clear_error();
		if (ssl)
			SSL_free(ssl);
		if (fd >= 0)
			close(fd);
	}
	printf("{\"n\":%ld,\"ok\":%ld,\"wall_s\":%.3f}\n", n, ok, (double)(now_ns() - t0) / 1e9);
	SSL_CTX_free(ctx);
	return ok == n ? 0 : 1;
}

static int run_bulk(long bytes, const char *addr)
{
	static char buf[1 << 16];
	int fd = dial(addr);
	uint64_t t0 = now_ns();
	long left = bytes;
	ssize_t k;

	if (fd < 0)
		return 1;
	memset(buf, 'x', sizeof(buf));
	while (left > 0) {
		k = write(fd, buf, left < (long)sizeof(buf) ? (size_t)left : sizeof(buf));
		if (k <= 0)
			return 1;
		left -= k;
	}
	shutdown(fd, SHUT_WR);
	while ((k = read(fd, buf, sizeof(buf))) > 0)
		;
	double s = (double)(now_ns() - t0) / 1e9;

	printf("{\"bytes\":%ld,\"secs\":%.4f,\"gbit_s\":%.3f}\n", bytes, s, (double)bytes * 8 / s / 1e9);
	close(fd);
	return k < 0;
}

static int read_full(int fd, char *b, size_t n)
{
	size_t got = 0;
	ssize_t k;

	while (got < n) {
		k = read(fd, b + got, n - got);
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 0;
}

static int run_rr(long n, long size, const char *addr)
{
	char req[4096], rsp[4096], line[256];
	uint64_t *lat = calloc((size_t)n, sizeof(*lat)), sum = 0;
	int fd = dial(addr);
	ssize_t k;

	if (fd < 0 || !lat || size > (long)sizeof(req))
		return 1;
	/* the echo server's identity line first */
	k = read(fd, line, sizeof(line));
	if (k <= 0)
		return 1;
	memset(req, 'r', (size_t)size);
	for (long i = 0; i < n; i++) {
		uint64_t t = now_ns();

		if (write(fd, req, (size_t)size) != size || read_full(fd, rsp, (size_t)size))
			return 1;
		lat[i] = now_ns() - t;
		sum += lat[i];
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	printf("{\"n\":%ld,\"p50_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f}\n", n, pct(lat, n, 0.5),
	       pct(lat, n, 0.99), (double)sum / (double)n / 1000.0);
	close(fd);
	free(lat);
	return 0;
}

static int run_conn(long n, const char *addr)
{
	uint64_t *lat = calloc((size_t)n, sizeof(*lat));
	long ok = 0;
	char b[256];

	if (!lat)
		return 1;
	for (long i = 0; i < n; i++) {
		uint64_t t = now_ns();
		int fd = dial(addr);

		if (fd >= 0 && read(fd, b, sizeof(b)) >= 0)
			lat[ok++] = now_ns() - t;
		if (fd >= 0)
			close(fd);
	}
	qsort(lat, (size_t)ok, sizeof(*lat), cmp_u64);
	printf("{\"n\":%ld,\"ok\":%ld,\"p50_us\":%.1f,\"p99_us\":%.1f}\n", n, ok, pct(lat, ok, 0.5),
	       pct(lat, ok, 0.99));
	free(lat);
	return ok == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *sni = NULL, *mode = argc > 1 ? argv[1] : "";
	long n = 1000, size = 64;
	int opt;

	optind = 2;
	while ((opt = getopt(argc, argv, "d:S:n:s:")) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 'S': sni = optarg; break;
		case 'n': n = atol(optarg); break;
		case 's': size = atol(optarg); break;
		default: return 2;
		}
	}
	if (optind != argc - 1 || n < 1) {
		fprintf(stderr, "usage: sl-bench-tunnel hs|bulk|rr|conn [-d CERTDIR] [-S SNI] [-n N] [-s SIZE] ADDR:PORT\n");
		return 2;
	}
	if (!strcmp(mode, "hs") && dir)
		return run_hs(dir, sni, n, argv[optind]);
	if (!strcmp(mode, "bulk"))
		return run_bulk(n, argv[optind]);
	if (!strcmp(mode, "rr"))
		return run_rr(n, size, argv[optind]);
	if (!strcmp(mode, "conn"))
		return run_conn(n, argv[optind]);
	return 2;
}
