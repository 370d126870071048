/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Feature availability and load completeness (user/metrics_load.c). */
#ifndef SLUICE_METRICS_LOAD_H
#define SLUICE_METRICS_LOAD_H

#include <stdio.h>

void sl_metrics_load(FILE *f, const char *pin_root);

#endif
