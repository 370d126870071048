/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The result lines every unit test prints (docs/TESTING.md): "ok NAME" or
 * "FAIL NAME: why", one per case. Each test is its own program, so the
 * state below is per program.
 */
#ifndef SLUICE_TESTS_UNIT_H
#define SLUICE_TESTS_UNIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int failures; /* cases that failed: the exit status */
static const char *cur; /* the case being run by run() */
static bool cur_failed;

/* Report a failure of the current case (the first of several stands). */
static void fail_msg(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static void fail_msg(int line, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: line %d: ", cur, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	cur_failed = true;
}

/* Assertions of a case, with the message as printf arguments: EXPECT
 * records a failure and goes on, CHECK also leaves the case (a void
 * function), CHECK_OUT jumps to its label `out` (to free what it holds). */
#define EXPECT(cond, ...)                                                                           \
	do {                                                                                        \
		if (!(cond))                                                                        \
			fail_msg(__LINE__, __VA_ARGS__);                                            \
	} while (0)
#define CHECK(cond, ...)                                                                            \
	do {                                                                                        \
		if (!(cond)) {                                                                      \
			fail_msg(__LINE__, __VA_ARGS__);                                            \
			return;                                                                     \
		}                                                                                   \
	} while (0)
#define CHECK_OUT(cond, ...)                                                                        \
	do {                                                                                        \
		if (!(cond)) {                                                                      \
			fail_msg(__LINE__, __VA_ARGS__);                                            \
			goto out;                                                                   \
		}                                                                                   \
	} while (0)

/* Run one case, printing "ok NAME" unless it failed. */
static void __attribute__((unused)) run(const char *name, void (*fn)(void))
{
	cur = name;
	cur_failed = false;
	fn();
	if (cur_failed)
		failures++;
	else
		printf("ok %s\n", name);
}

/* The result of case NAME: FMT NULL for ok, else why it failed. */
static void result(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static void result(const char *name, const char *fmt, ...)
{
	va_list ap;

	if (!fmt) {
		printf("ok %s\n", name);
		return;
	}
	failures++;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

#ifdef SLUICE_POLICY_H
#include <stdlib.h>

/* The printed diagnostics of at least severity MIN, as one string
 * (malloc'd), for tests of the compiler's messages. */
__attribute__((unused)) static char *diag_text(const struct sl_diags *d, enum sl_severity min)
{
	struct sl_diags f = *d;
	struct sl_diag *v = calloc(d->n + 1, sizeof(*v));
	char *buf = NULL;
	size_t n = 0, i;
	FILE *m;

	f.v = v;
	f.n = 0;
	for (i = 0; i < d->n; i++)
		if (d->v[i].sev >= min)
			v[f.n++] = d->v[i];
	m = open_memstream(&buf, &n);
	sl_diags_print(&f, m);
	fclose(m);
	free(v);
	return buf;
}
#endif

#endif
