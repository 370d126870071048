// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mapio.h"

/* Process-wide on purpose: the publisher runs under the pin-root lock, one
 * publication at a time, and the hook must see every write wherever it is
 * made. */
static struct {
	unsigned long writes;
	unsigned long kill_after; /* 0: off */
	int failed_fd;
} io = { .failed_fd = -1 };

void sl_mapio_begin(void)
{
	const char *s = getenv("SLUICE_TEST_KILL_AFTER_WRITE");

	io.writes = 0;
	io.failed_fd = -1;
	io.kill_after = s && *s ? strtoul(s, NULL, 10) : 0;
}

unsigned long sl_mapio_writes(void)
{
	return io.writes;
}

int sl_mapio_failed_fd(void)
{
	return io.failed_fd;
}

/* After the write, whether it worked or not: the test stops the process
 * with the kernel holding exactly the first N writes. */
static int wrote(int fd, int err)
{
	if (err)
		io.failed_fd = fd;
	if (++io.writes == io.kill_after)
		raise(SIGKILL);
	return err;
}

int sl_map_put(int fd, const void *key, const void *val, __u64 flags)
{
	return wrote(fd, bpf_map_update_elem(fd, key, val, flags) ? -errno : 0);
}

int sl_map_del(int fd, const void *key)
{
	int err = bpf_map_delete_elem(fd, key) && errno != ENOENT ? -errno : 0;

	return wrote(fd, err);
}

int sl_put_many(int fd, const void *keys, const void *vals, size_t n, size_t ksz, size_t vsz)
{
	__u32 count = (__u32)n;
	const char *k = keys, *v = vals;
	int err;

	if (!n)
		return 0;
	err = bpf_map_update_batch(fd, keys, vals, &count, NULL) ? -errno : 0;
	if (err != -EINVAL && err != -EOPNOTSUPP && err != -ENOTSUPP)
		return wrote(fd, err);
	for (size_t i = 0; i < n; i++) {
		err = sl_map_put(fd, k + i * ksz, v + i * vsz, BPF_ANY);
		if (err)
			return err;
	}
	return 0;
}

static bool no_batch(int err)
{
	return err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUPP;
}

int sl_del_many(int fd, const void *keys, size_t n, size_t ksz)
{
	const char *k = keys;
	size_t at = 0;
	int err = 0;

	while (at < n) {
		__u32 count = (__u32)(n - at);

		err = bpf_map_delete_batch(fd, k + at * ksz, &count, NULL) ? -errno : 0;
		if (!err)
			return wrote(fd, 0);
		if (no_batch(err))
			break;
		if (err != -ENOENT)
			return wrote(fd, err);
		/* The batch stops at a key that is not there: not an error
		 * here, so go on after it. */
		at += count + 1;
	}
	for (; no_batch(err) && at < n; at++) {
		int e = sl_map_del(fd, k + at * ksz);

		if (e)
			return e;
	}
	return 0;
}

/* Room for WANT more records after N in KEYS (KSZ bytes each) and, when
 * VALS is not NULL, in VALS (VSZ bytes each); *CAP records are allocated. */
static int room(char **keys, char **vals, size_t n, size_t want, size_t *cap, size_t ksz,
		size_t vsz)
{
	size_t nc = *cap;
	char *k, *v;

	if (n + want <= nc)
		return 0;
	while (nc < n + want)
		nc *= 2;
	k = realloc(*keys, nc * ksz);
	if (!k)
		return -ENOMEM;
	*keys = k;
	if (vals) {
		v = realloc(*vals, nc * (vsz ? vsz : 1));
		if (!v)
			return -ENOMEM;
		*vals = v;
	}
	*cap = nc;
	return 0;
}

/* What one element of FD takes in a batch's value buffer. */
static int batch_value_size(int fd, size_t key_size, size_t *vsz)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	if (bpf_map_get_info_by_fd(fd, &info, &len) || info.key_size != key_size || info.key_size > 64)
		return -EINVAL;
	*vsz = info.value_size;
	if (info.type == BPF_MAP_TYPE_PERCPU_HASH || info.type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
	    info.type == BPF_MAP_TYPE_PERCPU_ARRAY)
		*vsz = (((size_t)info.value_size + 7) & ~(size_t)7) * (size_t)libbpf_num_possible_cpus();
	return 0;
}

