// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sl-xdp-rate: packet rate through a veth pair with a live-frames
 * generator (BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, 5.18+).
 *
 *   sl-xdp-rate -m gen|drop|redirect|lb|plain -v VARIANT -g GEN_NS:DEV -x RX_NS:DEV
 *               [-e EP_NS:DEV] [-o OUT_DEV] [-d DST] [-p DPORT] [-s SRC] [-E EP_BASE]
 *               [-n FRAMES] [-r ROUNDS] [-F FLOWS] [-c CPU] [-R]
 *
 * sl_bench_gen (bench/bpf/xdp_gen.bpf.c) runs in GEN_NS and redirects
 * every frame into DEV, a veth whose peer is RX_NS:DEV; the frames are UDP
 * over IPv4, 64 bytes, FLOWS source ports. What RX_NS:DEV runs:
 *  - drop: sl_bench_sink (count, XDP_DROP): the XDP_DROP reference;
 *  - lb: sl_xdp_lb with one externalIP frontend (198.18.0.1:DPORT/UDP,
 *    4 endpoints from EP_BASE, written straight into its maps; -R sets its
 *    rodata xdp_redirect = 1); translated frames go where it sends them;
 *  - plain: nothing (the script turns GRO on so that the veth accepts
 *    redirected frames, and sets up iptables or plain forwarding);
 *  - redirect: sl_bench_redirect, every frame to OUT_DEV (-o, in RX_NS):
 *    the floor of XDP forwarding, for lb -R to be compared with;
 *  - gen: the generator drops its own frames: its cost alone, which every
 *    other variant includes (nothing arrives anywhere).
 * For lb and plain, sl_bench_sink on EP_NS:DEV counts what the node
 * forwarded. Programs are attached with bpf_link: they go with this process.
 *
 * Everything of one run happens on one CPU (-c): the generator, and the
 * veth NAPI polls it schedules there. The rate is frames counted at the
 * sink / wall time of the BPF_PROG_TEST_RUN call.
 *
 * Output, one TSV row per round on stdout:
 *   xdprate VARIANT ROUND FRAMES SECONDS SENT_PPS ARRIVED ARRIVED_PPS DETAIL
 * and, from one more run with the kernel's BPF run-time statistics on, the
 * node-side program's own cost in the live path:
 *   xdprun VARIANT PROG_NAME RUNS NS_PER_RUN
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sl-xdp.h"
#include "xdp_lb.skel.h"
#include "xdp_gen.skel.h"
#include "xdp_sink.skel.h"

#define FRAME_LEN 64

struct end {
	char ns[128];
	char dev[IFNAMSIZ];
	int ifindex;
	uint8_t mac[6];
};

struct opts {
	const char *mode, *variant;
	struct end gen, rx, ep;
	char out_dev[IFNAMSIZ]; /* redirect: the node's interface towards the endpoint */
	uint32_t dst, src, ep_base;
	uint16_t dport;
	uint32_t frames, flows;
	int rounds, cpu, redirect;
};

struct world {
	struct xdp_gen *gen;
	struct xdp_sink *sink; /* counts at rx (drop) or at the endpoint */
	struct xdp_sink *fwd; /* redirect: its sl_bench_redirect at rx */
	struct xdp_lb *lb;
	struct bpf_link *rx_link, *ep_link;
	int rx_prog; /* the program behind rx_link */
};

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static int parse_end(const char *arg, struct end *e)
{
	const char *c = strchr(arg, ':');

	if (!c || c == arg || (size_t)(c - arg) >= sizeof(e->ns) || strlen(c + 1) >= IFNAMSIZ)
		return -EINVAL;
	snprintf(e->ns, sizeof(e->ns), "%.*s", (int)(c - arg), arg);
	snprintf(e->dev, sizeof(e->dev), "%s", c + 1);
	return 0;
}

