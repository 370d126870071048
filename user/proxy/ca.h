/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The mesh CA's directory (docs/SECURITY.md "The CA directory"):
 *
 *   DIR/trust-domain       e.g. "cluster.local"
 *   DIR/state              "current N" and "trusted N M ..." lines
 *   DIR/root-N.pem         root N's certificate
 *   DIR/root-N.key         root N's key (0600); removed when N is retired
 *   DIR/bundle.pem         every trusted root: what workloads verify with
 *
 * Rotation has three steps, so that no workload ever meets a certificate
 * signed by a root it does not trust yet:
 *   `ca rotate`             adds root N+1 to the bundle; N still signs
 *   `ca rotate --activate`  (after every node renewed once: half a
 *                           certificate lifetime) N+1 signs
 *   `ca rotate --retire`    (after every certificate of N expired or was
 *                           renewed) drops every root but the signing one
 */
#ifndef SLUICE_PROXY_CA_H
#define SLUICE_PROXY_CA_H

#include <stdbool.h>

#include "proxy/pki.h"

#define SL_CA_MAX_ROOTS 8
#define SL_CA_ROOT_TTL_S (10L * 365 * 86400)
#define SL_CA_DEFAULT_TTL_S (24L * 3600)

struct sl_ca {
	char dir[2048];
	char td[SL_ID_PART];
	int current;
	int trusted[SL_CA_MAX_ROOTS];
	int n_trusted;
	X509 *cert; /* the current root */
	EVP_PKEY *key;
	X509 *bundle[SL_CA_MAX_ROOTS];
	int n_bundle;
};

int sl_ca_init(const char *dir, const char *td, char *err, size_t errlen);
int sl_ca_open(struct sl_ca *ca, const char *dir, char *err, size_t errlen);
void sl_ca_close(struct sl_ca *ca);
enum sl_ca_rotate { SL_CA_ADD_ROOT, SL_CA_ACTIVATE, SL_CA_RETIRE };
int sl_ca_rotate(const char *dir, enum sl_ca_rotate step, char *err, size_t errlen);

/* A certificate for ID and PUB, signed by the current root. */
X509 *sl_ca_sign(struct sl_ca *ca, EVP_PKEY *pub, const struct sl_spiffe_id *id,
		 long ttl_s, char *err, size_t errlen);
/* cert.pem, key.pem (0600) and root.pem (the bundle) in OUTDIR. */
int sl_ca_issue_files(struct sl_ca *ca, const struct sl_spiffe_id *id, long ttl_s,
		      long not_before_s, const char *outdir, char *err, size_t errlen);

#endif
