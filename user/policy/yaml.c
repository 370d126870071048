// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * YAML source -> documents of struct node, each with its original text.
 *
 * Positions. Every node keeps the line and column it had in the file the
 * user wrote, even after the policy was serialized and loaded back from the
 * store: sl_policy_serialize() writes each object as
 *
 *     ---
 *     # sluice-source: NAME line L
 *     <the object's original text, columns preserved>
 *
 * and this file reads such a comment as "the next line is line L of NAME".
 * Lines after it are offset accordingly, until the next such comment. NAME
 * is escaped (escape.c), so any file name survives as a YAML comment.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "internal.h"

#define MAX_DEPTH 64

struct linemap_ent {
	int src_line; /* line of the marker comment (1-based) */
	char *file;
	int orig_line; /* original line of src_line + 1 */
};

struct conv {
	const char *name;
	const char *src;
	size_t len;
	struct linemap_ent *map;
	size_t n_map;
	yaml_document_t *doc;
	unsigned char *seen; /* per libyaml node: already converted (alias) */
	struct sl_diags *d;
	int errors;
	/* libyaml's mark.index counts characters, not bytes: byte offset of
	 * each character, or NULL when they are the same (ASCII, no BOM). */
	size_t *c2b;
	size_t n_chars;
};

static void charmap_build(struct conv *c)
{
	const unsigned char *u = (const unsigned char *)c->src;
	size_t i = 0, n = 0, w;
	bool ascii = true;

	for (i = 0; i < c->len && ascii; i++)
		ascii = u[i] < 0x80;
	if (ascii)
		return;
	c->c2b = slp_xcalloc(c->len + 1, sizeof(*c->c2b));
	i = c->len >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf ? 3 : 0;
	while (i < c->len) {
		c->c2b[n++] = i;
		w = u[i] < 0x80 ? 1 : (u[i] & 0xe0) == 0xc0 ? 2 : (u[i] & 0xf0) == 0xe0 ? 3 :
		    (u[i] & 0xf8) == 0xf0 ? 4 : 1;
		i += w;
	}
	c->c2b[n] = c->len;
	c->n_chars = n;
}

static size_t byte_off(const struct conv *c, size_t idx)
{
	if (!c->c2b)
		return idx < c->len ? idx : c->len;
	return c->c2b[idx < c->n_chars ? idx : c->n_chars];
}

const char *slp_ntype_name(int t)
{
	static const char *const names[] = {
		[T_NULL] = "null", [T_STR] = "string", [T_INT] = "integer",
		[T_BOOL] = "boolean", [T_FLOAT] = "number", [T_SEQ] = "sequence",
		[T_MAP] = "mapping",
	};

	return t >= 0 && t <= T_MAP ? names[t] : "?";
}

/* ---- line map ---------------------------------------------------------- */

/* Length of the line break at P (libyaml's: LF, CR, CRLF, NEL, LS, PS), or
 * 0. Lines must be counted exactly as libyaml counts them. */
static size_t break_len(const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *)p;

	if (p >= end)
		return 0;
	if (*u == '\n')
		return 1;
	if (*u == '\r')
		return p + 1 < end && u[1] == '\n' ? 2 : 1;
	if (*u == 0xc2 && p + 1 < end && u[1] == 0x85)
		return 2;
	if (*u == 0xe2 && p + 2 < end && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9))
		return 3;
	return 0;
}

/* Is there a line break ending right before offset B? */
static bool break_before(const char *src, size_t b)
{
	const unsigned char *u = (const unsigned char *)src;

	if (u[b - 1] == '\n' || u[b - 1] == '\r')
		return true;
	if (b >= 2 && u[b - 2] == 0xc2 && u[b - 1] == 0x85)
		return true;
	return b >= 3 && u[b - 3] == 0xe2 && u[b - 2] == 0x80 &&
	       (u[b - 1] == 0xa8 || u[b - 1] == 0xa9);
}

/* The line number after " line " in a marker: 1..INT_MAX, digits only. */
static int marker_line(const char *p, size_t n)
{
	long long l = 0;
	size_t i;

	if (!n || n > 10)
		return 0;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		l = l * 10 + (p[i] - '0');
	}
	return l <= INT_MAX ? (int)l : 0;
}

/* A marker "# sluice-source: NAME line L" (policy.c writes them): NAME is
 * escaped (escape.c); the last " line " counts, as NAME may hold it. */
