// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluiced: the node agent (one per node, a DaemonSet).
 *
 *   1. loads and pins the data plane (or takes over a loaded pin root:
 *      programs are replaced in place, maps and state are kept);
 *   2. makes the applied policy equal to the YAML files of --config-dir,
 *      again whenever a file there changes (inotify, 100 ms debounce) and on
 *      SIGHUP; a directory that does not read, parse or fit is rejected
 *      whole and the last good policy stays (sync.c, confdir.c);
 *   3. serves /metrics, /healthz and /readyz on --metrics (http.c,
 *      routes.c), on threads of their own;
 *   4. attaches the pod-interface programs to every interface matching
 *      --pod-ifaces as it appears (pods come and go), and forgets the
 *      interfaces that went away;
 *   5. runs the node-ingress connection-tracking GC every --ct-gc seconds.
 *
 * It never unloads: when it exits (SIGTERM, SIGINT) or is killed, traffic
 * keeps flowing on the pinned programs and maps, and the next agent
 * continues from them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "agent.h"
#include "log.h"
#include "pins.h"
#include "probe.h"
#include "util.h"

#define HTTP_MAX_CONNS 2048
#define HTTP_IDLE_TIMEOUT_S 10
/* Descriptors beyond the HTTP connections: maps, links, inotify, timers. */
#define FD_RESERVE 256

struct cmdline {
	struct agent a;
	struct sl_load_opts lo;
	const char *metrics;
	struct http_opts http;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: sluiced --config-dir DIR [--pin-root DIR] [--cgroup PATH]\n"
		   "               [--metrics ADDR:PORT] [--http-max-conns N (%u)]\n"
		   "               [--http-timeout SECONDS (%u)] [--proxy ADDR:PORT|none] [-v]\n"
		   "               [--sockops auto|on|off]\n"
		   "               [--iface IF]... [--xdp-mode auto|native|generic]\n"
		   "               [--pod-ifaces GLOB] [--ct-gc SECONDS (default 10, 0 = off)]\n"
		   "               [--ct-tcp-idle S (7200)] [--ct-udp-idle S (60)] [--ct-closed-idle S (10)]\n",
		HTTP_MAX_CONNS, HTTP_IDLE_TIMEOUT_S);
}

/* A whole positive number, or 0 (callers treat 0 as invalid). */
static unsigned parse_uint(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	return errno || *end || end == s || s[0] == '-' || v > 1000000 ? 0 : (unsigned)v;
}

static int parse_opt(struct cmdline *c, int opt, const char *arg)
{
	struct agent *a = &c->a;

	switch (opt) {
	case 'P': a->pin_root = arg; break;
	case 'C': a->config_dir = arg; break;
	case 'c': c->lo.cgroup = arg; break;
	case 'M': c->metrics = arg; break;
	case 'v': sl_verbosity++; break;
	case 'g': a->pod_glob = arg; break;
	case 'G': a->ct_gc_s = (unsigned)strtoul(arg, NULL, 10); break;
	case 'T': a->ct.tcp_idle_ns = (__u64)(strtod(arg, NULL) * 1e9); break;
	case 'U': a->ct.udp_idle_ns = (__u64)(strtod(arg, NULL) * 1e9); break;
	case 'L': a->ct.closed_idle_ns = (__u64)(strtod(arg, NULL) * 1e9); break;
	case 'm': return (c->http.max_conns = parse_uint(arg)) ? 0 : -EINVAL;
	case 't': return (c->http.idle_timeout_s = parse_uint(arg)) ? 0 : -EINVAL;
	case 'x': return sl_load_opts_xdp_mode(&c->lo, arg);
	case 'p': return sl_load_opts_proxy(&c->lo, arg);
	case 'o': return sl_load_opts_sockops(&c->lo, arg);
	case 'i':
		if (c->lo.n_ifaces == SL_MAX_LOAD_IFACES)
			return -E2BIG;
		c->lo.ifaces[c->lo.n_ifaces++] = arg;
		break;
	default: return -EINVAL;
	}
	return 0;
}

