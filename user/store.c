// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <bpf/bpf.h>

#include "mapio.h"
#include "store.h"
#include "storefmt.h"
#include "util.h"

int sl_read_config(struct sl_maps *m, struct sl_config *cfg)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(m->fd[SL_MAP_CONFIG], &zero, cfg))
		return -errno;
	if (cfg->magic != SL_ABI_MAGIC || cfg->abi_version != SL_ABI_VERSION)
		return -EPROTO;
	return 0;
}

void sl_node_compile_opts(const struct sl_config *cfg, struct sl_compile_opts *o)
{
	sl_compile_opts_default(o);
	if (cfg->svc_cidr4_len) {
		o->svc_cidr4 = cfg->svc_cidr4;
		o->svc_cidr4_len = cfg->svc_cidr4_len;
	}
}

struct slot_keys {
	__u32 slot;
};

static bool in_slot(const void *key, const void *ctx)
{
	return ((const struct sl_store_key *)key)->slot == ((const struct slot_keys *)ctx)->slot;
}

int sl_store_copy_slot(struct sl_maps *m, __u32 from, __u32 to)
{
	int fd = m->fd[SL_MAP_STORE];
	struct sl_store_val *val = malloc(sizeof(*val));
	struct slot_keys t = { to };
	size_t n;
	struct sl_store_key *keys = sl_map_keys(fd, sizeof(*keys), &n);
	int err = keys && val ? sl_clear_where(fd, sizeof(*keys), in_slot, &t) : -ENOMEM;

	/* Whatever its format: every chunk of FROM, as it is. */
	for (size_t i = 0; !err && i < n; i++) {
		struct sl_store_key k = { .slot = to, .chunk = keys[i].chunk };

		if (keys[i].slot != from)
			continue;
		if (bpf_map_lookup_elem(fd, &keys[i], val))
			err = -errno;
		else
			err = sl_map_put(fd, &k, val, BPF_ANY);
	}
	free(keys);
	free(val);
	return err;
}

/* Inflate SLOT's chunks in order until the stream ends. RAW_HINT sizes the
 * first buffer (0: unknown). */
static int inflate_slot(struct sl_maps *m, __u32 slot, size_t raw_hint, char **src, size_t *len)
{
	struct sl_store_val *val = malloc(sizeof(*val));
	size_t cap = raw_hint + 1 > 4096 ? raw_hint + 1 : 4096;
	char *out = malloc(cap);
	z_stream z;
	int zr = Z_OK, err = 0;

	memset(&z, 0, sizeof(z));
	if (!val || !out || inflateInit(&z) != Z_OK) {
		free(val);
		free(out);
		return -ENOMEM;
	}
	for (__u32 i = 0; zr == Z_OK; i++) {
		struct sl_store_key k = { .slot = slot, .chunk = i };

		if (bpf_map_lookup_elem(m->fd[SL_MAP_STORE], &k, val)) {
			err = i == 0 && errno == ENOENT ? -ENOENT : -EBADMSG;
			break;
		}
		z.next_in = val->data;
		z.avail_in = SL_STORE_CHUNK;
		do {
			if (z.total_out + 1 >= cap) {
				char *n = realloc(out, cap * 2);

				if (!n) {
					zr = Z_MEM_ERROR;
					break;
				}
				out = n;
				cap *= 2;
			}
			z.next_out = (Bytef *)out + z.total_out;
			z.avail_out = (uInt)(cap - 1 - z.total_out);
			zr = inflate(&z, Z_NO_FLUSH);
		} while (zr == Z_OK && z.avail_in);
		if (zr == Z_BUF_ERROR && z.avail_out)
			zr = Z_OK; /* needs the next chunk */
	}
	if (!err && zr != Z_STREAM_END)
		err = zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
	if (!err) {
		out[z.total_out] = 0;
		*len = z.total_out;
		*src = out;
		out = NULL;
	}
	inflateEnd(&z);
	free(out);
	free(val);
	return err;
}

int sl_store_read_slot(struct sl_maps *m, __u32 slot, char **src, size_t *len)
{
	struct sls_view v;
	int err = sls_open(m, slot, &v);

	if (!err && v.empty)
		err = -ENOENT;
	else if (!err && v.v2)
		err = sls_serialize(&v, src, len);
	else if (!err)
		err = inflate_slot(m, slot, 0, src, len); /* format 1 */
	sls_close(&v);
	return err;
}

int sl_read_store(struct sl_maps *m, char **src, size_t *len, struct sl_config *cfg)
{
	struct sl_config again;
	int err;

	for (int tries = 0; tries < 8; tries++) {
		err = sl_read_config(m, cfg);
		if (err)
			return err;
		if (!cfg->store_chunks) {
			*src = calloc(1, 1);
			*len = 0;
			return *src ? 0 : -ENOMEM;
		}
		err = sl_store_read_slot(m, cfg->active_slot, src, len);
		if (!err && *len == cfg->store_raw_bytes && !sl_read_config(m, &again) &&
		    again.generation == cfg->generation)
			return 0;
		if (!err)
			free(*src);
		/* An apply switched slots (and may be rewriting the one we read)
		 * while we read: read the new generation. */
		if (sl_read_config(m, &again) || again.generation == cfg->generation)
			return err ? err : -EBADMSG;
	}
	return -EAGAIN;
}

int sl_store_compile(struct sl_maps *m, struct sl_config *cfg, struct sl_policy **pp,
		     struct sl_tables *t, char **srcp, size_t *lenp)
{
	struct sl_compile_opts o;
	struct sl_diags d = { 0 };
	struct sl_policy *p = sl_policy_new();
	char *src = NULL;
	size_t len = 0;
	int err = p ? sl_read_store(m, &src, &len, cfg) : -ENOMEM;

	memset(t, 0, sizeof(*t));
	if (!err) {
		sl_node_compile_opts(cfg, &o);
		/* Diagnostics of the stored policy were shown when it was
		 * applied; here only whether it still compiles matters. */
		if ((len && sl_policy_load(p, "<applied>", src, len, &d)) ||
		    sl_policy_compile(p, &o, t, &d)) {
			pr_warn("sluice: the applied policy does not compile again; this is a bug\n");
			sl_diags_print(&d, stderr);
			err = -EBADMSG;
		}
	}
	sl_diags_free(&d);
	if (err) {
		sl_policy_free(p);
		p = NULL;
	}
	if (!err && srcp) {
		*srcp = src;
		*lenp = len;
	} else {
		free(src);
	}
	*pp = p;
	return err;
}
