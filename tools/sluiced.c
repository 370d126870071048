// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluiced: the node agent (one per node, a DaemonSet).
 *
 *   1. loads and pins the data plane (or takes over a loaded pin root:
 *      programs are replaced in place, maps and state are kept);
 *   2. makes the applied policy equal to the YAML files of --config-dir,
 *      again whenever a file there changes (inotify, 200 ms debounce); a
 *      rejected directory leaves the last good policy in place;
 *   3. serves Prometheus metrics at http://--metrics/metrics;
 *   4. attaches the pod-interface programs to every interface matching
 *      --pod-ifaces as it appears (pods come and go), and forgets the
 *      interfaces that went away;
 *   5. runs the node-ingress connection-tracking GC every --ct-gc seconds.
 *
 * It never unloads: when it exits or is killed, traffic keeps flowing on
 * the pinned programs and maps, and the next agent continues from them.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/inotify.h>
#include <sys/socket.h>

#include "apply.h"
#include "ct.h"
#include "loader.h"
#include "metrics.h"
#include "pins.h"
#include "util.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

struct agent {
	const char *pin_root;
	const char *config_dir;
	int inotify_fd;
	int http_fd;
	uint64_t dirty_since; /* 0: nothing pending */
	struct sl_load_opts *lo;
	const char *pod_glob; /* NULL: no discovery */
	unsigned ct_gc_s; /* 0: no GC */
	struct sl_ct_gc_opts ct; /* idle timeouts */
	uint64_t last_scan, last_gc;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool yaml_file(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && ((l > 5 && !strcmp(n + l - 5, ".yaml")) ||
			       (l > 4 && !strcmp(n + l - 4, ".yml")));
}

/* The directory's YAML files, sorted by name. */
static size_t list_dir(const char *dir, char ***out)
{
	struct dirent *de;
	char **v = NULL, **nv;
	size_t n = 0;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d))) {
		if (!yaml_file(de->d_name) || !(nv = realloc(v, (n + 1) * sizeof(*v))))
			continue;
		v = nv;
		if (asprintf(&v[n], "%s/%s", dir, de->d_name) > 0)
			n++;
	}
	if (d)
		closedir(d);
	qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	return n;
}

static void sync_policy(struct agent *a)
{
	struct sl_apply_result r;
	struct sl_diags d = { 0 };
	struct sl_source *src;
	char **paths, **bufs;
	size_t n = list_dir(a->config_dir, &paths), ok = 0;
	int err;

	src = calloc(n + 1, sizeof(*src));
	bufs = calloc(n + 1, sizeof(*bufs));
	for (size_t i = 0; src && bufs && i < n; i++) {
		bufs[i] = sl_read_file(paths[i], &src[ok].len);
		if (!bufs[i]) {
			pr_warn("sluiced: %s: %s\n", paths[i], strerror(errno));
			continue;
		}
		src[ok].name = paths[i];
		src[ok++].text = bufs[i];
	}
	err = src && bufs ? sl_apply(a->pin_root, src, ok, SL_APPLY_REPLACE, false, &d, &r) : -ENOMEM;
	sl_diags_print(&d, stderr);
	if (err == -EINVAL)
		pr_warn("sluiced: %s rejected (%zu errors); the last good policy stays\n",
			a->config_dir, d.n_errors);
	else if (err)
		pr_warn("sluiced: apply: %s\n", strerror(-err));
	else
		pr_warn("sluiced: generation %u: %zu objects, %zu services, %zu endpoints in %.1f ms\n",
			r.pub.generation, r.n_objects, r.n_services, r.n_backends, r.total_ms);
	for (size_t i = 0; i < n; i++) {
		free(paths[i]);
		if (bufs)
			free(bufs[i]);
	}
	free(paths);
	free(bufs);
	free(src);
	sl_diags_free(&d);
}

