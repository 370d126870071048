/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Metrics and program statistics read from the pinned maps. */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/bpf.h>
#include <linux/types.h>

/* Prometheus text exposition of everything under PIN_ROOT. */
int sl_metrics_write(FILE *f, const char *pin_root);

struct sl_prog_stat {
	char name[BPF_OBJ_NAME_LEN];
	char link[64]; /* pin name under PINROOT/links, e.g. "xdp@eth0" */
	__u64 run_cnt, run_time_ns; /* kernel.bpf_stats_enabled=1 needed */
	__u32 id, attach_type;
	__u64 cgroup_id;
};

/* Programs behind the pinned links. */
size_t sl_read_progs(const char *pin_root, struct sl_prog_stat *out, size_t max);



#endif
