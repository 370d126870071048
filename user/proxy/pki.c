// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "proxy/pki.h"

void sl_pki_ossl_err(char *buf, size_t len, const char *what)
{
	unsigned long e = ERR_get_error();
	char r[160] = "unknown error";

	if (e)
		ERR_error_string_n(e, r, sizeof(r));
	ERR_clear_error();
	snprintf(buf, len, "%s: %s", what, r);
}

EVP_PKEY *sl_pki_keygen(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ex)
		return -1;
	ok = X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return ok ? 0 : -1;
}

/* 128 random bits, top bit clear so the DER integer stays positive. */
static int set_serial(X509 *cert)
{
	unsigned char b[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[0] &= 0x7f;
	bn = BN_bin2bn(b, sizeof(b), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
	BN_free(bn);
	return ok ? 0 : -1;
}

static int set_names(X509 *cert, const struct sl_cert_spec *s)
{
	X509_NAME *name = X509_NAME_new();
	char uri[SL_ID_LEN + 8], cn[SL_ID_LEN];
	int ok;

	sl_spiffe_principal(s->id, cn, sizeof(cn));
	ok = name && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
						(const unsigned char *)"sluice", -1, -1, 0) &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) &&
	     X509_set_subject_name(cert, name) &&
	     X509_set_issuer_name(cert, s->issuer ? X509_get_subject_name(s->issuer) : name);
	X509_NAME_free(name);
	if (!ok)
		return -1;
	snprintf(uri, sizeof(uri), "URI:");
	sl_spiffe_fmt(s->id, uri + 4, sizeof(uri) - 4);
	return add_ext(cert, s->issuer ? s->issuer : cert, NID_subject_alt_name, uri);
}

static int set_usage(X509 *cert, const struct sl_cert_spec *s)
{
	X509 *iss = s->issuer ? s->issuer : cert;

	if (s->ca)
		return add_ext(cert, iss, NID_basic_constraints, "critical,CA:TRUE") ||
		       add_ext(cert, iss, NID_key_usage, "critical,keyCertSign,cRLSign") ||
		       add_ext(cert, iss, NID_subject_key_identifier, "hash");
	return add_ext(cert, iss, NID_basic_constraints, "critical,CA:FALSE") ||
	       add_ext(cert, iss, NID_key_usage, "critical,digitalSignature,keyAgreement") ||
	       add_ext(cert, iss, NID_ext_key_usage, "serverAuth,clientAuth") ||
	       add_ext(cert, iss, NID_authority_key_identifier, "keyid:always");
}

X509 *sl_pki_make_cert(const struct sl_cert_spec *s, char *err, size_t errlen)
{
	X509 *cert = X509_new();

	if (!cert || !X509_set_version(cert, 2) || set_serial(cert) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), s->not_before_s) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), s->ttl_s) ||
	    !X509_set_pubkey(cert, s->pub) || set_names(cert, s) || set_usage(cert, s) ||
	    !X509_sign(cert, s->issuer_key, EVP_sha256())) {
		sl_pki_ossl_err(err, errlen, "building a certificate");
		X509_free(cert);
		return NULL;
	}
	return cert;
}

int sl_pki_cert_spiffe(X509 *cert, struct sl_spiffe_id *id)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int n_uri = 0, rc = -1;

	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const unsigned char *p;
		int len;

		if (g->type != GEN_URI)
			continue;
		n_uri++;
		p = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
		rc = sl_spiffe_parse((const char *)p, (size_t)len, id);
	}
	GENERAL_NAMES_free(names);
	return n_uri == 1 ? rc : -1;
}

static long asn1_diff(const ASN1_TIME *from, const ASN1_TIME *to)
{
	int days = 0, secs = 0;

	if (!ASN1_TIME_diff(&days, &secs, from, to))
		return -1;
	return (long)days * 86400 + secs;
}

long sl_pki_cert_left(X509 *cert)
{
	ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL));
	long d = now ? asn1_diff(now, X509_get0_notAfter(cert)) : -1;

	ASN1_TIME_free(now);
	return d;
}

long sl_pki_cert_lifetime(X509 *cert)
{
	return asn1_diff(X509_get0_notBefore(cert), X509_get0_notAfter(cert));
}

int sl_pki_write_file(const char *path, const void *buf, size_t len, int mode,
		      char *err, size_t errlen)
{
	char tmp[4096];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || fchmod(fd, mode) || write(fd, buf, len) != (ssize_t)len ||
	    fsync(fd) || close(fd) || rename(tmp, path)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int write_bio(const char *path, BIO *b, int mode, char *err, size_t errlen)
{
	char *data;
	long len = BIO_get_mem_data(b, &data);

	return sl_pki_write_file(path, data, (size_t)len, mode, err, errlen);
}

int sl_pki_write_key(const char *path, EVP_PKEY *key, char *err, size_t errlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	int rc = -1;

	if (b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL))
		rc = write_bio(path, b, 0600, err, errlen);
	else
		sl_pki_ossl_err(err, errlen, "encoding a key");
	BIO_free(b);
	return rc;
}

int sl_pki_write_certs(const char *path, X509 *const *certs, int n, char *err,
		       size_t errlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	int rc = -1, i;

	for (i = 0; b && i < n; i++)
		if (!PEM_write_bio_X509(b, certs[i]))
			break;
	if (b && i == n)
		rc = write_bio(path, b, 0644, err, errlen);
	else
		sl_pki_ossl_err(err, errlen, "encoding a certificate");
	BIO_free(b);
	return rc;
}

EVP_PKEY *sl_pki_read_key(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	EVP_PKEY *k;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k)
		snprintf(err, errlen, "%s: not a PEM private key", path);
	ERR_clear_error();
	return k;
}

int sl_pki_read_certs(const char *path, X509 ***out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	X509 **v = NULL, *c, **nv;
	int n = 0;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((c = PEM_read_X509(f, NULL, NULL, NULL))) {
		nv = realloc(v, (size_t)(n + 1) * sizeof(*v));
		if (!nv) {
			X509_free(c);
			break;
		}
		v = nv;
		v[n++] = c;
	}
	fclose(f);
	ERR_clear_error();
	if (!n) {
		snprintf(err, errlen, "%s: no PEM certificate", path);
		free(v);
		return -1;
	}
	*out = v;
	return n;
}

void sl_pki_free_certs(X509 **v, int n)
{
	for (int i = 0; i < n; i++)
		X509_free(v[i]);
	free(v);
}
