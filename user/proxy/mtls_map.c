// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The proxy writes sl_mtls (include/sluice_abi.h): PeerAuthentication of the
 * workloads of this node, for bpf/tc_pod.bpf.c to enforce STRICT at the pod
 * interface. Written after every policy load, before the proxy decides any
 * connection under it; entries of older generations are removed afterwards,
 * so the kernel never sees a STRICT port without its entry.
 *
 * The map exists when `sluice load` attached pod interfaces (--pod-iface);
 * without it there is nothing to enforce at the pod and this does nothing.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pins.h"
#include "proxy/proxy.h"
#include "util.h"

#define MAX_PORTS 64

static int put(int fd, const struct sl_l4addr *ip, uint8_t proto, uint16_t port, uint32_t mode,
	       uint32_t gen)
{
	struct sl_mtls_key k;
	struct sl_mtls_val v = { .mode = mode, .generation = gen };

	memset(&k, 0, sizeof(k));
	memcpy(k.addr, ip->addr, sizeof(k.addr));
	k.family = ip->family;
	k.proto = proto;
	k.port = htons(port);
	return bpf_map_update_elem(fd, &k, &v, BPF_ANY) ? -errno : 0;
}

static uint32_t kmode(enum sl_mtls_mode m)
{
	return m == SL_MTLS_STRICT ? SL_MTLS_K_STRICT : SL_MTLS_K_OPEN;
}

static int put_wl(int fd, const struct sl_mesh *m, const struct sl_mesh_wl *w, uint32_t gen)
{
	uint16_t ports[MAX_PORTS];
	size_t n = sl_mesh_mtls_ports(m, w, ports, MAX_PORTS);
	uint32_t dflt = kmode(sl_mesh_mtls(m, w, 0, NULL, 0));
	int err = 0;

	for (int i = 0; i < w->n_ip && !err; i++) {
		for (uint8_t proto = IPPROTO_TCP; proto && !err; proto = proto == IPPROTO_TCP ? IPPROTO_UDP : 0) {
			err = put(fd, &w->ip[i], proto, 0, dflt, gen);
			for (size_t j = 0; j < n && !err; j++)
				err = put(fd, &w->ip[i], proto, ports[j],
					  kmode(sl_mesh_mtls(m, w, ports[j], NULL, 0)), gen);
		}
	}
	return err;
}

/* Remove what an older generation wrote. */
static void prune(int fd, uint32_t gen)
{
	struct sl_mtls_key k, next, *prev = NULL;
	struct sl_mtls_val v;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (!bpf_map_lookup_elem(fd, &next, &v) && v.generation != gen) {
			bpf_map_delete_elem(fd, &next);
			prev = NULL; /* the walk restarts after a delete */
			continue;
		}
		k = next;
		prev = &k;
	}
}

int px_mtls_publish(struct px *px, const struct px_state *st)
{
	char path[4096];
	int fd, err = 0;

	if (!px->o.pin_root || sl_pin_path(path, sizeof(path), px->o.pin_root, "maps", "sl_mtls"))
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0; /* no pod interfaces attached on this node */
	for (size_t i = 0; i < sl_mesh_n_workloads(st->mesh) && !err; i++) {
		const struct sl_mesh_wl *w = sl_mesh_workload(st->mesh, i);

		if (!strcmp(w->node, px->o.node))
			err = put_wl(fd, st->mesh, w, st->gen);
	}
	if (!err)
		prune(fd, st->gen);
	else
		pr_warn("proxy: writing sl_mtls: %s\n", strerror(-err));
	close(fd);
	return err;
}
