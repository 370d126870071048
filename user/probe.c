// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Kernel feature probes (see probe.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "probe.h"
#include "util.h"

#define CAP_NET_ADMIN_NR 12
#define CAP_SYS_ADMIN_NR 21
#define CAP_PERFMON_NR 38
#define CAP_BPF_NR 39

enum need { NEED_ALWAYS, NEED_NODE, NEED_TC, NEED_OPTIONAL };

static const struct feature_def {
	const char *name;
	const char *what;
	enum need need;
} defs[SL_FEAT__COUNT] = {
	[SL_FEAT_SOCK_ADDR] = { "sock_addr", "socket load balancing at connect/sendmsg", NEED_ALWAYS },
	[SL_FEAT_SOCK_RELEASE] = { "sock_release", "connection accounting at close", NEED_ALWAYS },
	[SL_FEAT_SOCKOPS] = { "sockops", "TCP lifecycle: counters, limits, outlier ejection",
			      NEED_ALWAYS },
	[SL_FEAT_SK_STORAGE] = { "sk_storage", "per-socket records", NEED_ALWAYS },
	[SL_FEAT_SYSCALL_PROG] = { "syscall_prog",
				   "outcome reports, CT garbage collection, policy re-judging",
				   NEED_ALWAYS },
	[SL_FEAT_LIVE_FLOWS] = { "live_flows", "live counters of open flows (tracing iterator)",
				 NEED_OPTIONAL },
	[SL_FEAT_XDP] = { "xdp", "node-ingress load balancing", NEED_NODE },
	[SL_FEAT_TC] = { "tc", "reverse NAT, pod flow counters, NetworkPolicy", NEED_TC },
	[SL_FEAT_TCX] = { "tcx", "TC through links (else cls_bpf filters)", NEED_OPTIONAL },
	[SL_FEAT_SET_RETVAL] = { "set_retval", "refused connects fail with ECONNREFUSED (else EPERM)",
				 NEED_OPTIONAL },
	[SL_FEAT_PROG_STATS] = { "prog_stats", "program run counts and time (kernel.bpf_stats_enabled)",
				 NEED_OPTIONAL },
};

const char *sl_feature_name(unsigned id)
{
	return id < SL_FEAT__COUNT ? defs[id].name : NULL;
}

const char *sl_feature_what(unsigned id)
{
	return id < SL_FEAT__COUNT ? defs[id].what : "";
}

/* Worth probing for a load that wants W: everything but the iterator of a
 * load that attaches nothing. XDP and TC are probed even without interfaces,
 * because their programs are loaded and pinned for the agent to attach. */
const char *sl_feature_source_name(__u32 s)
{
	static const char *const n[] = { "", "iterator", "sockops", "tcx", "cls_bpf" };

	return s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

static bool wanted(unsigned id, const struct sl_feature_want *w)
{
	return id != SL_FEAT_LIVE_FLOWS || w->live_flows;
}

static bool requested(unsigned id, const struct sl_feature_want *w)
{
	switch (defs[id].need) {
	case NEED_NODE:
		return w->node_ingress;
	case NEED_TC:
		return w->node_ingress || w->pod_hooks;
	case NEED_ALWAYS:
		return true;
	default:
		return false;
	}
}

bool sl_feature_required(unsigned id, const struct sl_feature_want *w)
{
	return id < SL_FEAT__COUNT && requested(id, w);
}

bool sl_cap_effective(int cap)
{
	char line[256];
	unsigned long long eff = 0;
	FILE *f = fopen("/proc/self/status", "re");
	bool found = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1) {
			found = true;
			break;
		}
	fclose(f);
	return found && cap < 64 && (eff >> cap & 1);
}

/* The active lockdown mode ("integrity", "confidentiality"), or NULL when
 * none is active or securityfs does not say. */
static const char *lockdown_mode(char *buf, size_t len)
{
	FILE *f = fopen("/sys/kernel/security/lockdown", "re");
	char line[128], *open, *close;

	if (!f)
		return NULL;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	open = strchr(line, '[');
	close = open ? strchr(open, ']') : NULL;
	if (!close)
		return NULL;
	*close = 0;
	snprintf(buf, len, "%s", open + 1);
	return strcmp(buf, "none") ? buf : NULL;
}

/* Why EPERM, as far as this process can tell. */
static const char *eperm_cause(unsigned id, char *buf, size_t len)
{
	char mode[32];

	if (!sl_cap_effective(CAP_BPF_NR) && !sl_cap_effective(CAP_SYS_ADMIN_NR))
		return "CAP_BPF is not in the effective capability set";
	if (id == SL_FEAT_LIVE_FLOWS && !sl_cap_effective(CAP_PERFMON_NR) &&
	    !sl_cap_effective(CAP_SYS_ADMIN_NR))
		return "tracing programs need CAP_PERFMON, which is not in the effective set";
	if (id != SL_FEAT_LIVE_FLOWS && !sl_cap_effective(CAP_NET_ADMIN_NR) &&
	    !sl_cap_effective(CAP_SYS_ADMIN_NR))
		return "network program types need CAP_NET_ADMIN, which is not in the effective set";
	if (lockdown_mode(mode, sizeof(mode))) {
		snprintf(buf, len, "kernel lockdown (%s) is active", mode);
		return buf;
	}
	return "refused before verification: kernel lockdown or a security module";
}

const char *sl_feature_reason(unsigned id, int err, char *buf, size_t len)
{
	const char *name = strerrorname_np(err);
	char cause[128];

	if (err == EPERM)
		snprintf(buf, len, "%s (%s): %s", name ? name : "EPERM", strerror(err),
			 eperm_cause(id, cause, sizeof(cause)));
	else if (id == SL_FEAT_PROG_STATS && err == ENODATA)
		snprintf(buf, len, "kernel.bpf_stats_enabled is 0");
	else
		snprintf(buf, len, "%s (%s)", name ? name : "?", strerror(err));
	return buf;
}

