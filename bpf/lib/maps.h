/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of the data plane. Both objects (sock_lb, sockops) include this
 * file, so both declare every map with the same definition; the loader pins
 * each one at PINROOT/maps/<name> and the second object to load reuses the
 * first one's pins. A definition changed here must therefore change in both
 * objects at once (it does: one header) and bumps SL_ABI_VERSION.
 *
 * sl_store, sl_svc_meta and sl_ep_meta are read and written by userspace
 * only. They are declared here so that loading creates and pins them like
 * the others: libbpf creates every map declared in .maps, referenced or not.
 */
#ifndef SL_MAPS_H
#define SL_MAPS_H

#include "sluice_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_config);
} sl_config SEC(".maps");

/* Policy tables: two slots, the live one named by sl_config.active_slot. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * SL_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct sl_svc_row);
} sl_services SEC(".maps");

/* Which rows of sl_services each bucket holds (struct sl_svc_bucket). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * SL_SVC_BUCKETS);
	__type(key, __u32);
	__type(value, struct sl_svc_bucket);
} sl_svc_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * SL_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct sl_backend);
} sl_backends SEC(".maps");

/* Live state, independent of the slot: survives every apply. Arrays
 * indexed by the ids in backend rows and groups (include/sluice_abi.h);
 * the directories map addresses to those ids for slow-path readers. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SL_MAX_EP_STATE);
	__type(key, __u32);
	__type(value, struct sl_ep_state);
} sl_ep_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SL_MAX_GROUP_STATE);
	__type(key, __u32);
	__type(value, struct sl_group_state);
} sl_group_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SL_MAX_EP_STATE);
	__type(key, struct sl_ep_key);
	__type(value, struct sl_state_ref);
} sl_ep_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SL_MAX_GROUP_STATE);
	__type(key, struct sl_group_key);
	__type(value, struct sl_state_ref);
} sl_group_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_stats);
} sl_stats SEC(".maps");

/* The socket table (bpf/lib/socktab.h): what Sluice did to each client
 * socket, and the final counters of recently ended connections. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SL_MAX_SOCKS);
	__type(key, __u32);
	__type(value, struct sl_sock);
} sl_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_runtime);
} sl_rt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SL_MAX_HANDOFF);
	__type(key, struct sl_handoff_key);
	__type(value, struct sl_handoff_val);
} sl_handoff SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SL_MAX_UDP_RNAT);
	__type(key, struct sl_udp_rnat_key);
	__type(value, struct sl_l4addr);
} sl_udp_rnat SEC(".maps");

/* Userspace only (see the top of the file). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_load_rec);
} sl_load SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SL_MAX_STORE_CHUNKS);
	__type(key, struct sl_store_key);
	__type(value, struct sl_store_val);
} sl_store SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2 * SL_MAX_SERVICES);
	__type(key, struct sl_meta_key);
	__type(value, struct sl_svc_meta);
} sl_svc_meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2 * SL_MAX_BACKENDS);
	__type(key, struct sl_meta_key);
	__type(value, struct sl_ep_meta);
} sl_ep_meta SEC(".maps");

#endif /* SL_MAPS_H */
