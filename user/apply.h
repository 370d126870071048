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
	SL_APPLY_CHANGE, /* upserts and removals at once (sl_apply_parsed) */
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

/* What a long-lived applier (the agent) keeps between applies: the model
 * of the stored policy and the store's directory, so that an apply after
 * its own last one reads neither again (docs/APPLY.md). Dropped whenever
 * another writer applied in between, or an apply failed. */
struct sl_keep;
struct sl_keep *sl_keep_new(void);
void sl_keep_free(struct sl_keep *k);

/* An apply of objects the caller parsed itself (sl_policy_load), for the
 * agent: REPLACE makes UPSERTS the whole policy (REMOVES unused), else
 * UPSERTS are added or replaced and the identities in REMOVES removed.
 * Both policies are taken (freed here; either may be NULL). KEEP (may be
 * NULL) serves and learns the model. EXPECT_GEN, when not 0, must be the
 * live generation, else -ESTALE and nothing changes. Otherwise as
 * sl_apply(). */
int sl_apply_parsed(const char *pin_root, struct sl_keep *keep, uint32_t expect_gen,
		    struct sl_policy *upserts, struct sl_policy *removes, bool replace,
		    struct sl_diags *d, struct sl_apply_result *r);

/* Repair an interrupted apply (sl_publish_repair, SWEEP as there) under
 * the pin-root lock; WAIT false gives -EWOULDBLOCK instead of waiting while
 * an apply runs. Returns 1 when it repaired something, 0 when nothing
 * needed it. For the agent (at start and on every periodic tick) and
 * `sluice status`. */
int sl_repair(const char *pin_root, bool wait, bool sweep);

#endif
