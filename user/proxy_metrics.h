/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The node proxy's metrics, served with the kernel's (docs/PROXY.md,
 * "Metrics"). sluice-proxy rewrites its Prometheus text every second in a
 * file named after the pin root; `sluice metrics` and the agent read it and
 * put its samples into the same families as the kernel's (Istio's TCP
 * series), and its own families after. Plain text only: nothing here links
 * the proxy's libraries.
 */
#ifndef SLUICE_PROXY_METRICS_H
#define SLUICE_PROXY_METRICS_H

#include <stddef.h>
#include <stdio.h>

#define SL_PROXY_METRICS_DIR "/run/sluice"
#define SL_PROXY_METRICS_FRESH_S 10 /* older: the proxy is not running */

/* DIR/<pin root with '/' as '_'>.proxy.prom */
int sl_proxy_metrics_path(const char *pin_root, char *buf, size_t len);
/* The file's text when it is fresh, else NULL (malloc'd). */
char *sl_proxy_metrics_load(const char *pin_root);
/* The sample lines of FAMILY (no HELP/TYPE: the caller wrote those). */
void sl_proxy_metrics_family(FILE *f, const char *text, const char *family);
/* Whole families (HELP, TYPE, samples) whose names are not in SKIP (NULL-ended). */
void sl_proxy_metrics_others(FILE *f, const char *text, const char *const *skip);

#endif
