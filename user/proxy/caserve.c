// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "proxy/caserve.h"
#include "proxy/csr.h"
#include "util.h"

static char *err_answer(const char *why, size_t *len)
{
	char *a = malloc(300);

	if (a)
		*len = (size_t)snprintf(a, 300, "ERR %s\n", why);
	return a;
}

/* Leaf then bundle, PEM, framed "CERT <len>\n". */
static char *cert_answer(const struct sl_ca_ctx *c, X509 *leaf, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *a = NULL;
	long n;
	int ok = b && PEM_write_bio_X509(b, leaf);

	for (int i = 0; ok && i < c->ca->n_bundle; i++)
		ok = PEM_write_bio_X509(b, c->ca->bundle[i]);
	if (ok) {
		n = BIO_get_mem_data(b, &data);
		a = malloc((size_t)n + 32);
		if (a) {
			int h = snprintf(a, 32, "CERT %ld\n", n);

			memcpy(a + h, data, (size_t)n);
			*len = (size_t)h + (size_t)n;
		}
	}
	BIO_free(b);
	return a;
}

long sl_ca_answer(const struct sl_ca_ctx *c, const char *node, const char *req, size_t len,
		  char **ans, size_t *ans_len, char *log, size_t log_len)
{
	struct sl_spiffe_id id;
	const char *body;
	size_t blen;
	char why[200], uri[SL_ID_LEN], err[SL_ERR_LEN];
	EVP_PKEY *pub = NULL;
	X509 *leaf;
	long n = sl_frame_parse(req, len, "CSR", SL_CSR_MAX, &body, &blen);

	*ans = NULL;
	if (n == 0)
		return 0;
	if (n < 0) {
		snprintf(log, log_len, "node %s: refused: malformed request", node);
		*ans = err_answer("malformed request", ans_len);
		return -1;
	}
	if (sl_csr_check(body, blen, c->ca->td, &id, &pub, why, sizeof(why))) {
		snprintf(log, log_len, "node %s: refused: %s", node, why);
		*ans = err_answer(why, ans_len);
		return n;
	}
	sl_spiffe_fmt(&id, uri, sizeof(uri));
	if (id.kind == SL_ID_NODE && strcmp(id.node, node)) {
		snprintf(log, log_len, "node %s: refused %s: a node renews only its own identity",
			 node, uri);
		*ans = err_answer("a node renews only its own identity", ans_len);
		EVP_PKEY_free(pub);
		return n;
	}
	if (id.kind == SL_ID_WORKLOAD && !sl_mesh_sa_on_node(c->mesh, node, id.ns, id.sa)) {
		snprintf(log, log_len,
			 "node %s: refused %s: no workload of that service account is placed on "
			 "node %s", node, uri, node);
		*ans = err_answer("no workload with that identity runs on this node", ans_len);
		EVP_PKEY_free(pub);
		return n;
	}
	leaf = sl_ca_sign(c->ca, pub, &id, c->ttl_s, err, sizeof(err));
	EVP_PKEY_free(pub);
	if (!leaf) {
		snprintf(log, log_len, "node %s: signing %s failed: %s", node, uri, err);
		*ans = err_answer("signing failed", ans_len);
		return n;
	}
	*ans = cert_answer(c, leaf, ans_len);
	snprintf(log, log_len, "node %s: issued %s for %lds", node, uri, c->ttl_s);
	X509_free(leaf);
	return n;
}

/* ---- the node's side ------------------------------------------------------- */

