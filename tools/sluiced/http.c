// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libmicrohttpd runs one internal thread with epoll. Handlers for the
 * probes answer inline (they are a few syscalls). /metrics suspends the
 * connection, queues it for the renderer thread, which renders once for
 * every queued request and resumes them; the HTTP thread then sends the
 * shared buffer. Lock order: this module's mutex is never held while
 * calling into libmicrohttpd from the renderer, so the two threads cannot
 * wait on each other in a cycle.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "http.h"
#include "log.h"
#include "util.h"

#define METRICS_MAX_BUFFERS 4
/* Per connection: the request line and headers, and our response headers.
 * A Prometheus or kubelet request is well under 1 KiB; a larger one gets
 * 431 from the library. */
#define CONN_MEMORY (16 * 1024)
#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define TEXT_TYPE "text/plain; charset=utf-8"

struct http_server;

/* One render of /metrics, shared by every response made from it. */
struct render_buf {
	struct http_server *h;
	char *data;
	size_t len;
	unsigned status; /* 200, or 503 with an explanation as the body */
	unsigned refs; /* under h->mu: responses using it, +1 while newest */
};

/* A /metrics request, suspended until the renderer hands it a buffer. */
struct scrape {
	struct MHD_Connection *conn;
	bool queued; /* handed to the renderer */
	struct render_buf *buf; /* with a reference; NULL: nothing to send */
	bool sent; /* a response took the reference over */
	struct scrape *next;
};

struct http_server {
	struct MHD_Daemon *d;
	struct http_routes r;
	pthread_t renderer;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct scrape *pending; /* waiting for the next render */
	struct render_buf *newest;
	unsigned n_bufs; /* render buffers alive */
	bool stop;
};

/* --- render buffers (callers hold h->mu) ----------------------------- */

static void buf_unref(struct render_buf *b)
{
	if (--b->refs)
		return;
	b->h->n_bufs--;
	free(b->data);
	free(b);
}

/* libmicrohttpd calls this when a response made from B is destroyed. */
static void buf_release(void *cls)
{
	struct render_buf *b = cls;
	struct http_server *h = b->h;

	pthread_mutex_lock(&h->mu);
	buf_unref(b);
	pthread_mutex_unlock(&h->mu);
}

static struct render_buf *render(struct http_server *h)
{
	struct render_buf *b = calloc(1, sizeof(*b));
	int err;

	if (!b)
		return NULL;
	b->h = h;
	b->status = 200;
	err = h->r.metrics(h->r.ctx, &b->data, &b->len);
	if (err) {
		b->status = 503;
		if (asprintf(&b->data, "metrics unavailable: %s\n", strerror(-err)) < 0) {
			free(b);
			return NULL;
		}
		b->len = strlen(b->data);
	}
	return b;
}

/* The buffer for a batch: a new render, or the newest one when the limit
 * of live buffers is reached (or a render found no memory). Called with
 * h->mu held; drops it while rendering. */
static struct render_buf *batch_buffer(struct http_server *h)
{
	bool fresh = h->n_bufs < METRICS_MAX_BUFFERS || !h->newest;
	struct render_buf *b;

	if (h->stop)
		return NULL;
	pthread_mutex_unlock(&h->mu);
	b = fresh ? render(h) : NULL;
	pthread_mutex_lock(&h->mu);
	if (!b)
		return h->newest;
	b->refs = 1;
	h->n_bufs++;
	if (h->newest)
		buf_unref(h->newest);
	h->newest = b;
	return b;
}

static void *renderer_main(void *arg)
{
	struct http_server *h = arg;
	struct scrape *batch, *s, *next;
	struct render_buf *b;

	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (!h->stop && !h->pending)
			pthread_cond_wait(&h->cv, &h->mu);
		batch = h->pending;
		h->pending = NULL;
		if (!batch)
			break; /* stopping, and every suspended request was answered */
		b = batch_buffer(h);
		for (s = batch; s; s = s->next) {
			s->buf = b;
			if (b)
				b->refs++;
		}
		pthread_mutex_unlock(&h->mu);
		/* S belongs to the HTTP thread again once resumed. */
		for (s = batch; s; s = next) {
			struct MHD_Connection *c = s->conn;

			next = s->next;
			MHD_resume_connection(c);
		}
		pthread_mutex_lock(&h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* --- responses --------------------------------------------------------- */

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text,
				    const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
								 MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, TEXT_TYPE);
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result probe(struct http_server *h, struct MHD_Connection *c,
			     bool (*check)(void *, char *, size_t))
{
	char why[512] = "", body[sizeof(why) + 2];
	bool ok = check(h->r.ctx, why, sizeof(why));

	snprintf(body, sizeof(body), "%s\n", ok ? "ok" : why);
	return respond_text(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body, NULL);
}

/* Suspended before the renderer can see it, so its resume cannot come
 * first. */
static enum MHD_Result queue_scrape(struct http_server *h, struct MHD_Connection *c,
				    struct scrape *s)
{
	pthread_mutex_lock(&h->mu);
	if (h->stop) {
		pthread_mutex_unlock(&h->mu);
		return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n", NULL);
	}
	s->queued = true;
	MHD_suspend_connection(c);
	s->next = h->pending;
	h->pending = s;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	return MHD_YES;
}

static enum MHD_Result send_scrape(struct http_server *h, struct MHD_Connection *c,
				   struct scrape *s)
{
	struct MHD_Response *r;
	struct render_buf *b;
	enum MHD_Result ret;
	bool stop;

	pthread_mutex_lock(&h->mu);
	b = s->buf;
	stop = h->stop;
	pthread_mutex_unlock(&h->mu);
	if (!b)
		return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				    stop ? "shutting down\n" : "out of memory\n", NULL);
	r = MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data, buf_release, b);
	if (!r)
		return MHD_NO; /* on_completed drops the reference */
	s->sent = true;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				b->status == MHD_HTTP_OK ? PROM_TYPE : TEXT_TYPE);
	ret = MHD_queue_response(c, b->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* *CON_CLS of requests that route() answers (no connection: not a scrape). */
static struct scrape inline_route;

/* Answers an inline route; called once the whole request was read. */
static enum MHD_Result route(struct http_server *h, struct MHD_Connection *c, const char *url,
			     const char *method)
{
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
				    "GET, HEAD");
	if (!strcmp(url, "/healthz"))
		return probe(h, c, h->r.healthz);
	if (!strcmp(url, "/readyz"))
		return probe(h, c, h->r.readyz);
	return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
}

