// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What the agent serves over HTTP. Runs on the HTTP and renderer threads:
 * it reads the pinned maps (no lock the policy loop takes) and copies of
 * the published status, nothing else of struct agent but its constant
 * fields.
 *
 *   /metrics  the data plane's families (sl_metrics_write) and the agent's
 *             own (sluice_agent_*)
 *   /healthz  the policy loop is alive and the pins are whole; a failure
 *             here means restarting the agent may help
 *   /readyz   healthz, the programs attached, and the config directory's
 *             policy is what the data plane runs (applied, not rejected,
 *             and no other writer moved the generation since)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "metrics.h"
#include "prom.h"

/* The loop wakes at least every second; an apply of a very large policy
 * can hold it for seconds, never for this long. */
#define HEARTBEAT_MAX_NS (30 * 1000000000ull)

/* Closes a memstream; a failed flush is a failed allocation. */
static int close_stream(FILE *f, int err)
{
	if (fclose(f) && !err)
		err = -ENOMEM;
	return err;
}

static int agent_text(char **buf, size_t *len, bool dataplane_ok)
{
	struct agent_status st;
	FILE *f = open_memstream(buf, len);

	if (!f)
		return -ENOMEM;
	status_read(&st);
	status_write_metrics(f, &st);
	sl_prom_family(f, "sluice_agent_dataplane_metrics_up", "gauge",
		       "1 when this scrape could read the data plane's maps (their families are above).");
	fprintf(f, "sluice_agent_dataplane_metrics_up %d\n", dataplane_ok);
	return close_stream(f, 0);
}

static int render_metrics(void *ctx, char **out, size_t *out_len)
{
	struct agent *a = ctx;
	char *dp = NULL, *ag = NULL, *nb;
	size_t dp_len = 0, ag_len = 0;
	FILE *f = open_memstream(&dp, &dp_len);
	int err;

	if (!f)
		return -ENOMEM;
	err = close_stream(f, sl_metrics_write(f, a->pin_root));
	if (err) {
		/* A half-written family would make the whole scrape invalid. */
		log_warn("metrics: the data plane under %s: %s", a->pin_root, strerror(-err));
		dp_len = 0;
	}
	err = agent_text(&ag, &ag_len, !err);
	nb = err ? NULL : realloc(dp, dp_len + ag_len + 1);
	if (!nb) {
		free(dp);
		free(ag);
		return err ? err : -ENOMEM;
	}
	memcpy(nb + dp_len, ag, ag_len + 1);
	free(ag);
	*out = nb;
	*out_len = dp_len + ag_len;
	return 0;
}

static bool healthz(void *ctx, char *why, size_t len)
{
	struct agent *a = ctx;
	uint64_t age = status_heartbeat_age_ns();

	if (age > HEARTBEAT_MAX_NS) {
		snprintf(why, len, "the policy loop has not run for %.0f s", (double)age / 1e9);
		return false;
	}
	return node_pins_whole(a->pin_root, &a->expect, why, len);
}

static bool policy_current(struct agent *a, char *why, size_t len)
{
	struct agent_status st;
	uint32_t live = 0;
	int err;

	status_read(&st);
	if (st.rejected) {
		snprintf(why, len, "%s rejected (%s); see the log", a->config_dir,
			 reject_names[st.last_reason]);
		return false;
	}
	if (!st.applied_gen) {
		snprintf(why, len, "%s not applied yet", a->config_dir);
		return false;
	}
	err = node_live_generation(a->pin_root, &live);
	if (err) {
		snprintf(why, len, "reading the live generation: %s", strerror(-err));
		return false;
	}
	if (live != st.applied_gen) {
		snprintf(why, len, "the data plane runs generation %u, not %u from %s (applied by another writer)",
			 live, st.applied_gen, a->config_dir);
		return false;
	}
	return true;
}

static bool readyz(void *ctx, char *why, size_t len)
{
	struct agent *a = ctx;

	return healthz(ctx, why, len) && node_programs_attached(a->pin_root, &a->expect, why, len) &&
	       policy_current(a, why, len);
}

void agent_routes(struct agent *a, struct http_routes *r)
{
	*r = (struct http_routes){ .ctx = a, .metrics = render_metrics, .healthz = healthz,
				   .readyz = readyz };
}
