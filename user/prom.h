/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Prometheus text exposition: the pieces every metric writer shares (the
 * kernel metrics of user/metrics*.c and the agent's own). */
#ifndef SLUICE_PROM_H
#define SLUICE_PROM_H

#include <stdbool.h>
#include <stdio.h>

/* # HELP and # TYPE lines of a family. */
void sl_prom_family(FILE *f, const char *name, const char *type, const char *help);
/* NAME="VALUE" with escaping; a comma before it unless FIRST. */
void sl_prom_label(FILE *f, const char *name, const char *v, bool first);

#endif
