/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Memory freed whole: blocks that grow from 4 KB to 2 MiB, for data that
 * is built once and dropped together (parsed trees, the model's
 * summaries). One malloc() and free() per node made allocation and
 * freeing a third of a full apply (bench/RESULTS.md, issue 10).
 */
#ifndef SLUICE_POLICY_ARENA_H
#define SLUICE_POLICY_ARENA_H

#include <stddef.h>

struct arena_blk;
struct arena {
	struct arena_blk *blk;
};

/* N bytes aligned for pointers and sizes (not zeroed); abort() when out of
 * memory, as slp_xcalloc(). */
void *arena_alloc(struct arena *a, size_t n);
void *arena_zalloc(struct arena *a, size_t n);
void *arena_dup(struct arena *a, const void *p, size_t n);
/* The N bytes at S and a terminating NUL. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
void arena_free(struct arena *a);

/* An arena shared by reference: the documents of one source become
 * objects of their own but live in the source's arena, which goes with
 * the last of them. */
struct slp_arena;
struct slp_arena *slp_arena_new(void);
struct slp_arena *slp_arena_ref(struct slp_arena *a);
void slp_arena_put(struct slp_arena *a);
struct arena *slp_arena_mem(struct slp_arena *a);

#endif
