// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "apply.h"
#include "confdir.h"
#include "log.h"

static enum reject_reason reason_of(int err)
{
	switch (err) {
	case -EINVAL:
		return REJECT_INVALID;
	case -E2BIG:
	case -ENOSPC:
	case -EFBIG:
	case -EMSGSIZE:
		return REJECT_CAPACITY;
	default:
		return REJECT_SYSTEM;
	}
}

static enum agent_log_level level_of(enum sl_severity s)
{
	return s == SL_SEV_ERROR ? LOG_ERROR : s == SL_SEV_WARNING ? LOG_WARN : LOG_INFO;
}

/* Each diagnostic at its own level, in the library's one format. */
static void log_diags(const struct sl_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		struct sl_diags one = { .v = &d->v[i], .n = 1 };
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);

		if (!f)
			continue;
		sl_diags_print(&one, f);
		if (!fclose(f))
			agent_log(level_of(d->v[i].sev), "%s", text);
		free(text);
	}
}

static void rejected(struct agent *a, enum reject_reason r, const char *why)
{
	a->st.rejects[r]++;
	a->st.rejected = true;
	a->st.last_reason = r;
	status_publish(&a->st);
	log_error("%s rejected (%s): %s; the data plane keeps the last good policy%s", a->config_dir,
		  reject_names[r], why, a->st.applied_gen ? "" : " (none applied by this agent yet)");
}

static void applied(struct agent *a, const struct sl_apply_result *r, uint64_t t0)
{
	a->st.applied_gen = r->pub.generation;
	a->st.last_ok_ns = sl_now_real_ns();
	a->st.last_apply_s = sl_ms_since(t0) / 1e3;
	a->st.applies++;
	a->st.rejected = false;
	status_publish(&a->st);
	log_info("generation %u: %zu objects, %zu services, %zu endpoints in %.1f ms",
		 r->pub.generation, r->n_objects, r->n_services, r->n_backends,
		 a->st.last_apply_s * 1e3);
}

void agent_sync(struct agent *a)
{
	uint64_t t0 = sl_now_mono_ns();
	struct sl_apply_result r;
	struct sl_diags d = { 0 };
	struct confdir c;
	char why[1024];
	int err;

	err = confdir_read(a->config_dir, &c, why, sizeof(why));
	if (err) {
		rejected(a, REJECT_READ, why);
		return;
	}
	err = sl_apply(a->pin_root, c.src, c.n, SL_APPLY_REPLACE, false, &d, &r);
	log_diags(&d);
	if (err == -EINVAL)
		snprintf(why, sizeof(why), "%zu errors", d.n_errors);
	else if (err)
		snprintf(why, sizeof(why), "%s", strerror(-err));
	if (err)
		rejected(a, reason_of(err), why);
	else
		applied(a, &r, t0);
	sl_diags_free(&d);
	confdir_free(&c);
}
