// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-xdp-cost: per-packet cost of the node-ingress and pod-interface
 * programs with BPF_PROG_TEST_RUN.
 *
 *   sl-xdp-cost xdp [-f "1 10000"] [-k "tcp4 udp4 tcp6"] [-r ROUNDS] [-c CALLS] [-R REPEAT]
 *   sl-xdp-cost pflow [-r ROUNDS] [-R REPEAT]
 *
 * xdp: sl_xdp_lb against the parse-only floor (bench/bpf/xdp_floor.bpf.c),
 * for an established flow, a new flow (a distinct tuple every packet) and
 * non-service traffic, at each frontend count (-f; the packets go to the
 * last frontend). Two methods, both from the kernel's own clock
 * (opts.duration):
 *  - call: one packet per BPF_PROG_TEST_RUN call (repeat=1), CALLS calls;
 *    the mean of the per-call durations. Each call pays the kernel's timer
 *    reads around one run: compare call figures with call figures only.
 *  - repeat: one call with repeat=REPEAT, the kernel's average. sl_xdp_lb
 *    rewrites the packet, and the kernel does not restore it between
 *    repetitions, so translated cases run behind sl_bench_replay
 *    (bench/bpf/xdp_replay.bpf.c), which restores the headers and
 *    tail-calls the program; the replay's own cost (replay + tail call into
 *    a program that only returns XDP_PASS) is measured in the same round
 *    and subtracted.
 * The tables are written straight into the maps of a freshly loaded
 * object (bench/sl-xdp.h): 4 endpoints per frontend, weights 1..4.
 *
 * pflow: sl_tc_pod_from / sl_tc_pod_to with count_flows=1 and 0, an
 * established TCP flow, repeat=REPEAT; alternating rounds.
 *
 * Output: TSV rows on stdout (see bench/README.md, "Node ingress"):
 *   xdpcost FRONTENDS KIND CASE METHOD ROUND NS_PER_PKT RUNS DETAIL
 *   pflow DIR COUNT_FLOWS ROUND NS_PER_PKT REPEAT
 * Progress and errors on stderr. Exit 1 on any failure.
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sl-xdp.h"
#include "xdp_lb.skel.h"
#include "tc_pod.skel.h"
#include "xdp_floor.skel.h"
#include "xdp_replay.skel.h"

#define XDP_PASS_RC 2
#define TC_ACT_OK_RC 0
#define CLIENT_BASE 0x64400001u /* 100.64.0.1: clients */
#define NONSVC_ADDR 0xcb007101u /* 203.0.113.1: not a frontend */
#define REPLAY_LEN 80 /* sl_bench_replay restores this much; packets are this long */

struct opts {
	char counts[256];
	char kinds[256];
	int rounds;
	uint32_t calls;
	uint32_t repeat;
};

/* One sl_xdp_lb setup: a loaded object with N frontends of one kind. */
struct lb_setup {
	struct xdp_lb *lb;
	struct xdp_floor *floor;
	struct xdp_replay *nop; /* for sl_bench_nop: the kernel's loop alone */
	struct bench_tables t;
	const char *kind;
	uint32_t next_client; /* new-flow tuples handed out so far */
};

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* Warnings and the verifier log (printed at WARN) stay visible. */
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static int kind_parse(const char *kind, int *family, int *proto)
{
	if (!strcmp(kind, "tcp4") || !strcmp(kind, "tcp6"))
		*proto = IPPROTO_TCP;
	else if (!strcmp(kind, "udp4") || !strcmp(kind, "udp6"))
		*proto = IPPROTO_UDP;
	else
		return -EINVAL;
	*family = kind[3] - '0';
	return 0;
}

/* The packet of flow number K (0 = the established flow) of a setup, to
 * frontend FE (an index) or, with FE < 0, to the non-service address. */
static void flow_of(const struct lb_setup *s, uint32_t k, int fe, uint8_t tcp_flags,
		    struct bench_flow *f)
{
	memset(f, 0, sizeof(*f));
	f->family = s->t.family;
	f->proto = s->t.proto;
	f->saddr = CLIENT_BASE + (k >> 15);
	f->sport = (uint16_t)(32768 + (k & 0x7fff));
	f->daddr = fe < 0 ? NONSVC_ADDR : BENCH_FE_BASE + (uint32_t)fe;
	/* fe -2: a port no frontend has (ssh, kubelet, pod traffic): the
	 * common non-service packet. fe -1: a frontend's port, another address. */
	f->dport = fe == -2 ? (uint16_t)(s->t.fe_port + 1) : s->t.fe_port;
	f->tcp_flags = s->t.proto == IPPROTO_TCP ? tcp_flags : 0;
	f->udp_csum = 1;
	memcpy(f->dmac, "\x02\x00\x00\x00\x00\x02", 6);
	memcpy(f->smac, "\x02\x00\x00\x00\x00\x01", 6);
}

