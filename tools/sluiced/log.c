// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define PREFIX_MAX 64 /* "2026-01-05T10:11:12.345Z warn  " */

static const char *level_name(enum agent_log_level l)
{
	switch (l) {
	case LOG_ERROR: return "error";
	case LOG_WARN: return "warn ";
	case LOG_INFO: return "info ";
	default: return "debug";
	}
}

/* The time (UTC, RFC 3339 with milliseconds) and the level; its length. */
static size_t prefix(char out[PREFIX_MAX], enum agent_log_level l)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, PREFIX_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, PREFIX_MAX - n, ".%03dZ %s ", (int)(ts.tv_nsec / 1000000), level_name(l));
	return strlen(out);
}

static void write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDERR_FILENO, p, n);

		if (w <= 0)
			return; /* nowhere left to report it */
		p += w;
		n -= (size_t)w;
	}
}

/* Every line of MSG (a verifier log or a diagnostics list has many) gets
 * the prefix; the whole message goes out in one write. */
static void emit(enum agent_log_level l, const char *msg)
{
	char pre[PREFIX_MAX], *out, *o;
	size_t lines = 1, len = strlen(msg), plen = prefix(pre, l);

	if (len && msg[len - 1] == '\n')
		len--;
	for (size_t i = 0; i < len; i++)
		lines += msg[i] == '\n';
	o = out = malloc(len + lines * (plen + 1) + 1);
	if (!out) {
		write_all(pre, plen);
		write_all(msg, len);
		write_all("\n", 1);
		return;
	}
	for (const char *p = msg, *end = msg + len; p <= end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		memcpy(o, pre, plen);
		memcpy(o + plen, p, n);
		o += plen + n;
		*o++ = '\n';
		p += n + 1;
	}
	write_all(out, (size_t)(o - out));
	free(out);
}

static void vemit(enum agent_log_level lvl, const char *fmt, va_list ap)
{
	char *msg;

	if (vasprintf(&msg, fmt, ap) < 0) {
		emit(lvl, fmt); /* out of memory: the format still says what happened */
		return;
	}
	emit(lvl, msg);
	free(msg);
}

void agent_vlog(enum agent_log_level lvl, const char *fmt, va_list ap)
{
	if (lvl <= LOG_INFO || (int)lvl <= sl_verbosity)
		vemit(lvl, fmt, ap);
}

void agent_log(enum agent_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	agent_vlog(lvl, fmt, ap);
	va_end(ap);
}

/* sl_log already applied sl_verbosity. */
static void library_sink(enum sl_log_level lvl, const char *fmt, va_list ap)
{
	vemit((enum agent_log_level)lvl, fmt, ap);
}

void agent_log_init(void)
{
	sl_log_set_sink(library_sink);
	sl_libbpf_logging();
}
