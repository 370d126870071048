// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Fuzz target of the HBONE server side: the input is what a client sends
 * after the TLS handshake (the HTTP/2 preface, then frames). It runs through
 * the proxy's own server session (user/proxy/hbone.c callbacks and the
 * CONNECT checks of connect.c) with no sockets: the session has no worker,
 * so every complete request is answered from the checks alone and the
 * answer bytes are dropped. TLS records are OpenSSL's, not fuzzed here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/hbone.h"
#include "proxy/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct px_sess s;
	ssize_t n;

	memset(&s, 0, sizeof(s));
	s.ev.magic = PX_MAGIC_SESS;
	s.server = true;
	s.fd = -1;
	s.state = PX_S_OPEN;
	s.hooks = px_hooks();
	if (px_hbone_session_init(&s))
		abort();
	/* in two pieces: a split frame must parse like a whole one */
	n = nghttp2_session_mem_recv(s.ng, data, size / 2);
	if (n >= 0)
		n = nghttp2_session_mem_recv(s.ng, data + size / 2, size - size / 2);
	if (n >= 0)
		px_sess_flush(&s);
	px_hbone_session_free(&s);
	return 0;
}