static int dial(const char *addr, char *err, size_t errlen)
{
	struct sl_l4addr a;
	struct sockaddr_storage ss = { 0 };
	struct timeval tv = { .tv_sec = 5 };
	socklen_t sl;
	int fd;

	if (sl_parse_l4(addr, &a) || !a.port) {
		snprintf(err, errlen, "%s: not IP:PORT", addr);
		return -1;
	}
	sl = sl_sockaddr(&a, &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&ss, sl)) {
		snprintf(err, errlen, "connecting to %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int check_server(SSL *ssl, const char *td, char *err, size_t errlen)
{
	struct sl_spiffe_id id;

	if (sl_tls_peer_id(ssl, &id) || id.kind != SL_ID_NODE ||
	    strcmp(id.node, SL_CA_NODE_NAME) || strcmp(id.td, td)) {
		snprintf(err, errlen, "the CA server is not spiffe://%s/sluice/node/%s", td,
			 SL_CA_NODE_NAME);
		return -1;
	}
	return 0;
}

/* Read the whole answer (the CA closes after it). */
static char *read_all(SSL *ssl, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *nb;
	int r;

	while (buf && (r = SSL_read(ssl, buf + n, (int)(cap - n - 1))) > 0) {
		n += (size_t)r;
		if (cap - n < 2) {
			if (cap >= SL_CERT_MSG_MAX)
				break;
			nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	if (buf)
		buf[n] = 0;
	*len = n;
	return buf;
}

static int parse_answer(const char *ans, size_t len, EVP_PKEY *key, struct sl_ident *out,
			char *err, size_t errlen)
{
	const char *body;
	size_t blen;
	BIO *b;
	X509 *c, *leaf = NULL, **bundle = NULL, **nb;
	int n = 0;

	if (len > 4 && !memcmp(ans, "ERR ", 4)) {
		snprintf(err, errlen, "the CA refused: %.*s", (int)strcspn(ans + 4, "\n"), ans + 4);
		return -1;
	}
	if (sl_frame_parse(ans, len, "CERT", SL_CERT_MSG_MAX, &body, &blen) <= 0) {
		snprintf(err, errlen, "malformed answer from the CA");
		return -1;
	}
	b = BIO_new_mem_buf(body, (int)blen);
	while (b && (c = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		if (!leaf) {
			leaf = c;
			continue;
		}
		nb = realloc(bundle, (size_t)(n + 1) * sizeof(*bundle));
		if (!nb) {
			X509_free(c);
			break;
		}
		bundle = nb;
		bundle[n++] = c;
	}
	BIO_free(b);
	ERR_clear_error();
	if (!leaf || !n) {
		X509_free(leaf);
		sl_pki_free_certs(bundle, n);
		snprintf(err, errlen, "the CA's answer lacks a certificate or bundle");
		return -1;
	}
	if (sl_ident_set(out, leaf, key, bundle, n, err, errlen)) {
		out->key = NULL; /* the caller still owns KEY */
		sl_ident_free(out);
		return -1;
	}
	return 0;
}

int sl_ca_fetch(const char *addr, const struct sl_ident *node_id,
		const struct sl_spiffe_id *want, struct sl_ident *out, char *err, size_t errlen)
{
	SSL_CTX *ctx = sl_tls_ctx(node_id, false, NULL, err, errlen);
	EVP_PKEY *key = sl_pki_keygen();
	char *csr = NULL, *ans = NULL, hdr[32];
	size_t csr_len = 0, ans_len = 0;
	SSL *ssl = NULL;
	int fd = -1, rc = -1, h;

	if (!ctx || !key || !(csr = sl_csr_make(key, want, &csr_len)))
		goto out;
	fd = dial(addr, err, errlen);
	if (fd < 0)
		goto out;
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1) {
		snprintf(err, errlen, "TLS with the CA at %s failed (%s)", addr,
			 ssl ? sl_tls_fail_reason(ssl, 0) : "no memory");
		goto out;
	}
	if (check_server(ssl, node_id->id.td, err, errlen))
		goto out;
	h = snprintf(hdr, sizeof(hdr), "CSR %zu\n", csr_len);
	if (SSL_write(ssl, hdr, h) != h || SSL_write(ssl, csr, (int)csr_len) != (int)csr_len) {
		snprintf(err, errlen, "sending the CSR failed");
		goto out;
	}
	ans = read_all(ssl, &ans_len);
	if (ans && !parse_answer(ans, ans_len, key, out, err, errlen)) {
		key = NULL; /* owned by OUT */
		rc = 0;
	}
out:
	if (ssl)
		SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	EVP_PKEY_free(key);
	free(csr);
	free(ans);
	ERR_clear_error();
	return rc;
}