static void linemap_add(struct conv *c, const char *p, size_t n, int line, size_t *cap)
{
	size_t ml = strlen(SLP_SRC_MARKER), i, lw = SIZE_MAX;
	struct linemap_ent *e;
	int l;

	if (n <= ml || strncmp(p, SLP_SRC_MARKER, ml))
		return;
	p += ml;
	n -= ml;
	for (i = 0; i + 6 <= n; i++)
		if (!memcmp(p + i, " line ", 6))
			lw = i;
	if (lw == SIZE_MAX || !(l = marker_line(p + lw + 6, n - lw - 6)))
		return;
	if (c->n_map == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		c->map = slp_xrealloc(c->map, *cap, sizeof(*c->map));
	}
	e = &c->map[c->n_map++];
	e->src_line = line;
	e->file = sl_unesc_dup(p, lw);
	e->orig_line = l;
}

static void linemap_build(struct conv *c)
{
	const char *p = c->src, *end = c->src + c->len, *q;
	size_t cap = 0, bl = 0;
	int line = 1;

	while (p < end) {
		for (q = p; q < end && !(bl = break_len(q, end)); q++)
			;
		linemap_add(c, p, (size_t)(q - p), line, &cap);
		line++;
		p = q + bl;
		if (!bl)
			break;
	}
}

/* The last marker above SRC_LINE (markers are in source order). */
static const struct linemap_ent *linemap_find(const struct conv *c, int src_line)
{
	size_t lo = 0, hi = c->n_map, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (c->map[mid].src_line < src_line)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &c->map[lo - 1] : NULL;
}

/* Saturating at INT_MAX, so that a line written back into a marker reads
 * back as itself (L + k saturated, stored, + j saturated = L + k + j). */
static int map_line(const struct conv *c, int src_line)
{
	const struct linemap_ent *e = linemap_find(c, src_line);
	long long l;

	if (!e)
		return src_line;
	l = (long long)e->orig_line + (src_line - e->src_line - 1);
	return l < INT_MAX ? (int)l : INT_MAX;
}

static const char *map_file(const struct conv *c, int src_line)
{
	const struct linemap_ent *e = linemap_find(c, src_line);

	return e ? e->file : c->name;
}

static void conv_error(struct conv *c, yaml_mark_t m, const char *fmt, const char *arg)
{
	int sl = (int)m.line + 1;

	slp_diag_add(c->d, SL_SEV_ERROR, map_file(c, sl), map_line(c, sl),
		 (int)m.column + 1, "", fmt, arg);
	c->errors++;
}

/* ---- scalars ----------------------------------------------------------- */

static bool is_int(const char *s)
{
	const char *p = s;

	if (*p == '-' || *p == '+')
		p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o') && p == s && p[2]) {
		for (p += 2; *p; p++)
			if (!(s[1] == 'x' ? isxdigit((unsigned char)*p) :
					    (*p >= '0' && *p <= '7')))
				return false;
		return true;
	}
	if (!*p)
		return false;
	for (; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return true;
}

static bool is_float(const char *s)
{
	static const char *const special[] = {
		".inf", "-.inf", "+.inf", ".Inf", "-.Inf", "+.Inf", ".INF",
		"-.INF", "+.INF", ".nan", ".NaN", ".NAN",
	};
	const char *p = s;
	bool digits = false;
	size_t i;

	for (i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (!strcmp(s, special[i]))
			return true;
	if (*p == '-' || *p == '+')
		p++;
	while (isdigit((unsigned char)*p)) {
		p++;
		digits = true;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			p++;
			digits = true;
		}
	}
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return !*p;
}

/* YAML 1.2 core schema resolution of a plain scalar. */
static int resolve_plain(const char *s)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	static const char *const bools[] = { "true", "True", "TRUE", "false",
					     "False", "FALSE" };
	size_t i;

	for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (!strcmp(s, nulls[i]))
			return T_NULL;
	for (i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
		if (!strcmp(s, bools[i]))
			return T_BOOL;
	if (is_int(s))
		return T_INT;
	if (is_float(s))
		return T_FLOAT;
	return T_STR;
}

/* ---- conversion -------------------------------------------------------- */

static struct node *conv_node(struct conv *c, int idx, int depth);

