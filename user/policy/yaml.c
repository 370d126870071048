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

#define MAX_DEPTH 64 /* nesting of collections, checked as libyaml reads */
/* A source bigger than this is refused before libyaml sees it. Kubernetes
 * objects are at most ~1.5 MiB each (etcd's request limit); this leaves
 * room for a whole cluster's policy in one file. */
#define MAX_SOURCE_BYTES (256u << 20)
/* From this size on a source is parsed in two parts at once (a thread
 * costs more than it saves on the small files of one-object applies). */
static size_t split_min = 1u << 20;

void sl_policy_set_split_min(size_t bytes)
{
	split_min = bytes;
}

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
	struct sl_diags *d;
	int errors;
	/* libyaml's mark.index counts characters, not bytes: byte offset of
	 * each character, or NULL when they are the same (ASCII, no BOM). */
	size_t *c2b;
	size_t n_chars;
	/* Where the part being parsed starts in SRC (a big source is parsed
	 * in two parts at once, see parse_split()): libyaml's marks count from there. */
	int line_base;
	size_t char_base;
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
	idx += c->char_base;
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

	/* Only the store's text has markers: a user's file is not walked. */
	if (!memmem(c->src, c->len, SLP_SRC_MARKER, strlen(SLP_SRC_MARKER)))
		return;

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
	int sl = (int)m.line + 1 + c->line_base;

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
/* The first character decides which forms are possible: most scalars are
 * names, which no comparison needs to look at twice. */
static int resolve_plain(const char *s)
{
	switch (s[0]) {
	case 0:
		return T_NULL;
	case '~':
		return s[1] ? T_STR : T_NULL;
	case 'n':
		return strcmp(s, "null") ? T_STR : T_NULL;
	case 'N':
		return strcmp(s, "Null") && strcmp(s, "NULL") ? T_STR : T_NULL;
	case 't':
		return strcmp(s, "true") ? T_STR : T_BOOL;
	case 'T':
		return strcmp(s, "True") && strcmp(s, "TRUE") ? T_STR : T_BOOL;
	case 'f':
		return strcmp(s, "false") ? T_STR : T_BOOL;
	case 'F':
		return strcmp(s, "False") && strcmp(s, "FALSE") ? T_STR : T_BOOL;
	case '+':
	case '-':
	case '.':
	case '0' ... '9':
		return is_int(s) ? T_INT : is_float(s) ? T_FLOAT : T_STR;
	default:
		return T_STR;
	}
}

/* ---- trees from parser events ------------------------------------------ */

/*
 * The tree is built from libyaml's event stream, not from the document
 * yaml_parser_load() would build first, so that the limits act while
 * libyaml reads: nesting deeper than MAX_DEPTH ends the parse at the event
 * that crosses it. libyaml's scanner does work proportional to the open
 * flow levels for every token, so loading first made 200 KB of unclosed
 * '[' cost about a minute before the depth could even be looked at.
 */

struct open_coll {
	struct node *n; /* attached to its parent (or the root) already */
	size_t base; /* its children start at build.kids[base] */
	struct node *key; /* T_MAP: a key waiting for its value */
};

struct anchor {
	char *name;
	yaml_mark_t mark;
};

/* Children of the open collections wait on one stack (keys and values
 * alternate for a mapping) and move into the arena, sized exactly, when
 * their collection ends: no array is grown in place. */
struct build {
	struct open_coll open[MAX_DEPTH + 1];
	int depth; /* open collections */
	struct node *root;
	/* One per source, shared by its documents: an arena per document
	 * left most of each chunk unused (a small object's tree is a few KB).
	 * A tree outlives its object until the source's last object goes. */
	struct slp_arena *arena;
	struct node **kids;
	size_t n_kids, cap_kids;
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
};

static struct node *new_node(struct conv *c, struct build *b, yaml_mark_t start, yaml_mark_t end,
			     int type)
{
	struct node *n;
	int sl = (int)start.line + 1 + c->line_base;

	if (!b->arena)
		b->arena = slp_arena_new();
	n = arena_zalloc(slp_arena_mem(b->arena), sizeof(*n));

	n->type = (uint8_t)type;
	n->line = map_line(c, sl);
	n->sline = sl;
	n->col = (int)start.column + 1;
	n->off = byte_off(c, start.index);
	n->end = byte_off(c, end.index);
	return n;
}

