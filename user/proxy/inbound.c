// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The destination side: an authenticated HBONE peer asks, one CONNECT per
 * connection, for a workload of this node. The answer follows Istio's
 * ztunnel: 400 for a malformed request, 404 for an address that is not a
 * workload of this node, 421 when the identity the client verified in the
 * handshake is not that workload's, 403 when AuthorizationPolicy denies,
 * 503 when the workload does not accept, 200 once it did.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proxy/hbone.h"
#include "proxy/proxy.h"
#include "util.h"

static void respond(struct px_sess *s, int32_t id, int status, const char *why)
{
	pr_debug("proxy: CONNECT from %s refused %d: %s\n", s->peer_principal, status, why);
	if (status == 403)
		px_metrics_authz(s->w, false);
	px_sess_respond(s, id, status, NULL);
}

/* "for=1.2.3.4" or for="[v6]" (RFC 7239); the peer's own address otherwise. */
static void source_of(const struct px_sess *s, const struct px_req *r, struct sl_l4addr *src)
{
	char buf[128], *p = strstr(r->forwarded, "for=");
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(src, 0, sizeof(*src));
	if (p) {
		p += 4;
		snprintf(buf, sizeof(buf), "%s", p + (*p == '"'));
		buf[strcspn(buf, "\";,")] = 0;
		if (!sl_parse_l4(buf, src) && !src->port)
			return;
	}
	memset(src, 0, sizeof(*src));
	if (s->fd >= 0 && !getpeername(s->fd, (struct sockaddr *)&ss, &sl)) {
		if (ss.ss_family == AF_INET) {
			src->family = SL_AF_INET;
			src->addr[0] = ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
		} else {
			src->family = SL_AF_INET6;
			memcpy(src->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		}
	}
}

static int authorize(struct px_sess *s, struct px_state *st, const struct sl_mesh_wl *wl,
		     const struct sl_l4addr *dst, const struct px_req *r, char *why, size_t wl_len)
{
	struct sl_authz_req ar = { .dst = wl, .dport = ntohs(dst->port),
				   .principal = s->peer_principal, .src_ns = s->peer_ns };
	bool audited;

	source_of(s, r, &ar.src);
	return sl_mesh_authorize(st->mesh, &ar, why, wl_len, &audited);
}

static int start_upstream(struct px_sess *s, int32_t id, const struct sl_mesh_wl *wl,
			  const struct sl_l4addr *dst)
{
	struct px_worker *w = s->w;
	struct px_conn *c;
	int fd = px_connect(w->px, dst);

	if (fd < 0)
		return -1;
	c = px_conn_new(w);
	if (!c) {
		close(fd);
		return -1;
	}
	c->inbound = true;
	c->upstream = *dst;
	c->a.kind = PX_SIDE_STREAM;
	c->a.sess = s;
	c->a.stream_id = id;
	s->n_streams++;
	c->b.kind = PX_SIDE_FD;
	c->b.fd = fd;
	snprintf(c->lab.src, sizeof(c->lab.src), "%s", s->peer_principal);
	snprintf(c->lab.dst, sizeof(c->lab.dst), "%s", s->local_principal);
	snprintf(c->lab.dst_wl, sizeof(c->lab.dst_wl), "%s", wl->name);
	snprintf(c->lab.dst_ns, sizeof(c->lab.dst_ns), "%s", wl->ns);
	c->lab.mtls = true;
	nghttp2_session_set_stream_user_data(s->ng, id, c);
	px_conn_start(c, px_now() + (uint64_t)w->px->o.connect_timeout_ms * 1000000ull);
	return 0;
}

void px_hbone_request(struct px_sess *s, int32_t id, const struct px_req *r)
{
	struct sl_l4addr dst;
	struct px_state *st;
	const struct sl_mesh_wl *wl;
	char why[160], want[SL_ID_LEN];
	int status = px_connect_check(r, &dst, why, sizeof(why));

	if (status || !s->w) { /* !s->w: the fuzz target's session, no sockets */
		respond(s, id, status ? status : 503, status ? why : "no worker");
		return;
	}
	st = px_state_get(s->w->px);
	wl = st ? sl_mesh_wl_by_ip(st->mesh, &dst) : NULL;
	if (!wl || strcmp(wl->node, s->w->px->o.node)) {
		respond(s, id, 404, "not a workload of this node");
		goto out;
	}
	snprintf(want, sizeof(want), "%s/ns/%s/sa/%s", s->w->px->o.trust_domain, wl->ns, wl->sa);
	if (strcmp(want, s->local_principal)) {
		respond(s, id, 421, "the session's identity is not the workload's");
		goto out;
	}
	if (authorize(s, st, wl, &dst, r, why, sizeof(why)) != SL_AUTHZ_ALLOW) {
		respond(s, id, 403, why);
		goto out;
	}
	px_metrics_authz(s->w, true);
	if (start_upstream(s, id, wl, &dst))
		respond(s, id, 503, "connecting to the workload failed");
out:
	px_state_put(s->w->px, st);
}

void px_inbound_accept(struct px_worker *w, int fd)
{
	if (w->px->draining) {
		close(fd);
		return;
	}
	px_sess_server(w, fd);
}
