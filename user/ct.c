// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Node-ingress connection tracking housekeeping: runs the pinned syscall
 * program sl_ct_gc, which closes (and gives back the connection-limit unit
 * of) and deletes every tracked flow idle longer than its timeout. It runs
 * in the kernel so that closing an entry is atomic with the XDP and TC
 * programs that close entries on FIN and RST.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "ct.h"
#include "pins.h"
#include "util.h"

int sl_ct_gc(const char *pin_root, const struct sl_ct_gc_opts *o, struct sl_ct_gc_ctx *out)
{
	LIBBPF_OPTS(bpf_test_run_opts, run);
	char path[4096];
	int fd, err;

	memset(out, 0, sizeof(*out));
	out->tcp_idle_ns = o->tcp_idle_ns;
	out->udp_idle_ns = o->udp_idle_ns;
	out->closed_idle_ns = o->closed_idle_ns;
	err = sl_pin_path(path, sizeof(path), pin_root, "progs", "sl_ct_gc");
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	/* A syscall program's context is copied back into ctx_in. */
	run.ctx_in = out;
	run.ctx_size_in = sizeof(*out);
	err = bpf_prog_test_run_opts(fd, &run) ? -errno : 0;
	close(fd);
	return err;
}
