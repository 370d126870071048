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

void *sl_map_keys(int fd, size_t key_size, size_t *n)
{
	size_t cap = 1024;
	char *keys = malloc(cap * key_size), *prev;

	*n = 0;
	while (keys) {
		if (*n == cap) {
			char *nk = realloc(keys, 2 * cap * key_size);

			if (!nk) {
				free(keys);
				return NULL;
			}
			keys = nk;
			cap *= 2;
		}
		prev = *n ? keys + (*n - 1) * key_size : NULL;
		if (bpf_map_get_next_key(fd, prev, keys + *n * key_size))
			break;
		(*n)++;
	}
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

int sl_clear_where(int fd, size_t key_size, bool (*match)(const void *key, const void *ctx),
		   const void *ctx)
{
	size_t n;
	char *keys = sl_map_keys(fd, key_size, &n);
	int err = keys ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < n; i++)
		if (match(keys + i * key_size, ctx))
			err = sl_map_del(fd, keys + i * key_size);
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
