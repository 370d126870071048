// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Diagnostics: every message carries file, line, column and field path. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void sl_diags_free(struct sl_diags *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].path);
		free(d->v[i].msg);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

/* FROM's messages after D's, in order; FROM is left empty. */
void slp_diags_move(struct sl_diags *d, struct sl_diags *from)
{
	if (d->n + from->n > d->cap) {
		d->cap = d->n + from->n;
		d->v = slp_xrealloc(d->v, d->cap, sizeof(*d->v));
	}
	if (from->n)
		memcpy(d->v + d->n, from->v, from->n * sizeof(*from->v));
	d->n += from->n;
	d->n_errors += from->n_errors;
	free(from->v);
	memset(from, 0, sizeof(*from));
}

static const char *sev_name(enum sl_severity s)
{
	switch (s) {
	case SL_SEV_ERROR:
		return "error";
	case SL_SEV_WARNING:
		return "warning";
	default:
		return "note";
	}
}

/* File, path and message carry input (file names, keys, quoted values):
 * escaped, so that one diagnostic is one line and holds no control codes. */
void sl_diags_print(const struct sl_diags *d, FILE *out)
{
	const struct sl_diag *g;
	size_t i;

	for (i = 0; i < d->n; i++) {
		g = &d->v[i];
		sl_fputs_esc(out, g->file);
		if (g->line > 0)
			fprintf(out, ":%d:%d", g->line, g->col);
		fprintf(out, ": %s: ", sev_name(g->sev));
		if (g->path && *g->path) {
			sl_fputs_esc(out, g->path);
			fputs(": ", out);
		}
		sl_fputs_esc(out, g->msg);
		fputc('\n', out);
	}
}

void slp_diag_addv(struct sl_diags *d, enum sl_severity sev, const char *file,
	       int line, int col, const char *path, const char *fmt, va_list ap)
{
	struct sl_diag *g;
	char *msg = NULL;

	if (!d)
		return;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;

		d->v = slp_xrealloc(d->v, cap, sizeof(*d->v));
		d->cap = cap;
	}
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	g = &d->v[d->n++];
	g->sev = sev;
	g->file = slp_xstrdup(file ? file : "<input>");
	g->line = line;
	g->col = line > 0 ? (col > 0 ? col : 1) : 0;
	g->path = slp_xstrdup(path ? path : "");
	g->msg = msg;
	if (sev == SL_SEV_ERROR)
		d->n_errors++;
}

void slp_diag_add(struct sl_diags *d, enum sl_severity sev, const char *file,
	      int line, int col, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	slp_diag_addv(d, sev, file, line, col, path, fmt, ap);
	va_end(ap);
}

void slp_diag_at(struct sl_diags *d, enum sl_severity sev, const struct object *o,
	     const struct node *n, const char *path, const char *fmt, ...)
{
	va_list ap;
	int line = n ? n->line : o->line, col = n ? n->col : 1;

	va_start(ap, fmt);
	slp_diag_addv(d, sev, o->file, line, col, path, fmt, ap);
	va_end(ap);
}

void sl_diags_add(struct sl_diags *d, enum sl_severity sev, const char *file, int line,
		  const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	slp_diag_addv(d, sev, file, line, 1, path, fmt, ap);
	va_end(ap);
}
