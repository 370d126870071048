// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The source side: the kernel handed us a connection (cgroup/connect
 * rewrote its destination to our address and sockops recorded the original
 * one in sl_handoff). Decide where it goes and how:
 *
 *   not a mesh workload, or PeerAuthentication DISABLE   plain, direct
 *   the client has no identity here        PERMISSIVE: plain; STRICT: refused
 *   the destination runs on this node      identities and authorization
 *                                          here, then direct (no wire)
 *   another node                           HBONE tunnel to that node's proxy
 *
 * Every failure resets the client's connection: nothing reaches a workload
 * that needs the proxy unless the proxy decided it may (fail closed).
 */
#include <bpf/bpf.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proxy/proxy.h"
#include "util.h"

static void addr_of(const struct sockaddr_storage *ss, struct sl_l4addr *a)
{
	memset(a, 0, sizeof(*a));
	a->proto = IPPROTO_TCP;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		a->family = SL_AF_INET;
		a->addr[0] = s->sin_addr.s_addr;
		a->port = s->sin_port;
	} else {
		const struct sockaddr_in6 *s = (const void *)ss;

		a->family = SL_AF_INET6;
		memcpy(a->addr, &s->sin6_addr, 16);
		a->port = s->sin6_port;
	}
}

/* The original destination from the pinned hand-off record. */
static int orig_dst(struct px *px, int fd, struct sl_l4addr *src, struct sl_l4addr *orig)
{
	struct sockaddr_storage peer = { 0 }, local = { 0 };
	socklen_t pl = sizeof(peer), ll = sizeof(local);
	struct sl_handoff_key k;
	struct sl_handoff_val v;
	struct sl_l4addr l;

	if (getpeername(fd, (struct sockaddr *)&peer, &pl) ||
	    getsockname(fd, (struct sockaddr *)&local, &ll))
		return -1;
	addr_of(&peer, src);
	addr_of(&local, &l);
	memset(&k, 0, sizeof(k));
	memcpy(k.src, src->addr, sizeof(k.src));
	memcpy(k.dst, l.addr, sizeof(k.dst));
	k.sport = src->port;
	k.dport = l.port;
	k.family = src->family;
	src->port = 0;
	if (px->handoff_fd < 0 || bpf_map_lookup_elem(px->handoff_fd, &k, &v))
		return -1;
	*orig = v.orig;
	return 0;
}

static bool same_l4(const struct sl_l4addr *a, const struct sl_l4addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       !memcmp(a->addr, b->addr, sizeof(a->addr));
}

/* A frontend: round robin over its ready endpoints (the kernel's weights
 * and outlier state stay the kernel's; the proxy spreads evenly). Not a
 * frontend: the client dialled the endpoint itself. */
static int pick_endpoint(struct px_worker *w, const struct sl_tables *t,
			 const struct sl_l4addr *orig, struct sl_l4addr *ep)
{
	size_t n = 0, pick, i, svc;

	for (svc = 0; svc < t->n_svcs; svc++)
		if (t->svcs[svc].fe.proto == IPPROTO_TCP && same_l4(&t->svcs[svc].fe, orig))
			break;
	if (svc == t->n_svcs) {
		*ep = *orig;
		return 0;
	}
	for (i = 0; i < t->n_backends; i++)
		n += t->backends[i].svc == svc && t->backends[i].ready;
	if (!n)
		return -1;
	pick = w->rr++ % n;
	for (i = 0; i < t->n_backends; i++) {
		if (t->backends[i].svc != svc || !t->backends[i].ready)
			continue;
		if (!pick--) {
			*ep = t->backends[i].be.ep;
			return 0;
		}
	}
	return -1;
}

static void refuse(int fd, struct px_worker *w, const char *why)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	pr_debug("proxy: outbound connection refused: %s\n", why);
	(void)w;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

struct route {
	struct sl_l4addr src, orig, ep;
	const struct sl_mesh_wl *sw, *dw;
	enum sl_mtls_mode mode;
	char src_p[SL_ID_LEN], dst_p[SL_ID_LEN];
};

static void labels(struct px_conn *c, const struct route *r, bool mtls)
{
	snprintf(c->lab.src, sizeof(c->lab.src), "%s", r->sw ? r->src_p : "unknown");
	snprintf(c->lab.dst, sizeof(c->lab.dst), "%s", r->dw ? r->dst_p : "unknown");
	snprintf(c->lab.dst_wl, sizeof(c->lab.dst_wl), "%s", r->dw ? r->dw->name : "unknown");
	snprintf(c->lab.dst_ns, sizeof(c->lab.dst_ns), "%s", r->dw ? r->dw->ns : "unknown");
	c->lab.mtls = mtls;
	c->upstream = r->ep;
	c->source = r->src;
}

