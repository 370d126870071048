// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HBONE sessions: TLS 1.3 with mutual authentication carrying HTTP/2, one
 * CONNECT stream per tunnelled connection (as Istio's ambient mode). A
 * client session is pooled per (peer node, source identity, destination
 * identity): every tunnel between the same two identities on the same two
 * nodes shares one TLS connection and one HTTP/2 connection per worker.
 *
 * Transport: nghttp2's memory interface (mem_recv/mem_send) over a
 * non-blocking SSL. A session that cannot hand bytes to SSL stops asking
 * nghttp2 for more, which stops the streams' data providers: back-pressure
 * from the wire to the sockets that feed the tunnels.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <openssl/err.h>

#include "proxy/hbone.h"
#include "proxy/proxy.h"
#include "util.h"

#define MAX_STREAMS 1000
#define HS_TIMEOUT_NS (10ull * 1000000000ull)
#define IDLE_NS (60ull * 1000000000ull)

static void sess_event(struct px_ev *ev, uint32_t events);

static void sess_interest(struct px_sess *s)
{
	uint32_t want = 0;

	if (!s->w || s->dead)
		return;
	if (s->state == PX_S_CONNECTING)
		want = EPOLLOUT;
	else if (s->state == PX_S_HANDSHAKE)
		want = SSL_want_write(s->ssl) ? EPOLLOUT : EPOLLIN;
	else
		want = EPOLLIN | (s->out_len ? EPOLLOUT : 0);
	px_ev_set(s->w, s->fd, &s->ev, &s->interest, want);
}

/* Every connection that rides on S loses its side; each is reset. */
static void abort_riders(struct px_sess *s)
{
	struct px_conn *c, *next;

	for (size_t i = 0; i < s->n_waiting; i++) {
		c = s->waiting[i];
		if (c && c->b.sess == s) {
			c->b.kind = PX_SIDE_NONE;
			c->b.sess = NULL;
			s->hooks->conn_abort(c, "tunnel session failed");
		}
	}
	s->n_waiting = 0;
	for (c = s->w ? s->w->conns : NULL; c; c = next) {
		next = c->next;
		if (c->a.sess == s || c->b.sess == s) {
			struct px_side *sd = c->a.sess == s ? &c->a : &c->b;

			sd->kind = PX_SIDE_NONE;
			sd->sess = NULL;
			s->hooks->conn_abort(c, "tunnel session ended");
		}
	}
}

static void sess_fail(struct px_sess *s, const char *why)
{
	struct px_worker *w = s->w;

	if (s->dead)
		return;
	pr_debug("proxy: HBONE session %s: %s\n", s->server ? "in" : "out", why);
	s->dead = true;
	abort_riders(s);
	if (!w)
		return;
	px_ev_del(w, s->fd, &s->interest);
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sesss = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->n_sess--;
	s->next = w->dead_sess;
	w->dead_sess = s;
}

static void req_free(struct px_sess *s, struct px_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		s->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	free(r);
}

/* nghttp2_session_del() calls no callback: requests still open are ours. */
void px_hbone_session_free(struct px_sess *s)
{
	while (s->reqs)
		req_free(s, s->reqs);
	nghttp2_session_del(s->ng);
	s->ng = NULL;
	free(s->out);
	free(s->waiting);
	s->out = NULL;
	s->waiting = NULL;
}

void px_sess_close(struct px_sess *s)
{
	sess_fail(s, "closed");
}

void px_sess_reap(struct px_worker *w)
{
	struct px_sess *s;

	while ((s = w->dead_sess)) {
		w->dead_sess = s->next;
		if (s->ssl)
			SSL_free(s->ssl);
		if (s->fd >= 0)
			close(s->fd);
		px_hbone_session_free(s);
		s->ev.magic = PX_MAGIC_DEAD;
		free(s);
	}
}

/* ---- bytes to and from the TLS connection ---------------------------------- */

static int ssl_write_some(struct px_sess *s, const uint8_t *p, size_t n, size_t *done)
{
	int r;

	*done = 0;
	if (!s->ssl) { /* fuzzing: no transport, drop the bytes */
		*done = n;
		return 0;
	}
	ERR_clear_error();
	r = SSL_write(s->ssl, p, (int)n);
	if (r > 0) {
		*done = (size_t)r;
		return 0;
	}
	r = SSL_get_error(s->ssl, r);
	if (r != SSL_ERROR_WANT_WRITE && r != SSL_ERROR_WANT_READ) {
		char e[SL_ERR_LEN];

		sl_pki_ossl_err(e, sizeof(e), "SSL_write");
		pr_debug("proxy: %s (SSL error %d, errno %d)\n", e, r, errno);
		return -1;
	}
	return 0;
}

static int keep_out(struct px_sess *s, const uint8_t *p, size_t n)
{
	if (n > s->out_cap) {
		char *nb = realloc(s->out, n);

		if (!nb)
			return -1;
		s->out = nb;
		s->out_cap = n;
	}
	memcpy(s->out, p, n);
	s->out_off = 0;
	s->out_len = n;
	return 0;
}

void px_sess_flush(struct px_sess *s)
{
	const uint8_t *p;
	ssize_t n;
	size_t done;

	if (s->dead || s->state != PX_S_OPEN)
		return;
	if (s->busy) { /* nghttp2 must not be re-entered from its callbacks */
		s->flush_pending = true;
		return;
	}
	s->flush_pending = false;
	while (!s->out_len) {
		s->busy++;
		n = nghttp2_session_mem_send(s->ng, &p);
		s->busy--;
		if (n < 0) {
			sess_fail(s, nghttp2_strerror((int)n));
			return;
		}
		if (n == 0)
			break;
		if (ssl_write_some(s, p, (size_t)n, &done) ||
		    (done < (size_t)n && keep_out(s, p + done, (size_t)n - done))) {
			sess_fail(s, "TLS write failed");
			return;
		}
	}
	if (s->out_len) {
		if (ssl_write_some(s, (uint8_t *)s->out + s->out_off, s->out_len, &done)) {
			sess_fail(s, "TLS write failed");
			return;
		}
		s->out_off += done;
		s->out_len -= done;
		if (!s->out_len)
			px_sess_flush(s);
	}
	if (!nghttp2_session_want_read(s->ng) && !nghttp2_session_want_write(s->ng) &&
	    !s->out_len) {
		sess_fail(s, "session finished");
		return;
	}
	sess_interest(s);
}

static void sess_read(struct px_sess *s)
{
	uint8_t buf[16384];
	ssize_t k;
	int r;

	for (;;) {
		ERR_clear_error();
		r = SSL_read(s->ssl, buf, sizeof(buf));
		if (r <= 0) {
			r = SSL_get_error(s->ssl, r);
			if (r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE)
				sess_fail(s, r == SSL_ERROR_ZERO_RETURN ? "peer closed" : "TLS read failed");
			return;
		}
		s->busy++;
		k = nghttp2_session_mem_recv(s->ng, buf, (size_t)r);
		s->busy--;
		if (k < 0) {
			sess_fail(s, nghttp2_strerror((int)k));
			return;
		}
		if (s->dead)
			return;
	}
}

/* ---- nghttp2 callbacks ----------------------------------------------------- */

static struct px_conn *stream_conn(nghttp2_session *ng, int32_t id)
{
	uint32_t *magic = nghttp2_session_get_stream_user_data(ng, id);

	return magic && *magic == PX_MAGIC_CONN ? (struct px_conn *)magic : NULL;
}

static struct px_req *stream_req(nghttp2_session *ng, int32_t id)
{
	uint32_t *magic = nghttp2_session_get_stream_user_data(ng, id);

	return magic && *magic == PX_MAGIC_REQ ? (struct px_req *)magic : NULL;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
	struct px_sess *s = ud;
	struct px_req *r;

	if (!s->server || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	r->magic = PX_MAGIC_REQ;
	r->next = s->reqs;
	if (s->reqs)
		s->reqs->prev = r;
	s->reqs = r;
	nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, r);
	return 0;
}

static void set_field(char *dst, size_t cap, const uint8_t *v, size_t n, bool *bad)
{
	if (dst[0] || n >= cap) {
		*bad = true; /* duplicate or too long */
		return;
	}
	memcpy(dst, v, n);
	dst[n] = 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
		     size_t nl, const uint8_t *val, size_t vl, uint8_t flags, void *ud)
{
	struct px_sess *s = ud;
	struct px_req *r = stream_req(ng, f->hd.stream_id);
	struct px_conn *c;

	(void)flags;
	if (s->server && r) {
		if (nl == 7 && !memcmp(name, ":method", 7))
			set_field(r->method, sizeof(r->method), val, vl, &r->bad);
		else if (nl == 10 && !memcmp(name, ":authority", 10))
			set_field(r->authority, sizeof(r->authority), val, vl, &r->bad);
		else if (nl == 9 && !memcmp(name, "forwarded", 9))
			set_field(r->forwarded, sizeof(r->forwarded), val, vl, &r->bad);
		else if (nl && name[0] == ':') /* :scheme/:path/:protocol: not plain CONNECT */
			r->bad = true;
		return 0;
	}
	c = stream_conn(ng, f->hd.stream_id);
	if (!s->server && c && nl == 7 && !memcmp(name, ":status", 7) && c->state == PX_C_OPENING) {
		c->status = vl == 3 ? (val[0] - '0') * 100 + (val[1] - '0') * 10 + (val[2] - '0') : 0;
	}
	return 0;
}

static void request_done(struct px_sess *s, int32_t id, const nghttp2_frame *f)
{
	struct px_req *r = stream_req(s->ng, id);

	if (!r)
		return;
	nghttp2_session_set_stream_user_data(s->ng, id, NULL);
	if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
		r->bad = true; /* a CONNECT that ends its stream carries nothing */
	s->hooks->request(s, id, r);
	req_free(s, r);
}

static void response_done(struct px_sess *s, struct px_conn *c)
{
	if (c->state != PX_C_OPENING)
		return;
	if (c->status == 200) {
		s->hooks->conn_open(c);
	} else {
		px_metrics_authz(s->w, false);
		s->hooks->conn_abort(c, "tunnel refused by the peer");
	}
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
	struct px_sess *s = ud;
	struct px_conn *c = stream_conn(ng, f->hd.stream_id);

	if (f->hd.type == NGHTTP2_GOAWAY) {
		s->goaway = true;
		return 0;
	}
	if (f->hd.type == NGHTTP2_HEADERS && s->server &&
	    f->headers.cat == NGHTTP2_HCAT_REQUEST) {
		request_done(s, f->hd.stream_id, f);
		return 0;
	}
	if (f->hd.type == NGHTTP2_HEADERS && !s->server && c &&
	    f->headers.cat == NGHTTP2_HCAT_RESPONSE)
		response_done(s, c);
	c = stream_conn(ng, f->hd.stream_id); /* response_done may have freed it */
	if (c && (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		s->hooks->stream_eof(c);
	return 0;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *d, size_t n,
		   void *ud)
{
	struct px_conn *c = stream_conn(ng, id);
	struct px_sess *s = ud;

	(void)flags;
	if (c && c->state == PX_C_OPEN)
		s->hooks->stream_data(c, d, n);
	else /* nobody will write these out: give the window back now */
		nghttp2_session_consume(ng, id, n);
	return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
	struct px_sess *s = ud;

	if (s->server && f->hd.type == NGHTTP2_HEADERS && (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
	return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t err, void *ud)
{
	struct px_req *r = stream_req(ng, id);
	struct px_conn *c = stream_conn(ng, id);
	struct px_sess *s = ud;

	nghttp2_session_set_stream_user_data(ng, id, NULL);
	if (r)
		req_free(s, r);
	if (c)
		s->hooks->stream_closed(c, err);
	return 0;
}

static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct px_conn *c = stream_conn(ng, id);
	struct px_sess *s = ud;

	(void)src;
	if (!c)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	return s->hooks->stream_read(c, buf, len, flags);
}

/* A DATA frame's header (9 bytes) and payload in one TLS record: at most
 * 16384 bytes of plaintext, or every frame would cost a second record. */
static ssize_t data_len(nghttp2_session *ng, uint8_t type, int32_t id, int32_t swin, int32_t cwin,
			uint32_t max, void *ud)
{
	ssize_t n = 16384 - 9;

	(void)ng;
	(void)type;
	(void)id;
	(void)ud;
	if (n > swin)
		n = swin;
	if (n > cwin)
		n = cwin;
	if ((uint32_t)n > max)
		n = (ssize_t)max;
	return n;
}

nghttp2_session_callbacks *px_hbone_callbacks(void)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb))
		return NULL;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_data_source_read_length_callback(cb, data_len);
	return cb;
}

int px_hbone_session_init(struct px_sess *s)
{
	nghttp2_session_callbacks *cb = px_hbone_callbacks();
	nghttp2_option *opt = NULL;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, PX_BUF },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
	};
	int rc = -1;

	if (!cb || nghttp2_option_new(&opt))
		goto out;
	/* Windows open only when the bytes have left for the socket. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	if ((s->server ? nghttp2_session_server_new2(&s->ng, cb, s, opt) :
			 nghttp2_session_client_new2(&s->ng, cb, s, opt)))
		goto out;
	if (nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, s->server ? 3 : 2) ||
	    nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0, PX_CONN_WINDOW))
		goto out;
	rc = 0;
out:
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	return rc;
}

/* ---- streams ---------------------------------------------------------------- */

