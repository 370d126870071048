/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What /healthz and /readyz check on the node (not the agent's own state,
 * which status.h holds).
 *
 * The links the data plane must have are the ones the agent's own load
 * pinned: every cgroup hook (names without '@') and the node-interface
 * links of --iface (NAME@IF). Pod-interface links come and go with pods
 * and are not expected.
 */
#ifndef SLUICED_HEALTH_H
#define SLUICED_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct node_expect {
	char **links; /* pin names under PINROOT/links */
	size_t n;
};

/* Right after sl_load(): the links it pinned that must stay. */
int node_expect_snapshot(const char *pin_root, const char *const *ifaces, size_t n_ifaces,
			 struct node_expect *e);
void node_expect_free(struct node_expect *e);

/* Are the pins whole: every map under maps/, every expected link under
 * links/? False with WHY. */
bool node_pins_whole(const char *pin_root, const struct node_expect *e, char *why, size_t len);

/* Is every expected link attached (not defunct: its cgroup or interface
 * still there), and the node complete as `sluice status` judges it
 * (user/nodestate.h: programs, record, per-interface pairs)? False with WHY. */
bool node_programs_attached(const char *pin_root, const struct node_expect *e, char *why,
			    size_t len);

/* The generation the data plane runs (sl_config). 0 or -errno. */
int node_live_generation(const char *pin_root, uint32_t *gen);

#endif
