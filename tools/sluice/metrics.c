// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `sluice metrics` and `sluice status`. */
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cli.h"
#include "metrics.h"
#include "util.h"

int cmd_metrics(struct sl_cli *c)
{
	if (c->argc > 1) {
		fprintf(stderr, "usage: sluice metrics\n");
		return SL_EXIT_USAGE;
	}
	return sl_metrics_write(stdout, c->pin_root) ? SL_EXIT_FAIL : SL_EXIT_OK;
}
