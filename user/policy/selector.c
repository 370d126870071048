// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kubernetes label selectors (metav1.LabelSelector) and label syntax.
 *
 * A selector is matchLabels AND every matchExpressions entry; an empty
 * selector ({}) selects everything. Labels are read through a getter so a
 * namespace can answer kubernetes.io/metadata.name without that label being
 * written in its object.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *slp_node_label(const void *labels, const char *key)
{
	const struct node *v = slp_map_get(labels, key);

	return v && v->type != T_SEQ && v->type != T_MAP ? v->s : NULL;
}

static bool in_values(const struct node *vals, const char *v)
{
	size_t i;

	for (i = 0; i < slp_seq_len(vals); i++)
		if (slp_node_str(vals->vals[i]) && !strcmp(vals->vals[i]->s, v))
			return true;
	return false;
}

static bool expr_match(const struct node *e, slp_label_get get, const void *ctx)
{
	const char *op = slp_node_str(slp_map_get(e, "operator"));
	const char *key = slp_node_str(slp_map_get(e, "key"));
	const struct node *vals = slp_map_get(e, "values");
	const char *v;

	if (!op || !key)
		return false; /* rejected at load; never selects */
	v = get(ctx, key);
	if (!strcmp(op, "In"))
		return v && in_values(vals, v);
	if (!strcmp(op, "NotIn"))
		return !v || !in_values(vals, v);
	if (!strcmp(op, "Exists"))
		return v != NULL;
	return v == NULL; /* DoesNotExist */
}

bool slp_selector_match(const struct node *sel, slp_label_get get, const void *ctx)
{
	const struct node *ml = slp_map_get(sel, "matchLabels");
	const struct node *ex = slp_map_get(sel, "matchExpressions");
	const char *v;
	size_t i;

	for (i = 0; ml && ml->type == T_MAP && i < ml->n; i++) {
		v = get(ctx, ml->keys[i]->s);
		if (!v || !ml->vals[i]->s || strcmp(v, ml->vals[i]->s))
			return false;
	}
	for (i = 0; i < slp_seq_len(ex); i++)
		if (!expr_match(ex->vals[i], get, ctx))
			return false;
	return true;
}

/* [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 characters. */
static bool name_ok(const char *s, size_t n)
{
	size_t i;

	if (!n || n > 63 || !isalnum((unsigned char)s[0]) ||
	    !isalnum((unsigned char)s[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
			return false;
	return true;
}

bool slp_label_key_ok(const char *k)
{
	const char *slash = strchr(k, '/');

	if (!slash)
		return name_ok(k, strlen(k));
	return slp_dns_subdomain_ok(k, (size_t)(slash - k)) && name_ok(slash + 1, strlen(slash + 1));
}

bool slp_label_value_ok(const char *v)
{
	return !*v || name_ok(v, strlen(v));
}

bool slp_labels_match(const struct node *labels, const struct node *sel)
{
	const struct node *v;
	size_t i;

	if (!sel || sel->type != T_MAP)
		return true;
	for (i = 0; i < sel->n; i++) {
		v = slp_map_get(labels, sel->keys[i]->s);
		if (!v || !v->s || !sel->vals[i]->s || strcmp(v->s, sel->vals[i]->s))
			return false;
	}
	return true;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp((*(struct node *const *)a)->s, (*(struct node *const *)b)->s);
}

void slp_labels_fmt(const struct node *labels, char *buf, size_t len)
{
	struct node **k;
	size_t i, off = 0;
	const struct node *v;
	int w;

	buf[0] = 0;
	if (!labels || labels->type != T_MAP || !labels->n)
		return;
	k = slp_xcalloc(labels->n, sizeof(*k));
	memcpy(k, labels->keys, labels->n * sizeof(*k));
	qsort(k, labels->n, sizeof(*k), cmp_str_ptr);
	for (i = 0; i < labels->n && off < len; i++) {
		v = slp_map_get(labels, k[i]->s);
		w = snprintf(buf + off, len - off, "%s%s=%s", i ? "," : "",
			     k[i]->s, v && v->s ? v->s : "");
		if (w < 0)
			break;
		off += (size_t)w;
	}
	free(k);
}

bool slp_str_seq_has(const struct node *seq, const char *s)
{
	for (size_t i = 0; i < slp_seq_len(seq); i++)
		if (slp_node_str(seq->vals[i]) && !strcmp(seq->vals[i]->s, s))
			return true;
	return false;
}
