/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types of the node proxy (docs/PROXY.md "Inside the proxy").
 *
 * One process, one worker thread per core, each with its own epoll loop;
 * a connection lives on the worker that accepted it from start to end, so
 * nothing on the data path takes a lock. Every object that epoll or nghttp2
 * hands back to us starts with a magic number that the callback checks.
 *
 * A connection (struct px_conn) joins two sides. A side is a TCP socket or
 * an HTTP/2 stream of an HBONE session. Bytes move in two directions, each
 * with one buffer (or, socket to socket, one pipe for splice). Back-pressure:
 * a side is read only while its direction's buffer has room; a stream is
 * read only as fast as HTTP/2 flow control lets it, and its window opens
 * only when the bytes have left for the other side. A socket feeding a
 * stream is read by the stream's data provider straight into the HTTP/2
 * frame (no buffer of ours) when the window and the TLS connection can take
 * it. Half-close: a direction
 * ends when its reader saw EOF and its buffer drained; then the other side
 * gets shutdown(SHUT_WR) or END_STREAM. The connection ends when both
 * directions have ended or on the first error (then both sides are reset).
 *
 * HTTP-level policy (the next issue) plugs in between the two sides of a
 * direction: an L7 filter gets the bytes of the buffer before they are
 * released to the other side (see px_dir.filter).
 */
#ifndef SLUICE_PROXY_T_H
#define SLUICE_PROXY_T_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "mesh.h"
#include "policy.h"
#include "proxy/spiffe.h"

#define PX_MAGIC_CONN 0x436f6e6eu /* "Conn" */
#define PX_MAGIC_SESS 0x53657373u /* "Sess" */
#define PX_MAGIC_LSN 0x4c736e21u /* "Lsn!" */
#define PX_MAGIC_REQ 0x52657121u /* "Req!" */
#define PX_MAGIC_DEAD 0xdeadbeefu
#define PX_BUF 262144 /* one direction's buffer; also the HTTP/2 stream window */
#define PX_CONN_WINDOW (16 * 1024 * 1024) /* HTTP/2 connection window */

struct px_worker;

/* What epoll hands back: the object's first field. */
struct px_ev {
	uint32_t magic;
	void (*fn)(struct px_ev *ev, uint32_t events);
	void *owner; /* the object this event belongs to */
};

struct px_buf {
	char *data;
	size_t off, len; /* valid bytes: data[off .. off+len) */
};

enum px_side_kind { PX_SIDE_NONE = 0, PX_SIDE_FD, PX_SIDE_STREAM };

struct px_sess;

struct px_side {
	int kind; /* enum px_side_kind */
	int fd; /* PX_SIDE_FD */
	uint32_t interest; /* epoll events registered */
	struct px_sess *sess; /* PX_SIDE_STREAM */
	int32_t stream_id;
};

/* One direction: from side `from` to side `to`. */
struct px_dir {
	struct px_buf buf;
	int pipe[2]; /* fd to fd: splice through it; -1 otherwise */
	size_t in_pipe;
	bool eof; /* the reading side ended */
	bool want_read; /* socket to stream: the provider waits for the socket */
	bool done; /* EOF passed on to the writing side */
	uint64_t bytes;
};

enum px_conn_state {
	PX_C_OPENING, /* waiting for the upstream (connect, tunnel 200) */
	PX_C_OPEN,
	PX_C_CLOSED,
};

/* The metrics labels of a connection (docs/PROXY.md "Metrics"). */
struct px_labels {
	char src[SL_ID_LEN]; /* source principal, "unknown" */
	char dst[SL_ID_LEN]; /* destination principal */
	char dst_wl[64]; /* destination workload name */
	char dst_ns[64];
	bool mtls;
};

struct px_conn {
	struct px_ev ev_a; /* epoll: side a's socket (magic PX_MAGIC_CONN) */
	struct px_ev ev_b; /* epoll: side b's socket */
	struct px_worker *w;
	int state; /* enum px_conn_state */
	bool inbound; /* accepted from an HBONE peer (side a is a stream) */
	struct px_side a, b; /* a: who started it, b: where it goes */
	struct sl_l4addr upstream; /* the endpoint (the CONNECT authority) */
	struct sl_l4addr source; /* the client's address (port 0) */
	struct sl_l4addr hbone_peer; /* outbound tunnel: the destination node */
	char src_ns[64], src_sa[64]; /* outbound tunnel: our identity for it */
	int retries; /* CONNECTs refused unseen by a peer going away */
	bool retry; /* retry the CONNECT at the next kick */
	struct px_dir ab, ba;
	uint64_t deadline_ns; /* PX_C_OPENING: give up at this time */
	int status; /* client tunnel: the :status the peer answered */
	struct px_labels lab;
	struct px_conn *next, *prev; /* the worker's list */
	struct px_conn *kick_next; /* on the worker's kick list */
	bool kick_queued;
};

enum px_sess_state { PX_S_CONNECTING, PX_S_HANDSHAKE, PX_S_OPEN, PX_S_CLOSING };

struct px_hooks;

struct px_sess {
	struct px_ev ev; /* magic PX_MAGIC_SESS */
	struct px_worker *w;
	const struct px_hooks *hooks; /* its worker's (px_hooks()) */
	int fd;
	uint32_t interest;
	SSL *ssl;
	nghttp2_session *ng;
	bool server;
	int state; /* enum px_sess_state */
	char *out; /* mem_send bytes that SSL_write has not taken */
	size_t out_off, out_len, out_cap;
	bool goaway; /* the peer is going away: no new streams on it */
	int busy; /* inside nghttp2 (mem_recv/mem_send): flush later */
	bool flush_pending;
	uint64_t idle_since_ns; /* client: no stream since then */
	/* client sessions: the pool key */
	struct sl_l4addr peer; /* the other node's HBONE address */
	char src_id[SL_ID_LEN], dst_id[SL_ID_LEN]; /* principals */
	/* server sessions: who the client proved to be */
	char peer_principal[SL_ID_LEN];
	char peer_ns[64];
	char local_principal[SL_ID_LEN];
	int n_streams;
	uint64_t deadline_ns;
	bool dead;
	struct px_req *reqs; /* requests whose headers are still arriving */
	struct px_conn **waiting; /* conns queued until the handshake is done */
	size_t n_waiting, cap_waiting;
	struct px_sess *next, *prev;
};

/* A request stream on a server session before its CONNECT is decided. */
struct px_req {
	uint32_t magic; /* PX_MAGIC_REQ */
	char method[16];
	char authority[128];
	char forwarded[128]; /* "for=" of a Forwarded header: the client's address */
	bool bad;
	struct px_req *next, *prev; /* the session's list: freed with it */ /* a pseudo-header CONNECT must not have, or a duplicate */
};

struct px_listener {
	struct px_ev ev; /* magic PX_MAGIC_LSN */
	int fd;
	bool hbone; /* the 15008 listener, else the outbound (hand-off) one */
	bool paused; /* handed to a new process */
};

#endif
