// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Weighted Maglev: shares follow weights, and adding or removing one of N
 * endpoints moves about 1/N of the flows and no others. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

#include "sluice_abi.h"
#include "maglev.h"

static int failed;

#define CHECK(name, cond, ...)                                        \
	do {                                                          \
		if (cond) {                                           \
			printf("ok %s\n", name);                      \
		} else {                                              \
			printf("FAIL %s: ", name);                    \
			printf(__VA_ARGS__);                          \
			printf("\n");                                 \
			failed = 1;                                   \
		}                                                     \
	} while (0)

static void eps_make(struct sl_maglev_ep *e, size_t n, const double *w)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t id = 0x0a000001u + (uint32_t)i * 7; /* like an address */

		e[i] = (struct sl_maglev_ep){
			.key = sl_maglev_key(&id, sizeof(id), 0),
			.weight = w ? w[i] : 1.0,
			.cell = (uint32_t)i,
		};
	}
}

static uint32_t *table(const struct sl_maglev_ep *e, size_t n, uint32_t m)
{
	uint32_t *c = malloc(m * sizeof(*c));

	if (!c || sl_maglev_fill(e, n, m, c)) {
		fprintf(stderr, "sl_maglev_fill failed\n");
		exit(1);
	}
	return c;
}

/* Flow hash as a stand-in for the XDP one: a table lookup per random flow. */
static uint32_t flow_pick(const uint32_t *c, uint32_t m, uint64_t *seed)
{
	*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
	return c[(uint32_t)(*seed >> 33) % m];
}

static void test_sizes(void)
{
	CHECK("maglev/size-min", sl_maglev_size(1, 0) == 251, "%u", sl_maglev_size(1, 0));
	CHECK("maglev/size-ladder", sl_maglev_size(10, 0) == 2039, "%u", sl_maglev_size(10, 0));
	CHECK("maglev/size-kept", sl_maglev_size(11, 2039) == 2039, "%u",
	      sl_maglev_size(11, 2039));
	CHECK("maglev/size-grows", sl_maglev_size(40, 2039) == 8191, "%u",
	      sl_maglev_size(40, 2039));
	CHECK("maglev/size-shrinks", sl_maglev_size(1, 8191) == 251, "%u",
	      sl_maglev_size(1, 8191));
}

static void test_weights(void)
{
	static const double w[] = { 1, 2, 3, 4 };
	struct sl_maglev_ep e[4];
	uint32_t m = sl_maglev_size(4, 0), *c, hits[4] = { 0 };
	uint64_t seed = 42;
	const int flows = 200000;
	char name[64];

	eps_make(e, 4, w);
	c = table(e, 4, m);
	for (int i = 0; i < flows; i++)
		hits[flow_pick(c, m, &seed)]++;
	for (int i = 0; i < 4; i++) {
		double got = 100.0 * hits[i] / flows, want = 10.0 * w[i];

		snprintf(name, sizeof(name), "maglev/weights-1:2:3:4/ep%d", i);
		CHECK(name, got > want - 2 && got < want + 2, "%.2f%% want %.0f%%", got, want);
	}
	free(c);
}

/* Share of flows that change endpoint between two tables, and of those the
 * share that moved although their endpoint is in both tables. */
static void disruption(const uint32_t *a, const uint32_t *b, uint32_t m, uint32_t gone,
		       double *moved, double *needless)
{
	uint64_t seed = 7;
	int n = 0, x = 0, flows = 200000;

	for (int i = 0; i < flows; i++) {
		uint64_t s2 = seed;
		uint32_t ea = flow_pick(a, m, &seed), eb = flow_pick(b, m, &s2);

		if (ea == eb)
			continue;
		n++;
		if (ea != gone)
			x++;
	}
	*moved = 100.0 * n / flows;
	*needless = 100.0 * x / flows;
}

static void test_remove_add(size_t n)
{
	struct sl_maglev_ep e[16];
	uint32_t m = sl_maglev_size(n, 0), *full, *less;
	double moved, needless, bound = 100.0 / (double)n + 2;
	char name[64];

	eps_make(e, n, NULL);
	full = table(e, n, m);
	/* The same size of table: M is fixed by the pre-change endpoint
	 * count in this test so that only the endpoint set differs. */
	less = table(e, n - 1, m);
	disruption(full, less, m, (uint32_t)(n - 1), &moved, &needless);
	snprintf(name, sizeof(name), "maglev/remove-1-of-%zu", n);
	CHECK(name, moved <= bound && needless <= 2.0,
	      "moved %.2f%% (bound %.2f%%), %.2f%% of flows moved needlessly", moved, bound,
	      needless);
	disruption(less, full, m, (uint32_t)(n - 1), &moved, &needless);
	snprintf(name, sizeof(name), "maglev/add-1-to-%zu", n - 1);
	CHECK(name, moved <= 100.0 / (double)n + 2, "moved %.2f%%", moved);
	free(full);
	free(less);
}

static void test_order_independent(void)
{
	struct sl_maglev_ep e[5], r[5];
	uint32_t m = sl_maglev_size(5, 0), *a, *b;

	eps_make(e, 5, NULL);
	for (int i = 0; i < 5; i++)
		r[i] = e[4 - i];
	a = table(e, 5, m);
	b = table(r, 5, m);
	CHECK("maglev/order-independent", !memcmp(a, b, m * sizeof(*a)), "tables differ");
	free(a);
	free(b);
}

static void test_zero_weight(void)
{
	static const double w[] = { 1, 0, 1 };
	struct sl_maglev_ep e[3];
	uint32_t m = sl_maglev_size(3, 0), *c, n1 = 0;

	eps_make(e, 3, w);
	c = table(e, 3, m);
	for (uint32_t i = 0; i < m; i++)
		n1 += c[i] == 1;
	CHECK("maglev/zero-weight-no-cells", n1 == 0, "%u cells", n1);
	free(c);
	for (int i = 0; i < 3; i++)
		e[i].weight = 0;
	CHECK("maglev/no-weight-einval", sl_maglev_fill(e, 3, m, &n1) < 0, "accepted");
}

int main(void)
{
	test_sizes();
	test_weights();
	test_remove_add(3);
	test_remove_add(5);
	test_remove_add(10);
	test_order_independent();
	test_zero_weight();
	return failed;
}