static int go_direct(struct px_worker *w, int fd, const struct route *r, bool mtls)
{
	struct px_conn *c;
	int up = px_connect(w->px, &r->ep);

	if (up < 0)
		return -1;
	c = px_conn_new(w);
	if (!c) {
		close(up);
		return -1;
	}
	c->a.kind = c->b.kind = PX_SIDE_FD;
	c->a.fd = fd;
	c->b.fd = up;
	labels(c, r, mtls);
	px_conn_start(c, px_now() + (uint64_t)w->px->o.connect_timeout_ms * 1000000ull);
	return 0;
}

/* Put C's tunnel on the pooled session for its identities (a new one when
 * none is usable). Also the retry of a CONNECT that a peer going away
 * refused before it saw it (REFUSED_STREAM after GOAWAY, e.g. during the
 * peer's upgrade): that request never reached a workload, so it is safe
 * to send again. */
int px_tunnel_open(struct px_worker *w, struct px_conn *c)
{
	SSL_CTX *ctx = px_ident_ctx(w->px, c->src_ns, c->src_sa, false);
	struct px_sess *s;

	if (!ctx)
		return -1;
	s = px_sess_client(w, &c->hbone_peer, c->lab.src, c->lab.dst, ctx);
	SSL_CTX_free(ctx); /* the session's SSL holds its own reference */
	return s ? px_sess_open_tunnel(s, c) : -1;
}

static int go_tunnel(struct px_worker *w, int fd, const struct route *r)
{
	const struct px_peer *peer = px_peer_of(w->px, r->dw->node);
	struct px_conn *c;

	if (!peer)
		return -1;
	c = px_conn_new(w);
	if (!c)
		return -1;
	c->a.kind = PX_SIDE_FD;
	c->a.fd = fd;
	labels(c, r, true);
	c->hbone_peer = peer->addr;
	snprintf(c->src_ns, sizeof(c->src_ns), "%s", r->sw->ns);
	snprintf(c->src_sa, sizeof(c->src_sa), "%s", r->sw->sa);
	c->deadline_ns = px_now() + (uint64_t)w->px->o.connect_timeout_ms * 1000000ull;
	if (px_tunnel_open(w, c)) {
		c->a.fd = -1; /* the caller resets fd */
		c->a.kind = PX_SIDE_NONE;
		px_conn_abort(c, "opening the tunnel");
		return -1;
	}
	return 0;
}

static bool authorized(struct px_state *st, const struct route *r)
{
	struct sl_authz_req ar = { .dst = r->dw, .dport = ntohs(r->ep.port), .src = r->src,
				   .principal = r->src_p, .src_ns = r->sw->ns };
	char why[160];
	bool audited;

	return sl_mesh_authorize(st->mesh, &ar, why, sizeof(why), &audited) == SL_AUTHZ_ALLOW;
}

static int decide(struct px_worker *w, int fd, struct px_state *st, struct route *r)
{
	const char *td = w->px->o.trust_domain;

	if (pick_endpoint(w, &st->tables, &r->orig, &r->ep))
		return -1;
	r->dw = sl_mesh_wl_by_ip(st->mesh, &r->ep);
	r->sw = sl_mesh_wl_by_ip(st->mesh, &r->src);
	if (r->sw && strcmp(r->sw->node, w->px->o.node))
		r->sw = NULL; /* not ours: we cannot speak for it */
	r->mode = r->dw ? sl_mesh_mtls(st->mesh, r->dw, ntohs(r->ep.port), NULL, 0) :
			  SL_MTLS_DISABLE;
	if (r->sw)
		snprintf(r->src_p, sizeof(r->src_p), "%s/ns/%s/sa/%s", td, r->sw->ns, r->sw->sa);
	if (r->dw)
		snprintf(r->dst_p, sizeof(r->dst_p), "%s/ns/%s/sa/%s", td, r->dw->ns, r->dw->sa);
	if (r->mode == SL_MTLS_DISABLE || (!r->sw && r->mode == SL_MTLS_PERMISSIVE))
		return go_direct(w, fd, r, false);
	if (!r->sw)
		return -1; /* STRICT and no identity to present */
	if (!strcmp(r->dw->node, w->px->o.node)) {
		if (!authorized(st, r)) {
			px_metrics_authz(w, false);
			return -1;
		}
		px_metrics_authz(w, true);
		return go_direct(w, fd, r, true);
	}
	return go_tunnel(w, fd, r);
}

void px_outbound_accept(struct px_worker *w, int fd)
{
	struct route r = { 0 };
	struct px_state *st;

	if (orig_dst(w->px, fd, &r.src, &r.orig)) {
		refuse(fd, w, "no hand-off record");
		return;
	}
	st = px_state_get(w->px);
	if (!st || decide(w, fd, st, &r))
		refuse(fd, w, "no route, no identity or not authorized");
	px_state_put(w->px, st);
}