static void node_error(struct conv *c, const struct node *n, const char *fmt, const char *arg)
{
	slp_diag_add(c->d, SL_SEV_ERROR, map_file(c, n->sline), n->line, n->col, "", fmt, arg);
	c->errors++;
}

static void remember_anchor(struct build *b, const yaml_char_t *name, yaml_mark_t mark)
{
	if (!name)
		return;
	if (b->n_anchors == b->cap_anchors) {
		b->cap_anchors = b->cap_anchors ? 2 * b->cap_anchors : 8;
		b->anchors = slp_xrealloc(b->anchors, b->cap_anchors, sizeof(*b->anchors));
	}
	b->anchors[b->n_anchors++] = (struct anchor){ slp_xstrdup((const char *)name), mark };
}

/* An alias is reported where its anchor is, like a node seen twice. */
static void on_alias(struct conv *c, struct build *b, const yaml_event_t *ev)
{
	yaml_mark_t m = ev->start_mark;

	for (size_t i = b->n_anchors; i-- > 0;)
		if (!strcmp(b->anchors[i].name, (const char *)ev->data.alias.anchor)) {
			m = b->anchors[i].mark;
			break;
		}
	conv_error(c, m, "%s", "YAML aliases are not supported");
}

static void push_kid(struct build *b, struct node *n)
{
	if (b->n_kids == b->cap_kids) {
		b->cap_kids = b->cap_kids ? 2 * b->cap_kids : 256;
		b->kids = slp_xrealloc(b->kids, b->cap_kids, sizeof(*b->kids));
	}
	b->kids[b->n_kids++] = n;
}

static void push_child(struct build *b, struct node *key, struct node *val)
{
	if (key)
		push_kid(b, key);
	push_kid(b, val);
}

/* The children of collection O, off the stack and into its node. */
static void close_kids(struct build *b, struct open_coll *o)
{
	struct node *n = o->n, **k = b->kids + o->base;
	size_t cnt = b->n_kids - o->base, i;
	struct arena *mem = slp_arena_mem(b->arena);

	if (n->type == T_MAP) {
		n->n = cnt / 2;
		n->keys = arena_alloc(mem, n->n * sizeof(*n->keys));
		n->vals = arena_alloc(mem, n->n * sizeof(*n->vals));
		for (i = 0; i < n->n; i++) {
			n->keys[i] = k[2 * i];
			n->vals[i] = k[2 * i + 1];
		}
	} else {
		n->n = cnt;
		n->vals = arena_dup(mem, k, cnt * sizeof(*n->vals));
	}
	b->n_kids = o->base;
}

/* Attach N where the parse is: the root, the next item of a sequence, a
 * mapping's next key or the value of its pending key. A node refused
 * stays in the arena, unreferenced, until the document goes. */
static int attach(struct conv *c, struct build *b, struct node *n)
{
	struct open_coll *o = b->depth ? &b->open[b->depth - 1] : NULL;

	if (b->depth > MAX_DEPTH) {
		node_error(c, n, "%s", "nesting too deep");
		return -1;
	}
	if (!o) {
		b->root = n;
	} else if (o->n->type == T_SEQ) {
		push_child(b, NULL, n);
	} else if (o->key) {
		push_child(b, o->key, n);
		o->key = NULL;
	} else if (n->type == T_SEQ || n->type == T_MAP) {
		node_error(c, n, "%s", "mapping keys must be scalars");
		return -1;
	} else {
		o->key = n;
	}
	return 0;
}

/* An explicit tag other than the default of the node's kind is refused:
 * an object's text is stored without its document's %TAG directives (a
 * "!e!x" would not read back), and the compiler types values itself (YAML
 * 1.2 core schema), so "!!int" would be ignored. Reported; the node is
 * still attached, so the rest of the document keeps its shape. */
static void check_tag(struct conv *c, const yaml_event_t *ev, const yaml_char_t *tag,
		      const char *def)
{
	if (tag && strcmp((const char *)tag, def))
		conv_error(c, ev->start_mark, "YAML tags are not supported (%s)",
			   (const char *)tag);
}

