// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * user/mapio.c's key walks and slot clears on real maps (hashes, arrays,
 * LPM tries): every key once over many batches, empty maps, and a clear
 * that deletes exactly one slot's keys; whole dumps with their values,
 * counts, and array reads of a range and of scattered indices (batch
 * reads start after their cursor key, which the first element of a range
 * must not lose); batch deletes of keys some of which are missing.
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "mapio.h"
#include "unit.h"

struct key {
	__u32 id;
	__u32 slot;
	__u32 salt;
};

struct val {
	char bytes[200]; /* a value as big as the publisher's metadata rows */
};

static int hash_of(unsigned n_max)
{
	return bpf_map_create(BPF_MAP_TYPE_HASH, "t_mapio", sizeof(struct key), sizeof(struct val),
			      n_max, NULL);
}

static void fill(int fd, unsigned n, unsigned slots)
{
	struct val v;

	memset(&v, 0x5a, sizeof(v));
	for (unsigned i = 0; i < n; i++) {
		struct key k = { i, i % slots, i * 2654435761u };

		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
			fail_msg(__LINE__, "update %u: %s", i, strerror(errno));
	}
}

/* Every key 0..N-1 exactly once among KEYS[0..n). */
static bool all_once(const struct key *keys, size_t n, unsigned want)
{
	unsigned char *seen = calloc(want ? want : 1, 1);
	bool ok = seen && n == want;

	for (size_t i = 0; ok && i < n; i++) {
		ok = keys[i].id < want && !seen[keys[i].id] &&
		     keys[i].salt == keys[i].id * 2654435761u;
		if (ok)
			seen[keys[i].id] = 1;
	}
	free(seen);
	return ok;
}

static void t_many_batches(void)
{
	const unsigned n = 10007; /* more than two batches, not a multiple */
	int fd = hash_of(16384);
	struct key *keys;
	size_t got;

	EXPECT(fd >= 0, "hash map: %s", strerror(errno));
	if (fd < 0)
		return;
	fill(fd, n, 2);
	keys = sl_map_keys(fd, sizeof(*keys), &got);
	EXPECT(keys && all_once(keys, got, n), "%zu keys listed of %u, or some twice", got, n);
	free(keys);
	close(fd);
}

static void t_empty(void)
{
	int fd = hash_of(64);
	size_t got = 99;
	void *keys;

	EXPECT(fd >= 0, "hash map: %s", strerror(errno));
	if (fd < 0)
		return;
	keys = sl_map_keys(fd, sizeof(struct key), &got);
	EXPECT(keys && got == 0, "an empty map listed %zu keys (keys %p)", got, keys);
	free(keys);
	close(fd);
}

static void t_clear_one_slot(void)
{
	const unsigned n = 9000;
	int fd = hash_of(16384);
	struct key *keys;
	size_t got;
	bool only_slot0 = true;

	EXPECT(fd >= 0, "hash map: %s", strerror(errno));
	if (fd < 0)
		return;
	fill(fd, n, 2);
	EXPECT(sl_clear_slot(fd, sizeof(struct key), offsetof(struct key, slot), 1) == 0,
	      "clear failed");
	keys = sl_map_keys(fd, sizeof(*keys), &got);
	for (size_t i = 0; keys && i < got; i++)
		only_slot0 &= keys[i].slot == 0 && keys[i].id % 2 == 0;
	EXPECT(keys && got == n / 2 && only_slot0, "%zu keys left (want %u, all of slot 0)", got,
	      n / 2);
	free(keys);
	close(fd);
}

/* An LPM trie (batch lookups only through the kernel's generic walk,
 * since 5.6; before, mapio.c walks it key by key). */
