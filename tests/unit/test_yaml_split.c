// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A big source is parsed in two parts at once and its documents checked on
 * two threads (user/policy/yaml.c, policy.c). The property: whatever the
 * source, the result is exactly that of one thread: the same objects with
 * the same text, files and lines (the serialized policy), the same return
 * code and the same messages in the same order. Sources are generated with
 * what moves positions (non-ASCII text, CRLF and NEL line ends, comments,
 * "..." ends, Lists, the store's line markers) and errors put in either
 * half, in the YAML or in the schema.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "unit.h"

struct buf {
	char *p;
	size_t n, cap;
};

static void put(struct buf *b, const char *s)
{
	size_t l = strlen(s);

	if (b->n + l + 1 > b->cap) {
		b->cap = (b->n + l + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, s, l + 1);
	b->n += l;
}

/* LINE with the document's line end (LF, CRLF or NEL). */
static void line(struct buf *b, const char *eol, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void line(struct buf *b, const char *eol, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	put(b, tmp);
	put(b, eol);
}

/* Document I: a Service, a ServiceEntry or a List of two, with whatever
 * moves positions. BAD_YAML / BAD_SCHEMA: this document carries the error. */
static void doc(struct buf *b, unsigned i, bool bad_yaml, bool bad_schema)
{
	static const char *const eols[] = { "\n", "\r\n", "\n", "\xc2\x85" };
	const char *e = eols[i % 4];

	line(b, e, "--- # document %u", i);
	if (i % 5 == 0)
		line(b, e, "# a comment with \xe2\x98\x95 before the object");
	if (i % 7 == 3) {
		line(b, e, "apiVersion: v1");
		line(b, e, "kind: List");
		line(b, e, "items:");
		for (unsigned k = 0; k < 2; k++) {
			line(b, e, "- apiVersion: v1");
			line(b, e, "  kind: Service");
			line(b, e, "  metadata: {name: l%u-%u, namespace: ns%u}", i, k, i % 3);
			line(b, e, "  spec: {clusterIP: 10.97.%u.%u, ports: [{port: %u}]}",
			     (i >> 7) & 0xff, (i & 0x7f) * 2 + k, 80 + k);
		}
		return;
	}
	if (i % 2) {
		line(b, e, "apiVersion: networking.istio.io/v1beta1");
		line(b, e, "kind: ServiceEntry");
		line(b, e, "metadata:");
		line(b, e, "  name: se-%u", i);
		line(b, e, "  namespace: ns%u", i % 3);
		line(b, e, "  annotations: {note: \"caf\xc3\xa9 \xf0\x9f\x9a\x80 %u\"}", i);
		line(b, e, "spec:");
		line(b, e, "  hosts: [se-%u.example.com]", i);
		line(b, e, "  addresses: [10.98.%u.%u]", (i >> 8) & 0xff, i & 0xff);
		line(b, e, "  resolution: STATIC");
		line(b, e, "  ports:");
		line(b, e, "  - {number: %s, name: tcp, protocol: TCP}", bad_schema ? "eighty" : "80");
		line(b, e, "  endpoints:");
		line(b, e, "  - address: 127.2.%u.%u", (i >> 8) & 0xff, i & 0xff);
		line(b, e, "    ports: {tcp: 8080}");
	} else {
		line(b, e, "apiVersion: v1");
		line(b, e, "kind: Service");
		line(b, e, "metadata:");
		line(b, e, "  name: svc-%u", i);
		line(b, e, "  namespace: ns%u", i % 3);
		line(b, e, "spec:");
		line(b, e, "  clusterIP: 10.96.%u.%u", (i >> 8) & 0xff, i & 0xff);
		line(b, e, "  selector: {app: a%u}", i);
		line(b, e, "  ports:");
		line(b, e, "  - port: %s", bad_yaml ? "[80" : "80");
		line(b, e, "    targetPort: %s", bad_schema ? "{x: 1}" : "8080");
	}
	if (i % 6 == 4)
		line(b, e, "...");
}

/* N documents; error kinds at the given documents (N: none). */
static char *source(unsigned n, unsigned bad_yaml, unsigned bad_schema1, unsigned bad_schema2,
		    size_t *len)
{
	struct buf b = { 0 };

	put(&b, "\xef\xbb\xbf");
	for (unsigned i = 0; i < n; i++)
		doc(&b, i, i == bad_yaml, i == bad_schema1 || i == bad_schema2);
	*len = b.n;
	return b.p;
}

struct outcome {
	int rc;
	char *text; /* the serialized policy */
	char *diags;
};

static struct outcome load(const char *name, const char *src, size_t len, size_t split_min)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_diags d = { 0 };
	struct outcome o = { 0 };
	size_t n = 0;
	FILE *m;

	sl_policy_set_split_min(split_min);
	o.rc = sl_policy_load(p, name, src, len, &d);
	sl_policy_set_split_min(1u << 20);
	o.text = sl_policy_serialize(p, NULL);
	m = open_memstream(&o.diags, &n);
	if (m) {
		sl_diags_print(&d, m);
		fclose(m);
	}
	sl_diags_free(&d);
	sl_policy_free(p);
	return o;
}

static void outcome_free(struct outcome *o)
{
	free(o->text);
	free(o->diags);
}

/* Parsed in one piece and in two: the same result. Returns the one-piece
 * result (the caller frees it). */
static struct outcome same_both_ways(const char *what, const char *name, const char *src,
				     size_t len)
{
	struct outcome one = load(name, src, len, SIZE_MAX), two = load(name, src, len, 1);

	EXPECT(one.rc == two.rc, "%s: rc %d in one piece, %d in two", what, one.rc, two.rc);
	EXPECT(one.text && two.text && !strcmp(one.text, two.text),
	      "%s: the objects differ (%zu vs %zu bytes serialized)", what,
	      one.text ? strlen(one.text) : 0, two.text ? strlen(two.text) : 0);
	EXPECT(one.diags && two.diags && !strcmp(one.diags, two.diags),
	      "%s: messages differ:\n--- one piece:\n%s--- two:\n%s", what, one.diags ?: "",
	      two.diags ?: "");
	outcome_free(&two);
	return one;
}

/* Counts are large enough for the document checks to split as well
 * (policy.c splits from 1,024 documents). */
#define N_DOCS 1500u

static void t_valid_source(void)
{
	size_t len;
	char *src = source(N_DOCS, UINT32_MAX, UINT32_MAX, UINT32_MAX, &len);
	struct outcome o = same_both_ways("valid", "big.yaml", src, len);

	EXPECT(o.rc == 0, "the valid source was rejected:\n%s", o.diags ?: "");
	EXPECT(o.text && strstr(o.text, "se-1499") && strstr(o.text, "l1494-1"),
	      "objects of the end of the source are missing");
	outcome_free(&o);
	free(src);
}

/* The store's text: markers give every object its original file and line. */
static void t_store_source(void)
{
	size_t len;
	char *src = source(N_DOCS, UINT32_MAX, UINT32_MAX, UINT32_MAX, &len);
	struct outcome first = load("big.yaml", src, len, SIZE_MAX), o;

	EXPECT(first.rc == 0 && first.text, "the valid source was rejected");
	if (first.text) {
		o = same_both_ways("store", SL_STORE_SOURCE, first.text, strlen(first.text));
		EXPECT(o.text && !strcmp(o.text, first.text), "the store's text does not read back");
		outcome_free(&o);
	}
	outcome_free(&first);
	free(src);
}

static void t_yaml_error_each_half(void)
{
	/* Services (even, not 3 mod 7): the start, either side of the middle,
	 * the end. */
	const unsigned at[] = { 4, N_DOCS / 2 - 2, N_DOCS / 2 + 4, N_DOCS - 4 };

	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		size_t len;
		char *src = source(N_DOCS, at[i], UINT32_MAX, UINT32_MAX, &len);
		char what[64];
		struct outcome o;

		snprintf(what, sizeof(what), "YAML error in document %u", at[i]);
		o = same_both_ways(what, "big.yaml", src, len);
		EXPECT(o.rc != 0 && o.diags && strstr(o.diags, "big.yaml:"),
		      "%s: not rejected with a position", what);
		outcome_free(&o);
		free(src);
	}
}

/* Schema errors in both halves: all reported, in document order. */
static void t_schema_errors_both_halves(void)
{
	size_t len;
	char *src = source(N_DOCS, UINT32_MAX, 12, N_DOCS - 10, &len);
	struct outcome o = same_both_ways("schema errors", "big.yaml", src, len);

	const char *first = o.diags ? strstr(o.diags, "error:") : NULL;

	EXPECT(o.rc != 0, "schema errors not rejected");
	EXPECT(first && strstr(first + 1, "error:"), "not both errors reported:\n%s", o.diags ?: "");
	outcome_free(&o);
	free(src);
}

/* A directive before a marker near the middle is legal YAML after "...",
 * and a cut there would separate it from its document. */
static void t_directive_at_cut(void)
{
	struct buf b = { 0 };
	struct outcome o;

	/* Documents 6i: LF ends, no "..." of their own. Wherever the cut
	 * lands between 15 and 25, a directive is right before it. */
	for (unsigned i = 0; i < 40; i++) {
		if (i >= 15 && i <= 25)
			put(&b, "...\n%YAML 1.2\n");
		doc(&b, i * 6, false, false);
	}
	o = same_both_ways("directive", "d.yaml", b.p, b.n);
	EXPECT(o.rc == 0, "a directive after \"...\" was rejected:\n%s", o.diags ?: "");
	outcome_free(&o);
	free(b.p);
}

int main(void)
{
	run("split/valid-source", t_valid_source);
	run("split/store-source", t_store_source);
	run("split/yaml-error-each-half", t_yaml_error_each_half);
	run("split/schema-errors-both-halves", t_schema_errors_both_halves);
	run("split/directive-at-cut", t_directive_at_cut);
	return failures ? 1 : 0;
}
