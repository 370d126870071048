// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The policy loop: one epoll over file descriptors only.
 *
 *   inotify   a change in the config directory: (re)arm the debounce timer
 *   debounce  the directory was quiet for DEBOUNCE_QUIET_NS (or changes kept
 *             coming for DEBOUNCE_MAX_NS): apply it
 *   signalfd  SIGHUP: apply now; SIGTERM/SIGINT: leave the loop
 *   tick      every second: the heartbeat, pod interfaces, the CT GC, and
 *             watching the directory again if it was removed
 *
 * Nothing here waits on a client: the HTTP threads read the published
 * status and never call back into the loop.
 */
#include <errno.h>
#include <fnmatch.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "agent.h"
#include "apply.h"
#include "log.h"
#include "pins.h"

/* Editors and `kubectl cp` write a file in several steps; ConfigMap
 * volumes swap a symlink once. 100 ms of quiet covers both and leaves most
 * of a 0.5 s budget from a change to the data plane. */
#define DEBOUNCE_QUIET_NS 100000000ull
#define DEBOUNCE_MAX_NS 1000000000ull
#define TICK_S 1
#define POD_SCAN_NS 2000000000ull
#define SWEEP_NS 10000000000ull
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | \
		    IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

enum ev { EV_INOTIFY, EV_SIGNAL, EV_DEBOUNCE, EV_TICK };

int agent_block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	signal(SIGPIPE, SIG_IGN); /* a client gone mid-response is not our death */
	return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void arm(int tfd, uint64_t first_ns, uint64_t interval_ns)
{
	struct itimerspec its = {
		.it_value = { (time_t)(first_ns / 1000000000ull), (long)(first_ns % 1000000000ull) },
		.it_interval = { (time_t)(interval_ns / 1000000000ull),
				 (long)(interval_ns % 1000000000ull) },
	};

	timerfd_settime(tfd, 0, &its, NULL);
}

static void drain(int fd)
{
	char buf[4096] __attribute__((aligned(8)));

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static int watch_dir(struct agent *a)
{
	a->watch_wd = inotify_add_watch(a->inotify_fd, a->config_dir, WATCH_MASK);
	return a->watch_wd < 0 ? -errno : 0;
}

static void mark_dirty(struct agent *a)
{
	uint64_t now = sl_now_mono_ns(), at;

	if (!a->dirty_since)
		a->dirty_since = now;
	at = a->dirty_since + DEBOUNCE_MAX_NS;
	if (at > now + DEBOUNCE_QUIET_NS)
		at = now + DEBOUNCE_QUIET_NS;
	arm(a->debounce_fd, at > now ? at - now : 1, 0);
}

static void sync_now(struct agent *a)
{
	a->dirty_since = 0;
	arm(a->debounce_fd, 0, 0); /* disarm */
	agent_sync(a);
	a->last_sync = sl_now_mono_ns();
}

/* Is EV a file renamed into the directory under a YAML name? */
static bool renamed_in(const struct inotify_event *ev)
{
	size_t l = ev->len ? strlen(ev->name) : 0;

	return (ev->mask & IN_MOVED_TO) && ev->name[0] != '.' &&
	       ((l > 5 && !strcmp(ev->name + l - 5, ".yaml")) ||
		(l > 4 && !strcmp(ev->name + l - 4, ".yml")));
}

/* Events name the files to read again (files.h). A file renamed into
 * place is whole by construction (that is why writers rename), so when
 * every event is one and no change is waiting, it is applied at once: a
 * one-file change is live in milliseconds. Anything else waits for the
 * directory to be quiet (DEBOUNCE_QUIET_NS), as do renames that follow
 * an apply closely (a writer renaming several files). */
static void on_inotify(struct agent *a)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool renames = true;
	size_t seen = 0;
	ssize_t n;

	while ((n = read(a->inotify_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
				if (a->watch_wd >= 0)
					log_warn("%s: gone; watching for it again every %d s",
						 a->config_dir, TICK_S);
				inotify_rm_watch(a->inotify_fd, a->watch_wd);
				a->watch_wd = -1;
			}
			/* The queue overflowed, or the event is the directory's. */
			enum files_mark m = files_dirty(a->files, ev->len && !(ev->mask & IN_Q_OVERFLOW)
								      ? ev->name : NULL);

			p += sizeof(*ev) + ev->len;
			if (m == FILES_NONE)
				continue; /* a name that changes nothing */
			seen++;
			renames = renames && m == FILES_ONE && renamed_in(ev);
		}
	}
	if (!seen)
		return;
	if (renames && !a->dirty_since && sl_now_mono_ns() - a->last_sync >= DEBOUNCE_QUIET_NS)
		sync_now(a);
	else
		mark_dirty(a);
}