void px_sess_resume(struct px_sess *s, int32_t id)
{
	if (s && !s->dead)
		nghttp2_session_resume_data(s->ng, id);
}

void px_sess_consume(struct px_sess *s, int32_t id, size_t n)
{
	if (s && !s->dead)
		nghttp2_session_consume(s->ng, id, n);
}

void px_sess_reset(struct px_sess *s, int32_t id)
{
	if (s && !s->dead)
		nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
}

int px_sess_respond(struct px_sess *s, int32_t id, int status, struct px_conn *c)
{
	char code[8];
	nghttp2_nv nv[] = { { (uint8_t *)":status", (uint8_t *)code, 7, 3,
			      NGHTTP2_NV_FLAG_NONE } };
	nghttp2_data_provider dp = { .read_callback = data_read };
	int rc;

	snprintf(code, sizeof(code), "%03d", status);
	if (c)
		nghttp2_session_set_stream_user_data(s->ng, id, c);
	/* A refusal ends the stream with its HEADERS; on_frame_send then resets
	 * it so that the client stops sending (an RST submitted now would
	 * overtake the HEADERS). */
	rc = nghttp2_submit_response(s->ng, id, nv, 1, status == 200 ? &dp : NULL);
	px_sess_flush(s);
	return rc ? -1 : 0;
}