static int pkt_of(const struct bench_flow *f, uint8_t *pkt)
{
	return bench_build(f, pkt, REPLAY_LEN);
}

/* The rewritten packet must go to an endpoint of frontend FE. */
static int check_translated(const struct lb_setup *s, int fe, const uint8_t *out)
{
	uint32_t off = s->t.family == 4 ? 14 + 16 : 14 + 24 + 12, d, lo, hi;

	d = (uint32_t)out[off] << 24 | (uint32_t)out[off + 1] << 16 | (uint32_t)out[off + 2] << 8 |
	    out[off + 3];
	lo = s->t.ep_base + (uint32_t)fe * s->t.neps;
	hi = lo + s->t.neps;
	if (d < lo || d >= hi) {
		fprintf(stderr, "%s: packet to frontend %d left with destination %08x, not an endpoint\n",
			s->kind, fe, d);
		return -EPROTO;
	}
	return 0;
}

static int setup_lb(struct lb_setup *s, const char *kind, uint32_t n_fe)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	if (kind_parse(kind, &s->t.family, &s->t.proto))
		return -EINVAL;
	s->t.fe_port = 80;
	s->t.n_fe = n_fe;
	s->t.neps = 4;
	s->t.ep_base = 0x0a010001u; /* 10.1.0.1 */
	s->lb = xdp_lb__open_and_load();
	if (!s->lb)
		return -errno;
	s->floor = xdp_floor__open_and_load();
	if (!s->floor)
		return -errno;
	s->nop = xdp_replay__open_and_load();
	if (!s->nop)
		return -errno;
	err = bench_fill(s->lb->obj, &s->t);
	if (err)
		fprintf(stderr, "fill %u frontends: %s\n", n_fe, strerror(-err));
	return err;
}

static void teardown_lb(struct lb_setup *s)
{
	xdp_replay__destroy(s->nop);
	xdp_floor__destroy(s->floor);
	xdp_lb__destroy(s->lb);
}

static void row(const struct lb_setup *s, const char *cas, const char *method, int round,
		double ns, uint32_t runs, const char *detail)
{
	printf("xdpcost\t%u\t%s\t%s\t%s\t%d\t%.2f\t%u\tring %u%s%s\n", s->t.n_fe, s->kind, cas,
	       method, round, ns, runs, s->t.ring, *detail ? ", " : "", detail);
	fflush(stdout);
}

/* The sl_xdp_stats counter that a case of sl_xdp_lb must advance once per
 * packet: the check that a case measures the path it is named after. */
static int case_counter(const char *cas)
{
	if (!strcmp(cas, "est"))
		return (int)(offsetof(struct sl_xdp_stats, ct_hits) / 8);
	if (!strcmp(cas, "new"))
		return (int)(offsetof(struct sl_xdp_stats, new_flows) / 8);
	if (!strcmp(cas, "nonsvc") || !strcmp(cas, "otherport"))
		return (int)(offsetof(struct sl_xdp_stats, not_service) / 8);
	return -1;
}

static int lb_counter(const struct lb_setup *s, int idx, uint64_t *v)
{
	struct sl_xdp_stats st;
	int err;

	err = bench_percpu_sum(bpf_map__fd(s->lb->maps.sl_xdp_stats), sizeof(st), (uint64_t *)&st);
	if (!err)
		*v = ((uint64_t *)&st)[idx];
	return err;
}

/* Run FN's measurement of case CAS on PROG; if PROG is sl_xdp_lb, the
 * case's counter must have moved by at least RUNS. */
static int checked(struct lb_setup *s, int prog, const char *cas, uint64_t runs,
		   int (*fn)(struct lb_setup *, int, const char *, int, uint32_t), int round)
{
	int idx = case_counter(cas), err;
	uint64_t before = 0, after = 0;
	bool check = idx >= 0 && prog == bpf_program__fd(s->lb->progs.sl_xdp_lb);

	if (check && (err = lb_counter(s, idx, &before)))
		return err;
	err = fn(s, prog, cas, round, (uint32_t)runs);
	if (err || !check)
		return err;
	err = lb_counter(s, idx, &after);
	if (err)
		return err;
	if (after - before < runs) {
		fprintf(stderr, "%s %s: %llu of %llu packets took that path\n", s->kind, cas,
			(unsigned long long)(after - before), (unsigned long long)runs);
		return -EPROTO;
	}
	return 0;
}