static void on_scalar(struct conv *c, struct build *b, const yaml_event_t *ev)
{
	const yaml_char_t *tag = ev->data.scalar.tag;
	struct node *n;
	char *s;

	check_tag(c, ev, tag, YAML_DEFAULT_SCALAR_TAG);
	n = new_node(c, b, ev->start_mark, ev->end_mark, T_STR);
	/* libyaml's value may hold NUL bytes ("\0" escapes): the string ends
	 * at the first, as strndup() made it. */
	s = arena_strndup(slp_arena_mem(b->arena), (const char *)ev->data.scalar.value,
			  strnlen((const char *)ev->data.scalar.value, ev->data.scalar.length));
	/* A plain scalar is typed by the core schema; an explicit "!!str"
	 * keeps it a string, as a quoted one. */
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag)
		n->type = (uint8_t)resolve_plain(s);
	n->s = s;
	remember_anchor(b, ev->data.scalar.anchor, ev->start_mark);
	attach(c, b, n);
}

static void on_start(struct conv *c, struct build *b, const yaml_event_t *ev, int type)
{
	struct node *n = new_node(c, b, ev->start_mark, ev->end_mark, type);

	if (type == T_MAP)
		check_tag(c, ev, ev->data.mapping_start.tag, YAML_DEFAULT_MAPPING_TAG);
	else
		check_tag(c, ev, ev->data.sequence_start.tag, YAML_DEFAULT_SEQUENCE_TAG);
	remember_anchor(b, type == T_MAP ? ev->data.mapping_start.anchor :
					   ev->data.sequence_start.anchor, ev->start_mark);
	if (attach(c, b, n))
		return;
	b->open[b->depth++] = (struct open_coll){ n, b->n_kids, NULL };
}

static int cmp_key_at(const void *a, const void *b, void *keys)
{
	struct node **k = keys;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int r = strcmp(k[x]->s, k[y]->s);

	return r ? r : (x > y) - (x < y);
}

/* The first key (in document order) that repeats an earlier one: among
 * few keys every pair is compared; sorting keeps a mapping with many keys
 * from costing a comparison per pair. SIZE_MAX: none. */
static size_t first_dup(const struct node *m)
{
	size_t *idx, first = SIZE_MAX;

	if (m->n <= 16) {
		for (size_t i = 1; i < m->n; i++)
			for (size_t j = 0; j < i; j++)
				if (!strcmp(m->keys[i]->s, m->keys[j]->s))
					return i;
		return SIZE_MAX;
	}
	idx = slp_xcalloc(m->n, sizeof(*idx));
	for (size_t i = 0; i < m->n; i++)
		idx[i] = i;
	qsort_r(idx, m->n, sizeof(*idx), cmp_key_at, m->keys);
	for (size_t i = 1; i < m->n; i++)
		if (!strcmp(m->keys[idx[i]]->s, m->keys[idx[i - 1]]->s) && idx[i] < first &&
		    (i < 2 || strcmp(m->keys[idx[i]]->s, m->keys[idx[i - 2]]->s)))
			first = idx[i];
	free(idx);
	return first;
}

static void check_dup_keys(struct conv *c, const struct node *m)
{
	size_t first = m->n < 2 ? SIZE_MAX : first_dup(m);

	if (first != SIZE_MAX)
		node_error(c, m->keys[first], "duplicate key \"%s\"", m->keys[first]->s);
}

static void on_end(struct conv *c, struct build *b, const yaml_event_t *ev)
{
	struct open_coll *o;

	if (!b->depth)
		return;
	o = &b->open[--b->depth];
	close_kids(b, o);
	o->n->end = byte_off(c, ev->end_mark.index);
	if (o->n->type == T_MAP)
		check_dup_keys(c, o->n);
}

static void build_free(struct build *b)
{
	slp_arena_put(b->arena);
	free(b->kids);
	for (size_t i = 0; i < b->n_anchors; i++)
		free(b->anchors[i].name);
	free(b->anchors);
}

/* ---- documents --------------------------------------------------------- */

/* The text of node N, from the start of its first line, with whatever
 * precedes N on that line ("--- ", "- ") blanked so columns stay put. */
