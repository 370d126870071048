// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Metrics of the load itself: which kernel features the data plane runs
 * with (and why not), and whether it is whole. An operator alerts on
 * sluice_load_complete == 0 (a half-loaded node) and sees in
 * sluice_feature_available which observability degraded and why.
 */
#include <stdio.h>
#include <string.h>

#include "metrics_load.h"
#include "nodestate.h"
#include "probe.h"
#include "prom.h"

static void feature_family(FILE *f, const struct sl_node_state *s)
{
	struct sl_feature_want w = { .live_flows = true };

	sl_prom_family(f, "sluice_feature_available", "gauge",
		       "Kernel features of the data plane: 1 available, 0 unavailable "
		       "(errno says why; source says what answers instead).");
	for (size_t i = 0; i < s->n_links; i++) {
		w.node_ingress |= !strncmp(s->links[i].name, "xdp@", 4);
		w.pod_hooks |= !strncmp(s->links[i].name, "tc_pod_", 7);
	}
	for (unsigned id = 0; s->have_rec && id < SL_FEAT__COUNT; id++) {
		const struct sl_feature_state *st = &s->rec.feat[id];
		const char *en = st->err ? strerrorname_np(st->err) : NULL;

		if (st->status != SL_FS_AVAILABLE && st->status != SL_FS_UNAVAILABLE)
			continue;
		fputs("sluice_feature_available{", f);
		sl_prom_label(f, "feature", sl_feature_name(id), true);
		sl_prom_label(f, "required", sl_feature_required(id, &w) ? "true" : "false", false);
		sl_prom_label(f, "source", sl_feature_source_name(st->source), false);
		sl_prom_label(f, "errno", en ? en : "", false);
		fprintf(f, "} %d\n", st->status == SL_FS_AVAILABLE);
	}
}

void sl_metrics_load(FILE *f, const char *root)
{
	struct sl_node_state s;

	if (sl_node_inspect(root, &s))
		return;
	feature_family(f, &s);
	sl_prom_family(f, "sluice_load_complete", "gauge",
		       "1 when every map, program and link of the data plane is in place "
		       "(`sluice status` lists what is missing otherwise).");
	fprintf(f, "sluice_load_complete %d\n", s.complete);
	if (s.have_rec) {
		sl_prom_family(f, "sluice_sockops_attached", "gauge",
			       "1: sockops watches connections (live opened and RTO counts, "
			       "hand-off); 0: not attached (--sockops off, or auto while "
			       "nothing hands off), counted at close().");
		fprintf(f, "sluice_sockops_attached %d\n", s.sockops_linked);
	}
	sl_node_state_free(&s);
}
