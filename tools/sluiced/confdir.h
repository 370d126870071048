/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The config directory, read whole or not at all.
 *
 * The agent applies the directory with replace semantics: whatever is not
 * in the sources is removed from the data plane. So a file that is there but
 * cannot be read (a dangling symlink, a directory or FIFO named x.yaml, a
 * permission or I/O error) must reject the whole directory, exactly like a
 * file that does not parse; skipping it would delete its services.
 *
 * Read: entries named *.yaml or *.yml that do not start with '.' (editors'
 * swap files, ConfigMap's ..data internals), followed through symlinks
 * (ConfigMap volumes are symlinks into ..data), which must end at a regular
 * file. Opened non-blocking, so a FIFO cannot stall the agent.
 */
#ifndef SLUICED_CONFDIR_H
#define SLUICED_CONFDIR_H

#include <stddef.h>

#include "apply.h"

struct confdir {
	struct sl_source *src; /* names are DIR/FILE, texts malloc'd */
	size_t n;
};

/* 0 with every file of DIR in C (sorted by name), or -errno with nothing
 * in C and WHY naming the entry that could not be read and why. */
int confdir_read(const char *dir, struct confdir *c, char *why, size_t why_len);
void confdir_free(struct confdir *c);
/* One file NAME of DIR, read as confdir_read reads each: 0 with *TEXT
 * (malloc'd), -ENOENT when it is not there, or -errno with WHY. */
int confdir_read_file(const char *dir, const char *name, char **text, size_t *len, char *why,
		      size_t why_len);

#endif
