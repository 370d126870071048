/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Both ends of the CSR protocol (csr.h): the CA's answer to one request
 * from an authenticated node, and a node's blocking request for one
 * workload identity.
 */
#ifndef SLUICE_PROXY_CASERVE_H
#define SLUICE_PROXY_CASERVE_H

#include "mesh.h"
#include "proxy/ca.h"
#include "proxy/tls.h"

#define SL_CA_NODE_NAME "sluice-ca" /* the CA server's own identity: node form */

struct sl_ca_ctx {
	struct sl_ca *ca;
	const struct sl_mesh *mesh; /* placement: which node runs which SA */
	long ttl_s;
};

/* Answer one request frame (REQ, LEN bytes) from node NODE. Returns the
 * number of bytes of REQ consumed (> 0) with *ANS set (malloc'd), 0 when REQ
 * is incomplete, -1 when REQ can never be a request (then *ANS holds an
 * "ERR" line to send before closing). LOG gets one line for the CA's log:
 * what was issued or why it was refused. */
long sl_ca_answer(const struct sl_ca_ctx *c, const char *node, const char *req, size_t len,
		  char **ans, size_t *ans_len, char *log, size_t log_len);

/* A node's request: connect to ADDR (IP:PORT), authenticate with NODE_ID,
 * require the server to be spiffe://TD/sluice/node/sluice-ca, ask for WANT
 * (a workload placed on this node, or this node's own identity, renewed).
 * On success *OUT holds a fresh key, the certificate and the CA's bundle. */
int sl_ca_fetch(const char *addr, const struct sl_ident *node_id,
		const struct sl_spiffe_id *want, struct sl_ident *out, char *err, size_t errlen);

#endif