/* Every entry of FD in batches (one syscall per BATCH_KEYS entries instead
 * of one or two per entry: a whole apply walked 50,000 keys of a slot it
 * was about to clear, 70 ms with get_next_key; a metrics scrape at 10,000
 * services made 437,000 calls). Values are kept when VALS is not NULL.
 * -EOPNOTSUPP: no batch lookup here (LPM tries, kernels before 5.6, a hash
 * bucket fuller than a batch): the caller walks the map key by key. */
#define BATCH_KEYS 4096u

static int dump_by_batch(int fd, size_t key_size, char **keys, char **vals, size_t *n)
{
	size_t cap = BATCH_KEYS, vsz = 0;
	char *kb = malloc(cap * key_size), *vb = NULL;
	__u64 token[8]; /* the kernel's cursor: a bucket index for hashes, a key for arrays */
	bool first = true;
	__u32 count;
	int err = batch_value_size(fd, key_size, &vsz) ? -EOPNOTSUPP : 0;

	*n = 0;
	vb = err ? NULL : malloc(cap * vsz);
	if (!err && (!kb || !vb))
		err = -ENOMEM;
	while (!err) {
		err = room(&kb, &vb, *n, BATCH_KEYS, &cap, key_size, vsz);
		if (err)
			break;
		count = BATCH_KEYS;
		err = bpf_map_lookup_batch(fd, first ? NULL : token, token, kb + *n * key_size,
					   vb + *n * vsz, &count, NULL) ? -errno : 0;
		first = false;
		if (!err || err == -ENOENT)
			*n += count;
		if (err == -ENOENT) {
			err = 0;
			break;
		}
	}
	if (err) {
		free(kb);
		free(vb);
		*n = 0;
		return err == -ENOMEM ? err : -EOPNOTSUPP;
	}
	*keys = kb;
	if (vals)
		*vals = vb;
	else
		free(vb);
	return 0;
}

/* The same, key by key (and a lookup each when VALS is not NULL). */
static int dump_by_walk(int fd, size_t key_size, size_t val_size, char **keys, char **vals,
			size_t *n)
{
	size_t cap = 1024;
	char *kb = malloc(cap * key_size), *vb = vals ? malloc(cap * (val_size ? val_size : 1)) : NULL;
	int err = kb && (!vals || vb) ? 0 : -ENOMEM;

	*n = 0;
	while (!err) {
		const char *prev;

		err = room(&kb, vals ? &vb : NULL, *n, 1, &cap, key_size, val_size);
		prev = *n ? kb + (*n - 1) * key_size : NULL;
		if (err || bpf_map_get_next_key(fd, prev, kb + *n * key_size))
			break;
		/* A key deleted between the two calls is left out. */
		if (!vals || !bpf_map_lookup_elem(fd, kb + *n * key_size, vb + *n * val_size))
			(*n)++;
	}
	if (err) {
		free(kb);
		free(vb);
		*n = 0;
		return err;
	}
	*keys = kb;
	if (vals)
		*vals = vb;
	return 0;
}

void *sl_map_keys(int fd, size_t key_size, size_t *n)
{
	char *keys = NULL;
	int err = dump_by_batch(fd, key_size, &keys, NULL, n);

	if (err == -EOPNOTSUPP)
		err = dump_by_walk(fd, key_size, 0, &keys, NULL, n);
	return err ? NULL : keys;
}

int sl_map_dump(int fd, size_t key_size, size_t val_size, void **keys, void **vals, size_t *n)
{
	size_t vsz;
	int err = batch_value_size(fd, key_size, &vsz);

	*keys = *vals = NULL;
	*n = 0;
	if (err)
		return err;
	if (vsz != val_size)
		return -EINVAL; /* per-CPU values are not what this reads */
	err = dump_by_batch(fd, key_size, (char **)keys, (char **)vals, n);
	if (err == -EOPNOTSUPP)
		err = dump_by_walk(fd, key_size, val_size, (char **)keys, (char **)vals, n);
	return err;
}

long sl_map_count(int fd, size_t key_size)
{
	size_t n;
	void *keys = sl_map_keys(fd, key_size, &n);

	free(keys);
	return keys ? (long)n : -ENOMEM;
}