static struct node *new_node(struct conv *c, const yaml_node_t *yn, int type)
{
	struct node *n = slp_xcalloc(1, sizeof(*n));
	int sl = (int)yn->start_mark.line + 1;

	n->type = (uint8_t)type;
	n->line = map_line(c, sl);
	n->sline = sl;
	n->col = (int)yn->start_mark.column + 1;
	n->off = byte_off(c, yn->start_mark.index);
	n->end = byte_off(c, yn->end_mark.index);
	return n;
}

static struct node *conv_scalar(struct conv *c, const yaml_node_t *yn)
{
	char *s = strndup((const char *)yn->data.scalar.value, yn->data.scalar.length);
	struct node *n;

	if (!s)
		abort();
	n = new_node(c, yn, yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ?
				    resolve_plain(s) : T_STR);
	n->s = s;
	return n;
}

static struct node *conv_seq(struct conv *c, const yaml_node_t *yn, int depth)
{
	yaml_node_item_t *it = yn->data.sequence.items.start;
	size_t cnt = (size_t)(yn->data.sequence.items.top - it), i;
	struct node *n = new_node(c, yn, T_SEQ);

	n->vals = slp_xcalloc(cnt, sizeof(*n->vals));
	for (i = 0; i < cnt; i++) {
		n->vals[i] = conv_node(c, it[i], depth + 1);
		if (!n->vals[i])
			break;
		n->n++;
	}
	return n;
}

static bool dup_key(const struct node *m, const char *k)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (!strcmp(m->keys[i]->s, k))
			return true;
	return false;
}

static struct node *conv_map(struct conv *c, const yaml_node_t *yn, int depth)
{
	yaml_node_pair_t *pr = yn->data.mapping.pairs.start;
	size_t cnt = (size_t)(yn->data.mapping.pairs.top - pr), i;
	struct node *n = new_node(c, yn, T_MAP), *k, *v;
	yaml_node_t *kn;

	n->keys = slp_xcalloc(cnt, sizeof(*n->keys));
	n->vals = slp_xcalloc(cnt, sizeof(*n->vals));
	for (i = 0; i < cnt; i++) {
		kn = yaml_document_get_node(c->doc, pr[i].key);
		if (!kn || kn->type != YAML_SCALAR_NODE) {
			conv_error(c, kn ? kn->start_mark : yn->start_mark,
				   "%s", "mapping keys must be scalars");
			break;
		}
		k = conv_node(c, pr[i].key, depth + 1);
		if (!k)
			break;
		if (dup_key(n, k->s)) {
			conv_error(c, kn->start_mark, "duplicate key \"%s\"", k->s);
			slp_node_free(k);
			break;
		}
		v = conv_node(c, pr[i].value, depth + 1);
		if (!v) {
			slp_node_free(k);
			break;
		}
		n->keys[n->n] = k;
		n->vals[n->n++] = v;
	}
	return n;
}

/* A tag other than the default of the node's kind, or NULL. Tags are not
 * supported: an object's text is stored without its document's %TAG
 * directives (a "!e!x" would not read back), and the compiler types
 * values itself (YAML 1.2 core schema), so "!!int" would be ignored. */
static const char *explicit_tag(const yaml_node_t *yn)
{
	const char *t = (const char *)yn->tag,
		   *def = yn->type == YAML_SCALAR_NODE ? YAML_DEFAULT_SCALAR_TAG :
			  yn->type == YAML_SEQUENCE_NODE ? YAML_DEFAULT_SEQUENCE_TAG :
							   YAML_DEFAULT_MAPPING_TAG;

	return t && strcmp(t, def) ? t : NULL;
}

static struct node *conv_node(struct conv *c, int idx, int depth)
{
	yaml_node_t *yn = yaml_document_get_node(c->doc, idx);
	size_t i;

	if (!yn)
		return NULL;
	i = (size_t)(yn - c->doc->nodes.start);
	if (c->seen[i]) {
		conv_error(c, yn->start_mark, "%s",
			   "YAML aliases are not supported");
		return NULL;
	}
	c->seen[i] = 1;
	if (explicit_tag(yn)) {
		conv_error(c, yn->start_mark, "YAML tags are not supported (%s)",
			   explicit_tag(yn));
		return NULL;
	}
	if (depth > MAX_DEPTH) {
		conv_error(c, yn->start_mark, "%s", "nesting too deep");
		return NULL;
	}
	switch (yn->type) {
	case YAML_SCALAR_NODE:
		return conv_scalar(c, yn);
	case YAML_SEQUENCE_NODE:
		return conv_seq(c, yn, depth);
	case YAML_MAPPING_NODE:
		return conv_map(c, yn, depth);
	default:
		return NULL;
	}
}

