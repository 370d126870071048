// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The proxy's process: set up, run the workers, hand over on upgrade.
 *
 * Hand-over (docs/PROXY.md "Upgrades"): the running proxy listens on a unix
 * socket (--control). A new proxy started with --takeover loads the policy
 * and its identities first, then asks for the listening sockets, which come
 * over SCM_RIGHTS. From then on the new process accepts from the very same
 * sockets, so no connection attempt meets a closed port; the old process
 * stops accepting, tells its HBONE peers GOAWAY, and exits when its last
 * tunnel ends or the drain deadline passes.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "proxy/proxy.h"
#include "util.h"

static struct px *g_px;

static void on_term(int sig)
{
	(void)sig;
	if (g_px)
		g_px->stop = 1;
}

static int unix_socket(const char *path, bool server)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(a.sun_path)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	strcpy(a.sun_path, path);
	if (server) {
		unlink(path);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4)) {
			close(fd);
			return -1;
		}
	} else if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_fds(int sock, const int *fds, int n)
{
	char data[] = "FDS\n", cbuf[CMSG_SPACE(sizeof(int) * 2)];
	struct iovec iov = { .iov_base = data, .iov_len = 4 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
	return sendmsg(sock, &m, MSG_NOSIGNAL) == 4 ? 0 : -1;
}

static int recv_fds(int sock, int *fds, int n)
{
	char data[8], cbuf[CMSG_SPACE(sizeof(int) * 2)];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 4 || memcmp(data, "FDS\n", 4))
		return -1;
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int) * (size_t)n))
		return -1;
	memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)n);
	return 0;
}

static int take_over(struct px *px)
{
	int s = unix_socket(px->o.takeover_path, false), fds[2];

	if (s < 0 || write(s, "TAKEOVER\n", 9) != 9 || recv_fds(s, fds, 2)) {
		pr_warn("proxy: taking over from %s: %s\n", px->o.takeover_path, strerror(errno));
		if (s >= 0)
			close(s);
		return -1;
	}
	close(s);
	px_listener_init(&px->out_l, fds[0], false);
	px_listener_init(&px->hb_l, fds[1], true);
	pr_info("proxy: took over the listening sockets\n");
	return 0;
}

static int open_listeners(struct px *px)
{
	int o = px_listen(px->o.outbound), h = px_listen(px->o.hbone);

	if (o < 0 || h < 0) {
		pr_warn("proxy: cannot listen on %s / %s: %s\n", px->o.outbound, px->o.hbone,
			strerror(errno));
		return -1;
	}
	px_listener_init(&px->out_l, o, false);
	px_listener_init(&px->hb_l, h, true);
	return 0;
}

/* A successor asks: give it the sockets, start draining. */
static void control_accept(struct px *px, int ctl)
{
	int c = accept4(ctl, NULL, NULL, SOCK_CLOEXEC), fds[2] = { px->out_l.fd, px->hb_l.fd };
	char buf[16] = "";

	if (c < 0)
		return;
	if (read(c, buf, 9) == 9 && !memcmp(buf, "TAKEOVER\n", 9) && !send_fds(c, fds, 2)) {
		px->drain_started_ns = px_now();
		px->drain_deadline_ns = px->drain_started_ns + (uint64_t)px->o.drain_s * 1000000000ull;
		px->draining = 1;
		pr_info("proxy: listening sockets handed over; draining for up to %ds\n",
			px->o.drain_s);
	}
	close(c);
}

static void *certs_main(void *arg)
{
	struct px *px = arg;

	while (!px->stop && !px->draining) {
		px_idents_refresh(px, false);
		for (int i = 0; i < 10 && !px->stop; i++)
			usleep(100000);
	}
	return NULL;
}

static int setup_maps(struct px *px)
{
	char path[4096];

	px->handoff_fd = -1;
	if (!px->o.pin_root)
		return 0;
	if (sl_maps_open(px->o.pin_root, &px->maps))
		return -1;
	px->have_maps = true;
	px->handoff_fd = px->maps.fd[SL_MAP_HANDOFF];
	(void)path;
	return 0;
}

static int setup(struct px *px)
{
	char err[SL_ERR_LEN];

	pthread_mutex_init(&px->lock, NULL);
	if (setup_maps(px) || px_state_load(px)) {
		pr_warn("proxy: no policy to start with\n");
		return -1;
	}
	if (px->o.ca_addr) {
		if (sl_ident_load(&px->node_id, px->o.node_cert_dir, err, sizeof(err))) {
			pr_warn("proxy: node identity: %s\n", err);
			return -1;
		}
		px->have_node_id = true;
		px->node_renew_at = (long)time(NULL) + sl_pki_cert_left(px->node_id.cert) / 2;
	}
	if (px_srv_base_init(px))
		return -1;
	/* identities before listening: the first connections find them */
	px_idents_refresh(px, true);
	if (px->o.takeover_path ? take_over(px) : open_listeners(px))
		return -1;
	return 0;
}

static void main_loop(struct px *px, int ctl)
{
	uint64_t next = 0;

	while (!px->stop) {
		struct pollfd p = { .fd = ctl, .events = POLLIN };

		if (poll(&p, ctl >= 0 && !px->draining ? 1 : 0, 200) > 0)
			control_accept(px, ctl);
		if (px_now() >= next) {
			next = px_now() + 1000000000ull;
			if (px->o.metrics_path)
				px_metrics_write(px, px->o.metrics_path);
		}
		if (px->draining) {
			int alive = 0;

			for (int i = 0; i < px->nw; i++)
				alive += px->w[i].n_conns > 0;
			if (px_drained(px, !alive))
				break;
		}
	}
}

static void teardown(struct px *px)
{
	SSL_CTX_free(px->srv_base);
	for (size_t i = 0; i < px->n_ids; i++) {
		SSL_CTX_free(px->ids[i].cli);
		SSL_CTX_free(px->ids[i].srv);
	}
	free(px->ids);
	px_state_put(px, px->st); /* px->st holds one reference */
	px->st = NULL;
	if (px->have_node_id)
		sl_ident_free(&px->node_id);
	if (px->have_maps)
		sl_maps_close(&px->maps);
}

int px_run(struct px_opts *o)
{
	struct px *px = calloc(1, sizeof(*px));
	int ctl = -1, rc = 1;

	if (!px)
		return 1;
	px->o = *o;
	px->nw = o->workers;
	g_px = px;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if (setup(px))
		goto out;
	if (o->control_path && (ctl = unix_socket(o->control_path, true)) < 0) {
		pr_warn("proxy: control socket %s: %s\n", o->control_path, strerror(errno));
		goto out;
	}
	if (px_workers_start(px) || pthread_create(&px->certs_th, NULL, certs_main, px))
		goto out;
	if (o->ready_path)
		fclose(fopen(o->ready_path, "w"));
	pr_info("proxy: node %s: outbound %s, HBONE %s, %d workers\n", o->node, o->outbound,
		o->hbone, px->nw);
	main_loop(px, ctl);
	px->stop = 1;
	px_workers_join(px);
	pthread_join(px->certs_th, NULL);
	/* the last counts, then what the workers still held */
	if (px->o.metrics_path && !px->draining)
		px_metrics_write(px, px->o.metrics_path);
	px_workers_free(px);
	rc = 0;
out:
	if (ctl >= 0)
		close(ctl);
	teardown(px);
	free(px);
	return rc;
}
