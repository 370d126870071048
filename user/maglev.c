// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Weighted Maglev. Plain Maglev gives every endpoint one turn per round; a
 * weighted one gives endpoint i a turn whenever its credit, which grows by
 * w_i / w_max per round, reaches one. Over the table that is M * w_i / W
 * cells, and the rounds keep the permutation walk of each endpoint exactly
 * as in Maglev, which is what bounds the disruption.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

#include "sluice_abi.h"
#include "maglev.h"

/* Ring sizes: primes near powers of two. A size depends on the endpoint
 * count only through this ladder, and a ring keeps its size while the count
 * stays in range (see sl_maglev_size), because a new size reshuffles every
 * cell: established flows keep their endpoint through connection tracking
 * anyway, but flows that lost their entry would move. */
static const uint32_t ladder[] = {
	251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071, 262139,
};

uint32_t sl_maglev_size(size_t n, uint32_t prev)
{
	size_t i;

	/* Keep the previous size while it gives every endpoint at least
	 * SL_MAGLEV_PER_EP / 2 cells and at most 8 times the target. */
	if (prev && (uint64_t)prev >= (uint64_t)n * SL_MAGLEV_PER_EP / 2 &&
	    (prev == ladder[0] || (uint64_t)prev <= (uint64_t)n * SL_MAGLEV_PER_EP * 8))
		return prev;
	for (i = 0; i < sizeof(ladder) / sizeof(ladder[0]) - 1; i++)
		if (ladder[i] >= (uint64_t)n * SL_MAGLEV_PER_EP)
			break;
	return ladder[i];
}

uint64_t sl_maglev_key(const void *id, size_t len, uint32_t salt)
{
	const unsigned char *p = id;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	for (int i = 0; i < 4; i++)
		h = (h ^ ((salt >> (8 * i)) & 0xff)) * 0x100000001b3ull;
	return h;
}

/* splitmix64 finaliser: spreads FNV's weak low bits. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

struct walk {
	uint32_t offset, skip, next;
	double credit, step;
	uint32_t cell;
	uint64_t key;
};

static int cmp_walk(const void *a, const void *b)
{
	const struct walk *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

/* Take endpoint W's next preferred free cell. */
static void take(struct walk *w, uint32_t m, uint32_t *cells, bool *used)
{
	uint32_t c;

	do {
		c = (uint32_t)(((uint64_t)w->offset + (uint64_t)w->next * w->skip) % m);
		w->next++;
	} while (used[c]);
	used[c] = true;
	cells[c] = w->cell;
}

static size_t prepare(const struct sl_maglev_ep *eps, size_t n, uint32_t m, struct walk *w)
{
	double wmax = 0;
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (eps[i].weight > wmax)
			wmax = eps[i].weight;
	for (size_t i = 0; i < n; i++) {
		if (!(eps[i].weight > 0))
			continue;
		w[k] = (struct walk){
			.offset = (uint32_t)(mix(eps[i].key) % m),
			.skip = (uint32_t)(mix(eps[i].key ^ 0x9e3779b97f4a7c15ull) % (m - 1)) + 1,
			.step = eps[i].weight / wmax,
			.cell = eps[i].cell,
			.key = eps[i].key,
		};
		k++;
	}
	/* Sorted by identity so that input order cannot change the table. */
	qsort(w, k, sizeof(*w), cmp_walk);
	return k;
}

int sl_maglev_fill(const struct sl_maglev_ep *eps, size_t n, uint32_t m, uint32_t *cells)
{
	struct walk *w;
	bool *used;
	uint32_t filled = 0;
	size_t k;

	if (m < 2 || !n)
		return -EINVAL;
	w = calloc(n, sizeof(*w));
	used = calloc(m, sizeof(*used));
	if (!w || !used) {
		free(w);
		free(used);
		return -ENOMEM;
	}
	k = prepare(eps, n, m, w);
	while (k && filled < m) {
		for (size_t i = 0; i < k && filled < m; i++) {
			w[i].credit += w[i].step;
			if (w[i].credit < 1.0)
				continue;
			w[i].credit -= 1.0;
			take(&w[i], m, cells, used);
			filled++;
		}
	}
	free(w);
	free(used);
	return k ? 0 : -EINVAL;
}