static void on_signal(struct agent *a)
{
	struct signalfd_siginfo si;

	while (read(a->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: reading %s again", a->config_dir);
			files_dirty_all(a->files);
			sync_now(a);
		} else {
			log_info("%s: stopping", strsignal((int)si.ssi_signo));
			a->stopping = true;
		}
	}
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
		if ((out[n] = strdup(i->if_name)))
			n++;
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
			log_error("attaching pod interfaces: %s", strerror(-err));
		else
			log_info("pod hooks on %zu new interfaces (first %s)", n, o.pod_ifaces[0]);
	}
	for (size_t i = 0; i < n; i++)
		free((char *)o.pod_ifaces[i]);
}

static void ct_gc(struct agent *a)
{
	struct sl_ct_gc_ctx r;
	int err = sl_ct_gc(a->pin_root, &a->ct, &r);

	if (err)
		log_error("connection-tracking GC: %s", strerror(-err));
	else if (r.removed)
		log_debug("connection-tracking GC: %u of %u entries removed, %u limit units released",
			  r.removed, r.scanned, r.released);
}

/* An apply another writer left half done (killed mid-write) is repaired
 * here at the latest; never waits for a running apply. State ids due are
 * freed every SWEEP_NS only: the walk of their directories takes tens of
 * ms at 10,000 services, and a config change that arrives meanwhile
 * waits for it (the publisher also frees ids when it runs short). */
static void repair(struct agent *a)
{
	uint64_t now = sl_now_mono_ns();
	bool sweep = now - a->last_sweep >= SWEEP_NS;
	int r = sl_repair(a->pin_root, false, sweep);

	if (sweep && r >= 0)
		a->last_sweep = now;

	if (r > 0)
		log_warn("repaired the policy slot an interrupted apply left half written");
	else if (r < 0 && r != -EWOULDBLOCK)
		log_warn("repairing the policy slots: %s", strerror(-r));
}

static void on_tick(struct agent *a)
{
	uint64_t now = sl_now_mono_ns();

	drain(a->tick_fd);
	if (a->watch_wd < 0 && !watch_dir(a)) {
		log_info("%s: watching again", a->config_dir);
		files_dirty_all(a->files);
		mark_dirty(a);
	}
	if (now - a->last_scan >= POD_SCAN_NS) {
		a->last_scan = now;
		scan_pods(a);
	}
	if (a->ct_gc_s && now - a->last_gc >= a->ct_gc_s * 1000000000ull) {
		a->last_gc = now;
		ct_gc(a);
	}
	repair(a);
}

static int add_fd(struct agent *a, int fd, enum ev what)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = what };

	return epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

int agent_loop_init(struct agent *a)
{
	sigset_t set;
	int err;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	a->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	a->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	a->debounce_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	a->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	a->files = files_new();
	a->keep = sl_keep_new();
	if (!a->files || !a->keep)
		return -ENOMEM;
	if (a->epfd < 0 || a->inotify_fd < 0 || a->signal_fd < 0 || a->debounce_fd < 0 ||
	    a->tick_fd < 0)
		return -errno;
	err = watch_dir(a);
	if (err) {
		log_error("watch %s: %s", a->config_dir, strerror(-err));
		return err;
	}
	arm(a->tick_fd, TICK_S * 1000000000ull, TICK_S * 1000000000ull);
	if ((err = add_fd(a, a->inotify_fd, EV_INOTIFY)) || (err = add_fd(a, a->signal_fd, EV_SIGNAL)) ||
	    (err = add_fd(a, a->debounce_fd, EV_DEBOUNCE)) || (err = add_fd(a, a->tick_fd, EV_TICK)))
		return err;
	return 0;
}

static void dispatch(struct agent *a, enum ev what)
{
	switch (what) {
	case EV_INOTIFY:
		on_inotify(a);
		break;
	case EV_SIGNAL:
		on_signal(a);
		break;
	case EV_DEBOUNCE:
		drain(a->debounce_fd);
		sync_now(a);
		break;
	case EV_TICK:
		on_tick(a);
		break;
	}
}

void agent_run(struct agent *a)
{
	struct epoll_event ev[8];

	status_heartbeat();
	while (!a->stopping) {
		int n = epoll_wait(a->epfd, ev, 8, -1);

		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		status_heartbeat();
		for (int i = 0; i < n && !a->stopping; i++)
			dispatch(a, (enum ev)ev[i].data.u32);
	}
}

void agent_loop_close(struct agent *a)
{
	int *fds[] = { &a->tick_fd, &a->debounce_fd, &a->signal_fd, &a->inotify_fd, &a->epfd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	files_free(a->files);
	sl_keep_free(a->keep);
	a->files = NULL;
	a->keep = NULL;
}
