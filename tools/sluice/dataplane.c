// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * `sluice get dataplane [--slot active|inactive|0|1] [-o json] [--verify]`:
 * the canonical dump of one policy slot (user/slotdump.h, format in
 * docs/CLI.md), so two slots or two nodes compare with diff or jq.
 * --verify instead checks the slot against the policy store and exits 1
 * with the first difference when they disagree.
 *
 * `get` of any other resource goes on to cmd_get (show.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "slotdump.h"

static int parse_slot(const char *s, const struct sl_config *cfg, __u32 *slot)
{
	if (!strcmp(s, "active"))
		*slot = cfg->active_slot;
	else if (!strcmp(s, "inactive"))
		*slot = !cfg->active_slot;
	else if (!strcmp(s, "0") || !strcmp(s, "1"))
		*slot = (__u32)(s[0] - '0');
	else
		return -1;
	return 0;
}

static int usage_dp(void)
{
	fprintf(stderr, "usage: sluice get dataplane [--slot active|inactive|0|1] [-o json] "
			"[--verify]\n");
	return SL_EXIT_USAGE;
}

static int verify(struct sl_maps *m, __u32 slot)
{
	char *why = NULL;
	int r = sl_slot_verify(m, slot, &why);

	if (r < 0) {
		fprintf(stderr, "sluice get dataplane: %s\n", strerror(-r));
		return SL_EXIT_FAIL;
	}
	if (r)
		printf("slot %u: equals the policy store\n", slot);
	else
		printf("slot %u: differs from the policy store: %s\n", slot, why ? why : "?");
	free(why);
	return r ? SL_EXIT_OK : SL_EXIT_FAIL;
}

static int get_dataplane(struct sl_cli *c)
{
	static const struct option opts[] = {
		{ "slot", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "verify", no_argument, NULL, 'v' },
		{ 0 },
	};
	const char *which = "active";
	struct sl_config cfg;
	struct sl_maps m;
	bool check = false;
	__u32 slot;
	int opt, rc = SL_EXIT_FAIL, err;

	optind = 2;
	while ((opt = getopt_long(c->argc, c->argv, "o:", opts, NULL)) != -1) {
		if (opt == 's')
			which = optarg;
		else if (opt == 'v')
			check = true;
		else if (opt != 'o' || strcmp(optarg, "json"))
			return usage_dp();
	}
	if (optind != c->argc)
		return usage_dp();
	if (sl_maps_open(c->pin_root, &m))
		return SL_EXIT_FAIL;
	if (sl_read_config(&m, &cfg)) {
		fprintf(stderr, "sluice get dataplane: %s: config record unreadable\n", c->pin_root);
	} else if (parse_slot(which, &cfg, &slot)) {
		rc = usage_dp();
	} else if (check) {
		rc = verify(&m, slot);
	} else if ((err = sl_slot_dump(&m, slot, stdout))) {
		fprintf(stderr, "sluice get dataplane: %s\n", strerror(-err));
	} else {
		rc = SL_EXIT_OK;
	}
	sl_maps_close(&m);
	return rc;
}

int cmd_get_any(struct sl_cli *c)
{
	if (c->argc >= 2 && !strcmp(c->argv[1], "dataplane"))
		return get_dataplane(c);
	return cmd_get(c);
}
