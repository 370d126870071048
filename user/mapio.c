// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mapio.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's "operation not supported" (no batch ops) */
#endif

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

/* Room for one more key in KEYS (capacity *CAP keys). */
static char *keys_room(char *keys, size_t n, size_t *cap, size_t want, size_t key_size)
{
	char *nk;

	if (n + want <= *cap)
		return keys;
	while (*cap < n + want)
		*cap *= 2;
	nk = realloc(keys, *cap * key_size);
	if (!nk)
		free(keys);
	return nk;
}

/* Every key of FD in batches (one syscall per BATCH_KEYS keys instead of
 * one per key: a whole apply walked 50,000 keys of a slot it was about to
 * clear, 70 ms with get_next_key). NULL with *N = SIZE_MAX: no batch
 * lookup here (LPM tries, kernels before 5.6, a bucket fuller than a
 * batch): the caller walks the map key by key. */
#define BATCH_KEYS 4096u

static char *keys_by_batch(int fd, size_t key_size, size_t *n)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info), count;
	size_t cap = BATCH_KEYS, vsz;
	char *keys = malloc(cap * key_size), *vals = NULL;
	__u64 token[8]; /* the kernel's cursor: a bucket index for hashes, a key for arrays */
	bool first = true;
	int err = 0;

	*n = 0;
	if (bpf_map_get_info_by_fd(fd, &info, &len) || info.key_size > sizeof(token))
		err = -EINVAL;
	vsz = ((size_t)info.value_size + 7) & ~(size_t)7;
	if (!err && (info.type == BPF_MAP_TYPE_PERCPU_HASH || info.type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
		     info.type == BPF_MAP_TYPE_PERCPU_ARRAY))
		vsz *= (size_t)libbpf_num_possible_cpus();
	vals = err ? NULL : malloc(BATCH_KEYS * vsz);
	if (!err && (!keys || !vals))
		err = -ENOMEM;
	while (!err) {
		keys = keys_room(keys, *n, &cap, BATCH_KEYS, key_size);
		if (!keys) {
			err = -ENOMEM;
			break;
		}
		count = BATCH_KEYS;
		err = bpf_map_lookup_batch(fd, first ? NULL : token, token, keys + *n * key_size, vals,
					   &count, NULL) ? -errno : 0;
		first = false;
		if (!err || err == -ENOENT)
			*n += count;
		if (err == -ENOENT) {
			err = 0;
			break;
		}
	}
	free(vals);
	if (err) {
		free(keys);
		*n = err == -ENOMEM ? 0 : SIZE_MAX;
		return NULL;
	}
	return keys;
}

static char *keys_by_walk(int fd, size_t key_size, size_t *n)
{
	size_t cap = 1024;
	char *keys = malloc(cap * key_size), *prev;

	*n = 0;
	while (keys) {
		keys = keys_room(keys, *n, &cap, 1, key_size);
		if (!keys)
			return NULL;
		prev = *n ? keys + (*n - 1) * key_size : NULL;
		if (bpf_map_get_next_key(fd, prev, keys + *n * key_size))
			break;
		(*n)++;
	}
	return keys;
}

void *sl_map_keys(int fd, size_t key_size, size_t *n)
{
	char *keys = keys_by_batch(fd, key_size, n);

	if (!keys && *n == SIZE_MAX)
		keys = keys_by_walk(fd, key_size, n);
	return keys;
}

long sl_map_count(int fd, size_t key_size)
{
	char *a = malloc(key_size), *b = malloc(key_size), *t;
	void *prev = NULL;
	long n = 0;

	while (a && b && !bpf_map_get_next_key(fd, prev, b)) {
		t = a;
		a = b;
		b = t;
		prev = a;
		n++;
	}
	free(a);
	free(b);
	return n;
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
