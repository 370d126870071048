// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A connection's relay: the half-close state machine of proxy-t.h. Socket
 * to socket moves bytes with splice through a pipe (they never enter user
 * memory); socket to stream and back goes through the direction's buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/proxy.h"
#include "util.h"

#define PIPE_CAP 65536

struct px_conn *px_conn_new(struct px_worker *w)
{
	struct px_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ev_a.magic = c->ev_b.magic = PX_MAGIC_CONN;
	c->ev_a.fn = c->ev_b.fn = px_conn_fd_event;
	c->ev_a.owner = c->ev_b.owner = c;
	c->w = w;
	c->a.fd = c->b.fd = -1;
	c->ab.pipe[0] = c->ab.pipe[1] = c->ba.pipe[0] = c->ba.pipe[1] = -1;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	return c;
}

static struct px_side *dir_from(struct px_conn *c, struct px_dir *d)
{
	return d == &c->ab ? &c->a : &c->b;
}

static struct px_side *dir_to(struct px_conn *c, struct px_dir *d)
{
	return d == &c->ab ? &c->b : &c->a;
}

static struct px_ev *side_ev(struct px_conn *c, struct px_side *s)
{
	return s == &c->a ? &c->ev_a : &c->ev_b;
}

static size_t pending(const struct px_dir *d)
{
	return d->buf.len + d->in_pipe;
}

static bool has_room(const struct px_dir *d, bool piped)
{
	return piped ? d->in_pipe < PIPE_CAP : d->buf.len < PX_BUF;
}

static int dir_prepare(struct px_conn *c, struct px_dir *d)
{
	if (dir_from(c, d)->kind == PX_SIDE_FD && dir_to(c, d)->kind == PX_SIDE_FD) {
		if (d->pipe[0] < 0 && pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC))
			return -1;
		fcntl(d->pipe[1], F_SETPIPE_SZ, PIPE_CAP);
		return 0;
	}
	/* socket to stream: read by the stream's provider, no buffer; stream to
	 * socket: a buffer only once the socket cannot take the bytes at once
	 * (px_conn_stream_data), so idle and short-lived tunnels hold none */
	return 0;
}

/* Which epoll events each socket side needs now (no I/O here: callable from
 * inside nghttp2 callbacks). */
static void conn_interest(struct px_conn *c)
{
	struct px_side *sides[2] = { &c->a, &c->b };
	struct px_dir *rd[2] = { &c->ab, &c->ba }, *wr[2] = { &c->ba, &c->ab };

	for (int i = 0; i < 2; i++) {
		struct px_side *s = sides[i];
		uint32_t want = 0;
		bool piped = rd[i]->pipe[0] >= 0;

		if (s->kind != PX_SIDE_FD || s->fd < 0)
			continue;
		if (c->state == PX_C_OPENING) {
			want = s == &c->b ? EPOLLOUT : 0; /* connect() completion */
		} else if (c->state == PX_C_OPEN) {
			bool to_stream = (s == &c->a ? &c->b : &c->a)->kind == PX_SIDE_STREAM;

			if (!rd[i]->eof && (to_stream ? rd[i]->want_read : has_room(rd[i], piped)))
				want |= EPOLLIN;
			if (pending(wr[i]))
				want |= EPOLLOUT;
		}
		px_ev_set(c->w, s->fd, side_ev(c, s), &s->interest, want);
	}
}

