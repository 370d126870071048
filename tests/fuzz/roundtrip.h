/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The store round trip, checked: what `sluice apply` accepted must read
 * back from the store as the same policy. Shared by the fuzz target
 * (tests/fuzz/fuzz_policy.c) and the property test
 * (tests/unit/test_policy_store.c).
 *
 * A source that loads is serialized and loaded again under the store's
 * name; then the policy must hold as many objects, compile the same way
 * (both fail, or equal tables), give the same diagnostics (the original
 * file names and lines included), and serialize to the same bytes.
 * Load diagnostics count from warnings up (the notes about skipped kinds
 * belong to objects that are not stored), in any order.
 */
#ifndef SLUICE_TESTS_ROUNDTRIP_H
#define SLUICE_TESTS_ROUNDTRIP_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

/* The printed diagnostics of at least severity MIN (malloc'd). */
static char *rt_diag_text(const struct sl_diags *d, enum sl_severity min)
{
	struct sl_diags f = *d;
	char *buf = NULL;
	size_t n = 0, i;
	FILE *m = open_memstream(&buf, &n);

	f.v = calloc(d->n + 1, sizeof(*f.v));
	if (!m || !f.v)
		abort();
	for (f.n = i = 0; i < d->n; i++)
		if (d->v[i].sev >= min)
			f.v[f.n++] = d->v[i];
	sl_diags_print(&f, m);
	fclose(m);
	free(f.v);
	return buf;
}

static int rt_cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of TEXT in sorted order (TEXT is freed, the result malloc'd):
 * a load reports in source order, the store holds objects sorted. */
static char *rt_sort_lines(char *text)
{
	size_t n = 0, i, len = strlen(text);
	char **v = calloc(len + 1, sizeof(*v)), *out = malloc(len + 1), *p, *nl, *o = out;

	if (!v || !out)
		abort();
	/* Every printed diagnostic ends with a newline. */
	for (p = text; (nl = strchr(p, '\n')); p = nl + 1) {
		v[n++] = p;
		*nl = 0;
	}
	qsort(v, n, sizeof(*v), rt_cmp_line);
	for (i = 0; i < n; i++)
		o += sprintf(o, "%s\n", v[i]);
	*o = 0;
	free(v);
	free(text);
	return out;
}

/* What loading and compiling a source gave. */
struct rt_outcome {
	int compiled;
	struct sl_tables t;
	char *load_diags, *compile_diags;
};

static void rt_outcome_of(const struct sl_policy *p, const struct sl_diags *dl,
			  const struct sl_compile_opts *o, struct rt_outcome *r)
{
	struct sl_diags dc = { 0 };

	r->load_diags = rt_sort_lines(rt_diag_text(dl, SL_SEV_WARNING));
	r->compiled = sl_policy_compile(p, o, &r->t, &dc) == 0;
	r->compile_diags = rt_diag_text(&dc, SL_SEV_NOTE);
	sl_diags_free(&dc);
}

static void rt_outcome_free(struct rt_outcome *r)
{
	if (r->compiled)
		sl_tables_free(&r->t);
	free(r->load_diags);
	free(r->compile_diags);
}

/* The stored form of P against A; NULL when it holds, else what broke. */
static const char *rt_stored(const struct sl_policy *p, const struct rt_outcome *a,
			     const struct sl_compile_opts *o, const char *s, size_t len)
{
	struct sl_policy *q = sl_policy_new();
	struct sl_diags d = { 0 };
	struct rt_outcome b = { 0 };
	const char *why = NULL;
	size_t len2 = 0;
	char *s2 = NULL;

	if (!q)
		abort();
	if (sl_policy_load(q, SL_STORE_SOURCE, s, len, &d) ||
	    sl_policy_count(q) != sl_policy_count(p)) {
		why = "the stored policy does not load again";
		goto out;
	}
	rt_outcome_of(q, &d, o, &b);
	s2 = sl_policy_serialize(q, &len2);
	if (b.compiled != a->compiled)
		why = "the stored policy compiles differently";
	else if (a->compiled && !sl_tables_equal(&a->t, &b.t))
		why = "the stored policy compiles to other tables";
	else if (strcmp(a->load_diags, b.load_diags) || strcmp(a->compile_diags, b.compile_diags))
		why = "the stored policy gives other diagnostics";
	else if (!s2 || len != len2 || memcmp(s, s2, len))
		why = "the stored policy serializes differently";
	rt_outcome_free(&b);
out:
	free(s2);
	sl_diags_free(&d);
	sl_policy_free(q);
	return why;
}

/* Load SRC as NAME; when accepted (*ACCEPTED), check the round trip.
 * *STORE (may be NULL) gets the serialized policy, for a report. */
static const char *rt_check(const char *name, const char *src, size_t len,
			    const struct sl_compile_opts *o, bool *accepted, char **store)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_diags d = { 0 };
	struct rt_outcome a;
	const char *why = NULL;
	size_t slen = 0;
	char *s = NULL;

	if (!p)
		abort();
	*accepted = sl_policy_load(p, name, src, len, &d) == 0;
	if (*accepted) {
		rt_outcome_of(p, &d, o, &a);
		s = sl_policy_serialize(p, &slen);
		why = s ? rt_stored(p, &a, o, s, slen) : "serialize failed";
		rt_outcome_free(&a);
	} else {
		/* The printer escapes whatever the input put into names. */
		free(rt_diag_text(&d, SL_SEV_NOTE));
	}
	if (store)
		*store = s;
	else
		free(s);
	sl_diags_free(&d);
	sl_policy_free(p);
	return why;
}

#endif