static char *slice_text(const struct conv *c, const struct node *n, struct arena *mem)
{
	size_t b = n->off, e = n->end, i, o = 0;
	char *t;

	if (e > c->len)
		e = c->len;
	if (b > e)
		b = e;
	while (b > 0 && !break_before(c->src, b))
		b--;
	t = arena_alloc(mem, e - b + 2);
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

static void docs_push(struct docs *ds, struct node *root, struct slp_arena *arena,
		      const struct conv *c, int src_line)
{
	const char *file = map_file(c, src_line);
	struct doc *dc;

	if (ds->n == ds->cap) {
		ds->cap = ds->cap ? ds->cap * 2 : 8;
		ds->v = slp_xrealloc(ds->v, ds->cap, sizeof(*ds->v));
	}
	dc = &ds->v[ds->n++];
	dc->root = root;
	dc->arena = slp_arena_ref(arena);
	dc->file = arena_strndup(slp_arena_mem(arena), file, strlen(file));
	dc->line = root->line;
	dc->text = slice_text(c, root, slp_arena_mem(arena));
}

static bool is_list(const struct node *root)
{
	const char *k = slp_node_str(slp_map_get(root, "kind"));

	return k && !strcmp(k, "List") && slp_map_get(root, "items");
}

/* A "kind: List" (kubectl get -o yaml) contributes each of its items,
 * which share its arena. */
static void add_doc(struct conv *c, struct docs *ds, struct node *root, struct slp_arena *arena)
{
	struct node *items;
	size_t i;

	if (root->type != T_MAP || !is_list(root)) {
		docs_push(ds, root, arena, c, root->sline);
		return;
	}
	items = slp_map_get(root, "items");
	if (items->type != T_SEQ) {
		slp_diag_add(c->d, SL_SEV_ERROR, map_file(c, items->sline),
			 items->line, items->col, "items",
			 "expected sequence, got %s", slp_ntype_name(items->type));
		c->errors++;
		return;
	}
	for (i = 0; i < items->n; i++)
		docs_push(ds, items->vals[i], arena, c, items->vals[i]->sline);
}

static void parser_error(struct conv *c, const yaml_parser_t *yp)
{
	yaml_mark_t m = yp->problem_mark;
	char buf[512];

	if (yp->context)
		snprintf(buf, sizeof(buf), "%s (%s at line %d, column %d)",
			 yp->problem ? yp->problem : "invalid YAML", yp->context,
			 map_line(c, (int)yp->context_mark.line + 1 + c->line_base),
			 (int)yp->context_mark.column + 1);
	else
		snprintf(buf, sizeof(buf), "%s",
			 yp->problem ? yp->problem : "invalid YAML");
	conv_error(c, m, "%s", buf);
}

static void on_document_end(struct conv *c, struct build *b, struct docs *ds)
{
	struct node *root = b->root;

	b->root = NULL;
	if (root && root->type != T_NULL)
		add_doc(c, ds, root, b->arena);
}

/* One event; false at the end of the stream. */
static bool on_event(struct conv *c, struct build *b, struct docs *ds, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return false;
	case YAML_DOCUMENT_END_EVENT:
		on_document_end(c, b, ds);
		break;
	case YAML_SCALAR_EVENT:
		on_scalar(c, b, ev);
		break;
	case YAML_SEQUENCE_START_EVENT:
		on_start(c, b, ev, T_SEQ);
		break;
	case YAML_MAPPING_START_EVENT:
		on_start(c, b, ev, T_MAP);
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		on_end(c, b, ev);
		break;
	case YAML_ALIAS_EVENT:
		on_alias(c, b, ev);
		break;
	default:
		break;
	}
	return true;
}

/* Parse every document, stopping at the first error. */
static void parse_stream(struct conv *c, yaml_parser_t *yp, struct docs *ds)
{
	struct build b;
	yaml_event_t ev;
	bool more = true;

	memset(&b, 0, sizeof(b));
	while (more && !c->errors) {
		if (!yaml_parser_parse(yp, &ev)) {
			parser_error(c, yp);
			break;
		}
		more = on_event(c, &b, ds, &ev);
		yaml_event_delete(&ev);
	}
	build_free(&b);
}

static void parse_range(struct conv *c, size_t b, size_t e, struct docs *out)
{
	yaml_parser_t yp;

	if (!yaml_parser_initialize(&yp))
		abort();
	yaml_parser_set_input_string(&yp, (const unsigned char *)c->src + b, e - b);
	parse_stream(c, &yp, out);
	yaml_parser_delete(&yp);
}

/*
 * Two parts parsed at once. A full apply's source is mostly libyaml's
 * work and our trees', which only a second CPU shortens. The cut is the
 * first "---" document marker at a line start after the middle: YAML
 * forbids such a line inside any content, so both parts hold whole
 * documents and parse to exactly the documents of the whole. Where that
 * does not hold (the source has an error, or a directive line before the
 * marker) a part fails and the caller parses the whole source in one
 * piece, so errors read as they always did.
 */
