// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Prometheus text exposition (see prom.h). */
#include <stdio.h>
#include <string.h>

#include "prom.h"

/* A scrape writes ~15 labels per series and 390,000 series at 10,000
 * services: runs without a character to escape go out in one fwrite. */
void sl_prom_label(FILE *f, const char *name, const char *v, bool first)
{
	if (!first)
		fputc(',', f);
	fputs(name, f);
	fputs("=\"", f);
	while (*v) {
		size_t run = strcspn(v, "\"\\\n");

		fwrite(v, 1, run, f);
		v += run;
		if (!*v)
			break;
		fputs(*v == '\n' ? "\\n" : *v == '"' ? "\\\"" : "\\\\", f);
		v++;
	}
	fputc('"', f);
}

void sl_prom_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}
