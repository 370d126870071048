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

#include "arena.h"
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

/* 56 bytes: a big policy is a million of these, walked by every compile
 * and summary, so the narrow fields are the cache lines saved. */
struct node {
	uint8_t type; /* enum ntype */
	uint32_t n; /* items of a sequence, pairs of a mapping */
	int line, col; /* 1-based, already mapped to the original file */
	int sline; /* line in the parsed source */
	uint32_t off, end; /* byte range in the parsed source (for slicing;
			    * a source is at most 256 MiB, yaml.c) */
	char *s; /* scalar text (NULL for sequences and mappings) */
	struct node **keys; /* T_MAP: key scalars */
	struct node **vals; /* T_SEQ items, T_MAP values */
};

/* One Kubernetes/Istio object held by the policy. */
struct object {
	/* Strings and tree live in ARENA (the identity strings are the
	 * tree's own scalars): an object is freed by dropping its reference. */
	const char *kind, *api, *ns, *name;
	const char *file; /* original source name (survives serialize + load) */
	int line; /* original line of the first line of TEXT */
	const char *text; /* the object's own YAML text, columns preserved */
	struct node *root;
	struct slp_arena *arena; /* a reference */
	bool has_ns; /* metadata.namespace was given */
	int id; /* enum kind_id */
	bool build; /* incr.c: a unit whose frontends a partial compile builds */
};

struct sl_policy {
	struct object **v;
	size_t n, cap;
};

/* One parsed document (or List item) before it becomes an object. */
struct doc {
	struct node *root;
	struct slp_arena *arena; /* holds ROOT's tree, FILE and TEXT (a reference) */
	const char *file;
	int line; /* original line of the first line of TEXT */
	const char *text;
};

struct docs {
	struct doc *v;
	size_t n, cap;
};

/* policy.c: one object's record as sl_policy_serialize() writes it
 * (malloc'd), and one record parsed back (NULL when it does not hold
 * exactly one object; diagnostics to D). */
char *slp_object_record(const struct object *o, size_t *len);
struct object *slp_record_parse(const char *rec, size_t len, struct sl_diags *d);
void slp_object_free(struct object *o);
int slp_obj_cmp(const struct object *a, const struct object *b); /* identity order */

/* yaml.c */
/* The store's per-object marker comment (written by policy.c, read by
 * yaml.c): "# sluice-source: NAME line L". */
#define SLP_SRC_MARKER "# sluice-source: "
int slp_yaml_parse_source(const char *name, const char *src, size_t len,
		      struct docs *out, struct sl_diags *d);
void slp_docs_free(struct docs *ds);

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
void slp_diags_move(struct sl_diags *d, struct sl_diags *from);
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

/* ingress.c: node-ingress frontends of Services (after the frontends).
 * CHECKS: also the checks across Services (duplicates, capacity), which
 * need every Service. */
void slp_ingress_compile(const struct object *const *svcs, size_t n,
			 struct sl_tables *t, bool checks, struct sl_diags *d);

/* compile.c: the compiler's entry point. PART NULL compiles the whole
 * policy. Else P holds the objects some units (Services and
 * ServiceEntries) need (incr.c): frontends are built only for the objects
 * PART->build accepts, VIPs of services without an address come from
 * PART->vip (the allocation over the whole policy), NetworkPolicy tables
 * only when PART->netpol (then P holds every Namespace and NetworkPolicy,
 * and PART->pods every Pod), and the checks that need the whole policy (capacity,
 * duplicate frontends, node-ingress duplicates) and the policy rows are
 * left out: the caller checks those from counts. */
struct slp_part {
	bool (*build)(const void *ctx, const struct object *o);
	bool (*vip)(const void *ctx, const struct object *o, struct sl_l4addr *out);
	const void *ctx;
	bool netpol;
	/* With NETPOL: every Pod (P holds only those some unit needs). */
	const struct np_pod *pods;
	size_t n_pods;
	const struct object *(*pod_obj)(void *ctx, size_t i);
};
int slp_compile(const struct sl_policy *p, const struct sl_compile_opts *o,
		const struct slp_part *part, struct sl_tables *out, struct sl_diags *d);

/* A host named in namespace NS as the compiler looks it up (compile.c). */
void slp_resolve_host(const char *h, const char *ns, const struct sl_compile_opts *o, char *out,
		      size_t len);

/* keys.c: dependency keys of an object (what it PROVIDES others, what it
 * NEEDS from them), sorted, each once. */
struct slp_keys {
	uint64_t *provides, *needs;
	size_t n_provides, n_needs;
};
void slp_object_keys(const struct object *o, const struct sl_compile_opts *opts,
		     struct slp_keys *k);
void slp_keys_free(struct slp_keys *k);
/* Provided by Namespaces and NetworkPolicies, which the NetworkPolicy
 * tables compile from; Pods provide netpol-pod instead, as they come to
 * that compile in their summaries. */
uint64_t slp_key_netpol(void);
uint64_t slp_key_netpol_pod(void);
/* podsel:NS/K=V, provided by the Pods of NS with label K=V. */
uint64_t slp_key_pod_label(const char *ns, const char *k, const char *v);
/* pol:NS, provided by the policies of NS; every Service and ServiceEntry
 * needs those of its namespace and of the root namespace. */
uint64_t slp_key_pol(const char *ns);

