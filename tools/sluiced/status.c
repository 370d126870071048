// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <pthread.h>
#include <stdatomic.h>

#include "metrics.h"
#include "prom.h"
#include "status.h"
#include "util.h"

const char *const reject_names[REJECT__COUNT] = {
	[REJECT_READ] = "read",
	[REJECT_INVALID] = "invalid",
	[REJECT_CAPACITY] = "capacity",
	[REJECT_SYSTEM] = "system",
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct agent_status shared;
static _Atomic uint64_t heartbeat_ns;

void status_publish(const struct agent_status *s)
{
	pthread_mutex_lock(&mu);
	shared = *s;
	pthread_mutex_unlock(&mu);
}

void status_read(struct agent_status *s)
{
	pthread_mutex_lock(&mu);
	*s = shared;
	pthread_mutex_unlock(&mu);
}

void status_heartbeat(void)
{
	atomic_store_explicit(&heartbeat_ns, sl_now_mono_ns(), memory_order_relaxed);
}

uint64_t status_heartbeat_age_ns(void)
{
	uint64_t hb = atomic_load_explicit(&heartbeat_ns, memory_order_relaxed), now = sl_now_mono_ns();

	return now > hb ? now - hb : 0;
}

static void gauge(FILE *f, const char *name, const char *help, double v)
{
	sl_prom_family(f, name, "gauge", help);
	fprintf(f, "%s %.17g\n", name, v);
}

void status_write_metrics(FILE *f, const struct agent_status *s)
{
	gauge(f, "sluice_agent_policy_generation",
	      "Generation of the agent's last successful apply of its config directory (0: none yet).",
	      s->applied_gen);
	gauge(f, "sluice_agent_last_apply_success_timestamp_seconds",
	      "When the agent last applied its config directory successfully, Unix time (0: never).",
	      (double)s->last_ok_ns / 1e9);
	gauge(f, "sluice_agent_last_apply_duration_seconds",
	      "How long the last successful apply took, reading the directory included.",
	      s->last_apply_s);
	gauge(f, "sluice_agent_policy_rejected",
	      "1 while the config directory holds a policy that was rejected (the data plane keeps the last good one).",
	      s->rejected);
	gauge(f, "sluice_agent_start_time_seconds", "When the agent started, Unix time.",
	      (double)s->start_ns / 1e9);
	sl_prom_family(f, "sluice_agent_applies_total", "counter",
		       "Successful applies of the config directory.");
	fprintf(f, "sluice_agent_applies_total %llu\n", (unsigned long long)s->applies);
	sl_prom_family(f, "sluice_agent_apply_rejections_total", "counter",
		       "Applies of the config directory that were rejected, by reason; each left the last good policy in place.");
	for (int r = 0; r < REJECT__COUNT; r++)
		fprintf(f, "sluice_agent_apply_rejections_total{reason=\"%s\"} %llu\n", reject_names[r],
			(unsigned long long)s->rejects[r]);
}