int sl_array_read(int fd, __u32 first, __u32 n, void *vals, size_t val_size)
{
	__u32 *keys = malloc((n ? n : 1) * sizeof(*keys)), prev = first - 1, done = 0, count;
	int err = keys ? 0 : -ENOMEM;

	/* A batch starts after its cursor key: FIRST - 1, or none for 0. */
	while (!err && done < n) {
		count = n - done;
		err = bpf_map_lookup_batch(fd, first + done ? &prev : NULL, &prev, keys,
					   (char *)vals + (size_t)done * val_size, &count, NULL)
			      ? -errno : 0;
		if (err == -ENOENT && count) /* the end of the array: what there is */
			err = 0;
		if (!err && !count)
			err = -ENOENT;
		done += err ? 0 : count;
	}
	for (__u32 i = done; no_batch(err) && i < n; i++) {
		__u32 k = first + i;

		err = bpf_map_lookup_elem(fd, &k, (char *)vals + (size_t)i * val_size) ? -errno : 0;
	}
	free(keys);
	return err;
}

int sl_array_gather(int fd, const __u32 *idx, size_t n, void *vals, size_t val_size)
{
	__u32 lo = UINT32_MAX, hi = 0, max = sl_map_capacity(fd);
	char *span;
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		if (idx[i] >= max)
			return -ENOENT;
		lo = idx[i] < lo ? idx[i] : lo;
		hi = idx[i] > hi ? idx[i] : hi;
	}
	if (!n)
		return 0;
	/* Sparse: one lookup each beats reading what lies between. */
	if ((size_t)(hi - lo) + 1 > 8 * n) {
		for (size_t i = 0; !err && i < n; i++)
			err = bpf_map_lookup_elem(fd, &idx[i], (char *)vals + i * val_size) ? -errno : 0;
		return err;
	}
	span = malloc(((size_t)(hi - lo) + 1) * val_size);
	if (!span)
		return -ENOMEM;
	err = sl_array_read(fd, lo, hi - lo + 1, span, val_size);
	for (size_t i = 0; !err && i < n; i++)
		memcpy((char *)vals + i * val_size, span + (size_t)(idx[i] - lo) * val_size, val_size);
	free(span);
	return err;
}

/* Delete KEYS[0..N): one batch, or key by key where the map has no batch
 * delete or the batch stopped part way (a key already gone). */
static int del_many(int fd, char *keys, size_t n, size_t key_size)
{
	__u32 count = (__u32)n;
	int err;

	if (!n)
		return 0;
	err = bpf_map_delete_batch(fd, keys, &count, NULL) ? -errno : 0;
	if (!err)
		return wrote(fd, 0);
	if (!no_batch(err) && err != -ENOENT)
		return wrote(fd, err);
	for (size_t i = no_batch(err) ? 0 : count; i < n; i++) {
		err = sl_map_del(fd, keys + i * key_size);
		if (err)
			return err;
	}
	return 0;
}

int sl_clear_where(int fd, size_t key_size, bool (*match)(const void *key, const void *ctx),
		   const void *ctx)
{
	size_t n, m = 0;
	char *keys = sl_map_keys(fd, key_size, &n);
	int err;

	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) /* the matching keys, moved to the front */
		if (match(keys + i * key_size, ctx))
			memmove(keys + m++ * key_size, keys + i * key_size, key_size);
	err = del_many(fd, keys, m, key_size);
	free(keys);
	return err;
}

struct slot_field {
	size_t off; /* of the key's __u32 slot field */
	__u32 slot;
};

static bool slot_is(const void *key, const void *ctx)
{
	const struct slot_field *f = ctx;
	__u32 s;

	memcpy(&s, (const char *)key + f->off, sizeof(s));
	return s == f->slot;
}

int sl_clear_slot(int fd, size_t key_size, size_t slot_off, __u32 slot)
{
	struct slot_field f = { slot_off, slot };

	return sl_clear_where(fd, key_size, slot_is, &f);
}

int sl_percpu_sum(int fd, const void *key, __u64 *out, size_t n)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *per;

	memset(out, 0, n * sizeof(*out));
	if (ncpu <= 0)
		return -EINVAL;
	per = calloc((size_t)ncpu * n, sizeof(*per));
	if (!per)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, key, per)) {
		free(per);
		return -errno;
	}
	for (int c = 0; c < ncpu; c++)
		for (size_t i = 0; i < n; i++)
			out[i] += per[(size_t)c * n + i];
	free(per);
	return 0;
}

__u32 sl_map_capacity(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_map_get_info_by_fd(fd, &info, &len) ? 0 : info.max_entries;
}
