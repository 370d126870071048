// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Fuzz target of the policy compiler: the input is one YAML source. It is
 * loaded and compiled; a source that loads must also survive the store
 * (serialize, load again, same object count and same compile result), which
 * is what `sluice get` relies on.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const struct sl_policy *p, int compiled,
		      const struct sl_compile_opts *o)
{
	struct sl_policy *q = sl_policy_new();
	struct sl_diags d = { 0 };
	struct sl_tables t;
	size_t len;
	char *s = sl_policy_serialize(p, &len);

	if (!s || !q)
		abort();
	if (sl_policy_load(q, "store", s, len, &d) || sl_policy_count(q) != sl_policy_count(p)) {
		fprintf(stderr, "stored policy does not reload:\n%s\n", s);
		sl_diags_print(&d, stderr);
		abort();
	}
	if ((sl_policy_compile(q, o, &t, &d) == 0) != compiled) {
		fprintf(stderr, "stored policy compiles differently\n");
		abort();
	}
	if (compiled)
		sl_tables_free(&t);
	free(s);
	sl_diags_free(&d);
	sl_policy_free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_policy *p = sl_policy_new();
	struct sl_diags d = { 0 };
	struct sl_compile_opts o;
	struct sl_tables t;
	FILE *null = fopen("/dev/null", "w");
	int compiled;

	if (!p || !null)
		abort();
	sl_compile_opts_default(&o);
	if (sl_policy_load(p, "fuzz.yaml", (const char *)data, size, &d) == 0) {
		compiled = sl_policy_compile(p, &o, &t, &d) == 0;
		if (compiled)
			sl_tables_free(&t);
		roundtrip(p, compiled, &o);
	}
	sl_diags_print(&d, null);
	fclose(null);
	sl_diags_free(&d);
	sl_policy_free(p);
	return 0;
}
