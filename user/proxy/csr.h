/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Certificate requests between a node proxy and `sluice ca serve`, over a
 * mutually authenticated TLS 1.3 connection (docs/SECURITY.md "CSR protocol"):
 *
 *   node -> CA   "CSR <len>\n" <len bytes: one PEM CERTIFICATE REQUEST>
 *   CA -> node   "CERT <len>\n" <len bytes: leaf PEM, then the trust bundle>
 *            or  "ERR <reason>\n"
 *
 * The CSR must be signed by its own key (P-256) and name exactly one SPIFFE
 * URI in its subjectAltName: a workload's, or the asking node's own (a node
 * renews its identity the same way); everything else in it is ignored by
 * design (the CA builds the certificate from the checked identity alone).
 * These functions parse bytes from the network: tests/fuzz/fuzz_csr.c.
 */
#ifndef SLUICE_PROXY_CSR_H
#define SLUICE_PROXY_CSR_H

#include <stddef.h>
#include <openssl/evp.h>

#include "proxy/spiffe.h"

#define SL_CSR_MAX 8192 /* a P-256 CSR PEM is under 1 KiB */
#define SL_CERT_MSG_MAX 65536

/* A frame "WORD <len>\n<len bytes>". Returns the total frame length when
 * BUF holds all of it (then BODY and BODY_LEN point into BUF), 0 when more
 * bytes are needed, -1 when it can never be a valid frame (bad header,
 * wrong word, length over MAX). */
long sl_frame_parse(const char *buf, size_t len, const char *word, size_t max,
		    const char **body, size_t *body_len);

/* Check a PEM CSR from the network. 0 with *ID and *PUB (caller frees), or
 * -1 with WHY (for the log and the "ERR" answer). TD: the CA's trust domain. */
int sl_csr_check(const char *pem, size_t len, const char *td, struct sl_spiffe_id *id,
		 EVP_PKEY **pub, char *why, size_t why_len);

/* A PEM CSR for ID signed with KEY (malloc'd, NUL-terminated), or NULL. */
char *sl_csr_make(EVP_PKEY *key, const struct sl_spiffe_id *id, size_t *len);

#endif
