/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The mesh's security model, built from the compiler's object set: which
 * workloads exist (address, namespace, service account, node), which mTLS
 * mode PeerAuthentication gives each of their ports, and what L4
 * AuthorizationPolicy decides for a connection. The node proxy builds its
 * tables from this, and `sluice ca serve` decides from it which node may
 * hold which identity, so "handed to the proxy" and "what the proxy does"
 * come from one compiled model (docs/PROXY.md). Pure: no kernel, no TLS.
 */
#ifndef SLUICE_MESH_H
#define SLUICE_MESH_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"

#define SL_MESH_NAME 64

struct sl_mesh_wl {
	char kind[16]; /* "Pod" or "WorkloadEntry" */
	char ns[SL_MESH_NAME];
	char name[SL_MESH_NAME];
	char sa[SL_MESH_NAME]; /* serviceAccountName, "default" when absent */
	char node[SL_MESH_NAME]; /* spec.nodeName / label sluice.io/node; "" unknown */
	struct sl_l4addr ip[2]; /* port 0 */
	int n_ip;
	const void *labels; /* internal: the object's labels */
};

enum sl_mtls_mode { SL_MTLS_PERMISSIVE = 0, SL_MTLS_STRICT = 1, SL_MTLS_DISABLE = 2 };

struct sl_mesh;

/* Build the model from P. Errors (CUSTOM, unsupported keys) and warnings
 * (rules needing HTTP, which fail closed at L4) go to D; returns NULL only
 * when an error was found. */
struct sl_mesh *sl_mesh_build(const struct sl_policy *p, const char *trust_domain,
			      struct sl_diags *d);
void sl_mesh_free(struct sl_mesh *m);

size_t sl_mesh_n_workloads(const struct sl_mesh *m);
const struct sl_mesh_wl *sl_mesh_workload(const struct sl_mesh *m, size_t i);
/* The workload that owns ADDR (port ignored), or NULL. */
const struct sl_mesh_wl *sl_mesh_wl_by_ip(const struct sl_mesh *m, const struct sl_l4addr *a);
/* Is some workload of NS/SA placed on NODE? (`ca serve`'s check.) */
bool sl_mesh_sa_on_node(const struct sl_mesh *m, const char *node, const char *ns,
			const char *sa);

/* PeerAuthentication for workload W's port PORT (the workload's own port):
 * workload selector > namespace > mesh (root namespace), portLevelMtls
 * before the policy's mtls.mode. */
enum sl_mtls_mode sl_mesh_mtls(const struct sl_mesh *m, const struct sl_mesh_wl *w,
			       uint16_t port, char *why, size_t why_len);

/* The ports that some applying PeerAuthentication's portLevelMtls names
 * for W (at most MAX, sorted, unique); the count. */
size_t sl_mesh_mtls_ports(const struct sl_mesh *m, const struct sl_mesh_wl *w, uint16_t *ports,
			  size_t max);

/* One connection as L4 authorization sees it. */
struct sl_authz_req {
	const struct sl_mesh_wl *dst;
	uint16_t dport; /* the workload's port, host order */
	struct sl_l4addr src; /* peer address; port 0 */
	const char *principal; /* "TD/ns/NS/sa/SA", NULL without mTLS */
	const char *src_ns; /* from the principal; NULL without mTLS */
};

enum sl_authz_verdict { SL_AUTHZ_ALLOW = 0, SL_AUTHZ_DENY = 1 };

/* Istio's order: CUSTOM (rejected at build), DENY, then ALLOW (none: allow;
 * some but none matched: deny). AUDIT matches are reported in AUDITED.
 * WHY names the deciding policy ("DENY nodejs-app/block" or "no ALLOW
 * matched" or "allowed: no ALLOW policy"). */
enum sl_authz_verdict sl_mesh_authorize(const struct sl_mesh *m, const struct sl_authz_req *r,
					char *why, size_t why_len, bool *audited);

/* Istio string match: exact, "*", "prefix*", "*suffix". */
bool sl_mesh_str_match(const char *pattern, const char *value);

#endif
