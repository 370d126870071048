/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The node proxy (docs/PROXY.md). tools/sluice-proxy.c parses options into
 * struct px_opts and calls px_run(). The functions below are shared by the
 * proxy's own files only.
 */
#ifndef SLUICE_PROXY_H
#define SLUICE_PROXY_H

#include "pins.h"
#include "proxy/proxy-t.h"
#include "proxy/tls.h"

#define PX_MAX_PEERS 64
#define PX_MAX_WORKERS 64

struct px_peer {
	char node[64];
	struct sl_l4addr addr; /* its HBONE listener */
};

struct px_opts {
	const char *node; /* this node's name (Pod spec.nodeName) */
	const char *pin_root; /* policy and hand-off records; or: */
	const char *policy_path; /* policy from files (standalone, tests) */
	const char *outbound; /* IP:PORT where the kernel hands connections */
	const char *hbone; /* IP:PORT of the HBONE listener (port 15008) */
	uint32_t mark; /* SO_MARK of upstream sockets (`load --proxy-mark`) */
	const char *certs_dir; /* DIR/NS/SA/{cert,key,root}.pem, or: */
	const char *ca_addr; /* `sluice ca serve` address, with */
	const char *node_cert_dir; /* this node's identity */
	const char *trust_domain;
	struct px_peer peers[PX_MAX_PEERS];
	int n_peers;
	int workers;
	const char *metrics_path; /* Prometheus text, rewritten every second */
	const char *control_path; /* unix socket: hand listeners to a successor */
	const char *takeover_path; /* take listeners from a running proxy */
	const char *ready_path;
	int drain_s; /* deadline for open tunnels after a hand-over */
	int connect_timeout_ms;
};

/* Shared, read-mostly state: swapped whole, reference counted. */
struct px_state {
	int refs;
	uint32_t gen;
	struct sl_policy *policy;
	struct sl_mesh *mesh;
	struct sl_tables tables;
};

struct px_ident {
	char ns[64], sa[64];
	char principal[SL_ID_LEN];
	SSL_CTX *cli, *srv;
	long renew_at; /* CLOCK_REALTIME seconds */
	long expires;
	long long mtime_ns; /* --certs: cert.pem's mtime when loaded */
};

struct px_metrics;

/*
 * What the layers below call upward: the HTTP/2 session (hbone.c) into the
 * relay of its streams (conn.c) and into the CONNECT handler (inbound.c),
 * the relay into the tunnel opener (outbound.c) to retry on a fresh
 * session. Filled in one place (loop.c, px_hooks()), so that no file
 * below names a file above it: the session layer knows a connection only
 * as the pointer it hands back.
 */
struct px_hooks {
	void (*conn_open)(struct px_conn *c);
	void (*conn_abort)(struct px_conn *c, const char *why);
	void (*stream_data)(struct px_conn *c, const uint8_t *d, size_t n);
	void (*stream_eof)(struct px_conn *c);
	ssize_t (*stream_read)(struct px_conn *c, uint8_t *out, size_t n, uint32_t *flags);
	void (*stream_closed)(struct px_conn *c, uint32_t error_code);
	void (*request)(struct px_sess *s, int32_t stream_id, const struct px_req *r);
	int (*tunnel_open)(struct px_worker *w, struct px_conn *c);
};

/* loop.c: the proxy's hooks. */
const struct px_hooks *px_hooks(void);

struct px_worker {
	struct px *px;
	const struct px_hooks *hooks; /* px_hooks() */
	int idx;
	int epfd;
	pthread_t th;
	struct px_conn *conns; /* every live connection */
	struct px_sess *sesss; /* every live session */
	struct px_conn *dead_conns; /* freed at the end of the loop turn */
	struct px_sess *dead_sess;
	struct px_conn *kicks; /* to kick at the end of the loop turn */
	int n_conns, n_sess;
	uint32_t rr;
	uint64_t now_ns;
	struct px_metrics *m;
	pthread_mutex_t mlock; /* guards m against the metrics writer */
};

struct px {
	struct px_opts o;
	pthread_mutex_t lock; /* st, ids */
	struct px_state *st;
	struct px_ident *ids;
	size_t n_ids;
	SSL_CTX *srv_base; /* picks a workload's context by SNI */
	struct px_listener out_l, hb_l;
	struct px_worker w[PX_MAX_WORKERS];
	int nw;
	volatile int stop; /* SIGTERM: stop now */
	volatile int draining; /* handed over: accept nothing, finish tunnels */
	uint64_t drain_deadline_ns;
	uint64_t drain_started_ns;
	struct sl_maps maps; /* with a pin root */
	bool have_maps;
	int handoff_fd; /* pinned sl_handoff map, -1 without a pin root */
	struct sl_ident node_id; /* with --ca */
	bool have_node_id;
	long node_renew_at; /* CLOCK_REALTIME seconds */
	pthread_t certs_th;
};

