/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Node-ingress and pod-interface metric families (user/metrics_node.c). */
#ifndef SLUICE_METRICS_NODE_H
#define SLUICE_METRICS_NODE_H

#include <stdio.h>

struct sl_maps;
void sl_metrics_node(FILE *f, struct sl_maps *m);

#endif
