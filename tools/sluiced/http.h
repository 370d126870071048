/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The agent's HTTP endpoint: /metrics, /healthz, /readyz; every other path
 * 404, every method but GET and HEAD 405.
 *
 * Served by libmicrohttpd on its own thread (epoll), with a connection
 * limit, an idle timeout that also covers a client that stops reading, and
 * a bounded request size, so no client can hold the policy loop, which
 * never calls into this module after http_start().
 *
 * /metrics is rendered off the HTTP thread, on a renderer thread, into a
 * buffer that the HTTP thread then sends: a large scrape never delays the
 * probes or other clients. Requests that arrive while a render runs share
 * the next one, and at most METRICS_MAX_BUFFERS rendered buffers exist at a
 * time (clients that do not read keep theirs until the idle timeout); when
 * all are in use a request gets the newest one instead of a new render, so
 * memory stays bounded under any number of slow scrapers.
 */
#ifndef SLUICED_HTTP_H
#define SLUICED_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct http_routes {
	void *ctx;
	/* Prometheus text into a malloc'd buffer; runs on the renderer
	 * thread. Returns 0 or -errno. */
	int (*metrics)(void *ctx, char **buf, size_t *len);
	/* Probes run on the HTTP thread and must be quick (a few syscalls).
	 * True when healthy/ready; otherwise WHY says what is wrong. */
	bool (*healthz)(void *ctx, char *why, size_t len);
	bool (*readyz)(void *ctx, char *why, size_t len);
};

struct http_opts {
	unsigned max_conns; /* connections served at once; more wait in the backlog */
	unsigned idle_timeout_s; /* a connection without progress either way is closed */
};

struct http_server;

/* Listens on ADDR ("IP:PORT", "[IPv6]:PORT") and serves in the
 * background. NULL with *ERR = -errno on failure. */
struct http_server *http_start(const char *addr, const struct http_opts *o,
			       const struct http_routes *r, int *err);
/* Stops serving, answers every waiting scrape, joins the threads. */
void http_stop(struct http_server *h);

#endif