static void t_trie(void)
{
	struct lpm {
		__u32 prefixlen;
		__u32 addr;
	} k;
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	int fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "t_mapio_lpm", sizeof(k), sizeof(__u32), 256,
				&o);
	struct lpm *keys;
	size_t got;
	__u32 v = 1, sum = 0;

	EXPECT(fd >= 0, "trie: %s", strerror(errno));
	if (fd < 0)
		return;
	for (__u32 i = 0; i < 100; i++) {
		k.prefixlen = 32;
		k.addr = htobe32(0x0a000000u + i);
		EXPECT(!bpf_map_update_elem(fd, &k, &v, BPF_ANY), "trie update");
	}
	keys = sl_map_keys(fd, sizeof(*keys), &got);
	for (size_t i = 0; keys && i < got; i++)
		sum += be32toh(keys[i].addr) - 0x0a000000u;
	EXPECT(keys && got == 100 && sum == 99 * 100 / 2, "%zu trie keys listed, want 100", got);
	free(keys);
	close(fd);
}

static void t_array(void)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_mapio_arr", sizeof(__u32), 8, 5000, NULL);
	__u32 *keys;
	size_t got;
	bool ok = true;

	EXPECT(fd >= 0, "array: %s", strerror(errno));
	if (fd < 0)
		return;
	keys = sl_map_keys(fd, sizeof(*keys), &got);
	for (size_t i = 0; keys && i < got; i++)
		ok &= keys[i] == i;
	EXPECT(keys && got == 5000 && ok, "%zu array keys listed, want 0..4999 in order", got);
	free(keys);
	close(fd);
}

/* The value stored under key I: its own bytes, so a value read beside
 * the wrong key shows. */
static void val_of(unsigned i, struct val *v)
{
	for (size_t b = 0; b < sizeof(v->bytes); b++)
		v->bytes[b] = (char)(i * 31 + b);
}

static void t_dump_values(void)
{
	const unsigned n = 9001;
	int fd = hash_of(16384);
	struct key *keys = NULL;
	struct val *vals = NULL, want;
	size_t got = 0;
	bool ok = true;

	EXPECT(fd >= 0, "hash map: %s", strerror(errno));
	if (fd < 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		struct key k = { i, i % 2, i * 2654435761u };

		val_of(i, &want);
		EXPECT(!bpf_map_update_elem(fd, &k, &want, BPF_ANY), "update %u", i);
	}
	EXPECT(!sl_map_dump(fd, sizeof(*keys), sizeof(*vals), (void **)&keys, (void **)&vals, &got),
	       "dump failed");
	ok = keys && vals && all_once(keys, got, n);
	for (size_t i = 0; ok && i < got; i++) {
		val_of(keys[i].id, &want);
		ok = !memcmp(&vals[i], &want, sizeof(want));
	}
	EXPECT(ok, "%zu entries dumped of %u, or a value beside the wrong key", got, n);
	EXPECT(sl_map_count(fd, sizeof(struct key)) == (long)n, "count %ld, want %u",
	       sl_map_count(fd, sizeof(struct key)), n);
	free(keys);
	free(vals);
	EXPECT(sl_map_dump(fd, sizeof(*keys), sizeof(*vals) - 8, (void **)&keys, (void **)&vals,
			   &got) == -EINVAL && !keys && !vals,
	       "a dump with the wrong value size was not refused");
	close(fd);
}

static int array_of(unsigned n)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_mapio_rd", sizeof(__u32), sizeof(struct val),
				n, NULL);
	struct val v;

	for (__u32 i = 0; fd >= 0 && i < n; i++) {
		val_of(i, &v);
		if (bpf_map_update_elem(fd, &i, &v, BPF_ANY))
			fail_msg(__LINE__, "array update %u: %s", i, strerror(errno));
	}
	return fd;
}

/* VALS[0..N) hold elements IDX[0..N). */
static bool holds(const struct val *vals, const __u32 *idx, size_t n)
{
	struct val want;

	for (size_t i = 0; i < n; i++) {
		val_of(idx[i], &want);
		if (memcmp(&vals[i], &want, sizeof(want)))
			return false;
	}
	return true;
}