void slp_node_free(struct node *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->n; i++) {
		if (n->keys)
			slp_node_free(n->keys[i]);
		slp_node_free(n->vals[i]);
	}
	free(n->keys);
	free(n->vals);
	free(n->s);
	free(n);
}

/* ---- documents --------------------------------------------------------- */

/* The text of node N, from the start of its first line, with whatever
 * precedes N on that line ("--- ", "- ") blanked so columns stay put. */
static char *slice_text(const struct conv *c, const struct node *n)
{
	size_t b = n->off, e = n->end, i, o = 0;
	char *t;

	if (e > c->len)
		e = c->len;
	if (b > e)
		b = e;
	while (b > 0 && !break_before(c->src, b))
		b--;
	t = slp_xcalloc(e - b + 2, 1);
	/* One blank per character before N (continuation bytes dropped), so
	 * the column libyaml reports stays the same. The stream's leading BOM
	 * is no column (libyaml's reader drops it); a BOM further on is. */
	i = b == 0 && c->len >= 3 && !memcmp(c->src, "\xef\xbb\xbf", 3) && n->off >= 3 ? 3 : b;
	for (; i < n->off && i < e; i++) {
		unsigned char ch = (unsigned char)c->src[i];

		if ((ch & 0xc0) != 0x80)
			t[o++] = ch == '\t' ? '\t' : ' ';
	}
	memcpy(t + o, c->src + i, e - i);
	i = o + (e - i);
	/* Trailing blank lines and an explicit "..." end are not ours. */
	while (i > 0 && (t[i - 1] == ' ' || t[i - 1] == '\n' || t[i - 1] == '\r' ||
			 t[i - 1] == '\t'))
		i--;
	if (i >= 3 && !strncmp(t + i - 3, "...", 3) && (i == 3 || t[i - 4] == '\n'))
		i -= 3;
	t[i] = '\n';
	t[i + 1] = 0;
	return t;
}

static void docs_push(struct docs *ds, struct node *root, const struct conv *c,
		      int src_line)
{
	struct doc *dc;

	if (ds->n == ds->cap) {
		ds->cap = ds->cap ? ds->cap * 2 : 8;
		ds->v = slp_xrealloc(ds->v, ds->cap, sizeof(*ds->v));
	}
	dc = &ds->v[ds->n++];
	dc->root = root;
	dc->file = slp_xstrdup(map_file(c, src_line));
	dc->line = root->line;
	dc->text = slice_text(c, root);
}

static bool is_list(const struct node *root)
{
	const char *k = slp_node_str(slp_map_get(root, "kind"));

	return k && !strcmp(k, "List") && slp_map_get(root, "items");
}

/* A "kind: List" (kubectl get -o yaml) contributes each of its items. */
static void add_doc(struct conv *c, struct docs *ds, struct node *root)
{
	struct node *items;
	size_t i;

	if (root->type != T_MAP || !is_list(root)) {
		docs_push(ds, root, c, root->sline);
		return;
	}
	items = slp_map_get(root, "items");
	if (items->type != T_SEQ) {
		slp_diag_add(c->d, SL_SEV_ERROR, map_file(c, items->sline),
			 items->line, items->col, "items",
			 "expected sequence, got %s", slp_ntype_name(items->type));
		c->errors++;
		slp_node_free(root);
		return;
	}
	for (i = 0; i < items->n; i++) {
		docs_push(ds, items->vals[i], c, items->vals[i]->sline);
		items->vals[i] = NULL;
	}
	slp_node_free(root);
}

static void parser_error(struct conv *c, const yaml_parser_t *yp)
{
	yaml_mark_t m = yp->problem_mark;
	char buf[512];

	if (yp->context)
		snprintf(buf, sizeof(buf), "%s (%s at line %d, column %d)",
			 yp->problem ? yp->problem : "invalid YAML", yp->context,
			 map_line(c, (int)yp->context_mark.line + 1),
			 (int)yp->context_mark.column + 1);
	else
		snprintf(buf, sizeof(buf), "%s",
			 yp->problem ? yp->problem : "invalid YAML");
	conv_error(c, m, "%s", buf);
}

