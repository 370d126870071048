// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxy/ca.h"

static void ca_path(char *buf, size_t len, const char *dir, const char *name, int n)
{
	if (n)
		snprintf(buf, len, "%s/root-%d.%s", dir, n, name);
	else
		snprintf(buf, len, "%s/%s", dir, name);
}

static int write_state(const struct sl_ca *ca, char *err, size_t errlen)
{
	char buf[256], path[2100];
	int off = snprintf(buf, sizeof(buf), "current %d\ntrusted", ca->current);

	for (int i = 0; i < ca->n_trusted; i++)
		off += snprintf(buf + off, sizeof(buf) - (size_t)off, " %d", ca->trusted[i]);
	off += snprintf(buf + off, sizeof(buf) - (size_t)off, "\n");
	ca_path(path, sizeof(path), ca->dir, "state", 0);
	return sl_pki_write_file(path, buf, (size_t)off, 0644, err, errlen);
}

static int read_state(struct sl_ca *ca, char *err, size_t errlen)
{
	char path[2100], word[16];
	FILE *f;
	int v;

	ca_path(path, sizeof(path), ca->dir, "state", 0);
	f = fopen(path, "re");
	if (!f || fscanf(f, "current %d trusted", &ca->current) != 1) {
		snprintf(err, errlen, "%s: not a Sluice CA state file", path);
		if (f)
			fclose(f);
		return -1;
	}
	while (ca->n_trusted < SL_CA_MAX_ROOTS && fscanf(f, "%d", &v) == 1)
		ca->trusted[ca->n_trusted++] = v;
	(void)word;
	fclose(f);
	return ca->n_trusted ? 0 : -1;
}

