/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The policy compiler: Kubernetes and Istio YAML in, BPF tables out.
 *
 *   sl_policy_load()   parse one source (multi-document YAML), upsert its
 *                      objects into the policy (kubectl-apply semantics: an
 *                      object is identified by kind, namespace and name)
 *   sl_policy_remove() parse one source and drop the objects it names
 *   sl_policy_compile() validate the whole object set and build the tables
 *   sl_policy_serialize() the object set as multi-document YAML, so that the
 *                      applied policy can be stored and loaded again later
 *
 * Nothing here touches the kernel: the loader (user/publish.c) writes the
 * tables into the pinned maps. Every function reports problems through
 * struct sl_diags with file, line, column and field path.
 */
#ifndef SLUICE_POLICY_H
#define SLUICE_POLICY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/types.h>

#include "sluice_abi.h"

enum sl_severity {
	SL_SEV_NOTE = 0, /* e.g. "Deployment skipped: not a data-plane object" */
	SL_SEV_WARNING = 1, /* legal but suspicious, or a legacy alias */
	SL_SEV_ERROR = 2, /* the apply is rejected */
};

struct sl_diag {
	enum sl_severity sev;
	char *file; /* source name as given to sl_policy_load() */
	int line; /* 1-based; 0 when not tied to a position */
	int col; /* 1-based */
	char *path; /* field path, e.g. "spec.http[1].route[0].weight" */
	char *msg;
};

struct sl_diags {
	struct sl_diag *v;
	size_t n, cap;
	size_t n_errors;
};

void sl_diags_free(struct sl_diags *d);
/* "FILE:LINE:COL: error: PATH: MSG" (or warning/note), one per line. */
void sl_diags_print(const struct sl_diags *d, FILE *out);
/* Add one message from outside the compiler (the publisher's capacity
 * checks). LINE 0: not tied to a position ("FILE: error: PATH: MSG"). */
