// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "health.h"
#include "nodestate.h"
#include "pins.h"
#include "publish.h"

static bool expected_link(const char *name, const char *const *ifaces, size_t n)
{
	const char *at = strchr(name, '@');

	if (name[0] == '.')
		return false;
	if (!at)
		return true;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(at + 1, ifaces[i]))
			return true;
	return false;
}

int node_expect_snapshot(const char *pin_root, const char *const *ifaces, size_t n_ifaces,
			 struct node_expect *e)
{
	char dir[4096];
	struct dirent *de;
	char **nv;
	DIR *d;
	int err = 0;

	e->links = NULL;
	e->n = 0;
	sl_pin_path(dir, sizeof(dir), pin_root, "links", NULL);
	d = opendir(dir);
	if (!d)
		return -errno;
	while (!err && (de = readdir(d))) {
		if (!expected_link(de->d_name, ifaces, n_ifaces))
			continue;
		nv = realloc(e->links, (e->n + 1) * sizeof(*nv));
		if (nv)
			e->links = nv;
		if (!nv || !(e->links[e->n] = strdup(de->d_name)))
			err = -ENOMEM;
		else
			e->n++;
	}
	closedir(d);
	if (err)
		node_expect_free(e);
	return err;
}

void node_expect_free(struct node_expect *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->links[i]);
	free(e->links);
	e->links = NULL;
	e->n = 0;
}

/* An open pinned object, or -errno with WHY. */
static int open_pin(const char *root, const char *kind, const char *name, char *why, size_t len)
{
	char path[4096];
	int fd;

	if (sl_pin_path(path, sizeof(path), root, kind, name)) {
		snprintf(why, len, "%s/%s: path too long", kind, name);
		return -ENAMETOOLONG;
	}
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fd = -errno;
		snprintf(why, len, "%s/%s: %s", kind, name, strerror(-fd));
	}
	return fd;
}

/* The node-state check every tool shares (user/nodestate.c): maps, the
 * load record, programs, cgroup links, per-interface pairs. */
static bool node_complete(const char *pin_root, char *why, size_t len)
{
	struct sl_node_state s;
	bool ok;

	if (sl_node_inspect(pin_root, &s)) {
		snprintf(why, len, "%s: not loaded", pin_root);
		return false;
	}
	ok = s.complete;
	if (!ok)
		snprintf(why, len, "%.*s", (int)strcspn(s.problems, "\n"), s.problems);
	sl_node_state_free(&s);
	return ok;
}

bool node_pins_whole(const char *pin_root, const struct node_expect *e, char *why, size_t len)
{
	int fd;

	for (int i = 0; i < SL_MAP__COUNT; i++) {
		if ((fd = open_pin(pin_root, "maps", sl_map_names[i], why, len)) < 0)
			return false;
		close(fd);
	}
	for (size_t i = 0; i < e->n; i++) {
		if ((fd = open_pin(pin_root, "links", e->links[i], why, len)) < 0)
			return false;
		close(fd);
	}
	return true;
}

/* A detached link stays pinned but its target reads back as 0. */
static bool link_attached(const struct bpf_link_info *li)
{
	switch (li->type) {
	case BPF_LINK_TYPE_CGROUP:
		return li->cgroup.cgroup_id != 0;
	case BPF_LINK_TYPE_XDP:
		return li->xdp.ifindex != 0;
	case BPF_LINK_TYPE_TCX:
		return li->tcx.ifindex != 0;
	case BPF_LINK_TYPE_NETNS:
		return li->netns.netns_ino != 0;
	default:
		return li->prog_id != 0;
	}
}

bool node_programs_attached(const char *pin_root, const struct node_expect *e, char *why,
			    size_t len)
{
	for (size_t i = 0; i < e->n; i++) {
		struct bpf_link_info li;
		__u32 li_len = sizeof(li);
		int fd = open_pin(pin_root, "links", e->links[i], why, len);

		if (fd < 0)
			return false;
		memset(&li, 0, sizeof(li));
		if (bpf_link_get_info_by_fd(fd, &li, &li_len)) {
			snprintf(why, len, "links/%s: %s", e->links[i], strerror(errno));
			close(fd);
			return false;
		}
		close(fd);
		if (!link_attached(&li)) {
			snprintf(why, len, "links/%s: detached", e->links[i]);
			return false;
		}
	}
	return node_complete(pin_root, why, len);
}

int node_live_generation(const char *pin_root, uint32_t *gen)
{
	struct sl_maps m;
	struct sl_config cfg;
	char why[64];
	int err;

	for (int i = 0; i < SL_MAP__COUNT; i++)
		m.fd[i] = -1;
	m.fd[SL_MAP_CONFIG] = open_pin(pin_root, "maps", sl_map_names[SL_MAP_CONFIG], why,
				       sizeof(why));
	if (m.fd[SL_MAP_CONFIG] < 0)
		return m.fd[SL_MAP_CONFIG];
	err = sl_read_config(&m, &cfg);
	close(m.fd[SL_MAP_CONFIG]);
	if (!err)
		*gen = cfg.generation;
	return err;
}
