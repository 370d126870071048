// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The object set: load (upsert), remove, serialize.
 *
 * Objects are kept sorted by (kind, namespace, name), which is both their
 * identity and the serialization order, so the same set always serializes to
 * the same bytes. A load or remove first builds everything it needs and only
 * then touches the set, so a source with errors leaves the policy unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct sl_policy *sl_policy_new(void)
{
	return calloc(1, sizeof(struct sl_policy));
}

static void object_free(struct object *o)
{
	if (!o)
		return;
	slp_arena_put(o->arena);
	free(o);
}

void sl_policy_free(struct sl_policy *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++)
		object_free(p->v[i]);
	free(p->v);
	free(p);
}

size_t sl_policy_count(const struct sl_policy *p)
{
	return p ? p->n : 0;
}

static int obj_cmp(const char *kind, const char *ns, const char *name,
		   const struct object *b)
{
	int r = strcmp(kind, b->kind);

	if (!r)
		r = strcmp(ns, b->ns);
	if (!r)
		r = strcmp(name, b->name);
	return r;
}

/* Index of the object or of where it would go; *found says which. */
static size_t policy_find(const struct sl_policy *p, const char *kind,
			  const char *ns, const char *name, bool *found)
{
	size_t lo = 0, hi = p->n, mid;
	int r;

	*found = false;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		r = obj_cmp(kind, ns, name, p->v[mid]);
		if (!r) {
			*found = true;
			return mid;
		}
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static void policy_upsert(struct sl_policy *p, struct object *o)
{
	bool found;
	size_t i = policy_find(p, o->kind, o->ns, o->name, &found);

	if (found) {
		object_free(p->v[i]);
		p->v[i] = o;
		return;
	}
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 32;
		p->v = slp_xrealloc(p->v, p->cap, sizeof(*p->v));
	}
	memmove(&p->v[i + 1], &p->v[i], (p->n - i) * sizeof(*p->v));
	p->v[i] = o;
	p->n++;
}

/* ---- whole-set operations: an apply parses its inputs into a set of
 * their own before it takes the pin-root lock, then merges that set into
 * the applied one. */

/* Both sets are sorted by identity: one linear merge, SRC winning ties. */
void sl_policy_merge(struct sl_policy *dst, struct sl_policy *src)
{
	size_t i = 0, j = 0, n = 0, cap = dst->n + src->n + 1;
	struct object **v = slp_xcalloc(cap, sizeof(*v));

	while (i < dst->n || j < src->n) {
		int c = i == dst->n ? 1 : j == src->n ? -1 :
			obj_cmp(dst->v[i]->kind, dst->v[i]->ns, dst->v[i]->name, src->v[j]);

		if (c == 0)
			object_free(dst->v[i++]);
		v[n++] = c < 0 ? dst->v[i++] : src->v[j++];
	}
	free(dst->v);
	dst->v = v;
	dst->n = n;
	dst->cap = cap;
	src->n = 0;
}

static int cmp_position(const void *a, const void *b)
{
	const struct object *x = *(const struct object *const *)a;
	const struct object *y = *(const struct object *const *)b;
	int r = strcmp(x->file, y->file);

	return r ? r : (x->line > y->line) - (x->line < y->line);
}

void sl_policy_subtract(struct sl_policy *dst, const struct sl_policy *names,
			struct sl_diags *d)
{
	const struct object **absent = slp_xcalloc(names->n + 1, sizeof(*absent));
	size_t n_absent = 0;

	for (size_t i = 0; i < names->n; i++) {
		const struct object *o = names->v[i];
		bool found;
		size_t j = policy_find(dst, o->kind, o->ns, o->name, &found);

		if (!found) {
			absent[n_absent++] = o;
			continue;
		}
		object_free(dst->v[j]);
		memmove(&dst->v[j], &dst->v[j + 1], (dst->n - j - 1) * sizeof(*dst->v));
		dst->n--;
	}
	/* Warnings in the order the user wrote the objects. */
	qsort(absent, n_absent, sizeof(*absent), cmp_position);
	for (size_t i = 0; i < n_absent; i++)
		slp_diag_at(d, SL_SEV_WARNING, absent[i], slp_map_get(absent[i]->root, "metadata"),
			    "metadata.name", "%s %s%s%s is not present", absent[i]->kind,
			    absent[i]->ns, *absent[i]->ns ? "/" : "", absent[i]->name);
	free(absent);
}

