/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Weighted Maglev lookup tables for node ingress (Eisenbud et al., NSDI '16,
 * with turns in proportion to weight). Each endpoint walks its own
 * permutation of the M cells, seeded only by its identity, so a table built
 * without one endpoint differs from the full one in about 1/N of the cells:
 * the cells that endpoint held, plus a small spill-over.
 */
#ifndef SLUICE_MAGLEV_H
#define SLUICE_MAGLEV_H

#include <stddef.h>
#include <stdint.h>

struct sl_maglev_ep {
	uint64_t key; /* identity: the same endpoint must get the same key */
	double weight; /* > 0; shares of the table are proportional to it */
	uint32_t cell; /* what its cells hold (row | group << 24) */
};

/* Table size (a prime) for N endpoints: about SL_MAGLEV_PER_EP cells per
 * endpoint, from a fixed ladder. PREV is the ring's current size (0: new);
 * it is kept while it still fits N, so small endpoint changes never
 * resize a ring. */
uint32_t sl_maglev_size(size_t n, uint32_t prev);

/* Fill CELLS[0..M) from EPS. M must be prime. Endpoints with weight <= 0
 * get no cell. Returns 0, -EINVAL (no endpoint with weight, or M < 2),
 * -ENOMEM. The result does not depend on the order of EPS. */
int sl_maglev_fill(const struct sl_maglev_ep *eps, size_t n, uint32_t m, uint32_t *cells);

/* Identity key of an endpoint: FNV-1a 64 of its bytes and a salt. */
uint64_t sl_maglev_key(const void *id, size_t len, uint32_t salt);

#endif /* SLUICE_MAGLEV_H */
