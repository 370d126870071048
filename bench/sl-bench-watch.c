// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-bench-watch: how long after a file is renamed into an agent's config
 * directory the data plane switches. Opens the pinned sl_config map, reads
 * the generation, renames SRC to DST, then reads the generation in a tight
 * loop until it changes; prints one JSON line {"us": rename to switch,
 * "generation": the new one}. Run it on another CPU than the agent: the
 * loop spins.
 *
 *   sl-bench-watch PIN_ROOT SRC DST [TIMEOUT_MS (5000)]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>

#include "sluice_abi.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int generation(int fd, __u32 *gen)
{
	struct sl_config cfg;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(fd, &zero, &cfg))
		return -errno;
	*gen = cfg.generation;
	return 0;
}

int main(int argc, char **argv)
{
	char path[4096];
	double t0, timeout_us;
	__u32 g0 = 0, g = 0;
	int fd;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: sl-bench-watch PIN_ROOT SRC DST [TIMEOUT_MS]\n");
		return 2;
	}
	timeout_us = (argc == 5 ? atof(argv[4]) : 5000) * 1e3;
	snprintf(path, sizeof(path), "%s/maps/sl_config", argv[1]);
	fd = bpf_obj_get(path);
	if (fd < 0 || generation(fd, &g0)) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	t0 = now_us();
	if (rename(argv[2], argv[3])) {
		perror("rename");
		return 1;
	}
	do {
		if (generation(fd, &g))
			return 1;
	} while (g == g0 && now_us() - t0 < timeout_us);
	if (g == g0) {
		fprintf(stderr, "no switch within %.0f ms\n", timeout_us / 1e3);
		return 1;
	}
	printf("{\"us\": %.1f, \"generation\": %u}\n", now_us() - t0, g);
	return 0;
}