/* The frontend argument of flow_of() for case CAS. */
static int nonsvc_fe(const char *cas, int fe)
{
	if (!strcmp(cas, "nonsvc"))
		return -1;
	return strcmp(cas, "otherport") ? fe : -2;
}

/* Mean of CALLS single-packet calls; PKT rebuilt per call when NEWFLOW. */
static int per_call(struct lb_setup *s, int prog, const char *cas, int round, uint32_t calls)
{
	uint8_t pkt[SL_BENCH_PKT_MAX];
	struct bench_flow f;
	int fe = (int)s->t.n_fe - 1, len;
	bool newflow = !strcmp(cas, "new");
	double sum = 0;
	long ns;

	flow_of(s, 0, nonsvc_fe(cas, fe), newflow ? 0x02 : 0x10, &f);
	len = pkt_of(&f, pkt);
	for (uint32_t i = 0; i < calls; i++) {
		if (newflow) {
			flow_of(s, ++s->next_client, fe, 0x02, &f);
			len = pkt_of(&f, pkt);
		}
		ns = bench_run(prog, pkt, (size_t)len, 1, XDP_PASS_RC, NULL);
		if (ns < 0)
			return (int)ns;
		sum += (double)ns;
	}
	row(s, cas, "call", round, sum / calls, calls, "");
	return 0;
}

/* sl_bench_replay in front of TARGET, template PKT; VARY: a new tuple per
 * run. Returns the kernel's ns per run, or -errno. */
static long replayed(const uint8_t *pkt, const struct bench_flow *f, bool vary,
		     uint16_t saddr_base, int target, uint32_t repeat)
{
	struct xdp_replay *r = xdp_replay__open();
	struct bench_offs o;
	uint32_t zero = 0;
	long ns = -ENOMEM;

	if (!r)
		return -errno;
	bench_offsets(f, &o);
	memcpy((void *)r->rodata->tmpl, pkt, REPLAY_LEN); /* an array of __u64 */
	r->rodata->vary = vary;
	r->rodata->sport_off = o.sport;
	r->rodata->saddr_off = o.saddr_lo;
	r->rodata->ip_csum_off = o.ip_csum;
	r->rodata->l4_csum_off = o.l4_csum;
	/* Source ports 1024.. and addresses with low half saddr_base..:
	 * never the established flow or the call-mode tuples (32768..). */
	r->rodata->saddr_base = saddr_base;
	if (xdp_replay__load(r)) {
		ns = -errno;
		goto out;
	}
	if (target < 0)
		target = bpf_program__fd(r->progs.sl_bench_nop);
	if (bpf_map_update_elem(bpf_map__fd(r->maps.sl_bench_next), &zero, &target, BPF_ANY)) {
		ns = -errno;
		goto out;
	}
	ns = bench_run(bpf_program__fd(r->progs.sl_bench_replay), pkt, REPLAY_LEN, repeat,
		       XDP_PASS_RC, NULL);
out:
	xdp_replay__destroy(r);
	return ns;
}

/* Replay into TARGET minus replay into nothing, one row. */
static int per_repeat_replayed(struct lb_setup *s, int target, const char *cas, int round,
			       uint32_t repeat)
{
	uint8_t pkt[SL_BENCH_PKT_MAX];
	struct bench_flow f;
	bool vary = !strcmp(cas, "new");
	char detail[96];
	long raw, base;

	/* Every round's new flows get their own client addresses, so they are
	 * new to the tracking table (up to 64 * 32768 runs per round). */
	uint16_t saddr_base = (uint16_t)(0x4000 + 64 * round);

	flow_of(s, 0, (int)s->t.n_fe - 1, vary ? 0x02 : 0x10, &f);
	pkt_of(&f, pkt);
	raw = replayed(pkt, &f, vary, saddr_base, target, repeat);
	if (raw < 0)
		return (int)raw;
	base = replayed(pkt, &f, vary, saddr_base, -1, repeat);
	if (base < 0)
		return (int)base;
	snprintf(detail, sizeof(detail), "replay %ld - %ld", raw, base);
	row(s, cas, "repeat", round, (double)(raw - base), repeat, detail);
	return 0;
}

