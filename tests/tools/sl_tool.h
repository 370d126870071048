/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Helpers shared by the test tools (sl-server, sl-client, sl-origdst, sl-hold).
 * Header-only because the Makefile turns every .c file of tests/tools into its own
 * binary; everything here is static so each tool keeps one main.
 */
#ifndef SL_TOOL_H
#define SL_TOOL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static const char *sl_prog = "sl-tool";

/* Set by SIGTERM/SIGINT (install sl_on_stop): the tools finish their round
 * and report instead of dying mid-tally. */
static volatile sig_atomic_t sl_stop;

static inline void sl_on_stop(int sig)
{
	(void)sig;
	sl_stop = 1;
}

static inline void sl_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void sl_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", sl_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* "1.2.3.4:80" or "[::1]:80" into SS. Returns 0 or -EINVAL. */
static inline int sl_parse_sockaddr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *hs = s;
	size_t hl;
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	colon = strrchr(s, ':');
	if (!colon)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		hs = s + 1;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

/* SS as "IP:PORT" ("[IP]:PORT" for IPv6) into BUF. */
static inline char *sl_fmt_sockaddr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "?family%d", ss->ss_family);
	}
	return buf;
}

/* Same address family, address and port (scope/flowinfo ignored). */
static inline bool sl_sockaddr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return false;
}

/* "ECONNREFUSED" -> 111, or a plain number; -1 when unknown. */
static inline int sl_errno_from_name(const char *name)
{
	char *end;
	long v;
	int e;

	v = strtol(name, &end, 10);
	if (*name && !*end)
		return (int)v;
	for (e = 1; e < 200; e++) {
		const char *n = strerrorname_np(e);

		if (n && !strcmp(n, name))
			return e;
	}
	return -1;
}

static inline const char *sl_errno_name(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

static inline uint64_t sl_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Create PATH atomically (write a temp file, rename), so a poller never sees
 * a half-written ready file. */
static inline int sl_write_ready(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	if (!path)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	if (fclose(f))
		return -errno;
	if (rename(tmp, path))
		return -errno;
	return 0;
}

/* Positive integer option value, or die with the option's name. */
static inline long sl_num_arg(const char *s, char opt, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *end || end == s || v < min || v > max)
		sl_die("-%c: expected a number in [%ld, %ld], got '%s'", opt, min, max, s);
	return v;
}

/* Counts by key (identities, errno names), printed as a JSON object. */
#define SL_TALLY_KEYS 256

struct sl_tally {
	char *key[SL_TALLY_KEYS];
	uint64_t n[SL_TALLY_KEYS];
	int len;
};

static inline void sl_tally_add(struct sl_tally *t, const char *key)
{
	for (int i = 0; i < t->len; i++) {
		if (!strcmp(t->key[i], key)) {
			t->n[i]++;
			return;
		}
	}
	if (t->len == SL_TALLY_KEYS)
		return;
	t->key[t->len] = strdup(key);
	t->n[t->len++] = 1;
}

static inline void sl_json_str_out(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* "NAME":{"key":n,...} */
static inline void sl_tally_json(FILE *f, const char *name, const struct sl_tally *t)
{
	fprintf(f, "\"%s\":{", name);
	for (int i = 0; i < t->len; i++) {
		fputs(i ? "," : "", f);
		sl_json_str_out(f, t->key[i]);
		fprintf(f, ":%llu", (unsigned long long)t->n[i]);
	}
	fputc('}', f);
}

#endif /* SL_TOOL_H */