static int read_td(struct sl_ca *ca, char *err, size_t errlen)
{
	char path[2100];
	FILE *f;
	size_t n;

	ca_path(path, sizeof(path), ca->dir, "trust-domain", 0);
	f = fopen(path, "re");
	if (!f || !fgets(ca->td, sizeof(ca->td), f)) {
		snprintf(err, errlen, "%s: unreadable", path);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	n = strcspn(ca->td, "\n");
	ca->td[n] = 0;
	if (!sl_dns_name_ok(ca->td, n)) {
		snprintf(err, errlen, "%s: '%s' is not a DNS name", path, ca->td);
		return -1;
	}
	return 0;
}

/* A root's own identity: the trust domain with the node form's shape would
 * be wrong; roots carry spiffe://TD/sluice/node/root-N so that they can never
 * pass as a workload. */
static int make_root(struct sl_ca *ca, int n, char *err, size_t errlen)
{
	struct sl_spiffe_id id = { .kind = SL_ID_NODE };
	EVP_PKEY *key = sl_pki_keygen();
	struct sl_cert_spec s = { .id = &id, .pub = key, .issuer_key = key,
				  .not_before_s = -60, .ttl_s = SL_CA_ROOT_TTL_S, .ca = true };
	char path[2100];
	X509 *cert;
	int rc = -1;

	snprintf(id.td, sizeof(id.td), "%s", ca->td);
	snprintf(id.node, sizeof(id.node), "root-%d", n);
	cert = key ? sl_pki_make_cert(&s, err, errlen) : NULL;
	if (cert) {
		ca_path(path, sizeof(path), ca->dir, "key", n);
		rc = sl_pki_write_key(path, key, err, errlen);
		ca_path(path, sizeof(path), ca->dir, "pem", n);
		rc = rc ? rc : sl_pki_write_certs(path, &cert, 1, err, errlen);
	} else if (!key) {
		snprintf(err, errlen, "generating a P-256 key failed");
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

static int write_bundle(struct sl_ca *ca, char *err, size_t errlen)
{
	X509 *all[SL_CA_MAX_ROOTS], **one;
	char path[2100];
	int n = 0, rc = 0;

	for (int i = 0; i < ca->n_trusted && !rc; i++) {
		ca_path(path, sizeof(path), ca->dir, "pem", ca->trusted[i]);
		if (sl_pki_read_certs(path, &one, err, errlen) < 1) {
			rc = -1;
			break;
		}
		all[n++] = one[0];
		free(one);
	}
	ca_path(path, sizeof(path), ca->dir, "bundle.pem", 0);
	rc = rc ? rc : sl_pki_write_certs(path, all, n, err, errlen);
	for (int i = 0; i < n; i++)
		X509_free(all[i]);
	return rc;
}

int sl_ca_init(const char *dir, const char *td, char *err, size_t errlen)
{
	struct sl_ca ca = { .current = 1, .trusted = { 1 }, .n_trusted = 1 };
	char path[2100];
	struct stat st;

	if (!sl_dns_name_ok(td, strlen(td))) {
		snprintf(err, errlen, "trust domain '%s' is not a DNS name", td);
		return -1;
	}
	snprintf(ca.dir, sizeof(ca.dir), "%s", dir);
	snprintf(ca.td, sizeof(ca.td), "%s", td);
	ca_path(path, sizeof(path), dir, "state", 0);
	if (!stat(path, &st)) {
		snprintf(err, errlen, "%s: a CA already exists here (use `ca rotate`)", dir);
		return -1;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	ca_path(path, sizeof(path), dir, "trust-domain", 0);
	if (sl_pki_write_file(path, td, strlen(td), 0644, err, errlen) ||
	    make_root(&ca, 1, err, errlen) || write_bundle(&ca, err, errlen))
		return -1;
	return write_state(&ca, err, errlen);
}

int sl_ca_open(struct sl_ca *ca, const char *dir, char *err, size_t errlen)
{
	char path[2100];
	X509 **v;
	int n;

	memset(ca, 0, sizeof(*ca));
	snprintf(ca->dir, sizeof(ca->dir), "%s", dir);
	if (read_td(ca, err, errlen) || read_state(ca, err, errlen))
		return -1;
	ca_path(path, sizeof(path), dir, "key", ca->current);
	ca->key = sl_pki_read_key(path, err, errlen);
	ca_path(path, sizeof(path), dir, "pem", ca->current);
	if (!ca->key || sl_pki_read_certs(path, &v, err, errlen) < 1) {
		sl_ca_close(ca);
		return -1;
	}
	ca->cert = v[0];
	free(v);
	ca_path(path, sizeof(path), dir, "bundle.pem", 0);
	n = sl_pki_read_certs(path, &v, err, errlen);
	if (n < 1) {
		sl_ca_close(ca);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (ca->n_bundle < SL_CA_MAX_ROOTS)
			ca->bundle[ca->n_bundle++] = v[i];
		else
			X509_free(v[i]);
	}
	free(v);
	return 0;
}

void sl_ca_close(struct sl_ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	for (int i = 0; i < ca->n_bundle; i++)
		X509_free(ca->bundle[i]);
	memset(ca, 0, sizeof(*ca));
}

static int retire(struct sl_ca *ca, char *err, size_t errlen)
{
	char path[2100];

	for (int i = 0; i < ca->n_trusted; i++) {
		if (ca->trusted[i] == ca->current)
			continue;
		/* The retired key can sign nothing trusted any more: remove it. */
		ca_path(path, sizeof(path), ca->dir, "key", ca->trusted[i]);
		unlink(path);
	}
	ca->trusted[0] = ca->current;
	ca->n_trusted = 1;
	return write_bundle(ca, err, errlen) || write_state(ca, err, errlen);
}

static int newest(const struct sl_ca *ca)
{
	int n = ca->current;

	for (int i = 0; i < ca->n_trusted; i++)
		if (ca->trusted[i] > n)
			n = ca->trusted[i];
	return n;
}

int sl_ca_rotate(const char *dir, enum sl_ca_rotate step, char *err, size_t errlen)
{
	struct sl_ca ca;
	int next, rc;

	memset(&ca, 0, sizeof(ca));
	snprintf(ca.dir, sizeof(ca.dir), "%s", dir);
	if (read_td(&ca, err, errlen) || read_state(&ca, err, errlen))
		return -1;
	if (step == SL_CA_RETIRE)
		return retire(&ca, err, errlen);
	if (step == SL_CA_ACTIVATE) {
		if (newest(&ca) == ca.current) {
			snprintf(err, errlen, "no newer root to activate (run `ca rotate` first)");
			return -1;
		}
		ca.current = newest(&ca);
		return write_state(&ca, err, errlen);
	}
	if (ca.n_trusted == SL_CA_MAX_ROOTS) {
		snprintf(err, errlen, "%d roots trusted: retire the old ones first",
			 ca.n_trusted);
		return -1;
	}
	next = newest(&ca) + 1;
	rc = make_root(&ca, next, err, errlen);
	if (rc)
		return rc;
	ca.trusted[ca.n_trusted++] = next;
	/* Bundle first: a reader that sees the new state must find the root. */
	return write_bundle(&ca, err, errlen) || write_state(&ca, err, errlen);
}

X509 *sl_ca_sign(struct sl_ca *ca, EVP_PKEY *pub, const struct sl_spiffe_id *id,
		 long ttl_s, char *err, size_t errlen)
{
	struct sl_cert_spec s = { .id = id, .pub = pub, .issuer = ca->cert,
				  .issuer_key = ca->key, .not_before_s = -60, .ttl_s = ttl_s };

	if (strcmp(id->td, ca->td)) {
		snprintf(err, errlen, "trust domain %s is not this CA's (%s)", id->td, ca->td);
		return NULL;
	}
	return sl_pki_make_cert(&s, err, errlen);
}

int sl_ca_issue_files(struct sl_ca *ca, const struct sl_spiffe_id *id, long ttl_s,
		      long not_before_s, const char *outdir, char *err, size_t errlen)
{
	struct sl_cert_spec s = { .id = id, .issuer = ca->cert, .issuer_key = ca->key,
				  .not_before_s = not_before_s, .ttl_s = ttl_s };
	EVP_PKEY *key = sl_pki_keygen();
	char path[4096];
	X509 *cert = NULL;
	int rc = -1;

	if (mkdir(outdir, 0755) && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", outdir, strerror(errno));
		goto out;
	}
	s.pub = key;
	cert = key ? sl_pki_make_cert(&s, err, errlen) : NULL;
	if (!cert)
		goto out;
	snprintf(path, sizeof(path), "%s/key.pem", outdir);
	if (sl_pki_write_key(path, key, err, errlen))
		goto out;
	snprintf(path, sizeof(path), "%s/cert.pem", outdir);
	if (sl_pki_write_certs(path, &cert, 1, err, errlen))
		goto out;
	snprintf(path, sizeof(path), "%s/root.pem", outdir);
	rc = sl_pki_write_certs(path, ca->bundle, ca->n_bundle, err, errlen);
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}