static size_t split_point(const char *src, size_t len)
{
	const char *p = src + len / 2, *end = src + len;

	while ((p = memmem(p, (size_t)(end - p), "\n---", 4))) {
		const char *q = p + 4;

		if (q == end || *q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			return (size_t)(p + 1 - src);
		p = q;
	}
	return 0;
}

struct part {
	struct conv c;
	size_t b, e;
	struct docs docs;
	struct sl_diags d;
};

/* Lines and characters before the part, as libyaml would have counted
 * them reading from the start. */
static void part_bases(struct part *pt)
{
	const struct conv *c = &pt->c;
	const char *p = c->src, *end = c->src + pt->b;
	size_t lo = 0, hi = c->n_chars, bl;

	for (pt->c.line_base = 0; p < end; p += bl ? bl : 1)
		if ((bl = break_len(p, end)))
			pt->c.line_base++;
	if (!c->c2b) {
		pt->c.char_base = pt->b;
		return;
	}
	while (lo < hi) { /* c2b is ascending: the character at byte b */
		size_t mid = (lo + hi) / 2;

		if (c->c2b[mid] < pt->b)
			lo = mid + 1;
		else
			hi = mid;
	}
	pt->c.char_base = lo;
}

static void part_main(void *arg)
{
	struct part *pt = arg;

	if (pt->b)
		part_bases(pt);
	parse_range(&pt->c, pt->b, pt->e, &pt->docs);
}

static void docs_append(struct docs *to, struct docs *from)
{
	if (to->n + from->n > to->cap) {
		to->cap = to->n + from->n;
		to->v = slp_xrealloc(to->v, to->cap, sizeof(*to->v));
	}
	memcpy(to->v + to->n, from->v, from->n * sizeof(*from->v));
	to->n += from->n;
	free(from->v);
	memset(from, 0, sizeof(*from));
}

/* 0: OUT holds the documents of both parts; -1: parse in one piece. */
static int parse_split(const struct conv *c, struct docs *out)
{
	size_t cut = c->len >= split_min ? split_point(c->src, c->len) : 0;
	struct part pt[2];
	int i;

	if (!cut)
		return -1;
	memset(pt, 0, sizeof(pt));
	for (i = 0; i < 2; i++) {
		pt[i].c = *c;
		pt[i].c.d = &pt[i].d;
		pt[i].b = i ? cut : 0;
		pt[i].e = i ? c->len : cut;
	}
	sl_par2(part_main, &pt[0], &pt[1]);
	for (i = 0; i < 2; i++)
		sl_diags_free(&pt[i].d);
	if (pt[0].c.errors || pt[1].c.errors) {
		slp_docs_free(&pt[0].docs);
		slp_docs_free(&pt[1].docs);
		return -1;
	}
	docs_append(&pt[0].docs, &pt[1].docs);
	*out = pt[0].docs;
	return 0;
}

int slp_yaml_parse_source(const char *name, const char *src, size_t len,
		      struct docs *out, struct sl_diags *d)
{
	struct conv c = { .name = name, .src = src, .len = len, .d = d };
	size_t i;

	memset(out, 0, sizeof(*out));
	/* Objects keep their text as slices of SRC, so it must be UTF-8 (what
	 * Kubernetes accepts too); libyaml would decode UTF-16 silently. */
	if (len >= 2 && (((unsigned char)src[0] == 0xff && (unsigned char)src[1] == 0xfe) ||
			 ((unsigned char)src[0] == 0xfe && (unsigned char)src[1] == 0xff))) {
		slp_diag_add(d, SL_SEV_ERROR, name, 1, 1, "", "UTF-16 input not supported: use UTF-8");
		return -1;
	}
	if (len > MAX_SOURCE_BYTES) {
		slp_diag_add(d, SL_SEV_ERROR, name, 0, 0, "",
			     "%zu bytes: a policy source may be at most %u MiB", len,
			     MAX_SOURCE_BYTES >> 20);
		return -1;
	}
	linemap_build(&c);
	charmap_build(&c);
	if (parse_split(&c, out))
		parse_range(&c, 0, len, out);
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
		slp_arena_put(ds->v[i].arena);
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
	/* Every field read is a search of its mapping: the first byte
	 * settles most comparisons without a call. */
	for (i = 0; i < m->n; i++)
		if (m->keys[i]->s[0] == key[0] && !strcmp(m->keys[i]->s, key))
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
