/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* One apply, shared by `sluice apply/delete` and the agent (docs/APPLY.md). */
#ifndef SLUICE_APPLY_H
#define SLUICE_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"
#include "publish.h"

struct sl_source {
	const char *name; /* file name used in messages */
	const char *text;
	size_t len;
};

enum sl_apply_mode {
	SL_APPLY_MERGE, /* upsert the sources' objects into the applied policy */
	SL_APPLY_REMOVE, /* remove the objects the sources name */
	SL_APPLY_REPLACE, /* the sources are the whole policy (the agent's mode) */
};

struct sl_apply_result {
	size_t n_objects, n_services, n_backends;
	double compile_ms, total_ms;
	bool incremental_compile; /* only the affected services were compiled */
	size_t recompiled; /* those services */
	const char *whole_why; /* why the whole policy was compiled (NULL: it was not tried) */
	struct sl_publish_report pub;
};

/* Returns 0 on success; -EINVAL when the input was rejected (D holds the
 * errors, no map was changed); another -errno on a system failure. The
 * sources are parsed before the pin-root lock is taken; the rest runs
 * under it. DRY_RUN runs every check an apply runs (the compiler's limits,
 * the store size, every map's capacity) and writes nothing. */
int sl_apply(const char *pin_root, const struct sl_source *src, size_t n,
	     enum sl_apply_mode mode, bool dry_run, struct sl_diags *d,
	     struct sl_apply_result *r);

/* Repair an interrupted apply (sl_publish_repair) under the pin-root lock;
 * WAIT false gives -EWOULDBLOCK instead of waiting while an apply runs.
 * Returns 1 when it repaired something, 0 when nothing needed it. For the
 * agent (at start and on every periodic tick) and `sluice status`. */
int sl_repair(const char *pin_root, bool wait);

#endif
