/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The HBONE request on the server side: an HTTP/2 CONNECT whose :authority
 * is the destination "IP:PORT" (IPv6 in brackets), with no :scheme, :path
 * or :protocol (RFC 9113 section 8.5). Bytes from the network reach this
 * through nghttp2; the checks are separate so tests/fuzz/fuzz_hbone.c can
 * drive a server session without sockets.
 */
#ifndef SLUICE_PROXY_HBONE_H
#define SLUICE_PROXY_HBONE_H

#include <nghttp2/nghttp2.h>

#include "proxy/proxy-t.h"

/* 0 with *DST, or the HTTP status to answer (400) with WHY. */
int px_connect_check(const struct px_req *r, struct sl_l4addr *dst, char *why, size_t why_len);

/* inbound.c: decide a complete request (answer, or start the upstream). */
void px_hbone_request(struct px_sess *s, int32_t stream_id, const struct px_req *r);

nghttp2_session_callbacks *px_hbone_callbacks(void);
/* nghttp2 session of S (server or client per s->server) with our settings. */
int px_hbone_session_init(struct px_sess *s);
/* Free what px_hbone_session_init and the traffic allocated. */
void px_hbone_session_free(struct px_sess *s);

#endif
