/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the agent last applied from its config directory, file by file, so
 * that a change of a few files is applied as a change of their objects
 * (sl_apply_parsed with the agent's kept model) rather than as the whole
 * directory parsed and applied again (docs/AGENT.md, "Applying a change").
 *
 * Kept per file: its text and the identities (kind, namespace, name) of
 * its objects; and, over all files, how many files hold each identity.
 * A change is staged from the files inotify named: each one read again,
 * parsed if its text changed; upserts are its objects, removals the
 * identities it no longer holds. The whole directory is read instead when
 * nothing is kept yet, when an event named something other than a YAML
 * file (a ConfigMap's ..data swap, the directory itself), when too many
 * files changed, or when an identity of a changed file is also held by
 * another file (which of the two wins depends on the order of the whole
 * directory: only the whole apply decides that as it always did).
 */
#ifndef SLUICED_FILES_H
#define SLUICED_FILES_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

struct agent_files;

struct agent_files *files_new(void);
void files_free(struct agent_files *f);

/* inotify named NAME (NULL: the directory itself). A YAML file's name is
 * read again next time (FILES_ONE). Another name (a temporary file, an
 * editor's) cannot change what the directory holds unless a YAML file
 * is a symlink (a ConfigMap's into ..data): then the whole directory is
 * read next time (FILES_ALL), else it is ignored (FILES_NONE). */
enum files_mark { FILES_NONE, FILES_ONE, FILES_ALL };
enum files_mark files_dirty(struct agent_files *f, const char *name);
/* The next staging reads the whole directory. */
void files_dirty_all(struct agent_files *f);

/* Stage the whole directory DIR: *WHOLE gets every object of every file
 * (sorted by name, later files winning, as a whole apply has always
 * read them). 0, -EINVAL with errors in D, or another -errno with WHY;
 * *READ_FAILED says whether an entry could not be read. */
int files_stage_whole(struct agent_files *f, const char *dir, struct sl_policy **whole,
		      struct sl_diags *d, char *why, size_t why_len, bool *read_failed);

/* Stage the change of the files named since the last commit: 1 with
 * *UP (objects to upsert) and *RM (identities to remove), 0 when no file
 * changed, -EAGAIN when the whole directory must be read instead, -EINVAL
 * with errors in D, or another -errno with WHY. */
int files_stage_change(struct agent_files *f, const char *dir, struct sl_policy **up,
		       struct sl_policy **rm, struct sl_diags *d, char *why, size_t why_len);

/* The staged state was applied (it is what the data plane holds now), or
 * was not (then the next staging reads the whole directory). */
void files_commit(struct agent_files *f);
void files_abort(struct agent_files *f);

#endif