int px_run(struct px_opts *o);

/* loop.c */
uint64_t px_now(void);
void px_ev_set(struct px_worker *w, int fd, struct px_ev *ev, uint32_t *have, uint32_t want);
void px_ev_del(struct px_worker *w, int fd, uint32_t *have);
int px_socket_for(const struct sl_l4addr *a, struct sockaddr_storage *ss, socklen_t *sl);
int px_connect(struct px *px, const struct sl_l4addr *a);
void px_fmt(const struct sl_l4addr *a, char *buf, size_t len);
int px_workers_start(struct px *px);
bool px_drained(const struct px *px, bool idle);
void px_workers_join(struct px *px);
void px_workers_free(struct px *px); /* after join */
void px_listener_init(struct px_listener *l, int fd, bool hbone);
int px_listen(const char *addr);

/* state.c */
struct px_state *px_state_get(struct px *px); /* a reference, fresh */
void px_state_put(struct px *px, struct px_state *st);
int px_state_load(struct px *px);
/* SSL_CTX for NS/SA with a reference taken, or NULL when none (yet). */
SSL_CTX *px_ident_ctx(struct px *px, const char *ns, const char *sa, bool server);
int px_idents_refresh(struct px *px, bool force);
int px_srv_base_init(struct px *px);
const struct px_peer *px_peer_of(const struct px *px, const char *node);

/* mtls_map.c: PeerAuthentication STRICT into the pinned sl_mtls map. */
int px_mtls_publish(struct px *px, const struct px_state *st);

/* conn.c */
struct px_conn *px_conn_new(struct px_worker *w);
void px_conn_open(struct px_conn *c); /* both sides ready: start relaying */
void px_conn_start(struct px_conn *c, uint64_t deadline_ns);
void px_conn_tick(struct px_worker *w);
void px_conn_abort(struct px_conn *c, const char *why);
void px_conn_kick(struct px_conn *c); /* re-evaluate I/O after a change */
void px_conn_fd_event(struct px_ev *ev, uint32_t events);
/* stream side glue, called by hbone.c through px_hooks */
void px_conn_stream_data(struct px_conn *c, const uint8_t *d, size_t n);
void px_conn_stream_eof(struct px_conn *c);
ssize_t px_conn_stream_read(struct px_conn *c, uint8_t *out, size_t n, uint32_t *flags);
void px_conn_stream_closed(struct px_conn *c, uint32_t error_code);
void px_conn_reap(struct px_worker *w);
/* From nghttp2 callbacks: kick C once the callbacks have returned. */
void px_conn_defer_kick(struct px_conn *c);
void px_conn_run_kicks(struct px_worker *w);

/* outbound.c: a connection the kernel handed to us */
void px_outbound_accept(struct px_worker *w, int fd);
int px_tunnel_open(struct px_worker *w, struct px_conn *c);

/* inbound.c: a CONNECT on an HBONE server session */
int px_inbound_connect(struct px_sess *s, int32_t stream_id, const char *authority);
void px_inbound_accept(struct px_worker *w, int fd);

/* hbone.c */
struct px_sess *px_sess_client(struct px_worker *w, const struct sl_l4addr *peer,
			       const char *src_id, const char *dst_id, SSL_CTX *ctx);
int px_sess_open_tunnel(struct px_sess *s, struct px_conn *c);
struct px_sess *px_sess_server(struct px_worker *w, int fd);
void px_sess_flush(struct px_sess *s);
void px_sess_reap(struct px_worker *w);
void px_sess_close(struct px_sess *s);
int px_sess_respond(struct px_sess *s, int32_t stream_id, int status, struct px_conn *c);
void px_sess_resume(struct px_sess *s, int32_t stream_id);
void px_sess_consume(struct px_sess *s, int32_t stream_id, size_t n);
void px_sess_reset(struct px_sess *s, int32_t stream_id);
void px_sess_tick(struct px_worker *w);

/* metrics.c */
void px_metrics_conn(struct px_worker *w, const struct px_labels *l, bool open, uint64_t sent,
		     uint64_t received);
void px_metrics_hs(struct px_worker *w, bool server, const char *result);
void px_metrics_authz(struct px_worker *w, bool allowed);
int px_metrics_write(struct px *px, const char *path);
void px_metrics_free(struct px_worker *w);

#endif