/* Cases that do not rewrite the packet need no replay. */
static int per_repeat(struct lb_setup *s, int prog, const char *cas, int round, uint32_t repeat)
{
	uint8_t pkt[SL_BENCH_PKT_MAX];
	struct bench_flow f;
	long ns;

	flow_of(s, 0, nonsvc_fe(cas, (int)s->t.n_fe - 1), 0x10, &f);
	pkt_of(&f, pkt);
	ns = bench_run(prog, pkt, REPLAY_LEN, repeat, XDP_PASS_RC, NULL);
	if (ns < 0)
		return (int)ns;
	row(s, cas, "repeat", round, (double)ns, repeat, "");
	return 0;
}

/* Open the established flow with a SYN and check both packets come out
 * translated to an endpoint of the last frontend. */
static int prime(struct lb_setup *s)
{
	uint8_t pkt[SL_BENCH_PKT_MAX], out[SL_BENCH_PKT_MAX];
	int lb = bpf_program__fd(s->lb->progs.sl_xdp_lb), fe = (int)s->t.n_fe - 1, err;
	struct bench_flow f;
	long ns;

	for (int i = 0; i < 2; i++) {
		flow_of(s, 0, fe, i ? 0x10 : 0x02, &f);
		pkt_of(&f, pkt);
		ns = bench_run(lb, pkt, REPLAY_LEN, 1, XDP_PASS_RC, out);
		if (ns < 0)
			return (int)ns;
		err = check_translated(s, fe, out);
		if (err)
			return err;
	}
	return 0;
}

static int round_xdp(struct lb_setup *s, int r, const struct opts *o)
{
	int lb = bpf_program__fd(s->lb->progs.sl_xdp_lb);
	int floor = bpf_program__fd(s->floor->progs.sl_bench_floor);
	int err = 0;

	err = err ?: per_call(s, floor, "floor", r, o->calls);
	err = err ?: checked(s, lb, "est", o->calls, per_call, r);
	err = err ?: checked(s, lb, "new", o->calls, per_call, r);
	err = err ?: checked(s, lb, "nonsvc", o->calls, per_call, r);
	err = err ?: checked(s, lb, "otherport", o->calls, per_call, r);
	err = err ?: per_repeat(s, bpf_program__fd(s->nop->progs.sl_bench_nop), "nop", r, o->repeat);
	err = err ?: per_repeat(s, floor, "floor", r, o->repeat);
	err = err ?: per_repeat_replayed(s, floor, "floor-replayed", r, o->repeat);
	err = err ?: checked(s, lb, "est", o->repeat, per_repeat_replayed, r);
	err = err ?: checked(s, lb, "new", o->repeat, per_repeat_replayed, r);
	err = err ?: checked(s, lb, "nonsvc", o->repeat, per_repeat, r);
	err = err ?: checked(s, lb, "otherport", o->repeat, per_repeat, r);
	return err;
}

static int bench_xdp(const struct opts *o)
{
	char kinds[256], counts[256], *ks, *cs, *kind, *cnt;
	struct lb_setup s;
	int err = 0;

	snprintf(kinds, sizeof(kinds), "%s", o->kinds);
	for (kind = strtok_r(kinds, " ", &ks); kind && !err; kind = strtok_r(NULL, " ", &ks)) {
		snprintf(counts, sizeof(counts), "%s", o->counts);
		for (cnt = strtok_r(counts, " ", &cs); cnt && !err; cnt = strtok_r(NULL, " ", &cs)) {
			fprintf(stderr, "sl-xdp-cost: %s, %s frontends\n", kind, cnt);
			err = setup_lb(&s, kind, (uint32_t)strtoul(cnt, NULL, 10));
			err = err ?: prime(&s);
			for (int r = 1; r <= o->rounds && !err; r++)
				err = round_xdp(&s, r, o);
			teardown_lb(&s);
		}
	}
	return err;
}

/* ---- pflow --------------------------------------------------------------------- */

static struct tc_pod *pod_load(uint32_t count_flows)
{
	struct tc_pod *p = tc_pod__open();
	struct sl_config cfg;
	uint32_t zero = 0;

	if (!p)
		return NULL;
	p->rodata->count_flows = count_flows;
	if (tc_pod__load(p))
		goto fail;
	memset(&cfg, 0, sizeof(cfg));
	cfg.magic = SL_ABI_MAGIC;
	cfg.abi_version = SL_ABI_VERSION;
	cfg.generation = 1;
	if (bpf_map_update_elem(bpf_map__fd(p->maps.sl_config), &zero, &cfg, BPF_ANY))
		goto fail;
	return p;
fail:
	tc_pod__destroy(p);
	return NULL;
}