/* What the compiler makes of a Service or ServiceEntry before it looks at
 * any other object (compile.c): false when O has no frontends (another
 * kind, a headless Service). VIPS is malloc'd. */
struct slp_unit {
	struct sl_l4addr *vips; /* explicit addresses */
	size_t n_vips, n_ports;
	bool se, need_alloc;
};
bool slp_unit_facts(const struct object *o, const struct sl_compile_opts *opts,
		    struct slp_unit *u);

/* VIP allocation (compile.c), over services sorted as the compiler sorts
 * them (namespace, name, Service before ServiceEntry): every explicit IPv4
 * address is taken first, then each service that NEEDs one gets OUT. */
enum { SLP_VIP_NO_ROOM = 1, SLP_VIP_NONE_LEFT = 2 };
struct slp_vipreq {
	const char *ns, *name;
	const struct sl_l4addr *vips; /* its explicit addresses */
	size_t n_vips;
	bool need; /* no address and at least one port */
	struct sl_l4addr out; /* the allocated VIP (family 0: none) */
	int err; /* SLP_VIP_*: none could be given */
};
void slp_alloc_vips(struct slp_vipreq *v, size_t n, const struct sl_compile_opts *o);

/* netpod.c: what NetworkPolicy reads of a Pod, as the bytes of its
 * summary (sl_osum.np). */
#define SLP_NPV_MAX_IPS 4
struct np_view {
	const unsigned char *ips; /* n_ips addresses, each once (slp_np_ip) */
	const char *labels, *labels_end; /* pairs: key NUL value NUL */
	uint8_t n_ips;
	bool host; /* spec.hostNetwork */
	bool finished; /* Succeeded or Failed */
};
/* Pod POD's bytes (malloc'd, *LEN of them). */
unsigned char *slp_np_encode(const struct object *pod, size_t *len);
/* The view of bytes P (pointing into them); -1: they do not decode. */
int slp_np_decode(const unsigned char *p, size_t len, struct np_view *v);
/* The same for a reader of the addresses and flags only: the labels are
 * not counted (every scan of them still stops inside, at the last NUL),
 * which was most of the cost of looking at every Pod's addresses. */
int slp_np_decode_addrs(const unsigned char *p, size_t len, struct np_view *v);
/* Address I of V (zero port); -1: not an address. */
int slp_np_ip(const struct np_view *v, size_t i, struct sl_l4addr *a);
/* Label KEY of a struct np_view (an slp_label_get). */
const char *slp_np_label(const void *view, const char *key);

/* netpol.c: NetworkPolicy -> np_* tables and policy rows. A Pod comes as
 * its bytes; its object only when a message names it. */
struct np_pod {
	const char *ns, *name;
	const unsigned char *np; /* slp_np_encode's bytes */
	size_t n_np;
	const struct object *o; /* NULL: np_objs.pod_obj gives it */
};
struct np_objs {
	const struct np_pod *pods; /* sorted by (namespace, name) */
	size_t n_pods;
	const struct object *const *nss, *const *nps;
	size_t n_nss, n_nps;
	/* Pod I's object for a message (NULL: it cannot be had). */
	const struct object *(*pod_obj)(void *ctx, size_t i);
	void *ctx;
};
void slp_netpol_compile(const struct np_objs *in, struct sl_tables *t,
			struct sl_diags *d);
/* The Pods NetworkPolicy NP can read, as queries FN(CTX, NS, K, V,
 * SELECTS): the Pods of namespace NS with label K=V (K NULL: all of NS);
 * SELECTS: the policy may select them (else they may be its peers). Given
 * a superset of the Pods the queries name (and of every Pod that shares an
 * address with one a policy selects), in order, the compile gives what it
 * gives with every Pod. False: some peer reaches Pods by namespace
 * selector, and only every Pod will do. */
typedef void (*slp_np_query)(void *ctx, const char *ns, const char *k, const char *v,
			     bool selects);
bool slp_netpol_pod_queries(const struct object *np, slp_np_query fn, void *ctx);
/* Does every pod selector of NP (the policy's, its peers') answer a Pod
 * with labels A as it answers one with labels B? Namespace selectors and
 * ipBlocks do not read a Pod's labels. */
bool slp_netpol_same_for(const struct object *np, const struct np_view *a, const struct np_view *b);
/* npids.c: the ids of T's N_SETS sets and its port sets (netpol.c's,
 * 1..n in the order it met them) made functions of what makes them: a
 * set's ORIGIN[id - 1] (the policies whose set it is), a port set's
 * ranges. */
struct slp_np_origin {
	const char *p;
	size_t n;
};
void slp_np_ids(struct sl_tables *t, const struct slp_np_origin *origin, size_t n_sets);

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
/* Fault in the whole pages of [P, P+LEN) in one call (MADV_POPULATE_WRITE),
 * instead of one page fault per page as they are first written. */
void slp_prefault(void *p, size_t len);
void slp_scopy(char *dst, size_t len, const char *src);
/* I in decimal, at the end of BUF (NUL-terminated); returns where it
 * starts. Paths of sequence items are built with it for every item of
 * every object checked, where snprintf() cost too much. */
#define SLP_UDEC_LEN 24
const char *slp_udec(char buf[SLP_UDEC_LEN], size_t i);

#define ROOT_NAMESPACE "istio-system"

#endif
