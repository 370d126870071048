/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Keys and X.509 certificates for the mesh (OpenSSL 3): ECDSA P-256 keys,
 * certificates whose only name is one SPIFFE URI SAN, PEM files written
 * atomically (keys 0600). Errors are returned as text in ERR, never with
 * key material in it.
 */
#ifndef SLUICE_PROXY_PKI_H
#define SLUICE_PROXY_PKI_H

#include <stdbool.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "proxy/spiffe.h"

#define SL_ERR_LEN 256

EVP_PKEY *sl_pki_keygen(void);

struct sl_cert_spec {
	const struct sl_spiffe_id *id; /* the URI SAN (and CN) */
	EVP_PKEY *pub; /* the subject's key */
	X509 *issuer; /* NULL: self-signed with issuer_key == the subject's key */
	EVP_PKEY *issuer_key;
	long not_before_s; /* relative to now (negative: back-dated) */
	long ttl_s; /* validity from now */
	bool ca; /* basicConstraints CA:TRUE, keyCertSign */
};
X509 *sl_pki_make_cert(const struct sl_cert_spec *s, char *err, size_t errlen);

/* The one SPIFFE URI SAN of CERT; -1 when it has none, several, or a bad one. */
int sl_pki_cert_spiffe(X509 *cert, struct sl_spiffe_id *id);
/* Seconds from now until CERT expires (negative when it has). */
long sl_pki_cert_left(X509 *cert);
long sl_pki_cert_lifetime(X509 *cert);

/* PEM files. Writers go through a temporary file and rename (MODE applies
 * from creation, so a key is never readable by others, even briefly). */
int sl_pki_write_key(const char *path, EVP_PKEY *key, char *err, size_t errlen);
int sl_pki_write_certs(const char *path, X509 *const *certs, int n, char *err,
		       size_t errlen);
EVP_PKEY *sl_pki_read_key(const char *path, char *err, size_t errlen);
/* Every certificate of a PEM file (n on success, -1 on error). */
int sl_pki_read_certs(const char *path, X509 ***out, char *err, size_t errlen);
void sl_pki_free_certs(X509 **v, int n);
/* Write BUF to PATH atomically with MODE. */
int sl_pki_write_file(const char *path, const void *buf, size_t len, int mode,
		      char *err, size_t errlen);

/* The last OpenSSL error as text (queue cleared). */
void sl_pki_ossl_err(char *buf, size_t len, const char *what);

#endif
