// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `sluice metrics` and `sluice status`. */
#include <stdio.h>
#include <string.h>
#include <time.h>
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

static const char *attach_name(__u32 t)
{
	const char *n = libbpf_bpf_attach_type_str((enum bpf_attach_type)t);

	return n ? n : "?";
}

int cmd_status(struct sl_cli *c)
{
	static struct sl_prog_stat ps[512];
	struct sl_config cfg;
	struct sl_maps m;
	size_t n;
	char when[64] = "never";

	if (sl_maps_open(c->pin_root, &m))
		return SL_EXIT_FAIL;
	if (sl_read_config(&m, &cfg)) {
		fprintf(stderr, "sluice status: %s: config record unreadable\n", c->pin_root);
		sl_maps_close(&m);
		return SL_EXIT_FAIL;
	}
	if (cfg.applied_ns) {
		time_t t = (time_t)(cfg.applied_ns / 1000000000ull);
		struct tm tm;

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	}
	printf("pin root:   %s (ABI %u)\n", c->pin_root, cfg.abi_version);
	printf("generation: %u (slot %u), applied %s, policy store %u bytes (%u raw)\n",
	       cfg.generation, cfg.active_slot, when, cfg.store_bytes, cfg.store_raw_bytes);
	printf("programs:\n");
	n = sl_read_progs(c->pin_root, ps, 512);
	for (size_t i = 0; i < n; i++)
		printf("  %-18s id %-6u %-24s %-24s runs %llu avg %.0f ns\n", ps[i].name, ps[i].id,
		       attach_name(ps[i].attach_type), ps[i].link, (unsigned long long)ps[i].run_cnt,
		       ps[i].run_cnt ? (double)ps[i].run_time_ns / (double)ps[i].run_cnt : 0.0);
	printf("maps (entries / capacity):\n");
	for (int i = 0; i < SL_MAP__COUNT; i++) {
		struct bpf_map_info info;
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (bpf_map_get_info_by_fd(m.fd[i], &info, &len))
			continue;
		if (info.type == BPF_MAP_TYPE_HASH || info.type == BPF_MAP_TYPE_LRU_HASH)
			printf("  %-16s %ld / %u\n", sl_map_names[i], sl_map_entries(m.fd[i], info.key_size),
			       info.max_entries);
		else
			printf("  %-16s - / %u\n", sl_map_names[i], info.max_entries);
	}
	sl_maps_close(&m);
	return SL_EXIT_OK;
}