bool sl_policy_object(const struct sl_policy *p, size_t i, struct sl_object_info *out)
{
	const struct object *o;

	if (!p || i >= p->n)
		return false;
	o = p->v[i];
	*out = (struct sl_object_info){ o->kind, o->ns, o->name, o->file, o->line,
					strlen(o->text) };
	return true;
}

/* A required identity string: present and a string, else an error. */
static const char *ident_field(const struct object *o, const struct node *parent,
			       const char *key, const char *path, struct sl_diags *d)
{
	const struct node *n = slp_map_get(parent, key);

	if (!n) {
		slp_diag_at(d, SL_SEV_ERROR, o, parent, path, "required field is missing");
		return NULL;
	}
	if (n->type != T_STR || !*n->s) {
		slp_diag_at(d, SL_SEV_ERROR, o, n, path, "expected non-empty string, got %s",
			slp_ntype_name(n->type));
		return NULL;
	}
	return n->s;
}

/* Names follow Kubernetes' rules (schema.c, per kind): they become table
 * rows, metric labels and `get` columns, and "../x" or an escape sequence
 * has no business there. An earlier version stored names unchecked; in the
 * stored policy a bad one is a warning, so the node stays manageable. */
static void check_name(const struct object *o, const struct node *n, const char *path,
		       const char *what, int rule, bool stored, struct sl_diags *d)
{
	const char *why = slp_name_check(n->s, rule);

	if (why)
		slp_diag_at(d, stored ? SL_SEV_WARNING : SL_SEV_ERROR, o, n, path,
			    "invalid %s \"%s\": %s%s", what, n->s, why,
			    stored ? " (kept: the stored policy holds it)" : "");
}

/* metadata.labels as the API server checks them (ValidateLabels): labels
 * are matched by selectors and shown in `get endpoints`. */
static void check_labels(const struct object *o, const struct node *meta, bool stored,
			 struct sl_diags *d)
{
	const struct node *l = slp_map_get(meta, "labels");
	int sev = stored ? SL_SEV_WARNING : SL_SEV_ERROR;
	char path[320];
	size_t i;

	for (i = 0; l && l->type == T_MAP && i < l->n; i++) {
		snprintf(path, sizeof(path), "metadata.labels.%s", l->keys[i]->s);
		if (!slp_label_key_ok(l->keys[i]->s))
			slp_diag_at(d, sev, o, l->keys[i], path, "invalid label key \"%s\": "
				    "an optional DNS subdomain prefix and '/', then at most 63 "
				    "characters of letters, digits, '-', '_' and '.', starting and "
				    "ending with a letter or digit", l->keys[i]->s);
		else if (slp_node_str(l->vals[i]) && !slp_label_value_ok(l->vals[i]->s))
			slp_diag_at(d, sev, o, l->vals[i], path, "invalid label value \"%s\": "
				    "empty, or at most 63 characters of letters, digits, '-', '_' "
				    "and '.', starting and ending with a letter or digit",
				    l->vals[i]->s);
	}
}

/* Identity of a document. Returns the kind id, a KIND_* code, or -100 on
 * error (diagnosed). STORED: read from the node's store. */
