/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Internals of the policy compiler, shared by the files of user/policy/.
 *
 *   yaml.c    libyaml documents -> struct node trees with original positions
 *   schema.c  the field tables of every kind and the generic validator
 *   kinds.c   per-object checks that the tables cannot express
 *   policy.c  the object set: load, remove, serialize
 *   compile.c the object set -> struct sl_tables
 *   ingress.c Service node-ingress frontends (externalIPs, LB, NodePort)
 *   netcheck.c / netpol.c  Namespace and NetworkPolicy: checks, compile
 *   selector.c Kubernetes label selectors
 *   diag.c    struct sl_diags
 *   escape.c  input text made safe for terminals and the store
 *   helpers.c durations, addresses, labels, hashing, DNS names
 */
#ifndef SLUICE_POLICY_INTERNAL_H
#define SLUICE_POLICY_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* Resolved type of a YAML node (scalars after YAML 1.2 core resolution). */
enum ntype {
	T_NULL = 0,
	T_STR,
	T_INT,
	T_BOOL,
	T_FLOAT,
	T_SEQ,
	T_MAP,
};

struct node {
	uint8_t type; /* enum ntype */
	int line, col; /* 1-based, already mapped to the original file */
	size_t off, end; /* byte range in the parsed source (for slicing) */
	int sline; /* line in the parsed source */
	char *s; /* scalar text (NULL for sequences and mappings) */
	size_t n; /* items of a sequence, pairs of a mapping */
	struct node **keys; /* T_MAP: key scalars */
	struct node **vals; /* T_SEQ items, T_MAP values */
};

/* One Kubernetes/Istio object held by the policy. */
struct object {
	char *kind, *api, *ns, *name;
	char *file; /* original source name (survives serialize + load) */
	int line; /* original line of the first line of TEXT */
	char *text; /* the object's own YAML text, columns preserved */
	struct node *root;
	bool has_ns; /* metadata.namespace was given */
	int id; /* enum kind_id */
};

struct sl_policy {
	struct object **v;
	size_t n, cap;
};

/* One parsed document (or List item) before it becomes an object. */
struct doc {
	struct node *root;
	char *file;
	int line; /* original line of the first line of TEXT */
	char *text;
};

struct docs {
	struct doc *v;
	size_t n, cap;
};

/* yaml.c */
/* The store's per-object marker comment (written by policy.c, read by
 * yaml.c): "# sluice-source: NAME line L". */
#define SLP_SRC_MARKER "# sluice-source: "
int slp_yaml_parse_source(const char *name, const char *src, size_t len,
		      struct docs *out, struct sl_diags *d);
void slp_docs_free(struct docs *ds);
void slp_node_free(struct node *n);
const char *slp_ntype_name(int t);

/* Node access; all return NULL/false for absent or null values. */
struct node *slp_map_get(const struct node *m, const char *key);
struct node *slp_path_get(const struct node *root, const char *dotted);
const char *slp_node_str(const struct node *n);
bool slp_node_int(const struct node *n, long long *v);
bool slp_node_bool(const struct node *n, bool *v);
size_t slp_seq_len(const struct node *n);

