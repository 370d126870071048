/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The node-ingress (XDP, TC egress) and pod-interface (TC) part of a load,
 * driven by user/loader.c inside its transaction.
 */
#ifndef SLUICE_LOADER_NODE_H
#define SLUICE_LOADER_NODE_H

#include "probe.h"
#include "load_opts.h"
#include "txn.h"

struct xdp_lb;
struct tc_nat;
struct tc_pod;

/* The node objects of one load. Their maps (connection tracking, rings,
 * NetworkPolicy tables) and syscall programs are always loaded, because the
 * publisher writes those maps on every node; the XDP and TC programs are
 * loaded where the kernel has them and attached only to the interfaces the
 * load names. */
struct sl_node_objs {
	struct xdp_lb *xdp;
	struct tc_nat *nat;
	struct tc_pod *pod;
};

int sl_node_load(struct sl_txn *t, const struct sl_load_opts *o, const struct sl_features *f,
		 struct sl_node_objs *n);
int sl_node_attach(struct sl_txn *t, const struct sl_load_opts *o, struct sl_node_objs *n,
		   struct sl_features *f);
void sl_node_free(struct sl_node_objs *n);
/* Every bpf_object of N (NULL where not opened), for walking programs. */
size_t sl_node_objects(const struct sl_node_objs *n, struct bpf_object **out, size_t max);

/* Attach the pinned pod programs to o->pod_ifaces. */
int sl_node_attach_pods(struct sl_txn *t, const struct sl_load_opts *o);

/* Does every --iface / --pod-iface exist? (Before anything changes.) */
int sl_node_check_ifaces(const struct sl_load_opts *o);

void sl_node_prune(const char *root);
/* Detach the cls_bpf filter that progs/tc-<dir>@<ifname> stands for. */
int sl_detach_tc_legacy(const char *pin);

#endif
