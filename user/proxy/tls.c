// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>

#include "proxy/tls.h"

void sl_ident_free(struct sl_ident *id)
{
	X509_free(id->cert);
	EVP_PKEY_free(id->key);
	sl_pki_free_certs(id->bundle, id->n_bundle);
	memset(id, 0, sizeof(*id));
}

int sl_ident_set(struct sl_ident *id, X509 *cert, EVP_PKEY *key, X509 **bundle,
		 int n_bundle, char *err, size_t errlen)
{
	memset(id, 0, sizeof(*id));
	id->cert = cert;
	id->key = key;
	id->bundle = bundle;
	id->n_bundle = n_bundle;
	if (sl_pki_cert_spiffe(cert, &id->id)) {
		snprintf(err, errlen, "the certificate has no single SPIFFE URI SAN");
		return -1;
	}
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "the key does not match the certificate");
		return -1;
	}
	return 0;
}

int sl_ident_load(struct sl_ident *id, const char *dir, char *err, size_t errlen)
{
	char path[4096];
	X509 **leaf = NULL, **bundle = NULL;
	EVP_PKEY *key;
	int nb, nl;

	snprintf(path, sizeof(path), "%s/cert.pem", dir);
	nl = sl_pki_read_certs(path, &leaf, err, errlen);
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	key = nl > 0 ? sl_pki_read_key(path, err, errlen) : NULL;
	snprintf(path, sizeof(path), "%s/root.pem", dir);
	nb = key ? sl_pki_read_certs(path, &bundle, err, errlen) : -1;
	if (nb < 1) {
		EVP_PKEY_free(key);
		sl_pki_free_certs(leaf, nl > 0 ? nl : 0);
		memset(id, 0, sizeof(*id));
		return -1;
	}
	for (int i = 1; i < nl; i++)
		X509_free(leaf[i]);
	X509 *cert = leaf[0];

	free(leaf);
	if (sl_ident_set(id, cert, key, bundle, nb, err, errlen)) {
		sl_ident_free(id);
		return -1;
	}
	return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	const char *want = arg;
	size_t wl = strlen(want);

	(void)ssl;
	for (unsigned int i = 0; i < inlen; i += 1u + in[i]) {
		if (in[i] == wl && i + 1 + wl <= inlen && !memcmp(in + i + 1, want, wl)) {
			*out = in + i + 1;
			*outlen = in[i];
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int set_alpn(SSL_CTX *ctx, bool server, const char *alpn)
{
	unsigned char wire[32];
	size_t n = strlen(alpn);

	if (server) {
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)alpn);
		return 0;
	}
	if (n + 1 > sizeof(wire))
		return -1;
	wire[0] = (unsigned char)n;
	memcpy(wire + 1, alpn, n);
	return SSL_CTX_set_alpn_protos(ctx, wire, (unsigned)(n + 1)) ? -1 : 0;
}

SSL_CTX *sl_tls_ctx(const struct sl_ident *id, bool server, const char *alpn, char *err,
		    size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	X509_STORE *st = ctx ? SSL_CTX_get_cert_store(ctx) : NULL;
	int ok = st != NULL;

	/* AES-128-GCM first, as BoringSSL (Envoy) orders them: the same security
	 * margin for a 256-bit-key-less attacker, a third less work per byte */
	ok = ok && SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) &&
	     SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
					   "TLS_CHACHA20_POLY1305_SHA256") &&
	     SSL_CTX_use_certificate(ctx, id->cert) && SSL_CTX_use_PrivateKey(ctx, id->key) &&
	     SSL_CTX_set1_groups_list(ctx, "P-256:X25519");
	for (int i = 0; ok && i < id->n_bundle; i++)
		ok = X509_STORE_add_cert(st, id->bundle[i]);
	if (ok && alpn)
		ok = !set_alpn(ctx, server, alpn);
	if (!ok) {
		sl_pki_ossl_err(err, errlen, "TLS context");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(ctx, 2);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* read what the socket has (several records) in one system call, not a
	 * 5-byte header and then its record */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* No resumption: every connection proves its identity afresh, and a
	 * renewed certificate takes effect on the next handshake. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	return ctx;
}

int sl_tls_peer_id(SSL *ssl, struct sl_spiffe_id *id)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);

	if (!peer || SSL_get_verify_result(ssl) != X509_V_OK)
		return -1;
	return sl_pki_cert_spiffe(peer, id);
}

const char *sl_tls_fail_reason(SSL *ssl, int ret)
{
	long v = SSL_get_verify_result(ssl);
	int e = SSL_get_error(ssl, ret);

	if (v == X509_V_ERR_CERT_HAS_EXPIRED || v == X509_V_ERR_CERT_NOT_YET_VALID)
		return "expired";
	if (v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
	    v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	    v == X509_V_ERR_CERT_SIGNATURE_FAILURE)
		return "unknown_ca";
	if (v != X509_V_OK)
		return "bad_certificate";
	if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
		return "eof";
	unsigned long oe = ERR_peek_last_error();

	if (ERR_GET_REASON(oe) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		return "no_certificate";
	if (ERR_GET_REASON(oe) == SSL_R_TLSV1_ALERT_UNKNOWN_CA)
		return "unknown_ca";
	if (ERR_GET_REASON(oe) == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED)
		return "expired";
	if (ERR_GET_REASON(oe) == SSL_R_UNSUPPORTED_PROTOCOL ||
	    ERR_GET_REASON(oe) == SSL_R_WRONG_VERSION_NUMBER)
		return "protocol";
	return "handshake";
}
