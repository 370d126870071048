// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "apply.h"
#include "files.h"
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

static void applied(struct agent *a, const struct sl_apply_result *r, uint64_t t0, bool whole)
{
	a->st.applied_gen = r->pub.generation;
	a->st.last_ok_ns = sl_now_real_ns();
	a->st.last_apply_s = sl_ms_since(t0) / 1e3;
	a->st.applies++;
	a->st.rejected = false;
	status_publish(&a->st);
	log_info("generation %u: %zu objects, %zu services, %zu endpoints in %.1f ms (%s)",
		 r->pub.generation, r->n_objects, r->n_services, r->n_backends,
		 a->st.last_apply_s * 1e3, whole ? "the whole directory" : "the changed files");
	if (r->pub.sockops > 0)
		log_info("sockops attached: the live policy hands off to the proxy");
	else if (r->pub.sockops < 0)
		log_info("sockops detached: the live policy no longer hands off to the proxy (%u "
			 "handed-off connections still connecting, reset by the proxy)",
			 r->pub.sockops_late);
}

/* The files inotify named, applied as a change of their objects through
 * the kept model. 1: nothing changed; -EAGAIN: the whole directory must
 * be applied instead (files.h says when; also when another writer applied
 * since this agent did: the directory replaces what it wrote). */
static int sync_change(struct agent *a, struct sl_diags *d, struct sl_apply_result *r,
		       char *why, size_t why_len)
{
	struct sl_policy *up, *rm;
	int err = files_stage_change(a->files, a->config_dir, &up, &rm, d, why, why_len);

	if (err == 0)
		return 1;
	if (err < 0)
		return err;
	err = sl_apply_parsed(a->pin_root, a->keep, a->st.applied_gen, up, rm, false, d, r);
	return err == -ESTALE ? -EAGAIN : err;
}

/* READ: the directory could not be read (not a policy error). */
static int sync_whole(struct agent *a, struct sl_diags *d, struct sl_apply_result *r, char *why,
		      size_t why_len, bool *read)
{
	struct sl_policy *whole;
	int err = files_stage_whole(a->files, a->config_dir, &whole, d, why, why_len, read);

	if (err)
		return err;
	return sl_apply_parsed(a->pin_root, a->keep, 0, whole, NULL, true, d, r);
}

void agent_sync(struct agent *a)
{
	uint64_t t0 = sl_now_mono_ns();
	struct sl_apply_result r;
	struct sl_diags d = { 0 };
	char why[1024] = "";
	bool read = false, whole = false;
	int err = sync_change(a, &d, &r, why, sizeof(why));

	if (err == 1) {
		files_commit(a->files);
		log_debug("%s: no file changed", a->config_dir);
		return;
	}
	if (err == -EAGAIN) {
		whole = true;
		sl_diags_free(&d);
		d = (struct sl_diags){ 0 };
		err = sync_whole(a, &d, &r, why, sizeof(why), &read);
	}
	log_diags(&d);
	if (err == -EINVAL && !read)
		snprintf(why, sizeof(why), "%zu errors", d.n_errors);
	else if (err && !why[0])
		snprintf(why, sizeof(why), "%s", strerror(-err));
	if (err) {
		files_abort(a->files);
		rejected(a, read ? REJECT_READ : reason_of(err), why);
	} else {
		files_commit(a->files);
		applied(a, &r, t0, whole);
	}
	sl_diags_free(&d);
}
