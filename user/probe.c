// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Kernel feature probes (see probe.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "probe.h"
#include "util.h"

enum need { NEED_ALWAYS, NEED_NODE, NEED_TC, NEED_OPTIONAL };

/* NET: the program type is one of the kernel's is_net_admin_prog_type()
 * (CAP_NET_ADMIN to load); PERFMON: loading it needs CAP_PERFMON (the
 * tracing type, or Sluice's use of it: see probe_sockops()). */
enum gate { GATE_NET = 1 << 0, GATE_PERFMON = 1 << 1 };

static const struct feature_def {
	const char *name;
	const char *what;
	enum need need;
	unsigned gates; /* enum gate bits; CAP_BPF gates them all */
} defs[SL_FEAT__COUNT] = {
	[SL_FEAT_SOCK_ADDR] = { "sock_addr", "socket load balancing at connect/sendmsg", NEED_ALWAYS,
				GATE_NET },
	[SL_FEAT_SOCK_RELEASE] = { "sock_release", "connection accounting at close", NEED_ALWAYS,
				   GATE_NET },
	[SL_FEAT_SOCKOPS] = { "sockops", "TCP lifecycle: counters, limits, outlier ejection",
			      NEED_ALWAYS, GATE_NET | GATE_PERFMON },
	[SL_FEAT_SK_STORAGE] = { "sk_storage", "per-socket records", NEED_ALWAYS },
	[SL_FEAT_SYSCALL_PROG] = { "syscall_prog",
				   "outcome reports, CT garbage collection, policy re-judging",
				   NEED_ALWAYS },
	[SL_FEAT_LIVE_FLOWS] = { "live_flows", "live counters of open flows (tracing iterator)",
				 NEED_OPTIONAL, GATE_PERFMON },
	[SL_FEAT_XDP] = { "xdp", "node-ingress load balancing", NEED_NODE, GATE_NET },
	[SL_FEAT_TC] = { "tc", "reverse NAT, pod flow counters, NetworkPolicy", NEED_TC,
			 GATE_NET },
	[SL_FEAT_TCX] = { "tcx", "TC through links (else cls_bpf filters)", NEED_OPTIONAL },
	[SL_FEAT_SET_RETVAL] = { "set_retval", "refused connects fail with ECONNREFUSED (else EPERM)",
				 NEED_OPTIONAL },
	[SL_FEAT_PROG_STATS] = { "prog_stats", "program run counts and time (kernel.bpf_stats_enabled)",
				 NEED_OPTIONAL },
	[SL_FEAT_CLOSE_AT_RELEASE] = { "close_at_release",
				       "connections end at close(), without sockops STATE callbacks",
				       NEED_OPTIONAL, GATE_NET | GATE_PERFMON },
	[SL_FEAT_RTO_TOTAL] = { "rto_total",
				"close() counts a connection's RTOs (tcp_sock.total_rto): --sockops off",
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

/* --- capabilities ------------------------------------------------------------ */

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
	return found && cap >= 0 && cap < 64 && (eff >> cap & 1);
}

bool sl_cap_granted(enum sl_cap cap)
{
	return sl_cap_effective((int)cap) || sl_cap_effective(SL_CAP_SYS_ADMIN);
}

/* In a user namespace other than the initial one, capabilities count for
 * that namespace only; bpf() checks them in the initial one (unless a BPF
 * token delegates them). The initial namespace maps all 2^32 ids. */
static bool in_user_ns(void)
{
	FILE *f = fopen("/proc/self/uid_map", "re");
	unsigned long long inside, outside, count;
	int n;

	if (!f)
		return false;
	n = fscanf(f, "%llu %llu %llu", &inside, &outside, &count);
	fclose(f);
	return n == 3 && !(inside == 0 && outside == 0 && count == 4294967295ull);
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

/* Why the kernel refused feature ID with ERR, judged in the loading process:
 * the kernel's own order of checks (bpf_prog_load(): CAP_BPF, then
 * CAP_NET_ADMIN for network types, CAP_PERFMON for tracing types, then
 * security_bpf_prog_load() and the verifier). Without CAP_PERFMON the
 * verifier refuses bpf_skc_to_tcp_sock (EINVAL) and pointer arithmetic
 * (EACCES) in Sluice's programs, so those count for sockops too. */
static __u32 cause_of(unsigned id, int err)
{
	char mode[32];
	bool verifier = id == SL_FEAT_SOCKOPS && (err == EINVAL || err == EACCES);

	if (id == SL_FEAT_PROG_STATS)
		return err == ENODATA ? SL_FCAUSE_STATS_OFF : SL_FCAUSE_NONE;
	if (id >= SL_FEAT__COUNT || (err != EPERM && !verifier))
		return SL_FCAUSE_NONE;
	if (!sl_cap_granted(SL_CAP_BPF))
		return SL_FCAUSE_CAP_BPF;
	if ((defs[id].gates & GATE_NET) && !sl_cap_granted(SL_CAP_NET_ADMIN) && !verifier)
		return SL_FCAUSE_CAP_NET_ADMIN;
	if ((defs[id].gates & GATE_PERFMON) && !sl_cap_granted(SL_CAP_PERFMON))
		return SL_FCAUSE_CAP_PERFMON;
	if (verifier)
		return SL_FCAUSE_NONE;
	if (in_user_ns())
		return SL_FCAUSE_USERNS;
	return lockdown_mode(mode, sizeof(mode)) ? SL_FCAUSE_LOCKDOWN : SL_FCAUSE_KERNEL;
}

/* The program types CAP_NET_ADMIN is needed for, by feature. */
static const char *net_kind(unsigned id)
{
	switch (id) {
	case SL_FEAT_XDP:
		return "XDP";
	case SL_FEAT_TC:
		return "TC";
	case SL_FEAT_SOCKOPS:
		return "sockops";
	default:
		return "cgroup socket";
	}
}

/* What CAP_PERFMON is needed for, by feature. */
static const char *perfmon_use(unsigned id)
{
	return id == SL_FEAT_LIVE_FLOWS
		       ? "needed to load tracing programs such as the live-flow iterator"
		       : "needed by the verifier for Sluice's programs: sockops calls "
			 "bpf_skc_to_tcp_sock, and without it the verifier's Spectre hardening "
			 "refuses their pointer arithmetic";
}

static const char *cause_text(unsigned id, __u32 cause, char *buf, size_t len)
{
	char mode[32];

	switch (cause) {
	case SL_FCAUSE_CAP_BPF:
		return "CAP_BPF is not in the loader's effective capability set (needed to create "
		       "maps and load programs)";
	case SL_FCAUSE_CAP_NET_ADMIN:
		snprintf(buf, len, "CAP_NET_ADMIN is not in the loader's effective capability set "
				   "(needed to load %s programs)",
			 net_kind(id));
		return buf;
	case SL_FCAUSE_CAP_PERFMON:
		snprintf(buf, len, "CAP_PERFMON is not in the loader's effective capability set (%s)",
			 perfmon_use(id));
		return buf;
	case SL_FCAUSE_USERNS:
		return "the loader ran in a user namespace, whose capabilities do not count for "
		       "bpf() without a BPF token";
	case SL_FCAUSE_LOCKDOWN:
		snprintf(buf, len, "kernel lockdown (%s) is active",
			 lockdown_mode(mode, sizeof(mode)) ? mode : "as at load");
		return buf;
	case SL_FCAUSE_KERNEL:
		return "refused before verification although the loader had CAP_BPF, CAP_NET_ADMIN "
		       "and CAP_PERFMON: kernel lockdown or a security module";
	case SL_FCAUSE_STATS_OFF:
		return "kernel.bpf_stats_enabled is 0";
	}
	return NULL;
}

const char *sl_feature_state_reason(unsigned id, const struct sl_feature_state *st, char *buf,
				    size_t len)
{
	const char *name = strerrorname_np(st->err);
	char cause[256];
	const char *c = cause_text(id, st->cause, cause, sizeof(cause));

	if (st->cause == SL_FCAUSE_STATS_OFF)
		snprintf(buf, len, "%s", c);
	else
		snprintf(buf, len, "%s (%s)%s%s", name ? name : "?", strerror(st->err), c ? ": " : "",
			 c ? c : "");
	return buf;
}

const char *sl_feature_reason(unsigned id, int err, char *buf, size_t len)
{
	struct sl_feature_state st = { .status = SL_FS_UNAVAILABLE, .err = err,
				       .cause = cause_of(id, err) };

	return sl_feature_state_reason(id, &st, buf, len);
}

const char *sl_load_missing_cap(const struct sl_feature_want *w, char *buf, size_t len)
{
	const char *net = w->node_ingress || w->pod_hooks
				  ? "needed to load and attach cgroup socket, sockops, XDP and TC programs"
				  : "needed to load cgroup socket and sockops programs";

	if (!sl_cap_granted(SL_CAP_BPF))
		snprintf(buf, len, "CAP_BPF is not in the effective capability set (needed to create "
				   "BPF maps and load BPF programs)");
	else if (!sl_cap_granted(SL_CAP_NET_ADMIN))
		snprintf(buf, len, "CAP_NET_ADMIN is not in the effective capability set (%s)", net);
	else if (!sl_cap_granted(SL_CAP_PERFMON))
		snprintf(buf, len, "CAP_PERFMON is not in the effective capability set (%s)",
			 perfmon_use(SL_FEAT_SOCKOPS));
	else
		return NULL;
	return buf;
}

static int unpriv_bpf_disabled(void)
{
	FILE *f = fopen("/proc/sys/kernel/unprivileged_bpf_disabled", "re");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

const char *sl_pin_access_hint(int err, const char *path, char *buf, size_t len)
{
	struct stat st;

	if (err == -EPERM && !sl_cap_granted(SL_CAP_BPF)) {
		/* Before Linux 6.5 bpf() itself refused every command to a
		 * process without CAP_BPF while unprivileged BPF is off. */
		snprintf(buf, len, "CAP_BPF is not in the effective capability set (this kernel "
				   "wants it for every bpf() call while kernel.unprivileged_bpf_disabled "
				   "is %d)",
			 unpriv_bpf_disabled());
		return buf;
	}
	if (err == -EACCES && !stat(path, &st)) {
		snprintf(buf, len, "the pin is mode %04o and owned by uid %u, and this process is "
				   "uid %u without CAP_DAC_OVERRIDE",
			 st.st_mode & 07777, st.st_uid, geteuid());
		return buf;
	}
	return NULL;
}

static int load_probe(enum bpf_prog_type type, enum bpf_attach_type eat, __u32 flags,
		      __u32 btf_id, const struct bpf_insn *insns, size_t n)
{
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = eat, .prog_flags = flags,
		    .attach_btf_id = btf_id);
	int fd = bpf_prog_load(type, "sl_probe", "Dual BSD/GPL", insns, n, &o);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* The smallest program of TYPE: `r0 = RET; exit`. Returns 0 or -errno. */
static int probe_prog(enum bpf_prog_type type, enum bpf_attach_type eat, __u32 flags,
		      __u32 btf_id, int ret)
{
	struct bpf_insn insns[2];

	memset(insns, 0, sizeof(insns));
	insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
	insns[0].dst_reg = BPF_REG_0;
	insns[0].imm = ret;
	insns[1].code = BPF_JMP | BPF_EXIT;
	return load_probe(type, eat, flags, btf_id, insns, 2);
}

/* sockops as bpf/sockops.bpf.c uses it: with bpf_skc_to_tcp_sock(skops->sk),
 * which the kernel offers only to a loader with CAP_PERFMON (the verifier
 * answers EINVAL otherwise). Without CAP_PERFMON the verifier also refuses
 * pointer arithmetic in every Sluice program (Spectre v1 hardening), so
 * this probe stands for that too and the load stops before the real
 * programs fail with a verifier log. */
static int probe_sockops(void)
{
	struct bpf_insn insns[5];

	memset(insns, 0, sizeof(insns));
	/* r1 = skops->sk */
	insns[0].code = BPF_LDX | BPF_MEM | BPF_DW;
	insns[0].dst_reg = BPF_REG_1;
	insns[0].src_reg = BPF_REG_1;
	insns[0].off = offsetof(struct bpf_sock_ops, sk);
	/* if r1 == 0 goto r0 = 1 */
	insns[1].code = BPF_JMP | BPF_JEQ | BPF_K;
	insns[1].dst_reg = BPF_REG_1;
	insns[1].off = 1;
	insns[2].code = BPF_JMP | BPF_CALL;
	insns[2].imm = BPF_FUNC_skc_to_tcp_sock;
	insns[3].code = BPF_ALU64 | BPF_MOV | BPF_K;
	insns[3].dst_reg = BPF_REG_0;
	insns[3].imm = 1;
	insns[4].code = BPF_JMP | BPF_EXIT;
	return load_probe(BPF_PROG_TYPE_SOCK_OPS, 0, 0, 0, insns, 5);
}

/* The live-flow iterator as bpf/flows_iter.bpf.c is built: an iter/task_file
 * program that reads kernel memory (BPF_CORE_READ of tcp_sock fields is
 * bpf_probe_read_kernel in a tracing program). Lockdown in confidentiality
 * mode takes that helper away (the verifier answers EINVAL) on kernels that
 * still load tracing programs, so probing the program type alone would
 * promise what the load then cannot do. */
static int probe_iter(__u32 btf_id)
{
	struct bpf_insn insns[7];

	memset(insns, 0, sizeof(insns));
	/* r1 = r10 - 8 (8 bytes of stack), r2 = 8, r3 = 0 */
	insns[0].code = BPF_ALU64 | BPF_MOV | BPF_X;
	insns[0].dst_reg = BPF_REG_1;
	insns[0].src_reg = BPF_REG_10;
	insns[1].code = BPF_ALU64 | BPF_ADD | BPF_K;
	insns[1].dst_reg = BPF_REG_1;
	insns[1].imm = -8;
	insns[2].code = BPF_ALU64 | BPF_MOV | BPF_K;
	insns[2].dst_reg = BPF_REG_2;
	insns[2].imm = 8;
	insns[3].code = BPF_ALU64 | BPF_MOV | BPF_K;
	insns[3].dst_reg = BPF_REG_3;
	insns[4].code = BPF_JMP | BPF_CALL;
	insns[4].imm = BPF_FUNC_probe_read_kernel;
	insns[5].code = BPF_ALU64 | BPF_MOV | BPF_K;
	insns[5].dst_reg = BPF_REG_0;
	insns[6].code = BPF_JMP | BPF_EXIT;
	return load_probe(BPF_PROG_TYPE_TRACING, BPF_TRACE_ITER, 0, btf_id, insns, 7);
}

/* The BTF id of a kernel type of KIND (a function: the iterator target,
 * a kfunc), 0 if absent. */
static __u32 vmlinux_id(const char *name, __u32 kind)
{
	struct btf *btf = btf__load_vmlinux_btf();
	int id;

	if (!btf)
		return 0;
	id = btf__find_by_name_kind(btf, name, kind);
	btf__free(btf);
	return id > 0 ? (__u32)id : 0;
}

bool sl_kernel_has_member(const char *type, const char *member)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	const struct btf_member *m;
	bool found = false;
	int id;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	m = t ? btf_members(t) : NULL;
	for (__u16 i = 0; t && i < btf_vlen(t) && !found; i++)
		found = !strcmp(btf__name_by_offset(btf, m[i].name_off), member);
	btf__free(btf);
	return found;
}

static __u32 vmlinux_func(const char *name)
{
	return vmlinux_id(name, BTF_KIND_FUNC);
}

static void kfunc_call(struct bpf_insn *insn, __u32 btf_id)
{
	insn->code = BPF_JMP | BPF_CALL;
	insn->src_reg = BPF_PSEUDO_KFUNC_CALL;
	insn->imm = (__s32)btf_id;
}

/* cgroup/sock_release reading the socket's struct tcp_sock, as
 * bpf/sock_lb.bpf.c does at close(): bpf_cast_to_kern_ctx(ctx), then
 * bpf_rdonly_cast() to tcp_sock, then a load through it (Linux 6.2+;
 * a security module or lockdown may still refuse the untrusted read). */
static int probe_close_at_release(void)
{
	__u32 cast = vmlinux_func("bpf_cast_to_kern_ctx"), ro = vmlinux_func("bpf_rdonly_cast");
	__u32 tp = vmlinux_id("tcp_sock", BTF_KIND_STRUCT);
	struct bpf_insn insns[7];

	if (!cast || !ro || !tp)
		return -EOPNOTSUPP;
	memset(insns, 0, sizeof(insns));
	kfunc_call(&insns[0], cast); /* r0 = (struct sock *)ctx */
	insns[1].code = BPF_ALU64 | BPF_MOV | BPF_X; /* r1 = r0 */
	insns[1].dst_reg = BPF_REG_1;
	insns[1].src_reg = BPF_REG_0;
	insns[2].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r2 = tcp_sock's id */
	insns[2].dst_reg = BPF_REG_2;
	insns[2].imm = (__s32)tp;
	kfunc_call(&insns[3], ro); /* r0 = (struct tcp_sock *)r1 */
	insns[4].code = BPF_LDX | BPF_MEM | BPF_B; /* r0 = *(u8 *)r0 */
	insns[4].dst_reg = BPF_REG_0;
	insns[4].src_reg = BPF_REG_0;
	insns[5].code = BPF_ALU64 | BPF_MOV | BPF_K;
	insns[5].dst_reg = BPF_REG_0;
	insns[5].imm = 1;
	insns[6].code = BPF_JMP | BPF_EXIT;
	return load_probe(BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_RELEASE, 0, 0, insns, 7);
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
		return probe_sockops();
	case SL_FEAT_SK_STORAGE:
		return probe_map(BPF_MAP_TYPE_SK_STORAGE);
	case SL_FEAT_SYSCALL_PROG:
		return probe_prog(BPF_PROG_TYPE_SYSCALL, 0, BPF_F_SLEEPABLE, 0, 0);
	case SL_FEAT_LIVE_FLOWS:
		iter = vmlinux_func("bpf_iter_task_file");
		if (!iter)
			return -EOPNOTSUPP;
		return probe_iter(iter);
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
	case SL_FEAT_CLOSE_AT_RELEASE:
		return probe_close_at_release();
	case SL_FEAT_RTO_TOTAL:
		return sl_kernel_has_member("tcp_sock", "total_rto") ? 0 : -EOPNOTSUPP;
	}
	return -EOPNOTSUPP;
}

/* Test hook: SLUICE_TEST_REFUSE=NAME[,NAME...] makes the kernel's answer
 * to those features EPERM, as a kernel with lockdown gives before the
 * verifier, so the whole test suite can run as it would on a machine that
 * refuses them (docs/TESTING.md). */
static bool refused_for_test(unsigned id)
{
	const char *p = getenv("SLUICE_TEST_REFUSE");
	size_t n = strlen(defs[id].name), len;

	while (p && *p) {
		len = strcspn(p, ",");
		if (len == n && !strncmp(p, defs[id].name, n))
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

void sl_feature_fail(struct sl_features *f, unsigned id, int err)
{
	f->st[id].status = SL_FS_UNAVAILABLE;
	f->st[id].err = err;
	f->st[id].cause = cause_of(id, err);
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
		err = refused_for_test(id) ? -EPERM : probe_one(id);
		f->st[id].status = SL_FS_AVAILABLE;
		if (!err)
			continue;
		sl_feature_fail(f, id, -err);
		if (sl_feature_required(id, w)) {
			pr_warn("sluice: required kernel feature %s (%s) is unavailable: %s\n",
				defs[id].name, defs[id].what,
				sl_feature_state_reason(id, &f->st[id], why, sizeof(why)));
			first = first ? first : err;
		}
	}
	libbpf_set_print(prev);
	return first;
}
