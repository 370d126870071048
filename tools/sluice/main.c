// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice: the operator's command-line tool. Every command works on the maps
 * pinned under --pin-root; no daemon is needed. Mutations (load, unload,
 * apply, delete) take an exclusive flock on the pin root, so two CLIs never
 * interleave.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "apply.h"
#include "cli.h"
#include "ct.h"
#include "loader.h"
#include "probe.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice [--pin-root DIR] [-v] COMMAND [ARGS]\n"
		"  load     [--cgroup PATH] [--proxy ADDR:PORT|none] [--proxy-mark N] [--svc-cidr CIDR] [--debug]\n"
		"           [--sockops auto|on|off]\n"
		"           [--iface IF]... [--pod-iface IF]... [--xdp-mode auto|native|generic] [--xdp-redirect]\n"
		"  unload\n"
		"  apply    -f FILE|DIR|- [-f ...] [--dry-run]\n"
		"  delete   -f FILE|DIR|- [-f ...] [--dry-run]\n"
		"  get      services|endpoints|routes|policies [-o table|json]\n"
		"  get      dataplane [--slot active|inactive|0|1] [-o json] [--verify]\n"
		"  status   [-o table|json]   the node as it is: whole or not, features, links\n"
		"  features [-o table|json] [--iface] [--pod-iface]   probe this kernel, load nothing\n"
		"  metrics\n"
		"  flows    [-o table|json] [--follow] [--pods]\n"
		"  ct       list [-o json] | gc [--tcp-idle S] [--udp-idle S] [--closed-idle S]\n"
		"  outcome  --service VIP:PORT[/PROTO] --endpoint ADDR:PORT success|5xx|gateway|connect-fail\n"
		"  ca       init|issue|rotate|serve (sluice ca -h)\n"
		"Every command takes --pin-root DIR (default %s).\n",
		SL_DEFAULT_PIN_ROOT);
}

static int parse_cidr4(const char *s, __be32 *net, __u8 *plen)
{
	char buf[64], *slash;
	unsigned long len;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash++ = 0;
	len = strtoul(slash, NULL, 10);
	if (inet_pton(AF_INET, buf, net) != 1 || len < 8 || len > 30)
		return -EINVAL;
	*plen = (__u8)len;
	return 0;
}

static int add_iface(struct sl_load_opts *o, bool pod, const char *name)
{
	size_t *n = pod ? &o->n_pod_ifaces : &o->n_ifaces;

	if (*n == SL_MAX_LOAD_IFACES || !*name || strlen(name) >= IF_NAMESIZE) {
		fprintf(stderr, "sluice load: --%s %s: bad name or more than %d interfaces\n",
			pod ? "pod-iface" : "iface", name, SL_MAX_LOAD_IFACES);
		return -EINVAL;
	}
	(pod ? o->pod_ifaces : o->ifaces)[(*n)++] = name;
	return 0;
}

/* A load that failed for want of a capability says which one last, where
 * an operator looks first (docs/PRIVILEGES.md). */
static void print_load_error(const struct sl_load_opts *o, int err)
{
	struct sl_feature_want w = { .node_ingress = o->n_ifaces > 0,
				     .pod_hooks = o->n_pod_ifaces > 0 };
	char why[512];
	const char *cap = sl_load_missing_cap(&w, why, sizeof(why));

	fprintf(stderr, "sluice load: %s\n", cap ? cap : strerror(-err));
}