static int parse_args(struct cmdline *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-root", required_argument, NULL, 'P' },
		{ "config-dir", required_argument, NULL, 'C' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "http-max-conns", required_argument, NULL, 'm' },
		{ "http-timeout", required_argument, NULL, 't' },
		{ "proxy", required_argument, NULL, 'p' },
		{ "sockops", required_argument, NULL, 'o' },
		{ "iface", required_argument, NULL, 'i' },
		{ "xdp-mode", required_argument, NULL, 'x' },
		{ "pod-ifaces", required_argument, NULL, 'g' },
		{ "ct-gc", required_argument, NULL, 'G' },
		{ "ct-tcp-idle", required_argument, NULL, 'T' },
		{ "ct-udp-idle", required_argument, NULL, 'U' },
		{ "ct-closed-idle", required_argument, NULL, 'L' },
		{ 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "v", opts, NULL)) != -1)
		if (parse_opt(c, opt, optarg))
			return -EINVAL;
	return c->a.config_dir && optind == argc ? 0 : -EINVAL;
}

/* Each HTTP connection is a descriptor: lift the soft limit to what the
 * connection limit needs, or lower the connection limit to what fits. */
static void fit_fd_limit(struct http_opts *o)
{
	rlim_t want = (rlim_t)o->max_conns + FD_RESERVE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want) {
		o->max_conns = rl.rlim_cur > 2 * FD_RESERVE ? (unsigned)(rl.rlim_cur - FD_RESERVE) : 16;
		log_warn("open-file limit %llu: serving at most %u HTTP connections",
			 (unsigned long long)rl.rlim_cur, o->max_conns);
	}
}

static int start(struct cmdline *c)
{
	struct agent *a = &c->a;
	int err;

	c->lo.pin_root = a->pin_root;
	a->lo = &c->lo;
	err = sl_load(&c->lo);
	if (err) {
		struct sl_feature_want w = { .node_ingress = c->lo.n_ifaces > 0,
					     .pod_hooks = c->lo.n_pod_ifaces > 0 };
		char why[512];
		const char *cap = sl_load_missing_cap(&w, why, sizeof(why));

		log_error("load: %s", cap ? cap : strerror(-err));
		return err;
	}
	err = node_expect_snapshot(a->pin_root, c->lo.ifaces, c->lo.n_ifaces, &a->expect);
	if (err) {
		log_error("%s/links: %s", a->pin_root, strerror(-err));
		return err;
	}
	a->st.start_ns = sl_now_real_ns();
	status_publish(&a->st);
	status_heartbeat(); /* alive from here on, the first apply included */
	return agent_loop_init(a);
}

int main(int argc, char **argv)
{
	struct cmdline c = {
		.a = { .pin_root = SL_DEFAULT_PIN_ROOT, .ct_gc_s = 10, .watch_wd = -1,
		       .epfd = -1, .inotify_fd = -1, .signal_fd = -1, .debounce_fd = -1, .tick_fd = -1,
		       .ct = { SL_CT_TCP_IDLE_NS, SL_CT_UDP_IDLE_NS, SL_CT_CLOSED_IDLE_NS } },
		.http = { .max_conns = HTTP_MAX_CONNS, .idle_timeout_s = HTTP_IDLE_TIMEOUT_S },
	};
	struct http_server *http = NULL;
	struct http_routes routes;
	int err;

	sl_load_opts_default(&c.lo, c.a.pin_root);
	if (parse_args(&c, argc, argv)) {
		usage(stderr);
		return 2;
	}
	agent_log_init();
	/* Before any thread exists, so that only the loop's signalfd gets them. */
	err = agent_block_signals();
	if (!err)
		err = start(&c);
	if (!err && c.metrics) {
		fit_fd_limit(&c.http);
		agent_routes(&c.a, &routes);
		http = http_start(c.metrics, &c.http, &routes, &err);
		if (!http)
			log_error("--metrics %s: %s", c.metrics, strerror(-err));
	}
	if (!err) {
		agent_sync(&c.a);
		agent_run(&c.a);
		log_info("exiting; the data plane stays loaded under %s", c.a.pin_root);
	}
	http_stop(http);
	agent_loop_close(&c.a);
	node_expect_free(&c.a.expect);
	return err ? 1 : 0;
}