/* Forwarded: for=IP tells the destination the client's address, for
 * ipBlocks (docs/PROXY.md: trusted because the peer is authenticated). */
static int submit_connect(struct px_sess *s, struct px_conn *c, const char *authority)
{
	char fwd[80], ip[64];
	nghttp2_nv nv[] = {
		{ (uint8_t *)":method", (uint8_t *)"CONNECT", 7, 7, NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)":authority", (uint8_t *)authority, 10, strlen(authority),
		  NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)"forwarded", (uint8_t *)fwd, 9, 0, NGHTTP2_NV_FLAG_NONE },
	};
	nghttp2_data_provider dp = { .read_callback = data_read };
	int32_t id;

	sl_fmt_ip(&c->source, ip, sizeof(ip));
	nv[2].valuelen = (size_t)snprintf(fwd, sizeof(fwd), c->source.family == SL_AF_INET6 ?
					  "for=\"[%s]\"" : "for=%s", ip);
	id = nghttp2_submit_request(s->ng, NULL, nv, 3, &dp, c);

	if (id < 0)
		return -1;
	c->b.kind = PX_SIDE_STREAM;
	c->b.sess = s;
	c->b.stream_id = id;
	s->n_streams++;
	return 0;
}

int px_sess_open_tunnel(struct px_sess *s, struct px_conn *c)
{
	char authority[80];

	if (s->state == PX_S_OPEN) {
		int rc;

		px_fmt(&c->upstream, authority, sizeof(authority));
		rc = submit_connect(s, c, authority);

		px_sess_flush(s);
		return rc;
	}
	if (s->n_waiting == s->cap_waiting) {
		size_t cap = s->cap_waiting ? s->cap_waiting * 2 : 8;
		struct px_conn **nw = realloc(s->waiting, cap * sizeof(*nw));

		if (!nw)
			return -1;
		s->waiting = nw;
		s->cap_waiting = cap;
	}
	c->b.sess = s; /* marks "waiting on S" for abort_riders */
	s->waiting[s->n_waiting++] = c;
	return 0;
}