/* libmicrohttpd calls this once the headers are in (*CON_CLS is NULL),
 * then for each piece of a body, then once more with no data. A response
 * queued at the first call closes the connection (the library cannot
 * know whether a body follows), so answers go out at the last call, and a
 * body (no route takes one) is dropped. A scrape is queued for the
 * renderer at the last call and answered at the call after its resume. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct http_server *h = cls;
	bool scrape = !strcmp(url, "/metrics") && (!strcmp(method, MHD_HTTP_METHOD_GET) ||
						   !strcmp(method, MHD_HTTP_METHOD_HEAD));

	(void)version;
	(void)upload;
	if (!*con_cls) {
		struct scrape *s = scrape ? calloc(1, sizeof(*s)) : &inline_route;

		if (!s)
			return MHD_NO;
		if (scrape)
			s->conn = c;
		*con_cls = s;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*con_cls == &inline_route)
		return route(h, c, url, method);
	if (!((struct scrape *)*con_cls)->queued)
		return queue_scrape(h, c, *con_cls);
	return send_scrape(h, c, *con_cls);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *h = cls;
	struct scrape *s = *con_cls;

	(void)c;
	(void)toe;
	if (!s || !s->conn)
		return;
	pthread_mutex_lock(&h->mu);
	if (s->buf && !s->sent)
		buf_unref(s->buf);
	pthread_mutex_unlock(&h->mu);
	free(s);
	*con_cls = NULL;
}

/* The library's own messages (a connection refused at the limit, a
 * malformed request) can come once per connection under a flood: at most
 * LOG_BURST a second reach the log. */
#define LOG_BURST 5
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	static _Atomic uint64_t window;
	static _Atomic unsigned in_window;
	uint64_t now_s = sl_now_mono_ns() / 1000000000ull;

	(void)cls;
	if (atomic_exchange(&window, now_s) != now_s)
		atomic_store(&in_window, 0);
	if (atomic_fetch_add(&in_window, 1) < LOG_BURST)
		agent_vlog(LOG_INFO, fmt, ap);
}

/* --- start and stop ---------------------------------------------------- */

static int listen_on(const char *spec)
{
	return sl_listen_tcp(spec, SOCK_NONBLOCK, SOMAXCONN);
}

static struct MHD_Daemon *start_daemon(struct http_server *h, int fd, const struct http_opts *o)
{
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
					MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
				0, NULL, NULL, on_request, h,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, o->max_conns,
				MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_s,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1,
				MHD_OPTION_END);
}

static void stop_renderer(struct http_server *h)
{
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->renderer, NULL);
}

struct http_server *http_start(const char *addr, const struct http_opts *o,
			       const struct http_routes *r, int *err)
{
	struct http_server *h = calloc(1, sizeof(*h));
	int fd;

	if (!h) {
		*err = -ENOMEM;
		return NULL;
	}
	h->r = *r;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	fd = listen_on(addr);
	if (fd < 0) {
		*err = fd;
		goto fail;
	}
	*err = -pthread_create(&h->renderer, NULL, renderer_main, h);
	if (*err) {
		close(fd);
		goto fail;
	}
	h->d = start_daemon(h, fd, o);
	if (h->d)
		return h;
	*err = -EIO; /* the library logged why */
	close(fd);
	stop_renderer(h);
fail:
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
	return NULL;
}

void http_stop(struct http_server *h)
{
	if (!h)
		return;
	/* Every suspended scrape is resumed (answered 503) before the
	 * library is stopped, which it requires. */
	stop_renderer(h);
	MHD_stop_daemon(h->d);
	pthread_mutex_lock(&h->mu);
	if (h->newest)
		buf_unref(h->newest);
	pthread_mutex_unlock(&h->mu);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
