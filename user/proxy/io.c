// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What a worker's connections and sessions use of the event loop and the
 * network: epoll registration, the clock, outbound sockets carrying the
 * proxy mark, address formatting. No knowledge of connections or sessions.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxy/proxy.h"
#include "util.h"

uint64_t px_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void px_ev_set(struct px_worker *w, int fd, struct px_ev *ev, uint32_t *have, uint32_t want)
{
	struct epoll_event e = { .events = want, .data.ptr = ev };

	if (*have == (want | 0x80000000u))
		return;
	/* bit 31 of *have: registered at all (0 events is still registered) */
	if (epoll_ctl(w->epfd, *have ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &e))
		pr_warn("proxy: epoll_ctl: %s\n", strerror(errno));
	*have = want | 0x80000000u;
}

void px_ev_del(struct px_worker *w, int fd, uint32_t *have)
{
	if (*have)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
	*have = 0;
}

int px_socket_for(const struct sl_l4addr *a, struct sockaddr_storage *ss, socklen_t *sl)
{
	*sl = sl_sockaddr(a, ss);
	return ss->ss_family;
}

/* A non-blocking connect carrying the proxy mark, so that the kernel does
 * not hand our own upstream back to us (bpf/sock_lb.bpf.c). */
int px_connect(struct px *px, const struct sl_l4addr *a)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fam = px_socket_for(a, &ss, &sl), one = 1;
	int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((px->o.mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &px->o.mark, sizeof(px->o.mark))) ||
	    (connect(fd, (struct sockaddr *)&ss, sl) && errno != EINPROGRESS)) {
		close(fd);
		return -1;
	}
	return fd;
}

void px_fmt(const struct sl_l4addr *a, char *buf, size_t len)
{
	sl_fmt_l4(a, false, buf, len);
}
