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

/* Sum the per-CPU value at KEY (N u64 counters on each CPU) into OUT. */
int sl_percpu_sum(int fd, const void *key, __u64 *out, size_t n);

/* Entries of a map, by walking its keys. */
long sl_map_entries(int fd, __u32 key_size);

/* Exposition helpers shared by the metric writers. */
void sl_prom_family(FILE *f, const char *name, const char *type, const char *help);
/* NAME="VALUE" with escaping; a comma before it unless FIRST. */
void sl_prom_label(FILE *f, const char *name, const char *v, bool first);

/* Feature availability and load completeness (user/metrics_load.c). */
void sl_metrics_load(FILE *f, const char *pin_root);

struct sl_maps;
/* Node-ingress and pod-interface families (user/metrics_node.c). */
void sl_metrics_node(FILE *f, struct sl_maps *m);

#endif
