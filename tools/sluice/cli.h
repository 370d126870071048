/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared pieces of the `sluice` command-line tool. */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H

#include <stdbool.h>

#include "pins.h"
#include "policy.h"
#include "publish.h"

/* Exit status contract (DESIGN.md): 0 ok, 1 rejected input or failure,
 * 2 usage error. */
enum { SL_EXIT_OK = 0, SL_EXIT_FAIL = 1, SL_EXIT_USAGE = 2 };

struct sl_cli {
	const char *pin_root;
	int argc; /* arguments after the subcommand name */
	char **argv;
};

/* The live policy: maps, config, and the stored policy compiled again. */
struct sl_live {
	struct sl_maps maps;
	struct sl_config cfg;
	struct sl_policy *policy;
	struct sl_tables tables;
};

int sl_live_open(const char *pin_root, struct sl_live *l);
void sl_live_close(struct sl_live *l);

int cmd_get(struct sl_cli *c);
/* `get dataplane` (dataplane.c), else cmd_get. */
int cmd_get_any(struct sl_cli *c);
int cmd_status(struct sl_cli *c);
int cmd_features(struct sl_cli *c);
int cmd_flows(struct sl_cli *c);
int cmd_metrics(struct sl_cli *c);
int cmd_ct(struct sl_cli *c);

const char *sl_lb_name(unsigned lb);
/* `sluice flows --pods` (podflows.c). */
int sl_dump_pod_flows(struct sl_maps *m, bool json);

#endif
