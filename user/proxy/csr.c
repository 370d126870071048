// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "proxy/csr.h"

long sl_frame_parse(const char *buf, size_t len, const char *word, size_t max,
		    const char **body, size_t *body_len)
{
	size_t wl = strlen(word), i, n = 0;
	const char *nl = memchr(buf, '\n', len < 32 ? len : 32);

	if (!nl)
		return len >= 32 ? -1 : 0;
	if ((size_t)(nl - buf) <= wl + 1 || memcmp(buf, word, wl) || buf[wl] != ' ')
		return -1;
	for (i = wl + 1; buf + i < nl; i++) {
		if (buf[i] < '0' || buf[i] > '9' || n > max)
			return -1;
		n = n * 10 + (size_t)(buf[i] - '0');
	}
	if (n == 0 || n > max)
		return -1;
	i = (size_t)(nl - buf) + 1;
	if (len - i < n)
		return 0;
	*body = buf + i;
	*body_len = n;
	return (long)(i + n);
}

/* The one URI of the CSR's requested subjectAltName extension. */
static int csr_uri(X509_REQ *req, struct sl_spiffe_id *id, char *why, size_t wl)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *names = NULL;
	int n_uri = 0, n_other = 0, rc = -1;

	for (int i = 0; exts && i < sk_X509_EXTENSION_num(exts); i++) {
		X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);

		if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_alt_name && !names)
			names = X509V3_EXT_d2i(e);
	}
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);

		if (g->type != GEN_URI) {
			n_other++;
			continue;
		}
		if (n_uri++)
			continue;
		rc = sl_spiffe_parse((const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier),
				     (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier), id);
	}
	/* roots are named like nodes (root-N): no node may ask for that name */
	bool root_name = !rc && id->kind == SL_ID_NODE && !strncmp(id->node, "root-", 5);

	if (n_uri != 1 || n_other)
		snprintf(why, wl, "the CSR must name exactly one URI and no other subjectAltName");
	else if (rc || root_name || !strcmp(id->node, "sluice-ca"))
		snprintf(why, wl, "the CSR's URI is not a SPIFFE workload or node identity");
	GENERAL_NAMES_free(names);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return n_uri == 1 && !n_other && !rc && !root_name && strcmp(id->node, "sluice-ca") ? 0 : -1;
}

static bool key_is_p256(EVP_PKEY *k)
{
	char grp[32] = "";
	size_t gl = 0;

	return EVP_PKEY_is_a(k, "EC") &&
	       EVP_PKEY_get_utf8_string_param(k, "group", grp, sizeof(grp), &gl) &&
	       !strcmp(grp, "prime256v1");
}

int sl_csr_check(const char *pem, size_t len, const char *td, struct sl_spiffe_id *id,
		 EVP_PKEY **pub, char *why, size_t wl)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509_REQ *req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = req ? X509_REQ_get_pubkey(req) : NULL;
	int rc = -1;

	*pub = NULL;
	if (!req)
		snprintf(why, wl, "not a PEM certificate request");
	else if (!k || !key_is_p256(k))
		snprintf(why, wl, "the CSR's key is not ECDSA P-256");
	else if (X509_REQ_verify(req, k) != 1)
		snprintf(why, wl, "the CSR's signature does not verify");
	else if (!csr_uri(req, id, why, wl)) {
		if (strcmp(id->td, td))
			snprintf(why, wl, "trust domain %s is not %s", id->td, td);
		else
			rc = 0;
	}
	if (!rc) {
		*pub = k;
		k = NULL;
	}
	EVP_PKEY_free(k);
	X509_REQ_free(req);
	BIO_free(b);
	ERR_clear_error();
	return rc;
}

char *sl_csr_make(EVP_PKEY *key, const struct sl_spiffe_id *id, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext = NULL;
	char uri[SL_ID_LEN + 8] = "URI:", *data, *out = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	long n;

	sl_spiffe_fmt(id, uri + 4, sizeof(uri) - 4);
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, uri);
	if (!req || !exts || !ext || !b || !sk_X509_EXTENSION_push(exts, ext))
		goto out;
	ext = NULL;
	if (!X509_REQ_set_pubkey(req, key) || !X509_REQ_add_extensions(req, exts) ||
	    !X509_REQ_sign(req, key, EVP_sha256()) || !PEM_write_bio_X509_REQ(b, req))
		goto out;
	n = BIO_get_mem_data(b, &data);
	out = malloc((size_t)n + 1);
	if (out) {
		memcpy(out, data, (size_t)n);
		out[n] = 0;
		*len = (size_t)n;
	}
out:
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	BIO_free(b);
	ERR_clear_error();
	return out;
}
