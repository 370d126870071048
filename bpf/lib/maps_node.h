/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maps of the node-ingress (XDP, TC return path) and pod-interface (TC)
 * programs. Included by xdp_lb, tc_nat and tc_pod together with maps.h; the
 * loader pins every map by name, so whichever object loads first creates a
 * map and the others reuse it. Userspace writes the policy maps in two slots
 * and flips sl_config.active_slot, as for the socket-level tables.
 */
#ifndef SL_MAPS_NODE_H
#define SL_MAPS_NODE_H

#include "maps.h"

/* Frontends reached from outside the node: externalIPs, load-balancer
 * ingress IPs and NodePorts. Two slots. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2 * SL_MAX_INGRESS);
	__type(key, struct sl_ingress_key);
	__type(value, struct sl_ingress_val);
} sl_ingress SEC(".maps");

/* Weighted Maglev rings of every node-ingress service, both slots. An
 * array, so that a lookup is an index and userspace can write whole rings
 * with one batch. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * SL_MAX_MAGLEV_CELLS);
	__type(key, __u32);
	__type(value, __u32);
} sl_maglev SEC(".maps");

/* Ports with a frontend, per slot and protocol (quick reject). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 2 * SL_FE_PORT_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} sl_fe_ports SEC(".maps");

/* Addresses a NodePort answers on; written by the loader for --iface. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_MAX_NODE_ADDRS);
	__type(key, struct sl_node_addr);
	__type(value, __u32);
} sl_node_addrs SEC(".maps");

/* Node-ingress connection tracking and reply translation. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SL_MAX_CT);
	__type(key, struct sl_tuple);
	__type(value, struct sl_ct_val);
} sl_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SL_MAX_CT);
	__type(key, struct sl_tuple);
	__type(value, struct sl_l4addr);
} sl_rnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_xdp_stats);
} sl_xdp_stats SEC(".maps");

/* Pod interfaces: flow records and exact totals. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SL_MAX_PFLOWS);
	__type(key, struct sl_pflow_key);
	__type(value, struct sl_pflow_val);
} sl_pflows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SL_MAX_POD_IFACES);
	__type(key, __u32);
	__type(value, struct sl_pod_totals);
} sl_pod_totals SEC(".maps");

/* NetworkPolicy, two slots (slot in the key, or in bit 31 of set ids). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2 * SL_MAX_NP_PODS);
	__type(key, struct sl_np_pod_key);
	__type(value, struct sl_np_pod_val);
} sl_np_pods SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SL_MAX_NP_PREFIXES);
	__type(key, struct sl_np_lpm_key);
	__type(value, struct sl_np_lpm_val);
} sl_np_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SL_MAX_NP_PORTSETS);
	__type(key, __u32);
	__type(value, struct sl_np_ports);
} sl_np_ports SEC(".maps");

#endif /* SL_MAPS_NODE_H */