/* ---- handshakes --------------------------------------------------------------- */

static void start_tunnels(struct px_sess *s)
{
	char auth[80];

	for (size_t i = 0; i < s->n_waiting; i++) {
		struct px_conn *c = s->waiting[i];

		if (!c || c->state != PX_C_OPENING)
			continue;
		px_fmt(&c->upstream, auth, sizeof(auth));
		if (submit_connect(s, c, auth))
			s->hooks->conn_abort(c, "submitting CONNECT");
	}
	s->n_waiting = 0;
	px_sess_flush(s);
}

static int check_peer(struct px_sess *s)
{
	struct sl_spiffe_id id;
	char p[SL_ID_LEN];
	const unsigned char *alpn;
	unsigned alen;

	SSL_get0_alpn_selected(s->ssl, &alpn, &alen);
	if (alen != 2 || memcmp(alpn, "h2", 2))
		return px_metrics_hs(s->w, s->server, "no_h2"), -1;
	if (sl_tls_peer_id(s->ssl, &id) || id.kind != SL_ID_WORKLOAD ||
	    strcmp(id.td, s->w->px->o.trust_domain))
		return px_metrics_hs(s->w, s->server, "bad_identity"), -1;
	sl_spiffe_principal(&id, p, sizeof(p));
	if (!s->server && strcmp(p, s->dst_id)) {
		pr_warn("proxy: HBONE peer %s is not the destination's identity %s\n", p, s->dst_id);
		return px_metrics_hs(s->w, s->server, "wrong_identity"), -1;
	}
	snprintf(s->peer_principal, sizeof(s->peer_principal), "%s", p);
	snprintf(s->peer_ns, sizeof(s->peer_ns), "%s", id.ns);
	if (s->server && !sl_pki_cert_spiffe(SSL_get_certificate(s->ssl), &id))
		sl_spiffe_principal(&id, s->local_principal, sizeof(s->local_principal));
	return 0;
}