static int doc_identity(struct object *o, bool stored, struct sl_diags *d)
{
	const struct node *meta, *nsn;
	const char *api, *kind, *name;
	char what[64];
	int id;

	if (o->root->type != T_MAP) {
		slp_diag_at(d, SL_SEV_ERROR, o, o->root, "",
			"expected a mapping (a Kubernetes object), got %s",
			slp_ntype_name(o->root->type));
		return -100;
	}
	api = ident_field(o, o->root, "apiVersion", "apiVersion", d);
	kind = ident_field(o, o->root, "kind", "kind", d);
	if (!api || !kind)
		return -100;
	id = slp_kind_lookup(api, kind);
	o->api = api;
	o->kind = kind;
	if (id == KIND_SKIP_NOTE || id == KIND_UNKNOWN)
		return id;
	if (id == KIND_BAD_VERSION) {
		slp_diag_at(d, SL_SEV_ERROR, o, slp_map_get(o->root, "apiVersion"), "apiVersion",
			"apiVersion \"%s\" not supported for kind %s", api, kind);
		return -100;
	}
	meta = slp_map_get(o->root, "metadata");
	if (!meta || meta->type != T_MAP) {
		slp_diag_at(d, SL_SEV_ERROR, o, meta ? meta : o->root, "metadata",
			meta ? "expected mapping, got %s" : "required field is missing%s",
			meta ? slp_ntype_name(meta->type) : "");
		return -100;
	}
	name = ident_field(o, meta, "name", "metadata.name", d);
	if (!name)
		return -100;
	snprintf(what, sizeof(what), "%s name", kind);
	check_name(o, slp_map_get(meta, "name"), "metadata.name", what,
		   slp_kind_name_rule(id), stored, d);
	o->name = name;
	nsn = slp_map_get(meta, "namespace");
	o->has_ns = nsn && slp_node_str(nsn) && *nsn->s;
	if (o->has_ns && id != K_NAMESPACE)
		check_name(o, nsn, "metadata.namespace", "namespace", NAME_LABEL, stored, d);
	check_labels(o, meta, stored, d);
	/* A Namespace is cluster-scoped: its identity has no namespace, as
	 * in Kubernetes, which ignores metadata.namespace on such objects. */
	if (id == K_NAMESPACE) {
		if (o->has_ns)
			slp_diag_at(d, SL_SEV_NOTE, o, nsn, "metadata.namespace",
				"ignored: Namespace is cluster-scoped");
		o->has_ns = false;
		o->ns = "";
		return id;
	}
	o->ns = o->has_ns ? nsn->s : "default";
	return id;
}

static void skip_note(const struct object *o, int id, struct sl_diags *d)
{
	const struct node *k = slp_map_get(o->root, "kind");

	if (id == KIND_SKIP_NOTE)
		slp_diag_at(d, SL_SEV_NOTE, o, k, "kind",
			"%s skipped: not a data-plane object", o->kind);
	else
		slp_diag_at(d, SL_SEV_NOTE, o, k, "kind",
			"unknown kind %s (apiVersion %s) skipped", o->kind, o->api);
}

/* Turn a parsed document into an object (taking its tree and text), or
 * NULL when it is skipped or wrong. */
static struct object *doc_object(struct doc *dc, bool stored, int *idp,
				  struct sl_diags *d)
{
	struct object *o = slp_xcalloc(1, sizeof(*o));

	o->root = dc->root;
	o->arena = dc->arena;
	o->file = dc->file;
	o->text = dc->text;
	o->line = dc->line;
	dc->root = NULL;
	dc->arena = NULL;
	dc->file = dc->text = NULL;
	*idp = doc_identity(o, stored, d);
	o->id = *idp;
	if (*idp < 0) {
		if (*idp != -100)
			skip_note(o, *idp, d);
		object_free(o);
		return NULL;
	}
	return o;
}

static struct sl_diags *diags_or(struct sl_diags *d, struct sl_diags *tmp)
{
	memset(tmp, 0, sizeof(*tmp));
	return d ? d : tmp;
}

/* Documents [b, e) of DS become checked objects at NV + b (NULL where
 * skipped), their messages in D. */
struct check_job {
	struct docs *ds;
	size_t b, e;
	bool stored;
	struct object **nv;
	struct sl_diags d;
};

static void check_docs(void *arg)
{
	struct check_job *j = arg;
	int id;

	for (size_t i = j->b; i < j->e; i++) {
		struct object *o = doc_object(&j->ds->v[i], j->stored, &id, &j->d);
		size_t e = j->d.n_errors;

		if (!o)
			continue;
		/* The per-kind checks read fields the schema has typed; they
		 * run only on objects the schema accepted (no echo errors). */
		slp_schema_validate(o, id, &j->d);
		if (j->d.n_errors == e)
			slp_kind_check(o, id, &j->d);
		j->nv[i] = o;
	}
}

/* Below this many documents one thread does the checks. */
#define CHECK_SPLIT_MIN 1024