/* An established TCP segment leaving (FROM) or entering the pod. */
static int pod_pkt(bool from, uint8_t *pkt)
{
	struct bench_flow f;

	memset(&f, 0, sizeof(f));
	f.family = 4;
	f.proto = IPPROTO_TCP;
	f.tcp_flags = 0x10;
	f.saddr = from ? 0x0af40005u : 0x0af40109u; /* 10.244.0.5 pod, 10.244.1.9 peer */
	f.daddr = from ? 0x0af40109u : 0x0af40005u;
	f.sport = from ? 40000 : 8080;
	f.dport = from ? 8080 : 40000;
	memcpy(f.dmac, "\x02\x00\x00\x00\x00\x02", 6);
	memcpy(f.smac, "\x02\x00\x00\x00\x00\x01", 6);
	return bench_build(&f, pkt, REPLAY_LEN);
}

/* Records in sl_pflows: count_flows=1 must have made one, 0 none. */
static int pflow_records(struct tc_pod *p)
{
	struct sl_pflow_key k, next;
	int fd = bpf_map__fd(p->maps.sl_pflows), n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

static int bench_pflow(const struct opts *o)
{
	static const char *const dirs[] = { "from", "to" };
	uint8_t pkt[SL_BENCH_PKT_MAX];
	struct tc_pod *p[2] = { NULL, NULL };
	int err = 0, prog;
	long ns;

	for (int d = 0; d < 2 && !err; d++) {
		bool from = d == 0;

		pod_pkt(from, pkt);
		for (int cf = 0; cf < 2; cf++) {
			p[cf] = pod_load((uint32_t)cf);
			if (!p[cf])
				err = -errno ?: -EINVAL;
		}
		for (int r = 1; r <= o->rounds && !err; r++) {
			for (int cf = 1; cf >= 0 && !err; cf--) {
				prog = bpf_program__fd(from ? p[cf]->progs.sl_tc_pod_from
							    : p[cf]->progs.sl_tc_pod_to);
				/* The first run opens the flow record. */
				if (r == 1 && bench_run(prog, pkt, REPLAY_LEN, 1, TC_ACT_OK_RC, NULL) < 0) {
					err = -EPROTO;
					break;
				}
				ns = bench_run(prog, pkt, REPLAY_LEN, o->repeat, TC_ACT_OK_RC, NULL);
				if (ns < 0) {
					err = (int)ns;
					break;
				}
				printf("pflow\t%s\t%d\t%d\t%ld\t%u\n", dirs[d], cf, r, ns, o->repeat);
				fflush(stdout);
			}
		}
		if (!err && (pflow_records(p[1]) != 1 || pflow_records(p[0]) != 0)) {
			fprintf(stderr, "pflow %s: %d flow records with count_flows=1, %d with 0\n",
				dirs[d], pflow_records(p[1]), pflow_records(p[0]));
			err = -EPROTO;
		}
		for (int cf = 0; cf < 2; cf++)
			tc_pod__destroy(p[cf]);
	}
	return err;
}

static int usage(void)
{
	fprintf(stderr, "usage: sl-xdp-cost xdp [-f COUNTS] [-k KINDS] [-r ROUNDS] [-c CALLS] [-R REPEAT]\n"
			"       sl-xdp-cost pflow [-r ROUNDS] [-R REPEAT]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct opts o = { .counts = "1 10000", .kinds = "tcp4 udp4 tcp6", .rounds = 5,
			  .calls = 20000, .repeat = 100000 };
	const char *what;
	int c, err;

	if (argc < 2)
		return usage();
	what = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "f:k:r:c:R:")) != -1) {
		switch (c) {
		case 'f':
			snprintf(o.counts, sizeof(o.counts), "%s", optarg);
			break;
		case 'k':
			snprintf(o.kinds, sizeof(o.kinds), "%s", optarg);
			break;
		case 'r':
			o.rounds = atoi(optarg);
			break;
		case 'c':
			o.calls = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'R':
			o.repeat = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		default:
			return usage();
		}
	}
	if (o.rounds < 1 || !o.calls || !o.repeat)
		return usage();
	libbpf_set_print(libbpf_quiet);
	if (!strcmp(what, "xdp"))
		err = bench_xdp(&o);
	else if (!strcmp(what, "pflow"))
		err = bench_pflow(&o);
	else
		return usage();
	if (err) {
		fprintf(stderr, "sl-xdp-cost %s: %s\n", what, strerror(-err));
		return 1;
	}
	return 0;
}
