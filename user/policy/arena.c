// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Memory freed whole: see arena.h. */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

/* Blocks grow from one small object's worth to 2 MiB, so that a small
 * source costs one block and a big one few, without much left unused.
 * (Huge-page advice on the big blocks was tried: no faster here, the
 * kernel zeroes the same bytes either way.) */
#define FIRST_BLOCK 4096u
#define MAX_BLOCK (2u << 20)

struct arena_blk {
	struct arena_blk *next;
	size_t used, cap;
	alignas(16) unsigned char mem[];
};

static struct arena_blk *blk_add(struct arena *a, size_t need)
{
	size_t cap = a->blk ? a->blk->cap : FIRST_BLOCK;
	struct arena_blk *b;

	if (a->blk)
		cap = cap * 2 < MAX_BLOCK ? cap * 2 : MAX_BLOCK - sizeof(*b);
	while (cap < need)
		cap *= 2;
	b = malloc(sizeof(*b) + cap);
	if (!b)
		abort();
	b->next = a->blk;
	b->used = 0;
	b->cap = cap;
	a->blk = b;
	return b;
}

void *arena_alloc(struct arena *a, size_t n)
{
	const size_t align = alignof(size_t);
	struct arena_blk *b = a->blk;

	n = (n + align - 1) & ~(align - 1);
	if (!b || b->cap - b->used < n)
		b = blk_add(a, n);
	b->used += n;
	return b->mem + b->used - n;
}

void *arena_zalloc(struct arena *a, size_t n)
{
	return memset(arena_alloc(a, n), 0, n);
}

void *arena_dup(struct arena *a, const void *p, size_t n)
{
	void *d = arena_alloc(a, n ? n : 1);

	if (n)
		memcpy(d, p, n);
	return d;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

void arena_free(struct arena *a)
{
	while (a->blk) {
		struct arena_blk *n = a->blk->next;

		free(a->blk);
		a->blk = n;
	}
}

struct slp_arena {
	struct arena mem;
	unsigned refs;
};

struct slp_arena *slp_arena_new(void)
{
	struct slp_arena *a = calloc(1, sizeof(*a));

	if (!a)
		abort();
	a->refs = 1;
	return a;
}

struct slp_arena *slp_arena_ref(struct slp_arena *a)
{
	if (a)
		a->refs++;
	return a;
}

void slp_arena_put(struct slp_arena *a)
{
	if (!a || --a->refs)
		return;
	arena_free(&a->mem);
	free(a);
}

struct arena *slp_arena_mem(struct slp_arena *a)
{
	return &a->mem;
}