/* The smallest program of TYPE: `r0 = RET; exit`. Returns 0 or -errno. */
static int probe_prog(enum bpf_prog_type type, enum bpf_attach_type eat, __u32 flags,
		      __u32 btf_id, int ret)
{
	struct bpf_insn insns[2];
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = eat, .prog_flags = flags,
		    .attach_btf_id = btf_id);
	int fd;

	memset(insns, 0, sizeof(insns));
	insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
	insns[0].dst_reg = BPF_REG_0;
	insns[0].imm = ret;
	insns[1].code = BPF_JMP | BPF_EXIT;
	fd = bpf_prog_load(type, "sl_probe", "Dual BSD/GPL", insns, 2, &o);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* The BTF id of a kernel function (the iterator target), 0 if absent. */
static __u32 vmlinux_func(const char *name)
{
	struct btf *btf = btf__load_vmlinux_btf();
	int id;

	if (!btf)
		return 0;
	id = btf__find_by_name_kind(btf, name, BTF_KIND_FUNC);
	btf__free(btf);
	return id > 0 ? (__u32)id : 0;
}

/* Does the running kernel's BTF know attach type BPF_TCX_INGRESS? */
static int probe_tcx(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_enum *e;
	const struct btf_type *t;
	int id, found = 0;

	if (!btf)
		return -ENOENT;
	id = btf__find_by_name_kind(btf, "bpf_attach_type", BTF_KIND_ENUM);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	for (int i = 0; t && i < btf_vlen(t) && !found; i++) {
		e = btf_enum(t) + i;
		found = !strcmp(btf__name_by_offset(btf, e->name_off), "BPF_TCX_INGRESS");
	}
	btf__free(btf);
	return found ? 0 : -EOPNOTSUPP;
}

static int probe_prog_stats(void)
{
	FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "re");
	int v = 0;

	if (!f)
		return -errno;
	if (fscanf(f, "%d", &v) != 1)
		v = 0;
	fclose(f);
	return v ? 0 : -ENODATA;
}

static int probe_map(enum bpf_map_type type)
{
	int r = libbpf_probe_bpf_map_type(type, NULL);

	return r > 0 ? 0 : r < 0 ? r : -EOPNOTSUPP;
}

static int probe_helper(enum bpf_prog_type type, enum bpf_func_id helper)
{
	int r = libbpf_probe_bpf_helper(type, helper, NULL);

	return r > 0 ? 0 : r < 0 ? r : -EOPNOTSUPP;
}

static int probe_one(unsigned id)
{
	__u32 iter;

	switch (id) {
	case SL_FEAT_SOCK_ADDR:
		return probe_prog(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT, 0, 0, 1);
	case SL_FEAT_SOCK_RELEASE:
		return probe_prog(BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_RELEASE, 0, 0, 1);
	case SL_FEAT_SOCKOPS:
		return probe_prog(BPF_PROG_TYPE_SOCK_OPS, 0, 0, 0, 1);
	case SL_FEAT_SK_STORAGE:
		return probe_map(BPF_MAP_TYPE_SK_STORAGE);
	case SL_FEAT_SYSCALL_PROG:
		return probe_prog(BPF_PROG_TYPE_SYSCALL, 0, BPF_F_SLEEPABLE, 0, 0);
	case SL_FEAT_LIVE_FLOWS:
		iter = vmlinux_func("bpf_iter_bpf_sk_storage_map");
		if (!iter)
			return -EOPNOTSUPP;
		return probe_prog(BPF_PROG_TYPE_TRACING, BPF_TRACE_ITER, 0, iter, 0);
	case SL_FEAT_XDP:
		return probe_prog(BPF_PROG_TYPE_XDP, BPF_XDP, 0, 0, 2);
	case SL_FEAT_TC:
		return probe_prog(BPF_PROG_TYPE_SCHED_CLS, 0, 0, 0, 0);
	case SL_FEAT_TCX:
		return probe_tcx();
	case SL_FEAT_SET_RETVAL:
		return probe_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_set_retval);
	case SL_FEAT_PROG_STATS:
		return probe_prog_stats();
	}
	return -EOPNOTSUPP;
}

void sl_feature_fail(struct sl_features *f, unsigned id, int err)
{
	f->st[id].status = SL_FS_UNAVAILABLE;
	f->st[id].err = err;
}

/* Probing prints nothing of its own through libbpf: a refused probe is an
 * answer, not an error. */
static int quiet(enum libbpf_print_level l, const char *fmt, va_list ap)
{
	(void)l, (void)fmt, (void)ap;
	return 0;
}

int sl_features_probe(const struct sl_feature_want *w, struct sl_features *f)
{
	libbpf_print_fn_t prev = libbpf_set_print(quiet);
	char why[256];
	int first = 0;

	memset(f, 0, sizeof(*f));
	for (unsigned id = 0; id < SL_FEAT__COUNT; id++) {
		int err;

		if (!wanted(id, w)) {
			f->st[id].status = SL_FS_NOT_REQUESTED;
			continue;
		}
		err = probe_one(id);
		f->st[id].status = err ? SL_FS_UNAVAILABLE : SL_FS_AVAILABLE;
		f->st[id].err = -err;
		if (!err)
			continue;
		if (sl_feature_required(id, w)) {
			pr_warn("sluice: required kernel feature %s (%s) is unavailable: %s\n",
				defs[id].name, defs[id].what, sl_feature_reason(id, -err, why, sizeof(why)));
			first = first ? first : err;
		}
	}
	libbpf_set_print(prev);
	return first;
}
