/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Load, pin and attach the data plane; detach and remove it.
 *
 * A load is one transaction (user/txn.h): it probes the kernel's features,
 * loads every object before it attaches anything, and on any failure undoes
 * every change it made, so a failed load leaves the node as it was: a fresh
 * node unloaded, a running data plane running its old programs. The steps
 * and the record it leaves behind are in docs/PINNING.md.
 */
#ifndef SLUICE_LOADER_H
#define SLUICE_LOADER_H

#include "load_opts.h"

/* Loads every object, reusing maps already pinned under pin_root (so a
 * second load replaces the programs in place: every pinned link is updated
 * to the new program atomically, with no window without a program). Also
 * repairs a half-loaded node: whatever is missing is attached. */
int sl_load(const struct sl_load_opts *o);

/* Attach the pod-interface programs pinned by the last load to
 * o->pod_ifaces (the agent calls this for veths that appear after it
 * started). */
int sl_attach_pods(const struct sl_load_opts *o);

/* Forget interfaces that are gone: their link pins (the kernel detached the
 * programs when the device went away) and their pod totals. */
void sl_prune_ifaces(const char *pin_root);

/* Detaches every link and removes every pin under pin_root, wherever in the
 * pin root they were moved; then checks the cgroup and the interfaces the
 * last load attached to and detaches what is still attached there. */
int sl_unload(const char *pin_root);

#endif