static int cmd_load(struct sl_cli *c)
{
	static const struct option opts[] = {
		{ "cgroup", required_argument, NULL, 'c' },
		{ "proxy", required_argument, NULL, 'p' },
		{ "proxy-mark", required_argument, NULL, 'm' },
		{ "iface", required_argument, NULL, 'i' },
		{ "pod-iface", required_argument, NULL, 'P' },
		{ "xdp-mode", required_argument, NULL, 'x' },
		{ "xdp-redirect", no_argument, NULL, 'r' },
		{ "debug", no_argument, NULL, 'd' },
		{ "svc-cidr", required_argument, NULL, 's' },
		{ "sockops", required_argument, NULL, 'o' },
		{ 0 },
	};
	struct sl_load_opts o;
	int opt, err;

	sl_load_opts_default(&o, c->pin_root);
	while ((opt = getopt_long(c->argc, c->argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o.cgroup = optarg;
			break;
		case 'p':
			if (sl_load_opts_proxy(&o, optarg)) {
				fprintf(stderr, "sluice load: --proxy %s: expected ADDR:PORT or none\n", optarg);
				return SL_EXIT_USAGE;
			}
			break;
		case 'm':
			o.proxy_mark = (__u32)strtoul(optarg, NULL, 0);
			break;
		case 'i':
		case 'P':
			if (add_iface(&o, opt == 'P', optarg))
				return SL_EXIT_USAGE;
			break;
		case 'x':
			if (sl_load_opts_xdp_mode(&o, optarg)) {
				fprintf(stderr, "sluice load: --xdp-mode %s: expected auto, native or generic\n", optarg);
				return SL_EXIT_USAGE;
			}
			break;
		case 'r':
			o.xdp_redirect = true;
			break;
		case 'o':
			if (sl_load_opts_sockops(&o, optarg)) {
				fprintf(stderr, "sluice load: --sockops %s: expected auto, on or off\n", optarg);
				return SL_EXIT_USAGE;
			}
			break;
		case 'd':
			o.debug = true;
			break;
		case 's':
			if (parse_cidr4(optarg, &o.svc_cidr4, &o.svc_cidr4_len)) {
				fprintf(stderr, "sluice load: --svc-cidr %s: expected an IPv4 CIDR /8../30\n", optarg);
				return SL_EXIT_USAGE;
			}
			break;
		default:
			return SL_EXIT_USAGE;
		}
	}
	err = sl_load(&o);
	if (err) {
		print_load_error(&o, err);
		return SL_EXIT_FAIL;
	}
	printf("loaded: pin root %s\n", c->pin_root);
	return SL_EXIT_OK;
}

static int cmd_unload(struct sl_cli *c)
{
	int err;

	if (c->argc > 1) {
		usage(stderr);
		return SL_EXIT_USAGE;
	}
	err = sl_unload(c->pin_root);
	if (err && err != -ENOENT) {
		/* The one privilege unload may lack: netlink, to remove the
		 * cls_bpf filters of kernels without tcx. */
		fprintf(stderr, "sluice unload: %s%s\n", strerror(-err),
			err == -EPERM && !sl_cap_granted(SL_CAP_NET_ADMIN)
				? ": CAP_NET_ADMIN is not in the effective capability set (needed "
				  "to remove cls_bpf filters on kernels without tcx)"
				: "");
		return SL_EXIT_FAIL;
	}
	return SL_EXIT_OK;
}

/* Inputs of apply/delete: files, every .yaml or .yml file of a directory (sorted,
 * so the result does not depend on readdir order), or "-" for stdin. */
struct sl_inputs {
	char **paths;
	size_t n;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_input(struct sl_inputs *in, const char *path)
{
	char **np = realloc(in->paths, (in->n + 1) * sizeof(*np));

	if (!np)
		return -ENOMEM;
	in->paths = np;
	in->paths[in->n] = strdup(path);
	return in->paths[in->n++] ? 0 : -ENOMEM;
}

static bool yaml_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && ((l > 5 && !strcmp(n + l - 5, ".yaml")) ||
			       (l > 4 && !strcmp(n + l - 4, ".yml")));
}

static int add_path(struct sl_inputs *in, const char *path)
{
	size_t first = in->n;
	struct dirent *de;
	char buf[4096];
	DIR *d;
	int err = 0;

	d = strcmp(path, "-") ? opendir(path) : NULL;
	if (!d)
		return add_input(in, path);
	while (!err && (de = readdir(d))) {
		if (!yaml_name(de->d_name))
			continue;
		snprintf(buf, sizeof(buf), "%s/%s", path, de->d_name);
		err = add_input(in, buf);
	}
	closedir(d);
	qsort(in->paths + first, in->n - first, sizeof(char *), cmp_str);
	return err;
}

static void free_inputs(struct sl_inputs *in)
{
	for (size_t i = 0; i < in->n; i++)
		free(in->paths[i]);
	free(in->paths);
}

/* Warnings and notes about objects applied earlier were shown when they
 * were applied; repeat only errors for those, and everything for the files
 * given now. */
static void print_diags(const struct sl_diags *d, const struct sl_inputs *in)
{
	struct sl_diags sub = { 0 };

	for (size_t i = 0; i < d->n; i++) {
		bool mine = d->v[i].sev == SL_SEV_ERROR || !d->v[i].file;

		for (size_t j = 0; !mine && j < in->n; j++)
			mine = !strcmp(d->v[i].file, in->paths[j]) ||
			       (!strcmp(in->paths[j], "-") && !strcmp(d->v[i].file, "<stdin>"));
		if (!mine)
			continue;
		sub.v = &d->v[i];
		sub.n = 1;
		sl_diags_print(&sub, stderr);
	}
}

struct apply_args {
	struct sl_inputs in;
	bool dry_run;
};

static int parse_apply_args(struct sl_cli *c, struct apply_args *a)
{
	static const struct option opts[] = {
		{ "filename", required_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ 0 },
	};
	int opt;

	while ((opt = getopt_long(c->argc, c->argv, "f:", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (add_path(&a->in, optarg))
				return -ENOMEM;
			break;
		case 'n':
			a->dry_run = true;
			break;
		default:
			return -EINVAL;
		}
	}
	if (!a->in.n || optind < c->argc) {
		fprintf(stderr, "sluice: expected -f FILE|DIR|-\n");
		return -EINVAL;
	}
	return 0;
}

static int read_inputs(const struct sl_inputs *in, struct sl_source *src, char **bufs)
{
	for (size_t i = 0; i < in->n; i++) {
		const char *path = in->paths[i];

		bufs[i] = sl_read_file(path, &src[i].len);
		if (!bufs[i]) {
			int e = errno;

			sl_fputs_esc(stderr, path); /* a directory's file names are input */
			fprintf(stderr, ": %s\n", strerror(e));
			return -1;
		}
		src[i].name = strcmp(path, "-") ? path : "<stdin>";
		src[i].text = bufs[i];
	}
	return 0;
}

static void report_apply(const struct apply_args *a, const struct sl_apply_result *r)
{
	const struct sl_publish_report *p = &r->pub;

	if (a->dry_run) {
		printf("dry run: %zu objects valid: %zu services, %zu endpoints; nothing changed\n",
		       r->n_objects, r->n_services, r->n_backends);
		return;
	}
	printf("applied %zu objects: generation %u in %.1f ms "
	       "(parse+compile %.1f ms, %s write of %zu changed services %.3f ms, "
	       "switch %.3f ms, store %.1f ms, replay %.3f ms; %zu services, %zu endpoints; "
	       "%lu map writes; ",
	       r->n_objects, p->generation, r->total_ms, r->compile_ms,
	       p->incremental ? "incremental" : "whole-slot", p->changed, p->write_ms, p->flip_ms,
	       p->store_ms, p->sync_ms, r->n_services, r->n_backends, p->writes);
	if (r->incremental_compile)
		printf("compiled %zu affected services)\n", r->recompiled);
	else
		printf("whole compile: %s)\n", r->whole_why ? r->whole_why : "first apply");
	if (p->node.n_ingress || p->node.n_np_pods)
		printf("node: %zu ingress frontends (%s: %zu Maglev rings, %zu cells written); "
		       "NetworkPolicy: %zu pods isolated, %zu prefixes, %zu port sets (%zu "
		       "entries written)\n",
		       p->node.n_ingress, p->node.whole_ingress ? "whole" : "difference",
		       p->node.n_rings, p->node.n_cells, p->node.n_np_pods, p->node.n_np_prefixes,
		       p->node.n_np_portsets, p->node.np_writes);
	if (p->sockops > 0)
		printf("sockops attached (--sockops auto: the live policy hands off to the proxy)\n");
	else if (p->sockops < 0)
		printf("sockops detached (--sockops auto: the live policy no longer hands off to the "
		       "proxy); %u handed-off connections were still connecting (the proxy resets "
		       "them)\n", p->sockops_late);
}

static int do_apply(struct sl_cli *c, enum sl_apply_mode mode)
{
	struct apply_args a = { 0 };
	struct sl_apply_result res;
	struct sl_diags d = { 0 };
	struct sl_source *src = NULL;
	char **bufs = NULL;
	int rc = SL_EXIT_FAIL, err;

	if (parse_apply_args(c, &a)) {
		free_inputs(&a.in);
		return SL_EXIT_USAGE;
	}
	src = calloc(a.in.n, sizeof(*src));
	bufs = calloc(a.in.n, sizeof(*bufs));
	if (!src || !bufs || read_inputs(&a.in, src, bufs))
		goto out;
	err = sl_apply(c->pin_root, src, a.in.n, mode, a.dry_run, &d, &res);
	print_diags(&d, &a.in);
	if (err == -EINVAL) {
		fprintf(stderr, "sluice: rejected: %zu error%s; nothing was changed\n",
			d.n_errors, d.n_errors == 1 ? "" : "s");
	} else if (err) {
		fprintf(stderr, "sluice: %s\n", strerror(-err));
	} else {
		report_apply(&a, &res);
		rc = SL_EXIT_OK;
	}
out:
	for (size_t i = 0; bufs && i < a.in.n; i++)
		free(bufs[i]);
	free(bufs);
	free(src);
	sl_diags_free(&d);
	free_inputs(&a.in);
	return rc;
}

static int cmd_apply(struct sl_cli *c)
{
	return do_apply(c, SL_APPLY_MERGE);
}

static int cmd_delete(struct sl_cli *c)
{
	return do_apply(c, SL_APPLY_REMOVE);
}

static int parse_outcome(const char *s)
{
	static const char *const names[] = {
		[SL_OUT_SUCCESS] = "success", [SL_OUT_5XX] = "5xx",
		[SL_OUT_GATEWAY] = "gateway", [SL_OUT_CONNECT_FAIL] = "connect-fail",
	};

	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* Report one request outcome for an endpoint, exactly as the proxy does:
 * one run of the pinned sl_outcome program. */
static int cmd_outcome(struct sl_cli *c)
{
	static const struct option opts[] = {
		{ "service", required_argument, NULL, 's' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ 0 },
	};
	struct sl_outcome_ctx ctx = { 0 };
	bool have_s = false, have_e = false;
	int opt, oc, err;

	while ((opt = getopt_long(c->argc, c->argv, "", opts, NULL)) != -1) {
		if (opt == 's')
			have_s = !sl_parse_l4(optarg, &ctx.fe);
		else if (opt == 'e')
			have_e = !sl_parse_l4(optarg, &ctx.ep);
		else
			return SL_EXIT_USAGE;
	}
	oc = optind < c->argc ? parse_outcome(c->argv[optind]) : -1;
	if (!have_s || !have_e || oc < 0) {
		usage(stderr);
		return SL_EXIT_USAGE;
	}
	ctx.ep.proto = ctx.fe.proto;
	ctx.outcome = (__u32)oc;
	err = sl_outcome_report(c->pin_root, &ctx);
	if (err) {
		fprintf(stderr, "sluice outcome: %s/progs/sl_outcome: %s\n", c->pin_root, strerror(-err));
		return SL_EXIT_FAIL;
	}
	if (ctx.result < 0) {
		fprintf(stderr, "sluice outcome: %s\n", strerror(-ctx.result));
		return SL_EXIT_FAIL;
	}
	printf("%s\n", ctx.result ? "ejected" : "recorded");
	return SL_EXIT_OK;
}

/* `sluice ca ...` is sluice-ca (tools/sluice-ca/ca.c), the one command
 * that needs OpenSSL: run in this process's place, from beside this
 * binary, with the suffix this one has (sluice-asan runs sluice-ca-asan). */
static int cmd_ca(struct sl_cli *c)
{
	char self[PATH_MAX], path[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *base, *slash;
	char **argv;
	int k = 0;

	if (n < 0) {
		fprintf(stderr, "sluice ca: /proc/self/exe: %s\n", strerror(errno));
		return SL_EXIT_FAIL;
	}
	self[n] = 0;
	slash = strrchr(self, '/');
	base = slash ? slash + 1 : self;
	snprintf(path, sizeof(path), "%.*ssluice-ca%s", (int)(base - self), self,
		 strncmp(base, "sluice", 6) ? "" : base + 6);
	argv = calloc((size_t)c->argc + (size_t)sl_verbosity + 2, sizeof(*argv));
	if (!argv)
		return SL_EXIT_FAIL;
	argv[k++] = path;
	for (int v = 0; v < sl_verbosity; v++)
		argv[k++] = "-v";
	for (int i = 1; i < c->argc; i++)
		argv[k++] = c->argv[i];
	fflush(NULL);
	execv(path, argv);
	fprintf(stderr, "sluice ca: cannot run %s: %s (the CA is a binary of its own, installed "
			"beside sluice)\n", path, strerror(errno));
	free(argv);
	return SL_EXIT_FAIL;
}

static const struct {
	const char *name;
	int (*fn)(struct sl_cli *c);
} commands[] = {
	{ "load", cmd_load },	    { "unload", cmd_unload }, { "apply", cmd_apply },
	{ "delete", cmd_delete },   { "get", cmd_get_any },	      { "status", cmd_status },
	{ "metrics", cmd_metrics }, { "flows", cmd_flows },   { "outcome", cmd_outcome },
	{ "ct", cmd_ct },	    { "features", cmd_features },
	{ "ca", cmd_ca },
};

int main(int argc, char **argv)
{
	struct sl_cli c = { .pin_root = SL_DEFAULT_PIN_ROOT };
	int i = 1;

	/* Global options may come before or after the command name. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-v"))
			sl_verbosity++;
		else if (!strcmp(argv[i], "--pin-root") && i + 1 < argc)
			c.pin_root = argv[++i];
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return SL_EXIT_OK;
		} else {
			usage(stderr);
			return SL_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return SL_EXIT_USAGE;
	}
	/* Pull --pin-root/-v out of the subcommand's arguments. */
	c.argv = calloc((size_t)(argc - i + 1), sizeof(char *));
	for (int j = i; j < argc; j++) {
		if (!strcmp(argv[j], "--pin-root") && j + 1 < argc && j > i)
			c.pin_root = argv[++j];
		else if (!strcmp(argv[j], "-v") && j > i)
			sl_verbosity++;
		else
			c.argv[c.argc++] = argv[j];
	}
	sl_libbpf_logging();
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (!strcmp(argv[i], commands[k].name)) {
			int rc = commands[k].fn(&c);

			free(c.argv);
			return rc;
		}
	}
	fprintf(stderr, "sluice: unknown command '%s'\n", argv[i]);
	usage(stderr);
	free(c.argv);
	return SL_EXIT_USAGE;
}