static void side_close(struct px_conn *c, struct px_side *s, bool reset)
{
	if (s->kind == PX_SIDE_FD && s->fd >= 0) {
		if (reset) {
			struct linger l = { .l_onoff = 1, .l_linger = 0 };

			setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		px_ev_del(c->w, s->fd, &s->interest);
		close(s->fd);
		s->fd = -1;
	} else if (s->kind == PX_SIDE_STREAM && s->sess) {
		nghttp2_session_set_stream_user_data(s->sess->ng, s->stream_id, NULL);
		if (reset)
			px_sess_reset(s->sess, s->stream_id);
		s->sess->n_streams--;
		px_sess_flush(s->sess);
		s->sess = NULL;
	}
	s->kind = PX_SIDE_NONE;
}

static void conn_end(struct px_conn *c, bool reset)
{
	struct px_worker *w = c->w;

	if (c->state == PX_C_CLOSED)
		return;
	if (c->state == PX_C_OPEN)
		px_metrics_conn(w, &c->lab, false, c->ba.bytes, c->ab.bytes);
	c->state = PX_C_CLOSED;
	side_close(c, &c->a, reset);
	side_close(c, &c->b, reset);
	/* unlink now, free at the end of the loop turn: callers up the stack
	 * may still hold the pointer */
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	c->next = w->dead_conns;
	w->dead_conns = c;
}

void px_conn_abort(struct px_conn *c, const char *why)
{
	if (c->state != PX_C_CLOSED)
		pr_debug("proxy: connection to %s/%s reset: %s\n", c->lab.dst_ns, c->lab.dst_wl, why);
	conn_end(c, true);
}

void px_conn_reap(struct px_worker *w)
{
	struct px_conn *c;

	while ((c = w->dead_conns)) {
		w->dead_conns = c->next;
		for (int i = 0; i < 2; i++) {
			struct px_dir *d = i ? &c->ba : &c->ab;

			if (d->pipe[0] >= 0) {
				close(d->pipe[0]);
				close(d->pipe[1]);
			}
			free(d->buf.data);
		}
		c->ev_a.magic = c->ev_b.magic = PX_MAGIC_DEAD;
		free(c);
	}
}

static int io_err(ssize_t n)
{
	return n < 0 && errno != EAGAIN && errno != EINTR;
}

/* Socket to socket: splice in, splice out. */
static int pump_splice(struct px_dir *d, int from, int to)
{
	ssize_t n;

	while (!d->eof && d->in_pipe < PIPE_CAP) {
		n = splice(from, NULL, d->pipe[1], NULL, PIPE_CAP - d->in_pipe,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == 0)
			d->eof = true;
		if (n <= 0) {
			if (io_err(n))
				return -1;
			break;
		}
		d->in_pipe += (size_t)n;
	}
	while (d->in_pipe) {
		n = splice(d->pipe[0], NULL, to, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n <= 0)
			return io_err(n) ? -1 : 0;
		d->in_pipe -= (size_t)n;
		d->bytes += (size_t)n;
	}
	return 0;
}

static int write_from(struct px_conn *c, struct px_dir *d, int fd)
{
	struct px_side *from = dir_from(c, d);
	struct px_buf *b = &d->buf;
	ssize_t n;

	while (b->len) {
		n = write(fd, b->data + b->off, b->len);
		if (n <= 0)
			return io_err(n) ? -1 : 0;
		b->off += (size_t)n;
		b->len -= (size_t)n;
		d->bytes += (size_t)n;
		if (from->kind == PX_SIDE_STREAM)
			px_sess_consume(from->sess, from->stream_id, (size_t)n);
	}
	b->off = 0;
	return 0;
}

static int pump(struct px_conn *c, struct px_dir *d)
{
	struct px_side *from = dir_from(c, d), *to = dir_to(c, d);

	if (from->kind == PX_SIDE_FD && to->kind == PX_SIDE_FD) {
		if (pump_splice(d, from->fd, to->fd))
			return -1;
	} else if (from->kind == PX_SIDE_FD && to->kind == PX_SIDE_STREAM) {
		if (d->want_read) { /* readable again: the provider reads */
			d->want_read = false;
			px_sess_resume(to->sess, to->stream_id);
		}
	} else if (to->kind == PX_SIDE_FD && write_from(c, d, to->fd)) {
		return -1;
	}
	if (d->eof && !pending(d) && !d->done && to->kind == PX_SIDE_FD) {
		shutdown(to->fd, SHUT_WR);
		d->done = true;
	}
	return 0;
}

void px_conn_kick(struct px_conn *c)
{
	if (c->state == PX_C_OPENING && c->retry) {
		c->retry = false;
		if (c->w->hooks->tunnel_open(c->w, c))
			px_conn_abort(c, "no session to retry the CONNECT on");
		return;
	}
	if (c->state != PX_C_OPEN)
		return;
	if (pump(c, &c->ab) || pump(c, &c->ba)) {
		px_conn_abort(c, "socket error");
		return;
	}
	if (c->ab.done && c->ba.done) {
		conn_end(c, false);
		return;
	}
	conn_interest(c);
	if (c->a.kind == PX_SIDE_STREAM)
		px_sess_flush(c->a.sess);
	if (c->b.kind == PX_SIDE_STREAM)
		px_sess_flush(c->b.sess);
}

void px_conn_open(struct px_conn *c)
{
	if (dir_prepare(c, &c->ab) || dir_prepare(c, &c->ba)) {
		px_conn_abort(c, "out of memory");
		return;
	}
	c->state = PX_C_OPEN;
	px_metrics_conn(c->w, &c->lab, true, 0, 0);
	/* the provider deferred while the tunnel was opening */
	if (c->a.kind == PX_SIDE_STREAM)
		px_sess_resume(c->a.sess, c->a.stream_id);
	if (c->b.kind == PX_SIDE_STREAM)
		px_sess_resume(c->b.sess, c->b.stream_id);
	px_conn_kick(c);
}

/* An outbound upstream socket finished connecting (or failed). */
static void upstream_connected(struct px_conn *c, uint32_t events)
{
	int err = 0;
	socklen_t el = sizeof(err);

	if (getsockopt(c->b.fd, SOL_SOCKET, SO_ERROR, &err, &el) || err ||
	    (events & (EPOLLERR | EPOLLHUP))) {
		if (c->inbound && c->a.kind == PX_SIDE_STREAM) {
			px_sess_respond(c->a.sess, c->a.stream_id, 503, NULL);
			c->a.sess->n_streams--;
			c->a.kind = PX_SIDE_NONE;
		}
		px_conn_abort(c, "upstream connect failed");
		return;
	}
	if (c->inbound && px_sess_respond(c->a.sess, c->a.stream_id, 200, c)) {
		px_conn_abort(c, "responding 200");
		return;
	}
	px_conn_open(c);
}

void px_conn_fd_event(struct px_ev *ev, uint32_t events)
{
	struct px_conn *c = ev->owner;

	if (ev->magic != PX_MAGIC_CONN)
		return; /* a stale event for a freed connection */
	if (c->state == PX_C_OPENING && ev == &c->ev_b) {
		upstream_connected(c, events);
		return;
	}
	if (c->state == PX_C_OPEN)
		px_conn_kick(c);
}

/* ---- the stream side (hbone.c calls these from nghttp2 callbacks) ----------- */

/* Inbound connections have the stream on side a, outbound ones on b. */
static struct px_dir *stream_in(struct px_conn *c)
{
	return c->inbound ? &c->ab : &c->ba;
}

static struct px_dir *stream_out(struct px_conn *c)
{
	return c->inbound ? &c->ba : &c->ab;
}

void px_conn_stream_data(struct px_conn *c, const uint8_t *p, size_t n)
{
	struct px_dir *d = stream_in(c);
	struct px_buf *b = &d->buf;

	struct px_side *to = c->inbound ? &c->b : &c->a;

	if (c->state != PX_C_OPEN)
		return;
	/* Nothing queued: straight to the socket, no copy; the window opens for
	 * what it took. The rest waits in the buffer. */
	if (!b->len && to->kind == PX_SIDE_FD) {
		ssize_t k = write(to->fd, p, n);

		if (k > 0) {
			struct px_side *from = c->inbound ? &c->a : &c->b;

			d->bytes += (size_t)k;
			px_sess_consume(from->sess, from->stream_id, (size_t)k);
			p += k;
			n -= (size_t)k;
		} else if (io_err(k)) {
			px_conn_abort(c, "socket error");
			return;
		}
		if (!n)
			return;
	}
	if (!b->data && !(b->data = malloc(PX_BUF))) {
		px_conn_abort(c, "out of memory");
		return;
	}
	if (b->off + b->len + n > PX_BUF) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if (b->len + n > PX_BUF) { /* beyond the window we granted */
		px_conn_abort(c, "peer overran the stream window");
		return;
	}
	memcpy(b->data + b->off + b->len, p, n);
	b->len += n;
	px_conn_defer_kick(c);
}

void px_conn_stream_eof(struct px_conn *c)
{
	stream_in(c)->eof = true;
	px_conn_defer_kick(c);
}

void px_conn_defer_kick(struct px_conn *c)
{
	if (c->kick_queued || c->state == PX_C_CLOSED)
		return;
	c->kick_queued = true;
	c->kick_next = c->w->kicks;
	c->w->kicks = c;
}

/* Before the reaper: a connection closed since it was queued is skipped. */
void px_conn_run_kicks(struct px_worker *w)
{
	struct px_conn *c;

	while ((c = w->kicks)) {
		w->kicks = c->kick_next;
		c->kick_queued = false;
		px_conn_kick(c);
	}
}

/* The stream's data provider: read the socket straight into the frame
 * nghttp2 is building. Nothing there: wait for EPOLLIN (conn_interest),
 * then px_conn_kick resumes the provider. A socket error fails the stream,
 * which resets it and ends the connection (px_conn_stream_closed). */
ssize_t px_conn_stream_read(struct px_conn *c, uint8_t *out, size_t n, uint32_t *flags)
{
	struct px_dir *d = stream_out(c);
	struct px_side *from = c->inbound ? &c->b : &c->a;
	ssize_t k;

	/* A client's CONNECT asks for data at once: nothing to send until the
	 * tunnel is open (px_conn_open resumes it). */
	if (c->state == PX_C_OPENING)
		return NGHTTP2_ERR_DEFERRED;
	if (c->state != PX_C_OPEN || from->kind != PX_SIDE_FD)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	k = d->eof ? 0 : read(from->fd, out, n);
	if (k > 0) {
		d->bytes += (size_t)k;
		return k;
	}
	if (k < 0 && !io_err(k)) {
		d->want_read = true;
		conn_interest(c);
		return NGHTTP2_ERR_DEFERRED;
	}
	if (k < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	d->eof = true;
	d->done = true;
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	return 0;
}

/* A stream closes cleanly once both END_STREAMs have passed; bytes that
 * came with the last one may still be on their way to the socket. */
void px_conn_stream_closed(struct px_conn *c, uint32_t error_code)
{
	struct px_side *s = c->inbound ? &c->a : &c->b;

	/* nghttp2 already forgot the stream: do not touch it again */
	s->kind = PX_SIDE_NONE;
	s->sess->n_streams--;
	s->sess = NULL;
	if (!c->inbound && c->state == PX_C_OPENING && error_code == NGHTTP2_REFUSED_STREAM &&
	    c->retries++ < 3) {
		c->retry = true;
		px_conn_defer_kick(c);
		return;
	}
	if (error_code || !stream_out(c)->done || !stream_in(c)->eof)
		conn_end(c, true);
	else
		px_conn_defer_kick(c);
}

/* An upstream socket is connecting: wait for it (EPOLLOUT) until DEADLINE. */
void px_conn_start(struct px_conn *c, uint64_t deadline_ns)
{
	c->deadline_ns = deadline_ns;
	conn_interest(c);
}

/* Connections still opening past their deadline are reset (fail closed). */
void px_conn_tick(struct px_worker *w)
{
	struct px_conn *c, *next;
	uint64_t now = px_now();

	for (c = w->conns; c; c = next) {
		next = c->next;
		if (c->state == PX_C_OPENING && c->deadline_ns && now > c->deadline_ns)
			px_conn_abort(c, "upstream did not answer in time");
	}
}