/* Enter the named netns and look the device up there. */
static int enter(struct end *e)
{
	char path[256];
	struct ifreq ifr;
	int fd, s, err = 0;

	snprintf(path, sizeof(path), "/run/netns/%s", e->ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		err = -errno;
		fprintf(stderr, "sl-xdp-rate: netns %s: %s\n", e->ns, strerror(errno));
		goto out;
	}
	e->ifindex = (int)if_nametoindex(e->dev);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", e->dev);
	if (!e->ifindex || s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr)) {
		err = -errno;
		fprintf(stderr, "sl-xdp-rate: %s in %s: %s\n", e->dev, e->ns, strerror(errno));
	} else {
		memcpy(e->mac, ifr.ifr_hwaddr.sa_data, 6);
	}
	if (s >= 0)
		close(s);
out:
	if (fd >= 0)
		close(fd);
	return err;
}

static struct bpf_link *attach(struct bpf_program *prog, struct end *e, int *fd)
{
	struct bpf_link *l;

	if (fd)
		*fd = bpf_program__fd(prog);
	if (enter(e))
		return NULL;
	l = bpf_program__attach_xdp(prog, e->ifindex);
	if (!l)
		fprintf(stderr, "sl-xdp-rate: attach %s to %s: %s\n", bpf_program__name(prog),
			e->dev, strerror(errno));
	return l;
}

static int setup_lb(struct world *w, struct opts *o)
{
	struct bench_tables t = { .family = 4, .proto = IPPROTO_UDP, .fe_port = o->dport,
				  .n_fe = 1, .neps = 4, .ep_base = o->ep_base };
	int err;

	w->lb = xdp_lb__open();
	if (!w->lb)
		return -errno;
	w->lb->rodata->xdp_redirect = (uint32_t)o->redirect;
	if (xdp_lb__load(w->lb))
		return -errno;
	err = bench_fill(w->lb->obj, &t);
	if (err)
		return err;
	w->rx_link = attach(w->lb->progs.sl_xdp_lb, &o->rx, &w->rx_prog);
	return w->rx_link ? 0 : -errno;
}

static int setup_redirect(struct world *w, struct opts *o)
{
	int err = enter(&o->rx);
	unsigned int out;

	if (err)
		return err;
	out = if_nametoindex(o->out_dev);
	if (!out)
		return -errno;
	w->fwd = xdp_sink__open();
	if (!w->fwd)
		return -errno;
	w->fwd->rodata->redirect_ifindex = out;
	if (xdp_sink__load(w->fwd))
		return -errno;
	w->rx_link = attach(w->fwd->progs.sl_bench_redirect, &o->rx, &w->rx_prog);
	return w->rx_link ? 0 : -errno;
}

/* The generator, built for the frame from GEN's MAC to RX's. */
static int setup_gen(struct world *w, struct opts *o)
{
	uint8_t frame[SL_BENCH_PKT_MAX];
	struct bench_flow f;
	int err;

	err = enter(&o->gen);
	if (err)
		return err;
	memset(&f, 0, sizeof(f));
	f.family = 4;
	f.proto = IPPROTO_UDP;
	f.saddr = o->src;
	f.daddr = o->dst;
	f.sport = 10000;
	f.dport = o->dport;
	memcpy(f.smac, o->gen.mac, 6);
	memcpy(f.dmac, o->rx.mac, 6);
	if (bench_build(&f, frame, FRAME_LEN) < 0)
		return -EINVAL;
	w->gen = xdp_gen__open();
	if (!w->gen)
		return -errno;
	memcpy((void *)w->gen->rodata->tmpl, frame, FRAME_LEN); /* an array of __u64 */
	w->gen->rodata->sport_off = 14 + 20;
	w->gen->rodata->nflows = o->flows;
	w->gen->rodata->sport_base = 10000;
	w->gen->rodata->out_ifindex = (uint32_t)o->gen.ifindex;
	w->gen->rodata->gen_drop = !strcmp(o->mode, "gen");
	return xdp_gen__load(w->gen) ? -errno : 0;
}