static void t_array_read(void)
{
	const unsigned n = 10000;
	int fd = array_of(n);
	struct val *v = calloc(n, sizeof(*v));
	__u32 *idx = calloc(n, sizeof(*idx));
	/* From 0, from the middle, one element, up to the last, past it. */
	static const __u32 from[] = { 0, 4095, 5000, 9999, 1 }, len[] = { 10000, 4097, 1, 1, 9999 };

	EXPECT(fd >= 0 && v && idx, "array: %s", strerror(errno));
	if (fd < 0 || !v || !idx)
		goto out;
	for (size_t c = 0; c < sizeof(from) / sizeof(from[0]); c++) {
		memset(v, 0, n * sizeof(*v));
		for (__u32 i = 0; i < len[c]; i++)
			idx[i] = from[c] + i;
		EXPECT(!sl_array_read(fd, from[c], len[c], v, sizeof(*v)) && holds(v, idx, len[c]),
		       "elements %u..%u read wrong", from[c], from[c] + len[c] - 1);
	}
	EXPECT(sl_array_read(fd, 9990, 20, v, sizeof(*v)) == -ENOENT,
	       "a range past the end was not refused");
out:
	free(v);
	free(idx);
	if (fd >= 0)
		close(fd);
}

static void t_array_gather(void)
{
	const unsigned n = 10000;
	int fd = array_of(n);
	struct val *v = calloc(n, sizeof(*v));
	__u32 dense[3000], sparse[] = { 9999, 3, 7777, 0, 5000 }, bad[] = { 1, 10000 };

	EXPECT(fd >= 0 && v, "array: %s", strerror(errno));
	if (fd < 0 || !v)
		goto out;
	for (__u32 i = 0; i < 3000; i++) /* dense: read as one span, out of order */
		dense[i] = 2000 + (i * 7) % 3000;
	EXPECT(!sl_array_gather(fd, dense, 3000, v, sizeof(*v)) && holds(v, dense, 3000),
	       "a dense gather read wrong elements");
	memset(v, 0, n * sizeof(*v));
	EXPECT(!sl_array_gather(fd, sparse, 5, v, sizeof(*v)) && holds(v, sparse, 5),
	       "a sparse gather read wrong elements");
	EXPECT(sl_array_gather(fd, bad, 2, v, sizeof(*v)) == -ENOENT,
	       "an index past the end was not refused");
out:
	free(v);
	if (fd >= 0)
		close(fd);
}

/* A batch delete of keys some of which are not there (the kernel's batch
 * stops at the first missing key): every present one goes, the rest stay,
 * and the missing ones are no error. */
static void t_del_many(void)
{
	const unsigned n = 3000;
	int fd = hash_of(4096);
	struct key *del = calloc(n, sizeof(*del)), *keys;
	size_t nd = 0, got;
	bool ok = true;

	EXPECT(fd >= 0 && del, "hash map: %s", strerror(errno));
	if (fd < 0 || !del) {
		free(del);
		return;
	}
	fill(fd, n, 3);
	/* every key of slot 1, with a key no one wrote after each tenth */
	for (unsigned i = 0; i < n; i++) {
		if (i % 3 == 1)
			del[nd++] = (struct key){ i, 1, i * 2654435761u };
		if (i % 30 == 1)
			del[nd++] = (struct key){ n + i, 1, 0 };
	}
	EXPECT(sl_del_many(fd, del, nd, sizeof(*del)) == 0, "sl_del_many failed");
	keys = sl_map_keys(fd, sizeof(*keys), &got);
	for (size_t i = 0; keys && i < got; i++)
		ok &= keys[i].slot != 1;
	EXPECT(keys && got == n - n / 3 && ok, "%zu keys left (want %u, none of slot 1)", got,
	       n - n / 3);
	EXPECT(sl_del_many(fd, del, 0, sizeof(*del)) == 0, "an empty delete failed");
	free(keys);
	free(del);
	close(fd);
}

int main(void)
{
	run("mapio/keys-many-batches", t_many_batches);
	run("mapio/keys-empty", t_empty);
	run("mapio/clear-one-slot", t_clear_one_slot);
	run("mapio/keys-trie", t_trie);
	run("mapio/keys-array", t_array);
	run("mapio/dump-values", t_dump_values);
	run("mapio/array-read", t_array_read);
	run("mapio/array-gather", t_array_gather);
	run("mapio/del-many-some-missing", t_del_many);
	return failures ? 1 : 0;
}
