// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Workers and their epoll loops. One worker per core (or --workers); each
 * waits on the two shared listening sockets and owns every connection and
 * session it accepted or opened. What connections and sessions call back
 * (registration, the clock, outbound sockets) is in io.c, so that the loop
 * only calls down into them.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "proxy/hbone.h"
#include "proxy/proxy.h"
#include "util.h"

static void accept_some(struct px_worker *w, struct px_listener *l)
{
	int one = 1;

	for (int i = 0; i < 64 && !w->px->draining; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (l->hbone)
			px_inbound_accept(w, fd);
		else
			px_outbound_accept(w, fd);
	}
}

static void listener_event(struct px_ev *ev, uint32_t events)
{
	(void)events;
	(void)ev;
}

/* Not EPOLLEXCLUSIVE: during a hand-over the old process still waits on the
 * same sockets without accepting, and an exclusive wake-up that lands there
 * would leave a connection queued until the next one arrives. Every worker
 * wakes; the ones that lose the race get EAGAIN. */
static void add_listener(struct px_worker *w, struct px_listener *l)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = &l->ev };

	if (l->fd >= 0 && epoll_ctl(w->epfd, EPOLL_CTL_ADD, l->fd, &e))
		pr_warn("proxy: epoll listener: %s\n", strerror(errno));
}

static void pause_listeners(struct px_worker *w)
{
	struct px *px = w->px;

	if (px->out_l.fd >= 0)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, px->out_l.fd, NULL);
	if (px->hb_l.fd >= 0)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, px->hb_l.fd, NULL);
}

/* Done draining: no connection left and peers had time to act on our
 * GOAWAY (sent within a second of the hand-over; a CONNECT they sent before
 * seeing it is still served), or the deadline passed. */
bool px_drained(const struct px *px, bool idle)
{
	uint64_t now = px_now();

	return (idle && now > px->drain_started_ns + 3000000000ull) || now > px->drain_deadline_ns;
}

static void *worker_main(void *arg)
{
	struct px_worker *w = arg;
	struct px *px = w->px;
	struct epoll_event evs[128];
	uint64_t next_tick = 0;
	bool paused = false;

	add_listener(w, &px->out_l);
	add_listener(w, &px->hb_l);
	while (!px->stop) {
		int n = epoll_wait(w->epfd, evs, 128, 200);

		w->now_ns = px_now();
		for (int i = 0; i < n; i++) {
			struct px_ev *ev = evs[i].data.ptr;

			if (ev->magic == PX_MAGIC_LSN)
				accept_some(w, ev->owner);
			else if (ev->magic == PX_MAGIC_CONN || ev->magic == PX_MAGIC_SESS)
				ev->fn(ev, evs[i].events);
		}
		px_conn_run_kicks(w);
		px_conn_reap(w);
		px_sess_reap(w);
		if (px->draining && !paused) {
			pause_listeners(w);
			paused = true;
		}
		if (w->now_ns >= next_tick) {
			next_tick = w->now_ns + 1000000000ull;
			px_conn_tick(w);
			px_sess_tick(w);
			px_conn_reap(w);
			px_sess_reap(w);
		}
		if (px->draining && px_drained(px, !w->n_conns))
			break;
	}
	return NULL;
}

static const struct px_hooks hooks = {
	.conn_open = px_conn_open,
	.conn_abort = px_conn_abort,
	.stream_data = px_conn_stream_data,
	.stream_eof = px_conn_stream_eof,
	.stream_read = px_conn_stream_read,
	.stream_closed = px_conn_stream_closed,
	.request = px_hbone_request,
	.tunnel_open = px_tunnel_open,
};

const struct px_hooks *px_hooks(void)
{
	return &hooks;
}

int px_workers_start(struct px *px)
{
	for (int i = 0; i < px->nw; i++) {
		struct px_worker *w = &px->w[i];

		w->px = px;
		w->hooks = px_hooks();
		w->idx = i;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		pthread_mutex_init(&w->mlock, NULL);
		if (w->epfd < 0 || pthread_create(&w->th, NULL, worker_main, w))
			return -1;
	}
	return 0;
}

/* After the thread ended: whatever it still held goes (sessions first,
 * which take their connections with them). */
static void worker_teardown(struct px_worker *w)
{
	while (w->sesss)
		px_sess_close(w->sesss);
	while (w->conns)
		px_conn_abort(w->conns, "proxy exiting");
	px_conn_reap(w);
	px_sess_reap(w);
	px_metrics_free(w);
	close(w->epfd);
	pthread_mutex_destroy(&w->mlock);
}

void px_workers_join(struct px *px)
{
	for (int i = 0; i < px->nw; i++)
		pthread_join(px->w[i].th, NULL);
}

void px_workers_free(struct px *px)
{
	for (int i = 0; i < px->nw; i++)
		worker_teardown(&px->w[i]);
}

void px_listener_init(struct px_listener *l, int fd, bool hbone)
{
	l->ev.magic = PX_MAGIC_LSN;
	l->ev.fn = listener_event;
	l->ev.owner = l;
	l->fd = fd;
	l->hbone = hbone;
}

int px_listen(const char *addr)
{
	int fd = sl_listen_tcp(addr, SOCK_NONBLOCK, 4096);

	return fd < 0 ? -1 : fd;
}
