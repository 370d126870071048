// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Capacity, checked from counts before anything is written: an apply that
 * would not fit is rejected with an error that names the map, the entries
 * needed and free, and the services that need them, instead of failing
 * half-way with a bare E2BIG.
 *
 * A policy map holds both slots. Removals come before additions in the
 * inactive slot (user/publish.c), so a slot never holds more than the
 * larger of its old and new content, and the rule for each map is
 *     entries NEW needs in one slot + entries the live slot holds <= capacity.
 * The compiler's limits (SL_MAX_* per slot) make this hold for maps sized
 * by the ABI; the check still runs, because it costs nothing and maps
 * pinned by another build may differ.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "publish.h"
#include "util.h"

static int cmp_l4(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sl_l4addr));
}

/* Endpoint metadata entries of service I: one per distinct endpoint (an
 * endpoint in two groups has one entry). BUF has room for every row of a
 * service. */
static size_t svc_meta_entries(const struct sl_tables *t, size_t i, struct sl_l4addr *buf)
{
	const struct sl_svc_val *v = &t->svcs[i].val;
	size_t n = 0, d = 0;

	for (unsigned g = 0; g < v->n_groups && g < SL_MAX_GROUPS; g++)
		for (__u32 r = 0; r < v->groups[g].count && n < SL_MAX_GROUPS * SL_MAX_GROUP_BACKENDS; r++)
			buf[n++] = t->backends[v->groups[g].first + r].be.ep;
	if (v->n_groups < 2)
		return n; /* a group's endpoints are distinct */
	qsort(buf, n, sizeof(*buf), cmp_l4);
	for (size_t k = 0; k < n; k++)
		d += !k || memcmp(&buf[k - 1], &buf[k], sizeof(*buf));
	return d;
}

enum count_kind { C_SERVICES, C_EP_META, C_INGRESS, C_NP_PODS, C_NP_PREFIXES, C_NP_PORTSETS };

/* The names maps hold one set for both slots (user/names.h), which holds
 * the old names and the new ones' additions at once until the switch: the
 * same rule, with the live policy's names in place of the live slot's. */
static const struct {
	enum sl_map_id id;
	enum count_kind kind;
	const char *entry;
	const char *where; /* of the new entries, and of the live ones */
} slot_maps[] = {
	{ SL_MAP_SVC_META, C_SERVICES, "service names", "beside the live ones" },
	{ SL_MAP_EP_META, C_EP_META, "(service, endpoint) names", "beside the live ones" },
	{ SL_MAP_INGRESS, C_INGRESS, "node-ingress frontends", "in the inactive slot" },
	{ SL_MAP_NP_PODS, C_NP_PODS, "NetworkPolicy pod addresses", "in the inactive slot" },
	{ SL_MAP_NP_PREFIXES, C_NP_PREFIXES, "NetworkPolicy prefixes", "in the inactive slot" },
	{ SL_MAP_NP_PORTS, C_NP_PORTSETS, "NetworkPolicy port sets", "in the inactive slot" },
};

/* Entries of one slot, and with WHO (when not NULL) the services past
 * entry AVAIL, i.e. those that do not fit. */
static size_t slot_entries(const struct sl_tables *t, enum count_kind k, size_t avail,
			   size_t *who, size_t *n_who)
{
	struct sl_l4addr *buf;
	size_t n = 0;

	if (!t)
		return 0;
	switch (k) {
	case C_SERVICES:
		for (size_t i = 0; i < t->n_svcs; i++)
			if (who && ++n > avail)
				who[(*n_who)++] = i;
		return t->n_svcs;
	case C_EP_META:
		buf = malloc(SL_MAX_GROUPS * SL_MAX_GROUP_BACKENDS * sizeof(*buf));
		if (!buf)
			return SIZE_MAX; /* reported as not fitting, which is safe */
		for (size_t i = 0; i < t->n_svcs; i++) {
			n += svc_meta_entries(t, i, buf);
			if (who && n > avail)
				who[(*n_who)++] = i;
		}
		free(buf);
		return n;
	case C_INGRESS:
		for (size_t i = avail; who && i < t->n_ingress; i++)
			if (!*n_who || who[*n_who - 1] != t->ingress[i].svc)
				who[(*n_who)++] = t->ingress[i].svc;
		return t->n_ingress;
	case C_NP_PODS:
		return t->n_np_pods;
	case C_NP_PREFIXES:
		return t->n_np_prefixes;
	case C_NP_PORTSETS:
		return t->n_np_portsets;
	}
	return 0;
}

static int check_slot_map(struct sl_maps *m, size_t i, const struct sl_tables *old,
			  const struct sl_tables *new, struct sl_diags *d)
{
	__u32 cap = sl_map_capacity(m->fd[slot_maps[i].id]);
	size_t live = slot_entries(old, slot_maps[i].kind, 0, NULL, NULL);
	size_t need = slot_entries(new, slot_maps[i].kind, 0, NULL, NULL);
	size_t avail = cap > live ? cap - live : 0, *who, n_who = 0;
	char names[512] = "the NetworkPolicy objects";

	if (!cap || need <= avail)
		return 0;
	who = calloc(new->n_svcs + new->n_ingress + 1, sizeof(*who));
	if (!who)
		return -ENOMEM;
	slot_entries(new, slot_maps[i].kind, avail, who, &n_who);
	if (slot_maps[i].kind <= C_INGRESS)
		sl_fmt_services(new, who, n_who, names, sizeof(names));
	sl_diags_add(d, SL_SEV_ERROR, "<policy>", 0, sl_map_names[slot_maps[i].id],
		     "map full: the policy needs %zu %s %s, %zu of %u are free (the live "
		     "policy holds %zu); over the limit: %s",
		     need, slot_maps[i].entry, slot_maps[i].where, avail, cap, live, names);
	free(who);
	return -EINVAL;
}

/* Arrays: rows and cells of one slot. */
static int check_arrays(struct sl_maps *m, const struct sl_tables *new, struct sl_diags *d)
{
	struct sl_config cfg;
	size_t cells = sl_ring_cells(m, new, sl_read_config(m, &cfg) ? 0 : cfg.active_slot);
	int ret = 0;

	if (new->n_backends > SL_MAX_BACKENDS) {
		sl_diags_add(d, SL_SEV_ERROR, "<policy>", 0, "sl_backends",
			     "the policy needs %zu backend rows, one slot holds %u "
			     "(SL_MAX_BACKENDS)", new->n_backends, SL_MAX_BACKENDS);
		ret = -EINVAL;
	}
	if (cells > SL_MAX_MAGLEV_CELLS) {
		sl_diags_add(d, SL_SEV_ERROR, "<policy>", 0, "sl_maglev",
			     "the node-ingress Maglev rings need %zu cells, one slot holds %u "
			     "(SL_MAX_MAGLEV_CELLS; about %u cells per endpoint of each "
			     "node-ingress service)", cells, SL_MAX_MAGLEV_CELLS, SL_MAGLEV_PER_EP);
		ret = -EINVAL;
	}
	return ret;
}

int sl_publish_check(struct sl_maps *m, const struct sl_tables *old, const struct sl_tables *new,
		     bool state_walk, struct sl_diags *d)
{
	int ret = check_arrays(m, new, d), err;

	for (size_t i = 0; i < sizeof(slot_maps) / sizeof(slot_maps[0]); i++) {
		err = check_slot_map(m, i, old, new, d);
		ret = ret ? ret : err;
	}
	if (state_walk) {
		err = sl_state_check(m, old, new, d);
		ret = ret ? ret : err;
	}
	return ret;
}
