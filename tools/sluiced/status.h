/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The agent's own state, written by the policy loop and read by the HTTP
 * thread (probes) and the metrics renderer.
 *
 * The policy loop owns the state and publishes a copy after each change;
 * readers take a copy. The mutex is held only for that memcpy on either
 * side, never across I/O, so no client can make the policy loop wait. The
 * loop's heartbeat is a lone atomic.
 */
#ifndef SLUICED_STATUS_H
#define SLUICED_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Why an apply of the config directory was rejected. */
enum reject_reason {
	REJECT_READ, /* a file could not be read (confdir.h) */
	REJECT_INVALID, /* the policy does not parse or validate (FILE:LINE:COL errors) */
	REJECT_CAPACITY, /* the policy does not fit the maps or the store */
	REJECT_SYSTEM, /* the pin root, the lock or memory failed us */
	REJECT__COUNT,
};

extern const char *const reject_names[REJECT__COUNT];

struct agent_status {
	uint32_t applied_gen; /* generation of the agent's last successful apply; 0: none */
	uint64_t last_ok_ns; /* CLOCK_REALTIME at the end of that apply; 0: never */
	double last_apply_s; /* how long it took */
	uint64_t applies; /* successful applies of the directory */
	uint64_t rejects[REJECT__COUNT];
	bool rejected; /* the directory's current content was rejected */
	enum reject_reason last_reason; /* valid while rejected */
	uint64_t start_ns; /* CLOCK_REALTIME when the agent started */
};

/* Copies, under the mutex; both sides only copy. */
void status_publish(const struct agent_status *s);
void status_read(struct agent_status *s);

/* The policy loop calls this every time it wakes (at least every second). */
void status_heartbeat(void);
/* Nanoseconds since the last heartbeat (CLOCK_MONOTONIC). */
uint64_t status_heartbeat_age_ns(void);

/* The agent's own metric families (sluice_agent_*), Prometheus text. */
void status_write_metrics(FILE *f, const struct agent_status *s);

#endif
