/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The agent: one policy loop (this thread) and an HTTP server on its own
 * threads (http.h). The loop owns struct agent; the HTTP side only reads
 * the fields that never change after start-up (pin_root, expect) and the
 * published status (status.h).
 */
#ifndef SLUICED_AGENT_H
#define SLUICED_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "apply.h"
#include "ct.h"
#include "files.h"
#include "health.h"
#include "http.h"
#include "loader.h"
#include "status.h"

struct agent {
	const char *pin_root;
	const char *config_dir;
	struct sl_load_opts *lo;
	const char *pod_glob; /* NULL: no pod-interface discovery */
	unsigned ct_gc_s; /* 0: no GC */
	struct sl_ct_gc_opts ct; /* idle timeouts */
	struct node_expect expect; /* links that must stay (health.h) */
	struct agent_status st; /* the loop's copy, published after each change */
	/* What was applied, per file, and the model of the stored policy:
	 * a change of a few files applies only their objects (sync.c). */
	struct agent_files *files;
	struct sl_keep *keep;

	/* The event loop (loop.c): everything is a file descriptor. */
	int epfd, inotify_fd, watch_wd, signal_fd, debounce_fd, tick_fd;
	uint64_t dirty_since; /* CLOCK_MONOTONIC ns of the first unapplied change; 0: none */
	uint64_t last_scan, last_gc, last_sync, last_sweep;
	bool stopping;
};

/* sync.c: make the applied policy equal to the config directory, or keep
 * the last good one and record why not. */
void agent_sync(struct agent *a);

/* loop.c. Signals must be blocked (agent_block_signals) before any thread
 * starts, so that only the loop's signalfd sees them. */
int agent_block_signals(void);
int agent_loop_init(struct agent *a);
void agent_run(struct agent *a);
void agent_loop_close(struct agent *a);

/* routes.c: /metrics, /healthz, /readyz of this agent. */
void agent_routes(struct agent *a, struct http_routes *r);

#endif