static int load_one(struct conv *c, yaml_parser_t *yp, struct docs *ds, bool *done)
{
	yaml_document_t doc;
	yaml_node_t *rn;
	struct node *root;

	if (!yaml_parser_load(yp, &doc)) {
		parser_error(c, yp);
		return -1;
	}
	rn = yaml_document_get_root_node(&doc);
	if (!rn) {
		*done = true;
		yaml_document_delete(&doc);
		return 0;
	}
	c->doc = &doc;
	c->seen = slp_xcalloc((size_t)(doc.nodes.top - doc.nodes.start), 1);
	root = conv_node(c, 1, 0);
	free(c->seen);
	c->seen = NULL;
	yaml_document_delete(&doc);
	if (!root)
		return -1;
	if (root->type == T_NULL) /* empty document */
		slp_node_free(root);
	else
		add_doc(c, ds, root);
	return 0;
}

int slp_yaml_parse_source(const char *name, const char *src, size_t len,
		      struct docs *out, struct sl_diags *d)
{
	struct conv c = { .name = name, .src = src, .len = len, .d = d };
	yaml_parser_t yp;
	bool done = false;
	size_t i;

	memset(out, 0, sizeof(*out));
	/* Objects keep their text as slices of SRC, so it must be UTF-8 (what
	 * Kubernetes accepts too); libyaml would decode UTF-16 silently. */
	if (len >= 2 && (((unsigned char)src[0] == 0xff && (unsigned char)src[1] == 0xfe) ||
			 ((unsigned char)src[0] == 0xfe && (unsigned char)src[1] == 0xff))) {
		slp_diag_add(d, SL_SEV_ERROR, name, 1, 1, "", "UTF-16 input not supported: use UTF-8");
		return -1;
	}
	linemap_build(&c);
	charmap_build(&c);
	if (!yaml_parser_initialize(&yp))
		abort();
	yaml_parser_set_input_string(&yp, (const unsigned char *)src, len);
	while (!done && !c.errors)
		if (load_one(&c, &yp, out, &done))
			break;
	yaml_parser_delete(&yp);
	for (i = 0; i < c.n_map; i++)
		free(c.map[i].file);
	free(c.map);
	free(c.c2b);
	if (c.errors) {
		slp_docs_free(out);
		return -1;
	}
	return 0;
}

void slp_docs_free(struct docs *ds)
{
	size_t i;

	for (i = 0; i < ds->n; i++) {
		slp_node_free(ds->v[i].root);
		free(ds->v[i].file);
		free(ds->v[i].text);
	}
	free(ds->v);
	memset(ds, 0, sizeof(*ds));
}

/* ---- access ------------------------------------------------------------ */

struct node *slp_map_get(const struct node *m, const char *key)
{
	size_t i;

	if (!m || m->type != T_MAP)
		return NULL;
	for (i = 0; i < m->n; i++)
		if (!strcmp(m->keys[i]->s, key))
			return m->vals[i]->type == T_NULL ? NULL : m->vals[i];
	return NULL;
}

struct node *slp_path_get(const struct node *root, const char *dotted)
{
	char buf[256], *p, *dot;
	const struct node *n = root;

	slp_scopy(buf, sizeof(buf), dotted);
	for (p = buf; n && p; p = dot) {
		dot = strchr(p, '.');
		if (dot)
			*dot++ = 0;
		n = slp_map_get(n, p);
	}
	return (struct node *)n;
}

const char *slp_node_str(const struct node *n)
{
	return n && n->type == T_STR ? n->s : NULL;
}

bool slp_node_int(const struct node *n, long long *v)
{
	const char *p;
	bool neg = false;
	int base = 10;
	char *end;

	if (!n || n->type != T_INT)
		return false;
	p = n->s;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o')) {
		base = p[1] == 'x' ? 16 : 8;
		p += 2;
	}
	errno = 0;
	*v = strtoll(p, &end, base);
	if (neg)
		*v = -*v;
	return !errno && !*end;
}

bool slp_node_bool(const struct node *n, bool *v)
{
	if (!n || n->type != T_BOOL)
		return false;
	*v = n->s[0] == 't' || n->s[0] == 'T';
	return true;
}

size_t slp_seq_len(const struct node *n)
{
	return n && n->type == T_SEQ ? n->n : 0;
}