void sl_diags_add(struct sl_diags *d, enum sl_severity sev, const char *file, int line,
		  const char *path, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

struct sl_compile_opts {
	/* CIDR that VIPs are allocated from for Services without clusterIP,
	 * and for ServiceEntries without addresses (IPv4). */
	__be32 svc_cidr4; /* network byte order */
	uint8_t svc_cidr4_len; /* prefix length */
	/* Kubernetes cluster domain, for host names: "cluster.local". */
	const char *cluster_domain;
	/* Capacity checks: defaults are the SL_MAX_* limits of the ABI; tests
	 * lower them to exercise the "more than the maps hold" errors. */
	uint32_t max_services;
	uint32_t max_backends;
};

void sl_compile_opts_default(struct sl_compile_opts *o);

/* One compiled frontend (service port). */
struct sl_table_svc {
	struct sl_l4addr fe;
	struct sl_svc_val val; /* val.id is the index in sl_tables.svcs */
	struct sl_svc_meta meta; /* name, namespace */
	char host[256]; /* FQDN: name.ns.svc.cluster.local, or ServiceEntry host */
	char port_name[SL_NAME_LEN];
	char kind[32]; /* "Service" or "ServiceEntry" */
	char subset[SL_MAX_GROUPS][SL_NAME_LEN]; /* subset name per group, "" = all */
	char handoff_why[512]; /* human text, e.g. "header match (VirtualService nodejs-app/nodejs-api http[0])" */
};

/* One backend row; rows of a group are contiguous, see sl_group.first. */
struct sl_table_backend {
	struct sl_backend be;
	struct sl_ep_meta meta;
	uint32_t svc; /* index into sl_tables.svcs */
	uint32_t group; /* index into that service's groups */
	char labels[256]; /* "k=v,k=v", sorted by key */
	bool ready;
};

/* One security/authentication policy, for `sluice get policies`. */
struct sl_table_policy {
	char kind[32]; /* PeerAuthentication, AuthorizationPolicy, RequestAuthentication */
	char ns[SL_NAME_LEN];
	char name[SL_NAME_LEN];
	char summary[256]; /* e.g. "mtls STRICT", "ALLOW, 3 rules", "issuer https://..." */
	uint32_t *svcs; /* indices of the services it selects */
	size_t n_svcs;
};

/* One node-ingress frontend: a Service's spec.externalIPs,
 * status.loadBalancer.ingress[].ip, or ports[].nodePort (type NodePort or
 * LoadBalancer). It balances over the endpoints of its cluster frontend. */
struct sl_table_ingress {
	struct sl_l4addr fe; /* NodePort: address all zero, family of the service */
	uint32_t svc; /* index into sl_tables.svcs: the cluster frontend */
	uint32_t kind; /* enum sl_ingress_kind */
};

/* NetworkPolicy, compiled. Set and port-set ids are 1-based and carry no
 * slot bit (publish adds SL_NP_SLOT_BIT for slot 1); key.slot is 0. */
struct sl_table_np_pod {
	struct sl_np_pod_key key;
	struct sl_np_pod_val val;
	char ns[SL_NAME_LEN];
	char name[SL_NAME_LEN]; /* the Pod */
};

struct sl_table_np_prefix {
	struct sl_np_lpm_key key;
	struct sl_np_lpm_val val;
};

struct sl_table_np_portset {
	uint32_t id;
	struct sl_np_ports ports;
};

struct sl_tables {
	struct sl_table_svc *svcs;
	size_t n_svcs;
	struct sl_table_backend *backends;
	size_t n_backends;
	struct sl_table_policy *policies; /* NetworkPolicy included, n_svcs 0 */
	size_t n_policies;
	struct sl_table_ingress *ingress;
	size_t n_ingress;
	struct sl_table_np_pod *np_pods;
	size_t n_np_pods;
	struct sl_table_np_prefix *np_prefixes;
	size_t n_np_prefixes;
	struct sl_table_np_portset *np_portsets;
	size_t n_np_portsets;
};

void sl_tables_free(struct sl_tables *t);
/* TO's NetworkPolicy tables (np_*) become a copy of FROM's (TO's own
 * freed first); its other tables are left as they are. */
void sl_tables_np_copy(struct sl_tables *to, const struct sl_tables *from);
/* The same without a copy: FROM's np_* arrays become TO's (FROM's emptied). */
void sl_tables_np_move(struct sl_tables *to, struct sl_tables *from);

struct sl_policy;

struct sl_policy *sl_policy_new(void);
void sl_policy_free(struct sl_policy *p);

/* Parse SRC (NAME is used in messages) and upsert every object it holds.
 * Returns 0, or -1 when the source has errors (then P is unchanged). Kinds
 * that are not data-plane objects are skipped with a note. */
int sl_policy_load(struct sl_policy *p, const char *name, const char *src,
		   size_t len, struct sl_diags *d);

/* Parse SRC and remove the objects it names (kind, namespace, name). An
 * object that is not present is a warning. Returns 0 or -1 (P unchanged). */
int sl_policy_remove(struct sl_policy *p, const char *name, const char *src,
		     size_t len, struct sl_diags *d);

/* Number of objects held (for reports). */
size_t sl_policy_count(const struct sl_policy *p);

/* Parse SRC and add the identities of the objects it holds (kind,
 * namespace, name; no validation of the rest) to P, for
 * sl_policy_subtract(). Returns 0 or -1 (P unchanged). */
int sl_policy_load_names(struct sl_policy *p, const char *name, const char *src, size_t len,
			 struct sl_diags *d);
/* Move every object of SRC into DST, replacing those of the same identity.
 * SRC is left empty. */
void sl_policy_merge(struct sl_policy *dst, struct sl_policy *src);
/* Remove from DST the objects NAMES names; an absent one is a warning. */
void sl_policy_subtract(struct sl_policy *dst, const struct sl_policy *names,
			struct sl_diags *d);

/* Object I of P (in serialization order), for messages about the set. */
struct sl_object_info {
	const char *kind, *ns, *name;
	const char *file; /* where it was applied from */
	int line;
	size_t bytes; /* of its YAML text */
};
bool sl_policy_object(const struct sl_policy *p, size_t i, struct sl_object_info *out);

/* Validate the whole object set and compile it. Returns 0, or -1 with at
 * least one error in D (then OUT is empty). Warnings may accompany 0. */
int sl_policy_compile(const struct sl_policy *p, const struct sl_compile_opts *o,
		      struct sl_tables *out, struct sl_diags *d);

/* The object set as multi-document YAML (each object's original text),
 * malloc'd, in a stable order. Loading it again gives the same policy. */
char *sl_policy_serialize(const struct sl_policy *p, size_t *len);

/* FNV-1a 32 of a subset name: struct sl_group.tag. 0 is reserved for "no
 * subset", so a name that hashes to 0 maps to 1. */
uint32_t sl_subset_tag(const char *subset);

/* Same compiled tables (every array, every field; policies by content). */
bool sl_tables_equal(const struct sl_tables *a, const struct sl_tables *b);

/* ---- text from input (user/policy/escape.c) ----------------------------
 * Every string that came from input (file names, object names, values, and
 * messages quoting them) is printed through these: control characters,
 * invalid UTF-8, line separators and bidi controls come out as \n, \xHH,
 * \uHHHH; a backslash as \\. sl_unesc_dup() reverses sl_esc_dup() exactly.
 */
void sl_fputs_esc(FILE *f, const char *s);
/* S escaped into BUF (LEN bytes, cut at a whole character); returns BUF. */
const char *sl_esc_buf(char *buf, size_t len, const char *s);
char *sl_esc_dup(const char *s); /* malloc'd */
char *sl_unesc_dup(const char *s, size_t n); /* malloc'd */
/* One UTF-8 character at S (N bytes): its length, or 0 if S does not start
 * with valid UTF-8 (RFC 3629: no overlongs, no surrogates). */
size_t sl_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* A code point that must not reach a terminal as is (see escape.c). */
bool sl_cp_unsafe(uint32_t cp);

/* The source name under which callers load the node's stored policy. An
 * object whose name breaks the naming rules (docs/POLICY.md) is an error
 * in any other source but only a warning here: an earlier version may have
 * stored it, and the node must stay manageable. */
#define SL_STORE_SOURCE "<applied>"

/* ---- the incremental compile (user/policy/model.c, incr.c) ---------------
 *
 * A change of a few objects recompiles only the Services and
 * ServiceEntries ("units") it can affect, from a model of the applied
 * policy that holds, per object, a summary instead of its parsed text
 * (docs/APPLY.md, "Incremental compile"). The store keeps the summaries
 * beside the texts (user/store.c), so an apply reads the summaries of the
 * whole policy and parses only the few objects the change touches.
 */

/* One object of the applied policy, apart from its text. */
struct sl_osum {
	uint8_t kind; /* the compiler's kind id (part of the store format) */
	uint8_t flags; /* SL_OSUM_* */
	const char *ns, *name; /* identity: (kind, ns, name) */
	uint64_t hash; /* FNV-1a 64 of its record (sl_model_record) */
	uint64_t text_hash; /* of its text alone: a record that differs only by
			     * where the object was written is not a change */
	uint32_t rec_len; /* bytes of its record */
	/* Dependency keys (user/policy/keys.c), sorted. NEEDS leaves out what
	 * every unit needs (the policies of its namespace and of the root
	 * namespace) and, with SL_OSUM_SELFNEED, the keys it also provides. */
	const uint64_t *provides, *needs;
	uint32_t n_provides, n_needs;
	/* SL_OSUM_UNIT: a Service or ServiceEntry with frontends. */
	const struct sl_l4addr *vips; /* its explicit addresses */
	uint32_t n_vips, n_ports;
	struct sl_l4addr alloc; /* the VIP allocated to it (family 0: none) */
	const struct sl_l4addr *fes; /* its frontends, as compiled */
	uint32_t n_fes;
	/* Its node-ingress frontends as compiled; a NodePort's family is 0,
	 * as the duplicate check compares them. */
	const struct sl_l4addr *ing;
	uint32_t n_ing;
	/* A Pod: what NetworkPolicy reads of it (user/policy/netpod.c), so
	 * that its tables compile without parsing every stored Pod. */
	const unsigned char *np;
	uint32_t n_np;
};

enum sl_osum_flags {
	SL_OSUM_UNIT = 1u << 0,
	SL_OSUM_SE = 1u << 1, /* a ServiceEntry (sorted after a Service of its name) */
	SL_OSUM_NEED_ALLOC = 1u << 2, /* no explicit address */
	SL_OSUM_SELFNEED = 1u << 3, /* it needs every key it provides */
};

struct sl_model;

/* A model for this node's compile options (copied; cluster_domain too). */
struct sl_model *sl_model_new(const struct sl_compile_opts *o);
void sl_model_free(struct sl_model *m);
/* Add a stored object's summary; its memory must live as long as the
 * model (sl_model_adopt). TAG is the caller's (0: none; sl_model_tag).
 * UNIQUE: the caller knows the identity is not there yet (the store
 * checks the order of what it reads), so the lookup is saved. -EEXIST:
 * the identity is there already; -EINVAL: a summary the model cannot use. */
int sl_model_add(struct sl_model *m, const struct sl_osum *s, uint32_t tag, bool unique);
uint32_t sl_model_tag(const struct sl_model *m, size_t i);
void sl_model_set_tag(struct sl_model *m, size_t i, uint32_t tag);
void sl_model_adopt(struct sl_model *m, void *buf);
/* Room for N objects, so that adding them does not move memory. */
int sl_model_reserve(struct sl_model *m, size_t n);
/* The model of a whole policy P that compiled to T, in two steps: the
 * objects (their records and summaries; needs no tables, so it can run
 * while P compiles), then what the tables say of them. */
int sl_model_add_objects(struct sl_model *m, const struct sl_policy *p);
void sl_model_add_outputs(struct sl_model *m, const struct sl_tables *t);
/* Both steps. */
int sl_model_from_policy(struct sl_model *m, const struct sl_policy *p, const struct sl_tables *t);

/* FN(A0) here and FN(A1) on a second thread at once (one after the other
 * when no thread can be had): a whole apply's parse, checks, model and
 * store encoding split this way. */
void sl_par2(void (*fn)(void *arg), void *a0, void *a1);
/* FN(ARG) on a second thread from sl_par_start() on, done when
 * sl_par_join() returns (which runs it there and then when no thread could
 * be had); joining twice is joining once. */
struct sl_par_task {
	pthread_t th;
	void (*fn)(void *arg);
	void *arg;
	bool started, pending;
};
void sl_par_start(struct sl_par_task *t, void (*fn)(void *arg), void *arg);
void sl_par_join(struct sl_par_task *t);
/* Sources of at least BYTES (default 1 MiB) are parsed in two parts at
 * once; tests move it to compare both ways on the same input. */
void sl_policy_set_split_min(size_t bytes);

/* Objects of the model: slots 0 .. sl_model_slots(); a removed one's
 * summary is NULL. DIRTY: its summary changed since it was added; REC: so
 * did its record (then sl_model_record gives it). */
size_t sl_model_slots(const struct sl_model *m);
size_t sl_model_count(const struct sl_model *m);
const struct sl_osum *sl_model_sum(const struct sl_model *m, size_t i, bool *dirty, bool *rec);
/* Slot I's summary whatever its state (a removed object keeps its
 * identity), with SL_MS_* bits in *STATE. */
enum { SL_MS_REMOVED = 1, SL_MS_DIRTY = 2, SL_MS_REC = 4 };
const struct sl_osum *sl_model_slot(const struct sl_model *m, size_t i, unsigned *state);
const struct sl_compile_opts *sl_model_opts(const struct sl_model *m);
/* FNV-1a 64 of an identity: the store spreads objects by it. */
uint64_t sl_osum_ident(const struct sl_osum *s);
/* Forget which summaries changed (after they were stored). */
void sl_model_clean(struct sl_model *m);
/* The slots marked dirty since the last sl_model_clean(), each once, in
 * the order they were marked: what a change touched, without a pass over
 * every slot. */
size_t sl_model_dirty(const struct sl_model *m, const uint32_t **slots);
/* Slots whose tag is 0. */
size_t sl_model_untagged(const struct sl_model *m);
/* The slots tagged TAG (removed ones included), ascending, malloc'd. */
int sl_model_with_tag(const struct sl_model *m, uint32_t tag, uint32_t **slots, size_t *n);
/* Over live objects: how many are units, whether any has node-ingress
 * frontends, the bytes of their records. Kept as objects change. */
size_t sl_model_units(struct sl_model *m);
bool sl_model_has_ingress(struct sl_model *m);
uint64_t sl_model_raw(struct sl_model *m);
/* A pass over every slot: NULL when the key indexes hold exactly the live
 * slots' keys, else what differs (in WHY). For tests: it walks chains. */
const char *sl_model_audit(const struct sl_model *m, char *why, size_t len);
/* The record of object I (malloc'd): "---\n# sluice-source: FILE line L\n"
 * and its text, as sl_policy_serialize() writes each object. NULL when
 * the model does not hold it (a stored object not fetched). */
char *sl_model_record(const struct sl_model *m, size_t i, size_t *len);
/* The same identity order sl_policy_serialize() uses. */
int sl_osum_cmp(const struct sl_osum *a, const struct sl_osum *b);
/* The kind's name ("Service") for a kind id, NULL for an unknown id. */
const char *sl_kind_name(unsigned id);

/* What an incremental compile applies to the model. */
struct sl_incr_in {
	struct sl_policy *upserts; /* objects to add or replace (may be NULL) */
	const struct sl_policy *removes; /* identities to remove (may be NULL) */
	bool replace; /* UPSERTS is the whole policy: everything else goes */
	/* A stored object's record (malloc'd), for the objects the change
	 * needs parsed. */
	int (*fetch)(void *ctx, const struct sl_osum *s, char **rec, size_t *len);
	void *fetch_ctx;
	/* More changed objects or affected units than this: whole (0: no
	 * limit). */
	size_t max_changes, max_units;
	/* Frontends and backend rows of the live policy, for the limits. */
	size_t live_svcs, live_backends, live_ingress;
	/* The live policy's NetworkPolicy tables, when the caller kept them
	 * from the apply that made it (the agent): then a change that
	 * compiles NetworkPolicy compiles the new state's tables only, and
	 * OUT->old holds a copy of these (without NetworkPolicy rows in its
	 * policies, which nothing reads of the old state). NULL: both are
	 * compiled. */
	const struct sl_tables *live_np;
};

struct sl_incr_out {
	/* The affected units as the live policy and the new one compile
	 * them (only these; indices are their own). With NP, the
	 * NetworkPolicy tables of both are whole: they changed. */
	struct sl_tables old, new;
	bool np;
	size_t changed; /* objects added, replaced or removed */
	size_t units; /* affected units */
	const char *whole; /* why the change needs a whole compile (-EAGAIN) */
};

/* Apply IN to M, compiling only what it affects. Returns 0 (M now is the
 * new policy; OUT says what changed), -EAGAIN when the change needs a
 * whole compile (OUT->whole says why; M unchanged; no diagnostics), or
 * another -errno. Diagnostics of the objects compiled go to D. */
int sl_incr_compile(struct sl_model *m, const struct sl_incr_in *in, struct sl_incr_out *out,
		    struct sl_diags *d);
void sl_incr_out_free(struct sl_incr_out *out);

#endif /* SLUICE_POLICY_H */