/* diag.c */
void slp_diag_add(struct sl_diags *d, enum sl_severity sev, const char *file,
	      int line, int col, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
void slp_diag_addv(struct sl_diags *d, enum sl_severity sev, const char *file,
	       int line, int col, const char *path, const char *fmt, va_list ap);
/* At node N of object O (N may be NULL: the object's first line). */
void slp_diag_at(struct sl_diags *d, enum sl_severity sev, const struct object *o,
	     const struct node *n, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* schema.c */
enum kind_id {
	K_SERVICE,
	K_ENDPOINTSLICE,
	K_POD,
	K_SERVICEENTRY,
	K_WORKLOADENTRY,
	K_VIRTUALSERVICE,
	K_DESTINATIONRULE,
	K_PEERAUTHN,
	K_AUTHZ,
	K_REQAUTHN,
	K_NAMESPACE,
	K_NETPOL,
	K__COUNT,
};

/* What to do with (apiVersion, kind): a known kind id (>= 0), or one of: */
#define KIND_SKIP_NOTE -1 /* not a data-plane object: note, skip */
#define KIND_UNKNOWN -2 /* unknown entirely: note, skip */
#define KIND_BAD_VERSION -3 /* known kind, unsupported version: error */
int slp_kind_lookup(const char *api, const char *kind);
const char *slp_kind_name(int id);
int slp_kind_name_rule(int id); /* enum name_rule of metadata.name */
/* Validate an object against its kind's field table. */
void slp_schema_validate(const struct object *o, int id, struct sl_diags *d);

/* kinds.c: per-object semantic checks (load time). */
void slp_kind_check(const struct object *o, int id, struct sl_diags *d);
const char *slp_se_protocol_l4(const char *proto); /* "TCP", "UDP" or NULL */

/* netcheck.c: load-time checks of Namespace and NetworkPolicy objects. */
void slp_namespace_check(const struct object *o, struct sl_diags *d);
void slp_netpol_check(const struct object *o, struct sl_diags *d);

/* selector.c: Kubernetes label selectors (matchLabels + matchExpressions). */
typedef const char *(*slp_label_get)(const void *ctx, const char *key);
/* Label KEY of a labels mapping node CTX (slp_label_get for plain maps). */
const char *slp_node_label(const void *labels, const char *key);
/* Does the sequence SEQ hold the string S? */
bool slp_str_seq_has(const struct node *seq, const char *s);
bool slp_selector_match(const struct node *sel, slp_label_get get, const void *ctx);
bool slp_label_key_ok(const char *k);
bool slp_label_value_ok(const char *v);
#define NS_NAME_LABEL "kubernetes.io/metadata.name"

/* ingress.c: node-ingress frontends of Services (after the frontends). */
void slp_ingress_compile(const struct object *const *svcs, size_t n,
			 struct sl_tables *t, struct sl_diags *d);

/* netpol.c: NetworkPolicy -> np_* tables and policy rows. */
struct np_objs {
	const struct object *const *pods, *const *nss, *const *nps;
	size_t n_pods, n_nss, n_nps;
};
void slp_netpol_compile(const struct np_objs *in, struct sl_tables *t,
			struct sl_diags *d);

/* mesh.c: build the proxy's model (user/mesh.h) for its diagnostics only. */
void slp_mesh_check(const struct sl_policy *p, struct sl_diags *d);

/* helpers.c */
/* Clear the bits of A beyond PLEN; true when some were set. */
bool slp_mask_prefix(struct sl_l4addr *a, int plen);
int slp_parse_duration_ns(const char *s, uint64_t *ns);
/* IPv4/IPv6 address into a (zero-port) sl_l4addr; 0 or -1. */
int slp_parse_ip(const char *s, struct sl_l4addr *a);
/* Address or CIDR; 0 or -1. */
int slp_parse_cidr(const char *s, struct sl_l4addr *a, int *plen);
uint32_t slp_fnv1a32(const void *p, size_t n, uint32_t h);
#define FNV1A32_INIT 2166136261u
/* Every key of SEL is in LABELS with the same value (NULL SEL: true). */
bool slp_labels_match(const struct node *labels, const struct node *sel);
void slp_labels_fmt(const struct node *labels, char *buf, size_t len);
/* Kubernetes name syntax (k8s.io/apimachinery/pkg/util/validation). */
enum name_rule {
	NAME_SUBDOMAIN, /* IsDNS1123Subdomain: most objects */
	NAME_LABEL, /* IsDNS1123Label: namespaces, Istio subset names */
	NAME_LABEL_1035, /* IsDNS1035Label: Services */
};
bool slp_dns_subdomain_ok(const char *s, size_t n);
/* NULL when S obeys RULE, else the rule in words, for a message. */
const char *slp_name_check(const char *s, int rule);
char *slp_xstrdup(const char *s);
void *slp_xcalloc(size_t n, size_t sz);
void *slp_xrealloc(void *p, size_t n, size_t sz);
void slp_scopy(char *dst, size_t len, const char *src);

#define ROOT_NAMESPACE "istio-system"

#endif
