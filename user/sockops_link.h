/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Whether sockops runs (docs/KERNEL.md, "When sockops is attached"). Five
 * sockops callbacks run for every TCP connection of the cgroup once any
 * sockops program is attached, whatever it asks for; only the hand-off to
 * the proxy cannot do without them (its record needs the client's port,
 * which exists only after connect4). Under `--sockops auto` the link
 * PINROOT/links/sl_sockops is there exactly while the live policy hands a
 * service to a configured proxy: the loader decides at load, the publisher
 * at every publication that changes that. Everything else sockops counts
 * live, close() counts when it is not there (bpf/sock_lb.bpf.c).
 *
 * The one owner of the sockops link after a load, and of the mode's
 * meaning: the loader, the publisher, `sluice status` and the metrics ask
 * here.
 */
#ifndef SLUICE_SOCKOPS_LINK_H
#define SLUICE_SOCKOPS_LINK_H

#include <stdbool.h>
#include <linux/types.h>

#include "sluice_abi.h"
#include "load_opts.h"
#include "pins.h"
#include "policy.h"
#include "svctab.h"

/* "auto", "on", "off". */
const char *sl_sockops_mode_name(enum sl_sockops_mode m);
/* What the load record says: the mode that took effect. */
enum sl_sockops_mode sl_sockops_mode_of(const struct sl_load_rec *r);

/* Does T hold a service that hands off? */
bool sl_tables_hand_off(const struct sl_tables *t);
/* Does SLOT of the service table? 1, 0 or -errno. */
int sl_slot_hands_off(struct sl_svctab t, __u32 slot);
/* Does the live policy need sockops: a proxy is configured (CFG) and the
 * active slot hands off? 1, 0 or -errno. */
int sl_sockops_needed(struct sl_svctab t, const struct sl_config *cfg);

/* The same, from the maps pinned under ROOT. */
int sl_sockops_needed_at(const char *root);

/* Is PINROOT/links/sl_sockops pinned? */
bool sl_sockops_linked(const char *root);

/* Publication, step 2 (before the switch): under auto, attach sockops
 * when NEW (all of the policy, or the services a partial publication
 * changes) hands off to a configured proxy. 0 or -errno (the publication
 * fails before anything live changed). */
int sl_sockops_before_switch(const char *root, struct sl_maps *m, const struct sl_config *cfg,
			     const struct sl_tables *new);
/* After the switch: under auto, detach sockops when the live policy no
 * longer hands off: NEW is the whole policy (PARTIAL false), or the
 * change took hand-off from services of OLD and the live slot holds no
 * other (a partial publication that touched no hand-off leaves sockops as
 * it was: sl_sockops_reconcile() mends a leftover). Connections handed off
 * just before are given up to 200 ms to get their record first; *LATE
 * counts those still waiting (the proxy resets them). 0 or -errno (the
 * new policy is live either way). */
int sl_sockops_after_switch(const char *root, struct sl_maps *m, const struct sl_config *cfg,
			    const struct sl_tables *old, const struct sl_tables *new, bool partial,
			    __u32 *late);

/* Under auto, detach sockops if it is attached while the live policy
 * does not need it (a publication killed or failed before its detach):
 * sl_repair() calls it when it sweeps, so `sluice status` and the agent's
 * sweep every few seconds mend that. A read of the live slot's services
 * whenever sockops is attached under auto. 0 or -errno. */
int sl_sockops_reconcile(const char *root, struct sl_maps *m, __u32 *late);

#endif
