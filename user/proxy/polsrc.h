/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Policy from YAML files, for `ca serve` and a proxy without a pin root. */
#ifndef SLUICE_PROXY_POLSRC_H
#define SLUICE_PROXY_POLSRC_H

#include <stdint.h>

#include "mesh.h"

/* A file, or every *.yaml / *.yml of a directory (sorted). */
struct sl_policy *sl_policy_from_path(const char *path, struct sl_diags *d);
/* Parse a duration "90s", "10m", "24h", "7d" (or plain seconds); -1 on error. */
long sl_parse_secs(const char *s);

#endif
