/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * TLS 1.3 contexts with mutual authentication against the mesh's trust
 * bundle. Every context requires a peer certificate; who the peer must be
 * (a workload's SPIFFE ID, a node) is checked by the caller after the
 * handshake with sl_tls_peer_id(), because the expected name depends on the
 * connection (the destination workload), not on the context.
 */
#ifndef SLUICE_PROXY_TLS_H
#define SLUICE_PROXY_TLS_H

#include <stdbool.h>
#include <openssl/ssl.h>

#include "proxy/pki.h"

/* An identity as files: DIR/cert.pem, DIR/key.pem, DIR/root.pem. */
struct sl_ident {
	X509 *cert;
	EVP_PKEY *key;
	X509 **bundle;
	int n_bundle;
	struct sl_spiffe_id id;
};

int sl_ident_load(struct sl_ident *id, const char *dir, char *err, size_t errlen);
/* From PEM bytes: cert (leaf), key, bundle. */
int sl_ident_set(struct sl_ident *id, X509 *cert, EVP_PKEY *key, X509 **bundle,
		 int n_bundle, char *err, size_t errlen);
void sl_ident_free(struct sl_ident *id);

/* ALPN: "h2" for HBONE, NULL for none. */
SSL_CTX *sl_tls_ctx(const struct sl_ident *id, bool server, const char *alpn, char *err,
		    size_t errlen);
/* The verified peer's SPIFFE ID; -1 when none or not verified. */
int sl_tls_peer_id(SSL *ssl, struct sl_spiffe_id *id);
/* Short reason of a failed handshake for logs and metrics:
 * "unknown_ca", "expired", "bad_certificate", "no_certificate", "protocol",... */
const char *sl_tls_fail_reason(SSL *ssl, int ret);

#endif
