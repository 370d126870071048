// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Syscall programs userspace runs. sl_ct_gc is node-ingress connection
 * tracking housekeeping: it closes (giving back the connection-limit unit)
 * and deletes every tracked flow idle longer than its timeout, in the
 * kernel, so that closing is atomic with the XDP and TC programs that close
 * entries on FIN and RST. sl_pflows_revoke re-opens the NetworkPolicy
 * verdict of every pod flow after a policy change. sl_outcome takes one
 * request outcome the proxy (or `sluice outcome`) reports for an endpoint.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "ct.h"
#include "pins.h"
#include "util.h"

/* Run the pinned syscall program NAME once with CTX (copied back). */
static int run_syscall(const char *pin_root, const char *name, void *ctx, __u32 size)
{
	LIBBPF_OPTS(bpf_test_run_opts, run, .ctx_in = ctx, .ctx_size_in = size);
	int fd = sl_pin_open(pin_root, "progs", name), err;

	if (fd < 0)
		return fd;
	/* A syscall program's context is copied back into ctx_in. */
	err = bpf_prog_test_run_opts(fd, &run) ? -errno : 0;
	close(fd);
	return err;
}

int sl_ct_gc(const char *pin_root, const struct sl_ct_gc_opts *o, struct sl_ct_gc_ctx *out)
{
	memset(out, 0, sizeof(*out));
	out->tcp_idle_ns = o->tcp_idle_ns;
	out->udp_idle_ns = o->udp_idle_ns;
	out->closed_idle_ns = o->closed_idle_ns;
	return run_syscall(pin_root, "sl_ct_gc", out, sizeof(*out));
}

/* Does sl_pflows hold no record? One key lookup: a walk of the hash map
 * by a program visits every bucket, ~5 ms however few records it holds. */
static bool pflows_empty(const char *pin_root)
{
	struct sl_pflow_key key;
	int fd = sl_pin_open(pin_root, "maps", "sl_pflows"), err;

	if (fd < 0)
		return false;
	err = bpf_map_get_next_key(fd, NULL, &key) ? errno : 0;
	close(fd);
	return err == ENOENT;
}

int sl_pflows_revoke(const char *pin_root, __u64 *revoked)
{
	struct sl_pflows_revoke_ctx c = { 0 };
	int err;

	/* No record to judge again (no pod interface hooked, or no traffic):
	 * a record made from now on was judged under the new policy, as the
	 * switch came first (a packet judged under the old slot is not cached,
	 * tc_pod.bpf.c's sl_pod_slot_moved). */
	*revoked = 0;
	if (pflows_empty(pin_root))
		return 0;
	err = run_syscall(pin_root, "sl_pflows_revoke", &c, sizeof(c));
	*revoked = c.revoked;
	return err;
}

int sl_outcome_report(const char *pin_root, struct sl_outcome_ctx *ctx)
{
	return run_syscall(pin_root, "sl_outcome", ctx, sizeof(*ctx));
}
