// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Two halves of one job at once. A full apply is CPU work that splits
 * cleanly (documents, objects, store buckets) and the nodes Sluice runs on
 * have more than one CPU; the one-object applies that matter for latency
 * stay on one thread (their callers do not split below a size).
 */
#include <pthread.h>

#include "policy.h"

struct par_job {
	void (*fn)(void *arg);
	void *arg;
};

static void *par_main(void *p)
{
	struct par_job *j = p;

	j->fn(j->arg);
	return NULL;
}

static void *par_task_main(void *p)
{
	struct sl_par_task *t = p;

	t->fn(t->arg);
	return NULL;
}

void sl_par_start(struct sl_par_task *t, void (*fn)(void *arg), void *arg)
{
	t->fn = fn;
	t->arg = arg;
	t->started = !pthread_create(&t->th, NULL, par_task_main, t);
	t->pending = true;
}

void sl_par_join(struct sl_par_task *t)
{
	if (!t->pending)
		return;
	t->pending = false;
	if (t->started)
		pthread_join(t->th, NULL);
	else
		t->fn(t->arg); /* no thread was to be had: now, here */
}

void sl_par2(void (*fn)(void *arg), void *a0, void *a1)
{
	struct par_job j = { fn, a1 };
	pthread_t th;

	if (pthread_create(&th, NULL, par_main, &j)) {
		fn(a0); /* no thread to be had: one after the other */
		fn(a1);
		return;
	}
	fn(a0);
	pthread_join(th, NULL);
}
