/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Outlier detection with Istio/Envoy semantics, applied to sl_ep_state by the
 * kernel's own connect failures (sockops) and by outcomes userspace reports
 * (sl_outcome). Ejection is a timestamp: selection skips an endpoint while
 * ejected_until_ns > now, so it returns by itself, with no timer and no
 * userspace.
 */
#ifndef SL_OUTLIER_H
#define SL_OUTLIER_H

#include "common.h"

/* Envoy's max_ejection_time default: an ejection never lasts longer than
 * this, or than base_eject_ns when that is longer. */
#define SL_MAX_EJECT_NS (300ull * 1000000000ull)

struct sl_eject_scan {
	__u64 now;
	__u32 base; /* sl_backends index of the group's first endpoint */
	__u32 ejected; /* out */
};

static long sl_count_ejected_cb(__u64 i, void *data)
{
	struct sl_eject_scan *sc = data;
	struct sl_backend *be = sl_backend_at(0, sc->base + (__u32)i);

	if (!be)
		return 1;
	if (sl_ejected(sl_ep_state_at(be->state), sc->now))
		sc->ejected++;
	return 0;
}

/* maxEjectionPercent (at least one endpoint is always ejectable, as in
 * Envoy) and minHealthPercent, counted over the endpoint's group. */
static __always_inline bool sl_may_eject(const struct sl_group *grp, __u32 slot, __u64 now)
{
	const struct sl_outlier_cfg *oc = &grp->outlier;
	struct sl_eject_scan sc = { .now = now };
	__u32 n = sl_group_count(grp);

	sc.base = (slot & 1) * SL_MAX_BACKENDS + grp->first;
	bpf_loop(n, sl_count_ejected_cb, &sc, 0);
	if (sc.ejected >= n)
		return false;
	if (sc.ejected && (__u64)(sc.ejected + 1) * 100 > (__u64)oc->max_eject_pct * n)
		return false;
	return (__u64)(n - sc.ejected - 1) * 100 >= (__u64)oc->min_health_pct * n;
}

/* Envoy's multiplier: decremented once per interval the endpoint spent
 * healthy since its last ejection ended, then incremented for this one. */
static __always_inline __u32 sl_next_mult(const struct sl_ep_state *es,
					  const struct sl_outlier_cfg *oc, __u64 now)
{
	__u64 mult = es->eject_mult, back;

	if (mult && oc->interval_ns) {
		back = es->last_ejected_ns + oc->base_eject_ns * mult;
		if (now > back) {
			__u64 dec = (now - back) / oc->interval_ns;

			mult = dec >= mult ? 0 : mult - dec;
		}
	}
	return mult + 1;
}

static __always_inline int sl_eject(struct sl_ep_state *es, const struct sl_outlier_cfg *oc,
				    __u64 now)
{
	__u64 cap = oc->base_eject_ns > SL_MAX_EJECT_NS ? oc->base_eject_ns : SL_MAX_EJECT_NS;
	__u32 mult = sl_next_mult(es, oc, now);
	__u64 dur = oc->base_eject_ns * mult, old = es->ejected_until_ns;

	if (dur > cap) {
		dur = cap;
		mult--; /* stop growing once capped, as Envoy does */
	}
	/* Two CPUs may reach the threshold together: one ejection wins. */
	if (old > now || __sync_val_compare_and_swap(&es->ejected_until_ns, old, now + dur) != old)
		return 0;
	es->eject_mult = mult;
	es->last_ejected_ns = now;
	es->consec_fail = 0;
	es->consec_gw = 0;
	__sync_fetch_and_add(&es->ejections, 1);
	sl_count(ejections);
	sl_dbg("sluice: ejected until +%llu ns, mult %u", dur, mult);
	return 1;
}

/* One failure of an endpoint. grp is the group it was chosen from in the
 * live policy (NULL when the service left the policy: counters only).
 * Returns 1 when this failure ejected the endpoint. GRP and the endpoints
 * sl_may_eject() counts are read from the slot V names: an ejection
 * decided over a slot that switched away meanwhile (see sl_view in
 * common.h) is not made; the next failure decides again, its consecutive
 * count already past the threshold. */
static __always_inline int sl_outlier_failure(struct sl_ep_state *es, const struct sl_group *grp,
					      const struct sl_config *cfg,
					      const struct sl_view *v, bool gateway, __u64 now)
{
	__u32 slot = v->slot;
	__u32 fails = __sync_add_and_fetch(&es->consec_fail, 1);
	__u32 gws = gateway ? __sync_add_and_fetch(&es->consec_gw, 1) : es->consec_gw;
	const struct sl_outlier_cfg *oc;

	if (!grp || !grp->outlier.enabled)
		return 0;
	oc = &grp->outlier;
	if (!(oc->consec_5xx && fails >= oc->consec_5xx) && !(oc->consec_gw && gws >= oc->consec_gw))
		return 0;
	if (sl_ejected(es, now))
		return 0;
	if (!sl_may_eject(grp, slot, now)) {
		sl_count(ejections_skipped);
		return 0;
	}
	if (sl_view_moved(cfg, v)) {
		sl_count(slot_moved);
		return 0;
	}
	return sl_eject(es, oc, now);
}

static __always_inline void sl_outlier_success(struct sl_ep_state *es)
{
	es->consec_fail = 0;
	es->consec_gw = 0;
}

#endif /* SL_OUTLIER_H */
