// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice-proxy: the node proxy (docs/PROXY.md). Started by sluiced, or on
 * its own. Exit status: 0 after SIGTERM or a completed hand-over, 1 when it
 * could not start, 2 on usage errors.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "proxy/polsrc.h"
#include "proxy_metrics.h"
#include "proxy/proxy.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-proxy --node NAME (--pin-root DIR | --policy FILE|DIR)\n"
		"         (--certs DIR | --ca IP:PORT --node-cert DIR)\n"
		"         [--outbound IP:PORT] [--hbone IP:PORT] [--mark N] [--peer NODE=IP]...\n"
		"         [--trust-domain TD] [--workers N] [--metrics FILE]\n"
		"         [--control SOCK] [--takeover SOCK] [--drain SECS] [--ready FILE] [-v]\n"
		"  --outbound     where `sluice load --proxy` hands connections (default 127.0.0.1:15001)\n"
		"  --hbone        the HBONE listener (default 0.0.0.0:15008)\n"
		"  --mark         SO_MARK of upstream sockets, as `load --proxy-mark` (default 0x5110)\n"
		"  --certs        DIR/NS/SA/{cert,key,root}.pem, reloaded when replaced\n"
		"  --ca           fetch identities from `sluice ca serve`, renewed at half-life\n"
		"  --peer         another node's HBONE address (port 15008 unless given)\n"
		"  --control      accept a successor's --takeover on this unix socket\n"
		"  --metrics      Prometheus text, rewritten every second (default with --pin-root:\n"
		"                 " SL_PROXY_METRICS_DIR "/<pin root>.proxy.prom, served by `sluice metrics`)\n");
}

static int add_peer(struct px_opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct px_peer *p;
	char addr[128];

	if (!eq || eq == arg || o->n_peers == PX_MAX_PEERS || (size_t)(eq - arg) >= sizeof(p->node))
		return -1;
	p = &o->peers[o->n_peers];
	snprintf(p->node, sizeof(p->node), "%.*s", (int)(eq - arg), arg);
	snprintf(addr, sizeof(addr), "%s", eq + 1);
	if (sl_parse_l4(addr, &p->addr))
		return -1;
	if (!p->addr.port)
		p->addr.port = htons(15008);
	o->n_peers++;
	return 0;
}

static int parse(int argc, char **argv, struct px_opts *o)
{
	static const struct option opts[] = {
		{ "node", 1, NULL, 'n' },	  { "pin-root", 1, NULL, 'P' },
		{ "policy", 1, NULL, 'f' },	  { "outbound", 1, NULL, 'o' },
		{ "hbone", 1, NULL, 'H' },	  { "mark", 1, NULL, 'm' },
		{ "certs", 1, NULL, 'c' },	  { "ca", 1, NULL, 'C' },
		{ "node-cert", 1, NULL, 'N' },	  { "trust-domain", 1, NULL, 't' },
		{ "peer", 1, NULL, 'p' },	  { "workers", 1, NULL, 'w' },
		{ "metrics", 1, NULL, 'M' },	  { "control", 1, NULL, 'k' },
		{ "takeover", 1, NULL, 'T' },	  { "drain", 1, NULL, 'd' },
		{ "ready", 1, NULL, 'r' },	  { "connect-timeout", 1, NULL, 'x' },
		{ "help", 0, NULL, 'h' },	  { 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'n': o->node = optarg; break;
		case 'P': o->pin_root = optarg; break;
		case 'f': o->policy_path = optarg; break;
		case 'o': o->outbound = optarg; break;
		case 'H': o->hbone = optarg; break;
		case 'm': o->mark = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'c': o->certs_dir = optarg; break;
		case 'C': o->ca_addr = optarg; break;
		case 'N': o->node_cert_dir = optarg; break;
		case 't': o->trust_domain = optarg; break;
		case 'p':
			if (add_peer(o, optarg)) {
				fprintf(stderr, "sluice-proxy: --peer %s: expected NODE=IP[:PORT]\n", optarg);
				return -1;
			}
			break;
		case 'w': o->workers = atoi(optarg); break;
		case 'M': o->metrics_path = optarg; break;
		case 'k': o->control_path = optarg; break;
		case 'T': o->takeover_path = optarg; break;
		case 'd': o->drain_s = atoi(optarg); break;
		case 'r': o->ready_path = optarg; break;
		case 'x': o->connect_timeout_ms = atoi(optarg); break;
		case 'v': sl_verbosity++; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind < argc || !o->node || !o->pin_root == !o->policy_path ||
	    !o->certs_dir == !o->ca_addr || (o->ca_addr && !o->node_cert_dir) ||
	    o->workers < 1 || o->workers > PX_MAX_WORKERS) {
		fprintf(stderr, "sluice-proxy: --node, one of --pin-root/--policy and one of "
				"--certs/--ca (with --node-cert) are required\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct px_opts o = {
		.outbound = "127.0.0.1:15001", .hbone = "0.0.0.0:15008", .mark = 0x5110,
		.trust_domain = "cluster.local", .workers = ncpu > 0 ? (int)ncpu : 1,
		.drain_s = 30, .connect_timeout_ms = 5000,
	};

	static char metrics[4096];

	if (parse(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	/* By default where `sluice metrics` and the agent look for it. */
	if (!o.metrics_path && o.pin_root &&
	    !sl_proxy_metrics_path(o.pin_root, metrics, sizeof(metrics))) {
		mkdir(SL_PROXY_METRICS_DIR, 0755);
		o.metrics_path = metrics;
	}
	return px_run(&o);
}