static void handshake(struct px_sess *s)
{
	int r;

	ERR_clear_error();
	r = s->server ? SSL_accept(s->ssl) : SSL_connect(s->ssl);
	if (r != 1) {
		int e = SSL_get_error(s->ssl, r);

		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			sess_interest(s);
			return;
		}
		px_metrics_hs(s->w, s->server, sl_tls_fail_reason(s->ssl, r));
		sess_fail(s, "TLS handshake failed");
		return;
	}
	if (check_peer(s)) {
		sess_fail(s, "peer identity refused");
		return;
	}
	px_metrics_hs(s->w, s->server, "ok");
	if (px_hbone_session_init(s)) {
		sess_fail(s, "HTTP/2 session setup");
		return;
	}
	s->state = PX_S_OPEN;
	s->idle_since_ns = px_now();
	if (s->server)
		px_sess_flush(s);
	else
		start_tunnels(s);
}

static void sess_event(struct px_ev *ev, uint32_t events)
{
	struct px_sess *s = ev->owner;
	int err = 0;
	socklen_t el = sizeof(err);

	if (ev->magic != PX_MAGIC_SESS || s->dead)
		return;
	if (s->state == PX_S_CONNECTING) {
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err ||
		    (events & EPOLLERR)) {
			px_metrics_hs(s->w, false, "connect");
			sess_fail(s, "connect to the peer node failed");
			return;
		}
		s->state = PX_S_HANDSHAKE;
	}
	if (s->state == PX_S_HANDSHAKE) {
		handshake(s);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		sess_read(s);
	if (!s->dead)
		px_sess_flush(s);
}

static struct px_sess *sess_new(struct px_worker *w, int fd, bool server)
{
	struct px_sess *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ev.magic = PX_MAGIC_SESS;
	s->ev.fn = sess_event;
	s->ev.owner = s;
	s->w = w;
	s->hooks = w->hooks;
	s->fd = fd;
	s->server = server;
	s->deadline_ns = px_now() + HS_TIMEOUT_NS;
	s->next = w->sesss;
	if (w->sesss)
		w->sesss->prev = s;
	w->sesss = s;
	w->n_sess++;
	return s;
}