static int listen_http(const char *spec)
{
	struct sl_l4addr a;
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	int one = 1, fd;

	if (sl_parse_l4(spec, &a) || !a.port)
		return -EINVAL;
	fd = socket(a.family == SL_AF_INET6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	s4.sin_addr.s_addr = a.addr[0];
	s4.sin_port = a.port;
	memcpy(&s6.sin6_addr, a.addr, 16);
	s6.sin6_port = a.port;
	if ((a.family == SL_AF_INET6 ? bind(fd, (struct sockaddr *)&s6, sizeof(s6))
				     : bind(fd, (struct sockaddr *)&s4, sizeof(s4))) ||
	    listen(fd, 16)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* One request per connection, HTTP/1.0 style: enough for a Prometheus
 * scrape, nothing else is served. */
static void serve_http(struct agent *a)
{
	char req[2048], head[256], *body = NULL;
	size_t blen = 0;
	struct timeval tv = { .tv_sec = 2 };
	ssize_t n;
	FILE *f;
	int c = accept4(a->http_fd, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0)
		return;
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = read(c, req, sizeof(req) - 1);
	req[n > 0 ? n : 0] = 0;
	if (strncmp(req, "GET /metrics", 12)) {
		static const char nf[] = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";

		write_all(c, nf, sizeof(nf) - 1);
		close(c);
		return;
	}
	f = open_memstream(&body, &blen);
	if (f && !sl_metrics_write(f, a->pin_root) && !fflush(f)) {
		snprintf(head, sizeof(head),
			 "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
			 "Content-Length: %zu\r\n\r\n", blen);
		write_all(c, head, strlen(head));
		write_all(c, body, blen);
	} else {
		static const char se[] = "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";

		write_all(c, se, sizeof(se) - 1);
	}
	if (f)
		fclose(f);
	free(body);
	close(c);
}

static void drain_inotify(struct agent *a)
{
	char buf[4096] __attribute__((aligned(8)));

	while (read(a->inotify_fd, buf, sizeof(buf)) > 0)
		;
	a->dirty_since = sl_now_mono_ns();
}

/* Interfaces matching --pod-ifaces that have no pod hooks yet. */
static size_t new_pod_ifaces(struct agent *a, const char **out, size_t max)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	char path[4096], name[64];
	size_t n = 0;

	for (i = ifs; i && i->if_index && n < max; i++) {
		if (fnmatch(a->pod_glob, i->if_name, 0))
			continue;
		snprintf(name, sizeof(name), "tc_pod_from@%s", i->if_name);
		if (sl_pin_path(path, sizeof(path), a->pin_root, "links", name) ||
		    !access(path, F_OK))
			continue;
		snprintf(name, sizeof(name), "tc-in@%s", i->if_name);
		if (sl_pin_path(path, sizeof(path), a->pin_root, "progs", name) ||
		    !access(path, F_OK))
			continue; /* attached the legacy way */
		out[n++] = strdup(i->if_name);
	}
	if (ifs)
		if_freenameindex(ifs);
	return n;
}

static void scan_pods(struct agent *a)
{
	struct sl_load_opts o = *a->lo;
	size_t n;
	int err;

	sl_prune_ifaces(a->pin_root);
	if (!a->pod_glob)
		return;
	n = new_pod_ifaces(a, o.pod_ifaces, SL_MAX_LOAD_IFACES);
	o.n_pod_ifaces = n;
	if (n) {
		err = sl_attach_pods(&o);
		if (err)
			pr_warn("sluiced: attaching pod interfaces: %s\n", strerror(-err));
		else
			pr_warn("sluiced: pod hooks on %zu new interfaces (first %s)\n", n,
				o.pod_ifaces[0]);
	}
	for (size_t i = 0; i < n; i++)
		free((char *)o.pod_ifaces[i]);
}

static void ct_gc(struct agent *a)
{
	struct sl_ct_gc_ctx r;
	int err = sl_ct_gc(a->pin_root, &a->ct, &r);

	if (err)
		pr_warn("sluiced: connection-tracking GC: %s\n", strerror(-err));
	else if (r.removed)
		pr_info("sluiced: connection-tracking GC: %u of %u entries removed, %u limit units "
			"released\n", r.removed, r.scanned, r.released);
}

static void periodic(struct agent *a)
{
	uint64_t now = sl_now_mono_ns();

	if (now - a->last_scan >= 2000000000ull) {
		a->last_scan = now;
		scan_pods(a);
	}
	if (a->ct_gc_s && now - a->last_gc >= a->ct_gc_s * 1000000000ull) {
		a->last_gc = now;
		ct_gc(a);
	}
}

static void run(struct agent *a)
{
	while (!stopping) {
		struct pollfd p[2] = { { a->inotify_fd, POLLIN, 0 }, { a->http_fd, POLLIN, 0 } };
		int timeout = a->dirty_since ? 50 : 1000;

		if (poll(p, a->http_fd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN)
			drain_inotify(a);
		if (a->http_fd >= 0 && (p[1].revents & POLLIN))
			serve_http(a);
		/* Editors write files in several steps: wait for quiet. */
		if (a->dirty_since && sl_now_mono_ns() - a->dirty_since > 200000000ull) {
			a->dirty_since = 0;
			sync_policy(a);
		}
		periodic(a);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sluiced --config-dir DIR [--pin-root DIR] [--cgroup PATH]\n"
		   "               [--metrics ADDR:PORT] [--proxy ADDR:PORT|none] [-v]\n"
		   "               [--iface IF]... [--xdp-mode auto|native|generic]\n"
		   "               [--pod-ifaces GLOB] [--ct-gc SECONDS (default 10, 0 = off)]\n"
		   "               [--ct-tcp-idle S (7200)] [--ct-udp-idle S (60)] [--ct-closed-idle S (10)]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-root", required_argument, NULL, 'P' },
		{ "config-dir", required_argument, NULL, 'C' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "proxy", required_argument, NULL, 'p' },
		{ "iface", required_argument, NULL, 'i' },
		{ "xdp-mode", required_argument, NULL, 'x' },
		{ "pod-ifaces", required_argument, NULL, 'g' },
		{ "ct-gc", required_argument, NULL, 'G' },
		{ "ct-tcp-idle", required_argument, NULL, 'T' },
		{ "ct-udp-idle", required_argument, NULL, 'U' },
		{ "ct-closed-idle", required_argument, NULL, 'L' },
		{ 0 },
	};
	struct agent a = { .pin_root = SL_DEFAULT_PIN_ROOT, .http_fd = -1, .ct_gc_s = 10,
			   .ct = { SL_CT_TCP_IDLE_NS, SL_CT_UDP_IDLE_NS, SL_CT_CLOSED_IDLE_NS } };
	struct sl_load_opts lo = { .proxy_mark = 0x5110 };
	struct sl_l4addr px;
	const char *metrics = NULL;
	int opt, err;

	inet_pton(AF_INET, "127.0.0.1", &lo.proxy_addr4);
	inet_pton(AF_INET6, "::1", lo.proxy_addr6);
	lo.proxy_port = htons(15001);
	while ((opt = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		switch (opt) {
		case 'P': a.pin_root = optarg; break;
		case 'C': a.config_dir = optarg; break;
		case 'c': lo.cgroup = optarg; break;
		case 'M': metrics = optarg; break;
		case 'v': sl_verbosity++; break;
		case 'g': a.pod_glob = optarg; break;
		case 'G': a.ct_gc_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'T': a.ct.tcp_idle_ns = (__u64)(strtod(optarg, NULL) * 1e9); break;
		case 'U': a.ct.udp_idle_ns = (__u64)(strtod(optarg, NULL) * 1e9); break;
		case 'L': a.ct.closed_idle_ns = (__u64)(strtod(optarg, NULL) * 1e9); break;
		case 'i':
			if (lo.n_ifaces == SL_MAX_LOAD_IFACES) {
				usage(stderr);
				return 2;
			}
			lo.ifaces[lo.n_ifaces++] = optarg;
			break;
		case 'x':
			if (!strcmp(optarg, "native"))
				lo.xdp_mode = SL_XDP_NATIVE;
			else if (!strcmp(optarg, "generic"))
				lo.xdp_mode = SL_XDP_GENERIC;
			else if (strcmp(optarg, "auto")) {
				usage(stderr);
				return 2;
			}
			break;
		case 'p':
			if (!strcmp(optarg, "none")) {
				lo.proxy_port = 0;
				break;
			}
			if (sl_parse_l4(optarg, &px) || !px.port) {
				usage(stderr);
				return 2;
			}
			if (px.family == SL_AF_INET)
				lo.proxy_addr4 = px.addr[0];
			else
				memcpy(lo.proxy_addr6, px.addr, 16);
			lo.proxy_port = px.port;
			break;
		default: usage(stderr); return 2;
		}
	}
	if (!a.config_dir || optind != argc) {
		usage(stderr);
		return 2;
	}
	sl_libbpf_logging();
	lo.pin_root = a.pin_root;
	a.lo = &lo;
	err = sl_load(&lo);
	if (err) {
		pr_warn("sluiced: load: %s\n", strerror(-err));
		return 1;
	}
	a.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (a.inotify_fd < 0 ||
	    inotify_add_watch(a.inotify_fd, a.config_dir,
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE) < 0) {
		pr_warn("sluiced: watch %s: %s\n", a.config_dir, strerror(errno));
		return 1;
	}
	if (metrics) {
		a.http_fd = listen_http(metrics);
		if (a.http_fd < 0) {
			pr_warn("sluiced: --metrics %s: %s\n", metrics, strerror(-a.http_fd));
			return 1;
		}
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	sync_policy(&a);
	run(&a);
	pr_warn("sluiced: exiting; the data plane stays loaded under %s\n", a.pin_root);
	return 0;
}