static int setup(struct world *w, struct opts *o)
{
	bool drop = !strcmp(o->mode, "drop"), gen = !strcmp(o->mode, "gen");
	int err = 0;

	/* The receiver's MAC is the generator's destination. */
	err = enter(&o->rx);
	if (err)
		return err;
	w->sink = xdp_sink__open_and_load();
	if (!w->sink)
		return -errno;
	/* gen: nothing attached, the frames never leave the generator. */
	if (drop) {
		w->rx_link = attach(w->sink->progs.sl_bench_sink, &o->rx, &w->rx_prog);
		if (!w->rx_link)
			return -errno;
	} else if (!gen) {
		w->ep_link = attach(w->sink->progs.sl_bench_sink, &o->ep, NULL);
		if (!w->ep_link)
			return -errno;
		if (!strcmp(o->mode, "lb"))
			err = setup_lb(w, o);
		else if (!strcmp(o->mode, "redirect"))
			err = setup_redirect(w, o);
		else if (strcmp(o->mode, "plain"))
			err = -EINVAL;
	}
	return err ?: setup_gen(w, o);
}

static void teardown(struct world *w)
{
	bpf_link__destroy(w->rx_link);
	bpf_link__destroy(w->ep_link);
	xdp_lb__destroy(w->lb);
	xdp_sink__destroy(w->fwd);
	xdp_sink__destroy(w->sink);
	xdp_gen__destroy(w->gen);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int generate(struct world *w, const struct opts *o, uint32_t frames)
{
	uint8_t frame[FRAME_LEN] = { 0 };
	/* The kernel wants data_end = the data size when a context is given. */
	struct xdp_md md = { .data_end = FRAME_LEN, .ingress_ifindex = (uint32_t)o->gen.ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = frame, .data_size_in = FRAME_LEN,
		    .ctx_in = &md, .ctx_size_in = sizeof(md), .repeat = frames,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);

	/* The program writes the whole frame: the input is only its size. */
	return bpf_prog_test_run_opts(bpf_program__fd(w->gen->progs.sl_bench_gen), &t) ? -errno : 0;
}

/* What the load balancer did, for the row's DETAIL column. */
static void lb_detail(struct world *w, char *buf, size_t len)
{
	struct sl_xdp_stats st;
	uint64_t drops = 0;

	if (!w->lb ||
	    bench_percpu_sum(bpf_map__fd(w->lb->maps.sl_xdp_stats), sizeof(st), (uint64_t *)&st)) {
		snprintf(buf, len, "-");
		return;
	}
	for (int i = 0; i < SL_DROP__COUNT; i++)
		drops += st.drops[i];
	snprintf(buf, len, "lb packets %llu passed %llu redirected %llu drops %llu new %llu",
		 (unsigned long long)st.packets, (unsigned long long)st.passed,
		 (unsigned long long)st.redirected, (unsigned long long)drops,
		 (unsigned long long)st.new_flows);
}

/* The program at RX (if any): its own run time per packet in the live
 * path, from the kernel's run-time statistics during one extra run (they
 * cost two clock reads per run themselves, so never in the rounds). */
static int rx_prog_cost(struct world *w, const struct opts *o)
{
	struct bpf_prog_info a, b;
	__u32 len;
	int stats, err;

	if (!w->rx_link)
		return 0;
	stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats < 0)
		return -errno;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	len = sizeof(a);
	err = bpf_prog_get_info_by_fd(w->rx_prog, &a, &len) ? -errno : 0;
	err = err ?: generate(w, o, o->frames);
	len = sizeof(b);
	err = err ?: (bpf_prog_get_info_by_fd(w->rx_prog, &b, &len) ? -errno : 0);
	if (!err && b.run_cnt > a.run_cnt)
		printf("xdprun\t%s\t%s\t%llu\t%.1f\n", o->variant, b.name,
		       (unsigned long long)(b.run_cnt - a.run_cnt),
		       (double)(b.run_time_ns - a.run_time_ns) / (double)(b.run_cnt - a.run_cnt));
	close(stats);
	return err;
}

