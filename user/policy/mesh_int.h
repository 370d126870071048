/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Internals of the mesh model shared by mesh.c (workloads, PeerAuthentication)
 * and authz.c (AuthorizationPolicy). */
#ifndef SLUICE_POLICY_MESH_INT_H
#define SLUICE_POLICY_MESH_INT_H

#include "mesh.h"
#include "policy/internal.h"

struct cidr {
	struct sl_l4addr a;
	int plen;
};

/* One field of a source/operation: values, and whether it is a "not" list. */
struct strs {
	const char **v;
	size_t n;
};

struct cidrs {
	struct cidr *v;
	size_t n;
};

struct ports {
	uint16_t (*v)[2]; /* inclusive ranges */
	size_t n;
};

struct az_source {
	struct strs principals, not_principals, namespaces, not_namespaces;
	struct cidrs ip, not_ip, remote, not_remote;
};

struct az_op {
	struct ports ports, not_ports;
};

/* `when` conditions on L4 attributes. */
struct az_when {
	int key; /* enum when_key in authz.c */
	struct strs values, not_values;
	struct cidrs cidr, not_cidr; /* for the *.ip keys */
};

struct az_rule {
	struct az_source *from;
	size_t n_from;
	struct az_op *to;
	size_t n_to;
	struct az_when *when;
	size_t n_when;
	bool needs_http; /* has a condition only HTTP can evaluate */
};

struct az_policy {
	const struct object *o;
	int action; /* 0 ALLOW, 1 DENY, 2 AUDIT */
	const struct node *selector; /* matchLabels, or NULL */
	const char *const *target_svcs; /* targetRefs Service names (NULL: none) */
	size_t n_targets;
	struct az_rule *rules;
	size_t n_rules;
};

struct sl_mesh {
	char td[SL_MESH_NAME];
	struct sl_mesh_wl *wls;
	size_t n_wls;
	const struct object **pas; /* PeerAuthentication */
	size_t n_pas;
	const struct object **svcs; /* Services, for targetRefs */
	size_t n_svcs;
	struct az_policy *azs;
	size_t n_azs;
	void **allocs; /* everything the rules point to */
	size_t n_allocs, cap_allocs;
};

void *slp_mesh_alloc(struct sl_mesh *m, size_t n, size_t sz);
/* Does a policy object (selector in its namespace, or namespace-wide, or
 * mesh-wide from the root namespace) apply to W? */
bool slp_mesh_pol_applies(const struct object *pol, const struct node *selector,
			  const struct sl_mesh_wl *w);
void slp_authz_build(struct sl_mesh *m, const struct object *o, struct sl_diags *d);
void slp_authz_free(struct sl_mesh *m);

#endif
