/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maglev lookup for node ingress: flow hash -> ring cell -> backend row and
 * group. Rings are built in userspace (user/maglev.c); this side only reads.
 *
 * The hash is a murmur3-style mix over the whole tuple (addresses, ports,
 * protocol), unseeded, so every packet of a flow, on every CPU and every
 * node, lands on the same cell; userspace tests can predict it
 * (sl_flow_hash() is plain C).
 *
 * Ejected endpoints: the next cells of the ring are tried (Maglev's
 * permutations spread an endpoint's cells, so the next cell is another
 * endpoint drawn by weight). After SL_MAGLEV_TRIES ejected cells the first
 * one is used anyway: sending to a failing endpoint beats refusing, as in
 * the socket LB's panic mode (select.h).
 */
#ifndef SL_MAGLEV_H
#define SL_MAGLEV_H

#include "common.h"
#include "maps_node.h"

#define SL_MAGLEV_TRIES 8

static __always_inline __u32 sl_rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 sl_hash_word(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51u;
	k = sl_rotl32(k, 15);
	k *= 0x1b873593u;
	h ^= k;
	h = sl_rotl32(h, 13);
	return h * 5 + 0xe6546b64u;
}

static __always_inline __u32 sl_hash_final(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* Words are taken as loaded (network order), which is what userspace
 * reproduces byte for byte. */
static __always_inline __u32 sl_flow_hash(const struct sl_tuple *t)
{
	__u32 h = 0x736c6365u; /* "slce" */

	h = sl_hash_word(h, t->saddr[0]);
	h = sl_hash_word(h, t->saddr[1]);
	h = sl_hash_word(h, t->saddr[2]);
	h = sl_hash_word(h, t->saddr[3]);
	h = sl_hash_word(h, t->daddr[0]);
	h = sl_hash_word(h, t->daddr[1]);
	h = sl_hash_word(h, t->daddr[2]);
	h = sl_hash_word(h, t->daddr[3]);
	h = sl_hash_word(h, (__u32)t->sport << 16 | t->dport);
	h = sl_hash_word(h, (__u32)t->proto << 8 | t->family);
	return sl_hash_final(h ^ 40);
}

/* A chosen endpoint: its backend row (slot-relative) and group index. */
struct sl_mg_pick {
	struct sl_backend *be;
	__u32 row;
	__u32 group;
	__u32 skipped; /* ejected cells passed over */
};

static __always_inline struct sl_backend *sl_mg_cell(__u32 slot, __u32 ring_off, __u32 pos,
						     __u32 *cellv)
{
	__u32 idx, *cell;

	if (ring_off >= SL_MAX_MAGLEV_CELLS || pos >= SL_MAX_MAGLEV_CELLS - ring_off)
		return NULL;
	idx = slot * SL_MAX_MAGLEV_CELLS + ring_off + pos;
	cell = bpf_map_lookup_elem(&sl_maglev, &idx);
	if (!cell)
		return NULL;
	*cellv = *cell;
	return sl_backend_at(slot, *cell & SL_MAGLEV_ROW_MASK);
}

/* Endpoint for hash h on the ring of ing; svc_fe keys the endpoint state.
 * 0 or -SL_DROP_NO_BACKEND (empty ring, cell out of range). */
static __always_inline int sl_mg_pick(const struct sl_ingress_val *ing, __u32 slot, __u32 h,
				      __u64 now, struct sl_mg_pick *pk)
{
	__u32 m = ing->ring_size, pos, cellv = 0, first_cell = 0;
	struct sl_backend *be, *first = NULL;

	pk->skipped = 0;
	if (!m)
		return -SL_DROP_NO_BACKEND;
	pos = h % m;
	for (int i = 0; i < SL_MAGLEV_TRIES; i++) {
		be = sl_mg_cell(slot, ing->ring_off, pos, &cellv);
		if (!be)
			return -SL_DROP_NO_BACKEND;
		if (!first) {
			first = be;
			first_cell = cellv;
		}
		if (!sl_ejected(sl_ep_state_get(&ing->svc, &be->ep), now)) {
			first = be;
			first_cell = cellv;
			break;
		}
		pk->skipped++;
		pos = pos + 1 == m ? 0 : pos + 1;
	}
	pk->be = first;
	pk->row = first_cell & SL_MAGLEV_ROW_MASK;
	pk->group = first_cell >> SL_MAGLEV_GROUP_SHIFT;
	return 0;
}

#endif /* SL_MAGLEV_H */