static int measure(struct world *w, const struct opts *o)
{
	uint64_t before[2], after[2];
	int sink = bpf_map__fd(w->sink->maps.sl_sink), err;
	char detail[256];
	double t0, dt;

	/* Warm-up: neighbours, tracking entries, caches. */
	err = generate(w, o, o->frames / 10 ?: 1);
	for (int r = 1; r <= o->rounds && !err; r++) {
		err = bench_percpu_sum(sink, sizeof(before), before);
		t0 = now_s();
		err = err ?: generate(w, o, o->frames);
		dt = now_s() - t0;
		err = err ?: bench_percpu_sum(sink, sizeof(after), after);
		if (err)
			break;
		lb_detail(w, detail, sizeof(detail));
		printf("xdprate\t%s\t%d\t%u\t%.6f\t%.0f\t%llu\t%.0f\t%s\n", o->variant, r, o->frames, dt,
		       o->frames / dt, (unsigned long long)(after[0] - before[0]),
		       (double)(after[0] - before[0]) / dt, detail);
		fflush(stdout);
	}
	return err ?: rx_prog_cost(w, o);
}

static int pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: sl-xdp-rate -m gen|drop|redirect|lb|plain -v VARIANT -g NS:DEV -x NS:DEV\n"
			"       [-e NS:DEV] [-o OUT_DEV]\n"
			"       [-d DST] [-p DPORT] [-s SRC] [-E EP_BASE] [-n FRAMES] [-r ROUNDS] [-F FLOWS]\n"
			"       [-c CPU] [-R]\n");
	return 2;
}

static int addr_arg(const char *s, uint32_t *a)
{
	struct in_addr in;

	if (inet_pton(AF_INET, s, &in) != 1)
		return -EINVAL;
	*a = ntohl(in.s_addr);
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	int c, bad = 0;

	while ((c = getopt(argc, argv, "m:v:g:x:e:o:d:p:s:E:n:r:F:c:R")) != -1) {
		switch (c) {
		case 'm': o->mode = optarg; break;
		case 'v': o->variant = optarg; break;
		case 'g': bad |= parse_end(optarg, &o->gen); break;
		case 'x': bad |= parse_end(optarg, &o->rx); break;
		case 'e': bad |= parse_end(optarg, &o->ep); break;
		case 'o': snprintf(o->out_dev, sizeof(o->out_dev), "%s", optarg); break;
		case 'd': bad |= addr_arg(optarg, &o->dst); break;
		case 'p': o->dport = (uint16_t)atoi(optarg); break;
		case 's': bad |= addr_arg(optarg, &o->src); break;
		case 'E': bad |= addr_arg(optarg, &o->ep_base); break;
		case 'n': o->frames = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'r': o->rounds = atoi(optarg); break;
		case 'F': o->flows = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'c': o->cpu = atoi(optarg); break;
		case 'R': o->redirect = 1; break;
		default: return -EINVAL;
		}
	}
	if (bad || !o->mode || !o->variant || !o->gen.dev[0] || !o->rx.dev[0] || !o->frames ||
	    !o->flows || o->rounds < 1 ||
	    (strcmp(o->mode, "drop") && strcmp(o->mode, "gen") && !o->ep.dev[0]))
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .dst = BENCH_FE_BASE, .src = 0x0ac80102u /* 10.200.1.2 */,
			  .ep_base = 0x0ac80202u /* 10.200.2.2 */, .dport = 80,
			  .frames = 2000000, .flows = 64, .rounds = 5, .cpu = 1 };
	struct world w;
	int err;

	if (parse(argc, argv, &o))
		return usage();
	libbpf_set_print(libbpf_quiet);
	memset(&w, 0, sizeof(w));
	err = pin_cpu(o.cpu);
	err = err ?: setup(&w, &o);
	err = err ?: measure(&w, &o);
	teardown(&w);
	if (err) {
		fprintf(stderr, "sl-xdp-rate %s: %s\n", o.variant ?: "?", strerror(-err));
		return 1;
	}
	return 0;
}
