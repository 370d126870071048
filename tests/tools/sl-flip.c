// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-flip: switches the live slot of a pin root back and forth as fast as
 * it can, the way the publisher switches (user/publish.c, switch_slots():
 * one config write for `active_slot`, a second for `generation`), without
 * writing any row. Both slots of a synced root hold the same policy, so
 * every switch leaves the data plane as it was; what it does is make
 * programs that are reading a slot see it switched away under them
 * (sl_stats.slot_moved), thousands of times a second, so that a test can
 * check that such reads are done again and account exactly.
 *
 * Holds the pin root's apply lock while it runs, and leaves the root
 * marked synced at the generation it reached.
 */
#include <getopt.h>
#include <linux/types.h>
#include <bpf/bpf.h>

#include "pins.h"
#include "sluice_abi.h"
#include "sl_tool.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sl-flip [-t MS] [-r READY] PIN-ROOT\n"
		"  -t MS     switch for MS milliseconds (default 10000), or until SIGTERM\n"
		"  -r READY  file written once the first switch is done\n"
		"Output (stdout): {\"flips\":N,\"generation\":G}. Exit 0, 1 on error,\n"
		"  2 on usage. Refuses a root whose slots are not synced.\n");
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int put(int fd, const struct sl_config *c)
{
	__u32 zero = 0;

	return bpf_map_update_elem(fd, &zero, c, BPF_ANY) ? -errno : 0;
}

/* One switch as the publisher makes it; the slots stay marked synced. */
static int flip(int fd, struct sl_config *c)
{
	int err;

	c->active_slot = !c->active_slot;
	err = put(fd, c);
	if (err)
		return err;
	c->generation++;
	c->synced_gen = c->generation;
	return put(fd, c);
}

static int run(int fd, long ms, const char *ready, long *flips, struct sl_config *c)
{
	__u32 zero = 0;
	double end = now_ms() + (double)ms;
	int err;

	if (bpf_map_lookup_elem(fd, &zero, c))
		return -errno;
	if (c->synced_gen != c->generation) {
		fprintf(stderr, "sl-flip: slots not synced (generation %u, synced %u)\n",
			c->generation, c->synced_gen);
		return -EINVAL;
	}
	for (*flips = 0; !sl_stop && now_ms() < end; ++*flips) {
		err = flip(fd, c);
		if (err)
			return err;
		if (*flips == 0 && ready) {
			FILE *f = fopen(ready, "w");

			if (!f)
				return -errno;
			fclose(f);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *ready = NULL;
	char path[512];
	struct sl_config c;
	long ms = 10000, flips = 0;
	int opt, fd, lock, err;

	sl_prog = "sl-flip";
	while ((opt = getopt(argc, argv, "t:r:h")) != -1) {
		switch (opt) {
		case 't':
			ms = strtol(optarg, NULL, 10);
			break;
		case 'r':
			ready = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc || ms <= 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGTERM, sl_on_stop);
	signal(SIGINT, sl_on_stop);
	lock = sl_lock(argv[optind]);
	if (lock < 0)
		sl_die("cannot lock %s: %s", argv[optind], strerror(-lock));
	if (sl_pin_path(path, sizeof(path), argv[optind], "maps", "sl_config"))
		sl_die("pin path too long");
	fd = bpf_obj_get(path);
	if (fd < 0)
		sl_die("%s: %s", path, strerror(errno));
	err = run(fd, ms, ready, &flips, &c);
	sl_unlock(lock);
	if (err) {
		fprintf(stderr, "sl-flip: %s\n", strerror(-err));
		return 1;
	}
	printf("{\"flips\":%ld,\"generation\":%u}\n", flips, c.generation);
	return 0;
}