struct px_sess *px_sess_server(struct px_worker *w, int fd)
{
	struct px_sess *s = sess_new(w, fd, true);

	if (!s) {
		close(fd);
		return NULL;
	}
	s->state = PX_S_HANDSHAKE;
	s->ssl = SSL_new(w->px->srv_base);
	if (!s->ssl || !SSL_set_fd(s->ssl, fd)) {
		sess_fail(s, "SSL_new");
		return NULL;
	}
	/* the server context is the SNI dispatcher's; the modes that the
	 * write path relies on are set on the connection itself */
	SSL_set_mode(s->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_set_read_ahead(s->ssl, 1);
	SSL_set_accept_state(s->ssl);
	handshake(s);
	return s;
}

static bool pool_match(const struct px_sess *s, const struct sl_l4addr *peer, const char *src,
		       const char *dst)
{
	return !s->server && !s->dead && !s->goaway && s->n_streams < MAX_STREAMS &&
	       !memcmp(&s->peer, peer, sizeof(*peer)) && !strcmp(s->src_id, src) &&
	       !strcmp(s->dst_id, dst);
}

/* SNI names the destination's service account: "SA.NS" (docs/PROXY.md). */
static void set_sni(SSL *ssl, const char *dst_principal)
{
	struct sl_spiffe_id id;
	char uri[SL_ID_LEN + 16], sni[140];

	snprintf(uri, sizeof(uri), "spiffe://%s", dst_principal);
	if (sl_spiffe_parse(uri, strlen(uri), &id))
		return;
	snprintf(sni, sizeof(sni), "%s.%s", id.sa, id.ns);
	SSL_set_tlsext_host_name(ssl, sni);
}

struct px_sess *px_sess_client(struct px_worker *w, const struct sl_l4addr *peer,
			       const char *src_id, const char *dst_id, SSL_CTX *ctx)
{
	struct px_sess *s;
	int fd;

	for (s = w->sesss; s; s = s->next)
		if (pool_match(s, peer, src_id, dst_id))
			return s;
	fd = px_connect(w->px, peer);
	if (fd < 0) {
		px_metrics_hs(w, false, "connect");
		return NULL;
	}
	s = sess_new(w, fd, false);
	if (!s) {
		close(fd);
		return NULL;
	}
	s->peer = *peer;
	snprintf(s->src_id, sizeof(s->src_id), "%s", src_id);
	snprintf(s->dst_id, sizeof(s->dst_id), "%s", dst_id);
	s->state = PX_S_CONNECTING;
	s->ssl = SSL_new(ctx);
	if (!s->ssl || !SSL_set_fd(s->ssl, fd)) {
		sess_fail(s, "SSL_new");
		return NULL;
	}
	SSL_set_connect_state(s->ssl);
	set_sni(s->ssl, dst_id);
	sess_interest(s);
	return s;
}

/* Once a second: handshakes that take too long, idle client sessions. */
void px_sess_tick(struct px_worker *w)
{
	struct px_sess *s, *next;
	uint64_t now = px_now();

	for (s = w->sesss; s; s = next) {
		next = s->next;
		if (s->state != PX_S_OPEN && now > s->deadline_ns) {
			px_metrics_hs(w, s->server, "timeout");
			sess_fail(s, "handshake timeout");
		} else if (s->state == PX_S_OPEN && !s->server) {
			if (s->n_streams)
				s->idle_since_ns = now;
			else if (now - s->idle_since_ns > IDLE_NS) {
				nghttp2_session_terminate_session(s->ng, NGHTTP2_NO_ERROR);
				px_sess_flush(s);
			}
		} else if (s->state == PX_S_OPEN && w->px->draining && !s->goaway) {
			/* handed over: tell clients to open new tunnels elsewhere */
			s->goaway = true;
			nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE,
					      nghttp2_session_get_last_proc_stream_id(s->ng),
					      NGHTTP2_NO_ERROR, NULL, 0);
			px_sess_flush(s);
		}
	}
}