static void check_all(struct docs *ds, bool stored, struct object **nv, struct sl_diags *d)
{
	struct check_job j[2] = {
		{ .ds = ds, .b = 0, .e = ds->n, .stored = stored, .nv = nv },
		{ .ds = ds, .b = ds->n, .e = ds->n, .stored = stored, .nv = nv },
	};

	if (ds->n >= CHECK_SPLIT_MIN) {
		j[0].e = j[1].b = ds->n / 2;
		sl_par2(check_docs, &j[0], &j[1]);
	} else {
		check_docs(&j[0]);
	}
	slp_diags_move(d, &j[0].d);
	slp_diags_move(d, &j[1].d);
}

/* One source's object and its place among the source's documents. */
struct numbered {
	struct object *o;
	size_t at;
};

static int cmp_numbered(const void *a, const void *b)
{
	const struct numbered *x = a, *y = b;
	int r = slp_obj_cmp(x->o, y->o);

	return r ? r : x->at < y->at ? -1 : x->at > y->at;
}

/* The objects NV[0..N) of one source (in document order) into P, a later
 * document replacing an earlier one with its identity, as an upsert of
 * each in turn would: sorted, deduplicated and merged, so that a source
 * of 20,000 objects costs a sort rather than 20,000 insertions into the
 * middle of an array. A few objects are simply upserted. */
static void upsert_all(struct sl_policy *p, struct object **nv, size_t n)
{
	struct numbered *v = n >= 64 ? calloc(n, sizeof(*v)) : NULL;
	struct sl_policy src = { .v = nv };

	if (!v) {
		for (size_t i = 0; i < n; i++)
			policy_upsert(p, nv[i]);
		return;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = (struct numbered){ nv[i], i };
	qsort(v, n, sizeof(*v), cmp_numbered);
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && !slp_obj_cmp(v[i].o, v[i + 1].o)) {
			object_free(v[i].o); /* a later document has it */
			continue;
		}
		nv[src.n++] = v[i].o;
	}
	free(v);
	sl_policy_merge(p, &src);
}

int sl_policy_load(struct sl_policy *p, const char *name, const char *src,
		   size_t len, struct sl_diags *dd)
{
	struct sl_diags tmp, *d = diags_or(dd, &tmp);
	size_t err0 = d->n_errors, i, n_new = 0;
	bool stored = name && !strcmp(name, SL_STORE_SOURCE);
	struct object **nv;
	struct docs ds;
	int ret = 0;

	if (slp_yaml_parse_source(name, src, len, &ds, d)) {
		sl_diags_free(&tmp);
		return -1;
	}
	nv = slp_xcalloc(ds.n, sizeof(*nv));
	check_all(&ds, stored, nv, d);
	for (i = 0; i < ds.n; i++) /* in document order, without the skipped */
		if (nv[i])
			nv[n_new++] = nv[i];
	slp_docs_free(&ds);
	if (d->n_errors > err0) {
		for (i = 0; i < n_new; i++)
			object_free(nv[i]);
		ret = -1;
	} else {
		upsert_all(p, nv, n_new);
	}
	free(nv);
	sl_diags_free(&tmp);
	return ret;
}

int sl_policy_load_names(struct sl_policy *p, const char *name, const char *src, size_t len,
			 struct sl_diags *dd)
{
	struct sl_diags tmp, *d = diags_or(dd, &tmp);
	size_t err0 = d->n_errors, i, n_new = 0;
	struct object **nv;
	struct docs ds;
	int id;

	if (slp_yaml_parse_source(name, src, len, &ds, d)) {
		sl_diags_free(&tmp);
		return -1;
	}
	nv = slp_xcalloc(ds.n, sizeof(*nv));
	for (i = 0; i < ds.n; i++) {
		/* No name rules: what is not there cannot be removed anyway,
		 * and an object stored before the rules must stay removable. */
		struct object *o = doc_object(&ds.v[i], true, &id, d);

		if (o)
			nv[n_new++] = o;
	}
	slp_docs_free(&ds);
	for (i = 0; i < n_new; i++) {
		if (d->n_errors == err0)
			policy_upsert(p, nv[i]);
		else
			object_free(nv[i]);
	}
	free(nv);
	sl_diags_free(&tmp);
	return d->n_errors > err0 ? -1 : 0;
}

