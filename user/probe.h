/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kernel features the data plane needs, probed at load time.
 *
 * A probe loads the smallest program of the type (or attach type) in
 * question, the way libbpf's libbpf_probe_bpf_prog_type() and `bpftool
 * feature probe` do, but keeps the kernel's errno: a kernel with lockdown
 * and a container without CAP_PERFMON both refuse tracing programs with
 * EPERM, and the operator needs to see which it was. Required features stop
 * the load before anything is created; optional ones degrade by name and
 * their state is recorded in the pinned sl_load record (include/sluice_abi.h)
 * for `sluice status`, `sluice metrics` and `sluice flows`.
 */
#ifndef SLUICE_PROBE_H
#define SLUICE_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include <linux/types.h>

#include "sluice_abi.h"

/* What a load asks for: decides which features are required. */
struct sl_feature_want {
	bool node_ingress; /* --iface: XDP and TC */
	bool pod_hooks; /* --pod-iface: TC */
	bool live_flows; /* the iterator (everything but --no-attach loads) */
};

struct sl_features {
	struct sl_feature_state st[SL_MAX_FEATURES];
};

/* The stable name of a feature ("live_flows"), NULL past the table. */
const char *sl_feature_name(unsigned id);
/* One line on what the feature gives ("live counters of open flows"). */
const char *sl_feature_what(unsigned id);
/* "iterator", "sockops", "tcx", "cls_bpf" (enum sl_feature_source). */
const char *sl_feature_source_name(__u32 source);
/* Is the feature required for a load that wants W? */
bool sl_feature_required(unsigned id, const struct sl_feature_want *w);

/* Probe every feature W needs (optional ones too). Fills F. Returns 0, or
 * -errno of the first required feature that is unavailable (after printing
 * one line per missing required feature). Warns once per unavailable
 * optional feature. */
int sl_features_probe(const struct sl_feature_want *w, struct sl_features *f);

/* Record that feature ID is unavailable with ERR (positive errno), e.g. when
 * its program failed to load although the probe passed; the cause (a
 * missing capability, lockdown) is judged now, in the loading process. */
void sl_feature_fail(struct sl_features *f, unsigned id, int err);

/* "EPERM (Operation not permitted): CAP_NET_ADMIN is not in the loader's
 * effective capability set (...)": ERR (positive errno) and its cause as
 * this process sees it now (its capabilities, lockdown). For the process
 * that probed or loaded: the loader, `sluice features`. */
const char *sl_feature_reason(unsigned id, int err, char *buf, size_t len);

/* Does the running kernel's struct TYPE have a member MEMBER (its BTF)? */
bool sl_kernel_has_member(const char *type, const char *member);
/* The same from a recorded state (the load record): the cause the loader
 * recorded, so that a reader with other capabilities than the loader's
 * (`sluice status`, `flows`, `metrics`) reports what the loader saw. */
const char *sl_feature_state_reason(unsigned id, const struct sl_feature_state *st, char *buf,
				    size_t len);

/* --- capabilities (docs/PRIVILEGES.md) ---------------------------------- */

/* The capabilities the kernel checks on Sluice's bpf() calls
 * (linux/capability.h numbers; libc headers may predate CAP_BPF). */
enum sl_cap {
	SL_CAP_NET_ADMIN = 12,
	SL_CAP_SYS_ADMIN = 21,
	SL_CAP_PERFMON = 38,
	SL_CAP_BPF = 39,
};

/* The effective capability set has CAP (a linux/capability.h number). */
bool sl_cap_effective(int cap);
/* The kernel grants what CAP guards: CAP itself or CAP_SYS_ADMIN, which
 * bpf_capable(), bpf_net_capable() and perfmon_capable() also accept. */
bool sl_cap_granted(enum sl_cap cap);

/* `sluice load` and the agent need CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON
 * in every mode. The first one the effective set lacks, as "CAP_X is not in
 * the effective capability set (needed to ...)"; NULL when none is missing. */
const char *sl_load_missing_cap(const struct sl_feature_want *w, char *buf, size_t len);

/* Why opening or using the pin PATH failed with ERR (negative errno), when
 * privileges explain it: CAP_BPF on kernels whose bpf() wants it for every
 * command (EPERM), the pin's owner and mode (EACCES). NULL otherwise. */
const char *sl_pin_access_hint(int err, const char *path, char *buf, size_t len);

#endif
