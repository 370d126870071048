/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SPIFFE identities of the mesh (docs/PROXY.md "Identities").
 *
 *   workload  spiffe://TD/ns/NS/sa/SA    what Istio principals name
 *   node      spiffe://TD/sluice/node/N  a node proxy talking to `ca serve`
 *
 * Principals in AuthorizationPolicy are the URI without "spiffe://":
 * "cluster.local/ns/nodejs-app/sa/api-client". Pure string code: no OpenSSL,
 * so the CSR fuzz target and the compiler can share it.
 */
#ifndef SLUICE_PROXY_SPIFFE_H
#define SLUICE_PROXY_SPIFFE_H

#include <stdbool.h>
#include <stddef.h>

#define SL_ID_PART 64 /* a DNS label or trust domain, with NUL */
#define SL_ID_LEN 256 /* a whole URI */

enum sl_id_kind { SL_ID_WORKLOAD = 1, SL_ID_NODE = 2 };

struct sl_spiffe_id {
	int kind; /* enum sl_id_kind */
	char td[SL_ID_PART];
	char ns[SL_ID_PART]; /* workload */
	char sa[SL_ID_PART]; /* workload */
	char node[SL_ID_PART]; /* node */
};

/* Parse a SPIFFE URI. 0, or -1 when it is not one of the two forms or a
 * part is not a DNS label (trust domain: DNS name). */
int sl_spiffe_parse(const char *uri, size_t len, struct sl_spiffe_id *id);
/* "spiffe://..." of ID into BUF. */
void sl_spiffe_fmt(const struct sl_spiffe_id *id, char *buf, size_t len);
/* The principal: the URI without the scheme. */
void sl_spiffe_principal(const struct sl_spiffe_id *id, char *buf, size_t len);
void sl_spiffe_workload(struct sl_spiffe_id *id, const char *td, const char *ns,
			const char *sa);
bool sl_dns_label_ok(const char *s, size_t n);
bool sl_dns_name_ok(const char *s, size_t n);

#endif