int sl_policy_remove(struct sl_policy *p, const char *name, const char *src,
		     size_t len, struct sl_diags *d)
{
	struct sl_policy *names = sl_policy_new();
	int ret = names ? sl_policy_load_names(names, name, src, len, d) : -1;

	if (!ret)
		sl_policy_subtract(p, names, d);
	sl_policy_free(names);
	return ret;
}

/* See the format in yaml.c: a marker comment per object carries its
 * original file name and line, so diagnostics survive the store. The name
 * is escaped (escape.c): a file name is any bytes but NUL and '/', and a
 * YAML comment holds only printable UTF-8 up to the next line break. The
 * object's text needs nothing: libyaml accepted it as it stands. */
static void write_record(FILE *m, const struct object *o)
{
	char *f = sl_esc_dup(o->file);

	fprintf(m, "---\n" SLP_SRC_MARKER "%s line %d\n%s", f, o->line, o->text);
	free(f);
}

char *sl_policy_serialize(const struct sl_policy *p, size_t *len)
{
	char *buf = NULL;
	size_t n = 0, i;
	FILE *m = open_memstream(&buf, &n);

	if (!m)
		return NULL;
	for (i = 0; i < p->n; i++)
		write_record(m, p->v[i]);
	if (fclose(m)) {
		free(buf);
		return NULL;
	}
	if (len)
		*len = n;
	return buf;
}

/* The same bytes as write_record(), without a stream: a whole apply
 * makes one record per object. */
char *slp_object_record(const struct object *o, size_t *len)
{
	char *f = sl_esc_dup(o->file), *buf;
	size_t tl = strlen(o->text), hl;
	int n;

	n = f ? snprintf(NULL, 0, "---\n" SLP_SRC_MARKER "%s line %d\n", f, o->line) : -1;
	buf = n < 0 ? NULL : malloc((size_t)n + tl + 1);
	if (buf) {
		hl = (size_t)snprintf(buf, (size_t)n + 1, "---\n" SLP_SRC_MARKER "%s line %d\n", f,
				      o->line);
		memcpy(buf + hl, o->text, tl + 1);
		*len = hl + tl;
	}
	free(f);
	return buf;
}

struct object *slp_record_parse(const char *rec, size_t len, struct sl_diags *d)
{
	struct sl_policy p = { 0 };
	struct object *o = NULL;

	if (!sl_policy_load(&p, SL_STORE_SOURCE, rec, len, d) && p.n == 1) {
		o = p.v[0];
		p.n = 0;
	}
	for (size_t i = 0; i < p.n; i++)
		object_free(p.v[i]);
	free(p.v);
	return o;
}

void slp_object_free(struct object *o)
{
	object_free(o);
}

int slp_obj_cmp(const struct object *a, const struct object *b)
{
	return obj_cmp(a->kind, a->ns, a->name, b);
}

static bool policy_rows_equal(const struct sl_table_policy *a, const struct sl_table_policy *b)
{
	return !strcmp(a->kind, b->kind) && !strcmp(a->ns, b->ns) &&
	       !strcmp(a->name, b->name) && !strcmp(a->summary, b->summary) &&
	       a->n_svcs == b->n_svcs &&
	       (!a->n_svcs || !memcmp(a->svcs, b->svcs, a->n_svcs * sizeof(*a->svcs)));
}

/* Rows are built in zeroed memory (strings padded with NULs), so bytes
 * compare; policy rows hold a pointer and compare by content. */
#define ROWS_EQUAL(a, b, v, n) \
	((a)->n == (b)->n && (!(a)->n || !memcmp((a)->v, (b)->v, (a)->n * sizeof(*(a)->v))))

bool sl_tables_equal(const struct sl_tables *a, const struct sl_tables *b)
{
	size_t i;

	if (!ROWS_EQUAL(a, b, svcs, n_svcs) || !ROWS_EQUAL(a, b, backends, n_backends) ||
	    !ROWS_EQUAL(a, b, ingress, n_ingress) || !ROWS_EQUAL(a, b, np_pods, n_np_pods) ||
	    !ROWS_EQUAL(a, b, np_prefixes, n_np_prefixes) ||
	    !ROWS_EQUAL(a, b, np_portsets, n_np_portsets) || a->n_policies != b->n_policies)
		return false;
	for (i = 0; i < a->n_policies; i++)
		if (!policy_rows_equal(&a->policies[i], &b->policies[i]))
			return false;
	return true;
}
